"""
World-model diagnostics ("the eyes"): what a training loop logs every few epochs to see whether the world model
predicts, whether its latents are alive, and whether its reward/termination model is right.

Everything here is a pure function of a :class:`~sb3_jedi.world_model.world_model.WorldModel` and a batch of replay
segments (:class:`~sb3_jedi.buffers.SegmentBatch`). Each runs without gradient, on the model's device, in eval mode,
and restores every submodule's train/eval mode afterwards.

- :func:`open_loop_prediction`: imagine ``horizon`` steps from a real context with the segment's real actions and
  compare with the real future (latent MSE against a "copy the last latent" baseline, decoded-frame PSNR);
- :func:`latent_health` and :func:`collapse_warnings`: per-dimension spread and effective rank of a batch of latents,
  and warnings when the encoder drifts towards uninformative latents;
- :func:`reward_end_metrics`: precision and recall of the reward-sign and termination predictions;
- :func:`open_loop_terminations`: termination rates on imagined against real states (hallucinated episode ends);
- :func:`video_grid`, :func:`image_grid`, :func:`trajectory_figure`: media for SB3's logger;
- :func:`world_model_diagnostics` (flat scalars) and :func:`world_model_media` (videos and images) combine them.

Typical use in a training loop::

    scalars = world_model_diagnostics(world_model, batch, horizon=15)
    for key, value in scalars.items():
        logger.record(f"world_model/{key}", value)
    for message in collapse_warnings(scalars, prefix="latent_"):
        warnings.warn(message)
    for key, media in world_model_media(world_model, batch, horizon=15).items():
        # Only TensorBoard can show media: the text formats raise on them.
        logger.record(f"world_model/{key}", media, exclude=("stdout", "log", "json", "csv"))
"""

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeGuard

import numpy as np
import torch as th
from stable_baselines3.common.logger import Image, Video
from stable_baselines3.common.preprocessing import is_image_space
from torch import nn

from sb3_jedi.buffers import SegmentBatch
from sb3_jedi.world_model.world_model import WorldModel, preprocess_observations

__all__ = [
    "MAX_PSNR_DB",
    "MIN_EFFECTIVE_RANK",
    "MIN_EFFECTIVE_RANK_FRACTION",
    "MIN_LIVE_FRACTION",
    "PSNR_PEAK_TO_PEAK",
    "STD_FLOOR",
    "collapse_warnings",
    "effective_rank",
    "encoded_states",
    "image_grid",
    "latent_health",
    "latent_health_scalars",
    "open_loop_media",
    "open_loop_prediction",
    "open_loop_terminations",
    "open_loop_valid",
    "reward_end_metrics",
    "trajectory_figure",
    "video_grid",
    "world_model_diagnostics",
    "world_model_media",
]

# A latent dimension whose std across a batch is below this is "dead". The denoiser assumes clean states of std
# sigma_data = 0.5 and its sampler stops at sigma_min = 2e-3: a dimension spread 50x less than sigma_data, within a few
# sigma_min of a constant, carries next to no information about the frame.
STD_FLOOR = 1e-2
# Warn when fewer than half of the latent dimensions are alive: a healthy encoder uses most of them, while an encoder
# trained only through the denoising loss that drifts towards constant latents (trivially predictable) loses them.
MIN_LIVE_FRACTION = 0.5
# Warn when the effective rank falls below max(MIN_EFFECTIVE_RANK, MIN_EFFECTIVE_RANK_FRACTION * max_rank), where
# max_rank = min(n_samples - 1, n_dims) is the rank a centred batch can reach. Frames of one game are low-dimensional,
# so a healthy rank can be far below max_rank (hence a small fraction); fewer than 2 effective directions, or under 2%
# of what the batch allows (about 20 of a 16x8x8 latent), means the latents vary along a line: dimensional collapse.
MIN_EFFECTIVE_RANK = 2.0
MIN_EFFECTIVE_RANK_FRACTION = 0.02
# Frames in network range [-1, 1]: the PSNR peak-to-peak value.
PSNR_PEAK_TO_PEAK = 2.0
# PSNR of an exact prediction is infinite; it is reported as this (a 1e-10 MSE), so means and logs stay finite.
MAX_PSNR_DB = 100.0

_REWARD_CLASS_NAMES = ("neg", "zero", "pos")  # classes sign(r) + 1 of the reward/end model
_HEALTH_LOGGED = ("mean_std", "live_fraction", "effective_rank", "max_rank")


# Model plumbing ----------------------------------------------------------------------------------------------------


