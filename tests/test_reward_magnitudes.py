"""Rewards of many sizes: the symlog two-hot reward head, its defaults and saving, the sign head's warning, and the
returns and return normalisation of large and small rewards."""

import math
import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from saved_models import rewrite_zip
from tiny_settings import SMALL_CNN, TINY
from toy_envs import MovingBar, RandomImages

from sb3_jedi import JEDI, CnnPolicy, MlpPolicy, RewardMagnitudeWarning
from sb3_jedi.actor_critic_loss import ReturnScaler, actor_critic_loss, compute_lambda_returns
from sb3_jedi.buffers import SegmentBatch
from sb3_jedi.diamond import DIAMOND, DIAMONDPolicy
from sb3_jedi.policies import SAVED_REWARD_HEAD, fill_saved_policy_kwargs
from sb3_jedi.world_model.reward_end import REWARD_HEADS, RewardEndModel
from sb3_jedi.world_model.twohot import (
    decode_symlog_twohot,
    encode_symlog_twohot,
    symexp,
    symlog,
    symlog_bins,
    twohot_decode,
)
from sb3_jedi.world_model.world_model import reward_end_loss

# Two-hot encoding ---------------------------------------------------------------------------------------------------


def round_trip_values() -> th.Tensor:
    special = th.tensor([0.0, 0.01, 1.0, 100.0, 1000.0, 1e-6, 0.5, 3.0, 999.9])
    grid = th.linspace(-1000.0, 1000.0, 4001)
    logarithmic = th.logspace(-3, 3, 601)
    return th.cat([special, -special, grid, logarithmic, -logarithmic])


def test_symlog_bins_are_dreamer_v3s():
    bins = symlog_bins()
    assert bins.shape == (255,)
    assert bins[0] == -20.0 and bins[-1] == 20.0
    assert th.allclose(bins.diff(), th.full((254,), 40.0 / 254), atol=1e-5)
    assert bins[127] == 0.0  # exactly: a sampled zero reward is exactly 0
    assert th.allclose(symexp(symlog(round_trip_values())), round_trip_values(), rtol=1e-5, atol=1e-6)


def test_twohot_round_trips_within_the_local_bin_spacing():
    bins = symlog_bins()
    values = round_trip_values()
    encoding = encode_symlog_twohot(values, bins)

    # Two-hot: non-negative weights summing to 1 on at most two adjacent bins that bracket symlog(value).
    assert (encoding >= 0).all()
    assert th.allclose(encoding.sum(-1), th.ones(len(values)))
    support = encoding > 0
    assert (support.sum(-1) <= 2).all()
    first = support.float().argmax(-1)
    last = bins.numel() - 1 - support.flip(-1).float().argmax(-1)
    assert (last - first <= 1).all()
    assert (bins[first] <= symlog(values) + 1e-6).all() and (symlog(values) - 1e-6 <= bins[last]).all()

    # Decoded through the logits the reward head would output, as imagination decodes them.
    decoded = decode_symlog_twohot(encoding.log(), bins)
    index = th.searchsorted(bins, symlog(values).abs().contiguous()).clamp(1, bins.numel() - 1)
    local_spacing = symexp(bins[index]) - symexp(bins[index - 1])
    error = (decoded - values).abs()
    assert (error <= local_spacing).all(), values[error > local_spacing]
    # The interpolation is linear in symlog space, so the round trip is in fact exact up to float rounding.
    assert th.allclose(decoded, values, rtol=1e-4, atol=1e-5)
    assert decoded[values == 0].abs().max() == 0.0
    # The weights alone decode to symlog(value).
    assert th.allclose(twohot_decode(encoding, bins), symlog(values), atol=1e-5)


def test_values_beyond_the_bins_go_to_the_edge_bins():
    bins = symlog_bins(11, -2.0, 2.0)
    encoding = encode_symlog_twohot(th.tensor([1e6, -1e6]), bins)
    assert encoding[0, -1] == 1.0 and encoding[1, 0] == 1.0


def test_unknown_reward_head_names_the_valid_ones():
    with pytest.raises(ValueError, match="'sign', 'symlog_twohot'"):
        RewardEndModel((4,), 3, reward_head="twohot")
    assert REWARD_HEADS == ("sign", "symlog_twohot")


# Learning rewards of three sizes ------------------------------------------------------------------------------------

REWARD_SIZES = (0.1, 1.0, 100.0)


