"""
Train JEDI on an Atari100k game, save it, and report its episodes.

    python examples/train_atari.py --game Pong --steps 100000            # the paper's setting (GPU advised)
    python examples/train_atari.py --game Pong --steps 1500 --quick      # a few minutes on a CPU
"""

import argparse
from collections.abc import Sequence

from sb3_jedi import JEDI
from sb3_jedi.envs import make_atari100k_env

# A short, visible run on a CPU: paper-sized networks, but few updates per epoch and a short random warm-up.
QUICK_SETTINGS = {
    "learning_starts": 500,
    "train_freq": 100,
    "gradient_steps": 2,
    "actor_critic_gradient_steps": 1,
    "first_epoch_gradient_steps": 10,
    "first_epoch_actor_critic_gradient_steps": 2,
    "batch_size": 4,
}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--game", default="Pong", help="Atari game, e.g. Pong, Breakout, MsPacman")
    parser.add_argument("--steps", type=int, default=100_000, help="agent steps (Atari100k: 100000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="few updates per epoch: a short demonstration run")
    parser.add_argument("--tensorboard-log", default=None, help="TensorBoard log directory")
    parser.add_argument("--save", default=None, help="where to save the model (default: jedi_<game>)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--no-progress-bar", action="store_true")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> JEDI:
    args = parse_args(argv)
    env = make_atari100k_env(args.game, seed=args.seed)
    model = JEDI(
        "CnnPolicy",
        env,
        verbose=1,
        seed=args.seed,
        device=args.device,
        tensorboard_log=args.tensorboard_log,
        **(QUICK_SETTINGS if args.quick else {}),
    )
    # Atari games are long: log after every finished game.
    model.learn(args.steps, progress_bar=not args.no_progress_bar, log_interval=1)
    path = args.save or f"jedi_{args.game.lower()}"
    model.save(path)
    episodes = [info["r"] for info in model.ep_info_buffer]
    summary = (
        f"mean game score {sum(episodes) / len(episodes):.1f} over {len(episodes)} episodes"
        if episodes
        else "no finished game yet"
    )
    print(f"Trained {model.num_timesteps} steps on {args.game}: {summary}. Saved to {path}.zip")
    return model


if __name__ == "__main__":
    main()
