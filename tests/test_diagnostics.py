"""World-model diagnostics: known answers on stub world models with exact dynamics, then a smoke test on real ones."""

import math

import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3.common.logger import Image, Video, configure
from stable_baselines3.common.utils import ConstantSchedule
from torch.nn import functional as F

from sb3_jedi.buffers import SegmentBatch
from sb3_jedi.diagnostics import (
    MAX_PSNR_DB,
    collapse_warnings,
    effective_rank,
    image_grid,
    latent_health,
    open_loop_media,
    open_loop_prediction,
    open_loop_terminations,
    reward_end_metrics,
    video_grid,
    world_model_diagnostics,
    world_model_media,
)
from sb3_jedi.diamond import DIAMONDPolicy
from sb3_jedi.policies import CnnPolicy, MlpPolicy
from sb3_jedi.world_model.world_model import WorldModel, WorldModelLoss, preprocess_observations

N_ACTIONS = 3
N_COND = 2
WIDTH = 8  # the toy pattern's length: vector observations (8,), frames (1, 8, 8)
VECTOR_SPACE = spaces.Box(-10, 10, (WIDTH,), np.float32)
FRAME_SPACE = spaces.Box(0, 255, (1, 8, WIDTH), np.uint8)


# Stub world models ----------------------------------------------------------------------------------------------


class StubWorldModel(WorldModel):
    """States are the preprocessed observations (frames for an image space: a pixel model without ``decoder``); the
    reward/end model always predicts class 0. Subclasses set the dynamics. Records whether it was in train mode when
    asked to predict."""

    def __init__(self, observation_space: spaces.Box, n_cond_steps: int = N_COND) -> None:
        super().__init__(observation_space, N_ACTIONS, n_cond_steps)
        self.modes_seen: list[bool] = []

    @property
    def state_shape(self) -> tuple[int, ...]:
        return tuple(self.observation_space.shape)

    def encode(self, obs: th.Tensor) -> th.Tensor:
        return preprocess_observations(obs, self.observation_space)

    def sample_next_state(self, cond_states: th.Tensor, cond_actions: th.Tensor) -> th.Tensor:
        self.modes_seen.append(self.training)
        return self.dynamics(cond_states, cond_actions)

    def dynamics(self, cond_states: th.Tensor, cond_actions: th.Tensor) -> th.Tensor:
        raise NotImplementedError

    def predict_reward_end(self, states, actions, next_states, hidden=None):
        batch, steps = actions.shape
        return th.zeros(batch, steps, 3), th.zeros(batch, steps, 2), (th.zeros(1), th.zeros(1))

    def decode(self, states: th.Tensor) -> th.Tensor:
        """Frames of image states are the states (a pixel model); vector states have no frames whatever this says."""
        return states

    def compute_loss(self, denoiser_batch: SegmentBatch, reward_end_batch: SegmentBatch) -> WorldModelLoss:
        return WorldModelLoss(total=th.zeros(()), logs={})

    def parameter_groups(self):
        return {}


def shift(states: th.Tensor, actions: th.Tensor) -> th.Tensor:
    """The toy's exact dynamics: action a moves the pattern a + 1 cells along the last axis (it always moves)."""
    return th.stack([th.roll(state, int(action) + 1, dims=-1) for state, action in zip(states, actions, strict=True)])


class PerfectModel(StubWorldModel):
    def dynamics(self, cond_states, cond_actions):
        return shift(cond_states[:, -1], cond_actions[:, -1])


class CopyModel(StubWorldModel):
    def dynamics(self, cond_states, cond_actions):
        return cond_states[:, -1].clone()


class BiasedDecoderModel(PerfectModel):
    """Exact dynamics and a separate decoder that is off by 0.1 everywhere: PSNR = 10 log10(2^2 / 0.1^2)."""

    decoder = th.nn.Identity()

    def decode(self, states: th.Tensor) -> th.Tensor:
        return states + 0.1


class ConstantEncoderModel(CopyModel):
    def encode(self, obs: th.Tensor) -> th.Tensor:
        return th.full((*obs.shape[:2], *self.state_shape), 0.7)


