"""
World-model efficiency benchmark: JEDI's latent diffusion world model against DIAMOND's pixel one, in one library.

The JEDI paper (arXiv 2505.19698) reports, against DIAMOND, more than 3x faster world-model sampling, 2.5x faster
training and 43% less GPU memory. This benchmark measures the same quantities for the two agents of this library,
:class:`~sb3_jedi.jedi.JEDI` (``"latent"``) and :class:`~sb3_jedi.diamond.DIAMOND` (``"pixel"``), at the paper's
sizes, on 64x64 RGB frames, 18 actions and a batch of 32 (times in one process, memory in fresh ones):

- ``train_step_s``: one world-model training step: denoising loss (through the encoder for the latent agent; the
  pixel agent has none), backward, gradient clipping, optimiser step;
- ``world_model_step_s``: the agent's whole world-model update as ``learn`` runs it (``train_world_model``: the above
  plus the reward/termination model on 19-frame segments);
- ``imagine_step_s``: one imagined step of the whole batch under ``torch.inference_mode``: actor, diffusion sampler
  (Euler, 3 steps), reward/termination model; ``imagined_frames_per_s`` = batch / ``imagine_step_s``;
- ``actor_critic_step_s``: one actor-critic update (``train_actor_critic``) over a horizon-15 imagined rollout;
- ``train_peak_memory_bytes`` / ``imagine_peak_memory_bytes``: peak memory of a training / imagined step, each in a
  fresh process holding only that agent (see :func:`peak_memory_bytes`);
- ``params``: parameters per component.

Times are medians over ``repeats`` calls after ``warmup`` calls, on a replay buffer of random frames (the cost does
not depend on what the frames show). The visualisation decoder of JEDI (optional, not part of the world model) is left
out. ``ratios`` holds pixel / latent for every measure.

    python -m sb3_jedi.benchmarks.world_model [--device cpu|cuda] [--batch-size 32] [--quick] [--json PATH]
        [--repeats N] [--warmup N] [--threads N]
"""

import argparse
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

import gymnasium as gym
import numpy as np
import torch as th
from gymnasium import spaces
from torch import nn
from torch.distributions import Categorical

import sb3_jedi
from sb3_jedi.diamond import DIAMOND
from sb3_jedi.imagination import burn_in
from sb3_jedi.jedi import JEDI
from sb3_jedi.run_info import library_versions
from sb3_jedi.world_model import LatentWorldModel, PixelWorldModel

__all__ = [
    "AGENTS",
    "MEASURES",
    "MEMORY_METHOD",
    "PARAM_COMPONENTS",
    "build_agent",
    "format_markdown_table",
    "main",
    "measure_peak_memory",
    "peak_memory_bytes",
    "run_world_model_benchmark",
]

# The two agents, by the space their world model diffuses in.
AGENTS = ("latent", "pixel")
AGENT_NAMES = {"latent": "latent (JEDI)", "pixel": "pixel (DIAMOND)"}
# Every measure of an agent besides ``params`` (imagined_frames_per_s is the only one where larger is better).
MEASURES = (
    "train_step_s",
    "world_model_step_s",
    "imagine_step_s",
    "imagined_frames_per_s",
    "actor_critic_step_s",
    "train_peak_memory_bytes",
    "imagine_peak_memory_bytes",
)
PARAM_COMPONENTS = ("encoder", "denoiser", "reward_end", "actor_critic")

FRAME_SHAPE = (64, 64, 3)  # Atari100k protocol: 64x64 RGB (channel last, as envs return them)
N_ACTIONS = 18  # the full Atari action set (games use 3 to 18)
DEFAULT_REPEATS = 3
DEFAULT_WARMUP = 1
QUICK_BATCH_SIZE = 2
# Rows of random frames in the replay buffer: enough for 19-frame segments without padding.
_BUFFER_TRANSITIONS = 100