@contextmanager
def _evaluating(module: nn.Module) -> Iterator[None]:
    """Eval mode and no gradient inside; every submodule's own train/eval flag restored afterwards."""
    modes = [(sub, sub.training) for sub in module.modules()]
    module.eval()
    try:
        with th.no_grad():
            yield
    finally:
        for sub, mode in modes:
            sub.training = mode  # not sub.train(mode): that would also overwrite its children's flags


def _device_of(module: nn.Module) -> th.device:
    tensor: th.Tensor | None = next(module.parameters(), None)
    if tensor is None:
        tensor = next(module.buffers(), None)
    return th.device("cpu") if tensor is None else tensor.device


def _to_device(batch: SegmentBatch, device: th.device) -> SegmentBatch:
    return SegmentBatch._make(tensor.to(device) for tensor in batch)


def _frame_decoder(world_model: WorldModel) -> Callable[[th.Tensor], th.Tensor] | None:
    """
    ``decode`` of a model whose states decode to image frames in network range, else ``None``: a latent model with a
    decoder, or a pixel model (its states are the frames and ``decode`` is the identity; it has no ``decoder``).
    """
    space = world_model.observation_space
    if len(space.shape) != 3 or not is_image_space(space, check_channels=False, normalized_image=False):
        return None
    decode = getattr(world_model, "decode", None)
    if decode is None or getattr(world_model, "decoder", "no decoder attribute") is None:
        return None
    return decode


def encoded_states(world_model: WorldModel, batch: SegmentBatch) -> th.Tensor:
    """
    The world model's states of the real (non-padding) rows of replay segments, e.g. for :func:`latent_health`.

    :param world_model: the world model
    :param batch: replay segments (B, L, *obs_shape)
    :return: states (N, *state_shape) of the N rows with ``mask`` True, on the model's device
    """
    with _evaluating(world_model):
        batch = _to_device(batch, _device_of(world_model))
        return world_model.encode_segments(batch)[batch.mask]


# Open-loop prediction ----------------------------------------------------------------------------------------------


def open_loop_valid(batch: SegmentBatch, n_cond_steps: int, horizon: int) -> th.Tensor:
    """
    Which open-loop targets are real futures of the context: row ``n + k`` (``n = n_cond_steps``) counts when it is a
    real row and every transition from the last context row ``n - 1`` to it was taken (``has_action``) with no episode
    end before its last one. An end on the last transition still counts: its target is the episode's final frame.

    :param batch: replay segments of at least ``n_cond_steps + horizon`` rows
    :param n_cond_steps: context length
    :param horizon: number of predicted steps
    :return: (B, horizon) bool
    """
    n = n_cond_steps
    transitions = slice(n - 1, n + horizon - 1)  # transition k leads from row n - 1 + k to target row n + k
    acted = batch.has_action[:, transitions].long().cumprod(dim=1).bool()
    ended = (batch.terminated[:, transitions] > 0) | (batch.truncated[:, transitions] > 0)
    ended_before = th.cat([th.zeros_like(ended[:, :1]), ended[:, :-1].long().cumsum(dim=1) > 0], dim=1)
    return acted & ~ended_before & batch.mask[:, n : n + horizon]


def _check_horizon(batch: SegmentBatch, n_cond_steps: int, horizon: int) -> None:
    if horizon < 1:
        raise ValueError(f"The open-loop horizon must be at least 1, got {horizon}.")
    length = batch.observations.shape[1]
    if length < n_cond_steps + horizon:
        raise ValueError(
            f"Open-loop prediction over {horizon} steps needs segments of n_cond_steps + horizon = "
            f"{n_cond_steps + horizon} rows, got {length}: sample longer segments or shorten the horizon."
        )


def _rollout(world_model: WorldModel, context: th.Tensor, actions: th.Tensor, horizon: int) -> th.Tensor:
    """
    Imagine ``horizon`` states from real context states (B, n, *S) with the segment's real actions (B, >= n + H - 1),
    conditioning each step on the last n states as :func:`~sb3_jedi.imagination.imagine` does.
    """
    n = context.shape[1]
    cond_states, cond_actions = context, actions[:, :n]
    predicted = []
    for k in range(horizon):
        next_state = world_model.sample_next_state(cond_states, cond_actions)
        predicted.append(next_state)
        if k + 1 < horizon:
            # The action taken in the predicted state is the real one of row n + k.
            cond_states = th.cat([cond_states[:, 1:], next_state[:, None]], dim=1)
            cond_actions = th.cat([cond_actions[:, 1:], actions[:, n + k, None]], dim=1)
    return th.stack(predicted, dim=1)


def _per_item_mse(a: th.Tensor, b: th.Tensor) -> th.Tensor:
    """Mean squared error of every (segment, step) pair: (B, H, *S) -> (B, H)."""
    return (a - b).square().flatten(2).mean(dim=-1)


