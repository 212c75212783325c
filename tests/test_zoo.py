"""The rl-zoo3 route (sb3_jedi.zoo): the shipped zoo files, the Atari100k env wrapper, and train / enjoy / plots."""

import ast
import fnmatch
import inspect
import json
import pickle
import re
import sys
from pathlib import Path

import ale_py
import gymnasium as gym
import numpy as np
import pytest
import yaml
from stable_baselines3.common.monitor import Monitor

from sb3_jedi import JEDI
from sb3_jedi.cli import load_hyperparams
from sb3_jedi.cli import main as cli_main
from sb3_jedi.envs import make_atari100k_single_env
from sb3_jedi.registry import get_algorithm
from sb3_jedi.zoo import Atari100kWrapper, default_hyperparams_file, main, zoo_arguments

ROOT = Path(__file__).resolve().parents[1]
gym.register_envs(ale_py)  # the ALE ids, such as the zoo's PongNoFrameskip-v4
# Keys of a zoo section that are not the algorithm's arguments: the run's and the env's.
ZOO_KEYS = {"n_timesteps", "policy", "n_envs", "env_wrapper", "frame_stack", "normalize", "env_kwargs"}
TINY_PARAMS = [
    "learning_starts:100", "train_freq:50", "gradient_steps:1", "actor_critic_gradient_steps:1",
    "first_epoch_gradient_steps:1", "first_epoch_actor_critic_gradient_steps:1", "batch_size:4", "imagination_horizon:2",
]  # fmt: skip
TINY_CNN = (
    "policy_kwargs:dict(encoder_kwargs=dict(channels=[8, 8, 8, 4]), denoiser_kwargs=dict(channels=16, depth=1, "
    "cond_dim=16), reward_end_kwargs=dict(lstm_dim=16, channels=[8, 8], hidden_dim=16, cond_dim=16, depth=1), "
    "use_decoder=False, actor_critic_kwargs=dict(lstm_dim=16, channels=[8, 8], hidden_sizes=[16]))"
)


@pytest.mark.parametrize("algo", ["jedi", "diamond"])
def test_shipped_files_are_zoo_sections_of_arguments_the_algorithm_takes(algo):
    algorithm = get_algorithm(algo)
    arguments = set(inspect.signature(algorithm.__init__).parameters) | set(inspect.signature(JEDI.__init__).parameters)
    content = yaml.safe_load(default_hyperparams_file(algo).read_text())
    assert "atari" in content
    for name, section in content.items():
        # The zoo needs both keys in every section.
        assert {"n_timesteps", "policy"} <= set(section), name
        assert section["policy"] in algorithm.policy_aliases, name
        assert set(section) - ZOO_KEYS <= arguments, name
    assert content["atari"]["env_wrapper"] == ["sb3_jedi.zoo.Atari100kWrapper"]


def test_sb3_jedi_train_reads_the_shipped_file():
    path = default_hyperparams_file("jedi")
    pong = load_hyperparams(path, "Pong", env_settings=True)
    assert pong["policy"] == "CnnPolicy" and pong["n_timesteps"] == 100_000
    assert load_hyperparams(path, "CartPole-v1", env_settings=True)["policy"] == "MlpPolicy"
    assert load_hyperparams(path, "Acrobot-v1", env_settings=True)["policy"] == "MlpPolicy"  # the `default` section


def test_shipped_files_are_package_data():
    # The package's line of [tool.setuptools.package-data] (tomllib is not in Python 3.10).
    line = re.search(r'^"sb3_jedi" = (\[.*\])$', (ROOT / "pyproject.toml").read_text(), re.MULTILINE)
    package_data = ast.literal_eval(line.group(1))
    for algo in ("jedi", "diamond"):
        path = default_hyperparams_file(algo)
        assert path.parent == ROOT / "sb3_jedi" / "hyperparams"
        relative = path.relative_to(ROOT / "sb3_jedi").as_posix()
        assert any(fnmatch.fnmatch(relative, pattern) for pattern in package_data), relative
    with pytest.raises(ValueError, match="No shipped hyper-parameter file for 'ppo'"):
        default_hyperparams_file("ppo")


def test_atari100k_wrapper_on_the_zoo_env_is_the_protocol_env():
    # The zoo's stack: gymnasium.make(id) -> Monitor -> env_wrapper.
    zoo_env = Atari100kWrapper(Monitor(gym.make("PongNoFrameskip-v4")))
    protocol_env = make_atari100k_single_env("Pong", training=True)
    assert zoo_env.observation_space == protocol_env.observation_space
    assert zoo_env.action_space == protocol_env.action_space
    zoo_obs, _ = zoo_env.reset(seed=3)
    protocol_obs, _ = protocol_env.reset(seed=3)
    np.testing.assert_array_equal(zoo_obs, protocol_obs)
    actions = np.random.default_rng(0).integers(zoo_env.action_space.n, size=60)
    for action in actions:
        zoo_step, protocol_step = zoo_env.step(action), protocol_env.step(action)
        np.testing.assert_array_equal(zoo_step[0], protocol_step[0])
        assert zoo_step[1:4] == protocol_step[1:4]


@pytest.mark.parametrize(
    ("env_id", "kwargs", "message"),
    [
        ("ALE/Pong-v5", {}, "skips frames itself (frameskip=4)"),
        ("ALE/Pong-v5", {"frameskip": 1}, "repeats actions at random (repeat_action_probability=0.25)"),
        ("PongNoFrameskip-v4", {"full_action_space": True}, "uses the full action set"),
        ("CartPole-v1", {}, "wraps ALE Atari envs"),
    ],
)
def test_atari100k_wrapper_refuses_envs_of_another_protocol(env_id, kwargs, message):
    env = gym.make(env_id, **kwargs)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Atari100kWrapper(env)
    env.close()


