"""
Share an agent on the Hugging Face Hub and load it back.

    hf auth login        # once
    python examples/share_on_hub.py --model jedi_pong.zip --env Pong --orga you   # to you/jedi-ALE-Pong-v5

The repo gets the model zip, config.json, results.json (with the human-normalised score for Atari games), a replay
video, a model card, and the files rl-zoo3's load_from_hub fetches. --orga names the repo as rl-zoo3 does,
ORGA/<algo>-<env>; --repo-id names it yourself. Loading unpickles the zip, so it needs trust_remote_code=True: only
load repos you trust.
"""

import argparse
from collections.abc import Sequence

import numpy as np

from sb3_jedi.envs import make_env
from sb3_jedi.hub import default_repo_id, load_from_hub, push_to_hub
from sb3_jedi.registry import load_model


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="model zip saved by JEDI (or DIAMOND)")
    parser.add_argument("--env", required=True, help="the env it was trained on: Atari game or gymnasium id")
    repo = parser.add_mutually_exclusive_group(required=True)
    repo.add_argument("--orga", help="Hub user or organisation: the repo is ORGA/<algo>-<env>, as rl-zoo3 names it")
    repo.add_argument("--repo-id", help="Hub model repo of your choice, e.g. you/my-pong-agent")
    parser.add_argument(
        "--episodes",
        type=int,
        default=None,
        help="evaluation episodes for the model card (default: 100 on Atari games, DIAMOND's final evaluation; 10 elsewhere)",
    )
    parser.add_argument("--video-length", type=int, default=1000, help="steps of the replay video (0: none)")
    parser.add_argument("--token", default=None, help="Hub token (default: the logged-in one)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None):
    args = parse_args(argv)
    model = load_model(args.model)
    if args.repo_id is None:
        args.repo_id = default_repo_id(args.orga, type(model).__name__, args.env)
    commit = push_to_hub(
        model, args.repo_id, args.env, n_eval_episodes=args.episodes, video_length=args.video_length, token=args.token
    )
    print(f"Pushed: {commit}")
    loaded = load_from_hub(args.repo_id, trust_remote_code=True)
    obs = make_env(args.env, seed=0, training=False).reset()
    same = np.array_equal(model.predict(obs, deterministic=True)[0], loaded.predict(obs, deterministic=True)[0])
    print(f"Loaded {args.repo_id} back: {'same' if same else 'different'} greedy action on a first observation")
    return loaded


if __name__ == "__main__":
    main()
