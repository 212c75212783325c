"""Tests of the episodic replay buffer (segment sampling, padding, ring overwrite, recency weighting)."""

import pickle

import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3.common.save_util import load_from_pkl, save_to_pkl

from sb3_jedi.buffers import EpisodeReplayBuffer, SegmentBatch

N_ACTIONS = 5
VEC_SPACE = spaces.Box(-np.inf, np.inf, shape=(4,), dtype=np.float32)
ACTION_SPACE = spaces.Discrete(N_ACTIONS)


def action_of(env: int, episode: int, step: int) -> int:
    return (env + 2 * episode + 3 * step) % N_ACTIONS


def reward_of(env: int, episode: int, step: int) -> float:
    # Small integers: exact in float32, and distinct for every (env, episode, step)
    return float(env * 10_000 + episode * 100 + step)


def terminates(episode: int) -> bool:
    # Even episodes terminate, odd ones are truncated
    return episode % 2 == 0


class FakeVecEnv:
    """
    ``n_envs`` independent envs with random episode lengths. An observation encodes (env, episode, step, 1) so that
    the origin of every stored row can be decoded; the last component is never 0, so padding (zeros) is recognisable.
    """

    def __init__(self, n_envs: int, seed: int, max_length: int = 12) -> None:
        self.n_envs = n_envs
        self.rng = np.random.default_rng(seed)
        self.max_length = max_length
        self.episode = [0] * n_envs
        self.step_in_episode = [0] * n_envs
        self.lengths: dict[tuple[int, int], int] = {}
        for env in range(n_envs):
            self._new_length(env)
        self.finished: set[tuple[int, int]] = set()

    def _new_length(self, env: int) -> None:
        self.lengths[(env, self.episode[env])] = int(self.rng.integers(1, self.max_length + 1))

    @staticmethod
    def encode(env: int, episode: int, step: int) -> np.ndarray:
        return np.array([env, episode, step, 1.0], dtype=np.float32)

    def current_obs(self) -> np.ndarray:
        return np.stack([self.encode(e, self.episode[e], self.step_in_episode[e]) for e in range(self.n_envs)])

    def step(self) -> tuple[np.ndarray, ...]:
        """:return: the arguments of ``EpisodeReplayBuffer.add`` for one vectorised step"""
        obs = self.current_obs()
        action, reward, terminated, truncated, next_obs = [], [], [], [], []
        for env in range(self.n_envs):
            ep, t = self.episode[env], self.step_in_episode[env]
            action.append(action_of(env, ep, t))
            reward.append(reward_of(env, ep, t))
            done = t + 1 == self.lengths[(env, ep)]
            terminated.append(done and terminates(ep))
            truncated.append(done and not terminates(ep))
            # The true next observation: the terminal one when the episode ends, never the reset observation
            next_obs.append(self.encode(env, ep, t + 1))
            if done:
                self.finished.add((env, ep))
                self.episode[env] += 1
                self.step_in_episode[env] = 0
                self._new_length(env)
            else:
                self.step_in_episode[env] = t + 1
        return obs, np.array(action), np.array(reward), np.array(terminated), np.array(truncated), np.stack(next_obs)

    def n_transitions_of(self, env: int, episode: int) -> int:
        """Number of transitions of an episode so far (its length when finished)."""
        if (env, episode) in self.finished:
            return self.lengths[(env, episode)]
        return self.step_in_episode[env]


def fill(buffer: EpisodeReplayBuffer, env: FakeVecEnv, n_steps: int) -> list[tuple[int, int, int]]:
    """Feed ``n_steps`` vectorised steps and return the (env, episode, step) keys of the rows in write order."""
    written = []
    for _ in range(n_steps):
        obs, action, reward, terminated, truncated, next_obs = env.step()
        buffer.add(obs, action, reward, terminated, truncated, next_obs)
        for e in range(env.n_envs):
            # An observation with step 0 only occurs when an episode starts: the buffer stores it as a new row
            if obs[e, 2] == 0:
                written.append(tuple(int(x) for x in obs[e, :3]))
            written.append(tuple(int(x) for x in next_obs[e, :3]))
    return written


