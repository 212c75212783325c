"""
Atari100k benchmark runner: train and evaluate an algorithm on (game, seed) pairs, one JSON result per run.

Layout of ``out_dir``::

    <out_dir>/<algo>/<game>/seed_<seed>.json            the result, written last (atomically)
    <out_dir>/<algo>/<game>/seed_<seed>/config.json     the run's configuration
    <out_dir>/<algo>/<game>/seed_<seed>/checkpoints/    resumable checkpoints (sb3_jedi.checkpoints)
    <out_dir>/<algo>/<game>/seed_<seed>/model.zip       the final model (``save_model=True``)
    <out_dir>/<algo>/<game>/seed_<seed>/monitor/        training Monitor logs, one folder per attempt

Calling :func:`run_atari100k` again with the same arguments is safe: finished runs (their JSON exists) are skipped,
and an unfinished run restarts from its newest checkpoint, with ``num_timesteps`` continuing from there. Runs go to
a local process pool (``workers``) or, with ``ray_address``, to a Ray cluster; nothing else schedules them.
"""

from __future__ import annotations

import concurrent.futures
import json
import multiprocessing
import os
import shutil
import sys
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sb3_jedi.envs.atari import ATARI100K_GAMES
from sb3_jedi.run_info import library_versions

__all__ = ["RAY_LOCAL", "RESULT_FORMAT", "RunSpec", "load_results", "run_atari100k"]

#: ``ray_address`` value meaning "start a local Ray instance, or join the one ``RAY_ADDRESS`` names".
RAY_LOCAL = "local"
RESULT_FORMAT = 1
#: Seeds of the JEDI paper's Atari100k tables (5 per game).
DEFAULT_SEEDS: tuple[int, ...] = (0, 1, 2, 3, 4)
#: Offset between a run's training seed and its evaluation env's seed (evaluation games differ from training ones).
EVAL_SEED_OFFSET = 10_000


def _algorithm_class(name: str) -> type:
    """The class of an algorithm name of :mod:`sb3_jedi.registry` (``"JEDI"``, ``"DIAMOND"``), imported now."""
    from sb3_jedi.registry import get_algorithm

    return get_algorithm(name)


@dataclass(frozen=True)
class RunSpec:
    """
    Everything one (game, seed) run needs; plain data, so that it travels to process-pool and Ray workers.

    See :func:`run_atari100k` for the meaning of the fields.
    """

    algo: str
    game: str
    seed: int
    steps: int
    out_dir: str
    device: str = "auto"
    policy: str = "CnnPolicy"
    hyperparams: dict[str, Any] = field(default_factory=dict)
    eval_episodes: int = 100
    eval_deterministic: bool = False
    eval_max_episode_frames: int | None = 108_000
    eval_envs: int = 1
    checkpoint_freq: int | None = 10_000
    keep_checkpoints: bool = False
    save_model: bool = True
    torch_threads: int | None = None
    tf32: bool = True
    verbose: int = 0

    @property
    def run_dir(self) -> Path:
        return Path(self.out_dir) / self.algo / self.game / f"seed_{self.seed}"

    @property
    def result_path(self) -> Path:
        return Path(self.out_dir) / self.algo / self.game / f"seed_{self.seed}.json"

    @property
    def checkpoint_dir(self) -> Path:
        return self.run_dir / "checkpoints"

    def config(self) -> dict[str, Any]:
        """What makes two runs the same experiment (device, threads and bookkeeping options aside)."""
        return {
            "algo": self.algo,
            "game": self.game,
            "seed": self.seed,
            "steps": self.steps,
            "policy": self.policy,
            "hyperparams": self.hyperparams,
            "evaluation": {
                "episodes": self.eval_episodes,
                "deterministic": self.eval_deterministic,
                "max_episode_frames": self.eval_max_episode_frames,
                "seed": self.seed + EVAL_SEED_OFFSET,
            },
        }


def _write_json_atomic(path: Path, data: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2, default=_json_default))
    os.replace(tmp, path)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    return repr(value)


