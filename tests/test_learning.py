"""It learns: CartPole with MlpPolicy and default hyper-parameters (slow; run with ``pytest -m slow``)."""

import time

import pytest
import torch as th
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy

from sb3_jedi import JEDI


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cartpole_learns_with_default_hyperparameters(seed):
    threads = th.get_num_threads()
    th.set_num_threads(1)  # small networks: one thread is as fast and leaves the other core to a parallel run
    try:
        start = time.perf_counter()
        model = JEDI("MlpPolicy", "CartPole-v1", seed=seed)
        model.learn(30_000)
        minutes = (time.perf_counter() - start) / 60
        eval_env = make_vec_env("CartPole-v1", n_envs=1, seed=10_000 + seed)
        mean, std = evaluate_policy(model, eval_env, n_eval_episodes=10, deterministic=True)
    finally:
        th.set_num_threads(threads)
    print(f"seed {seed}: mean return {mean:.1f} +- {std:.1f} after {model.num_timesteps} env steps, {minutes:.1f} min")
    assert mean >= 475
