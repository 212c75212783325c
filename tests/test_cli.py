"""The `sb3-jedi` command line: parsing, rl-zoo3 hyper-parameter files, and train -> resume -> evaluate -> enjoy."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from sb3_jedi.cli import LinearSchedule, build_parser, load_hyperparams, main
from sb3_jedi.evaluation import human_normalized_score

TINY_YAML = """
CartPole-v1:
  n_timesteps: !!float 300
  policy: 'MlpPolicy'
  learning_rate: lin_1e-3
  learning_starts: 100
  train_freq: 50
  gradient_steps: 2
  actor_critic_gradient_steps: 2
  first_epoch_gradient_steps: 3
  first_epoch_actor_critic_gradient_steps: 2
  batch_size: 8
  policy_kwargs: "dict(actor_critic_kwargs=dict(lstm_dim=32))"
atari:
  batch_size: 4
default:
  gamma: 0.9
"""


@pytest.fixture
def hyperparams_file(tmp_path):
    path = tmp_path / "hyperparams.yml"
    path.write_text(TINY_YAML)
    return path


@pytest.mark.parametrize("command", ["train", "evaluate", "enjoy", "push", "pull", "bench", "benchmark", "report"])
def test_every_command_has_help_with_examples(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and f"sb3-jedi {command}" in out


def test_console_script_is_installed():
    script = Path(sys.executable).parent / "sb3-jedi"
    result = subprocess.run([str(script), "--version"], capture_output=True, text=True, check=True)
    assert result.stdout.startswith("sb3-jedi ")


def test_hyperparams_sections_schedules_and_literals(hyperparams_file):
    cartpole = load_hyperparams(hyperparams_file, "CartPole-v1")
    assert cartpole["n_timesteps"] == 300.0 and cartpole["policy"] == "MlpPolicy"
    assert isinstance(cartpole["learning_rate"], LinearSchedule)
    assert cartpole["learning_rate"](0.5) == pytest.approx(5e-4) and repr(cartpole["learning_rate"]) == "lin_0.001"
    assert cartpole["policy_kwargs"] == {"actor_critic_kwargs": {"lstm_dim": 32}}
    assert load_hyperparams(hyperparams_file, "ALE/Pong-v5") == {"batch_size": 4}  # Atari games fall back to `atari`
    assert load_hyperparams(hyperparams_file, "Acrobot-v1") == {"gamma": 0.9}  # anything else to `default`


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('CartPole-v1:\n  policy_kwargs: "dict(activation_fn=nn.ReLU)"\n', "may only hold literals"),
        ("CartPole-v1:\n  replay_buffer_class: HerReplayBuffer\n", "replay_buffer_class not supported: JEDI has its own"),
        ("CartPole-v1:\n  env_wrapper: no_such_module.Wrapper\n", "env_wrapper: cannot import no_such_module.Wrapper"),
        ("CartPole-v1:\n  env_wrapper: [[1, 2]]\n", "env_wrapper: [1, 2] is not a wrapper"),
        ("CartPole-v1:\n  frame_stack: two\n", "frame_stack must be a whole number"),
        ("CartPole-v1:\n  env_kwargs: [1]\n", "env_kwargs must map keyword arguments"),
        ("Acrobot-v1:\n  gamma: 0.9\n", "no section for 'CartPole-v1'"),
        ("- just\n- a list\n", "must map env ids"),
        ("CartPole-v1:\n  learning_rate: lin_fast\n", "not a linear schedule"),
    ],
)
def test_bad_hyperparams_files_are_explained(tmp_path, content, message, capsys):
    path = tmp_path / "bad.yml"
    path.write_text(content)
    assert main(["train", "CartPole-v1", "--hyperparams", str(path), "--out", str(tmp_path / "run")]) == 2
    assert message in capsys.readouterr().err


def test_train_resume_evaluate_and_record(tmp_path, hyperparams_file, capsys, monkeypatch):
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    run = tmp_path / "run"
    base = ["train", "CartPole-v1", "--hyperparams", str(hyperparams_file), "--out", str(run), "--no-progress-bar"]
    assert main([*base, "--checkpoint-freq", "100", "--verbose", "0"]) == 0
    assert (run / "model.zip").is_file()
    info = json.loads((run / "run.json").read_text())
    assert info["env_id"] == "CartPole-v1" and info["total_timesteps"] == 300
    assert info["hyperparams"]["learning_rate"] == "lin_0.001"
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["checkpoint_000000000200", "checkpoint_000000000300"]

    # A second run into the same directory must not silently start over.
    assert main([*base, "--verbose", "0"]) == 2
    assert "--resume" in capsys.readouterr().err

    assert main([*base, "--steps", "400", "--checkpoint-freq", "100", "--resume", "--verbose", "0"]) == 0
    out = capsys.readouterr().out
    assert "Resuming" in out and "checkpoint_000000000300" in out and "Trained 400 steps" in out
    assert (run / "checkpoints" / "checkpoint_000000000400").is_dir()

    result_file = tmp_path / "eval.json"
    assert main(["evaluate", str(run / "model.zip"), "--episodes", "2", "--json", str(result_file)]) == 0
    result = json.loads(result_file.read_text())
    assert result["env_id"] == "CartPole-v1" and result["episodes"] == 2 and len(result["returns"]) == 2
    assert result["mean_return"] == sum(result["returns"]) / 2
    assert result["mean_return"] == result["mean_length"]  # CartPole: +1 per step
    assert capsys.readouterr().out == (
        f"CartPole-v1: mean return {result['mean_return']:.2f} +/- {result['std_return']:.2f} over 2 episodes (greedy)\n"
    )

    video = tmp_path / "replay.mp4"
    assert main(["enjoy", str(run / "model.zip"), "--record", str(video), "--steps", "30"]) == 0
    capture = cv2.VideoCapture(str(video))
    assert capture.get(cv2.CAP_PROP_FRAME_COUNT) == 30
    ok, frame = capture.read()
    assert ok and frame.ndim == 3


def test_unknown_env_and_missing_model_are_explained(tmp_path, capsys):
    assert main(["train", "NoSuchEnv-v0", "--out", str(tmp_path / "run")]) == 2
    assert "Unknown environment 'NoSuchEnv-v0'" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "missing.zip"), "--env", "CartPole-v1"]) == 2
    assert "missing" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "missing.zip")]) == 2
    assert "Pass --env" in capsys.readouterr().err


def test_module_runs_as_script(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "sb3_jedi.cli", "train", "--help"], capture_output=True, text=True, cwd=tmp_path,
        env={**os.environ},
    )  # fmt: skip
    assert result.returncode == 0 and "--checkpoint-freq" in result.stdout


def test_zoo_spellings_are_the_same_options():
    args = build_parser().parse_args(
        ["train", "CartPole-v1", "-n", "300", "-f", "logs", "--eval-freq", "100", "--save-freq", "200", "-conf", "hp.yml",
         "-params", "gamma:0.9", "batch_size:4", "--env-kwargs", "sutton_barto_reward:True", "-tb", "tb"]
    )  # fmt: skip
    assert (args.steps, args.log_folder, args.eval_freq, args.checkpoint_freq) == (300, "logs", 100, 200)
    assert (args.hyperparams, args.tensorboard_log) == ("hp.yml", "tb")
    assert args.params == ["gamma:0.9", "batch_size:4"] and args.env_kwargs == ["sutton_barto_reward:True"]


def test_train_writes_zoo_logs_and_resumes_them(tmp_path, hyperparams_file, capsys):
    from stable_baselines3.common.monitor import load_results

    logs = tmp_path / "logs"
    base = ["train", "CartPole-v1", "-conf", str(hyperparams_file), "-f", str(logs), "--eval-freq", "100",
            "--eval-episodes", "2", "--save-freq", "100", "--no-progress-bar", "--verbose", "0"]  # fmt: skip
    # -params override the file (batch_size 8 there), and take the zoo's value syntax.
    assert main([*base, "-n", "300", "-params", "batch_size:4", "gamma:0.95", "learning_rate:lin_2e-3"]) == 0
    run = logs / "jedi" / "CartPole-v1_1"  # rl-zoo3's layout: LOG_FOLDER/<algo>/<env>_<n>
    info = json.loads((run / "run.json").read_text())
    assert info["hyperparams"]["batch_size"] == 4 and info["hyperparams"]["gamma"] == 0.95
    assert info["hyperparams"]["learning_rate"] == "lin_0.002" and info["total_timesteps"] == 300
    # What EvalCallback writes, as the zoo's plotting scripts read it.
    with np.load(run / "evaluations.npz") as evaluations:
        assert sorted(evaluations.files) == ["ep_lengths", "results", "timesteps"]
        np.testing.assert_array_equal(evaluations["timesteps"], [100, 200, 300])
        assert evaluations["results"].shape == evaluations["ep_lengths"].shape == (3, 2)
        # CartPole pays 1 per step: an episode's return is its length.
        np.testing.assert_array_equal(evaluations["results"], evaluations["ep_lengths"])
    assert (run / "best_model.zip").is_file() and (run / "0.monitor.csv").is_file()
    first_games = load_results(str(run))
    assert 0 < first_games["l"].sum() <= 300 and (first_games["r"] == first_games["l"]).all()

    # --resume continues the newest run: the earlier Monitor log and evaluations are kept, and evaluations go on at
    # the steps of an uninterrupted run.
    assert main([*base, "-n", "400", "--resume"]) == 0
    assert "Resuming" in capsys.readouterr().out
    assert sorted(p.name for p in run.glob("*.monitor.csv")) == ["0.monitor.csv", "0.part1.monitor.csv"]
    assert len(load_results(str(run))) > len(first_games)
    with np.load(run / "evaluations.npz") as evaluations:
        np.testing.assert_array_equal(evaluations["timesteps"], [100, 200, 300, 400])
    # Without --resume, a new run takes the next number.
    assert main([*base, "-n", "50", "--eval-freq", "0", "--save-freq", "-1"]) == 0
    assert (logs / "jedi" / "CartPole-v1_2" / "model.zip").is_file()
    assert not (logs / "jedi" / "CartPole-v1_2" / "checkpoints").exists()


ZOO_ENV_YAML = """
CartPole-v1:
  learning_starts: 100
  train_freq: 50
  gradient_steps: 1
  actor_critic_gradient_steps: 1
  first_epoch_gradient_steps: 1
  first_epoch_actor_critic_gradient_steps: 1
  batch_size: 4
  env_wrapper:
    - gymnasium.wrappers.TimeAwareObservation: {normalize_time: true}
  frame_stack: 2
  env_kwargs: {sutton_barto_reward: true}
  normalize: false