def _normalize_config(config: Mapping[str, Any]) -> Any:
    """A configuration as it reads back from JSON (tuples become lists), for comparisons."""
    return json.loads(json.dumps(config, default=_json_default))


def _check_same_config(spec: RunSpec, stored: Mapping[str, Any] | None, where: Path) -> None:
    if stored is None:
        return
    expected = _normalize_config(spec.config())
    if _normalize_config(stored) != expected:
        differing = sorted(key for key in expected if expected.get(key) != stored.get(key))
        raise ValueError(
            f"{where} belongs to a run with another configuration (differs in: {', '.join(differing)}). Use another "
            "out_dir for a new experiment, or delete that run's files to redo it with the new settings."
        )


def _resolved_hyperparams(model: Any) -> dict[str, Any]:
    """
    The hyper-parameters the model actually used, defaults filled in (:meth:`~sb3_jedi.jedi.JEDI.hyperparameters`),
    as JSON values: ``train_freq`` as its number of steps, a schedule as its initial value.
    """
    resolved: dict[str, Any] = {}
    for key, value in model.hyperparameters().items():
        if key == "train_freq" and hasattr(value, "frequency"):
            value = value.frequency
        if callable(value):  # a schedule: record its initial value
            value = value(1.0)
        resolved[key] = value
    return _normalize_config(resolved)


def _training_episodes(monitor_root: Path) -> dict[str, list[float] | list[int]]:
    """
    Finished training games from the Monitor logs of every attempt, without those an attempt replayed after a
    resume (an attempt that started from a checkpoint at step ``n`` supersedes what earlier attempts did after ``n``).
    """
    import pandas as pd

    attempts = sorted(
        (int(path.name.split("_")[-1]), path) for path in monitor_root.glob("start_*") if path.name.split("_")[-1].isdigit()
    )
    scores: list[float] = []
    lengths: list[int] = []
    for index, (start, path) in enumerate(attempts):
        end = attempts[index + 1][0] if index + 1 < len(attempts) else None
        files = sorted(path.glob("*.monitor.csv"))
        if not files:
            continue
        frame = pd.read_csv(files[0], skiprows=1)
        steps = start
        for reward, length in zip(frame["r"], frame["l"], strict=True):
            steps += int(length)
            if end is not None and steps > end:
                break
            scores.append(float(reward))
            lengths.append(int(length))
    return {"scores": scores, "lengths": lengths}