# Paper sizes are the agents' defaults (JEDI paper / DIAMOND's config); the decoder is visualisation only.
PAPER_POLICY_KWARGS: dict[str, dict[str, Any]] = {"latent": {"use_decoder": False}, "pixel": {}}
# Tiny networks for --quick (a smoke run: the numbers mean nothing).
QUICK_POLICY_KWARGS: dict[str, dict[str, Any]] = {
    "latent": {
        "use_decoder": False,
        "encoder_kwargs": {"channels": (8, 8, 8, 4)},
        "denoiser_kwargs": {"channels": 16, "depth": 1, "cond_dim": 16},
        "reward_end_kwargs": {"channels": (8, 8), "depth": 1, "cond_dim": 8, "lstm_dim": 16, "hidden_dim": 16},
        "actor_critic_kwargs": {"channels": (8, 8), "lstm_dim": 16},
    },
    "pixel": {
        "denoiser_kwargs": {"channels": (8, 8), "depths": (1, 1), "mid_depth": 1, "cond_dim": 16},
        "reward_end_kwargs": {"channels": (8, 8, 8, 8), "depth": 1, "cond_dim": 8, "lstm_dim": 16, "hidden_dim": 16},
        "actor_critic_kwargs": {"channels": (8, 8, 8, 8), "lstm_dim": 16},
    },
}

MEMORY_METHOD = {
    "cuda": "torch.cuda.max_memory_allocated() during one step (peak stats reset after a warm-up step), in a fresh "
    "process holding only that agent: weights, optimiser state, batch and the step's own tensors",
    "cpu": "peak resident set size during one step (VmHWM, reset after a warm-up step through /proc/self/clear_refs) "
    "minus the resident size of the same fresh process before the agent was built (torch already loaded and warmed "
    "up); glibc is told to return freed blocks to the system (MALLOC_MMAP_THRESHOLD_) so that freed memory does not "
    "linger in the count: weights, optimiser state, batch and the step's own memory",
    "cpu-fallback": "peak resident set size of the fresh process (getrusage ru_maxrss, building the agent included) "
    "minus its resident size before the agent was built; /proc/self/clear_refs was not available",
}


class _RandomFrames(gym.Env):
    """An env of random 64x64 RGB frames: it only gives the agents their spaces."""

    observation_space = spaces.Box(0, 255, FRAME_SHAPE, np.uint8)
    action_space = spaces.Discrete(N_ACTIONS)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        return self.observation_space.sample(), 0.0, False, False, {}


def build_agent(agent: str, device: str = "cpu", batch_size: int = 32, quick: bool = False, seed: int = 0) -> JEDI:
    """
    Build one of the two agents with its replay buffer filled with one episode of random frames.

    :param agent: ``"latent"`` (JEDI) or ``"pixel"`` (DIAMOND)
    :param device: torch device
    :param batch_size: segments per update
    :param quick: tiny networks instead of the paper's sizes
    :param seed: seed of the networks and of the frames
    :return: the model, its policy in training mode
    """
    if agent not in AGENTS:
        raise ValueError(f"Unknown agent {agent!r}: use one of {AGENTS}.")
    algorithm = JEDI if agent == "latent" else DIAMOND
    policy_kwargs = (QUICK_POLICY_KWARGS if quick else PAPER_POLICY_KWARGS)[agent]
    model = algorithm(
        "CnnPolicy",
        _RandomFrames(),
        batch_size=batch_size,
        buffer_size=2 * _BUFFER_TRANSITIONS,
        learning_starts=0,
        policy_kwargs=policy_kwargs,
        device=device,
        seed=seed,
    )
    rng = np.random.default_rng(seed)
    buffer = model.replay_buffer
    frame = rng.integers(0, 256, (1, *buffer.obs_shape), dtype=np.uint8)
    for t in range(_BUFFER_TRANSITIONS):
        next_frame = rng.integers(0, 256, (1, *buffer.obs_shape), dtype=np.uint8)
        buffer.add(
            frame,
            rng.integers(0, N_ACTIONS, 1),
            rng.integers(-1, 2, 1).astype(np.float32),
            np.array([t == _BUFFER_TRANSITIONS - 1]),
            np.array([False]),
            next_frame,
        )
        frame = next_frame
    model.policy.set_training_mode(True)
    return model


