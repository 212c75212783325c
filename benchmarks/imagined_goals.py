"""
Are the terminations the world model imagines on Acrobot-v1 real goals? Trains JEDI ``MlpPolicy`` on Acrobot in
chunks of 1,000 steps and, after each from 4,000 steps on, imagines 512 rollouts of 15 steps from replay states,
decodes every imagined state back to an observation and computes the tip's height (the goal is a height above 1).
It writes, per chunk: the imagined termination probability mass in all and on states above the goal line, the mean
termination probability above and below it, the decoder's height error on real states, the goals in the buffer and
the highest tip the deterministic policy reaches in two real episodes.

    python benchmarks/imagined_goals.py --steps 7000 --json /tmp/imagined_goals.json

The options are those of run G in ``benchmarks/results/experiments/sparse_goals/README.md``. One torch thread.
"""

import argparse
import json
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch as th

from sb3_jedi import JEDI
from sb3_jedi.imagination import imagine

OPTIONS = {
    "initial_exploration": "random_linear",
    "exploration_episodes": 0.25,
    "replay_value_coef": 1.0,
    "policy_kwargs": {"actor_critic_kwargs": {"separate_critic": True}},
    "wm_log_interval": None,
}


def tip_height(obs: np.ndarray) -> np.ndarray:
    """Acrobot's tip height ``-cos(t1) - cos(t1 + t2)`` from observations ``(cos t1, sin t1, cos t2, sin t2, ...)``."""
    c1, s1, c2, s2 = obs[..., 0], obs[..., 1], obs[..., 2], obs[..., 3]
    return -c1 - (c1 * c2 - s1 * s2)


def measure(model: JEDI, steps: int, rng: np.random.Generator) -> dict:
    world_model, actor_critic = model.policy.world_model, model.policy.actor_critic
    with th.no_grad():
        batch = model.replay_buffer.sample_segments(512, world_model.n_cond_steps, rng, transitions_only=True)
        trajectory = imagine(world_model, actor_critic, batch, 15, sample_reward_end=False)
        height = tip_height(world_model.decode(trajectory.states[:, 1:]).numpy())
        p_end = trajectory.ends.numpy()
        real = model.replay_buffer.sample_segments(512, 1, rng, transitions_only=True).observations[:, 0].float()
        decoded = world_model.decode(world_model.encode(real)).numpy()
    above = height > 1.0
    env = gym.make("Acrobot-v1")
    highest = []
    for episode in range(2):
        obs, _ = env.reset(seed=100 + episode)
        state, start, best = None, np.ones((1,), dtype=bool), -2.0
        for _ in range(500):
            action, state = model.predict(obs[None], state=state, episode_start=start, deterministic=True)
            start = np.zeros((1,), dtype=bool)
            obs, _, terminated, truncated, _ = env.step(int(action[0]))
            best = max(best, float(tip_height(obs)))
            if terminated or truncated:
                break
        highest.append(best)
    return {
        "steps": steps,
        "entropy": float(trajectory.entropies.mean()),
        "end_mass": float(p_end.sum()),
        "end_mass_above_goal": float(p_end[above].sum()),
        "imagined_above_goal_frac": float(above.mean()),
        "mean_p_end_above": float(p_end[above].mean()) if above.any() else None,
        "mean_p_end_below": float(p_end[~above].mean()),
        "decoded_height_err": float(np.abs(tip_height(decoded) - tip_height(real.numpy())).mean()),
        "real_goals_in_buffer": int(model.replay_buffer.terminated[: model.replay_buffer.size()].sum()),
        "real_max_height_det": highest,
        "imagined_max_height": float(height.max()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=7_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args()
    th.set_num_threads(1)
    model = JEDI("MlpPolicy", "Acrobot-v1", seed=args.seed, **OPTIONS)
    start, done, rows = time.time(), 0, []
    for target in range(2_000, args.steps + 1, 1_000):
        model.learn(target - done, reset_num_timesteps=False)
        done = target
        if target >= 4_000:
            row = {**measure(model, target, np.random.default_rng(target)), "minutes": round((time.time() - start) / 60, 2)}
            rows.append(row)
            print(json.dumps(row), flush=True)
            args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