def _run_one(spec: RunSpec) -> dict[str, Any]:
    """Train, evaluate and record one (game, seed) run, resuming from its newest checkpoint if there is one."""
    import torch as th

    from sb3_jedi.checkpoints import CheckpointCallback, latest_checkpoint, load_checkpoint
    from sb3_jedi.envs import make_atari100k_env
    from sb3_jedi.evaluation.protocol import evaluate_atari100k
    from sb3_jedi.precision import enable_tf32_matmul, tf32_matmul_enabled

    if spec.result_path.is_file():
        return json.loads(spec.result_path.read_text())
    if spec.torch_threads is not None:
        th.set_num_threads(spec.torch_threads)
    start = time.perf_counter()
    run_dir = spec.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    config_path = run_dir / "config.json"
    if config_path.is_file():
        _check_same_config(spec, json.loads(config_path.read_text()), config_path)
    else:
        _write_json_atomic(config_path, spec.config())

    checkpoint = latest_checkpoint(spec.checkpoint_dir)
    resumed_from = None
    if checkpoint is not None:
        # The checkpoint knows its algorithm class; the env's Monitor logs go to a new folder for this attempt.
        resumed_from = int(json.loads((checkpoint / "manifest.json").read_text())["num_timesteps"])
    # Starting over drops every earlier attempt's log; resuming at step n drops only a log that also started at n.
    stale = run_dir / "monitor" if checkpoint is None else run_dir / "monitor" / f"start_{resumed_from}"
    if stale.exists():
        shutil.rmtree(stale)
    monitor_dir = run_dir / "monitor" / f"start_{resumed_from or 0}"
    env = make_atari100k_env(spec.game, seed=spec.seed, training=True, monitor_dir=str(monitor_dir))
    if checkpoint is not None:
        model = load_checkpoint(checkpoint, env=env, device=spec.device)
    else:
        cls = _algorithm_class(spec.algo)
        model = cls(spec.policy, env, seed=spec.seed, device=spec.device, verbose=spec.verbose, **spec.hyperparams)
    if spec.tf32:
        # DIAMOND's trainer multiplies in TF32 on CUDA (src/trainer.py); no effect on other devices.
        enable_tf32_matmul(model.device)

    remaining = spec.steps - model.num_timesteps
    train_start = time.perf_counter()
    if remaining > 0:
        callback = None
        if spec.checkpoint_freq:
            callback = CheckpointCallback(spec.checkpoint_dir, save_freq=spec.checkpoint_freq, keep_last=1)
        model.learn(remaining, callback=callback, reset_num_timesteps=checkpoint is None)
    train_time = time.perf_counter() - train_start
    env.close()
    if spec.save_model:
        model.save(run_dir / "model.zip")

    evaluation = evaluate_atari100k(
        model,
        spec.game,
        n_episodes=spec.eval_episodes,
        seed=spec.seed + EVAL_SEED_OFFSET,
        deterministic=spec.eval_deterministic,
        n_envs=spec.eval_envs,
        max_episode_frames=spec.eval_max_episode_frames,
    )
    device = str(model.device)
    if th.device(device).type == "cuda":
        device = f"{device} ({th.cuda.get_device_name(th.device(device))})"
    result = {
        "format": RESULT_FORMAT,
        **spec.config(),
        "score": evaluation.mean,
        "score_std": evaluation.std,
        "hns": evaluation.hns,
        "num_timesteps": int(model.num_timesteps),
        "evaluation": {**spec.config()["evaluation"], **evaluation.to_dict()},
        "training_episodes": _training_episodes(run_dir / "monitor"),
        "resolved_hyperparams": _resolved_hyperparams(model),
        "resumed_from_timesteps": resumed_from,
        "train_time_s": train_time,
        "eval_time_s": evaluation.wall_time_s,
        "wall_time_s": time.perf_counter() - start,
        "device": device,
        "tf32_matmul": tf32_matmul_enabled(model.device),
        "torch_threads": th.get_num_threads(),
        "versions": library_versions(),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    _write_json_atomic(spec.result_path, result)
    if not spec.keep_checkpoints:
        # The result is safe on disk: the checkpoints (replay buffer included, ~1.2 GB at 100k frames) are not needed.
        shutil.rmtree(spec.checkpoint_dir, ignore_errors=True)
    return result


def load_results(out_dir: str | os.PathLike, algo: str | None = None) -> list[dict[str, Any]]:
    """
    Every finished run's result under ``out_dir`` (``<algo>/<game>/seed_<s>.json``), sorted by algo, game and seed.

    :param out_dir: the ``out_dir`` of :func:`run_atari100k`
    :param algo: only this algorithm's runs
    :return: the result dictionaries, each with its file under ``"path"``
    """
    root = Path(out_dir)
    if not root.is_dir():
        raise ValueError(f"No run directory at {root}; pass the out_dir given to run_atari100k.")
    results = []
    for path in sorted(root.glob("*/*/seed_*.json")):
        data = json.loads(path.read_text())
        if not isinstance(data, dict) or data.get("format") != RESULT_FORMAT or "score" not in data:
            continue
        if algo is not None and data.get("algo", "").lower() != algo.lower():
            continue
        data["path"] = str(path)
        results.append(data)
    return sorted(results, key=lambda r: (r["algo"], r["game"], int(r["seed"])))


def _available_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the platform has one, e.g. under a job scheduler)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}, got {value!r}.")
    return int(value)