def _diffusion_world_model(model: JEDI) -> LatentWorldModel | PixelWorldModel:
    """The agent's world model: JEDI's latent one or DIAMOND's pixel one, both with a denoiser and its loss."""
    return cast(LatentWorldModel | PixelWorldModel, model.policy.world_model)


def count_parameters(model: JEDI) -> dict[str, int]:
    """Parameters per component (``encoder`` is 0 for the pixel agent) and their ``total``."""
    world_model = _diffusion_world_model(model)
    modules: dict[str, nn.Module | None] = {
        "encoder": getattr(world_model, "encoder", None),
        "denoiser": world_model.denoiser,
        "reward_end": world_model.reward_end_model,
        "actor_critic": model.policy.actor_critic,
    }
    counts = {name: 0 if module is None else sum(p.numel() for p in module.parameters()) for name, module in modules.items()}
    counts["total"] = sum(counts.values())
    return counts


def _train_step(model: JEDI) -> Callable[[], None]:
    """One denoiser (+ encoder) update on a fixed batch of ``n_cond_steps + 1``-frame segments."""
    world_model = _diffusion_world_model(model)
    optimizer = model.policy.world_model_optimizer
    batch = model.replay_buffer.sample_segments(model.batch_size, world_model.n_cond_steps + 1, model._sampling_rng)

    def step() -> None:
        loss, _ = world_model.denoising_loss(batch, world_model.encode_segments(batch))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        model._clip_gradients(optimizer)
        optimizer.step()

    return step


def _imagine_step(model: JEDI) -> Callable[[], None]:
    """One imagined step of the batch (the body of :func:`sb3_jedi.imagination.imagine`'s loop), from a fixed start."""
    world_model, actor_critic = model.policy.world_model, model.policy.actor_critic
    batch = model.replay_buffer.sample_segments(model.batch_size, world_model.n_cond_steps, model._sampling_rng)
    cond_states, cond_actions, hidden, reward_end_hidden = burn_in(world_model, actor_critic, batch)

    def step() -> None:
        with th.inference_mode():
            logits, _, _ = actor_critic(cond_states[:, -1], hidden)
            action = Categorical(logits=logits).sample()
            actions = th.cat([cond_actions[:, :-1], action[:, None]], dim=1)
            next_state = world_model.sample_next_state(cond_states, actions)
            reward_logits, end_logits, _ = world_model.predict_reward_end(
                cond_states[:, -1:], action[:, None], next_state[:, None], reward_end_hidden
            )
            world_model.decode_reward(reward_logits[:, 0], sample=True)
            Categorical(logits=end_logits[:, 0]).sample()

    return step


def _make_step(model: JEDI, measure: str) -> Callable[[], Any]:
    if measure == "train":
        return _train_step(model)
    if measure == "imagine":
        return _imagine_step(model)
    if measure == "world_model":
        return lambda: model.train_world_model(model.batch_size)
    if measure == "actor_critic":
        return lambda: model.train_actor_critic(model.batch_size)
    raise ValueError(f"Unknown step {measure!r}: use train, imagine, world_model or actor_critic.")


def median_seconds(fn: Callable[[], Any], repeats: int, warmup: int, cuda: bool) -> float:
    """Median wall time of ``fn`` over ``repeats`` calls after ``warmup`` calls (CUDA synchronised around each)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        if cuda:
            th.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if cuda:
            th.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# Peak memory, in a fresh process per measure ---------------------------------------------------------------------


def _status_bytes(field: str) -> int:
    """A ``kB`` field of /proc/self/status (VmRSS, VmHWM) in bytes."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise OSError(f"/proc/self/status has no {field} field")