def _masked_step_mean(values: th.Tensor, valid: th.Tensor) -> th.Tensor:
    """Mean over segments of (B, H) values where valid, per step: (H,) float64, NaN for steps without data."""
    # where(), not a product with the mask: a non-finite value past an episode's end must not leak in (NaN * 0 = NaN).
    total = th.where(valid, values.double(), 0.0).sum(dim=0)
    return total / valid.double().sum(dim=0)  # 0 / 0 = NaN: no segment reached the step


def _nanmean(values: th.Tensor) -> float:
    return float(th.nanmean(values)) if bool(th.isfinite(values).any()) else math.nan


def _psnr(predicted: th.Tensor, real: th.Tensor) -> th.Tensor:
    """PSNR in dB of frames in network range, per (segment, step), capped at :data:`MAX_PSNR_DB`."""
    mse = _per_item_mse(predicted.clamp(-1.0, 1.0), real)
    return (10.0 * th.log10(PSNR_PEAK_TO_PEAK**2 / mse)).clamp(max=MAX_PSNR_DB)


def _latent_errors(predicted: th.Tensor, real: th.Tensor, last_context: th.Tensor, valid: th.Tensor) -> dict[str, Any]:
    model_mse = _masked_step_mean(_per_item_mse(predicted, real), valid)
    copy_mse = _masked_step_mean(_per_item_mse(last_context[:, None].expand_as(real), real), valid)
    ratio = model_mse / copy_mse
    latent_mse, baseline_mse = _nanmean(model_mse), _nanmean(copy_mse)
    return {
        "latent_mse": latent_mse,
        "copy_mse": baseline_mse,
        "mse_ratio": latent_mse / baseline_mse if baseline_mse > 0 else math.nan,
        "mse_ratio_last": float(ratio[-1]),
        "latent_mse_per_step": model_mse.cpu().numpy(),
        "copy_mse_per_step": copy_mse.cpu().numpy(),
        "mse_ratio_per_step": ratio.cpu().numpy(),
    }


def _frame_errors(
    decode: Callable[[th.Tensor], th.Tensor],
    observations: th.Tensor,
    world_model: WorldModel,
    predicted: th.Tensor,
    real_states: th.Tensor,
    valid: th.Tensor,
) -> dict[str, Any]:
    real_frames = preprocess_observations(observations, world_model.observation_space)
    predicted_frames = decode(predicted).clamp(-1.0, 1.0)
    psnr = _masked_step_mean(_psnr(predicted_frames, real_frames), valid)
    errors = {
        "psnr": _nanmean(psnr),
        "psnr_last": float(psnr[-1]),
        "psnr_per_step": psnr.cpu().numpy(),
        "real_frames": real_frames.cpu(),
        "predicted_frames": predicted_frames.cpu(),
        "frame_difference": (predicted_frames - real_frames).abs().cpu(),
    }
    if getattr(world_model, "decoder", None) is not None:
        # The decoder's own error on the real latents: the floor the open-loop PSNR can reach with a perfect dynamics.
        errors["recon_psnr"] = _nanmean(_masked_step_mean(_psnr(decode(real_states), real_frames), valid))
    return errors


def open_loop_prediction(world_model: WorldModel, batch: SegmentBatch, horizon: int) -> dict[str, Any]:
    """
    Open-loop prediction: encode each segment, condition on its first ``n = world_model.n_cond_steps`` states and
    their actions, imagine ``horizon`` states with the sampler using the segment's *real* actions, and compare them
    with the real encoded future rows ``n .. n + horizon - 1``.

    Only targets that are real futures of the context count (:func:`open_loop_valid`); per-step values are means over
    the segments that reach the step (NaN where none does), and summaries are means over steps.

    :param world_model: the world model
    :param batch: replay segments of at least ``n_cond_steps + horizon`` rows
    :param horizon: number of imagined steps
    :return: a dict with

        - floats ``latent_mse`` (state MSE of the prediction), ``copy_mse`` (of the baseline that repeats the last
          context state), ``mse_ratio`` (their ratio: below 1, the model predicts motion better than standing still)
          and ``mse_ratio_last`` (the ratio at the last step);
        - arrays (horizon,) ``latent_mse_per_step``, ``copy_mse_per_step``, ``mse_ratio_per_step`` and
          ``n_valid_per_step`` (segments counted);
        - CPU tensors ``valid`` (B, horizon) and ``real_states``, ``predicted_states`` (B, horizon, *state_shape);
        - when the states decode to image frames (a latent model with a decoder, or a pixel model): floats ``psnr``
          (dB, peak-to-peak :data:`PSNR_PEAK_TO_PEAK`, capped at :data:`MAX_PSNR_DB`), ``psnr_last``, array
          ``psnr_per_step``, tensors ``real_frames``, ``predicted_frames`` (B, horizon, C, H, W) in [-1, 1] and
          ``frame_difference`` (their absolute difference, in [0, 2]); with a separate decoder also ``recon_psnr``, the
          PSNR of the decoded *real* states (the decoder's floor).
    """
    n = world_model.n_cond_steps
    _check_horizon(batch, n, horizon)
    with _evaluating(world_model):
        batch = _to_device(batch, _device_of(world_model))
        states = world_model.encode_segments(batch)
        real = states[:, n : n + horizon]
        predicted = _rollout(world_model, states[:, :n], batch.actions, horizon)
        valid = open_loop_valid(batch, n, horizon)
        result = _latent_errors(predicted, real, states[:, n - 1], valid)
        result.update(
            n_valid_per_step=valid.sum(dim=0).cpu().numpy(),
            valid=valid.cpu(),
            real_states=real.cpu(),
            predicted_states=predicted.cpu(),
        )
        decode = _frame_decoder(world_model)
        if decode is not None:
            observations = batch.observations[:, n : n + horizon]
            result.update(_frame_errors(decode, observations, world_model, predicted, real, valid))
    return result