"""


def test_train_honours_env_wrapper_frame_stack_and_env_kwargs(tmp_path, capsys):
    from stable_baselines3.common.monitor import load_results

    from sb3_jedi.registry import load_model

    path = tmp_path / "zoo.yml"
    path.write_text(ZOO_ENV_YAML)
    run = tmp_path / "run"
    command = ["train", "CartPole-v1", "-conf", str(path), "--out", str(run), "-n", "200", "--eval-freq", "200",
               "--eval-episodes", "1", "--no-progress-bar", "--verbose", "0"]  # fmt: skip
    assert main(command) == 0
    # CartPole's 4 numbers, the time feature of the wrapper, two frames stacked.
    assert load_model(run / "model.zip").observation_space.shape == (10,)
    # env_kwargs reached gymnasium.make: Sutton and Barto's reward pays 0 per step and -1 at the fall.
    games = load_results(str(run))
    assert len(games) > 0 and set(games["r"]) <= {-1.0, 0.0} and (games["r"] == -1.0).any()
    info = json.loads((run / "run.json").read_text())
    assert info["env_wrapper"] == [{"gymnasium.wrappers.TimeAwareObservation": {"normalize_time": True}}]
    assert info["frame_stack"] == 2 and info["env_kwargs"] == {"sutton_barto_reward": True}
    assert "normalize" not in info["hyperparams"]
    # evaluate rebuilds the run's env from run.json (wrapper, frame stack, env_kwargs): the model's spaces match.
    assert main(["evaluate", str(run / "model.zip"), "--episodes", "1"]) == 0
    assert "mean" in capsys.readouterr().out.lower()

    # --env-kwargs overrides the file's env_kwargs, as in the zoo.
    assert main([*command, "--out", str(tmp_path / "run2"), "--env-kwargs", "sutton_barto_reward:False"]) == 0
    assert (load_results(str(tmp_path / "run2"))["r"] > 0).all()


@pytest.mark.parametrize(
    ("env", "section", "arguments", "message"),
    [
        ("CartPole-v1", "normalize: true", [], "normalize: True cannot be honoured: JEDI learns its world model from the raw"),
        ("CartPole-v1", "frame_stack: 4", ["--pixels", "16"], "frame_stack: 4 cannot be honoured for image observations"),
        ("Pong", "env_kwargs: {repeat_action_probability: 0.25}", [], "differs from the Atari100k protocol"),
        ("Pong", "env_kwargs: {mode: 1}", [], "env_kwargs: mode cannot be set for an Atari game"),
        ("Pong", "env_wrapper: stable_baselines3.common.atari_wrappers.AtariWrapper", [], "SB3's Atari preprocessing"),
        ("Pong", "env_wrapper: [{sb3_jedi.zoo.Atari100kWrapper: {size: 32}}]", [], "Atari100kWrapper takes training"),
        ("CartPole-v1", "gamma: 0.9", ["-params", "gamma=0.9"], "-params 'gamma=0.9': write KEY:VALUE"),
        ("CartPole-v1", "gamma: 0.9", ["-f", "logs"], "--out and -f/--log-folder both name the run directory"),
    ],
)
def test_zoo_keys_that_cannot_be_honoured_are_explained(tmp_path, env, section, arguments, message, capsys):
    path = tmp_path / "zoo.yml"
    path.write_text(f"{env}:\n  {section}\n")
    assert main(["train", env, "-conf", str(path), "--out", str(tmp_path / "run"), *arguments]) == 2
    assert message in capsys.readouterr().err


def test_train_keeps_the_atari100k_wrapper_options_and_frame_cap(tmp_path, recwarn):
    from sb3_jedi.registry import load_model

    path = tmp_path / "atari.yml"
    path.write_text(
        ATARI_TINY_YAML + "  env_wrapper:\n    - sb3_jedi.zoo.Atari100kWrapper: {frame_size: 32}\n"
        "  env_kwargs: {max_num_frames_per_episode: 200, frameskip: 1}\n"
    )
    # Fewer steps than learning_starts: random actions only, the run builds the envs and the model.
    run = tmp_path / "run"
    assert main(["train", "Pong", "-conf", str(path), "--out", str(run), "-n", "60", "--eval-freq", "60",
                 "--eval-episodes", "1", "--device", "cpu", "--no-progress-bar", "--verbose", "0"]) == 0  # fmt: skip
    assert load_model(run / "model.zip").observation_space.shape[-2:] == (32, 32)
    # The frame cap ends every game within 200 frames, 50 agent steps, evaluation games too.
    with np.load(run / "evaluations.npz") as evaluations:
        assert 0 < evaluations["ep_lengths"][0, 0] <= 50
    assert not [w for w in recwarn if "not of the same type" in str(w.message)]


ATARI_TINY_YAML = """
atari:
  learning_starts: 100
  train_freq: 100
  gradient_steps: 1
  actor_critic_gradient_steps: 1
  first_epoch_gradient_steps: 1
  first_epoch_actor_critic_gradient_steps: 1
  batch_size: 2
  buffer_size: 1000
  imagination_horizon: 2
  policy_kwargs: "dict(encoder_kwargs=dict(channels=[8, 8, 8, 4]), denoiser_kwargs=dict(channels=16, depth=1, cond_dim=16),
    reward_end_kwargs=dict(lstm_dim=16, channels=[8, 8], hidden_dim=16, cond_dim=16, depth=1), use_decoder=False,
    actor_critic_kwargs=dict(lstm_dim=16, channels=[8, 8], hidden_sizes=[16]))"