def to_numpy(batch: SegmentBatch) -> dict[str, np.ndarray]:
    return {name: value.cpu().numpy() for name, value in batch._asdict().items()}


def check_segments(
    batch: dict[str, np.ndarray],
    env: FakeVecEnv,
    stored: set[tuple[int, int, int]] | None = None,
    beyond_end: bool = False,
    transitions_only: bool = False,
) -> int:
    """
    Check every segment is consecutive steps of one episode, padded at the front only where the episode's previous
    row is not stored, and at the back only for ``beyond_end`` segments that reach the episode's last stored row, with
    actions, rewards and flags matching the observations.

    :return: number of padded segments
    """
    n_padded = 0
    batch_size, length = batch["mask"].shape
    for b in range(batch_size):
        mask = batch["mask"][b]
        real = np.flatnonzero(mask)
        assert len(real) >= 1, "a segment holds at least one real row"
        n_pad, n_real = int(real[0]), len(real)
        n_back = length - n_pad - n_real
        n_padded += n_pad + n_back > 0
        assert mask.tolist() == [False] * n_pad + [True] * n_real + [False] * n_back, "real rows are contiguous"
        assert beyond_end or n_back == 0, "only reward/end segments run past the episode's end"
        if transitions_only:
            assert batch["has_action"][b][mask].all(), "burn-in segments end on a row with an action"
        for name in ("observations", "actions", "rewards", "terminated", "truncated", "has_action"):
            assert not np.any(batch[name][b][~mask]), f"{name} must be zero on padding"
        if n_back > 0:
            assert not batch["has_action"][b, n_pad + n_real - 1], "back padding starts after the episode's last row"
        for name in ("observations", "actions", "rewards", "terminated", "truncated", "has_action"):
            assert not np.any(batch[name][b, :n_pad]), f"{name} must be zero on padding"

        obs = batch["observations"][b, n_pad : n_pad + n_real]
        assert np.all(obs[:, 3] == 1.0)
        envs, episodes, steps = obs[:, 0].astype(int), obs[:, 1].astype(int), obs[:, 2].astype(int)
        assert np.all(envs == envs[0]) and np.all(episodes == episodes[0]), "a segment must not mix episodes"
        assert np.all(np.diff(steps) == 1), "rows must be consecutive steps"
        e, ep = int(envs[0]), int(episodes[0])
        if n_pad > 0:
            first_step = int(steps[0])
            # Padding only where the episode's earlier rows are not in the buffer
            assert first_step == 0 or (stored is not None and (e, ep, first_step - 1) not in stored)
        n_trans = env.n_transitions_of(e, ep)
        finished = (e, ep) in env.finished
        for i, t in enumerate(steps.tolist()):
            j = n_pad + i
            if stored is not None:
                assert (e, ep, t) in stored, "a segment must not contain overwritten rows"
            has_action = t < n_trans
            assert batch["has_action"][b, j] == has_action
            ends = has_action and finished and t == n_trans - 1
            assert batch["terminated"][b, j] == float(ends and terminates(ep))
            assert batch["truncated"][b, j] == float(ends and not terminates(ep))
            assert batch["actions"][b, j] == (action_of(e, ep, t) if has_action else 0)
            assert batch["rewards"][b, j] == (reward_of(e, ep, t) if has_action else 0.0)
    return n_padded