def action_reward_batch(generator: th.Generator, batch_size: int = 32, length: int = 5) -> SegmentBatch:
    """Random 4-D states; the reward of a transition is set by its action: 0.1, 1 or 100."""
    actions = th.randint(0, 3, (batch_size, length), generator=generator)
    real = th.ones(batch_size, length, dtype=th.bool)
    return SegmentBatch(
        observations=th.randn(batch_size, length, 4, generator=generator),
        actions=actions,
        rewards=th.tensor(REWARD_SIZES)[actions],
        terminated=th.zeros(batch_size, length),
        truncated=th.zeros(batch_size, length),
        mask=real,
        has_action=real,
    )


def trained_reward_model(reward_head: str) -> RewardEndModel:
    th.manual_seed(0)
    generator = th.Generator().manual_seed(0)
    model = RewardEndModel((4,), 3, lstm_dim=32, hidden_dim=64, cond_dim=16, reward_head=reward_head)
    optimizer = th.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(400):
        batch = action_reward_batch(generator)
        loss, _ = reward_end_loss(model, batch, batch.observations)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model


def decoded_rewards_by_action(model: RewardEndModel, sample: bool = False) -> list[th.Tensor]:
    batch = action_reward_batch(th.Generator().manual_seed(1))
    with th.no_grad():
        logits, _, _ = model(batch.observations[:, :-1], batch.actions[:, :-1], batch.observations[:, 1:])
        rewards = model.decode_reward(logits, sample=sample)
    return [rewards[batch.actions[:, :-1] == action] for action in range(3)]


def test_symlog_twohot_head_learns_the_sizes_of_rewards():
    model = trained_reward_model("symlog_twohot")
    for size, predicted in zip(REWARD_SIZES, decoded_rewards_by_action(model), strict=True):
        assert predicted.numel() > 0
        assert predicted.sub(size).abs().max() <= 0.1 * size, (size, predicted)
    # The two-hot head never samples its reward (a bin from the thin tails could be any size): the same expectation.
    for expected, sampled in zip(decoded_rewards_by_action(model), decoded_rewards_by_action(model, sample=True), strict=True):
        th.testing.assert_close(sampled, expected)


def test_sign_head_cannot_tell_the_sizes_apart():
    model = trained_reward_model("sign")
    for predicted in decoded_rewards_by_action(model):
        assert predicted.sub(1.0).abs().max() < 0.05
    for sampled in decoded_rewards_by_action(model, sample=True):
        assert set(sampled.unique().tolist()) <= {-1.0, 0.0, 1.0}


def test_untrained_symlog_twohot_head_predicts_zero_reward():
    model = RewardEndModel((4,), 3, lstm_dim=8, hidden_dim=8, cond_dim=4, reward_head="symlog_twohot")
    states = th.randn(2, 3, 4)
    logits, end_logits, _ = model(states, th.zeros(2, 3, dtype=th.long), states)
    assert logits.shape == (2, 3, 255) and end_logits.shape == (2, 3, 2)
    assert model.decode_reward(logits).abs().max() < 1e-3
    assert th.allclose(model.reward_sign_probs(logits).sum(-1), th.ones(2, 3))


# The sign head's warning ---------------------------------------------------------------------------------------------


class PaysRewards(gym.Env):
    """2-D observations, two actions; step t pays ``rewards[t % len(rewards)]``; 10-step episodes."""

    observation_space = spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = spaces.Discrete(2)

    def __init__(self, rewards: tuple[float, ...]) -> None:
        self.rewards = rewards
        self.t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self.observation_space.sample(), {}

    def step(self, action):
        reward = self.rewards[self.t % len(self.rewards)]
        self.t += 1
        return self.observation_space.sample(), float(reward), self.t >= 10, False, {}


def magnitude_warnings(rewards: tuple[float, ...], reward_head: str | None, n_learn_calls: int = 1) -> list:
    policy_kwargs = {"reward_end_kwargs": {"lstm_dim": 8, "hidden_dim": 8, "cond_dim": 4}}
    if reward_head is not None:
        policy_kwargs["reward_end_kwargs"]["reward_head"] = reward_head
    # Collection only: learning_starts is never reached.
    model = JEDI("MlpPolicy", PaysRewards(rewards), seed=0, **{**TINY, "learning_starts": 1_000}, policy_kwargs=policy_kwargs)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # Python's once-per-location filter must not hide a second warning
        for i in range(n_learn_calls):
            model.learn(30, reset_num_timesteps=i == 0)
    return [warning for warning in caught if issubclass(warning.category, RewardMagnitudeWarning)]


