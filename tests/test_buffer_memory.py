"""Replay memory: the size of a buffer, the warning before it outgrows the machine, and frames kept on disk."""

import gc
import pickle
import sys
import warnings

import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3.common.save_util import load_from_pkl, save_to_pkl

import sb3_jedi.buffers as buffers_module
from sb3_jedi import JEDI
from sb3_jedi.buffers import METADATA_BYTES_PER_ROW, EpisodeReplayBuffer, ReplayMemoryWarning, available_memory_bytes

FRAMES = spaces.Box(0, 255, (3, 16, 16), np.uint8)
ACTIONS = spaces.Discrete(4)


def feed(buffer: EpisodeReplayBuffer, n_steps: int, seed: int = 0) -> None:
    """Random frames in episodes of random length, the same for every buffer fed with the same seed."""
    rng = np.random.default_rng(seed)
    n_envs = buffer.n_envs
    obs = rng.integers(0, 256, (n_envs, *FRAMES.shape), dtype=np.uint8)
    for _ in range(n_steps):
        next_obs = rng.integers(0, 256, (n_envs, *FRAMES.shape), dtype=np.uint8)
        done = rng.random(n_envs) < 0.1
        buffer.add(obs, rng.integers(0, 4, n_envs), rng.normal(size=n_envs), done, np.zeros(n_envs, bool), next_obs)
        obs = np.where(done[:, None, None, None], rng.integers(0, 256, obs.shape, dtype=np.uint8), next_obs)


def same_segments(a: EpisodeReplayBuffer, b: EpisodeReplayBuffer, seed: int = 3) -> None:
    first = a.sample_segments(32, 6, np.random.default_rng(seed))
    second = b.sample_segments(32, 6, np.random.default_rng(seed))
    for name, value in first._asdict().items():
        assert th.equal(getattr(second, name), value), name


def test_atari100k_buffer_size():
    # 100k rows of 64x64 RGB uint8 frames: each observation is stored once, plus 55 bytes of bookkeeping per row.
    buffer = EpisodeReplayBuffer(100_000, spaces.Box(0, 255, (3, 64, 64), np.uint8), spaces.Discrete(18), device="cpu")
    assert METADATA_BYTES_PER_ROW == 55
    assert buffer.observations.nbytes == 100_000 * 64 * 64 * 3 == 1_228_800_000
    assert buffer.nbytes == 1_228_800_000 + 100_000 * 55 + 2 * 8  # + the per-env open-episode rows