# Latent health -----------------------------------------------------------------------------------------------------


def effective_rank(singular_values: th.Tensor) -> float:
    """
    Effective rank of a matrix (Roy & Vetterli, 2007): ``exp`` of the entropy of its singular values normalised to sum
    to one. It is ``k`` for ``k`` equal non-zero singular values and 0 when all are zero.

    :param singular_values: the singular values (non-negative)
    :return: the effective rank
    """
    total = singular_values.sum()
    if not total > 0:
        return 0.0
    p = singular_values[singular_values > 0] / total
    return float(th.exp(-(p * p.log()).sum()))


def _centred_singular_values(flat: th.Tensor, input_dtype: th.dtype) -> th.Tensor:
    """Singular values of the centred batch (float64), without those rounding noise of the input can explain."""
    centred = flat - flat.mean(dim=0)
    singular_values = th.linalg.svdvals(centred)
    # Rounding noise is not variation: without this tolerance a constant batch (centred to ~1e-16, not 0) would look
    # full-rank, and float32 latents along a line would not have rank 1.
    eps = th.finfo(input_dtype if input_dtype.is_floating_point else flat.dtype).eps
    noise = flat.abs().max() * math.sqrt(flat.numel()) * 10 * eps
    return singular_values[singular_values > noise]


def latent_health(states: th.Tensor, std_floor: float = STD_FLOOR) -> dict[str, float]:
    """
    Is the encoder still informative? Spread of a batch of latents per dimension, and their effective rank.

    :param states: a batch of latents (N, D) or (N, C, H, W) (flattened to (N, C * H * W)), e.g. from
        :func:`encoded_states`
    :param std_floor: a dimension is alive when its std across the batch exceeds this (default :data:`STD_FLOOR`)
    :return: ``mean_std`` and ``min_std`` (per-dimension std across the batch), ``live_fraction`` (fraction of
        dimensions with std > ``std_floor``), ``effective_rank`` of the centred batch (the mean latent says nothing
        about the frame), ``max_rank`` = min(N - 1, D), the rank a centred batch can reach, ``n_dims``, ``n_samples``
        and ``std_floor``. With fewer than 2 latents every statistic is NaN.
    """
    flat = states.detach().flatten(1).double()
    n_samples, n_dims = flat.shape
    health = {"n_dims": float(n_dims), "n_samples": float(n_samples), "std_floor": float(std_floor)}
    if n_samples < 2:
        return {**health, **dict.fromkeys(("mean_std", "min_std", "live_fraction", "effective_rank", "max_rank"), math.nan)}
    std = flat.std(dim=0)
    return {
        **health,
        "mean_std": float(std.mean()),
        "min_std": float(std.min()),
        "live_fraction": float((std > std_floor).double().mean()),
        "effective_rank": effective_rank(_centred_singular_values(flat, states.dtype)),
        "max_rank": float(min(n_samples - 1, n_dims)),
    }


def latent_health_scalars(states: th.Tensor, prefix: str = "latent_") -> dict[str, float]:
    """
    The logged statistics of :func:`latent_health` (``mean_std``, ``live_fraction``, ``effective_rank``,
    ``max_rank``) under ``prefix``, NaN entries left out; :func:`collapse_warnings` reads them with the same prefix.

    :param states: a batch of latents (N, D) or (N, C, H, W)
    :param prefix: prefix of the keys
    :return: the statistics by key
    """
    health = latent_health(states)
    return {f"{prefix}{key}": health[key] for key in _HEALTH_LOGGED if not math.isnan(health[key])}


