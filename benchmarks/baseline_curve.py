"""
A learning curve of one of Stable-Baselines3's own algorithms (DQN, PPO or A2C) with rl-baselines3-zoo's tuned
hyper-parameters, on a task of the learning benchmarks: the baseline that JEDI's curves are read against, written to a
JSON record of the same schema as ``benchmarks/learning_curve.py``'s (plus ``"algo"`` and ``"zoo"``).

    python benchmarks/baseline_curve.py --algo dqn --env LunarLander-v3 --seed 0 --steps 100000 --json /tmp/dqn_0.json
    python benchmarks/baseline_curve.py --algo ppo --env CartPole-v1 --pixels 64 --steps 50000 --json /tmp/ppo_px_0.json
    python benchmarks/baseline_curve.py --algo dqn --atari Pong --seed 0 --steps 50000 --eval-every 10000 \
        --eval-episodes 3 --json /tmp/dqn_pong_0.json

``MlpPolicy`` on the env's vector observations, or with ``--pixels SIZE`` ``CnnPolicy`` (SB3's NatureCNN) on its
rendered frames (:func:`sb3_jedi.envs.make_pixel_env`). The settings are the zoo's for the (algorithm, env) pair,
:data:`VECTOR_SETTINGS`; the zoo has no entry for the pixel tasks, so they get its Atari settings adapted to 64x64 RGB
frames, :data:`PIXEL_SETTINGS`. The zoo's env settings are kept: ``n_envs`` training envs, ``normalize``
(``VecNormalize``, whose statistics the evaluation env reads but never updates) and ``frame_stack``
(``VecFrameStack``, on the evaluation env too). Schedules (the zoo's ``lin_`` values, DQN's exploration) run over the
``--steps`` of the run, as with the zoo's ``-n``.

With ``--atari GAME`` (instead of ``--env``), ``CnnPolicy`` learns an Atari game on the env JEDI learns it on, the
Atari100k protocol of :func:`sb3_jedi.envs.make_atari100k_env` (64x64 RGB frames max-pooled over the last two of each
step, frame skip 4, up to 30 no-op frames at reset, no sticky actions, a game cut at 108,000 frames; losing a life ends
a training episode, the evaluation env plays whole games), with the zoo's Atari settings, :data:`ATARI_SETTINGS`. The
zoo's AtariWrapper also clips the training rewards to their sign and the protocol's env does not, so the training env
here clips them (``"clip_reward": true`` in the record's settings; JEDI's ``CnnPolicy`` learns rewards by their sign
too); the evaluation env never does, so the curve holds game scores. The record says ``"atari": "Atari100k"`` and holds
the game's random and human scores (``reference_scores``) for the 26 Atari100k games. An evaluation episode is a whole
game, up to 27,000 agent steps (about 900 for a game of Pong lost 0-21): 3 to 5 ``--eval-episodes`` suit a CPU run;
``--eval-max-episode-frames`` lowers the evaluation games' frame cap, for quick checks only (the record keeps it).

Evaluation, as for JEDI: every ``--eval-every`` env steps (at the first step at or past each multiple when several
envs step together), ``--eval-episodes`` episodes with deterministic actions on a separate env seeded ``10_000 + seed``
(SB3's ``evaluate_policy``; the zoo evaluates Atari agents with ``deterministic=False``, epsilon-greedy actions for
DQN, but deterministic actions keep every task's curve, and JEDI's, read the same way); training stops at the first
step at or past ``--steps``. One torch thread. Training minutes exclude evaluation. The record is rewritten after
every evaluation (``"complete": false`` until the run ends).
"""

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch as th
from stable_baselines3 import A2C, DQN, PPO
from stable_baselines3.common.atari_wrappers import ClipRewardEnv
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.utils import LinearSchedule
from stable_baselines3.common.vec_env import (
    DummyVecEnv,
    VecEnv,
    VecFrameStack,
    VecNormalize,
    VecTransposeImage,
    sync_envs_normalization,
)

from sb3_jedi.benchmarks.curves import (
    ATARI_MAX_EPISODE_FRAMES,
    CurveCallback,
    CurveRecord,
    add_observation_arguments,
    atari_fields,
    learn_curve,
    task_and_policy,
)
from sb3_jedi.run_info import source_commit

