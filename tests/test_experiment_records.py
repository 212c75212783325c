"""The figures README.md and the docs quote from the sparse-goal experiments are those of their records."""

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = ROOT / "benchmarks" / "results" / "experiments" / "sparse_goals"


def _means(name: str) -> dict[int, float]:
    record = json.loads((EXPERIMENTS / f"{name}.json").read_text())
    return {point["steps"]: point["mean"] for point in record["curve"]}


def _text(relative: str) -> str:
    return " ".join((ROOT / relative).read_text().split())


DOCUMENTS = ["README.md", "docs/can-i-use.md", "benchmarks/results/experiments/sparse_goals/README.md"]


@pytest.mark.parametrize("document", DOCUMENTS)
def test_the_self_imitation_run_is_quoted_from_its_record(document):
    means = _means("Acrobot-v1_I")
    quoted = ", ".join(f"{means[steps]:.1f}" for steps in (10_000, 20_000, 30_000))
    assert f"{quoted} at 10k, 20k and 30k steps" in _text(document)


def test_the_experiment_table_quotes_every_runs_last_evaluation():
    table = _text("benchmarks/results/experiments/sparse_goals/README.md")
    for run in ("A", "C", "D", "E", "G", "I", "K"):
        means = _means(f"Acrobot-v1_{run}")
        last = max(means)
        assert f"| {run} |" in table
        if all(value == -500.0 for value in means.values()):
            assert f"-500 up to {last:,}" in table
        else:
            assert f"{means[last]:.1f} at {last:,}" in table