def _is_number(value: Any) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not math.isnan(value)


def collapse_warnings(
    health: dict[str, float],
    prefix: str = "",
    min_live_fraction: float = MIN_LIVE_FRACTION,
    min_effective_rank: float = MIN_EFFECTIVE_RANK,
    min_effective_rank_fraction: float = MIN_EFFECTIVE_RANK_FRACTION,
) -> list[str]:
    """
    Human-readable warnings when the latents look collapsed.

    - ``live_fraction < min_live_fraction``;
    - ``effective_rank < max(min_effective_rank, min_effective_rank_fraction * max_rank)``, checked only when the
      batch could exceed that threshold (``max_rank`` above it), so tiny batches do not warn.

    Missing or NaN statistics are skipped.

    :param health: the output of :func:`latent_health`, or any dict holding its keys under ``prefix`` (e.g. the
        output of :func:`world_model_diagnostics` with ``prefix="latent_"``)
    :param prefix: prefix of the keys in ``health``
    :param min_live_fraction: threshold of the fraction of live dimensions
    :param min_effective_rank: absolute threshold of the effective rank
    :param min_effective_rank_fraction: threshold of the effective rank as a fraction of ``max_rank``
    :return: the warnings (empty when the latents look healthy)
    """
    consequence = (
        "The encoder, trained only through the denoising loss, may be drifting towards uninformative latents that the "
        "denoiser predicts trivially (representation collapse)."
    )
    messages = []
    live = health.get(f"{prefix}live_fraction")
    if _is_number(live) and live < min_live_fraction:
        floor = health.get(f"{prefix}std_floor", STD_FLOOR)
        messages.append(
            f"Latent collapse? {prefix}live_fraction = {live:.3f} < {min_live_fraction}: only {100 * live:.1f}% of the "
            f"latent dimensions vary across the batch (std > {floor:g}). {consequence}"
        )
    rank, max_rank = health.get(f"{prefix}effective_rank"), health.get(f"{prefix}max_rank")
    if _is_number(rank) and _is_number(max_rank):
        threshold = max(min_effective_rank, min_effective_rank_fraction * max_rank)
        if max_rank > threshold and rank < threshold:
            messages.append(
                f"Latent collapse? {prefix}effective_rank = {rank:.2f} < {threshold:.2f} (the batch allows up to "
                f"{max_rank:.0f}): the latents vary along very few directions. {consequence}"
            )
    return messages


# Reward and termination --------------------------------------------------------------------------------------------


def _precision_recall(predicted: th.Tensor, target: th.Tensor, cls: int) -> tuple[float, float]:
    """Precision and recall of one class; NaN when the class is never predicted (precision) or never present (recall)."""
    hits = float(((predicted == cls) & (target == cls)).sum())
    n_predicted, n_target = float((predicted == cls).sum()), float((target == cls).sum())
    return (hits / n_predicted if n_predicted else math.nan), (hits / n_target if n_target else math.nan)


def _accuracy(predicted: th.Tensor, target: th.Tensor) -> float:
    return float((predicted == target).double().mean()) if target.numel() else math.nan


def reward_end_metrics(world_model: WorldModel, batch: SegmentBatch) -> dict[str, float]:
    """
    Precision and recall of the reward/termination model on (held-out) segments, from the encoded states, counting
    only real transitions: both rows real (``mask``), the rule of
    :func:`~sb3_jedi.world_model.world_model.reward_end_loss`. Predictions are the most likely classes; the LSTM runs
    over each segment from a zero state, as in training. Whatever the reward head, rewards are scored by their sign (a
    symlog two-hot head's most likely sign sums the probabilities of the bins of each sign).

    :param world_model: the world model
    :param batch: replay segments of at least 2 rows
    :return: ``reward_precision_<c>``, ``reward_recall_<c>`` and ``reward_support_<c>`` (number of transitions) for
        the reward-sign classes ``c`` in ``neg`` (-1), ``zero``, ``pos`` (+1); ``end_precision``, ``end_recall``,
        ``end_support`` for termination; ``reward_accuracy``, ``end_accuracy`` and ``n_transitions``. A precision is
        NaN when the class is never predicted, a recall when it never occurs in the batch (no data, not zero).
    """
    with _evaluating(world_model):
        batch = _to_device(batch, _device_of(world_model))
        states = world_model.encode_segments(batch)
        reward_logits, end_logits, _ = world_model.predict_reward_end(states[:, :-1], batch.actions[:, :-1], states[:, 1:])
    valid = batch.mask[:, :-1] & batch.mask[:, 1:]
    reward_target = batch.rewards[:, :-1].sign().long().add(1)[valid]
    # The most likely sign: the class itself for the sign head, the summed bins of each sign for the symlog two-hot one.
    reward_predicted = world_model.reward_sign_probs(reward_logits).argmax(dim=-1)[valid]
    end_target = batch.terminated[:, :-1].long()[valid]
    end_predicted = end_logits.argmax(dim=-1)[valid]
    metrics = {
        "n_transitions": float(valid.sum()),
        "reward_accuracy": _accuracy(reward_predicted, reward_target),
        "end_accuracy": _accuracy(end_predicted, end_target),
    }
    for cls, name in enumerate(_REWARD_CLASS_NAMES):
        precision, recall = _precision_recall(reward_predicted, reward_target, cls)
        metrics[f"reward_precision_{name}"] = precision
        metrics[f"reward_recall_{name}"] = recall
        metrics[f"reward_support_{name}"] = float((reward_target == cls).sum())
    metrics["end_precision"], metrics["end_recall"] = _precision_recall(end_predicted, end_target, 1)
    metrics["end_support"] = float((end_target == 1).sum())
    return metrics


