"""
JEDI and the DIAMOND baseline follow DIAMOND's code by default (eloialonso/diamond: config/trainer.yaml,
src/trainer.py, src/utils.py), and a run sized by the user keeps its size.
"""

import time

import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from torch import nn
from toy_envs import FixedLengthEpisodes

from sb3_jedi import JEDI
from sb3_jedi.diamond import DIAMOND
from sb3_jedi.jedi import ATARI_DEFAULTS, VECTOR_DEFAULTS


class RewardingImageEnv(FixedLengthEpisodes):
    """64x64 RGB noise; reward 1 with probability 0.3 (rewards of both signs' classes), episodes of 40 steps."""

    def __init__(self, size: int = 64, reward_probability: float = 0.3) -> None:
        super().__init__(
            spaces.Box(0, 255, (size, size, 3), np.uint8),
            n_actions=3,
            length=40,
            reward=lambda rng, _: float(rng.random() < reward_probability),
        )


def test_paper_schedule_values():
    # DIAMOND's config/trainer.yaml, as literals: a change to the defaults must change this test.
    for defaults in (ATARI_DEFAULTS,):
        assert defaults["unroll_steps"] == 2  # num_autoregressive_steps: 1 -> 4 + 1 + 1 frames
        assert defaults["learning_starts"] == 5_000 and defaults["learning_starts_reward_threshold"] == 10
        assert defaults["buffer_size"] == 100_000 and defaults["sample_weights"] == (0.1, 0.1, 0.1, 0.7)
    model = JEDI("CnnPolicy", RewardingImageEnv(), buffer_size=1_000)
    assert model.first_epoch_steps(400) == (10_000, 5_000)
    assert (model.gradient_steps, model._actor_critic_steps(model.gradient_steps)) == (400, 400)
    assert model.n_final_epochs(100_000) == 50
    assert model.unroll_steps == 2 and model.policy.random_switching_prob == 0.5
    diamond = DIAMOND("CnnPolicy", RewardingImageEnv(), buffer_size=1_000)
    assert diamond.unroll_steps == 2 and diamond.first_epoch_steps(400) == (10_000, 5_000)
    assert diamond.n_final_epochs(100_000) == 50
    assert VECTOR_DEFAULTS["final_epochs"] == 0
    # DIAMOND's critic learns from imagined returns only: no replay value loss for CnnPolicy or the baseline.
    assert ATARI_DEFAULTS["replay_value_coef"] == 0.0
    assert model.replay_value_coef == 0.0 and diamond.replay_value_coef == 0.0
    # Nor does its actor learn from replay, or its collection switch to exploration episodes.
    assert ATARI_DEFAULTS["self_imitation_coef"] == 0.0 and ATARI_DEFAULTS["exploration_episodes"] == 0.0
    assert model.self_imitation_coef == 0.0 and diamond.self_imitation_coef == 0.0
    assert model.self_imitation_margin == 0.0 and diamond.self_imitation_margin == 0.0
    assert not model.policy.actor_critic.separate_critic and not diamond.policy.actor_critic.separate_critic
    # DIAMOND's imagination loop: episodes kept across updates and restarted when they end (world_model_env.py).
    assert model.imagination_restarts is True and diamond.imagination_restarts is True
    assert model.imagination_horizon == 15 and model.batch_size == 32


def test_mlp_policy_defaults_for_goals_that_random_actions_rarely_reach():
    # Not DIAMOND's: the options with which Acrobot learnt (benchmarks/results/experiments/sparse_goals/README.md).
    model = JEDI("MlpPolicy", "CartPole-v1")
    assert (model.initial_exploration, model.exploration_episodes) == ("random_linear", 0.25)
    assert (model.replay_value_coef, model.self_imitation_coef, model.self_imitation_margin) == (1.0, 1.0, 0.25)
    assert model.policy.actor_critic.separate_critic
    assert model.imagination_restarts is False  # fresh rollouts, with which these options were measured
    # Saved explicitly, so that a later change of default cannot rebuild another network on load.
    assert model.policy_kwargs["actor_critic_kwargs"]["separate_critic"] is True


