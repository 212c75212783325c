"""
Rollouts of the actor-critic inside a world model ("imagination").

Works with any :class:`~sb3_jedi.world_model.world_model.WorldModel`: the states are whatever the model diffuses
(JEDI's latents, or frames for a pixel-space model).
"""

from collections.abc import Callable
from dataclasses import dataclass

import torch as th
from torch.distributions import Categorical

from sb3_jedi.actor_critic import ActorCriticNetwork
from sb3_jedi.buffers import SegmentBatch
from sb3_jedi.world_model.world_model import WorldModel

__all__ = ["ImaginationLoop", "ImaginedSteps", "ImaginedTrajectory", "burn_in", "imagine", "replay_values", "unroll"]


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


@dataclass
class ImaginedSteps:
    """
    One window of :class:`ImaginationLoop`: ``n_steps`` steps of ``B`` imagined episodes, which may end, be truncated
    and restart inside the window. ``values``, ``log_probs`` and ``entropies`` carry gradients to the actor-critic.

    :param log_probs: (B, n) log-probability of the actions taken
    :param entropies: (B, n)
    :param values: (B, n) critic value of the state each action was taken in
    :param rewards: (B, n) imagined rewards
    :param ends: (B, n) imagined terminations, sampled, in {0, 1}
    :param truncations: (B, n) 1 where the episode reached the horizon with this step (and did not end)
    :param next_values: (B, n) detached value of the state after each step: that episode's last state where it ended
        or was truncated, computed before the restart
    :param restarts: number of imagined episodes that ended or were truncated in the window
    """

    log_probs: th.Tensor
    entropies: th.Tensor
    values: th.Tensor
    rewards: th.Tensor
    ends: th.Tensor
    truncations: th.Tensor
    next_values: th.Tensor
    restarts: int