def test_segments_never_mix_episodes() -> None:
    env = FakeVecEnv(n_envs=3, seed=0)
    buffer = EpisodeReplayBuffer(2_000, VEC_SPACE, ACTION_SPACE, device="cpu", n_envs=3)
    written = fill(buffer, env, 300)
    assert buffer.size() == len(buffer) == len(written) < 2_000

    batch = buffer.sample_segments(1_000, 6, generator=np.random.default_rng(1))
    assert batch.observations.shape == (1_000, 6, 4)
    assert batch.observations.dtype == th.float32
    assert batch.actions.dtype == th.int64 and batch.rewards.dtype == th.float32
    assert batch.terminated.dtype == th.float32 and batch.truncated.dtype == th.float32
    assert batch.mask.dtype == th.bool and batch.has_action.dtype == th.bool
    assert batch.mask.device.type == "cpu"
    n_padded = check_segments(to_numpy(batch), env)
    # Episodes are 1-12 steps long, so many segments of 6 reach before an episode's start
    assert 0 < n_padded < 1_000

    # Every env and both kinds of episode end show up
    arrays = to_numpy(batch)
    assert set(arrays["observations"][arrays["mask"]][:, 0].astype(int).tolist()) == {0, 1, 2}
    assert arrays["terminated"].sum() > 0 and arrays["truncated"].sum() > 0


def test_sizes_and_counters() -> None:
    env = FakeVecEnv(n_envs=3, seed=5)
    buffer = EpisodeReplayBuffer(2_000, VEC_SPACE, ACTION_SPACE, device="cpu", n_envs=3)
    written = fill(buffer, env, 100)
    assert buffer.size() == len(written)
    # 3 envs x 100 steps, one transition each
    assert buffer.n_transitions == 300
    assert buffer.n_episodes == len(env.finished)
    # float32 (N, 4) observations dominate the memory
    assert buffer.nbytes >= 2_000 * 4 * 4


def test_padding_at_episode_start() -> None:
    buffer = EpisodeReplayBuffer(100, VEC_SPACE, ACTION_SPACE, device="cpu", sample_weights=None)
    enc = FakeVecEnv.encode
    # Two episodes of 2 transitions, stored back to back: rows 0-2 and 3-5
    for ep in range(2):
        for t in range(2):
            done, no = np.array([t == 1]), np.array([False])
            buffer.add(enc(0, ep, t)[None], np.array([t + 1]), np.array([1.0]), done, no, enc(0, ep, t + 1)[None])

    batch = to_numpy(buffer.sample_segments(400, 5, generator=np.random.default_rng(0)))
    seen = set()
    for b in range(400):
        mask = batch["mask"][b]
        obs = batch["observations"][b]
        last_ep, last_step = int(obs[-1, 1]), int(obs[-1, 2])
        # Segments end at any step (DIAMOND: step 0 with padding as conditioning, too); rows before step 0 are padding
        assert last_step in (0, 1, 2)
        n_real = last_step + 1
        assert mask.tolist() == [False] * (5 - n_real) + [True] * n_real
        assert np.all(obs[~mask] == 0)
        assert np.all(batch["actions"][b][~mask] == 0) and np.all(batch["rewards"][b][~mask] == 0)
        # The real rows are exactly steps 0..last of this episode, never the other episode's rows stored next to them
        assert obs[mask, 1].tolist() == [last_ep] * n_real
        assert obs[mask, 2].tolist() == list(range(n_real))
        assert batch["actions"][b][mask].tolist() == [1, 2, 0][:n_real]
        seen.add((last_ep, last_step))
    assert seen == {(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)}


