"""make_pixel_env: rendered frames of classic-control envs as CnnPolicy observations."""

import os
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from toy_envs import MovingBar, RandomImages

from sb3_jedi.envs import make_pixel_env
from sb3_jedi.policies import check_spaces


class HumanOnly(gym.Env):
    """Renders only to a window."""

    metadata = {"render_modes": ["human"]}
    observation_space = spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = spaces.Discrete(2)

    def __init__(self, render_mode: str | None = None) -> None:
        self.render_mode = render_mode


@pytest.fixture
def toy_ids():
    ids = {"bar": "PixelTestMovingBar-v0", "human": "PixelTestHumanOnly-v0", "no_render": "PixelTestNoRender-v0"}
    gym.register(ids["bar"], entry_point=MovingBar)
    gym.register(ids["human"], entry_point=HumanOnly)
    gym.register(ids["no_render"], entry_point=RandomImages, kwargs={"shape": (4,)})
    yield ids
    for env_id in ids.values():
        gym.registry.pop(env_id, None)


def play(env, actions):
    frames = [env.reset()]
    for action in actions:
        obs, _, _, _ = env.step(np.full(env.num_envs, action))
        frames.append(obs)
    return np.stack(frames)


def test_frames_follow_vec_env_conventions_and_pass_cnn_policy_checks():
    env = make_pixel_env("CartPole-v1", n_envs=2, seed=0)
    assert env.num_envs == 2
    assert env.observation_space == spaces.Box(0, 255, (64, 64, 3), np.uint8)
    assert env.action_space == spaces.Discrete(2)
    check_spaces(env.observation_space, env.action_space, image_policy=True)
    obs = env.reset()
    assert obs.shape == (2, 64, 64, 3) and obs.dtype == np.uint8
    # A CartPole frame is mostly white background, with the dark cart on it.
    assert obs.max() == 255 and obs.min() < 64
    next_obs, rewards, dones, infos = env.step(np.array([0, 1]))
    assert next_obs.shape == (2, 64, 64, 3) and next_obs.dtype == np.uint8
    assert rewards.tolist() == [1.0, 1.0] and not dones.any() and len(infos) == 2
    env.close()


def test_other_sizes_and_envs():
    env = make_pixel_env("Acrobot-v1", size=32, seed=0)
    assert env.reset().shape == (1, 32, 32, 3)
    check_spaces(env.observation_space, env.action_space, image_policy=True)
    env.close()


def test_frames_move_and_episodes_are_monitored():
    env = make_pixel_env("CartPole-v1", seed=1)
    frames = play(env, [1] * 5)
    # Pushing right moves the cart and tips the pole: every step changes the frame.
    assert all((frames[i] != frames[i + 1]).any() for i in range(5))
    episodes = []
    for _ in range(500):
        _, _, dones, infos = env.step(np.array([1]))
        if dones[0]:
            episodes.append(infos[0])
            break
    assert episodes, "always pushing right ends a CartPole episode within a few dozen steps"
    info = episodes[0]
    assert info["episode"]["r"] == info["episode"]["l"] > 5  # Monitor: +1 per step
    assert info["terminal_observation"].shape == (64, 64, 3) and info["terminal_observation"].dtype == np.uint8
    env.close()


def test_seeds_reproduce_the_frames():
    actions = [0, 1, 1, 0, 1, 0, 0, 1, 1, 1]
    first = play(make_pixel_env("CartPole-v1", seed=3), actions)
    again = play(make_pixel_env("CartPole-v1", seed=3), actions)
    other = play(make_pixel_env("CartPole-v1", seed=4), actions)
    np.testing.assert_array_equal(first, again)
    assert (first != other).any()
    # Sub-env i is seeded with seed + i.
    pair = make_pixel_env("CartPole-v1", n_envs=2, seed=3)
    np.testing.assert_array_equal(play(pair, actions)[:, 0], first[:, 0])


def test_no_display_needed():
    env = {key: value for key, value in os.environ.items() if key not in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER")}
    code = "from sb3_jedi.envs import make_pixel_env; print(make_pixel_env('CartPole-v1', seed=0).reset().shape)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "(1, 64, 64, 3)"
    # pygame's audio set-up is kept quiet on machines without a sound card.
    assert "ALSA" not in result.stderr


def test_works_with_any_env_that_renders_rgb_array(toy_ids):
    env = make_pixel_env(toy_ids["bar"], size=16, seed=0)
    obs = env.reset()
    assert obs.shape == (1, 16, 16, 3)
    # MovingBar draws a white column: the frame is the env's rendering.
    assert (obs[0] == 255).all(axis=(0, 2)).sum() == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"size": 60}, "multiple of 8"),
        ({"size": 8}, "at least 16"),
        ({"size": 64.0}, "multiple of 8"),
        ({"size": True}, "multiple of 8"),
        ({"n_envs": 0}, "`n_envs` must be an integer >= 1"),
        ({"seed": -1}, "`seed` must be an integer >= 0"),
        ({"env_kwargs": {"render_mode": "human"}}, "leave render_mode out"),
    ],
)
def test_bad_arguments_are_explained(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_pixel_env("CartPole-v1", **kwargs)


def test_bad_envs_are_explained(toy_ids):
    with pytest.raises(ValueError, match="Unknown environment 'NoSuchEnv-v0'"):
        make_pixel_env("NoSuchEnv-v0")
    with pytest.raises(ValueError, match="make_atari100k_env"):
        make_pixel_env("Pong")
    with pytest.raises(ValueError, match=r"cannot render frames.*render modes are \['human'\]"):
        make_pixel_env(toy_ids["human"])
    with pytest.raises(ValueError, match="cannot render frames"):
        make_pixel_env(toy_ids["no_render"])
