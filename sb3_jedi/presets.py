"""
Named sets of JEDI hyper-parameters, for settings other than the paper's.

A preset is a dict of keyword arguments of :class:`~sb3_jedi.jedi.JEDI`; everything it leaves out keeps the policy's
default (for ``CnnPolicy``, the paper's Atari100k setting, :data:`~sb3_jedi.jedi.ATARI_DEFAULTS`). A preset changes
only network sizes and the training schedule: the method and its code path stay the paper's. Use one by unpacking it,
and override any of its values with ordinary keyword arguments (a key given again replaces the preset's whole value,
``policy_kwargs`` included)::

    from sb3_jedi import JEDI
    from sb3_jedi.envs import make_pixel_env
    from sb3_jedi.presets import get_preset

    model = JEDI("CnnPolicy", make_pixel_env("CartPole-v1"), **get_preset("cpu"))
    model = JEDI("CnnPolicy", make_pixel_env("CartPole-v1"), **{**get_preset("cpu"), "batch_size": 8})

From the command line: ``sb3-jedi train CartPole-v1 --pixels 64 --preset cpu --threads 1``.

Presets:

- ``"cpu"``: ``CnnPolicy`` on a CPU, sized so that a 50k-step run on 64x64 frames of a classic-control task
  (:func:`~sb3_jedi.envs.make_pixel_env`) takes under an hour on one idle CPU core (``benchmarks/cpu_preset_timing.py``
  measures it). Networks about 20x smaller than the paper's (0.66M parameters against 13M): a narrow encoder to 8x8x8
  latents, a one-stage U-Net of 32 channels with one block per level and no attention, and small reward/termination
  and actor-critic networks. Each epoch of 100 env steps trains on batches of 16 segments, 4 world-model and 4 actor-critic
  updates (the paper: 32, 400 and 400); training starts after 1,000 random steps, whatever the rewards (classic-control
  rewards all share one sign, so waiting for rewards of another sign would only double the random steps).
"""

import copy
from typing import Any

__all__ = ["PRESETS", "PRESET_POLICIES", "get_preset", "with_preset"]

#: The presets by name: keyword arguments of :class:`~sb3_jedi.jedi.JEDI` (use :func:`get_preset` for a copy).
PRESETS: dict[str, dict[str, Any]] = {
    "cpu": {
        "batch_size": 16,
        "gradient_steps": 4,
        # -1: as many actor-critic updates as world-model ones, so that overriding gradient_steps sizes both; the
        # first epoch keeps DIAMOND's ratios (25x and 12.5x: 100 and 50 updates).
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
    },
}

#: The policy each preset is made for.
PRESET_POLICIES: dict[str, str] = {"cpu": "CnnPolicy"}


def get_preset(name: str) -> dict[str, Any]:
    """
    The keyword arguments of :class:`~sb3_jedi.jedi.JEDI` of a named preset, as a fresh copy (changing it changes
    neither :data:`PRESETS` nor the next call's result): ``JEDI("CnnPolicy", env, **get_preset("cpu"))``.

    :param name: the preset's name, a key of :data:`PRESETS` (``"cpu"``)
    :return: a deep copy of the preset's keyword arguments
    """
    if not isinstance(name, str) or name not in PRESETS:
        raise ValueError(f"Unknown preset {name!r}: the presets are {', '.join(map(repr, sorted(PRESETS)))}.")
    return copy.deepcopy(PRESETS[name])


def with_preset(name: str | None, overrides: dict[str, Any]) -> dict[str, Any]:
    """
    Keyword arguments of :class:`~sb3_jedi.jedi.JEDI`: a named preset's, with ``overrides`` on top. A key given in
    ``overrides`` replaces the preset's whole value (``policy_kwargs`` included), as for keyword arguments written
    after ``**get_preset(name)``.

    :param name: the preset's name (:func:`get_preset`), or None for no preset
    :param overrides: keyword arguments that win over the preset's
    :return: a new dict: the preset's arguments (a fresh copy) updated with ``overrides``
    """
    return {**(get_preset(name) if name is not None else {}), **overrides}
