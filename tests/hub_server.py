"""
A local, in-memory stand-in for the Hugging Face Hub HTTP API, so that the tests of :mod:`sb3_jedi.hub` drive the real
``huggingface_hub`` client (repo creation, pre-upload negotiation, LFS transfers, commits, listings, downloads and the
local cache) without any network.

It implements only the routes that client makes for model repos, answering as the Hub does:

- ``POST /api/repos/create`` (409 when the repo exists), ``POST /api/validate-yaml`` (the model card's front matter)
- ``GET /api/models/{repo}`` and ``.../revision/{rev}`` (repo info), ``GET .../tree/{rev}[/{path}]`` (file listing)
- ``POST /api/models/{repo}/preupload/{rev}``: binary or large files go through LFS, text files in the commit itself
- ``POST /{repo}.git/info/lfs/objects/batch``, then ``PUT`` (basic transfer) and ``POST`` (verify) of each object
- ``POST /api/models/{repo}/commit/{rev}``: the ndjson commit payload (regular files in base64, LFS pointers, deletions)
- ``HEAD``/``GET /{repo}/resolve/{rev}/{path}``: regular files are served with their git ETag; LFS files answer with a
  redirect to a separate storage origin (as the Hub's CDN) carrying ``X-Linked-Etag`` / ``X-Linked-Size``
- ``GET /api/agent-harnesses``: the registry the client reads once to build its user agent (empty here)

Writes need a bearer token (any). Every request is logged in :attr:`HubStandIn.requests`; a request no route handles
is answered 501 and logged in :attr:`HubStandIn.unhandled`, so that a test can check the client made no call the
stand-in does not know.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

__all__ = ["HubStandIn"]

# The Hub stores files of 10 MB or more, and binary files, in LFS.
LFS_SIZE_THRESHOLD = 10 * 1024 * 1024

# What a new model repo holds on the Hub: a .gitattributes sending usual binary formats to LFS.
INITIAL_GITATTRIBUTES = b"*.bin filter=lfs diff=lfs merge=lfs -text\n*.pt filter=lfs diff=lfs merge=lfs -text\n"
INITIAL_GITATTRIBUTES += b"*.zip filter=lfs diff=lfs merge=lfs -text\n"


def git_blob_sha1(content: bytes) -> str:
    """The git object id of a blob, which the Hub uses as the ETag of regular files."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


def is_binary(sample: bytes) -> bool:
    if b"\0" in sample:
        return True
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError:
        # A sample cut inside a multi-byte character is still text.
        try:
            sample[:-3].decode("utf-8")
        except UnicodeDecodeError:
            return True
    return False


@dataclass
class StoredFile:
    content: bytes
    lfs_sha256: str | None = None  # set for files stored in LFS

    @property
    def blob_id(self) -> str:
        if self.lfs_sha256 is not None:
            return git_blob_sha1(lfs_pointer(self.lfs_sha256, len(self.content)))
        return git_blob_sha1(self.content)


@dataclass
class Commit:
    oid: str
    message: str
    files: dict[str, StoredFile]


@dataclass
class Repo:
    repo_id: str
    private: bool
    commits: list[Commit] = field(default_factory=list)

    @property
    def head(self) -> Commit:
        return self.commits[-1]

    def resolve(self, revision: str) -> Commit | None:
        if revision == "main":
            return self.head
        for commit in self.commits:
            if commit.oid == revision or (len(revision) >= 7 and commit.oid.startswith(revision)):
                return commit
        return None


