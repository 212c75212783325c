"""
Losses of the actor-critic trained in imagination: lambda-returns, REINFORCE with a value baseline, entropy bonus
(DIAMOND / JEDI), plus the optional stabilisers of DreamerV3 (percentile return scaling).
"""

from dataclasses import dataclass

import torch as th
from torch import nn

__all__ = [
    "ActorCriticLosses",
    "ReturnScaler",
    "actor_critic_loss",
    "compute_lambda_returns",
    "continuation_weights",
    "replay_lambda_returns",
    "replay_value_loss",
    "self_imitation_loss",
]


def compute_lambda_returns(
    rewards: th.Tensor,
    ends: th.Tensor,
    next_values: th.Tensor,
    gamma: float,
    lambda_: float,
    truncations: th.Tensor | None = None,
) -> th.Tensor:
    """
    TD(lambda) returns of an imagined trajectory, bootstrapped from the value of the state after the last step:

    ``R_t = r_t + gamma * (1 - end_t) * ((1 - lambda) * V(s_{t+1}) + lambda * R_{t+1})``, ``R_{H} = V(s_H)``.

    Where an imagined episode was truncated at step t (DIAMOND's imagination loop, whose next step belongs to a new
    episode), ``R_t = r_t + gamma * (1 - end_t) * V(s_{t+1})``, as DIAMOND's ``compute_lambda_returns``.

    :param rewards: (B, H) reward after action t
    :param ends: (B, H) 1 where action t ended the episode
    :param next_values: (B, H) value of the state reached by action t (the episode's last state where it ended or was
        truncated)
    :param gamma: discount factor (paper: 0.985)
    :param lambda_: lambda of the returns (paper: 0.95)
    :param truncations: (B, H) 1 where the episode was cut after action t; ``None``: none was
    :return: (B, H) lambda-returns, without gradient
    """
    if not rewards.shape == ends.shape == next_values.shape or rewards.ndim != 2:
        raise ValueError(
            f"rewards, ends and next_values must share one (B, H) shape, got {tuple(rewards.shape)}, "
            f"{tuple(ends.shape)} and {tuple(next_values.shape)}."
        )
    if truncations is not None and truncations.shape != rewards.shape:
        raise ValueError(f"truncations must have the (B, H) shape {tuple(rewards.shape)}, got {tuple(truncations.shape)}.")
    rewards, ends, next_values = rewards.detach(), ends.detach().float(), next_values.detach()
    cut = th.zeros_like(ends) if truncations is None else truncations.detach().float()
    returns = th.empty_like(rewards)
    last = next_values[:, -1]
    for t in reversed(range(rewards.shape[1])):
        # After a truncation the following step starts another episode: bootstrap from the value alone.
        following = cut[:, t] * next_values[:, t] + (1 - cut[:, t]) * last
        bootstrap = (1 - lambda_) * next_values[:, t] + lambda_ * following
        last = rewards[:, t] + gamma * (1 - ends[:, t]) * bootstrap
        returns[:, t] = last
    return returns


def continuation_weights(ends: th.Tensor) -> th.Tensor:
    """
    Weight of each imagined step: 1 until the episode ends, 0 after (the step that ends it still counts).

    :param ends: (B, H) termination flags (or probabilities) of each step
    :return: (B, H) weights ``prod_{k < t} (1 - end_k)``
    """
    alive = th.cumprod(1 - ends.detach().float(), dim=1)
    return th.cat([th.ones_like(alive[:, :1]), alive[:, :-1]], dim=1)