def test_final_observation_stored() -> None:
    enc = FakeVecEnv.encode
    reset_obs = np.full(4, -7.0, dtype=np.float32)
    buffer = EpisodeReplayBuffer(100, VEC_SPACE, ACTION_SPACE, device="cpu")
    no = np.array([False])
    buffer.add(enc(0, 0, 0)[None], np.array([3]), np.array([0.5]), no, no, enc(0, 0, 1)[None])
    # The episode terminates: next_obs is the terminal observation (a VecEnv would return reset_obs instead)
    buffer.add(enc(0, 0, 1)[None], np.array([4]), np.array([2.0]), np.array([True]), no, enc(0, 0, 2)[None])
    # The next step starts from the reset observation: a new episode
    buffer.add(reset_obs[None], np.array([1]), np.array([0.0]), no, no, enc(0, 1, 1)[None])

    assert buffer.size() == 5
    np.testing.assert_array_equal(buffer.observations[2], enc(0, 0, 2))
    assert not buffer.has_action[2]
    assert buffer.terminated[1] and not buffer.terminated[2] and not buffer.truncated[1]
    assert buffer.has_action[:2].all()
    # The reset observation starts the second episode and is not linked to the first one
    np.testing.assert_array_equal(buffer.observations[3], reset_obs)
    assert buffer.prev[3] == -1 and buffer.next[2] == -1
    assert buffer.episode_ids[3] != buffer.episode_ids[2]
    # The open row of the second episode has no action yet
    assert buffer.has_action.tolist()[:5] == [True, True, False, True, False]
    assert buffer.n_transitions == 3 and buffer.n_episodes == 1

    # A segment ending at the final row sees the terminal observation and no action on it
    segment = to_numpy(buffer.get_segments(np.array([[0, 1, 2]])))
    np.testing.assert_array_equal(segment["observations"][0, -1], enc(0, 0, 2))
    assert segment["has_action"][0].tolist() == [True, True, False]
    assert segment["terminated"][0].tolist() == [0.0, 1.0, 0.0]
    assert segment["rewards"][0].tolist() == [0.5, 2.0, 0.0]


def test_reset_open_episodes() -> None:
    enc = FakeVecEnv.encode
    buffer = EpisodeReplayBuffer(100, VEC_SPACE, ACTION_SPACE, device="cpu")
    no = np.array([False])
    buffer.add(enc(0, 0, 0)[None], np.array([1]), np.array([0.0]), no, no, enc(0, 0, 1)[None])
    # Passing an observation that is not the open episode's last one is an error ...
    with pytest.raises(ValueError, match="reset_open_episodes"):
        buffer.add(enc(0, 5, 0)[None], np.array([1]), np.array([0.0]), no, no, enc(0, 5, 1)[None])
    assert buffer.size() == 2
    # ... unless the open episode is forgotten first: then a new episode starts and the old rows stay
    buffer.reset_open_episodes()
    buffer.add(enc(0, 5, 0)[None], np.array([1]), np.array([0.0]), no, no, enc(0, 5, 1)[None])
    assert buffer.size() == 4
    assert buffer.prev[2] == -1 and buffer.episode_ids[2] != buffer.episode_ids[1]
    assert buffer.n_episodes == 1


@pytest.mark.parametrize("n_envs", [1, 2, 3])
def test_ring_overwrite(n_envs: int) -> None:
    env = FakeVecEnv(n_envs=n_envs, seed=n_envs, max_length=8)
    buffer_size = 23
    buffer = EpisodeReplayBuffer(buffer_size, VEC_SPACE, ACTION_SPACE, device="cpu", n_envs=n_envs)
    written = fill(buffer, env, 150)
    # The rows of episodes' final observations made the arrays grow past buffer_size rows before the ring wrapped
    n_rows = buffer.n_rows_allocated
    assert buffer.full and n_rows > buffer_size
    assert len(written) > 3 * n_rows
    stored_keys = written[-n_rows:]
    stored = set(stored_keys)
    all_written = set(written)

    assert buffer.size() == len(buffer) == n_rows
    decoded = {tuple(int(x) for x in row[:3]) for row in buffer.observations}
    assert decoded == stored
    # A row carries an action exactly when its successor was written
    assert buffer.n_transitions == sum((e, ep, t + 1) in all_written for e, ep, t in stored_keys)
    assert buffer.n_stored_transitions == buffer.n_transitions
    assert buffer.n_episodes == len({(e, ep) for e, ep, _ in stored_keys} & env.finished)

    rng = np.random.default_rng(n_envs)
    for kwargs in ({}, {"beyond_end": True}, {"transitions_only": True}):
        batch = to_numpy(buffer.sample_segments(500, 7, generator=rng, **kwargs))
        n_padded = check_segments(batch, env, stored=stored, **kwargs)
        assert n_padded > 0


