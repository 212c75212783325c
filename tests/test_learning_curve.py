"""benchmarks/learning_curve.py: the record of one learning run (the README's learning table is built from these)."""

import json
import sys

import pytest
from benchmark_scripts import load_benchmark

from sb3_jedi.benchmarks.curves import atari_fields
from sb3_jedi.evaluation.reference import reference_scores

TINY_RUN = {
    "learning_starts": 100,
    "train_freq": 50,
    "gradient_steps": 1,
    "first_epoch_gradient_steps": 1,
    "first_epoch_actor_critic_gradient_steps": 1,
    "batch_size": 4,
}


def test_a_run_records_deterministic_and_sampled_returns_at_each_evaluation(tmp_path):
    module = load_benchmark("learning_curve")
    out = tmp_path / "record.json"
    record = module.run("CartPole-v1", 0, 300, eval_every=150, eval_episodes=2, kwargs=TINY_RUN, out=out)
    assert [point["steps"] for point in record["curve"]] == [150, 300]
    for point in record["curve"]:
        # CartPole pays 1 per step: every return is an episode length, at least 8 steps.
        assert point["mean"] >= 8 and point["mean_sampled"] >= 8
        assert point["std"] >= 0 and point["std_sampled"] >= 0
    assert record["final_mean"] == record["curve"][-1]["mean"]
    assert record["complete"] and record["hyperparameters"] == TINY_RUN
    assert record["atari"] is None
    assert out.read_text().strip().startswith("{")


def test_an_atari_run_with_the_cpu_preset_records_the_game_and_its_reference_scores(tmp_path, monkeypatch, capsys):
    module = load_benchmark("learning_curve")
    out = tmp_path / "pong.json"
    # Evaluation games cut at 400 frames (100 agent steps): a whole game of Pong is about 900 steps or more.
    argv = ["learning_curve.py", "--atari", "pong", "--preset", "cpu", "--steps", "200", "--eval-every", "100"]
    argv += ["--eval-episodes", "1", "--eval-max-episode-frames", "400", "--kwargs", json.dumps(TINY_RUN)]
    monkeypatch.setattr(sys, "argv", [*argv, "--json", str(out)])
    module.main()
    record = json.loads(out.read_text())
    assert out.read_text().strip() in capsys.readouterr().out  # the record, also printed
    assert (record["env"], record["policy"], record["pixels"], record["preset"]) == ("Pong", "CnnPolicy", None, "cpu")
    assert record["atari"] == "Atari100k" and record["eval_max_episode_frames"] == 400
    assert record["reference_scores"] == reference_scores()["Pong"] == {"random": -20.7, "human": 14.6}
    assert record["complete"] and record["hyperparameters"] == TINY_RUN and record["eval_episodes"] == 1
    assert [point["steps"] for point in record["curve"]] == [100, 200]
    for point in record["curve"]:
        # Pong scores a point at a time: the scores of 100 agent steps are whole numbers, far from the 21 of a game.
        for score in (point["mean"], point["mean_sampled"]):
            assert float(score).is_integer() and -21 <= score <= 21
    # An ALE game outside the 26 of Atari100k has no reference scores.
    assert atari_fields("Tennis", 108_000)["reference_scores"] is None


def test_atari_and_pixels_together_are_refused(monkeypatch, capsys):
    module = load_benchmark("learning_curve")
    monkeypatch.setattr(sys, "argv", ["learning_curve.py", "--atari", "Pong", "--pixels", "64"])
    with pytest.raises(SystemExit):
        module.main()
    assert "argument --pixels: not allowed with argument --atari" in capsys.readouterr().err
    with pytest.raises(ValueError, match="Choose one of `atari` and `pixels`"):
        module.run("Pong", 0, 100, eval_every=100, eval_episodes=1, kwargs={}, pixels=64, atari=True)


def test_logging_options_are_recorded_apart_from_the_hyperparameters():
    module = load_benchmark("learning_curve")
    # Diagnostics leave training unchanged, so a run of the defaults that logs them more often is a run of the defaults.
    assert module.split_logging_options({"wm_log_interval": 50}) == {
        "hyperparameters": "defaults",
        "logging": {"wm_log_interval": 50},
    }
    assert module.split_logging_options({"wm_log_interval": 10, "self_imitation_margin": 0.25}) == {
        "hyperparameters": {"self_imitation_margin": 0.25},
        "logging": {"wm_log_interval": 10},
    }
    assert module.split_logging_options({}) == {"hyperparameters": "defaults", "logging": {}}
