"""
The Atari100k evaluation protocol: final scores of a trained agent, as DIAMOND measures them.

DIAMOND (``config/trainer.yaml``, ``collection.test``) ends training with 100 test episodes
(``num_final_episodes: 100``) on an env that does not end episodes on life loss (``done_on_life_loss: False``), with
``epsilon: 0.0``: no random actions, but the actions are still *sampled* from the policy's distribution (its test
collector draws ``Categorical(logits).sample()`` and only then applies epsilon). Hence the defaults here:
100 episodes, ``deterministic=False``; pass ``deterministic=True`` for greedy (arg-max) play.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, cast

import numpy as np
import torch as th
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.type_aliases import PolicyPredictor

from sb3_jedi.envs.atari import make_atari100k_env, resolve_atari_game
from sb3_jedi.evaluation.reference import canonical_game_name, human_normalized_score

__all__ = ["DIAMOND_FINAL_EPISODES", "EvaluationResult", "evaluate_atari100k"]

#: Episodes of DIAMOND's final evaluation (``collection.test.num_final_episodes``).
DIAMOND_FINAL_EPISODES = 100


@dataclass(frozen=True)
class EvaluationResult:
    """
    Scores of an agent's evaluation episodes on one game.

    :param game: the ALE game name
    :param episode_scores: game score of each episode (whole games: every life, the true score from ``Monitor``)
    :param episode_lengths: agent steps of each episode
    :param mean: mean score
    :param std: standard deviation of the scores (population, ``ddof=0``)
    :param hns: human-normalised mean score (``None`` for games outside Atari100k)
    :param n_episodes: number of episodes
    :param deterministic: greedy actions (True) or actions sampled from the policy (False, DIAMOND's setting)
    :param seed: seed of the evaluation env and of the action sampling
    :param max_episode_frames: emulator frames after which an episode was truncated
    :param wall_time_s: seconds the evaluation took
    """

    game: str
    episode_scores: list[float] = field(default_factory=list)
    episode_lengths: list[int] = field(default_factory=list)
    mean: float = float("nan")
    std: float = float("nan")
    hns: float | None = None
    n_episodes: int = 0
    deterministic: bool = False
    seed: int | None = None
    max_episode_frames: int | None = None
    wall_time_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python form (JSON-serialisable)."""
        return asdict(self)


def _check_positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
    return int(value)


def evaluate_atari100k(
    model: PolicyPredictor,
    game: str,
    n_episodes: int = DIAMOND_FINAL_EPISODES,
    seed: int | None = 0,
    deterministic: bool = False,
    n_envs: int = 1,
    max_episode_frames: int | None = 108_000,
) -> EvaluationResult:
    """
    Evaluate an agent on an Atari game under the Atari100k protocol (DIAMOND's final evaluation by default).

    The env is :func:`sb3_jedi.envs.make_atari100k_env` with ``training=False``: 64x64 RGB frames, frame skip 4, up
    to 30 no-ops on reset, no sticky actions, and only game over (or the 108,000-frame cap) ends an episode, so each
    score is a whole game's. Scores come from ``Monitor`` through stable-baselines3's ``evaluate_policy``, which also
    passes the recurrent state and ``episode_start`` to ``predict``.

    Defaults follow DIAMOND's final evaluation (``config/trainer.yaml``: ``num_final_episodes: 100``,
    ``epsilon: 0.0``): 100 episodes with actions *sampled* from the policy (``deterministic=False``), no epsilon
    noise. Set ``deterministic=True`` for greedy play.

    :param model: any model with ``predict(obs, state, episode_start, deterministic)`` (sb3-jedi's ``JEDI``,
        stable-baselines3's or sb3-contrib's algorithms) trained on 64x64 RGB frames of this game
    :param game: game name or id (``"Pong"``, ``"ALE/Pong-v5"``, ``"PongNoFrameskip-v4"``)
    :param n_episodes: evaluation episodes (DIAMOND: 100)
    :param seed: seeds the env (sub-env ``i`` gets ``seed + i``) and the action sampling; the global torch random
        state is restored afterwards. ``None``: unseeded
    :param deterministic: greedy actions (True) or actions sampled from the policy (False, DIAMOND)
    :param n_envs: parallel evaluation envs (1 as DIAMOND; more is faster for batched models, and
        ``evaluate_policy`` spreads the episodes evenly over them)
    :param max_episode_frames: emulator frames after which an episode is truncated (protocol: 108,000, i.e. 30 minutes
        of play); lower it only for quick checks, it cuts scores short
    :return: per-episode scores and lengths, their mean and standard deviation, and the human-normalised mean
    """
    n_episodes = _check_positive_int("n_episodes", n_episodes)
    n_envs = _check_positive_int("n_envs", n_envs)
    ale_game = resolve_atari_game(game)
    env = make_atari100k_env(ale_game, n_envs=n_envs, seed=seed, training=False, max_episode_frames=max_episode_frames)
    device = getattr(model, "device", th.device("cpu"))
    cuda_devices = [th.device(device).index or 0] if th.device(device).type == "cuda" else []
    start = time.perf_counter()
    try:
        # A private random stream for the sampled actions: reproducible, and the caller's torch state is untouched.
        with th.random.fork_rng(devices=cuda_devices):
            if seed is not None:
                th.manual_seed(seed)
            # Per-episode lists with return_episode_rewards=True (SB3 types both of its return forms as one).
            scores, lengths = cast(
                tuple[list[float], list[int]],
                evaluate_policy(
                    model,
                    env,
                    n_eval_episodes=n_episodes,
                    deterministic=deterministic,
                    return_episode_rewards=True,
                    warn=False,
                ),
            )
    finally:
        env.close()
    wall_time = time.perf_counter() - start
    scores_array = np.asarray(scores, dtype=np.float64)
    mean = float(scores_array.mean())
    try:
        hns: float | None = float(human_normalized_score(canonical_game_name(ale_game), mean))
    except ValueError:  # an ALE game outside Atari100k has no reference scores
        hns = None
    return EvaluationResult(
        game=ale_game,
        episode_scores=[float(s) for s in scores_array],
        episode_lengths=[int(n) for n in lengths],
        mean=mean,
        std=float(scores_array.std()),
        hns=hns,
        n_episodes=n_episodes,
        deterministic=bool(deterministic),
        seed=seed,
        max_episode_frames=max_episode_frames,
        wall_time_s=wall_time,
    )