def open_loop_terminations(world_model: WorldModel, batch: SegmentBatch, open_loop: dict[str, Any]) -> dict[str, float]:
    """
    Terminations along an open-loop rollout: how often the termination model ends an episode on the *imagined* states
    of :func:`open_loop_prediction`, against the same model on the *real* encoded states of the same steps, and against
    the terminations stored in the data. A model that predicts well keeps the three close. An imagined rate far above
    the others means the sampler drifts into states the termination model takes for episode ends: the agent then
    learns from hallucinated terminations (in a task whose only signal is reaching a goal, it chases them; in one where
    ending is failure, it fears them), which no precision or recall on real states shows.

    :param world_model: the world model
    :param batch: the segments of ``open_loop``
    :param open_loop: the result of :func:`open_loop_prediction` on ``batch``
    :return: ``open_loop_end_rate`` (mean termination probability on the imagined states), ``open_loop_real_end_rate``
        (on the real states) and ``data_end_rate`` (stored terminations), over the steps that are real futures of the
        context (``open_loop["valid"]``); empty when no step is
    """
    valid = open_loop["valid"]
    if not bool(valid.any()):
        return {}
    n = world_model.n_cond_steps
    horizon = valid.shape[1]
    device = _device_of(world_model)
    with _evaluating(world_model):
        batch = _to_device(batch, device)
        context = world_model.encode_segments(batch)[:, :n]
        # The recurrent reward/termination model warms up on the context's transitions, as imagination does.
        hidden = None
        if n > 1:
            _, _, hidden = world_model.predict_reward_end(context[:, :-1], batch.actions[:, : n - 1], context[:, 1:])
        actions = batch.actions[:, n - 1 : n - 1 + horizon]  # action k leads to predicted row n + k
        rates = {}
        for key, states in (
            ("open_loop_end_rate", open_loop["predicted_states"]),
            ("open_loop_real_end_rate", open_loop["real_states"]),
        ):
            states = states.to(device)
            previous = th.cat([context[:, -1:], states[:, :-1]], dim=1)
            _, end_logits, _ = world_model.predict_reward_end(previous, actions, states, hidden)
            rates[key] = float(end_logits.float().softmax(dim=-1)[..., 1].cpu()[valid].double().mean())
    rates["data_end_rate"] = float(batch.terminated[:, n - 1 : n - 1 + horizon].cpu()[valid].double().mean())
    return rates


# Media -------------------------------------------------------------------------------------------------------------


def _to_uint8(frames: th.Tensor, low: float) -> th.Tensor:
    """Frames in [low, low + 2] (network range: low = -1; absolute differences: low = 0) to uint8 [0, 255]."""
    return frames.sub(low).clamp(0.0, 2.0).mul(127.5).round().to(th.uint8)


def _to_rgb(frames: th.Tensor) -> th.Tensor:
    """(..., C, H, W) -> (..., 3, H, W): grey repeated; other channel counts show their last channel (the newest
    frame of a stack of grey frames)."""
    if frames.shape[-3] == 3:
        return frames
    return frames[..., -1:, :, :].expand(*frames.shape[:-3], 3, *frames.shape[-2:])


