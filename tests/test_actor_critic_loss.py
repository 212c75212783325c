import math

import pytest
import torch as th

from sb3_jedi.actor_critic_loss import (
    ReturnScaler,
    actor_critic_loss,
    compute_lambda_returns,
    continuation_weights,
    replay_lambda_returns,
    replay_value_loss,
    self_imitation_loss,
)


def brute_force_lambda_return(rewards, ends, next_values, gamma, lambda_, t):
    """Weighted sum of n-step returns (the definition of TD(lambda)), for one trajectory starting at step t."""
    horizon = len(rewards)
    total, weight_left = 0.0, 1.0

    def n_step(n):
        ret, discount = 0.0, 1.0
        for k in range(t, t + n):
            ret += discount * rewards[k]
            if ends[k]:
                return ret
            discount *= gamma
        return ret + discount * next_values[t + n - 1]

    for n in range(1, horizon - t):
        total += (1 - lambda_) * lambda_ ** (n - 1) * n_step(n)
        weight_left -= (1 - lambda_) * lambda_ ** (n - 1)
    return total + weight_left * n_step(horizon - t)


@pytest.mark.parametrize("lambda_", [0.0, 0.5, 0.95, 1.0])
def test_lambda_returns_match_the_n_step_definition(lambda_):
    th.manual_seed(0)
    rewards = th.randn(3, 6)
    ends = th.zeros(3, 6)
    ends[1, 2] = 1.0
    next_values = th.randn(3, 6)
    returns = compute_lambda_returns(rewards, ends, next_values, gamma=0.9, lambda_=lambda_)
    for b in range(3):
        for t in range(6):
            expected = brute_force_lambda_return(
                rewards[b].tolist(), ends[b].tolist(), next_values[b].tolist(), 0.9, lambda_, t
            )
            assert returns[b, t].item() == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("lambda_", [0.0, 0.5, 0.95])
def test_lambda_returns_cut_at_truncations_as_diamonds_loop(lambda_):
    # In DIAMOND's imagination loop a row holds consecutive episodes: one truncated after step 2 (its horizon), the
    # next ended after step 4, a third from step 5. Each episode's returns are those of its own steps alone, the
    # truncated one bootstrapping from the value of its last state.
    th.manual_seed(1)
    rewards, next_values = th.randn(1, 7), th.randn(1, 7)
    ends, truncations = th.zeros(1, 7), th.zeros(1, 7)
    truncations[0, 2] = 1.0
    ends[0, 4] = 1.0
    returns = compute_lambda_returns(rewards, ends, next_values, 0.9, lambda_, truncations)
    for first, last in ((0, 3), (3, 7)):
        r, e, v = (x[0, first:last].tolist() for x in (rewards, ends, next_values))
        for t in range(last - first):
            expected = brute_force_lambda_return(r, e, v, 0.9, lambda_, t)
            assert returns[0, first + t].item() == pytest.approx(expected, abs=1e-5)
    # Without the truncation the first episode's returns would run on into the next one.
    assert not th.allclose(compute_lambda_returns(rewards, ends, next_values, 0.9, 0.95)[0, :3], returns[0, :3])
    with pytest.raises(ValueError, match="truncations"):
        compute_lambda_returns(rewards, ends, next_values, 0.9, 0.9, th.zeros(1, 6))


def test_every_step_of_the_imagination_loop_counts_in_the_loss():
    # Fresh rollouts weigh steps after a termination 0; in DIAMOND's loop they belong to the next episode and count.
    th.manual_seed(2)
    log_probs = th.randn(2, 5, requires_grad=True)
    values = th.randn(2, 5, requires_grad=True)
    ends = th.zeros(2, 5)
    ends[0, 1] = 1.0
    args = (log_probs, th.rand(2, 5), values, th.randn(2, 5), ends, th.randn(2, 5))
    fresh = actor_critic_loss(*args, gamma=0.9, lambda_=0.95, ent_coef=0.0)
    loop = actor_critic_loss(*args, gamma=0.9, lambda_=0.95, ent_coef=0.0, truncations=th.zeros(2, 5))
    (grad_fresh,) = th.autograd.grad(fresh.total, log_probs)
    (grad_loop,) = th.autograd.grad(loop.total, log_probs)
    assert not grad_fresh[0, 2:].any() and grad_loop[0, 2:].abs().min() > 0
    returns = compute_lambda_returns(args[3], ends, args[5], 0.9, 0.95, th.zeros(2, 5))
    assert loop.logs["value_loss"] == pytest.approx((values.detach() - returns).pow(2).mean().item(), rel=1e-5)


def test_lambda_returns_reject_mismatched_shapes():
    with pytest.raises(ValueError, match="shape"):
        compute_lambda_returns(th.zeros(2, 3), th.zeros(2, 3), th.zeros(2, 4), 0.9, 0.9)


