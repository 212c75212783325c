"""DIAMOND, the pixel-space baseline: it learns, saves, loads and acts like JEDI, with DIAMOND's sizes and defaults."""

import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3.common.utils import ConstantSchedule
from toy_envs import FixedLengthEpisodes

from sb3_jedi import DIAMOND, JEDI, CnnPolicy
from sb3_jedi.diamond import DIAMOND_DEFAULTS, DIAMONDPolicy
from sb3_jedi.jedi import ATARI_DEFAULTS
from sb3_jedi.world_model import PixelWorldModel

TINY_SIZES = {
    "denoiser_kwargs": {"channels": (8, 8), "depths": (1, 1), "mid_depth": 1, "cond_dim": 16},
    "reward_end_kwargs": {"channels": (8, 8, 8, 8), "depth": 1, "cond_dim": 8, "lstm_dim": 16, "hidden_dim": 16},
    "actor_critic_kwargs": {"channels": (8, 8, 8, 8), "lstm_dim": 16},
}
TINY_SCHEDULE = {
    "learning_starts": 100,
    "train_freq": 50,
    "gradient_steps": 2,
    "actor_critic_gradient_steps": 2,
    "first_epoch_gradient_steps": 3,
    "first_epoch_actor_critic_gradient_steps": 2,
    "batch_size": 4,
    "imagination_horizon": 3,
    "buffer_size": 1_000,
}


class RandomFrames(FixedLengthEpisodes):
    """64x64 RGB frames (the Atari100k protocol's size), a reward for action 1, episodes of 40 steps."""

    observation_space = spaces.Box(0, 255, (64, 64, 3), np.uint8)

    def __init__(self) -> None:
        super().__init__(RandomFrames.observation_space, n_actions=4, length=40, reward=lambda _, action: float(action == 1))


def params_of(model) -> dict[str, th.Tensor]:
    return {k: v.detach().clone() for k, v in model.policy.state_dict().items()}


def test_tiny_learn_save_load_gives_identical_parameters_and_actions(tmp_path):
    pytest.importorskip("tensorboard")
    env = RandomFrames()
    env.reset(seed=0)
    model = DIAMOND("CnnPolicy", env, seed=0, policy_kwargs=TINY_SIZES, tensorboard_log=str(tmp_path / "tb"), **TINY_SCHEDULE)
    assert isinstance(model.policy, DIAMONDPolicy)
    assert isinstance(model.policy.world_model, PixelWorldModel)
    assert model.policy.world_model.state_shape == (3, 64, 64)
    model.learn(200)
    assert model.num_timesteps == 200
    assert model._world_model_updates == 3 + 2 and model._actor_critic_updates == 2 + 2
    assert [p.name for p in (tmp_path / "tb").iterdir()] == ["DIAMOND_1"]  # DIAMOND's own run name

    obs = np.stack([RandomFrames.observation_space.sample() for _ in range(3)])
    actions, state = model.predict(obs, deterministic=True)
    model.save(tmp_path / "diamond")
    loaded = DIAMOND.load(tmp_path / "diamond", device="cpu")
    assert isinstance(loaded.policy, DIAMONDPolicy)
    before, after = params_of(model), params_of(loaded)
    assert before.keys() == after.keys()
    for key in before:
        assert th.equal(before[key], after[key]), key
    loaded_actions, loaded_state = loaded.predict(obs, deterministic=True)
    np.testing.assert_array_equal(actions, loaded_actions)
    np.testing.assert_allclose(state[0], loaded_state[0])
    # The recurrent state carries over between calls exactly as before saving.
    next_actions, _ = model.predict(obs, state=state, episode_start=np.zeros(3, dtype=bool), deterministic=True)
    loaded_next, _ = loaded.predict(obs, state=loaded_state, episode_start=np.zeros(3, dtype=bool), deterministic=True)
    np.testing.assert_array_equal(next_actions, loaded_next)
    assert loaded.imagination_horizon == 3 and list(loaded.policy.denoiser_kwargs["channels"]) == [8, 8]
    with pytest.raises(ValueError, match="DIAMOND"):
        JEDI.load(tmp_path / "diamond")  # a DIAMOND file is not a JEDI model


