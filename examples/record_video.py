"""
Record a replay video of a saved agent (MP4, from the env's rgb_array frames).

    python examples/record_video.py --model jedi_pong.zip --env Pong --out pong.mp4 --steps 2000
"""

import argparse
from collections.abc import Sequence

from sb3_jedi.envs import make_env
from sb3_jedi.registry import load_model
from sb3_jedi.video import record_video


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="model zip saved by JEDI (or DIAMOND)")
    parser.add_argument("--env", required=True, help="the env it was trained on: Atari game or gymnasium id")
    parser.add_argument("--out", default="replay.mp4")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    env = make_env(args.env, seed=args.seed, training=False)  # Atari: evaluation protocol, full games
    model = load_model(args.model, env=env)
    frames = record_video(model, env, args.out, n_steps=args.steps)
    print(f"Wrote {frames} frames to {args.out}")
    return frames


if __name__ == "__main__":
    main()