def toy_batch(observation_space: spaces.Box, batch_size: int = 4, length: int = 6, seed: int = 0) -> SegmentBatch:
    """Segments of the moving-pattern toy: a random pattern rolled by a + 1 cells after each random action a."""
    g = th.Generator().manual_seed(seed)
    if observation_space.dtype == np.uint8:
        # At most 200, so that a decoder off by +0.1 (12.75 levels) stays inside [-1, 1].
        pattern = th.randint(0, 201, (batch_size, *observation_space.shape), generator=g, dtype=th.uint8)
    else:
        pattern = th.randn(batch_size, *observation_space.shape, generator=g)
    actions = th.randint(0, N_ACTIONS, (batch_size, length), generator=g)
    frames = [pattern]
    for t in range(length - 1):
        frames.append(shift(frames[-1], actions[:, t]))
    mask = th.ones(batch_size, length, dtype=th.bool)
    has_action = mask.clone()
    has_action[:, -1] = False  # the segment's last row: its action is not part of the segment
    return SegmentBatch(
        observations=th.stack(frames, dim=1),
        actions=actions,
        rewards=th.zeros(batch_size, length),
        terminated=th.zeros(batch_size, length),
        truncated=th.zeros(batch_size, length),
        mask=mask,
        has_action=has_action,
    )


# Open-loop prediction -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("space", [VECTOR_SPACE, FRAME_SPACE], ids=["vector", "frames"])
def test_exact_dynamics_predict_and_copying_does_not(space):
    batch = toy_batch(space, length=N_COND + 4)
    perfect = open_loop_prediction(PerfectModel(space), batch, horizon=4)
    assert perfect["copy_mse"] > 0.1
    assert perfect["latent_mse"] == pytest.approx(0.0, abs=1e-12)
    assert perfect["mse_ratio"] < 1e-6 and perfect["mse_ratio_last"] < 1e-6
    np.testing.assert_array_equal(perfect["n_valid_per_step"], [4, 4, 4, 4])
    assert perfect["predicted_states"].shape == perfect["real_states"].shape == (4, 4, *space.shape)

    copy = open_loop_prediction(CopyModel(space), batch, horizon=4)
    assert copy["mse_ratio"] == pytest.approx(1.0) and copy["mse_ratio_last"] == pytest.approx(1.0)
    np.testing.assert_allclose(copy["mse_ratio_per_step"], 1.0)
    np.testing.assert_allclose(copy["copy_mse_per_step"], perfect["copy_mse_per_step"])


def test_only_real_futures_of_the_context_count():
    # n = 2 context rows, horizon 3: targets are rows 2, 3, 4.
    batch = toy_batch(VECTOR_SPACE, batch_size=4, length=5)
    observations, mask, has_action, terminated = (
        t.clone() for t in (batch.observations, batch.mask, batch.has_action, batch.terminated)
    )
    # Segment 1: the action of row 2 ends the episode; row 3 is its final frame (still a real target), row 4 padding.
    terminated[1, 2] = 1.0
    has_action[1, 3:] = False
    mask[1, 4] = False
    observations[1, 4] = 0.0
    # Segment 2: the last context row is an open episode's last row (no action): nothing after it counts.
    has_action[2, 1:] = False
    mask[2, 2:] = False
    observations[2, 2:] = 0.0
    # Segment 3: truncated after row 2 while row 3 still claims an action: an end, whatever has_action says, so row 4
    # (not the exact dynamics' answer) is no real future of the context.
    truncated = batch.truncated.clone()
    truncated[3, 2] = 1.0
    observations[3, 4] = 0.0
    batch = batch._replace(
        observations=observations, mask=mask, has_action=has_action, terminated=terminated, truncated=truncated
    )

    result = open_loop_prediction(PerfectModel(VECTOR_SPACE), batch, horizon=3)
    np.testing.assert_array_equal(result["n_valid_per_step"], [3, 3, 1])
    np.testing.assert_array_equal(result["valid"][:, 2], [True, False, False, False])
    # Counting a padding target (zeros) would give the exact dynamics an error.
    assert result["latent_mse"] == pytest.approx(0.0, abs=1e-12)
    states = batch.observations
    expected_copy = (states[[0, 1, 3], 1] - states[[0, 1, 3], 2]).square().mean()
    assert result["copy_mse_per_step"][0] == pytest.approx(float(expected_copy))


