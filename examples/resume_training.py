"""
Train with resumable checkpoints, and continue an interrupted run where it stopped.

    python examples/resume_training.py --env CartPole-v1 --steps 30000 --dir runs/cartpole      # start (or continue)
    # interrupt it (Ctrl-C, a crash, a preempted job), then run the same command again: it resumes.

A checkpoint holds the model, both optimisers, the replay buffer, the random states and the step and update counters;
it is written atomically every --checkpoint-freq steps, between training epochs, so resuming neither loses nor
repeats a transition or an update.
"""

import argparse
from collections.abc import Sequence

from sb3_jedi import JEDI
from sb3_jedi.checkpoints import CheckpointCallback, latest_checkpoint, load_checkpoint
from sb3_jedi.envs import make_env

QUICK_SETTINGS = {
    "learning_starts": 100,
    "train_freq": 50,
    "gradient_steps": 2,
    "actor_critic_gradient_steps": 2,
    "first_epoch_gradient_steps": 5,
    "first_epoch_actor_critic_gradient_steps": 2,
    "batch_size": 8,
}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="CartPole-v1", help="gymnasium env id or Atari game")
    parser.add_argument("--steps", type=int, default=30_000, help="total env steps of the run")
    parser.add_argument("--dir", default="runs/resumable", help="checkpoint directory")
    parser.add_argument("--checkpoint-freq", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="tiny schedule, for a demonstration")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> JEDI:
    args = parse_args(argv)
    env = make_env(args.env, seed=args.seed)
    latest = latest_checkpoint(args.dir)
    if latest is None:
        policy = "CnnPolicy" if len(env.observation_space.shape) == 3 else "MlpPolicy"
        model = JEDI(policy, env, seed=args.seed, **(QUICK_SETTINGS if args.quick else {}))
        print(f"Starting a new run in {args.dir}")
    else:
        model = load_checkpoint(latest, env=env)
        print(f"Resuming from {latest} at step {model.num_timesteps}")
    callback = CheckpointCallback(args.dir, save_freq=args.checkpoint_freq)
    model.learn(max(0, args.steps - model.num_timesteps), callback=callback, reset_num_timesteps=latest is None)
    print(f"Run at {model.num_timesteps} steps; newest checkpoint: {latest_checkpoint(args.dir)}")
    return model


if __name__ == "__main__":
    main()
