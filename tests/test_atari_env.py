"""Tests of the Atari100k environment protocol (sb3_jedi.envs.atari) on real ALE games."""

import os

import ale_py  # noqa: F401  (registers the ALE ids)
import cv2
import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from stable_baselines3.common.env_checker import check_env
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv

from sb3_jedi.envs import ATARI100K_GAMES, make_atari100k_env, make_atari100k_single_env
from sb3_jedi.envs.atari import resolve_atari_game

# Safety cap on every loop: a random Breakout game lasts ~1,500 frames (~400 agent steps).
MAX_STEPS = 3_000


def _frame_number(env: gym.Env) -> int:
    return env.unwrapped.ale.getEpisodeFrameNumber()


def _expected_obs(frames: list[np.ndarray], size: int = 64) -> np.ndarray:
    """Independent reference: area-resized max of the last two raw frames."""
    pooled = frames[-1] if len(frames) == 1 else np.maximum(frames[-2], frames[-1])
    return cv2.resize(pooled, (size, size), interpolation=cv2.INTER_AREA)


def test_atari100k_games_are_the_26_reference_games():
    path = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "reference", "atari100k_reference_scores.csv")
    if os.path.exists(path):
        with open(path) as f:
            names = [line.split(",")[0] for line in f.read().splitlines()[1:] if line]
        assert tuple(names) == ATARI100K_GAMES
    assert len(ATARI100K_GAMES) == 26
    for game in ATARI100K_GAMES:
        assert f"ALE/{game}-v5" in gym.registry


@pytest.mark.parametrize("name", ["Pong", "pong", "PongNoFrameskip-v4", "ALE/Pong-v5", " PONG "])
def test_game_name_spellings(name):
    assert resolve_atari_game(name) == "Pong"


def test_multiword_game_names():
    assert resolve_atari_game("ms_pacman") == "MsPacman"
    assert resolve_atari_game("MsPacmanNoFrameskip-v4") == "MsPacman"
    assert resolve_atari_game("ALE/PrivateEye-v5") == "PrivateEye"


def test_spaces_and_emulator_settings():
    # The v5 id defaults to sticky actions and frame skip 4: they must be overridden.
    env = make_atari100k_single_env("ALE/Pong-v5", seed=0)
    ale = env.unwrapped.ale
    assert env.observation_space == spaces.Box(0, 255, (64, 64, 3), np.uint8)
    assert isinstance(env.action_space, spaces.Discrete)
    # Minimal action set: 6 actions for Pong, not the full 18.
    assert env.action_space.n == len(ale.getMinimalActionSet()) == 6
    assert env.unwrapped._frameskip == 1
    assert ale.getFloat("repeat_action_probability") == 0.0
    assert ale.getInt("max_num_frames_per_episode") == 108_000
    obs, info = env.reset()
    assert obs.shape == (64, 64, 3) and obs.dtype == np.uint8
    assert "lives" in info
    obs, _, _, _, info = env.step(0)
    assert obs.shape == (64, 64, 3) and obs.dtype == np.uint8
    assert "lives" in info
    env.close()


def test_frame_size_option():
    env = make_atari100k_single_env("Pong", seed=0, frame_size=32)
    obs, _ = env.reset()
    assert obs.shape == (32, 32, 3) == env.observation_space.shape
    env.close()


@pytest.mark.parametrize("training", [True, False])
def test_passes_sb3_env_checker(training):
    env = make_atari100k_single_env("Pong", seed=0, training=training)
    check_env(env, warn=False)
    env.close()


