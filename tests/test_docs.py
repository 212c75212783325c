"""The documentation site builds without a warning (`mkdocs build --strict`), API pages included."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_docs_build_strict(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"NO_MKDOCS_2_WARNING": "1", "PATH": str(Path(sys.executable).parent), "HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr[-4000:]
    api = (tmp_path / "site" / "api" / "index.html").read_text()
    # The reference is generated from the docstrings, not typed in.
    assert "imagination_horizon" in api and "CheckpointCallback" in api


def test_every_nav_page_exists():
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("tag:yaml.org,2002:python/", lambda loader, suffix, node: None)
    config = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=Loader)
    pages = [next(iter(entry.values())) for entry in config["nav"]]
    missing = [page for page in pages if not (ROOT / "docs" / page).is_file()]
    assert not missing
    listed = {page for page in pages}
    unlisted = [p.name for p in (ROOT / "docs").glob("*.md") if p.name not in listed]
    assert not unlisted, f"pages missing from the nav: {unlisted}"


def test_every_benchmark_script_is_documented():
    """Each script of ``benchmarks/`` has its row in the benchmarks page, saying what it records."""
    page = (ROOT / "docs" / "benchmarks.md").read_text()
    scripts = sorted(path.name for path in (ROOT / "benchmarks").glob("*.py"))
    assert scripts
    undocumented = [name for name in scripts if f"| `benchmarks/{name}` |" not in page]
    assert not undocumented, f"scripts without a row in docs/benchmarks.md: {undocumented}"
