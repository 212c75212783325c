"""benchmarks/baseline_curve.py: SB3's own algorithms with the zoo's settings, recorded as JEDI's learning curves are."""

import json
import sys

import numpy as np
import pytest
from benchmark_scripts import load_benchmark
from stable_baselines3 import PPO
from stable_baselines3.common.atari_wrappers import ClipRewardEnv
from stable_baselines3.common.vec_env import VecNormalize

from sb3_jedi.envs import TerminateOnLifeLoss
from sb3_jedi.evaluation.reference import reference_scores

baseline_curve = load_benchmark("baseline_curve")
learning_results = load_benchmark("learning_results")


def _check_record(record: dict, algo: str, steps: int, eval_steps: list[int]) -> None:
    assert record["algo"] == algo and record["steps"] == steps and record["complete"] is True
    assert [point["steps"] for point in record["curve"]] == eval_steps
    assert record["final_mean"] == record["curve"][-1]["mean"]
    assert record["train_minutes"] == record["curve"][-1]["train_minutes"] >= 0
    assert len(record["commit"].removesuffix("-dirty")) == 40
    assert record["versions"]["stable_baselines3"] != "unknown"
    assert record["eval_episodes"] == 2
    for point in record["curve"]:
        # CartPole pays 1 per step: the mean of 2 raw returns is a whole number of half steps.
        assert 1 <= point["mean"] <= 500 and float(point["mean"] * 2).is_integer()
        assert point["train_episodes"] >= 0 and point["std"] >= 0


def test_ppo_run_stops_at_the_steps_asked_and_records_the_schema_of_learning_curves(tmp_path):
    out = tmp_path / "ppo.json"
    # The zoo's 8 CartPole envs step together: evaluations at the first step at or past 100 and 200, then stop at 200.
    record = baseline_curve.run("ppo", "CartPole-v1", seed=0, steps=200, eval_every=100, eval_episodes=2, out=out)
    _check_record(record, "PPO", steps=200, eval_steps=[104, 200])
    assert json.loads(out.read_text()) == json.loads(json.dumps(record))
    assert record["hyperparameters"] == baseline_curve.VECTOR_SETTINGS[("PPO", "CartPole-v1")].hyperparameters
    assert record["hyperparameters"]["n_envs"] == 8 and "ppo.yml" in record["zoo"]
    assert record["policy"] == "MlpPolicy" and record["pixels"] is None and record["seed"] == 0


def test_dqn_run_evaluates_every_eval_every_steps_and_at_the_end(tmp_path):
    record = baseline_curve.run("DQN", "CartPole-v1", seed=1, steps=250, eval_every=100, eval_episodes=2)
    _check_record(record, "DQN", steps=250, eval_steps=[100, 200, 250])
    assert record["seed"] == 1 and record["hyperparameters"]["learning_starts"] == 1_000


def test_pixel_run_feeds_stacked_channel_first_frames_to_cnn_policy(tmp_path):
    settings = baseline_curve.PIXEL_SETTINGS["PPO"].hyperparameters
    env, eval_env = baseline_curve.make_envs("CartPole-v1", 0, 64, settings)
    # 4 stacked 64x64 RGB frames, channel first, for SB3's NatureCNN; the evaluation env sees the same.
    assert env.observation_space.shape == eval_env.observation_space.shape == (12, 64, 64)
    assert env.observation_space.dtype == np.uint8 and env.num_envs == 8 and eval_env.num_envs == 1
    env.close()
    eval_env.close()
    record = baseline_curve.run("PPO", "CartPole-v1", seed=0, steps=16, eval_every=16, eval_episodes=1, pixels=64)
    assert record["policy"] == "CnnPolicy" and record["pixels"] == 64 and record["curve"][-1]["steps"] == 16
    assert record["hyperparameters"]["frame_stack"] == 4 and "atari" in record["zoo"]


def test_atari_envs_are_the_protocols_with_rewards_clipped_for_training_only():
    settings = baseline_curve.ATARI_SETTINGS["DQN"]
    # The zoo's Atari DQN, learning_starts aside (its 100,000 would never start in an Atari100k run).
    assert "dqn.yml: atari" in settings.source and settings.hyperparameters["learning_starts"] == 1_000
    assert settings.hyperparameters["buffer_size"] == 100_000 and settings.hyperparameters["frame_stack"] == 4
    env, eval_env = baseline_curve.make_envs("Pong", 0, None, settings.hyperparameters, atari=True)
    assert env.observation_space.shape == eval_env.observation_space.shape == (12, 64, 64)
    # As the zoo's AtariWrapper: rewards clipped to their sign and life loss ends an episode, while training only.
    assert env.env_is_wrapped(ClipRewardEnv) == [True] and eval_env.env_is_wrapped(ClipRewardEnv) == [False]
    assert env.env_is_wrapped(TerminateOnLifeLoss) == [True] and eval_env.env_is_wrapped(TerminateOnLifeLoss) == [False]
    env.close()
    eval_env.close()