ALGOS: dict[str, type[BaseAlgorithm]] = {"A2C": A2C, "DQN": DQN, "PPO": PPO}
# How the zoo builds the envs, not arguments of the algorithm (clip_reward: Atari games only).
ENV_SETTINGS = ("n_envs", "normalize", "frame_stack", "clip_reward")
SCHEDULED = ("learning_rate", "clip_range")  # the zoo's "lin_<value>": linear from <value> to 0 over the run


@dataclass(frozen=True)
class ZooSettings:
    """Hyper-parameters of rl-baselines3-zoo for one (algorithm, env), and where in the zoo they come from."""

    source: str
    hyperparameters: dict[str, Any] = field(default_factory=dict)


# rl-baselines3-zoo (github.com/DLR-RM/rl-baselines3-zoo, commit 22e3ff2 of 2026-04-23), hyperparams/<algo>.yml, key
# <env>, without `n_timesteps` (the budget is --steps) and `policy` (MlpPolicy). The zoo writes policy_kwargs as a
# Python string; here it is the dict itself.
VECTOR_SETTINGS: dict[tuple[str, str], ZooSettings] = {
    # hyperparams/dqn.yml, key CartPole-v1 ("Almost Tuned", for n_timesteps 5e4)
    ("DQN", "CartPole-v1"): ZooSettings(
        "hyperparams/dqn.yml: CartPole-v1 (zoo budget 5e4 steps)",
        {
            "learning_rate": 2.3e-3,
            "batch_size": 64,
            "buffer_size": 100_000,
            "learning_starts": 1_000,
            "gamma": 0.99,
            "target_update_interval": 10,
            "train_freq": 256,
            "gradient_steps": 128,
            "exploration_fraction": 0.16,
            "exploration_final_eps": 0.04,
            "policy_kwargs": {"net_arch": [256, 256]},
        },
    ),
    # hyperparams/dqn.yml, key LunarLander-v3 ("Tuned", for n_timesteps 1e5)
    ("DQN", "LunarLander-v3"): ZooSettings(
        "hyperparams/dqn.yml: LunarLander-v3 (zoo budget 1e5 steps)",
        {
            "learning_rate": 6.3e-4,
            "batch_size": 128,
            "buffer_size": 50_000,
            "learning_starts": 0,
            "gamma": 0.99,
            "target_update_interval": 250,
            "train_freq": 4,
            "gradient_steps": -1,
            "exploration_fraction": 0.12,
            "exploration_final_eps": 0.1,
            "policy_kwargs": {"net_arch": [256, 256]},
        },
    ),
    # hyperparams/dqn.yml, key Acrobot-v1 ("Tuned", for n_timesteps 1e5)
    ("DQN", "Acrobot-v1"): ZooSettings(
        "hyperparams/dqn.yml: Acrobot-v1 (zoo budget 1e5 steps)",
        {
            "learning_rate": 6.3e-4,
            "batch_size": 128,
            "buffer_size": 50_000,
            "learning_starts": 0,
            "gamma": 0.99,
            "target_update_interval": 250,
            "train_freq": 4,
            "gradient_steps": -1,
            "exploration_fraction": 0.12,
            "exploration_final_eps": 0.1,
            "policy_kwargs": {"net_arch": [256, 256]},
        },
    ),
    # hyperparams/ppo.yml, key CartPole-v1 ("Tuned", for n_timesteps 1e5)
    ("PPO", "CartPole-v1"): ZooSettings(
        "hyperparams/ppo.yml: CartPole-v1 (zoo budget 1e5 steps)",
        {
            "n_envs": 8,
            "n_steps": 32,
            "batch_size": 256,
            "gae_lambda": 0.8,
            "gamma": 0.98,
            "n_epochs": 20,
            "ent_coef": 0.0,
            "learning_rate": "lin_0.001",
            "clip_range": "lin_0.2",
        },
    ),
    # hyperparams/ppo.yml, key Acrobot-v1 (for n_timesteps 1e6)
    ("PPO", "Acrobot-v1"): ZooSettings(
        "hyperparams/ppo.yml: Acrobot-v1 (zoo budget 1e6 steps)",
        {
            "normalize": True,
            "n_envs": 16,
            "n_steps": 256,
            "gae_lambda": 0.94,
            "gamma": 0.99,
            "n_epochs": 4,
            "ent_coef": 0.0,
        },
    ),
    # hyperparams/ppo.yml, key LunarLander-v3 (for n_timesteps 1e6)
    ("PPO", "LunarLander-v3"): ZooSettings(
        "hyperparams/ppo.yml: LunarLander-v3 (zoo budget 1e6 steps)",
        {
            "n_envs": 16,
            "n_steps": 1024,
            "batch_size": 64,
            "gae_lambda": 0.98,
            "gamma": 0.999,
            "n_epochs": 4,
            "ent_coef": 0.01,
        },
    ),
    # hyperparams/a2c.yml, key CartPole-v1 (for n_timesteps 5e5)
    ("A2C", "CartPole-v1"): ZooSettings(
        "hyperparams/a2c.yml: CartPole-v1 (zoo budget 5e5 steps)", {"n_envs": 8, "ent_coef": 0.0}
    ),
    # hyperparams/a2c.yml, key Acrobot-v1 (for n_timesteps 5e5)
    ("A2C", "Acrobot-v1"): ZooSettings(
        "hyperparams/a2c.yml: Acrobot-v1 (zoo budget 5e5 steps)", {"normalize": True, "n_envs": 16, "ent_coef": 0.0}
    ),
    # hyperparams/a2c.yml, key LunarLander-v3 (for n_timesteps 2e5)
    ("A2C", "LunarLander-v3"): ZooSettings(
        "hyperparams/a2c.yml: LunarLander-v3 (zoo budget 2e5 steps)",
        {"n_envs": 8, "gamma": 0.995, "n_steps": 5, "learning_rate": "lin_0.00083", "ent_coef": 0.00001},
    ),
}