class ReturnScaler(nn.Module):
    """
    DreamerV3's return normalisation: advantages are divided by ``max(floor, P95 - P5)`` of the lambda-returns,
    the percentiles tracked with an exponential moving average. Large returns are scaled down, small ones are not
    scaled up, so sparse rewards keep their signal.

    :param decay: EMA decay of the percentile estimates (DreamerV3: 0.99)
    :param floor: smallest scale (DreamerV3: 1)
    """

    # Buffers (registered in __init__).
    low: th.Tensor
    high: th.Tensor
    initialized: th.Tensor

    def __init__(self, decay: float = 0.99, floor: float = 1.0) -> None:
        super().__init__()
        self.decay = decay
        self.floor = floor
        self.register_buffer("low", th.zeros(()))
        self.register_buffer("high", th.zeros(()))
        self.register_buffer("initialized", th.zeros((), dtype=th.bool))

    @th.no_grad()
    def update(self, returns: th.Tensor) -> th.Tensor:
        """Track the 5th and 95th percentiles of ``returns`` and return the current scale."""
        flat = returns.detach().float().flatten()
        low, high = th.quantile(flat, 0.05), th.quantile(flat, 0.95)
        if not bool(self.initialized):
            self.low.copy_(low)
            self.high.copy_(high)
            self.initialized.fill_(True)
        else:
            self.low.mul_(self.decay).add_((1 - self.decay) * low)
            self.high.mul_(self.decay).add_((1 - self.decay) * high)
        return self.scale

    @property
    def scale(self) -> th.Tensor:
        return th.clamp(self.high - self.low, min=self.floor)


@dataclass
class ActorCriticLosses:
    """The total loss to optimise and the terms to log."""

    total: th.Tensor
    logs: dict[str, float]


def actor_critic_loss(
    log_probs: th.Tensor,
    entropies: th.Tensor,
    values: th.Tensor,
    rewards: th.Tensor,
    ends: th.Tensor,
    bootstrap_values: th.Tensor,
    gamma: float,
    lambda_: float,
    ent_coef: float,
    value_coef: float = 1.0,
    return_scaler: ReturnScaler | None = None,
    truncations: th.Tensor | None = None,
) -> ActorCriticLosses:
    """
    REINFORCE with a lambda-return baseline, value regression and an entropy bonus, on one imagined trajectory
    (DIAMOND's loss). Steps after an imagined termination get zero weight, unless ``truncations`` are given: then the
    steps come from DIAMOND's imagination loop, which restarts an ended episode at once, and every step counts.

    :param log_probs: (B, H) log-probability of the actions taken
    :param entropies: (B, H) entropy of the policy at each step
    :param values: (B, H) critic value of the state at each step (with gradient)
    :param rewards: (B, H) imagined rewards
    :param ends: (B, H) imagined terminations
    :param bootstrap_values: (B, H) value of the state *after* each step, used to bootstrap the returns (the online
        critic's, detached, or a slow target critic's)
    :param gamma: discount (paper: 0.985)
    :param lambda_: lambda of the returns (paper: 0.95)
    :param ent_coef: entropy bonus weight (paper: 0.001)
    :param value_coef: value loss weight (DIAMOND: 1)
    :param return_scaler: optional DreamerV3 percentile scaling of the advantages
    :param truncations: (B, H) 1 where an imagined episode of DIAMOND's loop was cut after the step (its horizon);
        ``None``: one rollout per row, which ends at an imagined termination
    :return: the total loss and the logged terms
    """
    returns = compute_lambda_returns(rewards, ends, bootstrap_values, gamma, lambda_, truncations)
    weights = continuation_weights(ends) if truncations is None else th.ones_like(returns)
    advantages = returns - values.detach()
    scale = return_scaler.update(returns) if return_scaler is not None else th.ones(())
    advantages = advantages / scale
    norm = weights.sum().clamp(min=1.0)
    policy_loss = -(weights * log_probs * advantages).sum() / norm
    entropy = (weights * entropies).sum() / norm
    value_loss = (weights * (values - returns).pow(2)).sum() / norm
    total = policy_loss - ent_coef * entropy + value_coef * value_loss
    logs = {
        "policy_loss": policy_loss.item(),
        "value_loss": value_loss.item(),
        "entropy": entropy.item(),
        "imagined_return": returns[:, 0].mean().item(),
        "imagined_value": values.detach().mean().item(),
        "imagined_reward": rewards.mean().item(),
        "imagined_end_rate": ends.float().mean().item(),
        "return_scale": float(scale),
    }
    return ActorCriticLosses(total=total, logs=logs)