def test_zoo_arguments_default_to_jedi_and_the_shipped_file():
    jedi, diamond = str(default_hyperparams_file("jedi")), str(default_hyperparams_file("diamond"))
    assert zoo_arguments("train", ["--env", "CartPole-v1"]) == ["--algo", "jedi", "--env", "CartPole-v1", "-conf", jedi]
    assert zoo_arguments("train", ["--algo", "diamond"]) == ["--algo", "diamond", "-conf", diamond]
    assert zoo_arguments("train", ["--algo", "jedi", "-conf", "my.yml"]) == ["--algo", "jedi", "-conf", "my.yml"]
    assert zoo_arguments("train", ["--algo", "ppo"]) == ["--algo", "ppo"]  # the zoo's own algorithms keep its files
    assert zoo_arguments("enjoy", ["--env", "CartPole-v1"]) == ["--algo", "jedi", "--env", "CartPole-v1"]
    with pytest.raises(ValueError, match="no hyper-parameter sampler for jedi"):
        zoo_arguments("train", ["-optimize"])


def test_main_explains_a_missing_zoo_and_a_missing_command(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "rl_zoo3", None)  # as if rl-zoo3 were not installed
    assert main(["train", "--env", "CartPole-v1"]) == 2
    assert 'pip install "sb3-jedi[zoo]"' in capsys.readouterr().err
    assert main([]) == 2
    assert "python -m sb3_jedi.zoo {train,enjoy}" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------- with rl-zoo3 installed


def test_zoo_trains_and_enjoys_cartpole(tmp_path, monkeypatch, capsys):
    pytest.importorskip("rl_zoo3")
    monkeypatch.chdir(tmp_path)
    command = ["train", "--env", "CartPole-v1", "-n", "300", "-f", "logs", "--eval-freq", "100", "--eval-episodes", "2",
               "--seed", "0", "--device", "cpu", "-params", *TINY_PARAMS]  # fmt: skip
    assert main(command) == 0
    run = tmp_path / "logs" / "jedi" / "CartPole-v1_1"
    model = JEDI.load(run / "CartPole-v1.zip")
    assert model.num_timesteps == 300 and model.batch_size == 4
    with np.load(run / "evaluations.npz") as evaluations:
        np.testing.assert_array_equal(evaluations["timesteps"], [100, 200, 300])
    config = yaml.unsafe_load((run / "CartPole-v1" / "config.yml").read_text())
    assert dict(config)["policy"] == "MlpPolicy"  # the shipped file's CartPole-v1 section
    capsys.readouterr()

    assert main(["enjoy", "--env", "CartPole-v1", "-f", "logs", "--no-render", "-n", "60", "--device", "cpu"]) == 0
    assert "Episode Reward" in capsys.readouterr().out


def test_zoo_trains_an_atari_game_under_the_atari100k_protocol(tmp_path, monkeypatch):
    pytest.importorskip("rl_zoo3")
    monkeypatch.chdir(tmp_path)
    command = ["train", "--env", "PongNoFrameskip-v4", "-n", "150", "-f", "logs", "--eval-freq", "-1", "--seed", "0",
               "--device", "cpu", "-params", *TINY_PARAMS, "buffer_size:1000", TINY_CNN]  # fmt: skip
    assert main(command) == 0
    run = tmp_path / "logs" / "jedi" / "PongNoFrameskip-v4_1"
    model = JEDI.load(run / "PongNoFrameskip-v4.zip")
    # 64x64 RGB frames (channels first after SB3's transpose), the game's minimal action set.
    assert model.observation_space.shape == (3, 64, 64) and model.action_space.n == 6
    config = dict(yaml.unsafe_load((run / "PongNoFrameskip-v4" / "config.yml").read_text()))
    assert config["env_wrapper"] == ["sb3_jedi.zoo.Atari100kWrapper"]


def test_zoo_plots_read_sb3_jedi_train_runs(tmp_path, monkeypatch, capsys):
    pytest.importorskip("rl_zoo3")
    from rl_zoo3.plots import all_plots, plot_train

    monkeypatch.setenv("MPLBACKEND", "Agg")
    logs = tmp_path / "logs"
    for seed in ("0", "1"):
        command = ["train", "CartPole-v1", "-n", "200", "-f", str(logs), "--seed", seed, "--eval-freq", "100",
                   "--eval-episodes", "2", "--no-progress-bar", "--verbose", "0", "-params", *TINY_PARAMS]  # fmt: skip
        assert cli_main(command) == 0
    output = tmp_path / "results"
    monkeypatch.setattr(sys, "argv", ["all_plots", "-a", "jedi", "-e", "CartPole-v1", "-f", str(logs), "--no-display",
                                      "-o", str(output)])  # fmt: skip
    all_plots()
    results = pickle.loads(output.with_suffix(".pkl").read_bytes())["CartPole-v1"][f"JEDI-{logs}"]
    np.testing.assert_array_equal(results["timesteps"], [100, 200])
    assert results["mean_per_eval"].shape == (2, 2)  # 2 evaluations of 2 runs
    monkeypatch.setattr(sys, "argv", ["plot_train", "-a", "jedi", "-e", "CartPole-v1", "-f", str(logs), "-w", "2"])
    plot_train()
    import matplotlib.pyplot as plt

    lines = plt.gcf().axes[0].get_lines()
    assert sorted(line.get_label() for line in lines) == ["CartPole-v1_1", "CartPole-v1_2"]
    plt.close("all")
    assert json.loads((logs / "jedi" / "CartPole-v1_2" / "run.json").read_text())["seed"] == 1
