"""The examples run in a fast mode (the README's main command uses train_atari.py)."""

import importlib.util
import re
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load_example(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_train_atari_quick(tmp_path, capsys):
    example = load_example("train_atari")
    model = example.main(["--game", "Pong", "--steps", "600", "--quick", "--no-progress-bar", "--save", str(tmp_path / "m")])
    assert model.num_timesteps == 600
    assert (tmp_path / "m.zip").exists()
    assert "Trained 600 steps on Pong" in capsys.readouterr().out


def test_train_cartpole_quick_runs_end_to_end(capsys):
    example = load_example("train_cartpole")
    model, mean = example.main(["--steps", "200", "--quick", "--eval-episodes", "2"])
    assert model.num_timesteps == 200
    # --quick: epochs of 50 steps after 100 random ones, a first epoch of 5 + 2 updates (at 150), then 2 + 2 (at 200).
    assert (model._world_model_updates, model._actor_critic_updates) == (5 + 2, 2 + 2)
    printed = capsys.readouterr().out
    assert re.fullmatch(rf"CartPole-v1 after 200 steps: mean return {mean:.1f} \+- \S+ over 2 episodes\n", printed), printed


def test_readme_main_command_uses_an_existing_example():
    readme = (EXAMPLES.parent / "README.md").read_text()
    assert "python examples/train_atari.py --game Pong" in readme
    assert (EXAMPLES / "train_atari.py").exists()
    pytest.importorskip("ale_py")


def test_resume_training_example_continues_a_run(tmp_path, capsys):
    example = load_example("resume_training")
    common = ["--dir", str(tmp_path / "ckpt"), "--checkpoint-freq", "100", "--quick"]
    first = example.main(["--steps", "200", *common])
    assert first.num_timesteps == 200
    assert "Starting a new run" in capsys.readouterr().out
    second = example.main(["--steps", "300", *common])
    assert second.num_timesteps == 300
    assert second.replay_buffer.n_transitions == 300  # the first 200 transitions came back with the checkpoint
    assert "Resuming from" in capsys.readouterr().out


def test_record_video_example(tmp_path):
    import cv2

    from sb3_jedi import JEDI

    model = JEDI("MlpPolicy", "CartPole-v1", learning_starts=10)
    model.save(tmp_path / "model")
    frames = load_example("record_video").main(
        ["--model", str(tmp_path / "model.zip"), "--env", "CartPole-v1", "--out", str(tmp_path / "v.mp4"), "--steps", "12"]
    )
    assert frames == 12
    assert cv2.VideoCapture(str(tmp_path / "v.mp4")).get(cv2.CAP_PROP_FRAME_COUNT) == 12


def test_evaluate_agent_example_prints_its_summary(tmp_path, capsys):
    from sb3_jedi import JEDI

    JEDI("MlpPolicy", "CartPole-v1", learning_starts=10).save(tmp_path / "model")
    summary = load_example("evaluate_agent").main(["--model", str(tmp_path / "model.zip"), "--env", "CartPole-v1",
                                                   "--episodes", "2"])  # fmt: skip
    assert summary["episodes"] == 2 and summary["hns"] is None  # no human-normalised score outside Atari100k
    assert capsys.readouterr().out == f"CartPole-v1: {summary['mean']:.2f} +/- {summary['std']:.2f} over 2 episodes\n"