def test_psnr_of_a_decoder_off_by_a_constant():
    batch = toy_batch(FRAME_SPACE, length=N_COND + 3)
    result = open_loop_prediction(BiasedDecoderModel(FRAME_SPACE), batch, horizon=3)
    expected = 10 * math.log10(2.0**2 / 0.1**2)
    assert result["psnr"] == pytest.approx(expected, abs=1e-3)
    assert result["recon_psnr"] == pytest.approx(expected, abs=1e-3)
    np.testing.assert_allclose(result["psnr_per_step"], expected, atol=1e-3)
    assert result["predicted_frames"].shape == result["real_frames"].shape == (4, 3, *FRAME_SPACE.shape)
    th.testing.assert_close(result["frame_difference"], th.full_like(result["real_frames"], 0.1), atol=1e-5, rtol=0)
    # A pixel model (decode is the identity, no separate decoder) that predicts exactly: capped PSNR, no recon PSNR.
    exact = open_loop_prediction(PerfectModel(FRAME_SPACE), batch, horizon=3)
    assert exact["psnr"] == MAX_PSNR_DB and "recon_psnr" not in exact
    # Vector observations have no frames.
    assert "psnr" not in open_loop_prediction(PerfectModel(VECTOR_SPACE), toy_batch(VECTOR_SPACE), horizon=3)


def test_eval_mode_inside_and_every_flag_restored_after():
    model = PerfectModel(VECTOR_SPACE)
    model.child = th.nn.Linear(2, 2)
    model.train()
    model.child.eval()
    open_loop_prediction(model, toy_batch(VECTOR_SPACE), horizon=2)
    assert model.modes_seen == [False, False]
    assert model.training and not model.child.training


def test_segments_too_short_for_the_horizon():
    with pytest.raises(ValueError, match="n_cond_steps \\+ horizon = 6"):
        open_loop_prediction(PerfectModel(VECTOR_SPACE), toy_batch(VECTOR_SPACE, length=5), horizon=4)
    with pytest.raises(ValueError, match="at least 1"):
        open_loop_prediction(PerfectModel(VECTOR_SPACE), toy_batch(VECTOR_SPACE), horizon=0)


# Latent health --------------------------------------------------------------------------------------------------


def test_effective_rank_known_values():
    # Rows +-e_i: centred already, D equal singular values.
    eye = th.eye(5)
    assert latent_health(th.cat([eye, -eye]))["effective_rank"] == pytest.approx(5.0)
    # Singular values in ratio 3 : 1.
    scaled = th.diag(th.tensor([3.0, 1.0]))
    p = np.array([0.75, 0.25])
    assert latent_health(th.cat([scaled, -scaled]))["effective_rank"] == pytest.approx(np.exp(-(p * np.log(p)).sum()))
    assert effective_rank(th.zeros(4)) == 0.0


def test_constant_latents_raise_both_collapse_warnings():
    health = latent_health(th.full((64, 16), 0.7))
    assert health["live_fraction"] == 0.0 and health["effective_rank"] == 0.0 and health["mean_std"] < 1e-6
    messages = collapse_warnings(health)
    assert len(messages) == 2
    assert "live_fraction = 0.000 < 0.5" in messages[0] and "denoising loss" in messages[0]
    assert "effective_rank = 0.00 < 2.00" in messages[1]


def test_random_latents_are_healthy_flat_or_spatial():
    latents = th.randn(512, 4, 2, 2, generator=th.Generator().manual_seed(0))
    health = latent_health(latents)
    assert health == latent_health(latents.flatten(1))
    assert health["live_fraction"] == 1.0 and health["max_rank"] == 16
    assert 15.0 < health["effective_rank"] <= 16.0
    assert collapse_warnings(health) == []


def test_latents_along_a_line_warn_about_rank_only():
    g = th.Generator().manual_seed(0)
    direction = th.rand(1, 16, generator=g) + 0.5
    health = latent_health(th.randn(256, 1, generator=g) * direction)
    assert health["live_fraction"] == 1.0 and health["effective_rank"] == pytest.approx(1.0, abs=1e-4)
    (message,) = collapse_warnings(health)
    assert "effective_rank" in message
    # A batch too small to tell (max rank 1) is not judged on rank; one latent gives NaNs and no warning.
    assert collapse_warnings(latent_health(th.randn(2, 16, generator=g))) == []
    assert math.isnan(latent_health(th.randn(1, 16))["effective_rank"])
    assert collapse_warnings(latent_health(th.randn(1, 16))) == []


def test_constant_encoder_warns_from_the_combined_scalars():
    scalars = world_model_diagnostics(ConstantEncoderModel(VECTOR_SPACE), toy_batch(VECTOR_SPACE), horizon=2)
    assert scalars["latent_live_fraction"] == 0.0
    assert len(collapse_warnings(scalars, prefix="latent_")) == 2
    healthy = world_model_diagnostics(PerfectModel(VECTOR_SPACE), toy_batch(VECTOR_SPACE, batch_size=16), horizon=2)
    assert collapse_warnings(healthy, prefix="latent_") == []