def test_sign_head_warns_once_about_rewards_of_other_sizes():
    caught = magnitude_warnings((0.5, 100.0), "sign", n_learn_calls=2)
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "0.5" in message
    assert "not the return" in message
    assert "policy_kwargs={'reward_end_kwargs': {'reward_head': 'symlog_twohot'}}" in message
    # Once per model: another model warns again.
    assert len(magnitude_warnings((0.0, 100.0), "sign")) == 1


@pytest.mark.parametrize(("rewards", "reward_head"), [((1.0, 0.0, -1.0), "sign"), ((0.5, 100.0), None)])
def test_no_warning_for_signs_or_for_the_symlog_twohot_head(rewards, reward_head):
    assert magnitude_warnings(rewards, reward_head) == []


# Defaults -------------------------------------------------------------------------------------------------------------

TINY_DIAMOND = {
    "denoiser_kwargs": {"channels": (8, 8), "depths": (1, 1), "mid_depth": 1, "cond_dim": 16},
    "reward_end_kwargs": {"channels": (8, 8, 8, 8), "depth": 1, "cond_dim": 8, "lstm_dim": 16, "hidden_dim": 16},
    "actor_critic_kwargs": {"channels": (8, 8, 8, 8), "lstm_dim": 16},
}


def reward_head_of(model: JEDI) -> str:
    return model.policy.world_model.reward_end_model.reward_head


def test_default_reward_heads():
    assert RewardEndModel((4,), 2).reward_head == "sign"
    assert CnnPolicy.default_reward_head == "sign"
    assert MlpPolicy.default_reward_head == "symlog_twohot"
    assert DIAMONDPolicy.default_reward_head == "sign"
    assert SAVED_REWARD_HEAD == "sign"

    mlp = JEDI("MlpPolicy", "CartPole-v1", **TINY)
    assert reward_head_of(mlp) == "symlog_twohot"
    assert mlp.policy.world_model.reward_end_model.n_reward_outputs == 255
    cnn = JEDI("CnnPolicy", MovingBar(), buffer_size=1_000, policy_kwargs=SMALL_CNN, **TINY)
    assert reward_head_of(cnn) == "sign"
    assert cnn.policy.world_model.reward_end_model.n_reward_outputs == 3
    diamond = DIAMOND("CnnPolicy", RandomImages((64, 64, 3)), buffer_size=1_000, policy_kwargs=TINY_DIAMOND, **TINY)
    assert reward_head_of(diamond) == "sign"
    # The head is among the saved parameters of the policy and of the algorithm.
    for model, head in ((mlp, "symlog_twohot"), (cnn, "sign"), (diamond, "sign")):
        assert model.policy._get_constructor_parameters()["reward_end_kwargs"]["reward_head"] == head
        assert model.policy_kwargs["reward_end_kwargs"]["reward_head"] == head
    # Explicit choices win.
    sign_mlp = JEDI("MlpPolicy", "CartPole-v1", policy_kwargs={"reward_end_kwargs": {"reward_head": "sign"}}, **TINY)
    assert reward_head_of(sign_mlp) == "sign"


# Saving and loading ---------------------------------------------------------------------------------------------------


def test_save_load_keeps_the_reward_head(tmp_path):
    for head in ("sign", "symlog_twohot"):
        model = JEDI("MlpPolicy", "CartPole-v1", seed=0, policy_kwargs={"reward_end_kwargs": {"reward_head": head}}, **TINY)
        model.save(tmp_path / head)
        loaded = JEDI.load(tmp_path / head)
        assert reward_head_of(loaded) == head
        assert loaded.policy_kwargs["reward_end_kwargs"]["reward_head"] == head
    # The default MlpPolicy head (nothing named by the user) is saved too.
    JEDI("MlpPolicy", "CartPole-v1", seed=0, **TINY).save(tmp_path / "default")
    assert reward_head_of(JEDI.load(tmp_path / "default")) == "symlog_twohot"


def remove_saved_reward_head(data: dict) -> None:
    """Edit a saved model's ``data`` as a model saved before the reward head was an option: no ``reward_head``."""
    assert data["policy_kwargs"]["reward_end_kwargs"].pop("reward_head") == "sign"