# The zoo has no entry for classic-control tasks seen from pixels: these are its Atari settings (key `atari`, made for
# 84x84 grey frames, 4 frames stacked, 1e7 steps), kept for 64x64 RGB frames (NatureCNN needs at least 36x36; 4 stacked
# RGB frames are 12 channels) except where the Atari budget cannot fit a run of tens of thousands of steps. The zoo's
# AtariWrapper (frame skip, grey 84x84 frames, life loss) is for Atari games only: the frames are make_pixel_env's.
PIXEL_SETTINGS: dict[str, ZooSettings] = {
    # hyperparams/ppo.yml, key atari: as it is (a rollout is 8 x 128 = 1,024 steps, so a 50k-step run has ~48 updates)
    "PPO": ZooSettings(
        "hyperparams/ppo.yml: atari (zoo budget 1e7 steps), on 64x64 RGB frames",
        {
            "frame_stack": 4,
            "n_envs": 8,
            "n_steps": 128,
            "n_epochs": 4,
            "batch_size": 256,
            "learning_rate": "lin_2.5e-4",
            "clip_range": "lin_0.1",
            "vf_coef": 0.5,
            "ent_coef": 0.01,
        },
    ),
    # hyperparams/dqn.yml, key atari, with two changes for a budget of tens of thousands of steps: learning_starts
    # 100,000 (1% of the zoo's 1e7 steps) would never start learning, so 1,000 (the zoo's CartPole value); and
    # buffer_size 100,000 -> 50,000 (a 50k-step run never fills more; a stacked 64x64 RGB observation is 48 KiB, so the
    # buffer's observations and next observations take 4.9 GB).
    "DQN": ZooSettings(
        "hyperparams/dqn.yml: atari (zoo budget 1e7 steps), on 64x64 RGB frames; learning_starts 100000 -> 1000, "
        "buffer_size 100000 -> 50000",
        {
            "frame_stack": 4,
            "buffer_size": 50_000,
            "learning_rate": 1e-4,
            "batch_size": 32,
            "learning_starts": 1_000,
            "target_update_interval": 1_000,
            "train_freq": 4,
            "gradient_steps": 1,
            "exploration_fraction": 0.1,
            "exploration_final_eps": 0.01,
            "optimize_memory_usage": False,
        },
    ),
}