# Reward and termination -----------------------------------------------------------------------------------------


class TableRewardEndModel(StubWorldModel):
    """Predicts, for the transition out of a row, the reward class ``obs[0]`` and the end class ``obs[1]``."""

    def predict_reward_end(self, states, actions, next_states, hidden=None):
        reward = F.one_hot(states[..., 0].long(), 3).float() * 10
        end = F.one_hot(states[..., 1].long(), 2).float() * 10
        return reward, end, (th.zeros(1), th.zeros(1))


def reward_table_batch() -> SegmentBatch:
    # Two segments of 4 rows (3 transitions); segment 1's first row is padding (its transition must not count: it
    # would predict reward -1 (a zero state) against a +1 target, and miss a termination).
    predicted = th.tensor([[[2, 0], [2, 1], [1, 1], [0, 0]], [[0, 0], [1, 0], [1, 0], [0, 0]]]).float()
    rewards = th.tensor([[3.0, 0.0, 0.0, 0.0], [5.0, 0.0, 0.5, 0.0]])
    terminated = th.tensor([[0.0, 0.0, 1.0, 0.0], [1.0, 0.0, 0.0, 0.0]])
    mask = th.tensor([[True] * 4, [False, True, True, True]])
    return SegmentBatch(
        observations=predicted * mask[..., None],
        actions=th.zeros(2, 4, dtype=th.long),
        rewards=rewards,
        terminated=terminated,
        truncated=th.zeros(2, 4),
        mask=mask,
        has_action=mask.clone(),
    )


def test_reward_end_precision_recall_by_hand():
    # Real transitions: targets reward (+1, 0, 0 | 0, +1), predicted (+1, +1, 0 | 0, 0); end targets (0, 0, 1 | 0, 0),
    # predicted (0, 1, 1 | 0, 0).
    metrics = reward_end_metrics(TableRewardEndModel(spaces.Box(-10, 10, (2,), np.float32)), reward_table_batch())
    assert metrics["n_transitions"] == 5
    assert metrics["reward_precision_pos"] == pytest.approx(1 / 2)
    assert metrics["reward_recall_pos"] == pytest.approx(1 / 2)
    assert metrics["reward_precision_zero"] == pytest.approx(2 / 3)
    assert metrics["reward_recall_zero"] == pytest.approx(2 / 3)
    assert math.isnan(metrics["reward_precision_neg"]) and math.isnan(metrics["reward_recall_neg"])
    assert (metrics["reward_support_neg"], metrics["reward_support_zero"], metrics["reward_support_pos"]) == (0, 3, 2)
    assert metrics["reward_accuracy"] == pytest.approx(3 / 5)
    assert metrics["end_precision"] == pytest.approx(1 / 2) and metrics["end_recall"] == 1.0
    assert metrics["end_support"] == 1 and metrics["end_accuracy"] == pytest.approx(4 / 5)


def test_combined_scalars_leave_out_metrics_without_data():
    model = TableRewardEndModel(spaces.Box(-10, 10, (2,), np.float32), n_cond_steps=1)

    def copy_dynamics(cond_states, cond_actions):
        return cond_states[:, -1]

    model.dynamics = copy_dynamics
    scalars = world_model_diagnostics(model, reward_table_batch(), horizon=2)
    assert "reward_precision_neg" not in scalars and "reward_recall_neg" not in scalars
    assert scalars["reward_precision_zero"] == pytest.approx(2 / 3)
    assert {"open_loop_latent_mse", "open_loop_mse_ratio", "latent_effective_rank"} <= scalars.keys()
    assert all(isinstance(value, float) and not math.isnan(value) for value in scalars.values())


class GoalEndModel(PerfectModel):
    """Exact dynamics, plus a termination model that ends the episode when the next state's first entry exceeds 1.5."""

    drift = 0.0

    def dynamics(self, cond_states, cond_actions):
        return shift(cond_states[:, -1], cond_actions[:, -1]) + self.drift

    def predict_reward_end(self, states, actions, next_states, hidden=None):
        end = F.one_hot((next_states[..., 0] > 1.5).long(), 2).float() * 30
        return th.zeros(*actions.shape, 3), end, (th.zeros(1), th.zeros(1))


class DriftingGoalEndModel(GoalEndModel):
    """Every imagined state drifts up by 3: the termination model fires on nearly every imagined state."""

    drift = 3.0