def test_warning_before_allocating_more_than_is_available(monkeypatch):
    monkeypatch.setattr(buffers_module, "available_memory_bytes", lambda: 50_000_000)
    with pytest.warns(ReplayMemoryWarning, match=r"needs 1\.23 GB of memory .* only 50\.0 MB is available.*storage_dir"):
        EpisodeReplayBuffer(100_000, spaces.Box(0, 255, (3, 64, 64), np.uint8), spaces.Discrete(18), device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("error", ReplayMemoryWarning)
        EpisodeReplayBuffer(1_000, FRAMES, ACTIONS, device="cpu")  # 0.8 MB fits
        monkeypatch.setattr(buffers_module, "available_memory_bytes", lambda: None)
        EpisodeReplayBuffer(100_000, spaces.Box(0, 255, (3, 64, 64), np.uint8), spaces.Discrete(18), device="cpu")


def test_warning_when_the_disk_is_too_small(monkeypatch, tmp_path):
    monkeypatch.setattr(buffers_module, "available_memory_bytes", lambda: 1)  # RAM is not what the frames need here

    class Usage:
        free = 10_000

    monkeypatch.setattr(buffers_module.shutil, "disk_usage", lambda path: Usage())
    with pytest.warns(ReplayMemoryWarning, match=r"needs 1\.2 MB in storage_dir=.* only 10\.0 kB is free"):
        EpisodeReplayBuffer(1_500, FRAMES, ACTIONS, device="cpu", storage_dir=tmp_path)


def test_available_memory_is_read_on_linux():
    if not sys.platform.startswith("linux"):
        pytest.skip("reads /proc/meminfo")
    available = available_memory_bytes()
    assert available is not None and available > 0


@pytest.mark.parametrize("n_envs", [1, 3])
def test_frames_on_disk_read_back_like_the_in_memory_buffer(tmp_path, n_envs):
    in_memory = EpisodeReplayBuffer(300, FRAMES, ACTIONS, device="cpu", n_envs=n_envs)
    on_disk = EpisodeReplayBuffer(300, FRAMES, ACTIONS, device="cpu", n_envs=n_envs, storage_dir=tmp_path / "replay")
    assert isinstance(on_disk.observations, np.memmap)
    assert on_disk.storage_path is not None and on_disk.storage_path.parent == tmp_path / "replay"
    assert on_disk.storage_path.is_file() and on_disk.storage_path.suffix == ".npy"
    feed(in_memory, 400 // n_envs)  # wraps the ring
    feed(on_disk, 400 // n_envs)
    assert in_memory.full and on_disk.full
    same_segments(in_memory, on_disk)
    np.testing.assert_array_equal(np.asarray(on_disk.observations), in_memory.observations)
    # What is in the file is the buffer's data (a standard .npy another process can map read-only).
    on_disk.observations.flush()
    np.testing.assert_array_equal(np.load(on_disk.storage_path, mmap_mode="r"), in_memory.observations)


def test_pickled_disk_buffer_holds_the_frames(tmp_path):
    buffer = EpisodeReplayBuffer(200, FRAMES, ACTIONS, device="cpu", n_envs=2, storage_dir=tmp_path / "a")
    feed(buffer, 120)
    reference = EpisodeReplayBuffer(200, FRAMES, ACTIONS, device="cpu", n_envs=2)
    feed(reference, 120)
    save_to_pkl(tmp_path / "buffer.pkl", buffer)
    assert (tmp_path / "buffer.pkl").stat().st_size > buffer.observations.nbytes  # the frames are inside the pickle

    first_file = buffer.storage_path
    del buffer
    gc.collect()
    assert not first_file.exists()  # scratch space goes with the buffer; the pickle does not depend on it

    loaded = load_from_pkl(tmp_path / "buffer.pkl")
    assert isinstance(loaded.observations, np.memmap)  # back on disk, in a new file of the same directory
    assert loaded.storage_path.parent == tmp_path / "a" and loaded.storage_path != first_file
    same_segments(reference, loaded)
    # Collection continues on the loaded buffer exactly as on one that never left memory (after an env reset).
    for target in (reference, loaded):
        target.reset_open_episodes()
    feed(reference, 50, seed=1)
    feed(loaded, 50, seed=1)
    same_segments(reference, loaded, seed=5)
    copy = pickle.loads(pickle.dumps(loaded))
    assert copy.storage_path != loaded.storage_path
    same_segments(reference, copy)


def test_in_memory_buffer_pickles_as_before():
    buffer = EpisodeReplayBuffer(100, FRAMES, ACTIONS, device="cpu")
    feed(buffer, 30)
    copy = pickle.loads(pickle.dumps(buffer))
    assert copy.storage_dir is None and copy.storage_path is None and not isinstance(copy.observations, np.memmap)
    same_segments(buffer, copy)


def test_jedi_keeps_frames_on_disk_through_replay_buffer_kwargs(tmp_path):
    model = JEDI(
        "MlpPolicy",
        "CartPole-v1",
        learning_starts=100,
        buffer_size=500,
        replay_buffer_kwargs={"storage_dir": str(tmp_path / "replay")},
        device="cpu",
    )
    assert model.replay_buffer.storage_path.parent == tmp_path / "replay"
    model.learn(100)  # collection only
    assert model.replay_buffer.n_transitions == 100
    model.save(tmp_path / "model")
    loaded = JEDI.load(tmp_path / "model", device="cpu")
    assert loaded.replay_buffer_kwargs == {"storage_dir": str(tmp_path / "replay")}
    assert isinstance(loaded.replay_buffer.observations, np.memmap)

    with pytest.raises(
        ValueError, match=r"replay_buffer_kwargs may not set \['sample_weights'\].*sample_weights=\.\.\. to JEDI"
    ):
        JEDI("MlpPolicy", "CartPole-v1", replay_buffer_kwargs={"sample_weights": None})
