"""Checkpoints: atomic writes, rolling retention, and resuming a killed run without losing or repeating data."""

import json
import os
import signal
import subprocess
import sys
import textwrap
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


INTERRUPTED_SAVE_SCRIPT = textwrap.dedent(
    """
    import os
    import signal
    import sys
    import torch as th
    th.set_num_threads(1)
    # A process started in the background by a shell ignores SIGINT (and Python then installs no KeyboardInterrupt
    # handler): restore Python's handler so the test does not depend on how pytest was launched.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from sb3_jedi import JEDI, checkpoints
    model = JEDI("MlpPolicy", "CartPole-v1", seed=0, **{tiny!r}).learn(150)
    checkpoints.save_checkpoint(model, sys.argv[1])
    model.learn(50, reset_num_timesteps=False)

    def interrupt(tmp):
        print(tmp, flush=True)
        os.kill(os.getpid(), signal.{signal_name})

    checkpoints._before_rename = interrupt
    checkpoints.save_checkpoint(model, sys.argv[1])
    print("the save was not interrupted", flush=True)
    """
)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_run_killed_during_a_save_keeps_the_previous_checkpoint(tmp_path, sig):
    script = tmp_path / "save.py"
    script.write_text(INTERRUPTED_SAVE_SCRIPT.format(tiny=TINY, signal_name=sig.name))
    save_dir = tmp_path / "checkpoints"
    result = subprocess.run(
        [sys.executable, str(script), str(save_dir)], capture_output=True, text=True, timeout=120, check=False
    )
    # The hook ran (it printed the temporary directory) and the signal ended the process inside save_checkpoint.
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.stdout + result.stderr[-2000:]
    tmp = Path(lines[0])
    assert tmp.parent == save_dir and tmp.name.startswith(".tmp-checkpoint_000000000200-")
    if sig == signal.SIGKILL:
        assert result.returncode == -signal.SIGKILL
        # Killed with everything written but not renamed: the complete temporary directory is left behind ...
        assert (tmp / "manifest.json").is_file() and (tmp / "model.zip").is_file()
    else:
        assert result.returncode != 0 and "KeyboardInterrupt" in result.stderr
        # ... while a KeyboardInterrupt removes it on the way out.
        assert not tmp.exists()

    # Either way the newest complete checkpoint is the one saved before, and it loads.
    latest = latest_checkpoint(save_dir)
    assert latest == save_dir / "checkpoint_000000000150"
    assert list_checkpoints(save_dir) == [latest]
    model = load_checkpoint(latest, env="CartPole-v1")
    assert model.num_timesteps == 150 and model.replay_buffer.n_transitions == 150

    # The next save removes the stale temporary directory: only complete checkpoints are left.
    model.learn(50, reset_num_timesteps=False)
    saved = save_checkpoint(model, save_dir)
    assert sorted(os.listdir(save_dir)) == ["checkpoint_000000000150", "checkpoint_000000000200"]
    assert latest_checkpoint(save_dir) == saved and load_checkpoint(saved).replay_buffer.n_transitions == 200
