"""
Does the world model imagine episode ends that the real task would not have? Train JEDI's world model alone on random
data of a vector task, and after each number of updates in ``--updates`` compare, along open-loop rollouts with the
real actions, the termination rate on imagined states with the rate on the real states and in the data
(:func:`sb3_jedi.diagnostics.open_loop_terminations`), next to the open-loop prediction ratio.

    python benchmarks/imagined_terminations.py --env Acrobot-v1 --random-steps 10000 --action-repeat 4 --updates 800 3000

Random actions are held for ``--action-repeat`` steps, so that a sparse goal (Acrobot's) is reached now and then.
Writes ``benchmarks/results/imagined_terminations_<env>.json`` or ``--json`` (with the commit, settings and minutes).
"""

import argparse
import json
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch as th

from sb3_jedi import JEDI
from sb3_jedi.diagnostics import open_loop_prediction, open_loop_terminations
from sb3_jedi.run_info import library_versions, source_commit

HERE = Path(__file__).resolve().parent


def fill_with_random_data(model: JEDI, env_id: str, steps: int, repeat: int, seed: int) -> dict[str, int]:
    """Store ``steps`` transitions of random actions, each held for ``repeat`` steps; count the episodes' ends."""
    env = gym.make(env_id)
    rng = np.random.default_rng(seed)
    stored = terminations = truncations = 0
    while stored < steps:
        obs, _ = env.reset(seed=int(rng.integers(2**31)))
        done, t, action = False, 0, 0
        while not done and stored < steps:
            if t % repeat == 0:
                action = int(rng.integers(env.action_space.n))
            next_obs, reward, terminated, truncated, _ = env.step(action)
            model.replay_buffer.add(
                obs[None],
                np.array([action]),
                np.array([reward]),
                np.array([terminated]),
                np.array([truncated]),
                next_obs[None],
            )
            stored, t, obs = stored + 1, t + 1, next_obs
            terminations, truncations = terminations + int(terminated), truncations + int(truncated)
            done = terminated or truncated
    return {"transitions": stored, "terminations": terminations, "truncations": truncations}


def measure(model: JEDI, n_batches: int, horizon: int, seed: int) -> dict[str, float]:
    """Means over ``n_batches`` batches of training segments, drawn as the world model's training draws them."""
    world_model = model.policy.world_model
    rng = np.random.default_rng(seed)
    totals: dict[str, list[float]] = {}
    for _ in range(n_batches):
        batch = model.replay_buffer.sample_segments(model.batch_size, world_model.n_cond_steps + horizon, rng)
        with th.no_grad():
            open_loop = open_loop_prediction(world_model, batch, horizon)
            values = {"open_loop_mse_ratio": open_loop["mse_ratio"], **open_loop_terminations(world_model, batch, open_loop)}
        for key, value in values.items():
            totals.setdefault(key, []).append(value)
    return {key: float(np.mean(values)) for key, values in totals.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="Acrobot-v1")
    parser.add_argument("--random-steps", type=int, default=10_000)
    parser.add_argument("--action-repeat", type=int, default=4)
    parser.add_argument("--updates", type=int, nargs="+", default=[800, 3000], help="measure after this many updates")
    parser.add_argument("--batches", type=int, default=8, help="batches of segments per measurement")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kwargs", default="{}", help="JSON dict of JEDI keyword arguments")
    parser.add_argument("--json", type=Path, default=None, help="default: results/imagined_terminations_<env>.json")
    args = parser.parse_args()
    kwargs = json.loads(args.kwargs)
    commit = source_commit(__file__)
    th.set_num_threads(1)
    model = JEDI("MlpPolicy", args.env, seed=args.seed, wm_log_interval=None, **kwargs)
    model.learn(0)  # sets up the logger and the replay buffer
    data = fill_with_random_data(model, args.env, args.random_steps, args.action_repeat, args.seed)
    print("data:", data, flush=True)
    start, done, points = time.perf_counter(), 0, []
    for target in sorted(args.updates):
        while done < target:
            model.train_world_model(model.batch_size)
            done += 1
        point = {"updates": done, **measure(model, args.batches, model.imagination_horizon, args.seed)}
        point["minutes"] = round((time.perf_counter() - start) / 60, 2)
        points.append(point)
        print(json.dumps(point), flush=True)
    record = {
        "env": args.env,
        "policy": "MlpPolicy",
        "seed": args.seed,
        "random_steps": args.random_steps,
        "action_repeat": args.action_repeat,
        "data": data,
        "hyperparameters": kwargs or "defaults",
        "horizon": model.imagination_horizon,
        "points": points,
        "commit": commit,
        "versions": library_versions(),
    }
    out = args.json if args.json is not None else HERE / "results" / f"imagined_terminations_{args.env}.json"
    out.write_text(json.dumps(record, indent=2) + "\n")
    print("wrote", out)


if __name__ == "__main__":
    main()
