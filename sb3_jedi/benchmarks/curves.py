"""
Learning curves as the repository's curve scripts record them (``benchmarks/learning_curve.py`` for JEDI,
``benchmarks/baseline_curve.py`` for Stable-Baselines3's own algorithms): a callback that evaluates the policy during
training, and the JSON record of its points, rewritten after every evaluation so that a run stopped early still leaves
its curve so far.

A point of the curve is, in this order: ``steps``, ``mean`` and ``std`` of the deterministic evaluation returns, any
measures a subclass adds (:meth:`CurveCallback.extra_measures`), ``train_minutes`` (training time without evaluation
time), ``train_episodes`` and ``train_return_last_10`` (the mean return of the last 10 training episodes, or None
before the first). A record is its header, then ``curve``, ``final_mean``, ``train_minutes``, ``complete``, ``commit``
and ``versions`` (:meth:`CurveRecord.record`). The scripts' records, and the readers of them, rely on these keys and
their order.
"""

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import VecEnv

from sb3_jedi.evaluation.reference import canonical_game_name, reference_scores
from sb3_jedi.run_info import library_versions

__all__ = [
    "ATARI_MAX_EPISODE_FRAMES",
    "CurveCallback",
    "CurveRecord",
    "add_observation_arguments",
    "atari_fields",
    "learn_curve",
    "task_and_policy",
]

# The Atari100k protocol's cap on a game: 108,000 emulator frames (30 minutes of play, 27,000 agent steps).
ATARI_MAX_EPISODE_FRAMES = 108_000


def atari_fields(game: str, eval_max_episode_frames: int | None) -> dict[str, Any]:
    """
    The keys of an Atari learning record: the protocol, the evaluation games' frame cap, and the random and human
    scores of the game (None for an ALE game outside the 26 of Atari100k, which have no reference scores).

    :param game: the ALE game name (``"Pong"``)
    :param eval_max_episode_frames: emulator frames after which an evaluation game is cut
    :return: ``atari``, ``eval_max_episode_frames`` and ``reference_scores``
    """
    try:
        reference = reference_scores()[canonical_game_name(game)]
    except ValueError:
        reference = None
    return {"atari": "Atari100k", "eval_max_episode_frames": eval_max_episode_frames, "reference_scores": reference}


def add_observation_arguments(parser: argparse.ArgumentParser) -> None:
    """
    The learning-curve scripts' options for what the agent sees: ``--pixels SIZE`` (a task's rendered frames) or
    ``--atari GAME`` (an Atari game under the Atari100k protocol), and the evaluation games' frame cap of Atari.

    :param parser: the script's parser
    """
    frames = parser.add_mutually_exclusive_group()
    frames.add_argument("--pixels", type=int, default=None, help="learn from SIZE x SIZE frames with CnnPolicy")
    frames.add_argument("--atari", default=None, metavar="GAME", help="learn an Atari game (Atari100k protocol)")
    parser.add_argument(
        "--eval-max-episode-frames",
        type=int,
        default=ATARI_MAX_EPISODE_FRAMES,
        help="Atari: frame cap of evaluation games (default: the protocol's 108,000; lower only for quick checks)",
    )


def task_and_policy(env_id: str, pixels: int | None, atari: bool) -> tuple[str, str]:
    """
    The env a learning-curve script trains on, as its record names it, and the SB3 policy that learns it: the gymnasium
    id with ``MlpPolicy`` (vectors) or ``CnnPolicy`` (``pixels``), or the ALE game name (``"Pong"``, as the reference
    score tables name it) with ``CnnPolicy`` (``atari``).

    :param env_id: a gymnasium id, or with ``atari`` an Atari game (``"Pong"``, ``"ALE/Pong-v5"``)
    :param pixels: side of the rendered frames to learn from, or None
    :param atari: ``env_id`` is an Atari game, learnt under the Atari100k protocol
    :return: ``(env_id, policy)``
    """
    if atari and pixels is not None:
        raise ValueError("Choose one of `atari` and `pixels`: an Atari game's frames are the protocol's 64x64 RGB.")
    if atari:
        from sb3_jedi.envs import resolve_atari_game

        return resolve_atari_game(env_id), "CnnPolicy"
    return env_id, "MlpPolicy" if pixels is None else "CnnPolicy"


@dataclass(frozen=True)
class CurveRecord:
    """
    The JSON record of one learning curve.

    :param header: what the run is (env, policy, seed, steps, hyper-parameters, ...), the record's first keys in order
    :param commit: the commit of the code that runs (:func:`sb3_jedi.run_info.source_commit`, read before training)
    :param out: where :meth:`write` (re)writes the record; None to write nothing
    """

    header: dict[str, Any]
    commit: str
    out: Path | None = None

    def record(self, points: list[dict[str, Any]], complete: bool) -> dict[str, Any]:
        """
        The record of the curve so far.

        :param points: the curve's points, at least one
        :param complete: whether the run has ended
        :return: the header, then ``curve``, ``final_mean``, ``train_minutes``, ``complete``, ``commit`` and
            ``versions``
        """
        return {
            **self.header,
            "curve": points,
            "final_mean": points[-1]["mean"],
            "train_minutes": points[-1]["train_minutes"],
            "complete": complete,
            "commit": self.commit,
            "versions": library_versions(),
        }

    def write(self, points: list[dict[str, Any]], complete: bool = False) -> None:
        """
        (Re)write the record to ``out``, creating its folder, if ``out`` is set.

        :param points: the curve's points, at least one
        :param complete: whether the run has ended (False while it runs, so a stopped run's record says so)
        """
        if self.out is not None:
            self.out.parent.mkdir(parents=True, exist_ok=True)
            self.out.write_text(json.dumps(self.record(points, complete), indent=2) + "\n")


