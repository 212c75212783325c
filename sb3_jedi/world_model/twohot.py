"""
DreamerV3's symlog two-hot encoding of scalars (Hafner et al., 2023), for predicting rewards of any size.

A scalar ``x`` is squashed with ``symlog(x) = sign(x) ln(1 + |x|)`` and spread over the two nearest of a fixed set of
bins evenly spaced in symlog space (DreamerV3: 255 bins over [-20, 20]), with weights that linearly interpolate it.
A network predicts a categorical distribution over the bins trained with cross-entropy against that two-hot target,
and the prediction is decoded as ``symexp(sum_i p_i b_i)``. Targets of size 0.01 and of size 1000 then weigh the same
in the loss, and the decoded value is exact for every target within the range of the bins.
"""

import torch as th

__all__ = [
    "decode_symlog_twohot",
    "encode_symlog_twohot",
    "symexp",
    "symlog",
    "symlog_bins",
    "twohot_decode",
    "twohot_encode",
]


def symlog(x: th.Tensor) -> th.Tensor:
    """
    ``sign(x) * ln(1 + |x|)``: the identity near 0, logarithmic for large ``|x|``, odd.

    :param x: any tensor
    :return: its symlog, same shape
    """
    return th.sign(x) * th.log1p(x.abs())


def symexp(x: th.Tensor) -> th.Tensor:
    """
    ``sign(x) * (exp(|x|) - 1)``, the inverse of :func:`symlog`.

    :param x: any tensor
    :return: its symexp, same shape
    """
    return th.sign(x) * th.expm1(x.abs())


def symlog_bins(n_bins: int = 255, low: float = -20.0, high: float = 20.0, device: th.device | str | None = None) -> th.Tensor:
    """
    Bins evenly spaced in symlog space (DreamerV3: 255 over [-20, 20], i.e. values up to about ``±5e8``).

    :param n_bins: number of bins (at least 2)
    :param low: lowest bin, in symlog space
    :param high: highest bin, in symlog space
    :param device: device of the tensor
    :return: ``(n_bins,)`` increasing bin positions in symlog space; a bin within rounding of 0 is exactly 0, so that a
        sampled zero reward decodes to exactly 0
    """
    if n_bins < 2 or not low < high:
        raise ValueError(f"symlog_bins needs n_bins >= 2 and low < high, got n_bins={n_bins}, low={low}, high={high}.")
    bins = th.linspace(low, high, n_bins, dtype=th.float64)
    bins = th.where(bins.abs() < 1e-9 * (high - low), 0.0, bins)
    return bins.to(device=device, dtype=th.float32)


def twohot_encode(values: th.Tensor, bins: th.Tensor) -> th.Tensor:
    """
    Two-hot encoding of ``values`` over increasing ``bins``: the two bins around each value share its weight so that
    ``sum_i w_i b_i`` is the value; values outside the bins are clipped to the first or last bin.

    :param values: any shape ``S``, in the space of the bins
    :param bins: ``(K,)`` increasing bin positions
    :return: ``(*S, K)`` non-negative weights summing to 1 over the last dimension
    """
    if bins.ndim != 1 or bins.numel() < 2:
        raise ValueError(f"twohot_encode needs a 1-D tensor of at least 2 bins, got shape {tuple(bins.shape)}.")
    bins = bins.to(values.device, values.dtype)
    values = values.clamp(bins[0], bins[-1])
    # Index of the bin below each value (the last but one for the top edge, where the weight goes to the last bin).
    below = (th.searchsorted(bins, values.contiguous(), right=True) - 1).clamp(0, bins.numel() - 2)
    low, high = bins[below], bins[below + 1]
    weight_high = (values - low) / (high - low)
    encoding = values.new_zeros(*values.shape, bins.numel())
    encoding.scatter_(-1, below.unsqueeze(-1), (1.0 - weight_high).unsqueeze(-1))
    encoding.scatter_add_(-1, (below + 1).unsqueeze(-1), weight_high.unsqueeze(-1))
    return encoding


def twohot_decode(probs: th.Tensor, bins: th.Tensor) -> th.Tensor:
    """
    Expected bin position ``sum_i p_i b_i`` of distributions (or two-hot weights) over ``bins``.

    :param probs: ``(*S, K)`` probabilities
    :param bins: ``(K,)`` bin positions
    :return: ``(*S,)`` expected positions
    """
    return probs @ bins.to(probs.device, probs.dtype)


def encode_symlog_twohot(values: th.Tensor, bins: th.Tensor) -> th.Tensor:
    """
    Two-hot targets of ``symlog(values)`` (DreamerV3's targets of the reward predictor and the critic).

    :param values: any shape ``S``, raw scalars (e.g. rewards)
    :param bins: ``(K,)`` bins in symlog space (:func:`symlog_bins`)
    :return: ``(*S, K)`` two-hot weights
    """
    return twohot_encode(symlog(values.float()), bins)


def decode_symlog_twohot(logits: th.Tensor, bins: th.Tensor) -> th.Tensor:
    """
    DreamerV3's prediction from logits over symlog bins: ``symexp(sum_i softmax(logits)_i b_i)``.

    :param logits: ``(*S, K)`` logits over the bins
    :param bins: ``(K,)`` bins in symlog space (:func:`symlog_bins`)
    :return: ``(*S,)`` predicted raw scalars
    """
    return symexp(twohot_decode(logits.float().softmax(-1), bins))
