"""
A learning curve of JEDI with its default hyper-parameters on one task and seed: evaluation returns every
``--eval-every`` env steps, written to a JSON record with the commit, versions, seed, steps and minutes.

    python benchmarks/learning_curve.py --env Acrobot-v1 --seed 0 --steps 30000 --json /tmp/acrobot_0.json
    python benchmarks/learning_curve.py --env CartPole-v1 --pixels 64 --preset cpu --steps 50000 --json /tmp/pixel_0.json
    python benchmarks/learning_curve.py --env LunarLander-v3 --seed 1 --steps 100000 --log-dir /tmp/ll_1
    python benchmarks/learning_curve.py --atari Pong --preset cpu --seed 0 --steps 50000 --eval-every 10000 \
        --eval-episodes 3 --json /tmp/pong_0.json

``--log-dir`` writes the SB3 logger's CSV and TensorBoard files there (training losses and the world-model
diagnostics every ``wm_log_interval`` epochs) without changing any hyper-parameter, so a curve that falls can be read
against its latent health and open-loop error.

``MlpPolicy`` on the env's vector observations, or with ``--pixels SIZE`` ``CnnPolicy`` on its rendered frames
(:func:`sb3_jedi.envs.make_pixel_env`), or with ``--atari GAME`` (instead of ``--env``) ``CnnPolicy`` on an Atari game
under the Atari100k protocol of DIAMOND and JEDI (:func:`sb3_jedi.envs.make_atari100k_env`: 64x64 RGB frames, frame
skip 4, no sticky actions; losing a life ends a training episode, the evaluation env plays whole games), optionally
with a named preset (:func:`sb3_jedi.presets.get_preset`). An Atari record says ``"atari": "Atari100k"`` and holds the
game's random and human scores (``reference_scores``, the denominators of the human-normalised score) for the 26
Atari100k games.
Evaluation: ``--eval-episodes`` episodes with deterministic actions on a separate env seeded ``10_000 + seed``
(SB3's ``evaluate_policy``), and as many with actions sampled from the policy (``mean_sampled``, DIAMOND's
protocol). One torch thread. The record is rewritten after every evaluation (``"complete": false`` until the run
ends), so a run stopped early still leaves its curve so far.

An Atari evaluation episode is a whole game, up to 108,000 frames (27,000 agent steps; a game of Pong that the agent
loses 0-21 takes about 900), played twice per episode asked (deterministic and sampled): on a CPU, 3 to 5
``--eval-episodes`` every 10,000 steps keep evaluation a small part of the run. ``--eval-max-episode-frames`` lowers the
evaluation games' frame cap, for quick checks only (the record keeps it).
"""

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch as th
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import VecEnv

from sb3_jedi import JEDI
from sb3_jedi.benchmarks.curves import (
    ATARI_MAX_EPISODE_FRAMES,
    CurveCallback,
    CurveRecord,
    add_observation_arguments,
    atari_fields,
    learn_curve,
    task_and_policy,
)
from sb3_jedi.presets import with_preset
from sb3_jedi.run_info import source_commit


class SampledCurveCallback(CurveCallback):
    """
    :class:`~sb3_jedi.benchmarks.curves.CurveCallback` that also evaluates with actions sampled from the policy
    (``mean_sampled``, ``std_sampled``).
    """

    def extra_measures(self) -> dict[str, Any]:
        # The actor is trained as a stochastic policy in imagination, and DIAMOND evaluates by sampling from it: the
        # sampled policy's returns are recorded beside the deterministic ones the README quotes (SB3's default).
        sampled, _ = evaluate_policy(
            self.model, self.eval_env, n_eval_episodes=self.n_episodes, deterministic=False, return_episode_rewards=True
        )
        return {"mean_sampled": float(np.mean(sampled)), "std_sampled": float(np.std(sampled))}


def make_envs(
    env_id: str,
    seed: int,
    pixels: int | None,
    atari: bool = False,
    eval_max_episode_frames: int | None = ATARI_MAX_EPISODE_FRAMES,
) -> tuple[VecEnv, VecEnv]:
    """
    The training env and the evaluation env (seeded ``10_000 + seed``): vectors, frames of ``pixels`` pixels, or (with
    ``atari``) the Atari100k protocol's training env (life loss ends an episode) and evaluation env (whole games, cut at
    ``eval_max_episode_frames`` emulator frames).
    """
    if atari:
        from sb3_jedi.envs import make_atari100k_env

        env = make_atari100k_env(env_id, seed=seed, training=True)
        eval_env = make_atari100k_env(env_id, seed=10_000 + seed, training=False, max_episode_frames=eval_max_episode_frames)
        return env, eval_env
    if pixels is None:
        return make_vec_env(env_id, n_envs=1, seed=seed), make_vec_env(env_id, n_envs=1, seed=10_000 + seed)
    from sb3_jedi.envs import make_pixel_env

    return make_pixel_env(env_id, size=pixels, seed=seed), make_pixel_env(env_id, size=pixels, seed=10_000 + seed)