# The zoo's Atari settings (key `atari` of hyperparams/<algo>.yml, for 1e7 steps of 84x84 grey frames through its
# AtariWrapper: frame skip 4 with max-pooling, up to 30 no-op frames at reset, life loss ends a training episode, rewards
# clipped to their sign; NoFrameskip-v4 ids, without sticky actions), on the Atari100k protocol's env, which JEDI
# learns on: the same frame skip, max-pooling, no-op resets, life-loss terminations and absence of sticky actions, but
# 64x64 RGB frames (4 stacked: 12 channels) and no FireResetEnv (the agent presses FIRE itself). `clip_reward` is the
# AtariWrapper's default, not a key of the YAML files: the training env clips rewards to their sign as the zoo's does
# (the evaluation env does not, as the zoo's Monitor, below its AtariWrapper, records raw game scores).
ATARI_SETTINGS: dict[str, ZooSettings] = {
    # hyperparams/dqn.yml, key atari, with one change for a budget of tens of thousands of steps (Atari100k: 1e5):
    # learning_starts 100,000 (1% of the zoo's 1e7 steps) would never start learning, so 1,000 (as for the pixel tasks,
    # and the random steps JEDI's cpu preset takes). buffer_size is the zoo's 100,000: a 100k-step run keeps all its
    # steps, 9.8 GB of stacked 64x64 RGB observations and next observations at the end (memory is taken as it fills).
    "DQN": ZooSettings(
        "hyperparams/dqn.yml: atari (zoo budget 1e7 steps), on the Atari100k protocol's 64x64 RGB frames; "
        "learning_starts 100000 -> 1000",
        # The pixel tasks' DQN settings (the same zoo key) with the zoo's replay size and reward clipping.
        {**PIXEL_SETTINGS["DQN"].hyperparameters, "clip_reward": True, "buffer_size": 100_000},
    ),
    # hyperparams/ppo.yml, key atari: as it is, on 8 envs of the protocol.
    "PPO": ZooSettings(
        "hyperparams/ppo.yml: atari (zoo budget 1e7 steps), on the Atari100k protocol's 64x64 RGB frames",
        {**PIXEL_SETTINGS["PPO"].hyperparameters, "clip_reward": True},
    ),
}


def zoo_settings(algo: str, env_id: str, pixels: int | None, atari: bool = False) -> ZooSettings:
    """The zoo's settings for ``algo`` on ``env_id`` (vectors), on any task's frames (``pixels``) or on Atari games."""
    if atari:
        if algo not in ATARI_SETTINGS:
            raise ValueError(f"No Atari settings for {algo}: choose one of {sorted(ATARI_SETTINGS)}.")
        return ATARI_SETTINGS[algo]
    if pixels is not None:
        if algo not in PIXEL_SETTINGS:
            raise ValueError(f"No pixel settings for {algo}: choose one of {sorted(PIXEL_SETTINGS)}.")
        return PIXEL_SETTINGS[algo]
    if (algo, env_id) not in VECTOR_SETTINGS:
        known = ", ".join(f"{a} on {e}" for a, e in VECTOR_SETTINGS)
        raise ValueError(f"No zoo settings for {algo} on {env_id}: known pairs are {known}.")
    return VECTOR_SETTINGS[(algo, env_id)]


def model_kwargs(hyperparameters: dict[str, Any]) -> dict[str, Any]:
    """The algorithm's keyword arguments: the zoo's settings less the env settings, ``lin_<value>`` as a schedule."""
    kwargs = {key: value for key, value in hyperparameters.items() if key not in ENV_SETTINGS}
    for key in SCHEDULED:
        value = kwargs.get(key)
        if isinstance(value, str) and value.startswith("lin_"):
            # SB3 calls a schedule with the progress remaining (1 at the start, 0 at the end of learn's budget).
            kwargs[key] = LinearSchedule(start=float(value.removeprefix("lin_")), end=0.0, end_fraction=1.0)
    return kwargs


def reward_clipping_vec_env(env_fns: list[Callable[[], gym.Env]]) -> DummyVecEnv:
    """
    A ``DummyVecEnv`` of the envs with their rewards clipped to their sign by SB3's ``ClipRewardEnv``, the wrapper the
    zoo's AtariWrapper clips them with. It wraps each env, above its ``Monitor``, so episode scores (``info["episode"]``)
    stay the game's; a ``VecEnvWrapper`` would instead break the lockstep walk of ``sync_envs_normalization`` over the
    training and evaluation envs' wrappers.
    """
    return DummyVecEnv([lambda make=make: ClipRewardEnv(make()) for make in env_fns])


