"""The README's learning figures are the ones recorded in benchmarks/results (benchmarks/learning_results.py)."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load_script():
    spec = importlib.util.spec_from_file_location("learning_results", ROOT / "benchmarks" / "learning_results.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["learning_results"] = module
    spec.loader.exec_module(module)
    return module


learning_results = _load_script()


def test_readme_table_is_rendered_from_the_results_json():
    results = json.loads(learning_results.RESULTS_JSON.read_text())
    readme = learning_results.README.read_text()
    assert learning_results.readme_block(readme) == learning_results.render_table(results)


def test_results_json_is_collected_from_the_run_records():
    # Rerunning `collect` on the records must reproduce the committed JSON exactly: no figure edited by hand.
    committed = json.loads(learning_results.RESULTS_JSON.read_text())
    assert committed == json.loads(json.dumps(learning_results.collect()))


def test_every_record_names_its_commit_seed_steps_and_minutes():
    records = sorted(learning_results.RECORDS.glob("*.json"))
    assert records, "no learning records in benchmarks/results/learning"
    for path in records:
        record = json.loads(path.read_text())
        assert len(record["commit"].removesuffix("-dirty")) == 40, path
        # A run stopped early says so (its record is rewritten after every evaluation).
        assert record["steps"] == record["curve"][-1]["steps"] or record["complete"] is False, path
        assert record["final_mean"] == record["curve"][-1]["mean"], path
        assert record["train_minutes"] == record["curve"][-1]["train_minutes"] > 0, path
        assert path.name == f"{record['env']}_{record['policy']}_seed{record['seed']}.json"


def test_summary_figures_follow_the_curve():
    record = {
        "seed": 3,
        "steps": 10,
        "final_mean": 480.0,
        "train_minutes": 1.0,
        "commit": "0" * 40,
        "hyperparameters": "defaults",
        "curve": [
            {"steps": 5, "mean": 100.0, "std": 1.0, "train_minutes": 0.5},
            {"steps": 7, "mean": 500.0, "std": 0.0, "train_minutes": 0.7},
            {"steps": 8, "mean": 20.0, "std": 3.0, "train_minutes": 0.8},
            {"steps": 10, "mean": 480.0, "std": 2.0, "train_minutes": 1.0},
        ],
    }
    summary = learning_results.summarise_run(record, goal=475.0)
    assert summary["first_step_at_goal"] == 7
    assert summary["lowest_after_goal"] == 20.0
    assert summary["goal_met"] and summary["final_std"] == 2.0
    assert summary["complete"] and summary["steps_done"] == 10
    assert learning_results.summarise_run(record, goal=600.0)["first_step_at_goal"] is None


def test_missing_markers_are_reported():
    with pytest.raises(ValueError, match="learning-results markers"):
        learning_results.readme_block("# a README without the table\n")