def test_open_loop_terminations_compare_imagined_real_and_stored_ends():
    batch = toy_batch(VECTOR_SPACE, batch_size=32, length=N_COND + 4)
    terminated = batch.terminated.clone()
    terminated[0, N_COND + 1] = 1.0  # a stored end inside the window of segment 0 (step 2 of 4): rows after it don't count
    batch = batch._replace(terminated=terminated)
    # The real rate by hand: the real future rows whose first entry exceeds 1.5, over the rows that are real futures.
    valid = th.ones(32, 4, dtype=th.bool)
    valid[0, 3] = False
    expected_real = float((batch.observations[:, N_COND : N_COND + 4, 0] > 1.5)[valid].double().mean())
    assert 0.02 < expected_real < 0.5

    exact = GoalEndModel(VECTOR_SPACE)
    rates = open_loop_terminations(exact, batch, open_loop_prediction(exact, batch, horizon=4))
    assert rates["open_loop_real_end_rate"] == pytest.approx(expected_real, abs=1e-6)
    assert rates["open_loop_end_rate"] == pytest.approx(expected_real, abs=1e-6)  # exact dynamics: nothing hallucinated
    assert rates["data_end_rate"] == pytest.approx(1 / valid.sum().item())

    drifting = DriftingGoalEndModel(VECTOR_SPACE)
    rates = open_loop_terminations(drifting, batch, open_loop_prediction(drifting, batch, horizon=4))
    assert rates["open_loop_real_end_rate"] == pytest.approx(expected_real, abs=1e-6)
    assert rates["open_loop_end_rate"] > 0.9  # the drifted states all look like the goal

    scalars = world_model_diagnostics(drifting, batch, horizon=4)
    assert scalars["open_loop_end_rate"] > 0.9 and scalars["data_end_rate"] == rates["data_end_rate"]


# Media ----------------------------------------------------------------------------------------------------------


def test_video_panels_show_real_imagined_and_difference():
    batch = toy_batch(FRAME_SPACE, batch_size=3, length=N_COND + 4)
    result = open_loop_prediction(CopyModel(FRAME_SPACE), batch, horizon=4)
    video = video_grid(result["real_frames"], result["predicted_frames"], max_rollouts=2)
    assert video.dtype == th.uint8 and video.shape == (1, 4, 3, 2 * 9, 3 * 9)
    frames = batch.observations[:, :, 0].long()  # grey: every RGB channel shows it
    for r in range(2):
        rows = slice(9 * r, 9 * r + 8)
        for t in range(4):
            panel = video[0, t, :, rows].long()
            assert th.equal(panel[:, :, 0:8], frames[r, N_COND + t].expand(3, -1, -1))
            assert th.equal(panel[:, :, 9:17], frames[r, N_COND - 1].expand(3, -1, -1))  # the copy model's guess
            difference = (frames[r, N_COND + t] - frames[r, N_COND - 1]).abs()
            assert th.equal(panel[:, :, 18:26], difference.expand(3, -1, -1))
    assert (video[0, :, :, 8] == 255).all()  # white separators
    image = image_grid(result["real_frames"], result["predicted_frames"], max_rollouts=2)
    assert image.dtype == th.uint8 and image.shape == (3, 3 * 2 * 9, 4 * 9)
    assert th.equal(image[0, 0:8, 9 * 3 : 9 * 3 + 8].long(), frames[0, N_COND + 3])


def test_media_go_through_the_sb3_logger_to_tensorboard(tmp_path):
    event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    media = world_model_media(PerfectModel(FRAME_SPACE), toy_batch(FRAME_SPACE), horizon=3, max_rollouts=2)
    assert isinstance(media["open_loop_video"], Video) and isinstance(media["open_loop_frames"], Image)
    assert media["open_loop_video"].frames.shape == (1, 3, 3, 2 * 9, 3 * 9)
    logger = configure(str(tmp_path), ["csv", "tensorboard"])
    logger.record("world_model/psnr", 30.0)
    for key, value in media.items():
        logger.record(f"world_model/{key}", value, exclude=("stdout", "log", "json", "csv"))
    logger.dump(step=1)
    logger.close()
    events = list(tmp_path.glob("events.out.tfevents.*"))
    assert len(events) == 1
    accumulator = event_accumulator.EventAccumulator(str(events[0]))
    accumulator.Reload()
    assert "world_model/open_loop_frames" in accumulator.Tags()["images"]
    assert "world_model/psnr" in accumulator.Tags()["scalars"]


