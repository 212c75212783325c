"""
Looking inside the world model while an agent trains: :class:`WorldModelDiagnosticsCallback` logs the diagnostics of
:mod:`sb3_jedi.diagnostics` (open-loop prediction error, latent health, reward/termination precision and recall,
open-loop videos) and compares imagined returns with real ones, every few epochs, on the newest replay data::

    from sb3_jedi import JEDI
    from sb3_jedi.callbacks import WorldModelDiagnosticsCallback

    model = JEDI("CnnPolicy", env, tensorboard_log="runs/tb")
    model.learn(100_000, callback=WorldModelDiagnosticsCallback(log_interval=10))

The scalars go to every logger output under ``world_model/``; the videos and images to TensorBoard only.
"""

import functools
import importlib
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, cast

import numpy as np
import torch as th
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import Video

from sb3_jedi.actor_critic import ActorCriticNetwork
from sb3_jedi.buffers import EpisodeReplayBuffer, SegmentBatch
from sb3_jedi.diagnostics import (
    _evaluating,
    collapse_warnings,
    encoded_states,
    latent_health_scalars,
    open_loop_media,
    open_loop_prediction,
    world_model_diagnostics,
)
from sb3_jedi.imagination import imagine
from sb3_jedi.world_model.world_model import WorldModel

if TYPE_CHECKING:
    from sb3_jedi.jedi import JEDI

__all__ = [
    "MEDIA_EXCLUDED_FORMATS",
    "LatentCollapseWarning",
    "WorldModelDiagnosticsCallback",
    "imagined_and_real_returns",
    "recent_segment_indices",
    "replay_row_indices",
]

#: Logger formats that cannot show videos or images (SB3's text formats raise on them): media are kept out of them.
MEDIA_EXCLUDED_FORMATS = ("stdout", "log", "json", "csv")


class LatentCollapseWarning(UserWarning):
    """The world model's latents look collapsed (see :func:`sb3_jedi.diagnostics.collapse_warnings`)."""


@contextmanager
def _own_torch_rng(device: th.device, seed: int) -> Iterator[None]:
    """
    Run the block on torch random streams of its own, seeded with ``seed``, and restore the global ones afterwards:
    what happens inside (diffusion noise, sampled actions) leaves the training's random draws unchanged.
    """
    cuda = device.type == "cuda" and th.cuda.is_available()
    devices = list(range(th.cuda.device_count())) if cuda else []
    with th.random.fork_rng(devices=devices):
        th.default_generator.manual_seed(seed)
        if cuda:
            th.cuda.manual_seed_all(seed)
        yield


@functools.cache
def _tensorboard_can_encode_video() -> bool:
    """TensorBoard's ``add_video`` encodes GIFs with ``moviepy.editor`` (moviepy < 2); without it a video is empty."""
    try:
        importlib.import_module("moviepy.editor")
    except Exception:
        return False
    return True


# Held-out segments -------------------------------------------------------------------------------------------------


