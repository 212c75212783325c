"""benchmarks/learning_curve.py: the record of one learning run (the README's learning table is built from these)."""

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "learning_curve.py"
TINY_RUN = {
    "learning_starts": 100,
    "train_freq": 50,
    "gradient_steps": 1,
    "first_epoch_gradient_steps": 1,
    "first_epoch_actor_critic_gradient_steps": 1,
    "batch_size": 4,
}


def test_a_run_records_deterministic_and_sampled_returns_at_each_evaluation(tmp_path):
    spec = importlib.util.spec_from_file_location("learning_curve", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "record.json"
    record = module.run("CartPole-v1", 0, 300, eval_every=150, eval_episodes=2, kwargs=TINY_RUN, out=out)
    assert [point["steps"] for point in record["curve"]] == [150, 300]
    for point in record["curve"]:
        # CartPole pays 1 per step: every return is an episode length, at least 8 steps.
        assert point["mean"] >= 8 and point["mean_sampled"] >= 8
        assert point["std"] >= 0 and point["std_sampled"] >= 0
    assert record["final_mean"] == record["curve"][-1]["mean"]
    assert record["complete"] and record["hyperparameters"] == TINY_RUN
    assert out.read_text().strip().startswith("{")
