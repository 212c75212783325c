"""
Train JEDI (MlpPolicy) on CartPole, then evaluate it.

    python examples/train_cartpole.py --steps 30000
"""

import argparse
from collections.abc import Sequence

from stable_baselines3.common.evaluation import evaluate_policy

from sb3_jedi import JEDI


def main(argv: Sequence[str] | None = None) -> tuple[JEDI, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=30_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-episodes", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="a few updates only (smoke run)")
    args = parser.parse_args(argv)
    quick = {
        "learning_starts": 100,
        "train_freq": 50,
        "gradient_steps": 2,
        "actor_critic_gradient_steps": 2,
        "first_epoch_gradient_steps": 5,
        "first_epoch_actor_critic_gradient_steps": 2,
        "batch_size": 8,
    }
    model = JEDI("MlpPolicy", "CartPole-v1", seed=args.seed, verbose=0, **(quick if args.quick else {}))
    model.learn(args.steps, progress_bar=not args.quick)
    mean, std = evaluate_policy(model, model.get_env(), n_eval_episodes=args.eval_episodes, deterministic=True)
    print(f"CartPole-v1 after {args.steps} steps: mean return {mean:.1f} +- {std:.1f} over {args.eval_episodes} episodes")
    return model, mean


if __name__ == "__main__":
    main()