class HubError(Exception):
    """An error answer of the Hub: status code, ``X-Error-Code`` header and JSON message."""

    def __init__(self, status: int, message: str, error_code: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_code = error_code
        self.headers = headers or {}


class HubStandIn:
    """
    The Hub stand-in: an API server (the Hub endpoint) and a storage server (where LFS downloads are redirected), both
    on 127.0.0.1 on free ports, serving repos kept in memory.

    :param require_token: answer 401 to writes made without a bearer token, as the Hub does
    """

    def __init__(self, require_token: bool = True) -> None:
        self.require_token = require_token
        self.repos: dict[str, Repo] = {}
        self.lfs_objects: dict[str, bytes] = {}
        self.requests: list[tuple[str, str]] = []
        self.unhandled: list[tuple[str, str]] = []
        self.tokens_seen: set[str] = set()
        self.lock = threading.RLock()
        self._api = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self, storage=False))
        self._storage = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self, storage=True))
        self._threads: list[threading.Thread] = []

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._api.server_address[1]}"

    @property
    def storage_endpoint(self) -> str:
        return f"http://127.0.0.1:{self._storage.server_address[1]}"

    def start(self) -> HubStandIn:
        for server in (self._api, self._storage):
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        for server in (self._api, self._storage):
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> HubStandIn:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    # Helpers for tests ----------------------------------------------------------------------------------------------

    def files(self, repo_id: str, revision: str = "main") -> dict[str, bytes]:
        """Contents of the files of ``repo_id`` at ``revision``."""
        with self.lock:
            commit = self.repos[repo_id].resolve(revision)
            assert commit is not None, f"no revision {revision} in {repo_id}"
            return {path: stored.content for path, stored in commit.files.items()}

    def lfs_paths(self, repo_id: str, revision: str = "main") -> set[str]:
        """Paths of ``repo_id`` stored in LFS at ``revision``."""
        with self.lock:
            commit = self.repos[repo_id].resolve(revision)
            assert commit is not None
            return {path for path, stored in commit.files.items() if stored.lfs_sha256 is not None}

    def count(self, method: str, path_pattern: str) -> int:
        """Number of requests of ``method`` whose path matches the regular expression ``path_pattern``."""
        with self.lock:
            return sum(1 for m, p in self.requests if m == method and re.fullmatch(path_pattern, p))

    def add_repo(self, repo_id: str, files: dict[str, bytes], private: bool = False) -> Repo:
        """Create ``repo_id`` directly with ``files`` (regular files), as if pushed by another client."""
        with self.lock:
            repo = self._create_repo(repo_id, private)
            content = dict(repo.head.files)
            for path, data in files.items():
                content[path] = StoredFile(data)
            self._add_commit(repo, "Add files", content)
            return repo

    # Repo state -----------------------------------------------------------------------------------------------------

    def _create_repo(self, repo_id: str, private: bool) -> Repo:
        repo = Repo(repo_id, private)
        self.repos[repo_id] = repo
        self._add_commit(repo, "initial commit", {".gitattributes": StoredFile(INITIAL_GITATTRIBUTES)})
        return repo

    def _add_commit(self, repo: Repo, message: str, files: dict[str, StoredFile]) -> Commit:
        parent = repo.commits[-1].oid if repo.commits else ""
        oid = hashlib.sha1(f"{repo.repo_id}|{parent}|{message}|{time.time_ns()}|{len(repo.commits)}".encode()).hexdigest()
        commit = Commit(oid, message, files)
        repo.commits.append(commit)
        return commit

    def _repo(self, repo_id: str) -> Repo:
        repo = self.repos.get(repo_id)
        if repo is None:
            raise HubError(404, f"Repository {repo_id} not found", "RepoNotFound")
        return repo

    def _commit(self, repo: Repo, revision: str) -> Commit:
        commit = repo.resolve(revision)
        if commit is None:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return commit


def _make_handler(hub: HubStandIn, storage: bool) -> type[BaseHTTPRequestHandler]:
    class Handler(_HubHandler):
        pass

    Handler.hub = hub
    Handler.is_storage = storage
    return Handler


# /api/models/{namespace}/{name}[/...]: repo ids on the Hub are "name" or "namespace/name".
_REPO = r"(?P<repo>[\w.\-]+(?:/[\w.\-]+)?)"