def test_first_epoch_follows_the_users_sizing():
    model = JEDI("MlpPolicy", "CartPole-v1", gradient_steps=8, actor_critic_gradient_steps=4)
    assert model.first_epoch_steps(8) == (200, 50)  # DIAMOND's ratios: 25x and 12.5x
    explicit = JEDI("MlpPolicy", "CartPole-v1", first_epoch_gradient_steps=7, first_epoch_actor_critic_gradient_steps=3)
    assert explicit.first_epoch_steps(20) == (7, 3)


def test_a_user_sized_cnn_run_keeps_its_size(capsys):
    # The run a new user tries first: without DIAMOND's ratios its first epoch took 10k + 5k paper-size updates.
    start = time.perf_counter()
    model = JEDI(
        "CnnPolicy",
        RewardingImageEnv(),
        learning_starts=64,
        train_freq=32,
        gradient_steps=2,
        batch_size=4,
        buffer_size=1_000,
        seed=0,
        verbose=1,
    ).learn(96)
    seconds = time.perf_counter() - start
    print(f"user-sized CnnPolicy run: {seconds:.1f} s")
    assert model._world_model_updates == 50 and model._actor_critic_updates == 25
    # The first epoch reports its progress
    out = capsys.readouterr().out
    assert "first epoch: world model: 50/50 updates" in out and "first epoch: actor-critic: 25/25 updates" in out


def test_random_switching_conditions_half_the_second_steps_on_a_prediction():
    model = JEDI("MlpPolicy", "CartPole-v1", learning_starts=300, seed=0)
    model.learn(300)
    assert model.unroll_steps == 2
    th.manual_seed(0)
    switched = [model.train_world_model(16)["switched_steps"] for _ in range(400)]
    # Binomial(400, 0.5): standard deviation 0.025, so +-0.1 is 4 sigma
    assert abs(np.mean(switched) - 0.5) < 0.1


# 100 random steps, then epochs of 50 steps with one update of each kind (the first epoch too), no final epochs.
ONE_UPDATE_EPOCHS = {
    "learning_starts": 100,
    "train_freq": 50,
    "gradient_steps": 1,
    "actor_critic_gradient_steps": 1,
    "first_epoch_gradient_steps": 1,
    "first_epoch_actor_critic_gradient_steps": 1,
    "batch_size": 2,
    "final_epochs": 0,
    "policy_kwargs": {"use_decoder": False},
}


def test_initial_collection_waits_for_rewards_of_the_minority_sign():
    # Rewards of 1 are rare (3%): 10 of them take about 330 steps, more than learning_starts = 100.
    env = RewardingImageEnv(size=16, reward_probability=0.03)
    model = JEDI(
        "CnnPolicy",
        env,
        learning_starts_max=2_000,
        buffer_size=3_000,
        seed=1,
        **ONE_UPDATE_EPOCHS,
    )
    model.learn(1_000)
    random_steps = model._random_steps_until
    assert 100 < random_steps < 1_000 and random_steps % 50 == 0
    assert model._initial_collection_done
    # The collection ended at the first epoch boundary with >= 10 rewards of 1 ...
    rewards = model.replay_buffer.rewards[model.replay_buffer.has_action]
    assert (rewards[:random_steps] > 0).sum() >= 10 and (rewards[: random_steps - 50] > 0).sum() < 10
    # ... and training began one epoch later (an epoch collected with the agent), one update per epoch
    assert model._world_model_updates == (1_000 - random_steps) // 50


