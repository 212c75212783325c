"""WorldModelDiagnosticsCallback: what it logs on tiny runs, when it warns, that it leaves training alone, and its parts."""

import csv
import math
import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3.common.logger import configure
from tiny_settings import TINY
from toy_envs import MovingBar

from sb3_jedi import JEDI
from sb3_jedi.actor_critic import ActorCriticNetwork
from sb3_jedi.buffers import EpisodeReplayBuffer, SegmentBatch
from sb3_jedi.callbacks import (
    LatentCollapseWarning,
    WorldModelDiagnosticsCallback,
    imagined_and_real_returns,
    recent_segment_indices,
    replay_row_indices,
)
from sb3_jedi.world_model.world_model import WorldModel, WorldModelLoss

TINY_ON_CPU = {**TINY, "device": "cpu"}
TINY_CNN = {
    "buffer_size": 1_000,
    "policy_kwargs": {
        "encoder_kwargs": {"channels": (8, 8, 8, 4)},
        "denoiser_kwargs": {"channels": 16, "depth": 1, "cond_dim": 16},
        "decoder_kwargs": {"channels": (8, 8, 8, 8)},
        "reward_end_kwargs": {"channels": (8, 8), "depth": 1, "cond_dim": 8, "lstm_dim": 16, "hidden_dim": 16},
        "actor_critic_kwargs": {"channels": (8,), "lstm_dim": 16},
    },
}
# Logged for every model; frames add the PSNRs.
SCALAR_KEYS = {
    "open_loop_latent_mse",
    "open_loop_copy_mse",
    "open_loop_mse_ratio",
    "open_loop_mse_ratio_last",
    "latent_mean_std",
    "latent_live_fraction",
    "latent_effective_rank",
    "latent_max_rank",
    "replay_latent_mean_std",
    "replay_latent_live_fraction",
    "replay_latent_effective_rank",
    "replay_latent_max_rank",
    "reward_accuracy",
    "end_accuracy",
    "n_transitions",
    "imagined_return",
    "real_return",
    "return_segments",
    "diagnostics_seconds",
    "open_loop_end_rate",
    "open_loop_real_end_rate",
    "data_end_rate",
}
FRAME_KEYS = {"open_loop_psnr", "open_loop_psnr_last", "open_loop_recon_psnr"}


def make_model(kind: str, seed: int = 0) -> JEDI:
    if kind == "mlp":
        return JEDI("MlpPolicy", "CartPole-v1", seed=seed, **TINY_ON_CPU)
    return JEDI("CnnPolicy", MovingBar(), seed=seed, **TINY_ON_CPU, **TINY_CNN)


def logged_rows(folder) -> list[dict[str, str]]:
    with open(folder / "progress.csv", newline="") as file:
        return [row for row in csv.DictReader(file) if row.get("world_model/diagnostics_seconds")]


def tensorboard_events(folder):
    event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    (events,) = folder.glob("events.out.tfevents.*")
    accumulator = event_accumulator.EventAccumulator(str(events), size_guidance={"images": 0, "scalars": 0})
    accumulator.Reload()
    return accumulator