def test_vector_rollouts_give_a_trajectory_figure():
    pytest.importorskip("matplotlib")
    result = open_loop_prediction(CopyModel(VECTOR_SPACE), toy_batch(VECTOR_SPACE), horizon=4)
    media = open_loop_media(result)
    image = media["open_loop_states"]
    assert isinstance(image, Image) and image.dataformats == "HWC"
    assert image.image.dtype == np.uint8 and image.image.ndim == 3 and image.image.shape[-1] == 3
    assert image.image.min() < 100 < image.image.max()  # something is drawn on the white canvas
    # No rollout with a valid step: nothing to show.
    assert open_loop_media({**result, "valid": th.zeros_like(result["valid"])}) == {}


# Real world models ----------------------------------------------------------------------------------------------

SMALL_FRAMES = spaces.Box(0, 255, (3, 16, 16), np.uint8)
TINY_NETWORKS = {
    "reward_end_kwargs": {"channels": (8, 8), "depth": 1, "cond_dim": 8, "lstm_dim": 16, "hidden_dim": 16},
    "actor_critic_kwargs": {"channels": (8,), "lstm_dim": 16},
}


def make_world_model(kind: str) -> WorldModel:
    th.manual_seed(0)
    if kind == "mlp":
        return MlpPolicy(VECTOR_SPACE, spaces.Discrete(N_ACTIONS), ConstantSchedule(1e-3)).world_model
    if kind == "pixel":
        denoiser = {"channels": (8, 8), "depths": (1, 1), "mid_depth": 1, "cond_dim": 16}
        policy = DIAMONDPolicy(
            SMALL_FRAMES, spaces.Discrete(N_ACTIONS), ConstantSchedule(1e-3), denoiser_kwargs=denoiser, **TINY_NETWORKS
        )
        return policy.world_model
    policy = CnnPolicy(
        SMALL_FRAMES,
        spaces.Discrete(N_ACTIONS),
        ConstantSchedule(1e-3),
        encoder_kwargs={"channels": (8, 8, 8, 4)},
        denoiser_kwargs={"channels": 16, "depth": 1, "cond_dim": 16},
        decoder_kwargs={"channels": (8, 8, 8, 8)},
        **TINY_NETWORKS,
    )
    return policy.world_model


def random_batch(observation_space: spaces.Box, batch_size: int = 3, length: int = 7) -> SegmentBatch:
    g = th.Generator().manual_seed(1)
    shape = (batch_size, length, *observation_space.shape)
    if observation_space.dtype == np.uint8:
        observations = th.randint(0, 256, shape, generator=g, dtype=th.uint8)
    else:
        observations = th.randn(shape, generator=g)
    terminated = th.zeros(batch_size, length)
    terminated[0, -2] = 1.0
    mask = th.ones(batch_size, length, dtype=th.bool)
    return SegmentBatch(
        observations=observations,
        actions=th.randint(0, N_ACTIONS, (batch_size, length), generator=g),
        rewards=th.randint(-1, 2, (batch_size, length), generator=g).float(),
        terminated=terminated,
        truncated=th.zeros(batch_size, length),
        mask=mask,
        has_action=mask.clone(),
    )


@pytest.mark.parametrize("kind", ["cnn", "mlp", "pixel"])
def test_real_world_models_give_finite_diagnostics(kind):
    world_model = make_world_model(kind)
    world_model.train()
    batch = random_batch(world_model.observation_space)
    horizon = 7 - world_model.n_cond_steps
    open_loop = open_loop_prediction(world_model, batch, horizon)
    scalars = world_model_diagnostics(world_model, batch, horizon, open_loop=open_loop)
    expected = {"open_loop_latent_mse", "open_loop_copy_mse", "open_loop_mse_ratio", "open_loop_mse_ratio_last"}
    expected |= {"latent_mean_std", "latent_live_fraction", "latent_effective_rank", "latent_max_rank"}
    expected |= {"reward_accuracy", "end_accuracy", "n_transitions"}
    if kind != "mlp":
        expected |= {"open_loop_psnr", "open_loop_psnr_last"}
    if kind == "cnn":
        expected.add("open_loop_recon_psnr")
    assert expected <= scalars.keys()
    assert all(math.isfinite(value) for value in scalars.values())
    assert all(module.training for module in world_model.modules())
    media = open_loop_media(open_loop, max_rollouts=2)
    if kind == "mlp":
        assert set(media) <= {"open_loop_states"}
    else:
        assert media["open_loop_video"].frames.shape == (1, horizon, 3, 2 * 17, 3 * 17)