def test_initial_collection_stops_at_its_maximum():
    env = RewardingImageEnv(size=16, reward_probability=0.0)  # never a reward of another sign
    model = JEDI(
        "CnnPolicy",
        env,
        buffer_size=1_000,
        seed=0,
        **ONE_UPDATE_EPOCHS,
    )
    model.learn(300)
    # Random steps up to 2 x learning_starts = 200, then one epoch with the agent, then training: one epoch of 1 + 1
    assert model._random_steps_until == 200 and model._initial_collection_done
    assert model._world_model_updates == 1 + 1  # first epoch after 250 steps, then a regular epoch after 300


def test_final_epochs_run_once_and_resume(tmp_path):
    from sb3_jedi.checkpoints import CheckpointCallback, latest_checkpoint, load_checkpoint

    kwargs = dict(
        learning_starts=100,
        train_freq=50,
        gradient_steps=2,
        actor_critic_gradient_steps=1,
        first_epoch_gradient_steps=2,
        first_epoch_actor_critic_gradient_steps=1,
        batch_size=8,
        imagination_horizon=3,
        final_epochs=3,
        seed=0,
    )
    model = JEDI("MlpPolicy", "CartPole-v1", **kwargs)
    model.learn(200, callback=CheckpointCallback(tmp_path, save_freq=50))
    # Epochs after 150 and 200 steps, then 3 final epochs of 2 world-model updates
    assert model._world_model_updates == 2 + 2 + 3 * 2 and model._final_epochs_done == 3
    # Resuming a finished run repeats nothing
    resumed = load_checkpoint(latest_checkpoint(tmp_path), env=model.get_env())
    assert resumed._final_epochs_done == 3
    resumed.learn(0, reset_num_timesteps=False)
    assert resumed._world_model_updates == model._world_model_updates
    # A run stopped before its final epochs does them when resumed
    resumed._final_epochs_done = 1
    resumed.learn(0, reset_num_timesteps=False)
    assert resumed._world_model_updates == model._world_model_updates + 2 * 2


def diamond_no_decay(module: nn.Module) -> set[int]:
    """DIAMOND's configure_opt rule, written from its description: biases, norm and embedding weights take no decay."""
    no_decay = set()
    for sub in module.modules():
        for name, param in sub.named_parameters(recurse=False):
            if "bias" in name or isinstance(sub, (nn.LayerNorm, nn.GroupNorm, nn.Embedding)):
                no_decay.add(id(param))
    return no_decay


@pytest.mark.parametrize("policy", ["CnnPolicy", "MlpPolicy"])
def test_weight_decay_spares_biases_norms_and_embeddings(policy):
    env = RewardingImageEnv(size=16) if policy == "CnnPolicy" else "CartPole-v1"
    model = JEDI(policy, env, buffer_size=1_000)
    for optimizer, module, decay in (
        (model.policy.world_model_optimizer, model.policy.world_model, 1e-2),
        (model.policy.actor_critic_optimizer, model.policy.actor_critic, 0.0),
    ):
        expected_plain = diamond_no_decay(module)
        assert expected_plain, "the networks have biases and norms"
        seen = set()
        for group in optimizer.param_groups:
            for param in group["params"]:
                seen.add(id(param))
                assert group["weight_decay"] == (0.0 if id(param) in expected_plain else decay)
        assert seen == {id(p) for p in module.parameters()}


def test_each_model_draws_its_segments_as_diamond(monkeypatch):
    model = JEDI("MlpPolicy", "CartPole-v1", learning_starts=200, seed=0)
    model.learn(200)
    calls = []
    sample = model.replay_buffer.sample_segments

    def spy(batch_size, sequence_length, *args, **kwargs):
        calls.append((sequence_length, kwargs.get("beyond_end", False), kwargs.get("transitions_only", False)))
        return sample(batch_size, sequence_length, *args, **kwargs)

    monkeypatch.setattr(model.replay_buffer, "sample_segments", spy)
    model.train_world_model(8)
    model.train_actor_critic(8)
    # Denoiser: 4 + 2 frames, padded before the start; reward/end: 4 + 15 frames running past episode ends;
    # imagination burn-in: 4 frames that all carry an action (never an episode's final frame); then MlpPolicy's own
    # replay pass (replay value and self-imitation losses): 4 + 15 frames running past episode ends as reward/end's.
    assert calls == [(6, False, False), (19, True, False), (4, False, True), (19, True, False)]
    calls.clear()
    model.replay_value_coef = model.self_imitation_coef = 0.0  # DIAMOND's actor-critic: imagination only
    model.train_actor_critic(8)
    assert calls == [(4, False, True)]