def test_step_is_frame_skip_frames_with_max_pooled_area_resized_obs():
    seed, frame_skip = 3, 4
    env = make_atari100k_single_env("Pong", seed=seed, training=False, frame_skip=frame_skip)
    raw = gym.make("ALE/Pong-v5", frameskip=1, repeat_action_probability=0.0)

    obs, _ = env.reset()
    n_noops = _frame_number(env)
    assert 1 <= n_noops <= 30
    # Replay the no-ops as raw frames on an independent emulator.
    frame, _ = raw.reset(seed=seed)
    for _ in range(n_noops):
        frame, *_ = raw.step(0)
    np.testing.assert_array_equal(obs, _expected_obs([frame]))

    rng = np.random.default_rng(0)
    pooling_mattered = area_mattered = False
    for _ in range(150):
        action = int(rng.integers(env.action_space.n))
        before = _frame_number(env)
        obs, reward, terminated, truncated, _ = env.step(action)
        assert _frame_number(env) - before == frame_skip
        frames, raw_reward = [], 0.0
        for _ in range(frame_skip):
            frame, r, *_ = raw.step(action)
            frames.append(frame)
            raw_reward += r
        expected = _expected_obs(frames)
        np.testing.assert_array_equal(obs, expected)
        assert reward == raw_reward
        assert not (terminated or truncated)
        # The checks above must be able to tell the protocol from its look-alikes.
        pooling_mattered |= not np.array_equal(expected, _expected_obs(frames[-1:]))
        area_mattered |= not np.array_equal(expected, cv2.resize(np.maximum(*frames[-2:]), (64, 64)))
    assert pooling_mattered and area_mattered
    env.close()
    raw.close()


def test_rewards_are_summed_over_the_skip():
    env = make_atari100k_single_env("Pong", seed=0, training=False)
    raw = gym.make("ALE/Pong-v5", frameskip=1, repeat_action_probability=0.0)
    env.reset()
    raw.reset(seed=0)
    for _ in range(_frame_number(env)):
        raw.step(0)
    rewards, raw_rewards = [], []
    # Pong scores a point every ~100 agent steps with a still paddle.
    for _ in range(250):
        rewards.append(env.step(0)[1])
        raw_rewards.append(sum(raw.step(0)[1] for _ in range(4)))
    assert rewards == raw_rewards
    assert sum(abs(r) for r in rewards) > 0
    env.close()
    raw.close()


def test_noop_reset_draws_raw_noop_frames_from_seeded_rng():
    counts = {}
    for seed in range(8):
        env = make_atari100k_single_env("Pong", seed=seed, training=False, noop_max=30)
        env.reset()
        counts[seed] = _frame_number(env)
        # Later resets continue the seeded RNG and stay in range too.
        env.reset()
        assert 1 <= _frame_number(env) <= 30
        env.close()
    # No-ops are raw frames (not agent steps of 4 frames): count in [1, noop_max], not a multiple of the skip.
    assert all(1 <= n <= 30 for n in counts.values())
    assert len(set(counts.values())) > 2
    assert any(n % 4 != 0 for n in counts.values())
    again = make_atari100k_single_env("Pong", seed=5, training=False)
    again.reset()
    assert _frame_number(again) == counts[5]
    # An explicit reset seed wins over the construction seed.
    again.reset(seed=2)
    assert _frame_number(again) == counts[2]
    again.close()

    no_noop = make_atari100k_single_env("Pong", seed=0, noop_max=0)
    no_noop.reset()
    assert _frame_number(no_noop) == 0
    no_noop.close()


def _play_until_life_lost(env: gym.Env):
    """Random actions (FIRE included, so the ball is launched) until the lives counter drops."""
    lives = env.unwrapped.ale.lives()
    for _ in range(MAX_STEPS):
        obs, _, terminated, truncated, info = env.step(env.action_space.sample())
        if info["lives"] < lives:
            return obs, terminated, truncated, info
        assert not (terminated or truncated)
    raise AssertionError("no life lost")


def test_life_loss_ends_training_episode_without_resetting_game():
    env = make_atari100k_single_env("Breakout", seed=0, training=True)
    _, info = env.reset()
    assert info["lives"] == 5
    obs, terminated, truncated, info = _play_until_life_lost(env)
    assert terminated and not truncated
    assert info["lives"] == 4 and info["life_loss"]
    # Not the end of the game: Monitor has no episode to report yet.
    assert "episode" not in info
    frame = _frame_number(env)

    obs_after, info_after = env.reset()
    # The game goes on: no emulator reset, no no-op frame, same screen, lives still reduced.
    assert _frame_number(env) == frame
    assert env.unwrapped.ale.lives() == 4 and info_after["lives"] == 4
    np.testing.assert_array_equal(obs_after, obs)
    env.step(0)
    assert _frame_number(env) == frame + 4
    env.close()


