"""Rewriting saved model zips, for tests of files that are damaged, foreign or written by older versions."""

import json
import zipfile


def rewrite_zip(source: str, target, edit_data=None, drop: tuple[str, ...] = ()) -> None:
    """Copy a model zip, editing its JSON ``data`` and leaving out some entries."""
    with zipfile.ZipFile(source) as archive_in, zipfile.ZipFile(target, "w") as archive_out:
        for name in archive_in.namelist():
            if name in drop:
                continue
            content = archive_in.read(name)
            if name == "data" and edit_data is not None:
                data = json.loads(content)
                edit_data(data)
                content = json.dumps(data).encode()
            archive_out.writestr(name, content)
