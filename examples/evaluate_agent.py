"""
Evaluate a saved agent: Atari games with DIAMOND's final protocol (full games, true score, actions sampled from the
policy) and their human-normalised score; any other env with SB3's evaluate_policy.

    python examples/evaluate_agent.py --model jedi_pong.zip --env Pong --episodes 100
    python examples/evaluate_agent.py --model jedi_cartpole.zip --env CartPole-v1 --episodes 10
"""

import argparse
from collections.abc import Sequence

import numpy as np
from stable_baselines3.common.evaluation import evaluate_policy

from sb3_jedi.envs import atari_game_or_none, make_env
from sb3_jedi.evaluation import evaluate_atari100k
from sb3_jedi.hub import default_eval_episodes
from sb3_jedi.registry import load_model


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="model zip saved by JEDI (or DIAMOND)")
    parser.add_argument("--env", required=True, help="Atari game or gymnasium id")
    parser.add_argument(
        "--episodes", type=int, default=None, help="default: 100 on Atari games (DIAMOND's final evaluation), 10 elsewhere"
    )
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict:
    args = parse_args(argv)
    game = atari_game_or_none(args.env)
    episodes = default_eval_episodes(game) if args.episodes is None else args.episodes
    if game is not None:
        result = evaluate_atari100k(load_model(args.model), game, n_episodes=episodes, seed=args.seed)
        summary = {"mean": result.mean, "std": result.std, "hns": result.hns, "episodes": result.n_episodes}
    else:
        env = make_env(args.env, seed=args.seed, training=False)
        returns, _ = evaluate_policy(
            load_model(args.model, env=env), env, n_eval_episodes=episodes, return_episode_rewards=True
        )
        summary = {"mean": float(np.mean(returns)), "std": float(np.std(returns)), "hns": None, "episodes": len(returns)}
    hns = f", human-normalised score {summary['hns']:.3f}" if summary["hns"] is not None else ""
    print(f"{args.env}: {summary['mean']:.2f} +/- {summary['std']:.2f} over {summary['episodes']} episodes{hns}")
    return summary


if __name__ == "__main__":
    main()