def recent_segment_indices(
    buffer: EpisodeReplayBuffer,
    n_segments: int,
    n_cond_steps: int,
    horizon: int,
    since: int,
    generator: np.random.Generator,
) -> np.ndarray | None:
    """
    Row indices of replay segments that start predicting on the newest data, for diagnostics on data the world model
    has not trained on.

    A segment has ``n_cond_steps + horizon`` rows: a context of ``n_cond_steps`` rows ending on a row that carries an
    action (padded before the episode's first row, as training pads), then the ``horizon`` rows that follow it (padded
    after the episode's end). Candidates are the segments whose first predicted row was stored at or after insertion
    number ``since`` (e.g. during the last collection, not yet trained on) and whose real future is complete (every
    transition of the window taken, or the episode terminated or was truncated inside it, rather than a still-open
    episode running out of stored rows). When fewer than ``n_segments`` such segments exist, the newest complete older
    ones fill in; if no segment has a complete future, the newest ones are taken as they are.
    ``n_segments`` of them (or all, when fewer) are drawn without replacement with ``generator``.

    :param buffer: the replay buffer
    :param n_segments: number of segments wanted
    :param n_cond_steps: context rows (the world model's ``n_cond_steps``)
    :param horizon: predicted rows after the context
    :param since: insertion number (``buffer.n_inserted`` at some earlier time) from which rows count as new
    :param generator: the random generator of the draw
    :return: (B, n_cond_steps + horizon) row indices, -1 for padding, B <= n_segments; ``None`` when the buffer holds no
        transition
    """
    size = buffer.size()
    rows = np.flatnonzero(buffer.has_action[:size])
    rows = rows[buffer.next[rows] >= 0]  # every stored transition has its next row; kept safe all the same
    if len(rows) == 0 or n_segments < 1:
        return None
    # Newest first, by the age of the first predicted row (the row after the context's last one).
    target_age = buffer.insertion_index[buffer.next[rows]]
    order = np.argsort(-target_age, kind="stable")
    rows, target_age = rows[order], target_age[order]

    n = n_cond_steps
    indices = np.full((len(rows), n + horizon), -1, dtype=np.int64)
    indices[:, n - 1] = rows
    for column in range(n - 2, -1, -1):
        later = indices[:, column + 1]
        indices[:, column] = np.where(later >= 0, buffer.prev[np.maximum(later, 0)], -1)
    for column in range(n, n + horizon):
        earlier = indices[:, column - 1]
        indices[:, column] = np.where(earlier >= 0, buffer.next[np.maximum(earlier, 0)], -1)

    window = indices[:, n - 1 : n + horizon - 1]  # the rows whose transitions lead to the predicted rows
    safe = np.maximum(window, 0)
    acted = (window >= 0) & buffer.has_action[safe]
    ended = acted & (buffer.terminated[safe] | buffer.truncated[safe])
    ended_before = np.concatenate([np.zeros_like(ended[:, :1]), np.cumsum(ended[:, :-1], axis=1) > 0], axis=1)
    complete = np.all(acted | ended_before, axis=1)

    new = complete & (target_age >= since)
    pool = np.flatnonzero(new)
    if len(pool) < n_segments:
        older = np.flatnonzero(complete & ~new)[: n_segments - len(pool)]  # newest first
        pool = np.concatenate([pool, older])
    if len(pool) == 0:
        pool = np.arange(min(n_segments, len(rows)))
    chosen = generator.choice(len(pool), size=min(n_segments, len(pool)), replace=False)
    return indices[pool[np.sort(chosen)]]


def replay_row_indices(buffer: EpisodeReplayBuffer, n_rows: int, generator: np.random.Generator) -> np.ndarray | None:
    """
    Rows drawn uniformly, without replacement, from everything the replay buffer holds: the data the encoder is
    trained on, for its latent health. The newest rows alone show what the current policy visits, which can be a narrow
    set of states (a lander resting on its pad) whose latents vary little without the encoder being at fault.

    :param buffer: the replay buffer
    :param n_rows: number of rows wanted (all stored rows when fewer)
    :param generator: the random generator of the draw
    :return: (N, 1) row indices in increasing order, a segment of one row each for
        :meth:`~sb3_jedi.buffers.EpisodeReplayBuffer.get_segments`; ``None`` when the buffer is empty or ``n_rows < 1``
    """
    size = buffer.size()
    if size == 0 or n_rows < 1:
        return None
    rows = np.sort(generator.choice(size, size=min(n_rows, size), replace=False))
    return rows[:, None].astype(np.int64)


# Imagined against real returns -------------------------------------------------------------------------------------