def test_models_saved_without_a_reward_head_load_with_the_sign_head(tmp_path):
    sign = {"reward_end_kwargs": {"reward_head": "sign", "lstm_dim": 16}}
    model = JEDI("MlpPolicy", "CartPole-v1", seed=0, policy_kwargs=sign, **TINY)
    model.save(tmp_path / "new")
    rewrite_zip(tmp_path / "new.zip", tmp_path / "old.zip", edit_data=remove_saved_reward_head)
    loaded = JEDI.load(tmp_path / "old")  # the sign head's weights fit: SB3 loads them with exact_match=True
    assert reward_head_of(loaded) == "sign"
    assert loaded.policy_kwargs["reward_end_kwargs"] == {"reward_head": "sign", "lstm_dim": 16}
    for name, value in model.policy.state_dict().items():
        assert th.equal(loaded.policy.state_dict()[name], value), name


def test_fill_saved_policy_kwargs():
    shared = {"separate_critic": False}
    assert fill_saved_policy_kwargs({}) == {
        "reward_end_kwargs": {"reward_head": "sign"},
        "actor_critic_kwargs": shared,
        "diamond_blocks": False,
    }
    saved = {"reward_end_kwargs": {"lstm_dim": 8}, "latent_dim": 4}
    assert fill_saved_policy_kwargs(saved) == {
        "reward_end_kwargs": {"reward_head": "sign", "lstm_dim": 8},
        "latent_dim": 4,
        "actor_critic_kwargs": shared,
        "diamond_blocks": False,
    }
    assert saved == {"reward_end_kwargs": {"lstm_dim": 8}, "latent_dim": 4}  # not changed in place
    named = {
        "reward_end_kwargs": {"reward_head": "symlog_twohot"},
        "actor_critic_kwargs": {"separate_critic": True},
        "diamond_blocks": True,
    }
    assert fill_saved_policy_kwargs(named) == named


# Returns and return normalisation with large and small rewards -----------------------------------------------------


def imagined_problem(scale: float, seed: int = 0) -> dict[str, th.Tensor]:
    """A batch of imagined trajectories whose rewards and values are ``scale`` times those of a unit problem."""
    generator = th.Generator().manual_seed(seed)
    batch, horizon = 64, 15
    rewards = th.randint(0, 2, (batch, horizon), generator=generator).float() * 2.0
    ends = (th.rand(batch, horizon, generator=generator) < 0.05).float()
    values = th.randn(batch, horizon, generator=generator) + 5.0
    bootstrap = th.randn(batch, horizon, generator=generator) + 5.0
    return {"rewards": rewards * scale, "ends": ends, "values": values * scale, "bootstrap": bootstrap * scale}


@pytest.mark.parametrize("scale", [100.0, 0.01])
def test_lambda_returns_scale_linearly_with_the_rewards(scale):
    unit, scaled = imagined_problem(1.0), imagined_problem(scale)
    expected = compute_lambda_returns(unit["rewards"], unit["ends"], unit["bootstrap"], 0.985, 0.95) * scale
    returns = compute_lambda_returns(scaled["rewards"], scaled["ends"], scaled["bootstrap"], 0.985, 0.95)
    assert th.allclose(returns, expected, rtol=1e-5, atol=1e-6 * scale)


@pytest.mark.parametrize("reward", [100.0, 0.01])
def test_lambda_returns_of_a_constant_reward_are_its_discounted_sum(reward):
    # With every bootstrap value at the fixed point r / (1 - gamma), every lambda-return is r / (1 - gamma).
    gamma = 0.99
    rewards = th.full((2, 15), reward)
    fixed_point = th.full((2, 15), reward / (1 - gamma))
    returns = compute_lambda_returns(rewards, th.zeros(2, 15), fixed_point, gamma, 0.95)
    assert th.allclose(returns, fixed_point, rtol=1e-5)
    # Without bootstrap (values 0) and lambda 1: the discounted sum of the remaining rewards.
    returns = compute_lambda_returns(rewards, th.zeros(2, 15), th.zeros(2, 15), gamma, 1.0)
    remaining = th.tensor([sum(gamma**k for k in range(15 - t)) for t in range(15)]) * reward
    assert th.allclose(returns[0], remaining, rtol=1e-5)