def _panels(real: th.Tensor, predicted: th.Tensor, max_rollouts: int, pad: int) -> list[th.Tensor]:
    """Real, imagined and |difference| frames of the first rollouts, each (R, T, 3, H + pad, W + pad) uint8, padded
    white on the right and bottom so that tiled panels stay apart."""
    if real.ndim != 5 or real.shape != predicted.shape:
        raise ValueError(
            f"Expected real and predicted frames of the same shape (B, T, C, H, W), got {tuple(real.shape)} and "
            f"{tuple(predicted.shape)}."
        )
    real, predicted = real[:max_rollouts].float().cpu(), predicted[:max_rollouts].float().cpu()
    panels = [_to_uint8(real, -1.0), _to_uint8(predicted, -1.0), _to_uint8((predicted - real).abs(), 0.0)]
    return [nn.functional.pad(_to_rgb(panel), (0, pad, 0, pad), value=255) for panel in panels]


def video_grid(real: th.Tensor, predicted: th.Tensor, max_rollouts: int = 4, pad: int = 1) -> th.Tensor:
    """
    One video of open-loop rollouts for :class:`stable_baselines3.common.logger.Video`: each frame shows one row per
    rollout, real | imagined | |difference| side by side.

    SB3 hands ``Video.frames`` to TensorBoard's ``add_video``, which takes (N, T, C, H, W), uint8 in [0, 255] (or float
    in [0, 1]) and tiles the N videos into a grid padded to a power of two; a single video (N = 1) keeps the layout.
    TensorBoard needs ``moviepy`` to encode the video (without it, it prints a notice and logs an empty image).

    :param real: real frames (B, T, C, H, W) in network range [-1, 1]
    :param predicted: imagined frames, same shape and range
    :param max_rollouts: number of rollouts shown (the first ones)
    :param pad: white pixels after each panel
    :return: (1, T, 3, R * (H + pad), 3 * (W + pad)) uint8, R = min(B, max_rollouts); 1-channel frames become grey RGB
    """
    row = th.cat(_panels(real, predicted, max_rollouts, pad), dim=-1)  # (R, T, 3, H', 3 W')
    return th.cat(row.unbind(dim=0), dim=-2)[None]  # rollouts stacked vertically


def image_grid(real: th.Tensor, predicted: th.Tensor, max_rollouts: int = 4, pad: int = 1) -> th.Tensor:
    """
    One image of open-loop rollouts for :class:`stable_baselines3.common.logger.Image` with ``dataformats="CHW"``:
    time runs left to right; each rollout takes three rows, real, imagined and |difference|.

    :param real: real frames (B, T, C, H, W) in network range [-1, 1]
    :param predicted: imagined frames, same shape and range
    :param max_rollouts: number of rollouts shown (the first ones)
    :param pad: white pixels after each frame
    :return: (3, 3 * R * (H + pad), T * (W + pad)) uint8
    """
    strips = [th.cat(panel.unbind(dim=1), dim=-1) for panel in _panels(real, predicted, max_rollouts, pad)]
    per_rollout = th.stack(strips, dim=1)  # (R, 3 kinds, 3, H', T W')
    return th.cat(per_rollout.flatten(0, 1).unbind(dim=0), dim=-2)


