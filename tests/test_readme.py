from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci_commands = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if "pytest" in line]
    assert len(ci_commands) == 1
    # The README's command creates the venv first; CI creates it itself and then runs the rest verbatim.
    assert ci_commands[0].strip() in readme
