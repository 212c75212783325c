"""Checkpoints: atomic writes, rolling retention, and resuming a killed run without losing or repeating data."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch as th
from tiny_settings import TINY

from sb3_jedi import JEDI
from sb3_jedi.checkpoints import (
    CheckpointCallback,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    save_checkpoint,
)


def tiny_model(seed: int = 0) -> JEDI:
    return JEDI("MlpPolicy", "CartPole-v1", seed=seed, **TINY)


def test_save_and_load_restore_model_buffer_counters_and_rng(tmp_path):
    model = tiny_model().learn(300)
    path = save_checkpoint(model, tmp_path)
    assert path.name == "checkpoint_000000000300"
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["algorithm"] == "sb3_jedi.jedi:JEDI" and manifest["num_timesteps"] == 300
    expected_torch_draw = th.rand(3)  # what the global generator gives right after the save

    th.manual_seed(1234)  # move the global state away
    loaded = load_checkpoint(path)
    assert th.equal(th.rand(3), expected_torch_draw)
    assert type(loaded) is JEDI and loaded.num_timesteps == 300
    for (name, p), q in zip(model.policy.state_dict().items(), loaded.policy.state_dict().values(), strict=True):
        assert th.equal(p, q), name
    assert loaded._world_model_updates == model._world_model_updates
    assert loaded._actor_critic_updates == model._actor_critic_updates
    assert loaded._n_train_calls == model._n_train_calls
    buffer, restored = model.replay_buffer, loaded.replay_buffer
    assert restored.n_transitions == buffer.n_transitions == 300
    np.testing.assert_array_equal(restored.observations, buffer.observations)
    np.testing.assert_array_equal(restored.actions, buffer.actions)
    # Optimiser state (Adam moments) travels too.
    saved_state = model.policy.world_model_optimizer.state_dict()["state"]
    loaded_state = loaded.policy.world_model_optimizer.state_dict()["state"]
    assert saved_state.keys() == loaded_state.keys()
    key = next(iter(saved_state))
    assert th.equal(saved_state[key]["exp_avg"], loaded_state[key]["exp_avg"])


def test_rolling_retention_and_stale_temporaries(tmp_path):
    model = tiny_model()
    model.learn(150)
    stale = tmp_path / ".tmp-checkpoint_000000000099-1"
    stale.mkdir(parents=True)
    (stale / "model.zip").write_bytes(b"partial")
    incomplete = tmp_path / "checkpoint_000000099999"  # no manifest: never picked up
    incomplete.mkdir()
    assert latest_checkpoint(tmp_path) is None

    paths = []
    for _ in range(3):
        model.learn(50, reset_num_timesteps=False)
        paths.append(save_checkpoint(model, tmp_path, keep_last=2))
    assert not stale.exists()
    assert list_checkpoints(tmp_path) == paths[1:]
    assert latest_checkpoint(tmp_path) == paths[-1]
    assert not paths[0].exists()


def test_damaged_or_foreign_checkpoints_are_refused(tmp_path):
    model = tiny_model().learn(150)
    path = save_checkpoint(model, tmp_path)
    with (path / "replay_buffer.pkl").open("r+b") as file:
        file.truncate(100)
    with pytest.raises(ValueError, match=r"damaged: replay_buffer.pkl"):
        load_checkpoint(path)

    path = save_checkpoint(model, tmp_path / "second")
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["algorithm"] = "os:system"
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="not an sb3-jedi algorithm"):
        load_checkpoint(path)
    with pytest.raises(ValueError, match=r"no manifest\.json"):
        load_checkpoint(tmp_path)
    with pytest.raises(TypeError, match="needs a JEDI model"):
        save_checkpoint(object(), tmp_path)


def test_callback_saves_between_epochs_and_resume_continues_the_run(tmp_path):
    model = tiny_model()
    callback = CheckpointCallback(tmp_path, save_freq=100, keep_last=2, save_on_end=False)
    model.learn(400, callback=callback)
    saved = [int(p.name.split("_")[1]) for p in list_checkpoints(tmp_path)]
    # Collections start at 0, 50, ..., 350; a save at every start >= 100 steps after the last one, two kept.
    assert saved == [200, 300]
    latest = latest_checkpoint(tmp_path)
    steps = json.loads((latest / "manifest.json").read_text())["num_timesteps"]
    resumed = load_checkpoint(latest, env="CartPole-v1")
    # Saved between epochs: every counted step is in the buffer, no more, no less.
    assert resumed.num_timesteps == steps
    assert resumed.replay_buffer.n_transitions == steps
    updates_before = resumed._world_model_updates

    resumed.learn(500 - resumed.num_timesteps, reset_num_timesteps=False, callback=CheckpointCallback(tmp_path, 100))
    assert resumed.num_timesteps == 500
    assert resumed.replay_buffer.n_transitions == 500
    assert resumed._world_model_updates > updates_before
    assert resumed._n_train_calls > 1  # the long first epoch is not repeated
    assert latest_checkpoint(tmp_path).name == "checkpoint_000000000500"  # saved on end


TRAIN_SCRIPT = textwrap.dedent(
    """
    import sys
    import torch as th
    th.set_num_threads(1)
    from sb3_jedi import JEDI
    from sb3_jedi.checkpoints import CheckpointCallback
    tiny = {tiny!r}
    model = JEDI("MlpPolicy", "CartPole-v1", seed=0, **tiny)
    print("training", flush=True)
    model.learn(1_000_000, callback=CheckpointCallback(sys.argv[1], save_freq=100, keep_last=2))
    """
)


def run_until_checkpoints_then_signal(tmp_path: Path, sig: int) -> Path:
    script = tmp_path / "train.py"
    script.write_text(TRAIN_SCRIPT.format(tiny=TINY))
    save_dir = tmp_path / "checkpoints"
    process = subprocess.Popen([sys.executable, str(script), str(save_dir)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            latest = latest_checkpoint(save_dir)
            if latest is not None and int(latest.name.split("_")[1]) >= 300:
                break
            if process.poll() is not None:
                raise AssertionError(f"training exited early: {process.communicate()[1].decode()[-2000:]}")
            time.sleep(0.1)
        else:
            raise AssertionError("no checkpoint within 120 s")
        time.sleep(0.3)  # land somewhere in the middle of the next epoch (or of a save)
        process.send_signal(sig)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode != 0
    return save_dir


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_killed_run_resumes_from_last_checkpoint(tmp_path, sig):
    save_dir = run_until_checkpoints_then_signal(tmp_path, sig)
    if sig == signal.SIGINT:
        # KeyboardInterrupt during a save removes the partial directory itself.
        assert not [p for p in save_dir.iterdir() if p.name.startswith(".tmp-")]
    latest = latest_checkpoint(save_dir)
    assert latest is not None
    steps = json.loads((latest / "manifest.json").read_text())["num_timesteps"]

    model = load_checkpoint(latest, env="CartPole-v1")
    assert model.num_timesteps == steps
    assert model.replay_buffer.n_transitions == steps  # nothing lost, nothing duplicated
    total = steps + 150
    model.learn(total - model.num_timesteps, reset_num_timesteps=False, callback=CheckpointCallback(save_dir, 100))
    assert model.num_timesteps == total
    assert model.replay_buffer.n_transitions == total
    # The next save cleaned whatever a SIGKILL left half-written; every directory left is a complete checkpoint.
    leftovers = sorted(os.listdir(save_dir))
    assert leftovers == [p.name for p in list_checkpoints(save_dir)]
    assert latest_checkpoint(save_dir).name == f"checkpoint_{total:012d}"
