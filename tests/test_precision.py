"""
TF32 matrix products on CUDA, as DIAMOND's trainer sets them (src/trainer.py: torch.backends.cuda.matmul.allow_tf32 =
True): the commands that run whole trainings turn them on for CUDA devices, the library never does by itself.
"""

import json

import pytest
import torch as th

import sb3_jedi.evaluation.runner
import sb3_jedi.precision
from sb3_jedi.cli import main
from sb3_jedi.evaluation.runner import RunSpec
from sb3_jedi.precision import enable_tf32_matmul, tf32_matmul_enabled


@pytest.fixture(autouse=True)
def float32_matmul():
    """Each test starts from PyTorch's default (float32 products) and leaves the process as it found it."""
    before = th.backends.cuda.matmul.allow_tf32
    th.backends.cuda.matmul.allow_tf32 = False
    yield
    th.backends.cuda.matmul.allow_tf32 = before


def test_only_cuda_devices_turn_tf32_on():
    assert enable_tf32_matmul("cpu") is False
    assert th.backends.cuda.matmul.allow_tf32 is False
    assert tf32_matmul_enabled("cpu") is None and tf32_matmul_enabled("cuda") is False
    assert enable_tf32_matmul(th.device("cuda", 0)) is True
    assert th.backends.cuda.matmul.allow_tf32 is True
    assert tf32_matmul_enabled("cuda:0") is True and tf32_matmul_enabled(th.device("cpu")) is None


@pytest.fixture
def tf32_calls(monkeypatch):
    """The device types the commands ask to multiply in TF32 (the setting itself is applied as usual)."""
    calls: list[str] = []
    real = sb3_jedi.precision.enable_tf32_matmul

    def spy(device):
        calls.append(th.device(device).type)
        return real(device)

    monkeypatch.setattr(sb3_jedi.precision, "enable_tf32_matmul", spy)
    return calls


def test_train_asks_for_tf32_on_its_device_unless_told_not_to(tmp_path, tf32_calls):
    base = ["train", "CartPole-v1", "--steps", "20", "--device", "cpu", "--no-progress-bar", "--verbose", "0"]
    assert main([*base, "--out", str(tmp_path / "tf32")]) == 0
    assert tf32_calls == ["cpu"]
    # On a CPU nothing changes, and run.json says there is no TF32 there.
    assert th.backends.cuda.matmul.allow_tf32 is False
    assert json.loads((tmp_path / "tf32" / "run.json").read_text())["tf32_matmul"] is None
    assert main([*base, "--out", str(tmp_path / "float32"), "--no-tf32"]) == 0
    assert tf32_calls == ["cpu"]


def test_the_atari100k_benchmark_multiplies_in_tf32_by_default(tmp_path, monkeypatch):
    assert RunSpec(algo="JEDI", game="Pong", seed=0, steps=1, out_dir=str(tmp_path)).tf32 is True
    seen: list[bool] = []

    def record(**kwargs):
        seen.append(kwargs["tf32"])
        return []

    monkeypatch.setattr(sb3_jedi.evaluation.runner, "run_atari100k", record)
    command = ["benchmark", "atari100k", "--games", "Pong", "--out", str(tmp_path / "out")]
    assert main(command) == 0
    assert main([*command, "--no-tf32"]) == 0
    assert seen == [True, False]