def trajectory_figure(real: th.Tensor, predicted: th.Tensor, max_dims: int = 8) -> np.ndarray | None:
    """
    Imagined against real state trajectories of one rollout, one panel per dimension (the ``max_dims`` dimensions that
    vary most in the real trajectory), rendered to an image for :class:`stable_baselines3.common.logger.Image` with
    ``dataformats="HWC"``.

    :param real: real states (T, D) or (T, *state_shape) (flattened)
    :param predicted: imagined states, same shape
    :param max_dims: most dimensions plotted
    :return: (H, W, 3) uint8 image, or ``None`` when matplotlib is not installed
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    real, predicted = real.detach().flatten(1).double().cpu(), predicted.detach().flatten(1).double().cpu()
    dims = th.sort(th.argsort(real.std(dim=0, correction=0), descending=True)[:max_dims]).values.tolist()
    n_cols = min(len(dims), 4)
    n_rows = math.ceil(len(dims) / n_cols)
    # A figure without pyplot: no global state, no GUI backend, nothing left open.
    figure = Figure(figsize=(3 * n_cols, 2 * n_rows), dpi=80, layout="constrained")
    canvas = FigureCanvasAgg(figure)
    steps = np.arange(1, real.shape[0] + 1)
    for i, dim in enumerate(dims):
        axes = figure.add_subplot(n_rows, n_cols, i + 1)
        axes.plot(steps, real[:, dim].numpy(), color="black", label="real")
        axes.plot(steps, predicted[:, dim].numpy(), color="tab:orange", linestyle="--", label="imagined")
        axes.set_title(f"dim {dim}", fontsize=9)
        if i == 0:
            axes.legend(fontsize=7)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def _rollout_order(valid: th.Tensor) -> list[int]:
    """Rollouts that reach at least one step, those reaching furthest first."""
    lengths = valid.sum(dim=1)
    order = th.argsort(lengths, descending=True, stable=True)
    return [int(i) for i in order if lengths[i] > 0]


def open_loop_media(open_loop: dict[str, Any], max_rollouts: int = 4, fps: float = 4.0) -> dict[str, Video | Image]:
    """
    Media of an :func:`open_loop_prediction` result, for SB3's logger (TensorBoard only).

    :param open_loop: the result of :func:`open_loop_prediction`
    :param max_rollouts: most rollouts shown (those with the most valid steps)
    :param fps: frames per second of the video
    :return: with image frames, ``open_loop_video`` (:func:`video_grid`) and ``open_loop_frames`` (:func:`image_grid`,
        ``CHW``); otherwise ``open_loop_states`` (:func:`trajectory_figure` of the longest rollout, ``HWC``) when
        matplotlib is installed. Empty when no rollout has a valid step.
    """
    rollouts = _rollout_order(open_loop["valid"])[:max_rollouts]
    if not rollouts:
        return {}
    if "predicted_frames" in open_loop:
        real, predicted = open_loop["real_frames"][rollouts], open_loop["predicted_frames"][rollouts]
        return {
            "open_loop_video": Video(video_grid(real, predicted, max_rollouts), fps=fps),
            "open_loop_frames": Image(image_grid(real, predicted, max_rollouts), dataformats="CHW"),
        }
    best = rollouts[0]
    n_steps = int(open_loop["valid"][best].sum())  # valid steps form a prefix: nothing real after an episode's end
    figure = trajectory_figure(open_loop["real_states"][best, :n_steps], open_loop["predicted_states"][best, :n_steps])
    return {} if figure is None else {"open_loop_states": Image(figure, dataformats="HWC")}


# Everything together -----------------------------------------------------------------------------------------------


def world_model_diagnostics(
    world_model: WorldModel,
    batch: SegmentBatch,
    horizon: int,
    reward_end_batch: SegmentBatch | None = None,
    open_loop: dict[str, Any] | None = None,
) -> dict[str, float]:
    """
    Scalar diagnostics of a world model, flat keys for ``logger.record(f"world_model/{key}", value)``:

    - ``open_loop_<k>`` for the float entries of :func:`open_loop_prediction` (``latent_mse``, ``copy_mse``,
      ``mse_ratio``, ``mse_ratio_last`` and, with frames, ``psnr``, ``psnr_last``, ``recon_psnr``);
    - ``latent_<k>`` for ``mean_std``, ``live_fraction``, ``effective_rank``, ``max_rank`` of :func:`latent_health`
      on the states of the batch's real rows (pass the result to :func:`collapse_warnings` with ``prefix="latent_"``);
    - every entry of :func:`reward_end_metrics`;
    - ``open_loop_end_rate``, ``open_loop_real_end_rate`` and ``data_end_rate`` of :func:`open_loop_terminations`.

    Entries without data (NaN, e.g. the recall of a reward class absent from the batch) are left out rather than
    logged as NaN.

    :param world_model: the world model
    :param batch: replay segments of at least ``n_cond_steps + horizon`` rows
    :param horizon: open-loop horizon
    :param reward_end_batch: segments for the reward/end metrics (default: ``batch``)
    :param open_loop: a precomputed :func:`open_loop_prediction` of ``batch`` (e.g. shared with
        :func:`open_loop_media`), so the sampler runs once
    :return: the scalars
    """
    if open_loop is None:
        open_loop = open_loop_prediction(world_model, batch, horizon)
    scalars = {f"open_loop_{key}": value for key, value in open_loop.items() if isinstance(value, float)}
    scalars.update(latent_health_scalars(encoded_states(world_model, batch)))
    scalars.update(reward_end_metrics(world_model, batch if reward_end_batch is None else reward_end_batch))
    scalars.update(open_loop_terminations(world_model, batch, open_loop))
    return {key: value for key, value in scalars.items() if not math.isnan(value)}


def world_model_media(
    world_model: WorldModel, batch: SegmentBatch, horizon: int, max_rollouts: int = 4, fps: float = 4.0
) -> dict[str, Video | Image]:
    """
    Media of an open-loop prediction (see :func:`open_loop_media`), for
    ``logger.record(f"world_model/{key}", media, exclude=("stdout", "log", "json", "csv"))``.

    :param world_model: the world model
    :param batch: replay segments of at least ``n_cond_steps + horizon`` rows
    :param horizon: open-loop horizon
    :param max_rollouts: most rollouts shown
    :param fps: frames per second of the video
    :return: the media by key
    """
    return open_loop_media(open_loop_prediction(world_model, batch, horizon), max_rollouts, fps)
