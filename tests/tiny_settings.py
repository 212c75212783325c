"""Hyper-parameters shared by the tests: a tiny schedule that trains within a second."""

# 100 random steps, then epochs of 50 steps with 2 + 2 updates (3 + 2 in the first epoch).
TINY = {
    "learning_starts": 100,
    "train_freq": 50,
    "gradient_steps": 2,
    "actor_critic_gradient_steps": 2,
    "first_epoch_gradient_steps": 3,
    "first_epoch_actor_critic_gradient_steps": 2,
    "batch_size": 8,
    "imagination_horizon": 4,
}

# Small convolutional networks of CnnPolicy, for tests about spaces, files and options rather than the paper's sizes.
SMALL_CNN = {
    "encoder_kwargs": {"channels": (8, 8, 8, 4)},
    "denoiser_kwargs": {"channels": 16, "depth": 1, "cond_dim": 16},
    "decoder_kwargs": {"channels": (8, 8, 8, 8)},
    "reward_end_kwargs": {"channels": (8, 8), "depth": 1, "cond_dim": 8, "lstm_dim": 16, "hidden_dim": 16},
    "actor_critic_kwargs": {"channels": (8,), "lstm_dim": 16},
}