class CurveCallback(BaseCallback):
    """
    Evaluate every ``eval_every`` env steps (when the step count is a multiple of it) with ``n_episodes`` deterministic
    episodes of ``evaluate_policy``; training time excludes evaluation time. Each point is appended to ``points``,
    printed as a JSON line and passed, with the points before it, to ``on_point``.

    Subclasses change when to evaluate (``_on_step``) and fill in the hooks :meth:`before_evaluation`,
    :meth:`extra_measures` and :meth:`episodes_trained`.

    :param eval_env: the evaluation env
    :param eval_every: env steps between evaluations
    :param n_episodes: episodes per evaluation
    :param on_point: called with all the points after each evaluation (e.g. :meth:`CurveRecord.write`)
    """

    def __init__(
        self,
        eval_env: VecEnv,
        eval_every: int,
        n_episodes: int,
        on_point: Callable[[list[dict[str, Any]]], None] | None = None,
    ) -> None:
        super().__init__()
        self.eval_env = eval_env
        self.eval_every = eval_every
        self.n_episodes = n_episodes
        self.on_point = on_point
        self.points: list[dict[str, Any]] = []
        self.eval_seconds = 0.0
        self.start = time.perf_counter()

    def before_evaluation(self) -> None:
        """Called before each evaluation, inside its timing (e.g. to pass normalisation statistics to ``eval_env``)."""

    def extra_measures(self) -> dict[str, Any]:
        """
        Measures to record beside the deterministic returns, inside the evaluation's timing.

        :return: the point's keys after ``std`` (none by default)
        """
        return {}

    def episodes_trained(self) -> int:
        """
        :return: the training episodes finished so far, recorded as ``train_episodes``: by default the model's own
            count, which Stable-Baselines3 keeps for off-policy algorithms only
        """
        return int(self.model._episode_num)

    def evaluate(self, after_training: bool = False) -> None:
        """
        Evaluate the policy now and record the point.

        :param after_training: mark the point ``"after_training": true``: evaluated once ``learn`` returned, after the
            training-only epochs JEDI runs at the end (``final_epochs``), at the same step count as the point before
        """
        start = time.perf_counter()
        self.before_evaluation()
        returns, _ = evaluate_policy(
            self.model, self.eval_env, n_eval_episodes=self.n_episodes, deterministic=True, return_episode_rewards=True
        )
        extra = self.extra_measures()
        self.eval_seconds += time.perf_counter() - start
        minutes = (time.perf_counter() - self.start - self.eval_seconds) / 60
        # What the agent met while training: how many episodes it finished and how the last ones went (e.g. whether
        # a sparse goal was ever reached), next to what its deterministic policy does. Monitor sits under any
        # VecNormalize, so these are the env's own returns, not normalised ones. (The buffer is None only before
        # ``learn`` sets it up.)
        recent = [info["r"] for info in list(self.model.ep_info_buffer or ())[-10:]]
        point = {
            "steps": int(self.num_timesteps),
            "mean": float(np.mean(returns)),
            "std": float(np.std(returns)),
            **extra,
            "train_minutes": round(minutes, 2),
            "train_episodes": self.episodes_trained(),
            "train_return_last_10": float(np.mean(recent)) if recent else None,
            **({"after_training": True} if after_training else {}),
        }
        self.points.append(point)
        print(json.dumps(point), flush=True)
        if self.on_point is not None:
            self.on_point(self.points)

    def _on_step(self) -> bool:
        if self.num_timesteps % self.eval_every == 0:
            self.evaluate()
        return True


def learn_curve(model: BaseAlgorithm, steps: int, callback: CurveCallback, record: CurveRecord) -> dict[str, Any]:
    """
    Train ``model`` with ``callback``, evaluate once more if the last point is not at the model's last step or if JEDI
    trained on after it (its training-only ``final_epochs``, marked ``"after_training"``), and write the record as
    complete.

    :param model: the model to train
    :param steps: the ``total_timesteps`` of ``model.learn``
    :param callback: the curve's callback (its ``on_point`` usually ``record.write``)
    :param record: the curve's record
    :return: the complete record
    """
    model.learn(steps, callback=callback)
    if not callback.points or callback.points[-1]["steps"] != model.num_timesteps:
        callback.evaluate()
    elif getattr(model, "_final_epochs_done", 0) > 0:
        # JEDI trained on after the last evaluation without stepping the env (final_epochs: DIAMOND's 5% of the run
        # for CnnPolicy): the curve ends with the model that learn returned, at the same step count.
        callback.evaluate(after_training=True)
    record.write(callback.points, complete=True)
    return record.record(callback.points, complete=True)