class ImaginationLoop:
    """
    DIAMOND's imagination (its ``WorldModelEnv`` and ``make_env_loop``): ``B`` imagined episodes kept from one
    actor-critic update to the next. Each update steps them ``n_steps`` times; an episode that ends (a sampled
    termination) or reaches ``horizon`` steps restarts at once from a newly drawn start (its states burnt in, its LSTM
    states reset and warmed up on the start's frames), so every step of the window is a step of some episode, and
    episodes run on across updates (the actor-critic's LSTM state carried over without its gradient).

    Differences from DIAMOND's code, which preloads 256 batches of starts at a time and warms the reward/termination
    model up on them when it loads them: starts are drawn when an episode needs one, and every warm-up (the
    actor-critic's too, which DIAMOND's loop computes with gradient) runs without gradient with the current models
    (:func:`burn_in`). The first episodes start burnt in as well (DIAMOND's first ones start from zero LSTM states).

    :param world_model: the world model
    :param actor_critic: an :class:`~sb3_jedi.actor_critic.ActorCriticNetwork`
    :param horizon: length of an imagined episode (DIAMOND: 15)
    """

    def __init__(self, world_model: WorldModel, actor_critic: ActorCriticNetwork, horizon: int) -> None:
        if horizon < 1:
            raise ValueError(f"The imagination horizon must be at least 1, got {horizon}.")
        self.world_model = world_model
        self.actor_critic = actor_critic
        self.horizon = horizon
        self._cond_states: th.Tensor | None = None
        self._cond_actions = th.zeros(0, dtype=th.long)
        self._hidden: tuple[th.Tensor, th.Tensor] = (th.zeros(0), th.zeros(0))
        self._reward_end_hidden: tuple[th.Tensor, th.Tensor] | None = None
        self._episode_steps = th.zeros(0, dtype=th.long)

    @property
    def episode_steps(self) -> th.Tensor:
        """(B,) steps each imagined episode has run (empty before the first window)."""
        return self._episode_steps

    def reset(self) -> None:
        """Drop the imagined episodes: the next window starts ``B`` new ones."""
        self._cond_states = None

    def rollout(self, draw_starts: Callable[[int], SegmentBatch], batch_size: int, n_steps: int) -> ImaginedSteps:
        """
        Step the imagined episodes ``n_steps`` times (DIAMOND: 15, ``backup_every``), starting ``batch_size`` of them
        first if there are none (or not that many).

        :param draw_starts: returns ``k`` replay segments of ``world_model.n_cond_steps`` frames to start ``k`` episodes
            from (burn-in segments that end on a frame carrying an action)
        :param batch_size: number of imagined episodes ``B`` (DIAMOND: 32)
        :param n_steps: steps of the window
        :return: the window's steps
        """
        if n_steps < 1:
            raise ValueError(f"An imagination window needs at least 1 step, got {n_steps}.")
        if self._cond_states is None or self._cond_states.shape[0] != batch_size:
            self._start(draw_starts(batch_size))
        assert self._cond_states is not None and self._reward_end_hidden is not None
        world_model, actor_critic = self.world_model, self.actor_critic
        cond_states, cond_actions = self._cond_states, self._cond_actions
        h, c = self._hidden
        hidden = (h.detach(), c.detach())
        steps: dict[str, list[th.Tensor]] = {key: [] for key in ("log_probs", "entropies", "values", "rewards", "ends")}
        truncations: list[th.Tensor] = []
        next_values: list[th.Tensor] = []
        restarts = 0
        dead = th.zeros(batch_size, dtype=th.bool, device=cond_states.device)
        final_values = th.zeros(batch_size, device=cond_states.device)
        for step in range(n_steps):
            logits, value, hidden = actor_critic(cond_states[:, -1], hidden)
            if step > 0:
                # The value of this state bootstraps the previous step, except where that step ended an episode.
                next_values.append(th.where(dead, final_values, value.detach()))
            distribution = Categorical(logits=logits)
            action = distribution.sample()
            steps["log_probs"].append(distribution.log_prob(action))
            steps["entropies"].append(distribution.entropy())
            steps["values"].append(value)
            with th.no_grad():
                cond_actions = th.cat([cond_actions[:, :-1], action[:, None]], dim=1)
                next_state = world_model.sample_next_state(cond_states, cond_actions)
                reward_logits, end_logits, self._reward_end_hidden = world_model.predict_reward_end(
                    cond_states[:, -1:], action[:, None], next_state[:, None], self._reward_end_hidden
                )
                reward = world_model.decode_reward(reward_logits[:, 0], sample=True)
                end = Categorical(logits=end_logits[:, 0]).sample()
                self._episode_steps = self._episode_steps + 1
                truncated = (self._episode_steps >= self.horizon) & (end == 0)
                steps["rewards"].append(reward)
                steps["ends"].append(end.float())
                truncations.append(truncated.float())
                cond_states = th.cat([cond_states[:, 1:], next_state[:, None]], dim=1)
                cond_actions = th.cat([cond_actions[:, 1:], th.zeros_like(action)[:, None]], dim=1)
                dead = (end == 1) | truncated
                if dead.any():
                    restarts += int(dead.sum())
                    # The value of each finished episode's last state, from its own LSTM state (DIAMOND's
                    # val_final_obs), then the restart.
                    final_values = th.zeros(batch_size, device=cond_states.device)
                    final_values[dead] = actor_critic(next_state[dead], (hidden[0][dead], hidden[1][dead]))[1]
                    cond_states, cond_actions, hidden = self._restart(dead, draw_starts, cond_states, cond_actions, hidden)
        with th.no_grad():
            last_value = actor_critic(cond_states[:, -1], hidden)[1]
        next_values.append(th.where(dead, final_values, last_value))
        self._cond_states, self._cond_actions, self._hidden = cond_states, cond_actions, hidden
        stacked = {key: th.stack(values, dim=1) for key, values in steps.items()}
        return ImaginedSteps(
            **stacked,
            truncations=th.stack(truncations, dim=1),
            next_values=th.stack(next_values, dim=1),
            restarts=restarts,
        )

    def _start(self, starts: SegmentBatch) -> None:
        states, actions, hidden, reward_end_hidden = burn_in(self.world_model, self.actor_critic, starts)
        if reward_end_hidden is None:
            raise ValueError("The imagination loop needs starts of at least 2 frames to warm the reward/end model up.")
        self._cond_states, self._cond_actions, self._hidden = states, actions, hidden
        self._reward_end_hidden = reward_end_hidden
        self._episode_steps = th.zeros(states.shape[0], dtype=th.long, device=states.device)

    def _restart(
        self,
        dead: th.Tensor,
        draw_starts: Callable[[int], SegmentBatch],
        cond_states: th.Tensor,
        cond_actions: th.Tensor,
        hidden: tuple[th.Tensor, th.Tensor],
    ) -> tuple[th.Tensor, th.Tensor, tuple[th.Tensor, th.Tensor]]:
        """Replace the finished episodes (``dead``) by new ones; out of place, as ``hidden`` is in the graph."""
        assert self._reward_end_hidden is not None
        states, actions, new_hidden, new_reward_end_hidden = burn_in(
            self.world_model, self.actor_critic, draw_starts(int(dead.sum()))
        )
        assert new_reward_end_hidden is not None
        index = dead.nonzero()[:, 0]
        cond_states = cond_states.index_copy(0, index, states)
        cond_actions = cond_actions.index_copy(0, index, actions)
        hidden = (hidden[0].index_copy(0, index, new_hidden[0]), hidden[1].index_copy(0, index, new_hidden[1]))
        h, c = self._reward_end_hidden
        self._reward_end_hidden = (
            h.index_copy(1, index, new_reward_end_hidden[0]),
            c.index_copy(1, index, new_reward_end_hidden[1]),
        )
        self._episode_steps = self._episode_steps.masked_fill(dead, 0)
        return cond_states, cond_actions, hidden