"""


def test_benchmark_and_report_commands(tmp_path, capsys):
    import torch as th

    hyperparams = tmp_path / "atari.yml"
    hyperparams.write_text(ATARI_TINY_YAML)
    out = tmp_path / "results"
    command = [
        "benchmark", "atari100k", "--games", "Pong", "--seeds", "0", "--steps", "200", "--out", str(out),
        "--hyperparams", str(hyperparams), "--eval-episodes", "1", "--eval-max-episode-frames", "400",
        "--checkpoint-freq", "100", "--device", "cpu", "--threads-per-run", "1",
    ]  # fmt: skip
    threads = th.get_num_threads()
    try:
        assert main(command) == 0
    finally:
        th.set_num_threads(threads)
    assert "1 runs finished" in capsys.readouterr().out
    result = json.loads(next(out.rglob("seed_0.json")).read_text())
    assert result["game"] == "Pong" and result["steps"] == 200
    assert result["tf32_matmul"] is None  # recorded for CUDA runs only: a CPU has no TF32

    assert main(["report", str(out), "--compare", "DIAMOND"]) == 0
    written = capsys.readouterr().out
    report = out / "report" / "report.md"
    assert f"Wrote {report}" in written and "DIAMOND" in report.read_text()
    assert len(list((out / "report").glob("*.png"))) == 3


def test_bench_world_model_command_quick(tmp_path, capsys):
    out = tmp_path / "wm.json"
    assert main(["bench", "world-model", "--quick", "--json", str(out), "--threads", "1"]) == 0
    printed = capsys.readouterr().out
    result = json.loads(out.read_text())
    assert set(result) >= {"latent", "pixel", "ratios", "device"}
    assert "imagine_step_s" in result["latent"] and "| " in printed and f"Wrote {out}" in printed


def test_evaluate_an_atari_model_reports_the_human_normalized_score(tmp_path, capsys):
    from sb3_jedi import JEDI
    from sb3_jedi.envs import make_atari100k_env

    tiny = load_hyperparams_from_text(tmp_path, ATARI_TINY_YAML, "Pong")
    model = JEDI("CnnPolicy", make_atari100k_env("Pong", seed=0), seed=0, **tiny)
    model.save(tmp_path / "pong.zip")
    result_file = tmp_path / "pong.json"
    # One short-lived game: Pong ends when a side reaches 21, a few hundred agent steps for an untrained agent.
    assert main(["evaluate", str(tmp_path / "pong.zip"), "--env", "Pong", "--episodes", "1", "--json", str(result_file)]) == 0
    result = json.loads(result_file.read_text())
    printed = capsys.readouterr().out
    match = re.fullmatch(
        r"Pong: mean return (\S+) \+/- \S+ over 1 episodes, human-normalised score (\S+) \(sampled actions\)\n", printed
    )
    assert match is not None, printed
    assert result["deterministic"] is False
    # The printed score is the human-normalised score of the printed mean (a Pong score is a whole number).
    mean, hns = float(match.group(1)), match.group(2)
    assert mean == result["mean_return"] == result["returns"][0]
    assert hns == f"{human_normalized_score('Pong', mean):.3f}"
    assert result["human_normalized_score"] == human_normalized_score("Pong", result["mean_return"])


def load_hyperparams_from_text(tmp_path, text, env_id):
    path = tmp_path / "hp.yml"
    path.write_text(text)
    return load_hyperparams(path, env_id)