def make_envs(
    env_id: str,
    seed: int,
    pixels: int | None,
    hyperparameters: dict[str, Any],
    atari: bool = False,
    eval_max_episode_frames: int | None = ATARI_MAX_EPISODE_FRAMES,
) -> tuple[VecEnv, VecEnv]:
    """
    The training env (``n_envs`` envs seeded ``seed``, ``seed + 1``, ...) and the evaluation env (one, seeded
    ``10_000 + seed``), both wrapped as the zoo wraps them: ``VecNormalize`` (the evaluation copy frozen, returns left
    raw), ``VecFrameStack``, and channel-first frames for ``CnnPolicy``. With ``atari``, ``env_id`` is an Atari game
    under the Atari100k protocol: life loss ends a training episode (whose rewards ``clip_reward`` clips to their
    sign), the evaluation env plays whole games cut at ``eval_max_episode_frames`` emulator frames.
    """
    n_envs = hyperparameters.get("n_envs", 1)
    if atari:
        from sb3_jedi.envs import make_atari100k_env

        # The training env only: evaluation returns are game scores.
        vec_env_cls = reward_clipping_vec_env if hyperparameters.get("clip_reward") else None
        env = make_atari100k_env(env_id, n_envs=n_envs, seed=seed, training=True, vec_env_cls=vec_env_cls)
        eval_env = make_atari100k_env(env_id, seed=10_000 + seed, training=False, max_episode_frames=eval_max_episode_frames)
    elif pixels is None:
        env = make_vec_env(env_id, n_envs=n_envs, seed=seed)
        eval_env = make_vec_env(env_id, n_envs=1, seed=10_000 + seed)
    else:
        from sb3_jedi.envs import make_pixel_env

        env = make_pixel_env(env_id, size=pixels, n_envs=n_envs, seed=seed)
        eval_env = make_pixel_env(env_id, size=pixels, seed=10_000 + seed)
    if hyperparameters.get("normalize"):
        # As the zoo does: the return normaliser discounts with the algorithm's gamma.
        gamma = hyperparameters.get("gamma", 0.99)
        env = VecNormalize(env, gamma=gamma)
        eval_env = VecNormalize(eval_env, gamma=gamma, training=False, norm_reward=False)
    if hyperparameters.get("frame_stack"):
        env = VecFrameStack(env, hyperparameters["frame_stack"])
        eval_env = VecFrameStack(eval_env, hyperparameters["frame_stack"])
    if pixels is not None or atari:
        # make_pixel_env's and make_atari100k_env's frames are (H, W, C); CnnPolicy wants (C, H, W). SB3 would
        # transpose the training env by itself; doing it here keeps the evaluation env's observations the same as the
        # training env's.
        env, eval_env = VecTransposeImage(env), VecTransposeImage(eval_env)
    return env, eval_env


class BaselineCurveCallback(CurveCallback):
    """
    :class:`~sb3_jedi.benchmarks.curves.CurveCallback` that evaluates at the first step at or past every multiple of
    ``eval_every`` and stops at the first step at or past ``steps``, with the evaluation env reading the training env's
    ``VecNormalize`` statistics.

    :param eval_env: the evaluation env
    :param eval_every: env steps between evaluations
    :param n_episodes: deterministic episodes per evaluation
    :param steps: env steps to train for (all envs together)
    :param on_point: called with all the points after each evaluation
    """

    def __init__(
        self,
        eval_env: VecEnv,
        eval_every: int,
        n_episodes: int,
        steps: int,
        on_point: Callable[[list[dict[str, Any]]], None] | None = None,
    ) -> None:
        super().__init__(eval_env, eval_every, n_episodes, on_point=on_point)
        self.steps = steps
        self.next_eval = eval_every
        self.train_episodes = 0

    def before_evaluation(self) -> None:
        # The evaluation env reads the training env's observation statistics (a no-op without VecNormalize).
        sync_envs_normalization(self.model.get_env(), self.eval_env)

    def episodes_trained(self) -> int:
        return self.train_episodes

    def _on_step(self) -> bool:
        # On-policy algorithms do not count episodes (DQN's _episode_num): count the envs' episode ends here.
        self.train_episodes += int(np.sum(self.locals["dones"]))
        if self.num_timesteps >= self.next_eval:
            self.evaluate()
            while self.next_eval <= self.num_timesteps:
                self.next_eval += self.eval_every
        return self.num_timesteps < self.steps


