"""
Rollouts of the actor-critic inside a world model ("imagination").

Works with any :class:`~sb3_jedi.world_model.world_model.WorldModel`: the states are whatever the model diffuses
(JEDI's latents, or frames for a pixel-space model).
"""

from dataclasses import dataclass

import torch as th
from torch.distributions import Categorical

from sb3_jedi.actor_critic import ActorCriticNetwork
from sb3_jedi.buffers import SegmentBatch
from sb3_jedi.world_model.world_model import WorldModel

__all__ = ["ImaginedTrajectory", "burn_in", "imagine", "replay_values", "unroll"]


@dataclass
class ImaginedTrajectory:
    """
    One batch of imagined trajectories of horizon H. ``values``, ``log_probs`` and ``entropies`` carry gradients to the
    actor-critic; everything else is data.

    :param states: (B, H + 1, *state_shape) the last real state, then the H imagined ones
    :param actions: (B, H) actions taken
    :param log_probs: (B, H)
    :param entropies: (B, H)
    :param values: (B, H) critic values of states 0..H-1
    :param last_value: (B,) critic value of state H
    :param rewards: (B, H) imagined rewards: in [-1, 1] for the sign head (the sign of the reward, as DIAMOND), of any
        size for the symlog two-hot head
    :param ends: (B, H) imagined terminations in {0, 1} (or probabilities when not sampled)
    :param start_hidden: the actor-critic's LSTM state at the start of the imagined part (to replay the states
        through a target critic)
    """

    states: th.Tensor
    actions: th.Tensor
    log_probs: th.Tensor
    entropies: th.Tensor
    values: th.Tensor
    last_value: th.Tensor
    rewards: th.Tensor
    ends: th.Tensor
    start_hidden: tuple[th.Tensor, th.Tensor]

    @property
    def next_values(self) -> th.Tensor:
        """(B, H) detached value of the state after each step."""
        return th.cat([self.values[:, 1:], self.last_value[:, None]], dim=1).detach()


def burn_in(
    world_model: WorldModel,
    actor_critic: ActorCriticNetwork,
    batch: SegmentBatch,
) -> tuple[th.Tensor, th.Tensor, tuple[th.Tensor, th.Tensor], tuple[th.Tensor, th.Tensor] | None]:
    """
    Encode real segments and warm up the recurrent models on them (DIAMOND's burn-in), without gradient.

    :param world_model: the world model
    :param actor_critic: an :class:`~sb3_jedi.actor_critic.ActorCriticNetwork`
    :param batch: replay segments of ``world_model.n_cond_steps`` frames; the last frame is where imagination starts
    :return: states (B, n, *S), actions (B, n), actor-critic LSTM state before the last frame, reward/end LSTM state
    """
    with th.no_grad():
        states = world_model.encode_segments(batch)
        actions = batch.actions.clone()
        n_frames = states.shape[1]
        hidden = actor_critic.initial_state(states.shape[0], states.device)
        if n_frames > 1:
            hidden = actor_critic.forward_sequence(states[:, :-1], hidden)[2]
        reward_end_hidden = None
        if n_frames > 1:
            _, _, reward_end_hidden = world_model.predict_reward_end(states[:, :-1], actions[:, :-1], states[:, 1:])
    return states, actions, hidden, reward_end_hidden


