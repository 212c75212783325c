"""Named presets: copies, errors, the pinned values of the CPU preset, and the preset on pixel CartPole (API and CLI)."""

import inspect
import json

import numpy as np
import pandas as pd
import pytest
import yaml
from stable_baselines3.common.logger import configure

from sb3_jedi import JEDI
from sb3_jedi.cli import main
from sb3_jedi.envs import make_pixel_env
from sb3_jedi.presets import PRESET_POLICIES, PRESETS, get_preset, with_preset

CPU_PRESET = {
    "batch_size": 16,
    "gradient_steps": 4,
    "actor_critic_gradient_steps": -1,
    "learning_starts": 1_000,
    "learning_starts_reward_threshold": 0,
    "policy_kwargs": {
        "encoder_kwargs": {"channels": (8, 8, 16, 8)},
        "denoiser_kwargs": {"channels": 32, "depth": 1, "mid_depth": 1, "mid_attention": False, "cond_dim": 64},
        "reward_end_kwargs": {"lstm_dim": 128, "channels": (16, 16), "hidden_dim": 128, "cond_dim": 32, "depth": 1},
        "decoder_kwargs": {"channels": (32, 16, 16, 8)},
        "actor_critic_kwargs": {"lstm_dim": 128, "channels": (16, 16)},
    },
}

# A few hundred steps in seconds: 100 random steps, then two epochs of 2 + 2 and 1 + 1 updates.
SHORT_RUN = {
    "learning_starts": 100,
    "first_epoch_gradient_steps": 2,
    "first_epoch_actor_critic_gradient_steps": 2,
    "gradient_steps": 1,
    "wm_log_interval": None,
}


def test_cpu_preset_values_are_pinned():
    # Changing them changes the measured timings (benchmarks/cpu_preset_timing.py) and the documentation.
    assert get_preset("cpu") == CPU_PRESET


def test_get_preset_returns_a_copy():
    preset = get_preset("cpu")
    preset["batch_size"] = 1
    preset["policy_kwargs"]["encoder_kwargs"]["channels"] = (1,)
    del preset["policy_kwargs"]["decoder_kwargs"]
    assert get_preset("cpu") == CPU_PRESET == PRESETS["cpu"]


def test_with_preset_puts_overrides_on_top_key_by_key():
    merged = with_preset("cpu", {"batch_size": 8, "policy_kwargs": {"net_arch": [4]}})
    assert merged["batch_size"] == 8 and CPU_PRESET["batch_size"] != 8
    assert merged["policy_kwargs"] == {"net_arch": [4]}  # the whole value is replaced, not merged
    assert {k: v for k, v in merged.items() if k not in ("batch_size", "policy_kwargs")} == {
        k: v for k, v in CPU_PRESET.items() if k not in ("batch_size", "policy_kwargs")
    }
    merged["gradient_steps"] = -5
    assert PRESETS["cpu"] == CPU_PRESET  # a fresh copy
    assert with_preset(None, {"batch_size": 8}) == {"batch_size": 8}
    with pytest.raises(ValueError, match="Unknown preset"):
        with_preset("gpu", {})


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"Unknown preset 'gpu': the presets are 'cpu'\."):
        get_preset("gpu")
    with pytest.raises(ValueError, match="Unknown preset"):
        get_preset(None)


def test_every_preset_names_its_policy_and_only_jedi_arguments():
    arguments = set(inspect.signature(JEDI).parameters)
    assert set(PRESET_POLICIES) == set(PRESETS)
    for name, preset in PRESETS.items():
        assert PRESET_POLICIES[name] in JEDI.policy_aliases
        assert set(preset) <= arguments, set(preset) - arguments