def collapse_warnings_of(caught) -> list[warnings.WarningMessage]:
    return [warning for warning in caught if issubclass(warning.category, LatentCollapseWarning)]


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_scalars_and_media_reach_the_logger(tmp_path, kind):
    model = make_model(kind)
    model.set_logger(configure(str(tmp_path), ["csv", "tensorboard"]))
    callback = WorldModelDiagnosticsCallback(log_interval=2, n_segments=8, video_rollouts=2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # Collections end at 50, 100, ..., 300 steps; training starts after the third (learning_starts=100): the 4th
        # and the 6th collections are measured.
        model.learn(300, callback=callback)
    assert callback.n_measurements == 2
    assert collapse_warnings_of(caught) == []  # a freshly initialised encoder is not collapsed

    rows = logged_rows(tmp_path)
    expected = SCALAR_KEYS | (FRAME_KEYS if kind == "cnn" else set())
    assert len(rows) == 2
    assert [row["time/total_timesteps"] for row in rows] == ["200", "300"]  # CSV rows say their step too
    for row in rows:
        values = {key.removeprefix("world_model/"): row[key] for key in row if key.startswith("world_model/") and row[key]}
        assert expected <= values.keys()
        assert all(math.isfinite(float(value)) for value in values.values())
        assert 0.0 < float(values["diagnostics_seconds"]) < 60.0
        assert 1 <= float(values["return_segments"]) <= 8
        assert float(values["n_transitions"]) >= 8

    events = tensorboard_events(tmp_path)
    assert [event.step for event in events.Scalars("world_model/open_loop_mse_ratio")] == [200, 300]
    media = "world_model/open_loop_frames" if kind == "cnn" else "world_model/open_loop_states"
    assert media in events.Tags()["images"]
    assert [event.step for event in events.Images(media)] == [200, 300]
    assert events.Images(media)[0].width > 16


def test_collapsed_latents_warn_once_per_learn_call(monkeypatch):
    model = make_model("mlp")
    world_model = model.policy.world_model
    state_shape = world_model.state_shape
    # A constant encoder: every latent the same, nothing alive.
    monkeypatch.setattr(world_model.encoder, "forward", lambda obs: th.full((obs.shape[0], *state_shape), 0.7))
    callback = WorldModelDiagnosticsCallback(log_interval=1, n_segments=8, video_rollouts=0)
    for total, reset in ((300, True), (100, False)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")  # Python's own once-per-location filter must not hide a second warning
            model.learn(total, callback=callback, reset_num_timesteps=reset)
        collapse = collapse_warnings_of(caught)
        assert len(collapse) == 1
        assert "live_fraction = 0.000" in str(collapse[0].message)
    assert callback.n_measurements == 3 + 2  # the warning stays single while every epoch is measured
    assert callback.last_scalars["latent_live_fraction"] == 0.0


class StillAfterAWhile(gym.Env):
    """Random 4-number states for the first 200 steps of its life, then always the same state (20-step episodes)."""

    observation_space = spaces.Box(-10, 10, (4,), np.float32)
    action_space = spaces.Discrete(2)

    def __init__(self) -> None:
        self.steps = 0
        self.t = 0
        self.rng = np.random.default_rng(0)

    def _obs(self) -> np.ndarray:
        return self.rng.normal(size=4).astype(np.float32) if self.steps < 200 else np.zeros(4, np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {}

    def step(self, action):
        self.steps += 1
        self.t += 1
        return self._obs(), 1.0, False, self.t >= 20, {}


def test_the_collapse_alarm_reads_the_whole_buffer_not_only_the_newest_states():
    # The newest states are all the same (as when a good policy keeps the agent still): their latents look collapsed,
    # but the encoder still tells apart the states it has trained on, so the alarm stays quiet.
    model = JEDI("MlpPolicy", StillAfterAWhile(), seed=0, **TINY_ON_CPU)
    callback = WorldModelDiagnosticsCallback(log_interval=1, n_segments=8, video_rollouts=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.learn(400, callback=callback)
    scalars = callback.last_scalars
    assert scalars["latent_live_fraction"] == 0.0  # the newest segments: one state, repeated
    assert scalars["replay_latent_live_fraction"] == 1.0
    assert scalars["replay_latent_effective_rank"] > 2.0
    assert collapse_warnings_of(caught) == []


def test_replay_rows_are_drawn_uniformly_from_the_whole_buffer():
    buffer = EpisodeReplayBuffer(1_000, spaces.Box(-1, 1, (2,), np.float32), spaces.Discrete(2), device="cpu")
    assert replay_row_indices(buffer, 8, np.random.default_rng(0)) is None
    for t in range(300):
        done = t % 30 == 29
        buffer.add(np.zeros((1, 2)), np.array([0]), np.array([0.0]), np.array([done]), np.array([False]), np.zeros((1, 2)))
    size = buffer.size()
    rows = replay_row_indices(buffer, 100, np.random.default_rng(0))
    assert rows.shape == (100, 1) and len(np.unique(rows)) == 100
    assert rows.min() >= 0 and rows.max() < size
    # Old and new rows alike: both halves of the buffer are drawn about equally.
    assert 35 <= int((rows < size // 2).sum()) <= 65
    assert replay_row_indices(buffer, 10 * size, np.random.default_rng(0)).shape == (size, 1)  # all, when fewer
    assert replay_row_indices(buffer, 0, np.random.default_rng(0)) is None


def test_nothing_is_measured_between_intervals(tmp_path, monkeypatch):
    model = make_model("mlp")
    model.set_logger(configure(str(tmp_path), ["csv"]))
    calls = []
    measure = WorldModelDiagnosticsCallback.log_diagnostics
    monkeypatch.setattr(WorldModelDiagnosticsCallback, "log_diagnostics", lambda self: calls.append(1) or measure(self))

    def logged_keys() -> list[str]:
        with open(tmp_path / "progress.csv", newline="") as file:
            return next(csv.reader(file))

    callback = WorldModelDiagnosticsCallback(log_interval=7, n_segments=8, video_rollouts=0)
    model.learn(300, callback=callback)  # 6 collections
    assert callback.n_rollouts == 6 and calls == [] and callback.n_measurements == 0
    assert "train/denoising_loss" in logged_keys()
    assert not [key for key in logged_keys() if key.startswith("world_model/")]

    # One more collection reaches the interval: the measurement runs and is logged.
    model.learn(50, callback=callback, reset_num_timesteps=False)
    assert calls == [1] and "world_model/open_loop_mse_ratio" in logged_keys()


def test_measuring_leaves_training_unchanged():
    def trained_parameters(callback):
        model = make_model("mlp", seed=3)
        model.learn(250, callback=callback)
        return model.policy.state_dict()

    callback = WorldModelDiagnosticsCallback(log_interval=1, n_segments=8)
    measured = trained_parameters(callback)
    assert callback.n_measurements == 2
    plain = trained_parameters(None)
    assert measured.keys() == plain.keys()
    assert all(th.equal(measured[key], plain[key]) for key in plain)


def test_the_callback_needs_a_world_model_agent():
    from stable_baselines3 import DQN

    model = DQN("MlpPolicy", "CartPole-v1", learning_starts=10, device="cpu")
    with pytest.raises(TypeError, match="world-model agent"):
        model.learn(20, callback=WorldModelDiagnosticsCallback())
    with pytest.raises(ValueError, match="log_interval"):
        WorldModelDiagnosticsCallback(log_interval=0)


# Held-out segments ------------------------------------------------------------------------------------------------


def filled_buffer() -> tuple[EpisodeReplayBuffer, int]:
    """Episode A: 10 transitions, terminated; then (the returned insertion count) episode B: 6 transitions, still open.
    Each observation is its episode's letter code plus its step, so rows can be named."""
    buffer = EpisodeReplayBuffer(100, spaces.Box(-1000, 1000, (1,), np.float32), spaces.Discrete(2), device="cpu")

    def play(code: float, n: int, terminate: bool) -> None:
        for t in range(n):
            last = terminate and t == n - 1
            buffer.add([[code + t]], [0], [1.0], [last], [False], [[code + t + 1]])

    play(100.0, 10, terminate=True)
    since = buffer.n_inserted
    play(200.0, 6, terminate=False)
    return buffer, since


def named(buffer: EpisodeReplayBuffer, indices: np.ndarray) -> list[list[int]]:
    return [[int(buffer.observations[i, 0]) if i >= 0 else -1 for i in row] for row in indices]


def test_recent_segments_predict_new_rows_with_a_complete_future():
    buffer, since = filled_buffer()
    generator = np.random.default_rng(0)
    # n_cond_steps = 2, horizon = 3. New rows: episode B's. Contexts ending on B's rows 200..203 have three real
    # transitions after them; those ending on 204 and 205 run into the open end of the episode.
    segments = named(buffer, recent_segment_indices(buffer, 10, 2, 3, since, generator)[:4])
    assert sorted(segments) == [
        [-1, 200, 201, 202, 203],
        [200, 201, 202, 203, 204],
        [201, 202, 203, 204, 205],
        [202, 203, 204, 205, 206],
    ]
    # With more segments wanted, the newest complete segments of episode A fill in, up to its final row and padding.
    rows = named(buffer, recent_segment_indices(buffer, 6, 2, 3, since, generator))
    assert len(rows) == 6
    assert [108, 109, 110, -1, -1] in rows and [107, 108, 109, 110, -1] in rows
    assert all(row[1] >= 200 for row in rows if row not in ([108, 109, 110, -1, -1], [107, 108, 109, 110, -1]))
    # Fewer wanted than available: a draw among the new ones, as many as asked for.
    few = named(buffer, recent_segment_indices(buffer, 3, 2, 3, since, generator))
    assert len(few) == 3 and len({tuple(row) for row in few}) == 3 and all(row[1] >= 200 for row in few)
    empty = EpisodeReplayBuffer(10, spaces.Box(-1, 1, (1,), np.float32), spaces.Discrete(2), device="cpu")
    assert recent_segment_indices(empty, 4, 2, 3, 0, generator) is None


# Imagined against real returns -----------------------------------------------------------------------------------


class ConstantRewardModel(WorldModel):
    """States are the observations, nothing moves; the reward model always predicts +1, and an end when ``ends``."""

    def __init__(self, ends: bool) -> None:
        super().__init__(spaces.Box(-10, 10, (2,), np.float32), 2, n_cond_steps=2)
        self.ends = ends

    @property
    def state_shape(self):
        return (2,)

    def encode(self, obs):
        return obs.float()

    def sample_next_state(self, cond_states, cond_actions):
        return cond_states[:, -1].clone()

    def predict_reward_end(self, states, actions, next_states, hidden=None):
        batch, steps = actions.shape
        reward = th.tensor([-50.0, -50.0, 50.0]).expand(batch, steps, 3)
        end = th.tensor([-50.0, 50.0] if self.ends else [50.0, -50.0]).expand(batch, steps, 2)
        return reward, end, (th.zeros(1), th.zeros(1))

    def compute_loss(self, denoiser_batch, reward_end_batch):
        return WorldModelLoss(total=th.zeros(()), logs={})

    def parameter_groups(self):
        return {}


def return_batch() -> SegmentBatch:
    """Three segments of 5 rows (n_cond_steps 2, horizon 3: rewards of rows 1..3 count). Segment 0 runs on: signs
    1 - 1 + 0 = 0. Segment 1 terminates on row 2: 1 + 1, its row 3 is padding. Segment 2 is truncated on row 1: unknown
    future, left out."""
    rewards = th.tensor([[9.0, 2.0, -3.0, 0.0, 5.0], [0.0, 4.0, 1.0, 0.0, 0.0], [0.0, 7.0, 0.0, 0.0, 0.0]])
    terminated = th.zeros(3, 5)
    terminated[1, 2] = 1.0
    truncated = th.zeros(3, 5)
    truncated[2, 1] = 1.0
    mask = th.tensor([[True] * 5, [True, True, True, True, False], [True, True, True, False, False]])
    has_action = th.tensor([[True] * 5, [True, True, True, False, False], [True, True, False, False, False]])
    return SegmentBatch(
        observations=th.randn(3, 5, 2) * mask[..., None],
        actions=th.zeros(3, 5, dtype=th.long),
        rewards=rewards * has_action,
        terminated=terminated,
        truncated=truncated,
        mask=mask,
        has_action=has_action,
    )


@pytest.mark.parametrize(("ends", "imagined"), [(False, 3.0), (True, 1.0)])
def test_imagined_and_real_returns_by_hand(ends, imagined):
    actor_critic = ActorCriticNetwork((2,), 2, lstm_dim=8, hidden_sizes=(8,))
    result = imagined_and_real_returns(ConstantRewardModel(ends), actor_critic, return_batch(), horizon=3)
    # Imagined: +1 a step for 3 steps, or only the first when every step ends the episode.
    assert result["imagined_return"] == pytest.approx(imagined)
    assert result["real_return"] == pytest.approx((0.0 + 2.0) / 2)
    assert result["return_segments"] == 2.0
    truncated_only = SegmentBatch._make(tensor[2:] for tensor in return_batch())
    assert imagined_and_real_returns(ConstantRewardModel(ends), actor_critic, truncated_only, horizon=3) == {}


def test_wm_log_interval_turns_the_callback_on_and_none_off(tmp_path):
    from sb3_jedi import JEDI

    for interval, folder in ((1, tmp_path / "on"), (None, tmp_path / "off")):
        model = JEDI("MlpPolicy", "CartPole-v1", seed=0, wm_log_interval=interval, **TINY)
        model.set_logger(configure(str(folder), ["csv"]))
        model.learn(300)
        with open(folder / "progress.csv") as file:
            columns = next(csv.reader(file))
        logged = [c for c in columns if c.startswith("world_model/")]
        if interval is None:
            assert logged == []
        else:
            assert "world_model/open_loop_mse_ratio" in logged and "world_model/latent_effective_rank" in logged