def test_continuation_weights_stop_after_termination():
    ends = th.tensor([[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    assert continuation_weights(ends).tolist() == [[1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]]


def test_return_scaler_floors_and_tracks_percentiles():
    scaler = ReturnScaler(decay=0.0, floor=1.0)
    assert float(scaler.update(th.full((100,), 0.3))) == 1.0
    returns = th.linspace(0, 100, 1001)
    scale = float(scaler.update(returns))
    assert scale == pytest.approx(90.0, rel=1e-3)


def test_policy_gradient_favours_actions_with_higher_returns():
    # Two actions; action 1 receives reward 1, action 0 reward 0: the loss gradient must raise the logit of action 1.
    th.manual_seed(0)
    logits = th.zeros(2, requires_grad=True)
    distribution = th.distributions.Categorical(logits=logits.expand(64, 2))
    actions = distribution.sample()
    rewards = actions.float()[:, None]
    values = th.zeros(64, 1, requires_grad=True)
    losses = actor_critic_loss(
        distribution.log_prob(actions)[:, None],
        distribution.entropy()[:, None],
        values,
        rewards,
        th.zeros(64, 1),
        th.zeros(64, 1),
        gamma=0.99,
        lambda_=0.95,
        ent_coef=0.0,
    )
    losses.total.backward()
    assert logits.grad[1] < 0 < logits.grad[0]
    assert values.grad.sum() < 0  # the critic is pulled up towards the positive mean return
    assert losses.logs["value_loss"] > 0


def test_replay_returns_match_the_n_step_definition_inside_an_episode():
    # A segment whose rows all carry actions is an imagined trajectory whose next values are the following rows' values.
    th.manual_seed(1)
    rewards, values = th.randn(2, 7), th.randn(2, 7)
    terminated = th.zeros(2, 7)
    has_action = th.ones(2, 7, dtype=th.bool)
    returns = replay_lambda_returns(rewards, terminated, has_action, values, gamma=0.9, lambda_=0.8)
    expected = compute_lambda_returns(rewards[:, :-1], terminated[:, :-1], values[:, 1:], gamma=0.9, lambda_=0.8)
    assert th.allclose(returns[:, :-1], expected, atol=1e-6)
    assert returns[:, -1].abs().max().item() == 0.0  # the last row has no following state to bootstrap from


def test_replay_returns_stop_at_a_termination_and_bootstrap_a_truncation():
    # Row 2's action terminates the episode (row 3 is its final frame, then padding); -1 per step, value 5 everywhere.
    rewards = th.tensor([[-1.0, -1.0, 0.0, 0.0, 0.0]])
    terminated = th.tensor([[0.0, 0.0, 1.0, 0.0, 0.0]])
    has_action = th.tensor([[True, True, True, False, False]])
    values = th.full((1, 5), 5.0)
    returns = replay_lambda_returns(rewards, terminated, has_action, values, gamma=0.5, lambda_=1.0)
    assert returns[0].tolist() == pytest.approx([-1.0 + 0.5 * -1.0, -1.0, 0.0, 0.0, 0.0])
    # The same episode truncated after row 2: the final frame's value carries the return on.
    returns = replay_lambda_returns(rewards, th.zeros(1, 5), has_action, values, gamma=0.5, lambda_=1.0)
    assert returns[0, 2].item() == pytest.approx(0.0 + 0.5 * 5.0)
    assert returns[0, 0].item() == pytest.approx(-1.0 + 0.5 * (-1.0 + 0.5 * 2.5))


def test_replay_returns_reject_mismatched_shapes():
    with pytest.raises(ValueError, match="shape"):
        replay_lambda_returns(th.zeros(2, 3), th.zeros(2, 3), th.ones(2, 3, dtype=th.bool), th.zeros(2, 4), 0.9, 0.9)


def test_replay_value_loss_counts_only_weighted_rows():
    values = th.tensor([[1.0, 2.0, 3.0]], requires_grad=True)
    returns = th.tensor([[0.0, 0.0, 100.0]])
    weights = th.tensor([[1.0, 1.0, 0.0]])
    loss = replay_value_loss(values, returns, weights)
    assert loss.item() == pytest.approx((1.0 + 4.0) / 2)
    loss.backward()
    assert values.grad is not None and values.grad[0, 2].item() == 0.0


def test_self_imitation_raises_only_actions_that_beat_the_value():
    logits = th.zeros(1, 3, 2, requires_grad=True)
    actions = th.tensor([[0, 1, 1]])
    log_probs = th.log_softmax(logits, -1).gather(-1, actions[..., None]).squeeze(-1)
    returns = th.tensor([[5.0, -5.0, 4.0]])
    values = th.tensor([[1.0, 0.0, 0.0]])
    weights = th.tensor([[1.0, 1.0, 0.0]])
    loss = self_imitation_loss(log_probs, returns, values, weights, scale=2.0)
    # Row 0 beat its value by 4 (2 scales); row 1 did worse (ignored); row 2 has no weight.
    assert loss.item() == pytest.approx(-(2.0 * math.log(0.5)) / 2)
    loss.backward()
    assert logits.grad[0, 0, 0].item() < 0 < logits.grad[0, 0, 1].item()  # descent raises action 0 in row 0
    assert logits.grad[0, 1].abs().sum().item() == 0.0 and logits.grad[0, 2].abs().sum().item() == 0.0


def test_self_imitation_margin_leaves_out_advantages_below_it():
    log_probs = th.log(th.full((1, 3), 0.5))
    returns = th.tensor([[10.0, 1.0, 3.0]])
    values = th.zeros(1, 3)
    weights = th.ones(1, 3)
    # In units of the return scale 4: advantages 2.5, 0.25 and 0.75; a margin of 0.5 keeps 2.0, nothing and 0.25.
    loss = self_imitation_loss(log_probs, returns, values, weights, scale=4.0, margin=0.5)
    assert loss.item() == pytest.approx(-(2.0 + 0.25) * math.log(0.5) / 3)
    without = self_imitation_loss(log_probs, returns, values, weights, scale=4.0)
    assert without.item() == pytest.approx(-(2.5 + 0.25 + 0.75) * math.log(0.5) / 3)