def record_name(algo: str, env_id: str, seed: int, pixels: int | None = None) -> str:
    """``<algo>_<env>_<policy>_seed<N>.json``; pixel runs name their frame size, ``CnnPolicy64``."""
    policy = "MlpPolicy" if pixels is None else f"CnnPolicy{pixels}"
    return f"{algo.lower()}_{env_id}_{policy}_seed{seed}.json"


def run(
    algo: str,
    env_id: str,
    seed: int,
    steps: int,
    eval_every: int,
    eval_episodes: int,
    pixels: int | None = None,
    out: Path | None = None,
    atari: bool = False,
    eval_max_episode_frames: int | None = ATARI_MAX_EPISODE_FRAMES,
) -> dict[str, Any]:
    """
    Train ``algo`` with the zoo's settings for ``steps`` env steps, evaluating every ``eval_every`` steps.

    :param algo: ``"DQN"``, ``"PPO"`` or ``"A2C"`` (any case)
    :param env_id: a gymnasium id of :data:`VECTOR_SETTINGS` (or, with ``pixels``, any env make_pixel_env renders)
    :param seed: seed of the algorithm and the training envs; the evaluation env gets ``10_000 + seed``
    :param steps: env steps to train for (all envs together)
    :param eval_every: env steps between evaluations
    :param eval_episodes: deterministic episodes per evaluation
    :param pixels: learn from ``pixels x pixels`` frames with ``CnnPolicy``; None for the vector observations
    :param out: where to (re)write the record after every evaluation; None to write nothing
    :param atari: ``env_id`` is an Atari game (``"Pong"``, ``"ALE/Pong-v5"``), learnt with ``CnnPolicy`` under the
        Atari100k protocol with the zoo's Atari settings (:data:`ATARI_SETTINGS`)
    :param eval_max_episode_frames: Atari only: emulator frames after which an evaluation game is cut (the protocol's
        108,000; lower only for quick checks)
    :return: the record
    """
    commit = source_commit(__file__)  # the code that runs: read before training, while the tree may change
    env_id, policy = task_and_policy(env_id, pixels, atari)
    th.set_num_threads(1)
    algo = algo.upper()
    settings = zoo_settings(algo, env_id, pixels, atari)
    env, eval_env = make_envs(env_id, seed, pixels, settings.hyperparameters, atari, eval_max_episode_frames)
    model = ALGOS[algo](policy, env, seed=seed, **model_kwargs(settings.hyperparameters))
    header = {
        "algo": algo,
        "env": env_id,
        "policy": policy,
        "pixels": pixels,
        **(atari_fields(env_id, eval_max_episode_frames) if atari else {"atari": None}),
        "seed": seed,
        "steps": steps,
        "preset": None,
        "hyperparameters": settings.hyperparameters,
        "zoo": settings.source,
        "eval_episodes": eval_episodes,
    }

    writer = CurveRecord(header, commit, out)
    callback = BaselineCurveCallback(eval_env, eval_every, eval_episodes, steps, on_point=writer.write)
    return learn_curve(model, steps, callback, writer)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algo", default="dqn", type=str.upper, choices=list(ALGOS))
    parser.add_argument("--env", default="CartPole-v1", help="a gymnasium id (ignored with --atari)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=30_000)
    parser.add_argument("--eval-every", type=int, default=2_500)
    parser.add_argument("--eval-episodes", type=int, default=10, help="per evaluation (Atari on a CPU: 3 to 5)")
    add_observation_arguments(parser)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    record = run(
        args.algo,
        args.atari or args.env,
        args.seed,
        args.steps,
        args.eval_every,
        args.eval_episodes,
        pixels=args.pixels,
        out=args.json,
        atari=args.atari is not None,
        eval_max_episode_frames=args.eval_max_episode_frames,
    )
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