def imagine(
    world_model: WorldModel,
    actor_critic: ActorCriticNetwork,
    batch: SegmentBatch,
    horizon: int,
    sample_reward_end: bool = True,
) -> ImaginedTrajectory:
    """
    Burn in on real segments, then let the actor act for ``horizon`` steps in the world model: each next state comes
    from the diffusion sampler, the reward and termination from the reward/end model.

    :param world_model: the world model (its parameters receive no gradient here)
    :param actor_critic: an :class:`~sb3_jedi.actor_critic.ActorCriticNetwork`
    :param batch: replay segments of ``world_model.n_cond_steps`` frames
    :param horizon: number of imagined steps (paper: 15)
    :param sample_reward_end: sample the reward class (or bin) and the termination (DIAMOND); ``False`` uses the
        expected reward and the termination probability instead (lower variance)
    :return: the imagined trajectories
    """
    if horizon < 1:
        raise ValueError(f"The imagination horizon must be at least 1, got {horizon}.")
    cond_states, cond_actions, hidden, reward_end_hidden = burn_in(world_model, actor_critic, batch)
    start_hidden = hidden
    # A separate critic does not shape the actions: its values are computed over the finished trajectory in one call.
    values_afterwards = actor_critic.separate_critic
    states, actions, log_probs, entropies, values, rewards, ends = [cond_states[:, -1]], [], [], [], [], [], []
    for _ in range(horizon):
        if values_afterwards:
            logits, hidden = actor_critic.actor_step(cond_states[:, -1], hidden)
        else:
            logits, value, hidden = actor_critic(cond_states[:, -1], hidden)
            values.append(value)
        distribution = Categorical(logits=logits)
        action = distribution.sample()
        log_probs.append(distribution.log_prob(action))
        entropies.append(distribution.entropy())
        actions.append(action)
        with th.no_grad():
            cond_actions = th.cat([cond_actions[:, :-1], action[:, None]], dim=1)
            next_state = world_model.sample_next_state(cond_states, cond_actions)
            reward_logits, end_logits, reward_end_hidden = world_model.predict_reward_end(
                cond_states[:, -1:], action[:, None], next_state[:, None], reward_end_hidden
            )
            reward_logits, end_logits = reward_logits[:, 0], end_logits[:, 0]
            reward = world_model.decode_reward(reward_logits, sample=sample_reward_end)
            if sample_reward_end:
                end = Categorical(logits=end_logits).sample().float()
            else:
                end = end_logits.softmax(-1)[:, 1]
            rewards.append(reward)
            ends.append(end)
            states.append(next_state)
            cond_states = th.cat([cond_states[:, 1:], next_state[:, None]], dim=1)
            cond_actions = th.cat([cond_actions[:, 1:], th.zeros_like(action)[:, None]], dim=1)
    all_states = th.stack(states, dim=1)
    if values_afterwards:
        all_values = actor_critic.critic_sequence(all_states, start_hidden)
        step_values, last_value = all_values[:, :-1], all_values[:, -1]
    else:
        _, last_value, _ = actor_critic(cond_states[:, -1], hidden)
        step_values = th.stack(values, dim=1)
    return ImaginedTrajectory(
        states=all_states,
        actions=th.stack(actions, dim=1),
        log_probs=th.stack(log_probs, dim=1),
        entropies=th.stack(entropies, dim=1),
        values=step_values,
        last_value=last_value,
        rewards=th.stack(rewards, dim=1),
        ends=th.stack(ends, dim=1),
        start_hidden=start_hidden,
    )


def unroll(
    actor_critic: ActorCriticNetwork, states: th.Tensor, hidden: tuple[th.Tensor, th.Tensor] | None = None
) -> tuple[th.Tensor, th.Tensor]:
    """
    Run an actor-critic through a sequence of given states (real or imagined), carrying its LSTM state
    (:meth:`~sb3_jedi.actor_critic.ActorCriticNetwork.forward_sequence`).

    :param actor_critic: the network to run
    :param states: (B, T, *state_shape)
    :param hidden: the LSTM state before the first state; ``None``: zeros
    :return: (B, T, n_actions) action logits and (B, T) values
    """
    logits, values, _ = actor_critic.forward_sequence(states, hidden)
    return logits, values


@th.no_grad()
def replay_values(actor_critic: ActorCriticNetwork, trajectory: ImaginedTrajectory) -> th.Tensor:
    """
    Values of every state of an imagined trajectory under another actor-critic (e.g. a slow target critic), replaying
    the states from the trajectory's starting LSTM state. That state comes from the burn-in of the network that
    imagined; for a slowly averaged copy of it the difference is small, and it saves a second burn-in.

    :param actor_critic: the network to evaluate with (same architecture as the one that imagined)
    :param trajectory: an imagined trajectory
    :return: (B, H + 1) values of states 0..H
    """
    return actor_critic.critic_sequence(trajectory.states, trajectory.start_hidden)