def test_atari_dqn_run_records_the_game_and_its_reference_scores(tmp_path, monkeypatch):
    # The zoo's settings with a small buffer and an early start, so that the test trains within seconds.
    zoo = baseline_curve.ATARI_SETTINGS["DQN"]
    tiny = baseline_curve.ZooSettings(zoo.source, {**zoo.hyperparameters, "buffer_size": 1_000, "learning_starts": 100})
    monkeypatch.setitem(baseline_curve.ATARI_SETTINGS, "DQN", tiny)
    out = tmp_path / "dqn_pong.json"
    # Evaluation games cut at 400 frames (100 agent steps): a whole game of Pong is about 900 steps or more.
    argv = ["baseline_curve.py", "--algo", "dqn", "--atari", "ALE/Pong-v5", "--steps", "300", "--eval-every", "150"]
    argv += ["--eval-episodes", "1", "--eval-max-episode-frames", "400", "--json", str(out)]
    monkeypatch.setattr(sys, "argv", argv)
    baseline_curve.main()
    record = json.loads(out.read_text())
    assert record["algo"] == "DQN" and record["complete"] is True and record["steps"] == 300
    assert (record["env"], record["policy"], record["pixels"]) == ("Pong", "CnnPolicy", None)
    assert record["atari"] == "Atari100k" and record["eval_max_episode_frames"] == 400
    assert record["reference_scores"] == reference_scores()["Pong"] == {"random": -20.7, "human": 14.6}
    assert record["hyperparameters"] == tiny.hyperparameters and "dqn.yml: atari" in record["zoo"]
    assert [point["steps"] for point in record["curve"]] == [150, 300]
    for point in record["curve"]:
        # Game scores, not clipped rewards (Pong pays one per point either way): whole numbers far from 21.
        assert float(point["mean"]).is_integer() and -21 <= point["mean"] <= 21


def test_atari_and_pixels_together_are_refused(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["baseline_curve.py", "--atari", "Pong", "--pixels", "64"])
    with pytest.raises(SystemExit):
        baseline_curve.main()
    assert "argument --pixels: not allowed with argument --atari" in capsys.readouterr().err
    with pytest.raises(ValueError, match="Choose one of `atari` and `pixels`"):
        baseline_curve.run("DQN", "Pong", 0, 100, eval_every=100, eval_episodes=1, pixels=64, atari=True)


def test_normalised_evaluation_reads_the_training_statistics_without_updating_them():
    settings = {"normalize": True, "n_envs": 2, "gamma": 0.9}
    env, eval_env = baseline_curve.make_envs("Acrobot-v1", 0, None, settings)
    assert isinstance(env, VecNormalize) and isinstance(eval_env, VecNormalize)
    assert env.training and env.gamma == 0.9  # as the zoo does: the return normaliser uses the algorithm's gamma
    assert not eval_env.training and not eval_env.norm_reward
    model = PPO("MlpPolicy", env, n_steps=16, batch_size=32, seed=0)
    callback = baseline_curve.BaselineCurveCallback(eval_env, eval_every=16, n_episodes=1, steps=32)
    model.learn(32, callback=callback)
    assert [point["steps"] for point in callback.points] == [16, 32]
    # Evaluated at the last step: the evaluation env holds the training statistics of then, unchanged by its episodes.
    np.testing.assert_array_equal(eval_env.obs_rms.mean, env.obs_rms.mean)
    assert eval_env.obs_rms.count == env.obs_rms.count
    # Acrobot pays -1 per step: the recorded returns are the env's, not normalised rewards.
    assert all(float(point["mean"]).is_integer() and -500 <= point["mean"] < 0 for point in callback.points)


def test_lin_schedules_become_linear_schedules_and_env_settings_are_not_model_arguments():
    kwargs = baseline_curve.model_kwargs(
        {"n_envs": 8, "normalize": True, "frame_stack": 4, "learning_rate": "lin_0.001", "clip_range": 0.2, "gamma": 0.98}
    )
    assert set(kwargs) == {"learning_rate", "clip_range", "gamma"}
    assert kwargs["learning_rate"](1.0) == pytest.approx(1e-3) and kwargs["learning_rate"](0.25) == pytest.approx(2.5e-4)
    assert kwargs["clip_range"] == 0.2 and kwargs["gamma"] == 0.98


def test_unknown_pairs_are_refused():
    with pytest.raises(ValueError, match="No zoo settings for PPO on MountainCar-v0"):
        baseline_curve.zoo_settings("PPO", "MountainCar-v0", None)
    with pytest.raises(ValueError, match="No pixel settings for A2C"):
        baseline_curve.zoo_settings("A2C", "CartPole-v1", 64)
    with pytest.raises(ValueError, match="No Atari settings for A2C"):
        baseline_curve.zoo_settings("A2C", "Pong", None, atari=True)


def test_every_planned_baseline_has_zoo_settings_and_the_record_name_that_collect_reads():
    planned = [(task, algo) for task in learning_results.TASKS.values() for algo in task.baselines]
    assert planned
    for task, algo in planned:
        baseline_curve.zoo_settings(algo, task.env_id, task.pixels)
        name = baseline_curve.record_name(algo, task.env_id, 2, task.pixels)
        assert task.baseline_record_path(algo, 2).name == name
