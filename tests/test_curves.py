"""sb3_jedi.benchmarks.curves: the evaluation callback and the JSON record of the repository's learning-curve scripts."""

import json
from pathlib import Path
from typing import Any

import pytest
from stable_baselines3 import DQN
from stable_baselines3.common.env_util import make_vec_env
from tiny_settings import TINY

from sb3_jedi import JEDI
from sb3_jedi.benchmarks import curves
from sb3_jedi.benchmarks.curves import CurveCallback, CurveRecord, learn_curve

ROOT = Path(__file__).resolve().parents[1]
RECORD_KEYS = ["curve", "final_mean", "train_minutes", "complete", "commit", "versions"]
POINT_KEYS = ["steps", "mean", "std", "train_minutes", "train_episodes", "train_return_last_10"]
# Complete records the curve scripts wrote before their shared code moved here: one of JEDI, one of a baseline.
STORED = [
    "benchmarks/results/learning/CartPole-v1_CnnPolicy_seed0.json",
    "benchmarks/results/baselines/ppo_Acrobot-v1_MlpPolicy_seed0.json",
]


def _point(steps: int, mean: float) -> dict[str, Any]:
    return {"steps": steps, "mean": mean, "std": 0.0, "train_minutes": steps / 100}


def test_the_record_is_rewritten_incomplete_then_complete_with_the_header_first(tmp_path):
    out = tmp_path / "runs" / "record.json"  # a folder that does not exist yet
    header = {"env": "CartPole-v1", "seed": 3, "eval_episodes": 2}
    writer = CurveRecord(header, "abc", out)
    writer.write([_point(10, 9.0)])
    first = json.loads(out.read_text())
    assert list(first) == [*header, *RECORD_KEYS]
    assert first["complete"] is False and first["final_mean"] == 9.0 and first["commit"] == "abc"
    writer.write([_point(10, 9.0), _point(20, 30.0)], complete=True)
    second = json.loads(out.read_text())
    assert list(second) == list(first) and second["complete"] is True
    assert second["final_mean"] == 30.0 and second["train_minutes"] == 0.2 and len(second["curve"]) == 2
    assert out.read_text() == json.dumps(writer.record(second["curve"], complete=True), indent=2) + "\n"


def test_without_a_path_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    CurveRecord({"env": "CartPole-v1"}, "abc").write([_point(10, 9.0)], complete=True)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("path", STORED)
def test_stored_records_are_rebuilt_byte_for_byte(path, tmp_path, monkeypatch):
    text = (ROOT / path).read_text()
    stored = json.loads(text)
    keys = list(stored)
    header = {key: stored[key] for key in keys[: keys.index("curve")]}
    # The versions are those of the machine that wrote the record; everything else comes from the writer.
    monkeypatch.setattr(curves, "library_versions", lambda: stored["versions"])
    out = tmp_path / "record.json"
    CurveRecord(header, stored["commit"], out).write(stored["curve"], complete=stored["complete"])
    assert out.read_text() == text


class _Extra(CurveCallback):
    def extra_measures(self) -> dict[str, Any]:
        return {"extra": 1.0}


def test_points_follow_the_schema_and_learn_curve_ends_with_a_complete_record(tmp_path):
    out = tmp_path / "record.json"
    writer = CurveRecord({"env": "CartPole-v1"}, "abc", out)
    seen: list[tuple[int, bool]] = []

    def on_point(points: list[dict[str, Any]]) -> None:
        writer.write(points)
        seen.append((len(points), json.loads(out.read_text())["complete"]))

    model = DQN("MlpPolicy", make_vec_env("CartPole-v1", n_envs=1, seed=0), learning_starts=1_000, train_freq=1, seed=0)
    callback = _Extra(make_vec_env("CartPole-v1", n_envs=1, seed=10_000), eval_every=10, n_episodes=1, on_point=on_point)
    record = learn_curve(model, 25, callback, writer)
    # Evaluations at the multiples of eval_every, then once more at the last step; the extra measures follow "std".
    assert [point["steps"] for point in record["curve"]] == [10, 20, 25]
    assert all(list(point) == [*POINT_KEYS[:3], "extra", *POINT_KEYS[3:]] for point in record["curve"])
    assert all(point["train_episodes"] >= 0 and point["train_minutes"] >= 0 for point in record["curve"])
    assert seen == [(1, False), (2, False), (3, False)]
    assert record["complete"] is True and json.loads(out.read_text()) == record


@pytest.mark.parametrize("final_epochs", [0, 2])
def test_the_curve_ends_with_the_model_learn_returned_after_training_only_epochs(final_epochs):
    model = JEDI("MlpPolicy", make_vec_env("CartPole-v1", n_envs=1, seed=0), seed=0, final_epochs=final_epochs, **TINY)
    callback = CurveCallback(make_vec_env("CartPole-v1", n_envs=1, seed=10_000), eval_every=100, n_episodes=1)
    record = learn_curve(model, 200, callback, CurveRecord({"env": "CartPole-v1"}, "abc"))
    steps = [point["steps"] for point in record["curve"]]
    flags = [point.get("after_training", False) for point in record["curve"]]
    if final_epochs:
        # The last evaluation at 200 steps came before the training-only epochs: one more at the same step count.
        assert model._final_epochs_done == final_epochs
        assert steps == [100, 200, 200] and flags == [False, False, True]
        assert record["final_mean"] == record["curve"][-1]["mean"]
    else:
        assert steps == [100, 200] and flags == [False, False]