def _reset_peak_rss() -> bool:
    """Reset the peak resident size (VmHWM) to the current one (Linux >= 4.0); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


def _maxrss_bytes() -> int:
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss if sys.platform == "darwin" else maxrss * 1024  # bytes on macOS, KiB on Linux


def _rss_bytes() -> int:
    try:
        return _status_bytes("VmRSS")
    except OSError:
        return _maxrss_bytes()


def _warm_up_torch(device: str) -> None:
    """Run each kind of operation once so that lazily loaded kernels and thread pools are not counted for the agent."""
    conv = th.nn.Sequential(th.nn.Conv2d(3, 8, 3, padding=1), th.nn.GroupNorm(1, 8), th.nn.SiLU(), th.nn.MaxPool2d(2))
    lstm = th.nn.LSTM(8, 8, batch_first=True)
    cell = th.nn.LSTMCell(8, 8)
    modules = th.nn.ModuleList([conv, lstm, cell]).to(device)
    optimizer = th.optim.AdamW(modules.parameters())
    features = conv(th.randn(2, 3, 8, 8, device=device)).mean((2, 3))
    out, _ = lstm(features[:, None])
    upsampled = th.nn.functional.interpolate(features[:, :, None, None], scale_factor=2.0)
    loss = out.sum() + cell(features)[0].sum() + upsampled.sum()
    loss.backward()
    optimizer.step()
    with th.inference_mode():
        Categorical(logits=th.zeros(2, 3, device=device)).sample()
    del modules, optimizer, features, out, upsampled, loss
    gc.collect()


def _memory_child(spec_json: str) -> dict[str, Any]:
    """Measure one peak in this (fresh) process; see :func:`peak_memory_bytes`."""
    spec = json.loads(spec_json)
    device, cuda = spec["device"], spec["device"].startswith("cuda")
    if spec["threads"]:
        th.set_num_threads(spec["threads"])
    _warm_up_torch(device)
    baseline = 0 if cuda else _rss_bytes()
    model = build_agent(spec["agent"], device, spec["batch_size"], spec["quick"])
    step = _make_step(model, spec["measure"])
    step()  # warm-up: optimiser state and lazily built kernels exist before the measured step
    gc.collect()
    if cuda:
        th.cuda.synchronize()
        th.cuda.reset_peak_memory_stats()
        step()
        th.cuda.synchronize()
        return {"peak_bytes": int(th.cuda.max_memory_allocated()), "method": "cuda"}
    if _reset_peak_rss():
        step()
        return {"peak_bytes": _status_bytes("VmHWM") - baseline, "method": "cpu"}
    step()
    return {"peak_bytes": _maxrss_bytes() - baseline, "method": "cpu-fallback"}


def peak_memory_bytes(
    agent: str, measure: str, device: str = "cpu", batch_size: int = 32, quick: bool = False, threads: int | None = None
) -> tuple[int, str]:
    """
    Peak memory of one step of one agent, measured in a fresh Python process so that nothing else the benchmark
    built counts (see :data:`MEMORY_METHOD`).

    - CUDA: ``torch.cuda.max_memory_allocated()`` during one step, the peak statistics reset after a warm-up step: all
      tensors of the agent (weights, optimiser state, batch) plus the step's own.
    - CPU: the peak resident set size during one step (``VmHWM`` reset after a warm-up step) minus the resident size of
      the process before the agent was built (torch already loaded and warmed up): the same quantity, as the kernel
      sees it. glibc keeps freed blocks for reuse, which would hide the next step's allocations or count memory
      already freed; the child therefore runs with ``MALLOC_MMAP_THRESHOLD_=65536`` so that blocks above 64 KiB come
      from and go back to the system. Where ``/proc/self/clear_refs`` is missing, ``ru_maxrss`` (which also covers
      building the agent) is used instead and the returned method says so.

    :param agent: ``"latent"`` or ``"pixel"``
    :param measure: ``"train"`` (world-model training step) or ``"imagine"`` (one imagined step)
    :param device: torch device
    :param batch_size: segments per step
    :param quick: tiny networks
    :param threads: torch threads of the child (``None``: this process's count)
    :return: the peak in bytes and the key of :data:`MEMORY_METHOD` that describes how it was measured
    """
    return measure_peak_memory([(agent, measure, batch_size)], device, quick, threads)[0]


def measure_peak_memory(
    jobs: Sequence[tuple[str, str, int]],
    device: str = "cpu",
    quick: bool = False,
    threads: int | None = None,
    max_parallel: int | None = None,
) -> list[tuple[int, str]]:
    """
    Several :func:`peak_memory_bytes` measurements, each in its own fresh process. The processes may run side by side:
    each reports the peak of its own process only, so running them together changes the wall time, not the figures.

    :param jobs: ``(agent, measure, batch_size)`` for each measurement
    :param device: torch device
    :param quick: tiny networks
    :param threads: torch threads of each child (``None``: this process's count)
    :param max_parallel: processes at a time (default: all of them on a CPU, one at a time on a GPU)
    :return: ``(peak_bytes, method)`` for each job, in order
    """
    if max_parallel is None:
        max_parallel = 1 if device.startswith("cuda") else len(jobs)
    code = (
        "import json, sys\n"
        "from sb3_jedi.benchmarks.world_model import _memory_child\n"
        "print(json.dumps(_memory_child(sys.argv[1])))"
    )
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536")
    package_root = str(Path(sb3_jedi.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    results: list[tuple[int, str]] = []
    for first in range(0, len(jobs), max(1, max_parallel)):
        running = []
        for agent, measure, batch_size in jobs[first : first + max(1, max_parallel)]:
            spec = {
                "agent": agent,
                "measure": measure,
                "device": device,
                "batch_size": batch_size,
                "quick": quick,
                "threads": threads or th.get_num_threads(),
            }
            command = [sys.executable, "-c", code, json.dumps(spec)]
            child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
            running.append((agent, measure, child))
        for agent, measure, child in running:
            stdout, stderr = child.communicate()
            if child.returncode != 0:
                raise RuntimeError(
                    f"The memory measurement of the {agent} agent's {measure} step failed (exit code {child.returncode}):"
                    f"\n{stderr.strip()[-2000:]}"
                )
            result = json.loads(stdout.strip().splitlines()[-1])
            results.append((int(result["peak_bytes"]), str(result["method"])))
    return results


# The benchmark ----------------------------------------------------------------------------------------------------


def _device_name(device: str) -> str:
    if device.startswith("cuda"):
        return th.cuda.get_device_name(th.device(device))
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _time_agent(agent: str, device: str, batch_size: int, quick: bool, repeats: int, warmup: int) -> dict[str, Any]:
    cuda = device.startswith("cuda")
    model = build_agent(agent, device, batch_size, quick)
    results: dict[str, Any] = {"params": count_parameters(model)}
    for key, measure in (
        ("train_step_s", "train"),
        ("world_model_step_s", "world_model"),
        ("imagine_step_s", "imagine"),
        ("actor_critic_step_s", "actor_critic"),
    ):
        results[key] = median_seconds(_make_step(model, measure), repeats, warmup, cuda)
    results["imagined_frames_per_s"] = batch_size / results["imagine_step_s"]
    results["imagination_horizon"] = model.imagination_horizon
    del model
    gc.collect()
    if cuda:
        th.cuda.empty_cache()
    return results


def run_world_model_benchmark(
    device: str = "cpu",
    batch_size: int = 32,
    quick: bool = False,
    repeats: int | None = None,
    warmup: int | None = None,
    json_path: str | os.PathLike | None = None,
    threads: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """
    Measure both agents (module docstring) and return the results; optionally write them as JSON.

    :param device: ``"cpu"`` or ``"cuda"`` (``"cuda:1"`` etc.)
    :param batch_size: segments per step (paper: 32); ``quick`` uses at most 2
    :param quick: tiny networks, small batch, one repeat: a smoke run of a few seconds whose numbers mean nothing
    :param repeats: timed calls per measure, the median is reported (default 3; 1 with ``quick``)
    :param warmup: untimed calls before them (default 1)
    :param json_path: write the results to this file
    :param threads: ``torch.set_num_threads`` for this run and the memory processes (``None``: leave as is); the
        caller's setting is restored afterwards
    :param progress: called with a line of text before each part (e.g. ``print``), for long runs
    :return: ``{"device", "device_type", "torch_threads", "batch_size", "quick", "repeats", "warmup", "versions",
        "settings", "latent", "pixel", "ratios"}``; each agent maps every key of :data:`MEASURES` and ``params``
        (per component and ``total``); ``ratios`` maps every key of :data:`MEASURES` and ``params`` (totals) to
        pixel / latent
    """
    if device.startswith("cuda") and not th.cuda.is_available():
        raise ValueError(f"device={device!r} but CUDA is not available here: run with device='cpu'.")
    if not device.startswith(("cpu", "cuda")):
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}.")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
    if quick:
        batch_size = min(batch_size, QUICK_BATCH_SIZE)
    repeats = (1 if quick else DEFAULT_REPEATS) if repeats is None else repeats
    warmup = DEFAULT_WARMUP if warmup is None else warmup
    if repeats < 1 or warmup < 0:
        raise ValueError(f"repeats must be >= 1 and warmup >= 0, got repeats={repeats}, warmup={warmup}.")
    caller_threads = th.get_num_threads()
    if threads is not None:
        th.set_num_threads(threads)
    try:
        results = _run(device, batch_size, quick, repeats, warmup, progress or (lambda _line: None))
    finally:
        th.set_num_threads(caller_threads)
    if json_path is not None:
        path = Path(json_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, indent=2) + "\n")
    return results


def _run(device: str, batch_size: int, quick: bool, repeats: int, warmup: int, say: Callable[[str], None]) -> dict[str, Any]:
    results: dict[str, Any] = {
        "device": _device_name(device),
        "device_type": "cuda" if device.startswith("cuda") else "cpu",
        "torch_threads": th.get_num_threads(),
        "batch_size": batch_size,
        "quick": quick,
        "repeats": repeats,
        "warmup": warmup,
        "versions": library_versions(),
    }
    # Memory first, each measure in a fresh process (side by side on a CPU); then the timings, with nothing else running.
    jobs = [(agent, measure, batch_size) for agent in AGENTS for measure in ("train", "imagine")]
    say(f"peak memory: {len(jobs)} fresh processes")
    peaks = measure_peak_memory(jobs, device, quick, results["torch_threads"])
    methods = {method for _, method in peaks}
    for agent in AGENTS:
        say(f"{AGENT_NAMES[agent]}: timing ({repeats} repeats after {warmup} warm-up)")
        measured = _time_agent(agent, device, batch_size, quick, repeats, warmup)
        horizon = measured.pop("imagination_horizon")
        for (job_agent, measure, _), (peak, _) in zip(jobs, peaks, strict=True):
            if job_agent == agent:
                measured[f"{measure}_peak_memory_bytes"] = peak
        results[agent] = {key: measured[key] for key in MEASURES} | {"params": measured["params"]}
    results["settings"] = {
        "frame_shape": list(FRAME_SHAPE),
        "n_actions": N_ACTIONS,
        "imagination_horizon": horizon,
        "sampler": "Euler, 3 steps",
        "memory_method": "; ".join(MEMORY_METHOD[m] for m in sorted(methods)),
    }
    ratios = {key: results["pixel"][key] / results["latent"][key] for key in MEASURES}
    ratios["params"] = results["pixel"]["params"]["total"] / results["latent"]["params"]["total"]
    results["ratios"] = ratios
    return results


def _mib(value: float) -> str:
    return f"{value / 2**20:,.0f}"


def format_markdown_table(result: dict[str, Any]) -> str:
    """
    The results of :func:`run_world_model_benchmark` as a Markdown table (one row per measure, one column per agent,
    then pixel / latent), with a line saying where and how they were measured.

    :param result: what :func:`run_world_model_benchmark` returned (or its JSON, loaded)
    :return: the Markdown text
    """
    latent, pixel, ratios = result["latent"], result["pixel"], result["ratios"]
    rows = [
        ("world-model training step (s)", "train_step_s", "{:.3g}"),
        ("full world-model update, reward/termination included (s)", "world_model_step_s", "{:.3g}"),
        ("imagined step, whole batch (s)", "imagine_step_s", "{:.3g}"),
        ("imagined frames per second", "imagined_frames_per_s", "{:,.1f}"),
        (f"actor-critic update, horizon {result['settings']['imagination_horizon']} (s)", "actor_critic_step_s", "{:.3g}"),
    ]
    lines = [
        f"Device: {result['device']} ({result['device_type']}), torch threads: {result['torch_threads']}, "
        f"batch size: {result['batch_size']}, median of {result['repeats']} after {result['warmup']} warm-up"
        + (" (--quick: tiny networks, the numbers mean nothing)" if result["quick"] else ""),
        "",
        "| measure | latent (JEDI) | pixel (DIAMOND) | pixel / latent |",
        "|---|---:|---:|---:|",
    ]
    for label, key, fmt in rows:
        lines.append(f"| {label} | {fmt.format(latent[key])} | {fmt.format(pixel[key])} | {ratios[key]:.2f} |")
    for label, key in (("training step", "train_peak_memory_bytes"), ("imagined step", "imagine_peak_memory_bytes")):
        lines.append(f"| peak memory, {label} (MiB) | {_mib(latent[key])} | {_mib(pixel[key])} | {ratios[key]:.2f} |")
    labels = {"encoder": "encoder", "denoiser": "denoiser", "reward_end": "reward/termination model"}
    for component in (*PARAM_COMPONENTS, "total"):
        a, b = latent["params"][component], pixel["params"][component]
        ratio = f"{b / a:.2f}" if a and b else "-"
        lines.append(f"| parameters: {labels.get(component, component.replace('_', '-'))} | {a:,} | {b:,} | {ratio} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Command line: run the benchmark, print the Markdown table, optionally write the JSON."""
    parser = argparse.ArgumentParser(
        prog="python -m sb3_jedi.benchmarks.world_model",
        description="JEDI's latent world model against DIAMOND's pixel world model: time, memory, parameters.",
    )
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    parser.add_argument("--batch-size", type=int, default=32, help="segments per step (paper: 32)")
    parser.add_argument("--quick", action="store_true", help="tiny networks, batch 2, one repeat: a few seconds")
    parser.add_argument("--json", default=None, help="write the results to this JSON file")
    parser.add_argument("--repeats", type=int, default=None, help=f"timed calls per measure (default {DEFAULT_REPEATS})")
    parser.add_argument("--warmup", type=int, default=None, help=f"untimed calls first (default {DEFAULT_WARMUP})")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    args = parser.parse_args(argv)
    result = run_world_model_benchmark(
        device=args.device,
        batch_size=args.batch_size,
        quick=args.quick,
        repeats=args.repeats,
        warmup=args.warmup,
        json_path=args.json,
        threads=args.threads,
        progress=lambda line: print(line, file=sys.stderr, flush=True),
    )
    print(format_markdown_table(result))
    return result


if __name__ == "__main__":
    main()