# JEDI arguments that only say how often to log, not how to train: the world-model diagnostics run on random streams
# of their own and leave training bit-identical (tests/test_callbacks.py::test_measuring_leaves_training_unchanged).
LOGGING_OPTIONS = ("wm_log_interval",)


def split_logging_options(kwargs: dict[str, Any]) -> dict[str, Any]:
    """
    The record's ``hyperparameters`` (``"defaults"`` when none is set) and ``logging`` fields from a run's JEDI
    keyword arguments: logging options are not hyper-parameters, so a run of the defaults that logs more often is
    still a run of the defaults.

    :param kwargs: the JEDI keyword arguments of the run
    :return: ``{"hyperparameters": ..., "logging": ...}``
    """
    hyperparameters = {key: value for key, value in kwargs.items() if key not in LOGGING_OPTIONS}
    logging = {key: value for key, value in kwargs.items() if key in LOGGING_OPTIONS}
    return {"hyperparameters": hyperparameters or "defaults", "logging": logging}


def run(
    env_id: str,
    seed: int,
    steps: int,
    eval_every: int,
    eval_episodes: int,
    kwargs: dict[str, Any],
    pixels: int | None = None,
    preset: str | None = None,
    out: Path | None = None,
    log_dir: Path | None = None,
    atari: bool = False,
    eval_max_episode_frames: int | None = ATARI_MAX_EPISODE_FRAMES,
) -> dict:
    """
    Train JEDI for ``steps`` env steps, evaluating every ``eval_every`` steps, and return the record.

    :param env_id: a gymnasium id, or with ``atari`` an Atari game (``"Pong"``, ``"ALE/Pong-v5"``)
    :param seed: seed of JEDI and the training env; the evaluation env gets ``10_000 + seed``
    :param steps: env steps to train for
    :param eval_every: env steps between evaluations
    :param eval_episodes: episodes per evaluation, deterministic and sampled each
    :param kwargs: JEDI keyword arguments, over the preset's
    :param pixels: learn from ``pixels x pixels`` rendered frames with ``CnnPolicy``; None for the vector observations
    :param preset: a named preset of :mod:`sb3_jedi.presets`, or None
    :param out: where to (re)write the record after every evaluation; None to write nothing
    :param log_dir: where the SB3 logger writes its CSV and TensorBoard files; None for none
    :param atari: ``env_id`` is an Atari game, learnt with ``CnnPolicy`` under the Atari100k protocol
    :param eval_max_episode_frames: Atari only: emulator frames after which an evaluation game is cut (the protocol's
        108,000; lower only for quick checks)
    :return: the record
    """
    commit = source_commit(__file__)  # the code that runs: read before training, while the tree may change
    env_id, policy = task_and_policy(env_id, pixels, atari)
    th.set_num_threads(1)
    settings = with_preset(preset, kwargs)
    env, eval_env = make_envs(env_id, seed, pixels, atari, eval_max_episode_frames)
    model = JEDI(policy, env, seed=seed, **settings)
    if log_dir is not None:
        from stable_baselines3.common.logger import configure

        model.set_logger(configure(str(log_dir), ["csv", "tensorboard"]))
    header = {
        "env": env_id,
        "policy": policy,
        "pixels": pixels,
        **(atari_fields(env_id, eval_max_episode_frames) if atari else {"atari": None}),
        "seed": seed,
        "steps": steps,
        "preset": preset,
        **split_logging_options(kwargs),
        "eval_episodes": eval_episodes,
    }

    writer = CurveRecord(header, commit, out)
    callback = SampledCurveCallback(eval_env, eval_every, eval_episodes, on_point=writer.write)
    return learn_curve(model, steps, callback, writer)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="CartPole-v1", help="a gymnasium id (ignored with --atari)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=30_000)
    parser.add_argument("--eval-every", type=int, default=2_500)
    parser.add_argument("--eval-episodes", type=int, default=10, help="per evaluation (Atari on a CPU: 3 to 5)")
    parser.add_argument("--kwargs", default="{}", help="JSON dict of JEDI keyword arguments (default: none)")
    add_observation_arguments(parser)
    parser.add_argument("--preset", default=None, help="a named preset of sb3_jedi.presets (e.g. cpu)")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--log-dir", type=Path, default=None, help="write the SB3 logger's CSV and TensorBoard here")
    args = parser.parse_args()
    record = run(
        args.atari or args.env,
        args.seed,
        args.steps,
        args.eval_every,
        args.eval_episodes,
        json.loads(args.kwargs),
        pixels=args.pixels,
        preset=args.preset,
        out=args.json,
        log_dir=args.log_dir,
        atari=args.atari is not None,
        eval_max_episode_frames=args.eval_max_episode_frames,
    )
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