def _make_specs(
    games: Sequence[str] | None,
    seeds: Sequence[int] | None,
    out_dir: str | os.PathLike,
    algo: str,
    hyperparams: Mapping[str, Any] | None,
    **options: Any,
) -> list[RunSpec]:
    from sb3_jedi.envs.atari import resolve_atari_game

    if games is None:
        games = ATARI100K_GAMES
    if seeds is None:
        seeds = DEFAULT_SEEDS
    if isinstance(games, str):
        games = [games]
    if isinstance(seeds, int):
        seeds = [seeds]
    if len(games) == 0 or len(seeds) == 0:
        raise ValueError("Give at least one game and one seed.")
    game_names = [resolve_atari_game(game) for game in games]
    if len(set(game_names)) != len(game_names):
        raise ValueError(f"A game is listed twice: {list(games)}.")
    seed_values = [_check_int("seed", seed, 0) for seed in seeds]
    if len(set(seed_values)) != len(seed_values):
        raise ValueError(f"A seed is listed twice: {list(seeds)}.")
    hyperparams = dict(hyperparams or {})
    for reserved in ("policy", "env", "seed", "device"):
        if reserved in hyperparams:
            raise ValueError(
                f"hyperparams must not set {reserved!r}: the runner sets it (use the {reserved} argument where there is one)."
            )
    try:
        json.dumps(hyperparams)
    except TypeError as error:
        raise ValueError(
            f"hyperparams must be JSON-serialisable (numbers, strings, lists, dicts) to be recorded with the results: {error}"
        ) from error
    # The class's own name spells the algorithm (and its results folder) the same way whatever the input's case.
    algo_key = _algorithm_class(algo).__name__
    return [
        RunSpec(algo=algo_key, game=game, seed=seed, out_dir=str(out_dir), hyperparams=hyperparams, **options)
        for game in game_names
        for seed in seed_values
    ]


def _run_in_pool(specs: list[RunSpec], workers: int, on_done: Callable[[RunSpec, Any, str | None], None]) -> None:
    context = multiprocessing.get_context("spawn")
    # "spawn": a fresh interpreter per worker (no forked torch or emulator state); each run sets its torch threads.
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {pool.submit(_run_one, spec): spec for spec in specs}
        for future in concurrent.futures.as_completed(futures):
            spec = futures[future]
            try:
                on_done(spec, future.result(), None)
            except Exception:
                on_done(spec, None, traceback.format_exc())


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as error:
        raise ImportError(
            "Running benchmarks on Ray needs the optional dependency ray: pip install 'sb3-jedi[ray]'. "
            "Without it, run on local processes (workers=N, no ray_address)."
        ) from error
    return ray


def _run_on_ray(
    specs: list[RunSpec],
    ray_address: str,
    cpus_per_run: int,
    gpus_per_run: float | None,
    device: str,
    on_done: Callable[[RunSpec, Any, str | None], None],
) -> None:
    ray = _import_ray()
    if not ray.is_initialized():
        ray.init(address=None if ray_address == RAY_LOCAL else ray_address)
    if gpus_per_run is None:
        cluster_gpus = float(ray.cluster_resources().get("GPU", 0.0))
        gpus_per_run = 1.0 if device != "cpu" and cluster_gpus > 0 else 0.0
    remote_run = ray.remote(_run_one).options(num_cpus=cpus_per_run, num_gpus=gpus_per_run, max_retries=0)
    pending = {remote_run.remote(spec): spec for spec in specs}
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        for ref in done:
            spec = pending.pop(ref)
            try:
                on_done(spec, ray.get(ref), None)
            except Exception:
                on_done(spec, None, traceback.format_exc())