@pytest.mark.parametrize("n_envs", [1, 2])
def test_a_run_of_buffer_size_steps_is_kept_whole(n_envs: int) -> None:
    # Short episodes: every third row or so is an episode's final observation, on top of the transitions.
    env = FakeVecEnv(n_envs=n_envs, seed=7, max_length=3)
    buffer_size = 300
    buffer = EpisodeReplayBuffer(buffer_size, VEC_SPACE, ACTION_SPACE, device="cpu", n_envs=n_envs)
    written = fill(buffer, env, buffer_size // n_envs)
    assert not buffer.full
    assert buffer.n_transitions == buffer.n_stored_transitions == buffer_size
    assert {tuple(int(x) for x in row[:3]) for row in buffer.observations[: buffer.size()]} == set(written)
    # More steps: the ring now overwrites the oldest rows instead of growing
    n_rows = buffer.n_rows_allocated
    fill(buffer, env, 40)
    assert buffer.full and buffer.n_rows_allocated == n_rows
    assert buffer.n_stored_transitions == buffer.n_transitions


def episodes_buffer(lengths: list[int], sample_weights) -> EpisodeReplayBuffer:
    """Finished episodes of the given lengths, oldest first; an observation holds (episode, step)."""
    space = spaces.Box(-np.inf, np.inf, shape=(2,), dtype=np.float32)
    buffer = EpisodeReplayBuffer(10_000, space, ACTION_SPACE, device="cpu", sample_weights=sample_weights)
    no = np.array([False])
    for episode, length in enumerate(lengths):
        for t in range(length):
            done = np.array([t == length - 1])
            obs, next_obs = np.array([[episode, t]]), np.array([[episode, t + 1]])
            buffer.add(obs, np.array([0]), np.array([0.0]), done, no, next_obs)
    return buffer


def sampled_episodes(buffer: EpisodeReplayBuffer, n: int, seed: int, **kwargs) -> np.ndarray:
    batch = buffer.sample_segments(n, 3, generator=np.random.default_rng(seed), **kwargs)
    real = batch.mask.numpy()
    first_real = real.argmax(axis=1)
    return batch.observations.numpy()[np.arange(n), first_real, 0].astype(int)


@pytest.mark.parametrize("kwargs", [{}, {"beyond_end": True}, {"transitions_only": True}])
def test_recency_weighting_over_episodes(kwargs) -> None:
    # DIAMOND's batch sampler: 8 episodes cut into 4 groups of 2, oldest first; a group by its weight, then an episode
    # uniformly inside it, whatever its length. Lengths vary 40-fold, so weighting rows instead would be far off.
    lengths = [40, 1, 3, 40, 2, 40, 1, 39]
    n = 20_000
    episodes = sampled_episodes(episodes_buffer(lengths, (0.1, 0.1, 0.1, 0.7)), n, 0, **kwargs)
    per_episode = np.bincount(episodes, minlength=8) / n
    # Binomial standard deviation at n = 20000 is <= 0.0035: a tolerance of 0.02 is > 5 sigma
    np.testing.assert_allclose(per_episode, [0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.35, 0.35], atol=0.02)

    only_newest = sampled_episodes(episodes_buffer(lengths, (0, 0, 0, 1)), n, 1, **kwargs)
    np.testing.assert_allclose(np.bincount(only_newest, minlength=8) / n, [0] * 6 + [0.5, 0.5], atol=0.02)

    # Nine episodes: groups of 2, 2, 2 and the newest 3 (the last group takes the remainder)
    nine = sampled_episodes(episodes_buffer([*lengths, 5], (0, 0, 0, 1)), n, 2, **kwargs)
    np.testing.assert_allclose(np.bincount(nine, minlength=9) / n, [0] * 6 + [1 / 3] * 3, atol=0.02)


def test_fewer_episodes_than_groups_or_no_weights_sample_transitions_uniformly() -> None:
    n = 20_000
    for lengths, weights in (([10, 30, 60], (0.1, 0.1, 0.1, 0.7)), ([10, 30, 60, 100], None)):
        episodes = sampled_episodes(episodes_buffer(lengths, weights), n, 3)
        expected = np.array(lengths) / sum(lengths)
        np.testing.assert_allclose(np.bincount(episodes, minlength=len(lengths)) / n, expected, atol=0.02)


def diamond_coverage(length: int, seq_length: int, beyond_end: bool, n: int, rng: np.random.Generator) -> np.ndarray:
    """
    How often each transition of an episode of ``length`` steps is a loss transition of a segment drawn by DIAMOND's
    batch sampler rule (written from its description: a step, then where the segment lies around it). A transition at
    position p counts when p and the next row are inside the segment, and p is not the segment's last position.
    """
    t = rng.integers(0, length, n)
    if beyond_end:
        starts = t - rng.integers(0, seq_length, n)
    else:
        starts = np.minimum(length, t + 1 + rng.integers(0, seq_length, n)) - seq_length
    counts = np.zeros(length)
    for offset in range(seq_length - 1):
        p = starts + offset
        np.add.at(counts, p[(p >= 0) & (p < length)], 1)
    return counts / n


def test_terminal_transitions_are_covered_as_in_diamond() -> None:
    # 150-step episodes, 19-step reward/end segments (n_cond 4 + horizon 15): DIAMOND lets segments run past the end.
    length, seq_length, n = 150, 19, 60_000
    buffer = episodes_buffer([length] * 8, sample_weights=None)
    rng = np.random.default_rng(0)
    batch = buffer.sample_segments(n, seq_length, generator=rng, beyond_end=True)
    # A loss transition: a real row with an action whose next row is real too (reward_end_loss's rule)
    valid = (batch.mask[:, :-1] & batch.mask[:, 1:] & batch.has_action[:, :-1]).numpy()
    steps = batch.observations[:, :-1, 1].numpy().astype(int)
    coverage = np.bincount(steps[valid], minlength=length)[:length] / n
    reference = diamond_coverage(length, seq_length, beyond_end=True, n=400_000, rng=np.random.default_rng(1))
    middle = slice(seq_length, length - seq_length)
    ours_ratio = coverage[-1] / coverage[middle].mean()
    diamond_ratio = reference[-1] / reference[middle].mean()
    # DIAMOND: the last transition is a loss transition about half as often as a mid-episode one
    assert abs(diamond_ratio - 0.5) < 0.05
    assert abs(ours_ratio - diamond_ratio) < 0.1, (ours_ratio, diamond_ratio)
    np.testing.assert_allclose(coverage[middle].mean(), reference[middle].mean(), rtol=0.05)


def test_burn_in_segments_never_end_on_a_final_observation() -> None:
    buffer = episodes_buffer([3, 1, 5, 2], sample_weights=(0.1, 0.1, 0.1, 0.7))
    batch = buffer.sample_segments(5_000, 4, generator=np.random.default_rng(0), transitions_only=True)
    assert batch.has_action[:, -1].all()
    assert batch.has_action[batch.mask].all()
    # The default (denoiser) segments do reach the final observation (the last transition is learnt too)
    denoiser = buffer.sample_segments(5_000, 4, generator=np.random.default_rng(0))
    assert not denoiser.has_action[:, -1].all()


def test_reward_sign_counts() -> None:
    buffer = episodes_buffer([2], sample_weights=None)
    no = np.array([False])
    obs = np.zeros((1, 2), np.float32)
    for reward in (-3.0, 0.5, 0.0, 2.0, -0.1):
        buffer.add(obs, np.array([0]), np.array([reward]), no, no, obs)
    assert buffer.reward_sign_counts.tolist() == [2, 2 + 1, 2]


def test_generator_none_uses_global_numpy_seed() -> None:
    env = FakeVecEnv(n_envs=2, seed=3)
    buffer = EpisodeReplayBuffer(500, VEC_SPACE, ACTION_SPACE, device="cpu", n_envs=2)
    fill(buffer, env, 50)
    np.random.seed(11)
    first = buffer.sample_segments(64, 4).observations
    np.random.seed(11)
    second = buffer.sample_segments(64, 4).observations
    third = buffer.sample_segments(64, 4).observations
    assert th.equal(first, second)
    assert not th.equal(second, third)


def test_image_observations_stay_uint8() -> None:
    image_space = spaces.Box(0, 255, shape=(3, 8, 8), dtype=np.uint8)
    buffer = EpisodeReplayBuffer(100, image_space, ACTION_SPACE, device="cpu", n_envs=2)
    assert buffer.observations.dtype == np.uint8
    # uint8 frames: one byte per pixel dominates the memory
    assert 100 * 3 * 8 * 8 <= buffer.nbytes < 100 * 3 * 8 * 8 + 100 * 64
    rng = np.random.default_rng(0)
    obs = rng.integers(0, 256, size=(2, 3, 8, 8), dtype=np.uint8)
    for _ in range(10):
        next_obs = rng.integers(0, 256, size=(2, 3, 8, 8), dtype=np.uint8)
        buffer.add(obs, np.array([1, 2]), np.array([0.0, 1.0]), np.array([False, False]), np.array([False, False]), next_obs)
        obs = next_obs
    batch = buffer.sample_segments(16, 4, generator=np.random.default_rng(0))
    assert batch.observations.dtype == th.uint8
    assert batch.observations.shape == (16, 4, 3, 8, 8)
    # The newest stored rows are the last next_obs of each env (rows 20 and 21)
    np.testing.assert_array_equal(buffer.observations[20:22], obs)

    vector_buffer = EpisodeReplayBuffer(100, VEC_SPACE, ACTION_SPACE, device="cpu")
    assert vector_buffer.observations.dtype == np.float32


def test_pickle_round_trip(tmp_path) -> None:
    env = FakeVecEnv(n_envs=3, seed=9)
    buffer = EpisodeReplayBuffer(60, VEC_SPACE, ACTION_SPACE, device="cpu", n_envs=3)
    fill(buffer, env, 40)

    copies = [pickle.loads(pickle.dumps(buffer))]
    save_to_pkl(tmp_path / "buffer.pkl", buffer)
    copies.append(load_from_pkl(tmp_path / "buffer.pkl"))
    expected = buffer.sample_segments(128, 5, generator=np.random.default_rng(4))
    for loaded in copies:
        assert loaded.size() == buffer.size() and loaded.n_episodes == buffer.n_episodes
        got = loaded.sample_segments(128, 5, generator=np.random.default_rng(4))
        for name, value in expected._asdict().items():
            assert th.equal(getattr(got, name), value), name

    # The open episodes survive the round trip: collection continues where it stopped
    step = env.step()
    buffer.add(*step)
    copies[1].add(*step)
    np.testing.assert_array_equal(copies[1].observations, buffer.observations)
    np.testing.assert_array_equal(copies[1].prev, buffer.prev)


def test_validation_errors() -> None:
    with pytest.raises(ValueError, match="Discrete action spaces only"):
        EpisodeReplayBuffer(100, VEC_SPACE, spaces.Box(-1, 1, shape=(2,)))
    with pytest.raises(ValueError, match="start"):
        EpisodeReplayBuffer(100, VEC_SPACE, spaces.Discrete(3, start=1))
    with pytest.raises(ValueError, match="Box"):
        EpisodeReplayBuffer(100, spaces.Dict({"x": VEC_SPACE}), ACTION_SPACE)
    with pytest.raises(ValueError, match="at least 2 \\* n_envs"):
        EpisodeReplayBuffer(5, VEC_SPACE, ACTION_SPACE, n_envs=3)
    with pytest.raises(ValueError, match="sample_weights"):
        EpisodeReplayBuffer(100, VEC_SPACE, ACTION_SPACE, sample_weights=(0.5, -0.1))
    with pytest.raises(ValueError, match="sample_weights"):
        EpisodeReplayBuffer(100, VEC_SPACE, ACTION_SPACE, sample_weights=(0, 0))

    buffer = EpisodeReplayBuffer(100, VEC_SPACE, ACTION_SPACE, device="cpu", n_envs=2)
    with pytest.raises(ValueError, match="collect more"):
        buffer.sample_segments(4, 5)

    obs = np.zeros((2, 4), dtype=np.float32)
    args = (np.array([0, 1]), np.zeros(2), np.zeros(2, dtype=bool), np.zeros(2, dtype=bool))
    with pytest.raises(ValueError, match=r"obs: expected \(2, 4\).*got \(2, 3\)"):
        buffer.add(np.zeros((2, 3)), *args, obs)
    with pytest.raises(ValueError, match=r"next_obs: expected \(2, 4\).*got \(4,\)"):
        buffer.add(obs, *args, np.zeros(4))
    with pytest.raises(ValueError, match=r"reward: expected \(2,\)"):
        buffer.add(obs, args[0], np.zeros(3), args[2], args[3], obs)
    with pytest.raises(ValueError, match="Invalid actions"):
        buffer.add(obs, np.array([0, N_ACTIONS]), *args[1:], obs)
    # Nothing was stored by the rejected calls
    assert buffer.size() == 0

    # (n_envs, 1) actions, as SB3 passes them, are accepted
    buffer.add(obs, np.array([[0], [1]]), *args[1:], obs + 1)
    assert buffer.actions[[0, 2]].tolist() == [0, 1]
    with pytest.raises(ValueError, match="positive"):
        buffer.sample_segments(0, 5)


def test_terminal_fraction_oversamples_terminations():
    obs_space = spaces.Box(-np.inf, np.inf, (2,), np.float32)
    buffer = EpisodeReplayBuffer(10_000, obs_space, spaces.Discrete(2), device="cpu", sample_weights=None)
    obs = np.zeros((1, 2), np.float32)
    for t in range(2_000):  # episodes of 100 steps: 1% of transitions terminate
        done = (t + 1) % 100 == 0
        next_obs = np.full((1, 2), t + 1, np.float32)
        buffer.add(obs, np.array([0]), np.array([1.0]), np.array([done]), np.array([False]), next_obs)
        obs = np.zeros((1, 2), np.float32) if done else next_obs
    rng = np.random.default_rng(0)
    plain = buffer.sample_segments(400, 5, rng, beyond_end=True)
    boosted = buffer.sample_segments(400, 5, rng, terminal_fraction=0.25, beyond_end=True)
    assert plain.terminated.sum() < 20
    # A quarter of the segments hold a termination as a loss transition (its final observation is inside too)
    assert 100 <= boosted.terminated.sum() <= 125
    rows = th.arange(5)[None].expand(100, 5)
    end_position = (boosted.terminated[:100] * rows).sum(dim=1).long()
    assert (boosted.terminated[:100].sum(dim=1) == 1).all() and (end_position <= 3).all()
    assert boosted.mask[:100].gather(1, end_position[:, None] + 1).all()
    with pytest.raises(ValueError, match="terminal_fraction"):
        buffer.sample_segments(4, 5, rng, terminal_fraction=1.5)