def replay_lambda_returns(
    rewards: th.Tensor,
    terminated: th.Tensor,
    has_action: th.Tensor,
    bootstrap_values: th.Tensor,
    gamma: float,
    lambda_: float,
) -> th.Tensor:
    """
    TD(lambda) returns of real replay segments (DreamerV3's replay value targets), for every row that carries an
    action: ``R_t = r_t + gamma * (1 - term_t) * ((1 - lambda) * V(s_{t+1}) + lambda * R_{t+1})``, where ``R_{t+1}``
    is replaced by ``V(s_{t+1})`` when row ``t + 1`` carries no action (the episode's final frame, whose value is only
    used when the episode was truncated, or the segment's last row). Rows without an action get 0.

    :param rewards: (B, L) reward after each row's action
    :param terminated: (B, L) 1 where the row's action ended the episode
    :param has_action: (B, L) rows that carry an action (a transition)
    :param bootstrap_values: (B, L) value of each row's state (a target critic's, or the online one detached)
    :param gamma: discount factor
    :param lambda_: lambda of the returns
    :return: (B, L) returns, without gradient
    """
    if not rewards.shape == terminated.shape == has_action.shape == bootstrap_values.shape or rewards.ndim != 2:
        raise ValueError(
            "rewards, terminated, has_action and bootstrap_values must share one (B, L) shape, got "
            f"{tuple(rewards.shape)}, {tuple(terminated.shape)}, {tuple(has_action.shape)} and "
            f"{tuple(bootstrap_values.shape)}."
        )
    rewards, terminated = rewards.detach().float(), terminated.detach().float()
    values, acting = bootstrap_values.detach().float(), has_action.bool()
    returns = th.zeros_like(rewards)
    # The return from the row after the segment's last one is unknown: the segment's last row only bootstraps.
    following = values[:, -1]
    for t in reversed(range(rewards.shape[1] - 1)):
        next_value = values[:, t + 1]
        # Where row t + 1 has no action its state is an episode's final frame (or padding): no return continues it.
        continued = th.where(acting[:, t + 1], following, next_value)
        bootstrap = (1 - lambda_) * next_value + lambda_ * continued
        current = rewards[:, t] + gamma * (1 - terminated[:, t]) * bootstrap
        returns[:, t] = th.where(acting[:, t], current, th.zeros_like(current))
        following = returns[:, t]
    return returns


def replay_value_loss(values: th.Tensor, returns: th.Tensor, weights: th.Tensor) -> th.Tensor:
    """
    Squared error of the critic on real replay rows against their :func:`replay_lambda_returns`, averaged over the rows
    of weight 1 (rows with an action, after the burn-in).

    :param values: (B, L) critic values of the rows (with gradient)
    :param returns: (B, L) targets
    :param weights: (B, L) 1 for rows that count, 0 otherwise
    :return: scalar loss
    """
    weights = weights.detach().float()
    return (weights * (values - returns.detach()).pow(2)).sum() / weights.sum().clamp(min=1.0)


def self_imitation_loss(
    log_probs: th.Tensor,
    returns: th.Tensor,
    values: th.Tensor,
    weights: th.Tensor,
    scale: th.Tensor | float = 1.0,
    margin: float = 0.0,
) -> th.Tensor:
    """
    Self-imitation (Oh et al., 2018): raise the log-probability of replayed actions whose return beat the critic's
    value, in proportion to by how much, ``-log pi(a_t | s_t) * max((R_t - V(s_t)) / scale - margin, 0)``; actions
    that did worse than expected, or better by less than the margin, are left alone.

    :param log_probs: (B, L) log-probabilities of the stored actions under the current actor (with gradient)
    :param returns: (B, L) returns of the stored rows
    :param values: (B, L) the critic's values of the rows
    :param weights: (B, L) 1 for rows that count, 0 otherwise
    :param scale: divides the advantages (the return scale, as in the imagined policy loss)
    :param margin: the part of a scaled advantage below this does not count
    :return: scalar loss
    """
    advantages = ((returns - values).detach() / scale - margin).clamp(min=0.0).detach()
    weights = weights.detach().float()
    return -(weights * log_probs * advantages).sum() / weights.sum().clamp(min=1.0)
