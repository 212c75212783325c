"""
A learning curve of JEDI with its default hyper-parameters on one task and seed: evaluation returns every
``--eval-every`` env steps, written to a JSON record with the commit, versions, seed, steps and minutes.

    python benchmarks/learning_curve.py --env Acrobot-v1 --seed 0 --steps 30000 --json /tmp/acrobot_0.json
    python benchmarks/learning_curve.py --env CartPole-v1 --pixels 64 --preset cpu --steps 50000 --json /tmp/pixel_0.json
    python benchmarks/learning_curve.py --env LunarLander-v3 --seed 1 --steps 100000 --log-dir /tmp/ll_1

``--log-dir`` writes the SB3 logger's CSV and TensorBoard files there (training losses and the world-model
diagnostics every ``wm_log_interval`` epochs) without changing any hyper-parameter, so a curve that falls can be read
against its latent health and open-loop error.

``MlpPolicy`` on the env's vector observations, or with ``--pixels SIZE`` ``CnnPolicy`` on its rendered frames
(:func:`sb3_jedi.envs.make_pixel_env`), optionally with a named preset (:func:`sb3_jedi.presets.get_preset`).
Evaluation: ``--eval-episodes`` episodes with deterministic actions on a separate env seeded ``10_000 + seed``
(SB3's ``evaluate_policy``), and as many with actions sampled from the policy (``mean_sampled``, DIAMOND's
protocol). One torch thread. The record is rewritten after every evaluation (``"complete": false`` until the run
ends), so a run stopped early still leaves its curve so far.
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
from sb3_jedi.benchmarks.curves import CurveCallback, CurveRecord, learn_curve
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


def make_envs(env_id: str, seed: int, pixels: int | None) -> tuple[VecEnv, VecEnv]:
    """The training env and the evaluation env (seeded ``10_000 + seed``): vectors, or frames of ``pixels`` pixels."""
    if pixels is None:
        return make_vec_env(env_id, n_envs=1, seed=seed), make_vec_env(env_id, n_envs=1, seed=10_000 + seed)
    from sb3_jedi.envs import make_pixel_env

    return make_pixel_env(env_id, size=pixels, seed=seed), make_pixel_env(env_id, size=pixels, seed=10_000 + seed)


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
) -> dict:
    commit = source_commit(__file__)  # the code that runs: read before training, while the tree may change
    th.set_num_threads(1)
    policy = "MlpPolicy" if pixels is None else "CnnPolicy"
    settings = with_preset(preset, kwargs)
    env, eval_env = make_envs(env_id, seed, pixels)
    model = JEDI(policy, env, seed=seed, **settings)
    if log_dir is not None:
        from stable_baselines3.common.logger import configure

        model.set_logger(configure(str(log_dir), ["csv", "tensorboard"]))
    header = {
        "env": env_id,
        "policy": policy,
        "pixels": pixels,
        "seed": seed,
        "steps": steps,
        "preset": preset,
        "hyperparameters": kwargs or "defaults",
        "eval_episodes": eval_episodes,
    }

    writer = CurveRecord(header, commit, out)
    callback = SampledCurveCallback(eval_env, eval_every, eval_episodes, on_point=writer.write)
    return learn_curve(model, steps, callback, writer)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=30_000)
    parser.add_argument("--eval-every", type=int, default=2_500)
    parser.add_argument("--eval-episodes", type=int, default=10)
    parser.add_argument("--kwargs", default="{}", help="JSON dict of JEDI keyword arguments (default: none)")
    parser.add_argument("--pixels", type=int, default=None, help="learn from SIZE x SIZE frames with CnnPolicy")
    parser.add_argument("--preset", default=None, help="a named preset of sb3_jedi.presets (e.g. cpu)")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--log-dir", type=Path, default=None, help="write the SB3 logger's CSV and TensorBoard here")
    args = parser.parse_args()
    record = run(
        args.env,
        args.seed,
        args.steps,
        args.eval_every,
        args.eval_episodes,
        json.loads(args.kwargs),
        pixels=args.pixels,
        preset=args.preset,
        out=args.json,
        log_dir=args.log_dir,
    )
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