def imagined_and_real_returns(
    world_model: WorldModel,
    actor_critic: ActorCriticNetwork,
    batch: SegmentBatch,
    horizon: int,
    sample_reward_end: bool = True,
) -> dict[str, float]:
    """
    Mean return over ``horizon`` steps imagined by the actor-critic in the world model, next to the mean real return of
    the same starting points.

    Imagination starts from each segment's first ``n = world_model.n_cond_steps`` rows, as in training
    (:func:`~sb3_jedi.imagination.imagine`). The real return is the sum of the next ``horizon`` real rewards of the
    segment, those of rows ``n - 1 .. n + horizon - 2``: rewards of the *behaviour policy* that collected the data (the
    actor of that time, with its exploration, or random actions during the initial collection), not of the current
    actor acting in imagination. Both are sums of what the reward model predicts and the agent maximises (reward signs
    for the sign reward head, rewards for the symlog two-hot head), undiscounted; the imagined sum stops at the first
    imagined termination (weighted by the probability of still running when ends are expected values) and the real one
    at the episode's termination.

    Only segments whose real future is known for the whole window count: every transition taken, or the episode
    terminated inside it (a truncated or still-open episode says nothing of what came next).

    :param world_model: the world model
    :param actor_critic: the actor-critic that acts in imagination
    :param batch: replay segments of at least ``n_cond_steps + horizon - 1`` rows
    :param horizon: number of imagined steps
    :param sample_reward_end: sample imagined rewards and terminations (as training does) or use their expectations
    :return: ``imagined_return``, ``real_return`` (means over the segments counted) and ``return_segments`` (their
        number); empty when no segment counts
    """
    n = world_model.n_cond_steps
    if batch.observations.shape[1] < n + horizon - 1:
        raise ValueError(
            f"Comparing returns over {horizon} steps needs segments of n_cond_steps + horizon - 1 = {n + horizon - 1} rows, "
            f"got {batch.observations.shape[1]}."
        )
    window = slice(n - 1, n + horizon - 1)
    acted = batch.has_action[:, window]
    terminated = (batch.terminated[:, window] > 0) & acted
    terminated_before = th.cat([th.zeros_like(terminated[:, :1]), terminated[:, :-1].long().cumsum(dim=1) > 0], dim=1)
    counted = (acted | terminated_before).all(dim=1)
    if not bool(counted.any()):
        return {}
    # The real rewards as the reward model learns them: their signs for the sign head, themselves otherwise.
    real = th.where(acted, world_model.reward_target(batch.rewards[:, window]), 0.0).sum(dim=1)[counted]
    context = SegmentBatch._make(tensor[counted, :n] for tensor in batch)
    with th.no_grad():
        trajectory = imagine(world_model, actor_critic, context, horizon, sample_reward_end=sample_reward_end)
    ends = trajectory.ends.double()
    running = th.cat([th.ones_like(ends[:, :1]), (1.0 - ends[:, :-1]).cumprod(dim=1)], dim=1)
    imagined = (trajectory.rewards.double() * running).sum(dim=1)
    return {
        "imagined_return": float(imagined.mean()),
        "real_return": float(real.double().mean()),
        "return_segments": float(counted.sum()),
    }


# The callback ------------------------------------------------------------------------------------------------------