def test_cpu_preset_learns_on_pixel_cartpole(tmp_path):
    env = make_pixel_env("CartPole-v1", seed=0)
    model = JEDI("CnnPolicy", env, seed=0, device="cpu", **{**get_preset("cpu"), **SHORT_RUN})
    model.set_logger(configure(str(tmp_path), ["csv"]))
    # The preset's sizes reach the networks; the overrides win over the preset.
    world_model = model.policy.world_model
    assert world_model.encoder.latent_shape == (8, 8, 8)
    assert model.batch_size == 16 and model.gradient_steps == 1 and model.learning_starts == 100
    assert sum(p.numel() for p in model.policy.parameters()) < 1_000_000
    model.learn(300)

    assert model.num_timesteps == 300
    buffer = model.replay_buffer
    assert buffer.n_transitions == 300
    frames = buffer.observations[: buffer.size()]
    assert frames.shape[1:] == (3, 64, 64) and frames.dtype == np.uint8
    assert frames.max() == 255 and frames.min() < 64 and len(np.unique(frames.reshape(len(frames), -1), axis=0)) > 100
    # 2 + 1 world-model and actor-critic updates, with finite logged losses.
    assert model._world_model_updates == 3 and model._actor_critic_updates == 3
    # Only empty cells are missing values: a logged "nan" stays a value, and fails the check.
    progress = pd.read_csv(tmp_path / "progress.csv", keep_default_na=False, na_values=[""])
    loss_columns = [column for column in progress if column.startswith("train/") and column.endswith("_loss")]
    assert "train/denoising_loss" in loss_columns and "train/reward_loss" in loss_columns
    for column in loss_columns:
        values = progress[column].dropna().astype(float)
        assert len(values) >= 1 and np.isfinite(values).all(), column


def test_cli_preset_reaches_the_model(tmp_path, capsys):
    hyperparams = tmp_path / "short.yml"
    hyperparams.write_text(yaml.safe_dump({"CartPole-v1": SHORT_RUN}))
    run = tmp_path / "run"
    command = ["train", "CartPole-v1", "--pixels", "64", "--preset", "cpu", "--hyperparams", str(hyperparams)]
    options = ["--steps", "200", "--out", str(run), "--device", "cpu", "--threads", "1", "--no-progress-bar", "--verbose", "0"]
    assert main([*command, *options]) == 0
    info = json.loads((run / "run.json").read_text())
    assert info["preset"] == "cpu" and info["pixels"] == 64 and info["policy"] == "CnnPolicy"
    assert info["hyperparams"]["batch_size"] == 16 and info["hyperparams"]["gradient_steps"] == 1

    model = JEDI.load(run / "model.zip", device="cpu")
    assert model.num_timesteps == 200 and model.batch_size == 16 and model.gradient_steps == 1
    assert model.learning_starts_reward_threshold == 0
    assert model.observation_space.shape == (3, 64, 64)
    assert model.policy.world_model.encoder.latent_shape == (8, 8, 8)
    assert list(model.policy_kwargs["denoiser_kwargs"].items()) == list(CPU_PRESET["policy_kwargs"]["denoiser_kwargs"].items())

    # evaluate and enjoy find the frame size in run.json.
    capsys.readouterr()
    assert main(["evaluate", str(run / "model.zip"), "--episodes", "1", "--device", "cpu"]) == 0
    assert capsys.readouterr().out.startswith("CartPole-v1: mean return ")
    video = tmp_path / "replay.mp4"
    assert main(["enjoy", str(run / "model.zip"), "--record", str(video), "--steps", "5", "--device", "cpu"]) == 0
    assert video.is_file()
    assert main(["enjoy", str(run / "model.zip"), "--steps", "5"]) == 2
    assert "record it with --record" in capsys.readouterr().err


def test_cli_preset_errors(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "CartPole-v1", "--preset", "gpu"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "argument --preset: invalid choice: 'gpu'" in err and "cpu" in err
    assert main(["train", "CartPole-v1", "--preset", "cpu", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "The 'cpu' preset is for CnnPolicy, but this run uses MlpPolicy" in err and "add --pixels 64" in err
    assert not (tmp_path / "run").exists()