def test_default_networks_have_diamonds_published_sizes():
    policy = DIAMONDPolicy(spaces.Box(0, 255, (3, 64, 64), np.uint8), spaces.Discrete(18), ConstantSchedule(1e-4))
    world_model = policy.world_model
    unet = world_model.denoiser.inner_model
    assert unet.stage_channels == [64, 64, 64, 64] and unet.stage_depths == [2, 2, 2, 2] and len(unet.mid_blocks) == 2
    assert unet.cond.proj[0].in_features == 256 and unet.n_cond_steps == 4 and unet.state_channels == 3
    denoiser = world_model.denoiser
    assert (denoiser.sigma_data, denoiser.sigma_offset_noise, denoiser.output_clamp) == (0.5, 0.3, None)
    assert world_model.sampler.num_steps == 3 and world_model.sampler.order == 1
    reward_end = world_model.reward_end_model
    assert reward_end.lstm_dim == 512 and reward_end.feature_shape == (32, 8, 8)  # 4 stages of 32: 64 -> 8
    assert policy.actor_critic.lstm_dim == 512 and policy.actor_critic.feature_shape == (64, 4, 4)  # [32, 32, 64, 64]
    assert not hasattr(world_model, "encoder") and world_model.n_levels == 256
    counts = {name: sum(p.numel() for p in params) for name, params in world_model.parameter_groups().items()}
    assert set(counts) == {"denoiser", "reward_end"}
    assert 3.0e6 < counts["denoiser"] < 4.5e6 and 5.0e6 < counts["reward_end"] < 6.5e6


def test_defaults_are_diamonds_and_explicit_values_win():
    # DIAMOND's config/trainer.yaml and config/agent/default.yaml.
    published = {
        "learning_rate": 1e-4,
        "batch_size": 32,
        "gamma": 0.985,
        "gae_lambda": 0.95,
        "ent_coef": 1e-3,
        "value_coef": 1.0,
        "train_freq": 100,
        "gradient_steps": 400,
        "actor_critic_gradient_steps": -1,  # as many as gradient_steps
        # The first epoch follows DIAMOND's ratios (checked below: 10k and 5k at 400 updates per epoch)
        "first_epoch_gradient_steps": None,
        "first_epoch_actor_critic_gradient_steps": None,
        "learning_starts_reward_threshold": 10,
        "imagination_horizon": 15,
        "unroll_steps": 2,  # num_autoregressive_steps: 1 -> 4 + 1 + 1 frames
        "exploration_epsilon": 0.01,
        "lr_warmup_steps": 100,
        "world_model_max_grad_norm": 1.0,
        "reward_end_max_grad_norm": 100.0,
        "actor_critic_max_grad_norm": 100.0,
        "sample_weights": (0.1, 0.1, 0.1, 0.7),
    }
    for key, value in published.items():
        assert DIAMOND_DEFAULTS[key] == value, key
    assert DIAMOND_DEFAULTS.keys() == ATARI_DEFAULTS.keys()
    small = {"policy_kwargs": TINY_SIZES, "buffer_size": 1_000}
    model = DIAMOND("CnnPolicy", RandomFrames(), **small)
    assert (model.batch_size, model.imagination_horizon, model.gradient_steps, model.gamma) == (32, 15, 400, 0.985)
    assert model.sample_weights == (0.1, 0.1, 0.1, 0.7) and model.target_critic_tau is None
    assert model.first_epoch_steps(400) == (10_000, 5_000) and model.n_final_epochs(100_000) == 50
    explicit = DIAMOND("CnnPolicy", RandomFrames(), gamma=0.9, imagination_horizon=5, **small)
    assert explicit.gamma == 0.9 and explicit.imagination_horizon == 5


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: DIAMOND("MlpPolicy", RandomFrames()), "Unknown policy 'MlpPolicy' for DIAMOND"),
        (lambda: DIAMOND(CnnPolicy, RandomFrames()), "DIAMONDPolicy"),
        (lambda: DIAMOND("CnnPolicy", "CartPole-v1"), "MlpPolicy for vector"),
        (lambda: DIAMOND("CnnPolicy", RandomFrames(), policy_kwargs={"use_decoder": True}), "nothing to decode"),
        (lambda: DIAMOND("CnnPolicy", RandomFrames(), policy_kwargs={"encoder_kwargs": {"channels": (8,)}}), "no encoder"),
    ],
)
def test_bad_input_is_a_clear_value_error(build, match):
    with pytest.raises(ValueError, match=match):
        build()