class WorldModelDiagnosticsCallback(BaseCallback):
    """
    Log world-model diagnostics every ``log_interval`` epochs (collections), once the world model has been trained.

    At the end of every ``log_interval``-th collection the callback takes ``n_segments`` segments of
    ``n_cond_steps + horizon`` rows from the newest replay data with their real actions
    (:func:`recent_segment_indices`), and logs, under ``world_model/``:

    - the scalars of :func:`~sb3_jedi.diagnostics.world_model_diagnostics`: ``open_loop_*`` (open-loop prediction
      error against a copy-the-last-state baseline, and PSNR of decoded frames), ``latent_*`` (latent health) and the
      reward/termination precision, recall and accuracy;
    - ``imagined_return``, ``real_return``, ``return_segments`` (:func:`imagined_and_real_returns`);
    - ``diagnostics_seconds``, the wall-clock time of the whole measurement (media included);
    - with ``video_rollouts > 0``, to TensorBoard only: ``open_loop_frames`` (an image of real, imagined and difference
      frames), ``open_loop_video`` (the same as a video, only where TensorBoard can encode videos: it needs
      ``moviepy<2``) or, for vector observations, ``open_loop_states`` (imagined against real state trajectories).

    The logger is then dumped at the current step (as SB3's ``EvalCallback`` does). When the latents of a model with an
    encoder look collapsed (:func:`~sb3_jedi.diagnostics.collapse_warnings`), a :class:`LatentCollapseWarning` is
    issued, at most once per ``learn`` call. For a pixel model (DIAMOND) the ``latent_*`` statistics describe the frames
    themselves and never warn.

    The collection ends before the epoch's training, so the segments' predicted rows, collected during that collection,
    are data the world model has never trained on: the measurement is held out, and on the current policy's states.
    The callback draws segments with a generator of its own and runs the sampler on torch random streams of its own, so
    training goes exactly as it would without it. Between measurements it does nothing: no sampling, no model call.

    :param log_interval: epochs (collections) between measurements
    :param n_segments: segments per measurement (fewer when the buffer has fewer)
    :param video_rollouts: rollouts shown in the video and image (0: no media)
    :param warn: issue a :class:`LatentCollapseWarning` when the latents look collapsed
    :param horizon: open-loop and imagination horizon (``None``: the model's ``imagination_horizon``)
    :param fps: frames per second of the open-loop video
    :param seed: seed of the callback's own random generators (``None``: the model's ``seed``)
    :param verbose: 1 prints the time each measurement took
    """

    def __init__(
        self,
        log_interval: int = 10,
        n_segments: int = 32,
        video_rollouts: int = 4,
        warn: bool = True,
        horizon: int | None = None,
        fps: float = 4.0,
        seed: int | None = None,
        verbose: int = 0,
    ) -> None:
        super().__init__(verbose)
        if log_interval < 1:
            raise ValueError(f"log_interval must be >= 1 epoch, got {log_interval}.")
        if n_segments < 1:
            raise ValueError(f"n_segments must be >= 1, got {n_segments}.")
        if video_rollouts < 0:
            raise ValueError(f"video_rollouts must be >= 0 (0: no media), got {video_rollouts}.")
        if horizon is not None and horizon < 1:
            raise ValueError(f"horizon must be >= 1 (or None: the model's imagination_horizon), got {horizon}.")
        self.log_interval = log_interval
        self.n_segments = n_segments
        self.video_rollouts = video_rollouts
        self.warn = warn
        self.horizon = horizon
        self.fps = fps
        self.seed = seed
        self.n_rollouts = 0
        self.n_measurements = 0
        self.last_scalars: dict[str, float] = {}
        self._rng: np.random.Generator | None = None
        self._rollout_start_insertions = 0
        self._warned = False

    def _init_callback(self) -> None:
        if not (
            isinstance(getattr(self.model, "replay_buffer", None), EpisodeReplayBuffer)
            and hasattr(self.model.policy, "world_model")
            and hasattr(self.model, "imagination_horizon")
        ):
            raise TypeError(
                f"WorldModelDiagnosticsCallback needs a world-model agent (JEDI or DIAMOND), got {type(self.model).__name__}."
            )
        if self._rng is None:
            self._rng = np.random.default_rng(self.model.seed if self.seed is None else self.seed)

    @property
    def _agent(self) -> "JEDI":
        """The model, a world-model agent (JEDI or DIAMOND, checked by _init_callback)."""
        return cast("JEDI", self.model)

    def _on_training_start(self) -> None:
        self._warned = False  # at most one warning per learn call

    def _on_rollout_start(self) -> None:
        self._rollout_start_insertions = self._agent.replay_buffer.n_inserted

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        self.n_rollouts += 1
        if self.n_rollouts % self.log_interval != 0 or getattr(self.model, "_world_model_updates", 0) == 0:
            return
        self.log_diagnostics()

    def log_diagnostics(self) -> dict[str, float]:
        """
        Measure and log now (what the callback does every ``log_interval`` epochs).

        :return: the scalars logged (without the ``world_model/`` prefix); empty when the buffer holds no transition
        """
        start = time.perf_counter()
        model = self._agent
        world_model = model.policy.world_model
        horizon = self.horizon or model.imagination_horizon
        assert self._rng is not None
        # Held-out data: segments whose predicted rows were collected during the collection that just ended, which the
        # world model has not trained on yet (training follows the collection), topped up with the newest older ones.
        # Building the indices from the newest rows, rather than sampling the buffer with its recency weights, is what
        # makes them unseen; and they are the current policy's states, where the agent imagines from next.
        indices = recent_segment_indices(
            model.replay_buffer,
            self.n_segments,
            world_model.n_cond_steps,
            horizon,
            since=self._rollout_start_insertions,
            generator=self._rng,
        )
        if indices is None:
            return {}
        batch = model.replay_buffer.get_segments(indices)
        torch_seed = int(self._rng.integers(2**62))
        # As many rows from the whole buffer as the held-out segments hold, for the encoder's health over its data.
        replay_rows = replay_row_indices(model.replay_buffer, indices.size, self._rng)
        with _own_torch_rng(model.device, torch_seed), _evaluating(model.policy):
            open_loop = open_loop_prediction(world_model, batch, horizon)
            scalars = world_model_diagnostics(world_model, batch, horizon, open_loop=open_loop)
            if replay_rows is not None:
                replay_states = encoded_states(world_model, model.replay_buffer.get_segments(replay_rows))
                scalars.update(latent_health_scalars(replay_states, prefix="replay_latent_"))
            scalars.update(
                imagined_and_real_returns(
                    world_model,
                    model.policy.actor_critic,
                    batch,
                    horizon,
                    sample_reward_end=bool(getattr(model, "sample_reward_end", True)),
                )
            )
            media = open_loop_media(open_loop, self.video_rollouts, self.fps) if self.video_rollouts > 0 else {}
        scalars["diagnostics_seconds"] = time.perf_counter() - start

        for key, value in scalars.items():
            self.logger.record(f"world_model/{key}", value)
        for key, medium in media.items():
            if isinstance(medium, Video) and not _tensorboard_can_encode_video():
                continue  # TensorBoard would print a notice and log an empty image
            self.logger.record(f"world_model/{key}", medium, exclude=MEDIA_EXCLUDED_FORMATS)
        # Only a learnt encoder can collapse: a pixel model's (DIAMOND's) states are the frames, whose constant pixels
        # (borders, backgrounds) are no sign of anything wrong.
        # The alarm reads the latents of the whole buffer: collapse is the encoder's, over all the data it trains on,
        # while the newest states can be few and alike because the policy is good.
        if self.warn and not self._warned and getattr(world_model, "encoder", None) is not None:
            prefix = "replay_latent_" if "replay_latent_live_fraction" in scalars else "latent_"
            messages = collapse_warnings(scalars, prefix=prefix)
            if messages:
                self._warned = True
                warnings.warn(f"At {model.num_timesteps} steps: " + " ".join(messages), LatentCollapseWarning, stacklevel=2)
        # The step in the text formats too (CSV rows carry no step of their own), as SB3's EvalCallback does.
        self.logger.record("time/total_timesteps", model.num_timesteps, exclude="tensorboard")
        self.logger.dump(step=model.num_timesteps)
        self.n_measurements += 1
        self.last_scalars = scalars
        if self.verbose >= 1:
            print(f"World-model diagnostics at {model.num_timesteps} steps: {scalars['diagnostics_seconds']:.2f} s")
        return scalars