def test_life_loss_does_not_end_evaluation_episode():
    env = make_atari100k_single_env("Breakout", seed=0, training=False)
    env.reset()
    _, terminated, truncated, info = _play_until_life_lost(env)
    assert info["lives"] == 4 and info["life_loss"]
    assert not terminated and not truncated
    env.close()


def test_monitor_reports_whole_game_in_training_mode():
    # Seed 3: a random Breakout game that scores in its first and fourth lives, none in its last one.
    env = make_atari100k_single_env("Breakout", seed=3, training=True)
    env.reset()
    life_rewards, life_lengths = [0.0], [0]
    for _ in range(MAX_STEPS):
        _, reward, terminated, truncated, info = env.step(env.action_space.sample())
        life_rewards[-1] += reward
        life_lengths[-1] += 1
        if terminated or truncated:
            if "episode" in info:
                break
            assert info["lives"] > 0
            life_rewards.append(0.0)
            life_lengths.append(0)
            env.reset()
    assert "episode" in info, "game did not finish"
    # Breakout has 5 lives: 4 life-loss ends, then the game-over end carrying the game's statistics.
    assert len(life_rewards) == 5
    assert sum(life_rewards[:-1]) > 0, "a per-life score could not be told from the game's"
    assert info["episode"]["r"] == pytest.approx(sum(life_rewards))
    assert info["episode"]["l"] == sum(life_lengths)
    # After game over, reset really restarts the game.
    _, info = env.reset()
    assert info["lives"] == 5 and _frame_number(env) <= 30
    env.close()


def test_vec_env_episode_infos_are_game_scores():
    vec_env = make_atari100k_env("Breakout", n_envs=1, seed=3, training=True)
    vec_env.reset()
    total_reward, total_steps, dones = 0.0, 0, 0
    for _ in range(MAX_STEPS):
        # The sub-env's action space was seeded with 3, as in the test above: the same game is played.
        _, rewards, done, infos = vec_env.step(np.array([vec_env.envs[0].action_space.sample()]))
        total_reward += float(rewards[0])
        total_steps += 1
        dones += int(done[0])
        if "episode" in infos[0]:
            break
    assert "episode" in infos[0]
    assert dones == 5
    assert total_reward > 0
    assert infos[0]["episode"]["r"] == pytest.approx(total_reward)
    assert infos[0]["episode"]["l"] == total_steps
    vec_env.close()


