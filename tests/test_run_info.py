"""What run records say about the code they ran on: the commit, and whether code (not results) had changed."""

import subprocess

import pytest

from sb3_jedi.run_info import source_commit


def git(folder, *args: str) -> str:
    command = ["git", "-c", "user.email=test@example.com", "-c", "user.name=test", *args]
    return subprocess.run(command, cwd=folder, capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture
def repository(tmp_path):
    try:
        git(tmp_path, "init", "-q")
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("git is not available")
    (tmp_path / "benchmarks" / "results").mkdir(parents=True)
    (tmp_path / "benchmarks" / "script.py").write_text("print('a run')\n")
    (tmp_path / "benchmarks" / "results" / "record.json").write_text("{}\n")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "first")
    return tmp_path


def test_commit_of_a_clean_tree_and_of_changed_code(repository):
    head = git(repository, "rev-parse", "HEAD")
    script = repository / "benchmarks" / "script.py"
    assert source_commit(script) == head and len(head) == 40
    # A running job rewriting its (tracked) record does not make the code dirty...
    (repository / "benchmarks" / "results" / "record.json").write_text('{"steps": 2500}\n')
    assert source_commit(script) == head
    # ... changed code does, wherever it is in the repository.
    (repository / "benchmarks" / "script.py").write_text("print('another run')\n")
    assert source_commit(repository / "benchmarks" / "results") == head + "-dirty"


def test_outside_a_repository(tmp_path):
    assert source_commit(tmp_path) == "unknown"