def policy_gradient(problem: dict[str, th.Tensor], return_scaler: ReturnScaler | None) -> tuple[th.Tensor, dict]:
    """Gradient of the policy loss with respect to the log-probabilities: minus the (scaled) advantages, weighted."""
    log_probs = th.zeros_like(problem["rewards"], requires_grad=True)
    losses = actor_critic_loss(
        log_probs,
        th.zeros_like(log_probs),
        problem["values"],
        problem["rewards"],
        problem["ends"],
        problem["bootstrap"],
        gamma=0.985,
        lambda_=0.95,
        ent_coef=0.0,
        value_coef=0.0,
        return_scaler=return_scaler,
    )
    (gradient,) = th.autograd.grad(losses.total, log_probs)
    return gradient, losses.logs


def test_return_normalisation_scales_large_returns_down_and_leaves_small_ones():
    unit_gradient, unit_logs = policy_gradient(imagined_problem(1.0), ReturnScaler())
    unit_scale = unit_logs["return_scale"]
    assert unit_scale > 1.0  # the unit problem's returns span more than the floor: the scale is their range

    # 100x rewards: the range is 100x, so the advantages the actor sees are those of the unit problem.
    large_gradient, large_logs = policy_gradient(imagined_problem(100.0), ReturnScaler())
    assert large_logs["return_scale"] == pytest.approx(100 * unit_scale, rel=1e-4)
    assert th.allclose(large_gradient, unit_gradient, rtol=1e-4, atol=1e-7)
    raw_gradient, _ = policy_gradient(imagined_problem(100.0), None)
    assert raw_gradient.abs().max() > 50 * large_gradient.abs().max()  # without normalisation they are 100x larger

    # 0.01x rewards: the range is below the floor of 1, so the advantages are not scaled up (noise stays small), and
    # they are not lost either: the same as without normalisation.
    small_gradient, small_logs = policy_gradient(imagined_problem(0.01), ReturnScaler())
    assert small_logs["return_scale"] == 1.0
    unnormalised_small, _ = policy_gradient(imagined_problem(0.01), None)
    assert th.equal(small_gradient, unnormalised_small)
    assert th.allclose(small_gradient, unit_gradient * unit_scale * 0.01, rtol=1e-4, atol=1e-9)
    assert small_gradient.abs().max() > 0


@pytest.mark.parametrize("scale", [100.0, 0.01])
def test_critic_regresses_the_lambda_returns_whatever_the_normalisation(scale):
    problem = imagined_problem(scale)
    returns = compute_lambda_returns(problem["rewards"], problem["ends"], problem["bootstrap"], 0.985, 0.95)
    for return_scaler in (None, ReturnScaler()):
        values = problem["values"].clone().requires_grad_(True)
        losses = actor_critic_loss(
            th.zeros_like(values),
            th.zeros_like(values),
            values,
            problem["rewards"],
            problem["ends"],
            problem["bootstrap"],
            gamma=0.985,
            lambda_=0.95,
            ent_coef=0.0,
            value_coef=1.0,
            return_scaler=return_scaler,
        )
        (gradient,) = th.autograd.grad(losses.total, values)
        # The value loss is the squared error to the unnormalised lambda-returns: its gradient points at them, and
        # vanishes where the values equal them.
        weights = th.cumprod(1 - problem["ends"], dim=1)
        weights = th.cat([th.ones_like(weights[:, :1]), weights[:, :-1]], dim=1)
        expected = 2 * weights * (problem["values"] - returns) / weights.sum()
        assert th.allclose(gradient, expected, rtol=1e-4, atol=1e-8 * scale)
        assert losses.logs["imagined_return"] == pytest.approx(returns[:, 0].mean().item(), rel=1e-5)
        assert math.isfinite(losses.logs["value_loss"])


def test_no_warning_on_atari_where_the_sign_is_the_paper_setting():
    from sb3_jedi.envs import make_atari100k_env

    def warns_once_fed(env) -> list:
        model = JEDI("CnnPolicy", env, seed=0, policy_kwargs=SMALL_CNN)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model._check_reward_magnitudes(np.array([4.0]))  # e.g. a Breakout brick, or Pong's summed frames
        return [warning for warning in caught if issubclass(warning.category, RewardMagnitudeWarning)]

    assert warns_once_fed(make_atari100k_env("Pong", seed=0)) == []
    assert len(warns_once_fed(RandomImages((64, 64, 3)))) == 1  # the same CnnPolicy on a non-Atari image env warns