@pytest.mark.parametrize("training", [True, False])
def test_truncation_at_frame_cap(training):
    cap = 202  # not a multiple of the skip: the last step is cut short by the cap
    env = make_atari100k_single_env("Pong", seed=0, training=training, max_episode_frames=cap)
    env.reset()
    n_noops = _frame_number(env)
    steps = 0
    for _ in range(cap):
        _, _, terminated, truncated, info = env.step(0)
        steps += 1
        assert not terminated
        if truncated:
            break
    assert truncated
    assert _frame_number(env) == cap
    assert steps == -(-(cap - n_noops) // 4)
    assert info["episode"]["l"] == steps
    env.reset()
    assert _frame_number(env) <= 30
    env.close()


def _rollout(vec_env, actions: np.ndarray) -> np.ndarray:
    """Observations of a rollout; ``actions`` has shape (n_steps, n_envs)."""
    observations = [vec_env.reset()]
    for step_actions in actions:
        observations.append(vec_env.step(step_actions)[0])
    vec_env.close()
    return np.stack(observations)


def test_vec_env_two_envs_and_seeding():
    actions = np.random.default_rng(0).integers(6, size=(40, 2))
    vec_env = make_atari100k_env("Pong", n_envs=2, seed=5)
    assert isinstance(vec_env, DummyVecEnv) and vec_env.num_envs == 2
    assert vec_env.observation_space.shape == (64, 64, 3)
    assert vec_env.action_space.n == 6
    first = _rollout(vec_env, actions)
    assert first.shape == (41, 2, 64, 64, 3) and first.dtype == np.uint8
    second = _rollout(make_atari100k_env("Pong", n_envs=2, seed=5), actions)
    np.testing.assert_array_equal(first, second)
    other = _rollout(make_atari100k_env("Pong", n_envs=2, seed=6), actions)
    assert not np.array_equal(first, other)
    # Sub-env i is seeded with seed + i: sub-env 1 of seed 5 plays the game of sub-env 0 of seed 6.
    single = _rollout(make_atari100k_env("Pong", n_envs=1, seed=6), actions[:, 1:])
    np.testing.assert_array_equal(first[:, 1], single[:, 0])


def test_action_space_is_seeded():
    samples = []
    for _ in range(2):
        env = make_atari100k_single_env("Pong", seed=7)
        samples.append([env.action_space.sample() for _ in range(20)])
    assert samples[0] == samples[1]


def test_monitor_files(tmp_path):
    vec_env = make_atari100k_env("Pong", n_envs=2, seed=0, monitor_dir=str(tmp_path / "logs"))
    assert sorted(os.listdir(tmp_path / "logs")) == ["0.monitor.csv", "1.monitor.csv"]
    assert all(isinstance(env.env, Monitor) for env in vec_env.envs)
    vec_env.close()


def test_bad_arguments_raise_value_error():
    with pytest.raises(ValueError, match=r"Unknown Atari game 'Pongg'\. Did you mean 'Pong'"):
        make_atari100k_env("Pongg")
    with pytest.raises(ValueError, match="Atari100k games"):
        make_atari100k_single_env("NotAGame")
    with pytest.raises(ValueError, match="n_envs"):
        make_atari100k_env("Pong", n_envs=0)
    with pytest.raises(ValueError, match="frame_size"):
        make_atari100k_env("Pong", frame_size=4)
    with pytest.raises(ValueError, match="frame_skip"):
        make_atari100k_single_env("Pong", frame_skip=0)
    with pytest.raises(ValueError, match="noop_max"):
        make_atari100k_env("Pong", noop_max=-1)
    with pytest.raises(ValueError, match="max_episode_frames"):
        make_atari100k_env("Pong", max_episode_frames=0)
    with pytest.raises(ValueError, match="game"):
        make_atari100k_env("")


class _ScriptedLives(gym.Env):
    """A stand-in for an ALE env whose lives counter follows a script, one entry per frame."""

    observation_space = spaces.Box(0, 255, (210, 160, 3), np.uint8)
    action_space = spaces.Discrete(2)

    def __init__(self, lives_per_frame: list[int]) -> None:
        self._frameskip = 1
        self.script = lives_per_frame
        self.frame = 0
        self.ale = self

    def lives(self) -> int:
        return self.script[min(self.frame, len(self.script) - 1)]

    def get_action_meanings(self) -> list[str]:
        return ["NOOP", "FIRE"]

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.frame = 0
        return np.zeros((210, 160, 3), np.uint8), {}

    def step(self, action):
        self.frame += 1
        return np.zeros((210, 160, 3), np.uint8), 0.0, False, False, {}


def test_life_losses_follow_diamonds_counter_which_ignores_bonus_lives():
    from sb3_jedi.envs.atari import Atari100kPreprocessing

    # Lives per frame: 3, a bonus life (4), back to 3, then down to 2. DIAMOND's counter stays at 3 through the bonus
    # life, so the loss 4 -> 3 is not a life loss and 3 -> 2 is.
    script = [3] * 4 + [4] * 4 + [3] * 4 + [2] * 4
    env = Atari100kPreprocessing(_ScriptedLives(script), frame_skip=4, noop_max=0)
    env.reset()
    losses = [env.step(0)[4]["life_loss"] for _ in range(4)]
    assert losses == [False, False, True, False]