class _HubHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hub: HubStandIn
    is_storage: bool

    def log_message(self, format: str, *args: Any) -> None:
        pass

    # Plumbing -------------------------------------------------------------------------------------------------------

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    # Trailers end with an empty line.
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None, content_length: int | None = None):
        self.send_response(status)
        headers = dict(headers or {})
        headers.setdefault("Content-Type", "application/json" if body[:1] in (b"{", b"[") else "application/octet-stream")
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body) if content_length is None else content_length))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), {"Content-Type": "application/json", **(headers or {})})

    def _error(self, error: HubError) -> None:
        headers = dict(error.headers)
        if error.error_code is not None:
            headers["X-Error-Code"] = error.error_code
        headers["X-Error-Message"] = error.message
        self._json(error.status, {"error": error.message}, headers)

    def _require_token(self) -> None:
        authorization = self.headers.get("Authorization", "")
        if authorization.lower().startswith("bearer ") and authorization[7:].strip():
            self.hub.tokens_seen.add(authorization[7:].strip())
            return
        if self.hub.require_token:
            raise HubError(401, "Invalid credentials in Authorization header")

    def _dispatch(self) -> None:
        url = urlsplit(self.path)
        path = unquote(url.path)
        query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        with self.hub.lock:
            self.hub.requests.append((self.command, path))
        routes = self._storage_routes() if self.is_storage else self._api_routes()
        try:
            for method, pattern, handler in routes:
                match = re.fullmatch(pattern, path)
                if match is not None and method == self.command:
                    handler(query=query, **match.groupdict())
                    return
            with self.hub.lock:
                self.hub.unhandled.append((self.command, path))
            self._json(501, {"error": f"The Hub stand-in does not implement {self.command} {path}"})
        except HubError as error:
            self._error(error)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _dispatch

    def _api_routes(self) -> list[tuple[str, str, Any]]:
        return [
            ("GET", r"/api/agent-harnesses", self.agent_harnesses),
            ("POST", r"/api/repos/create", self.create_repo),
            ("POST", r"/api/validate-yaml", self.validate_yaml),
            ("GET", rf"/api/models/{_REPO}/revision/(?P<revision>[^/]+)", self.repo_info),
            ("GET", rf"/api/models/{_REPO}/tree/(?P<revision>[^/]+)(?:/(?P<subpath>.*))?", self.tree),
            ("POST", rf"/api/models/{_REPO}/preupload/(?P<revision>[^/]+)", self.preupload),
            ("POST", rf"/api/models/{_REPO}/commit/(?P<revision>[^/]+)", self.commit),
            ("GET", rf"/api/models/{_REPO}", self.repo_info),
            ("POST", rf"/{_REPO}\.git/info/lfs/objects/batch", self.lfs_batch),
            ("PUT", r"/_lfs/upload/(?P<oid>[0-9a-f]{64})", self.lfs_upload),
            ("POST", r"/_lfs/verify", self.lfs_verify),
            ("HEAD", rf"/{_REPO}/resolve/(?P<revision>[^/]+)/(?P<filename>.+)", self.resolve),
            ("GET", rf"/{_REPO}/resolve/(?P<revision>[^/]+)/(?P<filename>.+)", self.resolve),
        ]

    def _storage_routes(self) -> list[tuple[str, str, Any]]:
        return [
            ("GET", r"/(?P<oid>[0-9a-f]{64})", self.storage_get),
            ("HEAD", r"/(?P<oid>[0-9a-f]{64})", self.storage_get),
        ]

    # Routes ---------------------------------------------------------------------------------------------------------

    def agent_harnesses(self, query: dict[str, str]) -> None:
        self._json(200, {"standardEnvVars": [], "harnesses": {}})

    def create_repo(self, query: dict[str, str]) -> None:
        self._require_token()
        payload = json.loads(self._body())
        if payload.get("type") not in (None, "model"):
            raise HubError(400, "The stand-in only serves model repos")
        name, organization = payload["name"], payload.get("organization")
        repo_id = f"{organization}/{name}" if organization else name
        url = f"{self.hub.endpoint}/{repo_id}"
        with self.hub.lock:
            if repo_id in self.hub.repos:
                # The Hub's 409 body names the existing repo's url, which the client returns with exist_ok=True.
                self._json(409, {"error": "You already created this model repo", "url": url})
                return
            self.hub._create_repo(repo_id, private=payload.get("visibility") == "private" or bool(payload.get("private")))
        self._json(200, {"url": url, "name": repo_id, "id": hashlib.md5(repo_id.encode()).hexdigest()[:24]})

    def validate_yaml(self, query: dict[str, str]) -> None:
        content = json.loads(self._body())["content"]
        match = re.match(r"^---\s*\n(.*?)\n---\s*(?:\n|$)", content, flags=re.DOTALL)
        if match is None:
            self._json(200, {"errors": [], "warnings": [{"message": "Empty or missing yaml metadata in repo card"}]})
            return
        try:
            metadata = yaml.safe_load(match.group(1))
        except yaml.YAMLError as error:
            self._json(400, {"errors": [{"message": f"Invalid YAML: {error}"}], "warnings": []})
            return
        if not isinstance(metadata, dict):
            self._json(400, {"errors": [{"message": "The metadata must be a YAML mapping"}], "warnings": []})
            return
        self._json(200, {"errors": [], "warnings": []})

    def repo_info(self, query: dict[str, str], repo: str, revision: str = "main") -> None:
        with self.hub.lock:
            stored = self.hub._repo(repo)
            commit = self.hub._commit(stored, revision)
            siblings = [{"rfilename": path} for path in sorted(commit.files)]
            self._json(200, {"id": repo, "modelId": repo, "sha": commit.oid, "private": stored.private, "siblings": siblings})

    def tree(self, query: dict[str, str], repo: str, revision: str, subpath: str | None = None) -> None:
        recursive = query.get("recursive", "false").lower() in ("1", "true")
        prefix = f"{subpath.strip('/')}/" if subpath else ""
        with self.hub.lock:
            commit = self.hub._commit(self.hub._repo(repo), revision)
            entries: dict[str, dict[str, Any]] = {}
            for path, stored in sorted(commit.files.items()):
                if not path.startswith(prefix):
                    continue
                parts = path[len(prefix) :].split("/")
                # Folders on the way to the file (only the first one unless recursive).
                for depth in range(1, len(parts) if recursive else min(len(parts), 2)):
                    folder = prefix + "/".join(parts[:depth])
                    entries.setdefault(folder, {"type": "directory", "oid": "0" * 40, "size": 0, "path": folder})
                if len(parts) > 1 and not recursive:
                    continue
                entry: dict[str, Any] = {"type": "file", "oid": stored.blob_id, "size": len(stored.content), "path": path}
                if stored.lfs_sha256 is not None:
                    pointer = lfs_pointer(stored.lfs_sha256, len(stored.content))
                    entry["lfs"] = {"oid": stored.lfs_sha256, "size": len(stored.content), "pointerSize": len(pointer)}
                entries[path] = entry
            if subpath and not entries:
                raise HubError(404, f"{subpath} does not exist on {revision}", "EntryNotFound")
        self._json(200, list(entries.values()))

    def preupload(self, query: dict[str, str], repo: str, revision: str) -> None:
        self._require_token()
        payload = json.loads(self._body())
        answers = []
        with self.hub.lock:
            commit = self.hub._commit(self.hub._repo(repo), revision)
            for item in payload["files"]:
                sample = base64.b64decode(item["sample"])
                lfs = item["size"] >= LFS_SIZE_THRESHOLD or is_binary(sample)
                existing = commit.files.get(item["path"])
                # The client compares this oid with its own (sha256 for LFS, git sha1 otherwise) to skip unchanged files.
                oid = None if existing is None else (existing.lfs_sha256 if existing.lfs_sha256 else existing.blob_id)
                mode = "lfs" if lfs else "regular"
                answers.append({"path": item["path"], "uploadMode": mode, "shouldIgnore": False, "oid": oid})
        self._json(200, {"files": answers, "commitOid": commit.oid})

    def lfs_batch(self, query: dict[str, str], repo: str) -> None:
        self._require_token()
        payload = json.loads(self._body())
        if payload.get("operation") != "upload" or "basic" not in payload.get("transfers", ["basic"]):
            raise HubError(400, "The stand-in serves basic LFS uploads only")
        objects = []
        with self.hub.lock:
            self.hub._repo(repo)
            for item in payload["objects"]:
                answer: dict[str, Any] = {"oid": item["oid"], "size": item["size"], "authenticated": True}
                if item["oid"] not in self.hub.lfs_objects:
                    answer["actions"] = {
                        "upload": {"href": f"{self.hub.endpoint}/_lfs/upload/{item['oid']}"},
                        "verify": {"href": f"{self.hub.endpoint}/_lfs/verify"},
                    }
                objects.append(answer)
        self._json(200, {"transfer": "basic", "objects": objects})

    def lfs_upload(self, query: dict[str, str], oid: str) -> None:
        content = self._body()
        if hashlib.sha256(content).hexdigest() != oid:
            raise HubError(400, "The uploaded content does not match its sha256")
        with self.hub.lock:
            self.hub.lfs_objects[oid] = content
        self._send(200)

    def lfs_verify(self, query: dict[str, str]) -> None:
        payload = json.loads(self._body())
        with self.hub.lock:
            content = self.hub.lfs_objects.get(payload["oid"])
        if content is None or len(content) != payload["size"]:
            raise HubError(404, f"LFS object {payload['oid']} was not uploaded")
        self._json(200, {"success": True})

    def commit(self, query: dict[str, str], repo: str, revision: str) -> None:
        self._require_token()
        if self.headers.get("Content-Type") != "application/x-ndjson":
            raise HubError(400, "A commit is an ndjson payload")
        lines = [json.loads(line) for line in self._body().splitlines() if line.strip()]
        if not lines or lines[0].get("key") != "header":
            raise HubError(400, "The first ndjson line must be the commit header")
        header = lines[0]["value"]
        with self.hub.lock:
            stored = self.hub._repo(repo)
            parent = self.hub._commit(stored, revision)
            if parent is not stored.head:
                raise HubError(400, "Commits go to the head of main in the stand-in")
            if header.get("parentCommit") and not parent.oid.startswith(header["parentCommit"]):
                raise HubError(412, "A commit has happened since. Please refresh and try again.")
            files = dict(parent.files)
            for line in lines[1:]:
                key, value = line["key"], line["value"]
                if key == "file":
                    if value.get("encoding") != "base64":
                        raise HubError(400, "Regular files are sent in base64")
                    files[value["path"]] = StoredFile(base64.b64decode(value["content"]))
                elif key == "lfsFile":
                    content = self.hub.lfs_objects.get(value["oid"])
                    if content is None:
                        raise HubError(400, f"LFS object {value['oid']} of {value['path']} was never uploaded")
                    files[value["path"]] = StoredFile(content, lfs_sha256=value["oid"])
                elif key == "deletedFile":
                    if files.pop(value["path"], None) is None:
                        raise HubError(404, "A file with this name doesn't exist", "EntryNotFound")
                elif key == "deletedFolder":
                    folder = value["path"].rstrip("/") + "/"
                    files = {path: f for path, f in files.items() if not path.startswith(folder)}
                else:
                    raise HubError(400, f"The stand-in does not handle {key!r} operations")
            new = self.hub._add_commit(stored, header["summary"], files)
        self._json(200, {"success": True, "commitOid": new.oid, "commitUrl": f"{self.hub.endpoint}/{repo}/commit/{new.oid}"})

    def resolve(self, query: dict[str, str], repo: str, revision: str, filename: str) -> None:
        with self.hub.lock:
            stored_repo = self.hub._repo(repo)
            commit = self.hub._commit(stored_repo, revision)
            stored = commit.files.get(filename)
        if stored is None:
            raise HubError(404, f"Entry not found: {filename}", "EntryNotFound", {"X-Repo-Commit": commit.oid})
        headers = {"X-Repo-Commit": commit.oid, "Accept-Ranges": "bytes"}
        if stored.lfs_sha256 is not None:
            # LFS content is served by another origin (the Hub's CDN); the redirect carries the file's metadata.
            headers.update(
                {
                    "Location": f"{self.hub.storage_endpoint}/{stored.lfs_sha256}",
                    "ETag": f'"{stored.blob_id}"',
                    "X-Linked-Etag": f'"{stored.lfs_sha256}"',
                    "X-Linked-Size": str(len(stored.content)),
                }
            )
            self._send(302, b"", headers)
            return
        headers["ETag"] = f'"{stored.blob_id}"'
        self._send(200, stored.content, {"Content-Type": "application/octet-stream", **headers})

    def storage_get(self, query: dict[str, str], oid: str) -> None:
        with self.hub.lock:
            content = self.hub.lfs_objects.get(oid)
        if content is None:
            raise HubError(404, "No such object")
        if self.headers.get("Authorization"):
            # The client must not send its Hub token to the storage origin.
            raise HubError(400, "Unexpected Authorization header on the storage origin")
        self._send(200, content, {"Content-Type": "application/octet-stream", "ETag": f'"{oid}"'})