def run_atari100k(
    games: Sequence[str] | None = None,
    seeds: Sequence[int] | None = DEFAULT_SEEDS,
    steps: int = 100_000,
    out_dir: str | os.PathLike = "runs/atari100k",
    workers: int = 1,
    ray_address: str | None = None,
    device: str = "auto",
    algo: str = "JEDI",
    hyperparams: Mapping[str, Any] | None = None,
    policy: str = "CnnPolicy",
    eval_episodes: int = 100,
    eval_deterministic: bool = False,
    eval_max_episode_frames: int | None = 108_000,
    eval_envs: int = 1,
    checkpoint_freq: int | None = 10_000,
    keep_checkpoints: bool = False,
    save_model: bool = True,
    threads_per_run: int | None = None,
    gpus_per_run: float | None = None,
    tf32: bool = True,
    verbose: int = 1,
) -> list[dict[str, Any]]:
    """
    Train and evaluate ``algo`` on every (game, seed) pair, writing ``<out_dir>/<algo>/<game>/seed_<seed>.json``.

    Resumable: finished runs are skipped, unfinished ones restart from their newest checkpoint. Each result holds the
    evaluation's per-episode scores, their mean (``"score"``) and HNS, ``num_timesteps``, train / evaluation / total
    wall time of the attempt that finished the run (``resumed_from_timesteps`` says whether earlier attempts
    contributed), the finished training games, the hyper-parameters (given and resolved), the device and the package
    versions.

    :param games: Atari games (``"Pong"``, ``"ALE/Pong-v5"``, ...); None: the 26 Atari100k games
    :param seeds: training seeds (None: 0 to 4); the evaluation env of seed ``s`` is seeded with ``s + 10000``
    :param steps: agent steps of training (Atari100k: 100,000, i.e. 400k frames)
    :param out_dir: root directory of the results
    :param workers: runs in parallel on this machine (a process pool with the ``spawn`` start method; 1 runs them one
        after the other in this process). Ignored on Ray, where the cluster's resources set the parallelism
    :param ray_address: run on Ray: ``"local"`` (:data:`RAY_LOCAL`) starts a local Ray instance (or joins the one the
        ``RAY_ADDRESS`` environment variable names), any other value is passed to ``ray.init(address=...)``
        (e.g. ``"auto"`` or ``"ray://head:10001"``). If Ray is already initialised, that session is used. Needs
        ``pip install 'sb3-jedi[ray]'``
    :param device: torch device of each run: ``"auto"``, ``"cpu"``, ``"cuda"``
    :param algo: algorithm name of :mod:`sb3_jedi.registry` (``"JEDI"``, ``"DIAMOND"``; case-insensitive)
    :param hyperparams: keyword arguments of the algorithm (JSON-serialisable, e.g. from a YAML file; ``policy_kwargs``
        included); None: the policy's defaults (the paper's setting for ``CnnPolicy``)
    :param policy: policy name (``"CnnPolicy"``)
    :param eval_episodes: final evaluation episodes (DIAMOND: 100)
    :param eval_deterministic: greedy evaluation; False samples actions from the policy, as DIAMOND does
    :param eval_max_episode_frames: emulator frames after which an evaluation episode is truncated (protocol: 108,000;
        lower only for quick checks)
    :param eval_envs: parallel evaluation envs
    :param checkpoint_freq: agent steps between checkpoints (None or 0: none, an interrupted run starts over)
    :param keep_checkpoints: keep a run's checkpoints once its result is written (they hold the replay buffer: large)
    :param save_model: save the final model to ``seed_<seed>/model.zip``
    :param threads_per_run: torch threads of each run (and Ray CPUs per task); None: the CPUs divided by ``workers``
        in a process pool, 1 on Ray, torch's own default when ``workers=1``
    :param gpus_per_run: fraction of a GPU each Ray task asks for (e.g. 0.25 runs four per GPU); None: 1 when
        ``device`` is not ``"cpu"`` and the cluster has GPUs, else 0. Process pools share the visible GPUs
    :param tf32: on CUDA, let matrix products use TF32 as DIAMOND's trainer does
        (:func:`sb3_jedi.precision.enable_tf32_matmul`); False keeps float32. Recorded as ``"tf32_matmul"``
    :param verbose: 1 prints a line per finished run; the algorithm itself always runs with ``verbose=0``
    :return: the results of all requested runs (finished earlier or now), sorted by game and seed
    :raises RuntimeError: after every run was tried, if some failed (their tracebacks are in the message; finished
        runs are saved, and calling again retries only the others)
    """
    steps = _check_int("steps", steps, 1)
    workers = _check_int("workers", workers, 1)
    eval_episodes = _check_int("eval_episodes", eval_episodes, 1)
    eval_envs = _check_int("eval_envs", eval_envs, 1)
    if checkpoint_freq is not None:
        checkpoint_freq = _check_int("checkpoint_freq", checkpoint_freq, 0) or None
    if threads_per_run is not None:
        threads_per_run = _check_int("threads_per_run", threads_per_run, 1)
    if gpus_per_run is not None and not 0 <= gpus_per_run:
        raise ValueError(f"gpus_per_run must be >= 0 (a fraction of a GPU per run), got {gpus_per_run!r}.")
    if ray_address is not None and (not isinstance(ray_address, str) or not ray_address):
        raise ValueError(f"ray_address must be {RAY_LOCAL!r} or a Ray address such as 'auto', got {ray_address!r}.")
    if ray_address is None and workers > 1 and threads_per_run is None:
        threads_per_run = max(1, _available_cpus() // workers)
    if ray_address is not None and threads_per_run is None:
        threads_per_run = 1

    specs = _make_specs(
        games,
        seeds,
        out_dir,
        algo,
        hyperparams,
        steps=steps,
        device=device,
        policy=policy,
        eval_episodes=eval_episodes,
        eval_deterministic=bool(eval_deterministic),
        eval_max_episode_frames=eval_max_episode_frames,
        eval_envs=eval_envs,
        checkpoint_freq=checkpoint_freq,
        keep_checkpoints=bool(keep_checkpoints),
        save_model=bool(save_model),
        torch_threads=threads_per_run,
        tf32=bool(tf32),
    )
    # Refuse to mix experiments before anything runs: a finished or started run must have the same configuration.
    pending = []
    for spec in specs:
        if spec.result_path.is_file():
            _check_same_config(spec, _config_of_result(json.loads(spec.result_path.read_text())), spec.result_path)
        else:
            config_path = spec.run_dir / "config.json"
            if config_path.is_file():
                _check_same_config(spec, json.loads(config_path.read_text()), config_path)
            pending.append(spec)
    if verbose >= 1:
        print(f"Atari100k benchmark of {specs[0].algo}: {len(specs)} runs, {len(specs) - len(pending)} already finished.")

    failures: list[str] = []
    finished = [len(specs) - len(pending)]

    def on_done(spec: RunSpec, result: Any, error: str | None) -> None:
        finished[0] += 1
        if error is not None:
            failures.append(f"{spec.game} seed {spec.seed}:\n{error}")
            if verbose >= 1:
                print(f"[{finished[0]}/{len(specs)}] {spec.game} seed {spec.seed} FAILED", file=sys.stderr)
        elif verbose >= 1:
            hns = "n/a" if result.get("hns") is None else f"{result['hns']:.3f}"
            print(
                f"[{finished[0]}/{len(specs)}] {spec.game} seed {spec.seed}: score {result['score']:.1f} (HNS {hns}), "
                f"{result['wall_time_s']:.0f} s"
            )

    if pending:
        if ray_address is not None:
            _run_on_ray(pending, ray_address, threads_per_run or 1, gpus_per_run, device, on_done)
        elif workers > 1:
            _run_in_pool(pending, workers, on_done)
        else:
            import torch as th

            # In this process: leave the caller's torch thread count as it was.
            threads = th.get_num_threads()
            try:
                for spec in pending:
                    try:
                        result = _run_one(spec)
                    except Exception:
                        on_done(spec, None, traceback.format_exc())
                    else:
                        on_done(spec, result, None)
            finally:
                th.set_num_threads(threads)
    if failures:
        raise RuntimeError(
            f"{len(failures)} of {len(specs)} runs failed; the others are saved, and calling again retries only the "
            "failed ones.\n\n" + "\n".join(failures)
        )
    return [json.loads(spec.result_path.read_text()) for spec in specs]


def _config_of_result(result: Mapping[str, Any]) -> dict[str, Any]:
    evaluation = result.get("evaluation", {})
    return {
        "algo": result.get("algo"),
        "game": result.get("game"),
        "seed": result.get("seed"),
        "steps": result.get("steps"),
        "policy": result.get("policy"),
        "hyperparams": result.get("hyperparams"),
        "evaluation": {key: evaluation.get(key) for key in ("episodes", "deterministic", "max_episode_frames", "seed")},
    }