def test_initial_collection_with_epochs_of_whole_episodes():
    # train_freq in episodes: the random collection goes on episode by episode, then training starts.
    env = RewardingImageEnv(size=16, reward_probability=0.3)  # 40-step episodes, rewards of both classes at once
    model = JEDI("CnnPolicy", env, buffer_size=1_000, seed=0, **{**ONE_UPDATE_EPOCHS, "train_freq": (1, "episode")})
    model.learn(240)
    # Episodes end at 40, 80, 120 steps: random actions until 100 steps, then enough rewards of 1 are in; as SB3,
    # training follows every episode that ends past learning_starts: at 120, 160, 200 and 240 steps.
    assert model._initial_collection_done and model._random_steps_until == 100
    assert model._world_model_updates == 4
    # Without rewards of another sign: random episodes until learning_starts_max = 200 steps, then training
    never = RewardingImageEnv(size=16, reward_probability=0.0)
    model = JEDI("CnnPolicy", never, buffer_size=1_000, seed=0, **{**ONE_UPDATE_EPOCHS, "train_freq": (1, "episode")})
    model.learn(240)
    assert model._initial_collection_done and model._random_steps_until == 200
    assert model._world_model_updates == 1


def test_learning_rate_warm_up_is_diamonds_lambda_lr():
    # DIAMOND's get_lr_sched (src/utils.py): LambdaLR(k / 100) stepped after every update, so update k runs at k / 100
    # of the rate and the first at 0.
    model = JEDI("MlpPolicy", "CartPole-v1", learning_rate=1e-3, lr_warmup_steps=100)
    optimizer = model.policy.actor_critic_optimizer
    rates = {}
    for n_updates in (0, 1, 50, 99, 100, 250):
        model._set_learning_rates(optimizer, n_updates)
        rates[n_updates] = optimizer.param_groups[0]["lr"]
    assert rates == pytest.approx({0: 0.0, 1: 1e-5, 50: 5e-4, 99: 9.9e-4, 100: 1e-3, 250: 1e-3})


def test_the_imagination_loop_needs_sampled_ends_and_no_target_critic():
    for options in ({"sample_reward_end": False}, {"target_critic_tau": 0.02}):
        with pytest.raises(ValueError, match="imagination_restarts"):
            JEDI("CnnPolicy", RewardingImageEnv(), buffer_size=1_000, **options)
        model = JEDI("CnnPolicy", RewardingImageEnv(), buffer_size=1_000, imagination_restarts=False, **options)
        assert not model.imagination_restarts


def test_cnn_policy_trains_in_the_imagination_loop_and_saves_without_it(tmp_path):
    tiny = {
        "learning_starts": 100,
        "train_freq": 50,
        "gradient_steps": 2,
        "first_epoch_gradient_steps": 2,
        "first_epoch_actor_critic_gradient_steps": 3,
        "batch_size": 4,
        "imagination_horizon": 3,
    }
    model = JEDI("CnnPolicy", RewardingImageEnv(size=32), buffer_size=1_000, **tiny)
    model.learn(300)
    loop = model._imagination_loop
    assert model._actor_critic_updates >= 3 and loop.episode_steps.shape == (4,)
    assert loop.world_model is model.policy.world_model and loop.actor_critic is model.policy.actor_critic
    model.save(tmp_path / "model.zip")
    loaded = JEDI.load(tmp_path / "model.zip")
    assert loaded.imagination_restarts and getattr(loaded, "_imagination_loop", None) is None
