"""
How well does the world model alone learn, setting by setting? Train only the world model (encoder, denoiser,
reward/termination model) on one fixed buffer of random-action data, and follow its open-loop prediction on held-out
replay segments: no actor, no changing data, so settings compare on equal footing in minutes rather than in whole
learning runs.

Each variant is a JSON dict of JEDI keyword arguments on top of the base (``--preset`` and ``--kwargs``); a variant's
``"policy_kwargs"`` entries update the base's ``policy_kwargs`` key by key (``{"policy_kwargs": {"edm_kwargs":
{"sigma_data": 0.1}}}`` keeps the preset's network sizes). Every variant trains from the same buffer (collected with
the same seed), draws its batches with the same seed and is measured on the same held-out segments.

    python benchmarks/offline_world_model.py --env CartPole-v1 --pixels 64 --preset cpu \
        --kwargs '{"learning_rate": 0.001}' --variants '[{}, {"policy_kwargs": {"edm_kwargs": {"sigma_data": 0.1}}}]' \
        --updates 400 --json benchmarks/results/experiments/pixel_cartpole/offline_world_model_sigma_data.json

Printed and recorded after every ``--eval-every`` updates: the denoising loss, the open-loop ratio (the latent MSE of
10 imagined steps against the MSE of repeating the last real latent: below 1, the model predicts motion), the model's
and the copy baseline's MSE, the mean per-dimension spread of the latents and their effective rank.
"""

import argparse
import copy
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch as th
from stable_baselines3.common.env_util import make_vec_env

from sb3_jedi import JEDI
from sb3_jedi.diagnostics import latent_health, open_loop_prediction
from sb3_jedi.envs import make_pixel_env
from sb3_jedi.presets import with_preset
from sb3_jedi.run_info import library_versions, source_commit

OPEN_LOOP_HORIZON = 10
HELD_OUT_SEGMENTS = 256


def merge_variant(base: dict[str, Any], variant: dict[str, Any]) -> dict[str, Any]:
    """
    JEDI keyword arguments of one variant: ``base`` with ``variant`` on top, ``policy_kwargs`` merged key by key.

    :param base: the base keyword arguments (a preset and ``--kwargs``)
    :param variant: the variant's keyword arguments
    :return: a new dict (neither argument is changed)
    """
    merged = {**copy.deepcopy(base), **copy.deepcopy({k: v for k, v in variant.items() if k != "policy_kwargs"})}
    if "policy_kwargs" in variant:
        merged["policy_kwargs"] = {**merged.get("policy_kwargs", {}), **copy.deepcopy(variant["policy_kwargs"])}
    return merged


def make_model(args: argparse.Namespace, kwargs: dict[str, Any]) -> JEDI:
    policy = "CnnPolicy" if args.pixels else "MlpPolicy"
    env = make_pixel_env(args.env, size=args.pixels, seed=args.seed) if args.pixels else make_vec_env(args.env, seed=args.seed)
    # Collection only: learning never starts, so every variant sees the same random-action buffer.
    return JEDI(policy, env, seed=args.seed, **{**kwargs, "learning_starts": 10**9, "initial_exploration": "uniform"})


def train_variant(args: argparse.Namespace, kwargs: dict[str, Any]) -> list[dict[str, float]]:
    """Collect the buffer, train the world model ``args.updates`` times and measure it every ``args.eval_every``."""
    model = make_model(args, kwargs)
    model.learn(args.collect_steps)
    world_model = model.policy.world_model
    held_out = model.replay_buffer.sample_segments(
        HELD_OUT_SEGMENTS, world_model.n_cond_steps + OPEN_LOOP_HORIZON, np.random.default_rng(args.seed + 1)
    )
    curve = []
    cpu_start = time.process_time()
    for update in range(1, args.updates + 1):
        logs = model.train_world_model(args.batch_size)
        if update % args.eval_every == 0 or update == args.updates:
            open_loop = open_loop_prediction(world_model, held_out, OPEN_LOOP_HORIZON)
            with th.no_grad():
                states = world_model.encode_segments(held_out)[:, world_model.n_cond_steps - 1]
            health = latent_health(states)
            point = {
                "updates": update,
                "denoising_loss": float(logs.get("denoising_loss", float("nan"))),
                "open_loop_mse_ratio": float(open_loop["mse_ratio"]),
                "open_loop_mse_ratio_last": float(open_loop["mse_ratio_last"]),
                "open_loop_latent_mse": float(open_loop["latent_mse"]),
                "open_loop_copy_mse": float(open_loop["copy_mse"]),
                "latent_mean_std": health["mean_std"],
                "latent_effective_rank": health["effective_rank"],
                "cpu_seconds": time.process_time() - cpu_start,
            }
            curve.append(point)
            print(
                f"  {update:6d} updates: denoising loss {point['denoising_loss']:.4f}, open-loop ratio "
                f"{point['open_loop_mse_ratio']:.3f} (last step {point['open_loop_mse_ratio_last']:.3f}), latent std "
                f"{point['latent_mean_std']:.4f}, rank {point['latent_effective_rank']:.1f}",
                flush=True,
            )
    return curve


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--pixels", type=int, default=0, help="frame size of make_pixel_env (0: the env's vectors)")
    parser.add_argument("--preset", default=None)
    parser.add_argument("--kwargs", default="{}", help="JSON dict of JEDI keyword arguments shared by every variant")
    parser.add_argument("--variants", default="[{}]", help="JSON list of dicts of JEDI keyword arguments")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--collect-steps", type=int, default=4_000, help="random-action env steps in the buffer")
    parser.add_argument("--updates", type=int, default=400)
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    th.set_num_threads(args.threads)
    base = with_preset(args.preset, json.loads(args.kwargs))
    variants = json.loads(args.variants)
    if not isinstance(variants, list) or not all(isinstance(v, dict) for v in variants):
        raise ValueError(f"--variants must be a JSON list of dicts, got {args.variants!r}.")
    record: dict[str, Any] = {
        "env": args.env,
        "pixels": args.pixels,
        "preset": args.preset,
        "kwargs": json.loads(args.kwargs),
        "seed": args.seed,
        "collect_steps": args.collect_steps,
        "batch_size": args.batch_size,
        "open_loop_horizon": OPEN_LOOP_HORIZON,
        "held_out_segments": HELD_OUT_SEGMENTS,
        "threads": args.threads,
        "variants": [],
        "commit": source_commit(Path(__file__)),
        "versions": library_versions(),
    }
    for variant in variants:
        print(f"variant {json.dumps(variant)}", flush=True)
        record["variants"].append({"variant": variant, "curve": train_variant(args, merge_variant(base, variant))})
        if args.json is not None:  # rewritten after each variant, so that a long run keeps what it measured
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(record, indent=1) + "\n")
    return record


if __name__ == "__main__":
    main()
