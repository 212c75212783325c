"""
The ``sb3-jedi`` command line: train, evaluate, watch and share agents, and run the benchmarks.

Every command has ``--help`` with examples. Heavy imports (torch, the envs, the Hub client) happen inside the commands
so that ``sb3-jedi --help`` answers at once.
"""

import argparse
import ast
import functools
import importlib
import json
import re
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import yaml
from gymnasium.error import DependencyNotInstalled

from sb3_jedi.run_info import jsonable, library_versions
from sb3_jedi.version import __version__

__all__ = ["LinearSchedule", "build_parser", "load_hyperparams", "main"]

PROGRAM = "sb3-jedi"

# Keys of an rl-zoo3 hyper-parameter section that are not arguments of the algorithm.
_RUN_KEYS = ("n_timesteps", "policy", "n_envs")
# rl-zoo3 keys that configure the env rather than the algorithm: `sb3-jedi train` reads them (_pop_env_options).
_ENV_KEYS = ("env_wrapper", "frame_stack", "normalize", "env_kwargs")
# rl-zoo3 keys this library cannot honour, and why.
_UNSUPPORTED_KEYS = {
    "vec_env_wrapper": "sb3-jedi train does not wrap the VecEnv; the zoo route (python -m sb3_jedi.zoo train) does",
    "callback": "sb3-jedi train takes no callbacks from files; the zoo route (python -m sb3_jedi.zoo train) does",
    "replay_buffer_class": "JEDI has its own episodic replay buffer; set its options with replay_buffer_kwargs",
}


class CommandError(Exception):
    """A mistake in a command's arguments or files: printed as one line, exit status 2."""


# ----------------------------------------------------------------------------------------------- hyper-parameters


class LinearSchedule:
    """rl-zoo3's ``lin_<value>``: the value decays linearly to 0 over training (shown as written in run files)."""

    def __init__(self, initial: float) -> None:
        self.initial = initial

    def __call__(self, progress_remaining: float) -> float:
        return progress_remaining * self.initial

    def __repr__(self) -> str:
        return f"lin_{self.initial:g}"


def _parse_value(key: str, value: Any) -> Any:
    """rl-zoo3 conventions: ``"lin_1e-3"`` is a linear schedule, ``"dict(a=1)"`` strings are Python literals."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("lin_"):
            try:
                return LinearSchedule(float(text[4:]))
            except ValueError as error:
                raise CommandError(f"{key}: {value!r} is not a linear schedule such as 'lin_1e-3'.") from error
        if text.startswith("dict(") or text.startswith("{") or text.startswith("["):
            return _parse_literal(key, text)
    return value


def _parse_literal(key: str, text: str) -> Any:
    """Safely evaluate ``dict(a=1, b=[2, 3])`` / ``{...}`` / ``[...]`` made of literals (no code is run)."""
    try:
        node = ast.parse(text, mode="eval").body
    except SyntaxError as error:
        raise CommandError(f"{key}: cannot parse {text!r} ({error.msg}).") from error

    def convert(item: ast.AST) -> Any:
        if isinstance(item, ast.Call) and isinstance(item.func, ast.Name) and item.func.id == "dict" and not item.args:
            return {kw.arg: convert(kw.value) for kw in item.keywords}
        if isinstance(item, ast.Call) and isinstance(item.func, ast.Name) and item.func.id in ("list", "tuple"):
            values = [convert(a) for a in item.args]
            return values[0] if len(values) == 1 else values
        try:
            return ast.literal_eval(item)
        except ValueError as error:
            raise CommandError(
                f"{key}: {text!r} may only hold literals (numbers, strings, lists, dict(...)); "
                f"{ast.unparse(item)!r} is not one. Class names such as nn.ReLU are not supported."
            ) from error

    return convert(node)


def load_hyperparams(path: str | Path, env_id: str, env_settings: bool = False) -> dict[str, Any]:
    """
    Read the hyper-parameters of ``env_id`` from an rl-zoo3-style YAML file.

    The file maps env ids to sections; the section used is the env id itself, then ``atari`` for Atari games, then
    ``default``. A section holds algorithm arguments plus ``n_timesteps``, ``policy`` and ``n_envs``; strings
    ``"lin_<value>"`` are linear schedules and ``"dict(...)"`` strings are parsed as literals (``policy_kwargs``).

    :param path: the YAML file
    :param env_id: the env the run trains on
    :param env_settings: whether the section may also hold the zoo's env keys (``env_wrapper``, ``frame_stack``,
        ``normalize``, ``env_kwargs``), as ``sb3-jedi train`` reads them; otherwise they are refused (a caller that
        builds the Atari100k env itself cannot honour them)
    :return: the section, with values converted
    """
    from sb3_jedi.envs import atari_game_or_none

    path = Path(path)
    if not path.is_file():
        hint = " (values are set with -params KEY:VALUE, as in rl-zoo3)" if ":" in path.name else ""
        raise CommandError(f"Hyper-parameter file {path} does not exist{hint}.")
    try:
        content = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise CommandError(f"{path} is not valid YAML: {error}") from error
    if not isinstance(content, dict):
        raise CommandError(
            f"{path} must map env ids to hyper-parameter sections (rl-zoo3 style), got {type(content).__name__}."
        )
    game = atari_game_or_none(env_id)
    candidates = [env_id] + ([game, "atari"] if game else []) + ["default"]
    for key in candidates:
        if key in content:
            section = content[key]
            break
    else:
        raise CommandError(f"{path} has no section for {env_id!r}: add one named {' or '.join(map(repr, candidates))}.")
    if not isinstance(section, dict):
        raise CommandError(f"Section {key!r} of {path} must be a mapping of hyper-parameters.")
    for name in section:
        if name in _UNSUPPORTED_KEYS:
            raise CommandError(f"{path} [{key}]: {name} not supported: {_UNSUPPORTED_KEYS[name]}.")
        if name in _ENV_KEYS and not env_settings:
            raise CommandError(
                f"{path} [{key}]: {name} not supported here: this command always builds the Atari100k protocol env "
                "(sb3_jedi.envs.make_atari100k_env); `sb3-jedi train` reads env_wrapper, frame_stack and env_kwargs."
            )
    return {name: _parse_value(name, value) for name, value in section.items()}


# ----------------------------------------------------------------------------------------------------- commands


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-").lower()


@dataclass
class _EnvOptions:
    """The zoo keys that shape a run's env beyond its id, as written in the file (run.json records them)."""

    #: keyword arguments of ``gymnasium.make``
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    #: ``"module.Class"``, ``{"module.Class": {keyword: value}}``, or a list of them (rl-zoo3's spellings)
    env_wrapper: Any = None
    #: frames stacked by ``VecFrameStack`` (vector observations only)
    frame_stack: int | None = None


def _parse_key_values(items: Sequence[str] | None, option: str) -> dict[str, Any]:
    """rl-zoo3's ``KEY:VALUE`` arguments: Python literals, ``lin_<value>`` schedules, ``dict(...)``, else strings."""
    values: dict[str, Any] = {}
    for item in items or ():
        key, separator, text = item.partition(":")
        key = key.strip()
        if not separator or not key:
            raise CommandError(f"{option} {item!r}: write KEY:VALUE, e.g. {option} learning_rate:1e-4 batch_size:16.")
        try:
            values[key] = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError):
            values[key] = _parse_value(key, text)
    return values


def _pop_env_options(hyperparams: dict[str, Any], env_kwargs: dict[str, Any]) -> _EnvOptions:
    """Take the zoo's env keys out of a section (what remains are the algorithm's arguments); ``env_kwargs`` win."""
    normalize = hyperparams.pop("normalize", None)
    if normalize not in (None, False):
        raise CommandError(
            f"normalize: {normalize!r} cannot be honoured: JEDI learns its world model from the raw observations and "
            "rewards (its replay buffer stores them unnormalised, its encoder learns its own scale, and predict maps "
            "VecNormalize's observations back to raw ones), so VecNormalize would change nothing the agent learns from, "
            "and its statistics would be one more file to keep beside the model (pixel observations are uint8 frames "
            "that CnnPolicy scales itself). Leave normalize out."
        )
    file_kwargs = hyperparams.pop("env_kwargs", None) or {}
    if not isinstance(file_kwargs, dict):
        raise CommandError(f"env_kwargs must map keyword arguments of gymnasium.make to values, got {file_kwargs!r}.")
    frame_stack = hyperparams.pop("frame_stack", None)
    if frame_stack is not None and (isinstance(frame_stack, bool) or not isinstance(frame_stack, int) or frame_stack < 1):
        raise CommandError(f"frame_stack must be a whole number of frames, at least 1, got {frame_stack!r}.")
    options = _EnvOptions({**file_kwargs, **env_kwargs}, hyperparams.pop("env_wrapper", None), frame_stack)
    _resolve_wrappers(options.env_wrapper)  # a misspelt class fails now, before anything is built
    return options


def _resolve_wrappers(spec: Any) -> list[tuple[str, Any, dict[str, Any]]]:
    """The ``env_wrapper`` entries as (name, class, keyword arguments), imported as rl-zoo3 imports them."""
    entries = [] if spec is None else spec if isinstance(spec, list) else [spec]
    wrappers = []
    for entry in entries:
        name, kwargs = next(iter(entry.items())) if isinstance(entry, dict) and len(entry) == 1 else (entry, {})
        kwargs = kwargs or {}
        if not isinstance(name, str) or "." not in name or not isinstance(kwargs, dict):
            raise CommandError(
                f"env_wrapper: {entry!r} is not a wrapper: write module.Class, {{module.Class: {{keyword: value}}}}, or a "
                "list of them."
            )
        module_name, _, class_name = name.rpartition(".")
        try:
            wrapper = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError) as error:
            raise CommandError(f"env_wrapper: cannot import {name} ({error}).") from error
        wrappers.append((name, wrapper, kwargs))
    return wrappers


def _apply_wrappers(make: Callable[[], Any], wrappers: list[tuple[str, Any, dict[str, Any]]]) -> Any:
    env = make()
    for _, wrapper, kwargs in wrappers:
        env = wrapper(env, **kwargs)
    return env


def _wrapping_vec_env(wrappers: list[tuple[str, Any, dict[str, Any]]]) -> Callable[..., Any] | None:
    """A ``vec_env_cls`` that puts the ``env_wrapper`` classes on each sub-env above its Monitor, where the zoo does."""
    if not wrappers:
        return None
    from stable_baselines3.common.vec_env import DummyVecEnv

    def build(env_fns: list[Callable[[], Any]], **kwargs: Any) -> Any:
        return DummyVecEnv([functools.partial(_apply_wrappers, make, wrappers) for make in env_fns], **kwargs)

    return build


# ALE settings of the Atari100k protocol, which a zoo file may spell out in env_kwargs (for ALE/<Game>-v5 ids).
_ATARI_PROTOCOL_ALE = {"frameskip": 1, "repeat_action_probability": 0.0, "full_action_space": False}
# Keyword arguments of the protocol's env wrapper (sb3_jedi.zoo.Atari100kWrapper).
_ATARI_WRAPPER_KWARGS = ("training", "frame_size", "frame_skip", "noop_max")


def _atari_protocol_kwargs(env_kwargs: dict[str, Any]) -> dict[str, Any]:
    """The ``make_atari100k_env`` arguments of a run's ``env_kwargs``: only the frame cap may differ from the protocol."""
    kwargs = {}
    for key, value in env_kwargs.items():
        if key == "max_num_frames_per_episode":
            kwargs["max_episode_frames"] = value
        elif key not in _ATARI_PROTOCOL_ALE:
            raise CommandError(
                f"env_kwargs: {key} cannot be set for an Atari game: the Atari100k protocol builds the ALE env itself "
                "(sb3_jedi.envs.make_atari100k_env); of its settings only max_num_frames_per_episode may change."
            )
        elif value != _ATARI_PROTOCOL_ALE[key]:
            raise CommandError(
                f"env_kwargs: {key}={value!r} differs from the Atari100k protocol ({key}={_ATARI_PROTOCOL_ALE[key]!r}), "
                "which Atari games are always built with."
            )
    return kwargs


def _make_atari_run_env(
    game: str, n_envs: int, seed: int, training: bool, options: _EnvOptions, monitor_dir: str | None
) -> Any:
    """The Atari100k protocol env; ``sb3_jedi.zoo.Atari100kWrapper`` first in ``env_wrapper`` sets its options."""
    from sb3_jedi.envs import make_atari100k_env
    from sb3_jedi.zoo import Atari100kWrapper

    protocol = _atari_protocol_kwargs(options.env_kwargs)
    wrappers = _resolve_wrappers(options.env_wrapper)
    if wrappers and wrappers[0][1] is Atari100kWrapper:
        wrapper_kwargs = dict(wrappers.pop(0)[2])
        unknown = sorted(set(wrapper_kwargs) - set(_ATARI_WRAPPER_KWARGS))
        if unknown:
            raise CommandError(f"env_wrapper: Atari100kWrapper takes {', '.join(_ATARI_WRAPPER_KWARGS)}, not {unknown}.")
        training = training and wrapper_kwargs.pop("training", True)
        protocol.update(wrapper_kwargs)
    for name, wrapper, _ in wrappers:
        if wrapper is Atari100kWrapper:
            raise CommandError("env_wrapper: sb3_jedi.zoo.Atari100kWrapper must come first: it wraps the ALE env itself.")
        if getattr(wrapper, "__module__", "") == "stable_baselines3.common.atari_wrappers":
            raise CommandError(
                f"env_wrapper: {name} is SB3's Atari preprocessing (84x84 grey frames); Atari games here follow the "
                "Atari100k protocol (64x64 RGB) that JEDI is made for: use sb3_jedi.zoo.Atari100kWrapper or leave "
                "env_wrapper out."
            )
    return make_atari100k_env(
        game, n_envs=n_envs, seed=seed, training=training, monitor_dir=monitor_dir,
        vec_env_cls=_wrapping_vec_env(wrappers), **protocol,
    )  # fmt: skip


def _make_wrapped_env(env_id: str, n_envs: int, seed: int, options: _EnvOptions, monitor_dir: str | None) -> Any:
    """A registered gymnasium env with the run's ``env_wrapper`` classes (``make_env`` takes none)."""
    import gymnasium as gym
    from stable_baselines3.common.env_util import make_vec_env

    from sb3_jedi.envs import make_env

    if env_id not in gym.registry:
        make_env(env_id)  # raises its explanation of an unknown id
    return make_vec_env(
        env_id, n_envs=n_envs, seed=seed, monitor_dir=monitor_dir,
        env_kwargs={"render_mode": "rgb_array", **options.env_kwargs},
        # make_vec_env calls vec_env_cls(env_fns, **kwargs): a factory works, not only the two classes its signature names.
        vec_env_cls=_wrapping_vec_env(_resolve_wrappers(options.env_wrapper)),  # type: ignore[arg-type]
    )  # fmt: skip


def _stack_frames(env: Any, frame_stack: int | None) -> Any:
    """``VecFrameStack`` for the zoo's ``frame_stack``, which only vector observations can take."""
    if frame_stack is None or frame_stack == 1:
        return env
    if len(env.observation_space.shape or ()) == 3:
        env.close()
        raise CommandError(
            f"frame_stack: {frame_stack} cannot be honoured for image observations: JEDI's world model already conditions "
            "on its last 4 frames and its actor-critic is recurrent, and CnnPolicy takes single frames. Leave frame_stack out."
        )
    from stable_baselines3.common.vec_env import VecFrameStack

    return VecFrameStack(env, frame_stack)


def _make_run_env(
    env_id: str,
    pixels: int | None,
    n_envs: int,
    seed: int,
    training: bool,
    options: _EnvOptions | None = None,
    monitor_dir: Path | None = None,
) -> Any:
    """
    The env of a run: ``make_pixel_env`` when the run learns from rendered frames (``--pixels``), the Atari100k protocol
    for Atari games, else ``make_env``; with the zoo keys of ``options`` and Monitor CSV files in ``monitor_dir``.
    """
    from sb3_jedi.envs import atari_game_or_none, make_env, make_pixel_env

    options = options or _EnvOptions()
    monitor = None if monitor_dir is None else str(monitor_dir)
    game = None if pixels is not None else atari_game_or_none(env_id)
    if game is not None:
        env = _make_atari_run_env(game, n_envs, seed, training, options, monitor)
    elif pixels is not None:
        env = make_pixel_env(
            env_id, size=pixels, n_envs=n_envs, seed=seed, monitor_dir=monitor, env_kwargs=options.env_kwargs,
            vec_env_cls=_wrapping_vec_env(_resolve_wrappers(options.env_wrapper)),
        )  # fmt: skip
    elif options.env_wrapper:
        env = _make_wrapped_env(env_id, n_envs, seed, options, monitor)
    else:
        env = make_env(env_id, n_envs=n_envs, seed=seed, training=training, monitor_dir=monitor, env_kwargs=options.env_kwargs)
    return _stack_frames(env, options.frame_stack)


def _run_dir(args: argparse.Namespace) -> Path:
    """``--out``; or rl-zoo3's layout ``LOG_FOLDER/<algo>/<env>_<n>`` (``-f``), which its plotting scripts read."""
    if args.out and args.log_folder:
        raise CommandError("--out and -f/--log-folder both name the run directory: give one of them.")
    if args.out:
        return Path(args.out)
    if not args.log_folder:
        return Path("runs") / f"{args.algo.lower()}_{_slug(args.env)}_seed{args.seed}"
    folder = Path(args.log_folder) / args.algo.lower()
    name = args.env.replace("/", "-")
    runs = [re.fullmatch(rf"{re.escape(name)}_(\d+)", p.name) for p in folder.iterdir()] if folder.is_dir() else []
    latest = max((int(match.group(1)) for match in runs if match), default=0)
    # As the zoo, a new run takes the next number; --resume continues the newest.
    return folder / f"{name}_{latest if args.resume and latest else latest + 1}"


def _set_aside_monitor_logs(out: Path) -> None:
    """
    Monitor starts its CSV files anew: a resumed run first renames the previous ones (``0.monitor.csv`` to
    ``0.part1.monitor.csv``), which SB3's ``load_results`` still reads with the new ones, in time order.
    """
    for path in sorted(out.glob("*.monitor.csv")):
        if re.fullmatch(r"\d+\.monitor\.csv", path.name):
            rank, part = path.name.split(".")[0], 1
            while (out / f"{rank}.part{part}.monitor.csv").exists():
                part += 1
            path.rename(out / f"{rank}.part{part}.monitor.csv")


def _eval_callback(args: argparse.Namespace, out: Path, options: _EnvOptions, model: Any, resumed_at: int | None) -> Any:
    """SB3's ``EvalCallback`` as rl-zoo3 sets it up: ``evaluations.npz`` and ``best_model.zip`` in the run directory."""
    from stable_baselines3.common.callbacks import EvalCallback
    from stable_baselines3.common.vec_env import VecTransposeImage, is_vecenv_wrapped

    from sb3_jedi.envs import atari_game_or_none

    eval_env = _make_run_env(args.env, args.pixels, n_envs=1, seed=args.seed, training=False, options=options)
    if is_vecenv_wrapped(model.get_env(), VecTransposeImage):
        # As SB3 wrapped the training env (channels-last frames): EvalCallback wants envs of the same type.
        eval_env = VecTransposeImage(eval_env)
    n_envs = model.n_envs
    callback = EvalCallback(
        eval_env, n_eval_episodes=args.eval_episodes, eval_freq=max(args.eval_freq // n_envs, 1), log_path=str(out),
        best_model_save_path=str(out), verbose=args.verbose,
        # As `sb3-jedi evaluate`: Atari games sample actions (DIAMOND's protocol), other envs act greedily.
        deterministic=atari_game_or_none(args.env) is None,
    )  # fmt: skip
    if resumed_at is not None:
        _continue_evaluations(callback, out / "evaluations.npz", resumed_at, n_envs)
    return callback


def _continue_evaluations(callback: Any, path: Path, num_timesteps: int, n_envs: int) -> None:
    """
    A resumed run keeps the evaluations made up to its checkpoint (``EvalCallback`` rewrites the whole file) and
    evaluates at the steps an uninterrupted run would.
    """
    import numpy as np

    callback.n_calls = num_timesteps // n_envs
    if not path.is_file():
        return
    with np.load(path) as saved:
        keep = saved["timesteps"] <= num_timesteps
        callback.evaluations_timesteps = saved["timesteps"][keep].tolist()
        callback.evaluations_results = saved["results"][keep].tolist()
        callback.evaluations_length = saved["ep_lengths"][keep].tolist()
    if callback.evaluations_results:
        callback.best_mean_reward = max(float(np.mean(results)) for results in callback.evaluations_results)


def cmd_train(args: argparse.Namespace) -> int:
    from sb3_jedi.checkpoints import CheckpointCallback, latest_checkpoint, load_checkpoint
    from sb3_jedi.precision import enable_tf32_matmul, tf32_matmul_enabled
    from sb3_jedi.presets import PRESET_POLICIES, with_preset
    from sb3_jedi.registry import get_algorithm

    if args.threads is not None:
        if args.threads < 1:
            raise CommandError(f"--threads must be at least 1, got {args.threads}.")
        import torch as th

        th.set_num_threads(args.threads)
    algorithm = get_algorithm(args.algo)
    hyperparams = load_hyperparams(args.hyperparams, args.env, env_settings=True) if args.hyperparams else {}
    # As in the zoo, -params values override the file's.
    hyperparams.update(_parse_key_values(args.params, "-params"))
    # The run's own keys and the env's leave the section; what remains are the algorithm's arguments. Command-line
    # values win.
    n_timesteps, policy, n_envs = (hyperparams.pop(key, None) for key in _RUN_KEYS)
    env_options = _pop_env_options(hyperparams, _parse_key_values(args.env_kwargs, "--env-kwargs"))
    # The file's values override the preset's (each key as a whole, policy_kwargs included).
    hyperparams = with_preset(args.preset or None, hyperparams)
    steps = args.steps or int(float(n_timesteps or 100_000))
    n_envs = args.n_envs or int(n_envs or 1)
    policy = args.policy or policy

    out = _run_dir(args)
    checkpoint_dir = out / "checkpoints"
    latest = latest_checkpoint(checkpoint_dir)
    if latest is not None and not args.resume:
        raise CommandError(f"{out} already holds checkpoints of a run: pass --resume to continue it, or choose another --out.")
    resuming = args.resume and latest is not None
    if resuming:
        _set_aside_monitor_logs(out)
    out_existed = out.exists()
    env = _make_run_env(
        args.env, args.pixels, n_envs=n_envs, seed=args.seed, training=True, options=env_options, monitor_dir=out
    )
    if policy is None:
        policy = "CnnPolicy" if len(env.observation_space.shape or ()) == 3 else "MlpPolicy"
    if args.preset and policy != PRESET_POLICIES[args.preset]:
        message = f"The {args.preset!r} preset is for {PRESET_POLICIES[args.preset]}, but this run uses {policy}"
        if policy == "MlpPolicy" and args.pixels is None:
            message += f" ({args.env} gives vector observations): add --pixels 64 to learn from its rendered frames"
        env.close()
        if not out_existed:
            # The env's Monitor files made the run folder: a refused run leaves nothing behind.
            shutil.rmtree(out, ignore_errors=True)
        raise CommandError(message + ".")

    if resuming:
        assert latest is not None  # resuming means there is a checkpoint
        model = load_checkpoint(latest, env=env, device=args.device)
        print(f"Resuming {latest} at {model.num_timesteps} steps.")
        if args.tensorboard_log is not None:
            model.tensorboard_log = args.tensorboard_log
    else:
        if args.resume:
            print(f"No checkpoint in {checkpoint_dir} yet: starting a new run.")
        try:
            model = algorithm(
                policy, env, seed=args.seed, device=args.device, tensorboard_log=args.tensorboard_log,
                verbose=args.verbose, **hyperparams,
            )  # fmt: skip
        except TypeError as error:
            raise CommandError(f"Bad hyper-parameter for {algorithm.__name__}: {error}") from error
    if not args.no_tf32:
        # DIAMOND's trainer multiplies in TF32 on CUDA (src/trainer.py); no effect on other devices.
        enable_tf32_matmul(model.device)
    out.mkdir(parents=True, exist_ok=True)
    run_info = {
        "env_id": args.env, "algo": algorithm.__name__, "policy": policy if isinstance(policy, str) else repr(policy),
        "seed": args.seed, "n_envs": n_envs, "pixels": args.pixels, "preset": args.preset, "total_timesteps": steps,
        "hyperparams": jsonable(hyperparams), "resolved_hyperparams": jsonable(model.hyperparameters()),
        "env_kwargs": jsonable(env_options.env_kwargs),
        "env_wrapper": jsonable(env_options.env_wrapper), "frame_stack": env_options.frame_stack,
        "tf32_matmul": tf32_matmul_enabled(model.device), "versions": library_versions(),
    }  # fmt: skip
    (out / "run.json").write_text(json.dumps(run_info, indent=2))

    callbacks = []
    if args.checkpoint_freq > 0:
        callbacks.append(CheckpointCallback(checkpoint_dir, args.checkpoint_freq, keep_last=args.keep_checkpoints))
    if args.eval_freq > 0:
        callbacks.append(_eval_callback(args, out, env_options, model, model.num_timesteps if resuming else None))
    remaining = steps - model.num_timesteps
    start = time.perf_counter()
    if remaining > 0:
        model.learn(
            remaining,
            callback=callbacks,
            log_interval=args.log_interval,
            reset_num_timesteps=not resuming,
            progress_bar=not args.no_progress_bar,
        )
    model.save(out / "model.zip")
    episodes = [info["r"] for info in model.ep_info_buffer]
    summary = "no finished episode"
    if episodes:
        summary = f"mean episode return {sum(episodes) / len(episodes):.2f} over the last {len(episodes)}"
    print(f"Trained {model.num_timesteps} steps on {args.env} in {time.perf_counter() - start:.0f} s: {summary}.")
    print(f"Saved {out / 'model.zip'}")
    return 0


def _run_record(model_path: Path) -> dict[str, Any]:
    run_file = model_path.parent / "run.json"
    return json.loads(run_file.read_text()) if run_file.is_file() else {}


def _env_of_model(model_path: Path, env_id: str | None) -> str:
    if env_id:
        return env_id
    record = _run_record(model_path)
    if "env_id" in record:
        return record["env_id"]
    raise CommandError(f"Which env? Pass --env (no run.json next to {model_path} records it).")


def _env_options_of_model(model_path: Path) -> _EnvOptions:
    """The env keys ``train`` recorded in run.json beside the model (env_kwargs, env_wrapper, frame_stack), if any."""
    record = _run_record(model_path)
    return _EnvOptions(record.get("env_kwargs") or {}, record.get("env_wrapper"), record.get("frame_stack"))


def _model_env(model_path: Path, env_id: str, pixels: int | None, seed: int, training: bool) -> Any:
    """One env for a saved model, built as its run's was (the env keys its run.json records)."""
    return _make_run_env(env_id, pixels, n_envs=1, seed=seed, training=training, options=_env_options_of_model(model_path))


def _pixels_of_model(model_path: Path, pixels: int | None) -> int | None:
    """The frame size of a model that learnt from rendered frames: ``--pixels``, else its run.json's, else None."""
    return pixels if pixels is not None else _run_record(model_path).get("pixels")


def _load(model_path: str, env: Any, device: str) -> Any:
    from sb3_jedi.registry import load_model

    return load_model(model_path, env=env, device=device)


def cmd_evaluate(args: argparse.Namespace) -> int:
    import numpy as np
    from stable_baselines3.common.evaluation import evaluate_policy

    from sb3_jedi.envs import atari_game_or_none
    from sb3_jedi.hub import default_eval_episodes

    env_id = _env_of_model(Path(args.model), args.env)
    game = atari_game_or_none(env_id)
    # Atari games follow DIAMOND's final evaluation (actions sampled from the policy); other envs act greedily.
    deterministic = args.greedy or (game is None and not args.stochastic)
    episodes = default_eval_episodes(game) if args.episodes is None else args.episodes
    if episodes < 1:
        raise CommandError(f"--episodes must be at least 1, got {episodes}.")
    result: dict[str, Any] = {"env_id": env_id, "deterministic": deterministic}
    if game is not None:
        from sb3_jedi.evaluation import evaluate_atari100k

        model = _load(args.model, None, args.device)
        evaluation = evaluate_atari100k(model, game, n_episodes=episodes, seed=args.seed, deterministic=deterministic)
        returns, lengths = np.asarray(evaluation.episode_scores, dtype=float), evaluation.episode_lengths
        result["human_normalized_score"] = evaluation.hns
    else:
        env = _model_env(Path(args.model), env_id, _pixels_of_model(Path(args.model), args.pixels), args.seed, training=False)
        model = _load(args.model, env, args.device)
        # Per-episode lists with return_episode_rewards=True (SB3 types both of its return forms as one).
        episode_returns, lengths = cast(
            tuple[list[float], list[int]],
            evaluate_policy(model, env, n_eval_episodes=episodes, deterministic=deterministic, return_episode_rewards=True),
        )
        returns = np.asarray(episode_returns, dtype=float)
    result.update(
        episodes=len(returns),
        mean_return=float(returns.mean()),
        std_return=float(returns.std()),
        mean_length=float(np.mean(lengths)),
        returns=returns.tolist(),
    )
    line = f"{env_id}: mean return {result['mean_return']:.2f} +/- {result['std_return']:.2f} over {len(returns)} episodes"
    if result.get("human_normalized_score") is not None:
        line += f", human-normalised score {result['human_normalized_score']:.3f}"
    print(line + (" (greedy)" if deterministic else " (sampled actions)"))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


def cmd_enjoy(args: argparse.Namespace) -> int:
    import numpy as np

    from sb3_jedi.envs import atari_game_or_none, make_atari100k_single_env, make_env

    env_id = _env_of_model(Path(args.model), args.env)
    pixels = _pixels_of_model(Path(args.model), args.pixels)
    if args.record:
        from sb3_jedi.video import record_video

        env = _model_env(Path(args.model), env_id, pixels, args.seed, training=False)
        model = _load(args.model, env, args.device)
        frames = record_video(model, env, args.record, n_steps=args.steps, fps=args.fps, deterministic=not args.stochastic)
        print(f"Recorded {frames} frames to {args.record}")
        return 0

    from stable_baselines3.common.vec_env import DummyVecEnv

    if pixels is not None:
        raise CommandError("A model that learnt from rendered frames plays off-screen: record it with --record replay.mp4.")
    game = atari_game_or_none(env_id)
    if game is not None:
        env = DummyVecEnv([lambda: make_atari100k_single_env(game, seed=args.seed, training=False, render_mode="human")])
    else:
        env = make_env(env_id, n_envs=1, seed=args.seed, training=False, render_mode="human")
    model = _load(args.model, env, args.device)
    obs, state, episode_start = env.reset(), None, np.ones(1, dtype=bool)
    try:
        for _ in range(args.steps):
            action, state = model.predict(obs, state=state, episode_start=episode_start, deterministic=not args.stochastic)
            obs, _, episode_start, _ = env.step(action)
    except Exception as error:
        if "display" in str(error).lower() or "SDL" in str(error) or "pygame" in str(error).lower():
            raise CommandError(f"Cannot open a window ({error}): record a video instead with --record video.mp4.") from error
        raise
    finally:
        env.close()
    return 0


def cmd_dream(args: argparse.Namespace) -> int:
    from sb3_jedi.dream import NoDisplayError, dream, has_display

    if (args.record is None or args.human) and not has_display():
        what = "--human needs a window and a keyboard" if args.human else "Without --record the dream is shown in a window"
        raise CommandError(f"{what}, but there is no display (DISPLAY is not set): record it instead with --record dream.mp4.")
    env_id = _env_of_model(Path(args.model), args.env)
    model = _load(args.model, None, args.device)
    # The env gives the real frames a dream starts from (a loaded model has an empty replay buffer). Atari games use
    # the training protocol, the data the world model learnt from.
    env = _model_env(Path(args.model), env_id, _pixels_of_model(Path(args.model), args.pixels), args.seed, training=True)
    policy = "human" if args.human else "random" if args.random else "agent"
    try:
        result = dream(
            model, args.steps, start=env, policy=policy, record=args.record, fps=args.fps, seed=args.seed,
            display=args.record is None,
        )  # fmt: skip
    except NoDisplayError as error:
        raise CommandError(str(error)) from error
    finally:
        env.close()
    restarts = int(result.starts.sum()) - 1
    line = (
        f"Dreamt {len(result)} steps of {env_id} ({policy} actions): predicted reward sum {result.rewards.sum():+g}, "
        f"{int(result.ends.sum())} predicted episode ends ({restarts} restarts from real frames)"
    )
    print(line + (f"; wrote {args.record}" if args.record else ""))
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    from sb3_jedi.hub import default_repo_id, push_to_hub

    if args.repo_id is None and args.orga is None:
        raise CommandError(
            "Give the Hub repo with --repo-id USER/NAME, or --orga USER to name it as rl-zoo3 does: USER/<algo>-<env>, "
            "e.g. USER/jedi-ALE-Pong-v5."
        )
    env_id = _env_of_model(Path(args.model), args.env)
    pixels = _pixels_of_model(Path(args.model), args.pixels)
    model = _load(args.model, None, args.device)
    if args.repo_id is None:
        try:
            args.repo_id = default_repo_id(args.orga, type(model).__name__, env_id)
        except ValueError as error:
            raise CommandError(str(error)) from error
    # The training run's evaluations and Monitor logs go into the repo, as rl-zoo3 packs them: by default those of the
    # run directory the model was saved in (run.json beside it).
    log_dir = args.log_dir
    if log_dir is None and (Path(args.model).parent / "run.json").is_file():
        log_dir = Path(args.model).parent
    if log_dir is not None and not Path(log_dir).is_dir():
        raise CommandError(f"--log-dir {log_dir} is not a directory.")
    # A model that learnt from rendered frames is evaluated and recorded on the same frames.
    eval_env = None if pixels is None else _make_run_env(env_id, pixels, n_envs=1, seed=0, training=False)
    result = push_to_hub(
        model, args.repo_id, env_id, eval_env=eval_env, n_eval_episodes=args.episodes, video_length=args.video_length,
        token=args.token, private=args.private, commit_message=args.message, log_dir=log_dir,
    )  # fmt: skip
    print(f"Pushed to {args.repo_id}: {result}")
    return 0


def cmd_pull(args: argparse.Namespace) -> int:
    from huggingface_hub import snapshot_download

    from sb3_jedi.hub import ZOO_METRICS_FILE

    out = Path(args.out or Path("hub") / args.repo_id.replace("/", "--"))
    path = snapshot_download(repo_id=args.repo_id, revision=args.revision, local_dir=out)
    # rl-zoo3's metrics archive is a zip too, never a model.
    zips = sorted(zip_path for zip_path in Path(path).glob("*.zip") if zip_path.name != ZOO_METRICS_FILE)
    print(f"Downloaded {args.repo_id} to {path}" + (f"; model: {zips[0]}" if len(zips) == 1 else ""))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from sb3_jedi.benchmarks.world_model import format_markdown_table, run_world_model_benchmark

    result = run_world_model_benchmark(
        device=args.device, batch_size=args.batch_size, quick=args.quick, repeats=args.repeats, warmup=args.warmup,
        json_path=args.json, threads=args.threads, progress=lambda line: print(line, file=sys.stderr, flush=True),
    )  # fmt: skip
    print(format_markdown_table(result))
    if args.json:
        print(f"Wrote {args.json}")
    return 0


def cmd_benchmark(args: argparse.Namespace) -> int:
    from sb3_jedi.evaluation.runner import run_atari100k

    hyperparams = None
    if args.hyperparams:
        hyperparams = load_hyperparams(args.hyperparams, "atari")
        for key in _RUN_KEYS:
            hyperparams.pop(key, None)
    results = run_atari100k(
        games=args.games, seeds=args.seeds, steps=args.steps, out_dir=args.out, workers=args.workers,
        ray_address=args.ray, device=args.device, algo=args.algo, hyperparams=hyperparams,
        eval_episodes=args.eval_episodes, eval_deterministic=args.eval_deterministic,
        eval_max_episode_frames=args.eval_max_episode_frames or None, checkpoint_freq=args.checkpoint_freq,
        threads_per_run=args.threads_per_run, gpus_per_run=args.gpus_per_run, tf32=not args.no_tf32,
    )  # fmt: skip
    print(f"{len(results)} runs finished in {args.out}; summarise them with `{PROGRAM} report {args.out}`.")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from sb3_jedi.evaluation.report import write_report

    paths = write_report(args.run_dir, out_dir=args.out, compare=tuple(args.compare))
    for path in paths.values():
        print(f"Wrote {path}")
    return 0


# ------------------------------------------------------------------------------------------------------- parser


def _examples(*lines: str) -> str:
    return "examples:\n" + "\n".join(f"  {PROGRAM} {line}" for line in lines)


_PIXELS_OPTION: dict[str, Any] = {"type": int, "default": None, "metavar": "SIZE"}
_PIXELS_HELP = (
    "learn from the env's rendered frames resized to SIZExSIZE RGB (e.g. 64), not from its observations: classic-control "
    "envs for CnnPolicy (sb3_jedi.envs.make_pixel_env)"
)
_PIXELS_OF_MODEL_HELP = "the model learnt from rendered frames of this size (default: as run.json records)"
_NO_TF32_HELP = (
    "on CUDA, multiply in float32; by default matrix products use TF32, as DIAMOND's trainer sets (sb3_jedi.precision)"
)
_EPISODES_HELP = "{what} (default: 100 on Atari games, DIAMOND's final evaluation; 10 elsewhere)"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``sb3-jedi`` (exposed for documentation and tests)."""
    from sb3_jedi.presets import PRESETS

    parser = argparse.ArgumentParser(
        prog=PROGRAM,
        description="JEDI, a latent-diffusion world-model agent for Stable-Baselines3: train, evaluate, share, benchmark.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_examples("train Pong --steps 100000", "evaluate runs/jedi_pong_seed0/model.zip", "<command> --help"),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="<command>", required=True)

    def command(name: str, help_text: str, examples: Sequence[str], handler: Callable[[argparse.Namespace], int]):
        sub = commands.add_parser(
            name, help=help_text, description=help_text, epilog=_examples(*examples),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )  # fmt: skip
        sub.set_defaults(handler=handler)
        return sub

    train = command(
        "train",
        "Train an agent on an Atari game (Atari100k protocol) or any registered gymnasium env.",
        [
            "train Pong --steps 100000 --tensorboard-log runs/tb",
            "train CartPole-v1 --steps 30000 --seed 1",
            "train Breakout --hyperparams hyperparams.yml --checkpoint-freq 10000",
            "train Breakout --out runs/breakout --checkpoint-freq 10000 --resume   # continue an interrupted run",
            "train Pong --algo DIAMOND --steps 100000    # the pixel-diffusion baseline",
            "train CartPole-v1 --pixels 64 --preset cpu --threads 1 --steps 50000   # CartPole from frames, on a CPU",
            "train CartPole-v1 -n 30000 -params gamma:0.98 -f logs --eval-freq 5000   # rl-zoo3 spellings and layout",
        ],
        cmd_train,
    )
    train.add_argument("env", help="Atari game (Pong, ALE/Pong-v5, ...) or a gymnasium env id (CartPole-v1)")
    train.add_argument("--algo", default="JEDI", help="JEDI (default) or DIAMOND")
    train.add_argument("--policy", default=None, help="CnnPolicy or MlpPolicy (default: from the observation space)")
    train.add_argument(
        "--steps", "-n", "--n-timesteps", type=int, default=None, help="total env steps (default: n_timesteps, else 100000)"
    )
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--n-envs", type=int, default=None, help="parallel envs (default 1)")
    train.add_argument("--device", default="auto", help="cpu, cuda or auto")
    train.add_argument("--no-tf32", action="store_true", help=_NO_TF32_HELP)
    train.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's); 1 on a CPU shared with other work"
    )
    train.add_argument(
        "--hyperparams", "-conf", "--conf-file", default=None, metavar="FILE",
        help="rl-zoo3-style YAML file of hyper-parameters (e.g. the package's sb3_jedi/hyperparams/jedi.yml)",
    )  # fmt: skip
    train.add_argument(
        "-params", "--params", nargs="+", default=None, metavar="KEY:VALUE",
        help="hyper-parameters overriding the file's, as rl-zoo3's -params: learning_rate:1e-4 'policy_kwargs:dict(...)'",
    )  # fmt: skip
    train.add_argument(
        "--env-kwargs", nargs="+", default=None, metavar="KEY:VALUE",
        help="keyword arguments of gymnasium.make, overriding the file's env_kwargs (as rl-zoo3's --env-kwargs)",
    )  # fmt: skip
    train.add_argument(
        "--preset", default=None, choices=sorted(PRESETS),
        help="named hyper-parameters (sb3_jedi.presets): 'cpu' sizes CnnPolicy for a CPU; --hyperparams values override it",
    )  # fmt: skip
    train.add_argument("--pixels", **_PIXELS_OPTION, help=_PIXELS_HELP)
    train.add_argument("--tensorboard-log", "-tb", default=None, help="TensorBoard log directory")
    train.add_argument("--out", default=None, help="run directory (default runs/<algo>_<env>_seed<seed>)")
    train.add_argument(
        "-f", "--log-folder", default=None,
        help="rl-zoo3's layout instead of --out: the run directory is LOG_FOLDER/<algo>/<env>_<n>, n counting up "
        "(--resume: the newest)",
    )  # fmt: skip
    train.add_argument(
        "--checkpoint-freq", "--save-freq", type=int, default=0,
        help="save a resumable checkpoint every N steps (0 or less: never)",
    )  # fmt: skip
    train.add_argument(
        "--eval-freq", type=int, default=0,
        help="evaluate every N steps, as rl-zoo3: evaluations.npz and best_model.zip in the run directory (0: never)",
    )  # fmt: skip
    train.add_argument("--eval-episodes", type=int, default=5, help="episodes per evaluation (default 5)")
    train.add_argument("--keep-checkpoints", type=int, default=2, help="checkpoints kept (default 2)")
    train.add_argument(
        "--resume", action="store_true", help="continue from the newest checkpoint of --out (or of -f's newest run)"
    )
    train.add_argument("--log-interval", type=int, default=1, help="episodes between console logs")
    train.add_argument("--verbose", type=int, default=1)
    train.add_argument("--no-progress-bar", action="store_true")

    evaluate = command(
        "evaluate",
        "Evaluate a saved model. Atari games: DIAMOND's final evaluation (full games, true score, sampled actions) and the "
        "human-normalised score.",
        [
            "evaluate runs/jedi_pong_seed0/model.zip --episodes 100",
            "evaluate model.zip --env Pong --greedy",
            "evaluate model.zip --env CartPole-v1 --json result.json",
        ],
        cmd_evaluate,
    )
    evaluate.add_argument("model", help="model zip")
    evaluate.add_argument("--pixels", **_PIXELS_OPTION, help=_PIXELS_OF_MODEL_HELP)
    evaluate.add_argument("--env", default=None, help="env id (default: from run.json beside the model)")
    evaluate.add_argument("--episodes", type=int, default=None, help=_EPISODES_HELP.format(what="evaluation episodes"))
    mode = evaluate.add_mutually_exclusive_group()
    mode.add_argument("--greedy", action="store_true", help="most likely actions (default for non-Atari envs)")
    mode.add_argument(
        "--stochastic", action="store_true", help="actions sampled from the policy (default for Atari: DIAMOND's protocol)"
    )
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.add_argument("--device", default="auto")
    evaluate.add_argument("--json", default=None, help="also write the result to this JSON file")

    enjoy = command(
        "enjoy",
        "Watch a saved model play, in a window or recorded to a video.",
        ["enjoy runs/jedi_pong_seed0/model.zip", "enjoy model.zip --env Pong --record pong.mp4 --steps 2000"],
        cmd_enjoy,
    )
    enjoy.add_argument("model", help="model zip")
    enjoy.add_argument("--pixels", **_PIXELS_OPTION, help=_PIXELS_OF_MODEL_HELP)
    enjoy.add_argument("--env", default=None, help="env id (default: from run.json beside the model)")
    enjoy.add_argument("--record", default=None, metavar="VIDEO.mp4", help="write an MP4 video instead of opening a window")
    enjoy.add_argument("--steps", type=int, default=1000)
    enjoy.add_argument("--fps", type=int, default=30)
    enjoy.add_argument("--stochastic", action="store_true")
    enjoy.add_argument("--seed", type=int, default=0)
    enjoy.add_argument("--device", default="auto")

    dream = command(
        "dream",
        "Let the agent (or random actions, or you) act inside the world model, from real starting frames, and watch or "
        "record it: frames decoded from imagined states, with the predicted reward and episode end. At a predicted end "
        "the dream restarts from new real frames.",
        [
            "dream runs/jedi_pong_seed0/model.zip --record dream.mp4 --steps 500",
            "dream model.zip --env Pong --random --record random-dream.mp4 --seed 1",
            "dream model.zip --env Breakout --human        # play in the world model (needs pygame and a display)",
        ],
        cmd_dream,
    )
    dream.add_argument("model", help="model zip (JEDI or DIAMOND)")
    dream.add_argument("--pixels", **_PIXELS_OPTION, help=_PIXELS_OF_MODEL_HELP)
    dream.add_argument("--env", default=None, help="env id whose reset frames start the dream (default: from run.json)")
    dream.add_argument("--steps", type=int, default=1000, help="dream steps (default 1000)")
    dream.add_argument(
        "--record", default=None, metavar="VIDEO.mp4", help="write an H.264 MP4 video instead of opening a window"
    )
    who = dream.add_mutually_exclusive_group()
    who.add_argument("--human", action="store_true", help="you act, with the arrow keys and space (pygame window)")
    who.add_argument("--random", action="store_true", help="uniformly random actions instead of the agent's")
    dream.add_argument("--fps", type=int, default=15)
    dream.add_argument("--seed", type=int, default=0)
    dream.add_argument("--device", default="auto")

    push = command(
        "push",
        "Evaluate a model, record a replay and push both with a model card to a Hugging Face Hub model repo.",
        [
            "push runs/jedi_pong_seed0/model.zip --orga you --env Pong   # to you/jedi-ALE-Pong-v5",
            "push runs/jedi_pong_seed0/model.zip --repo-id you/my-pong-agent --env Pong",
        ],
        cmd_push,
    )
    push.add_argument("model", help="model zip")
    push.add_argument("--repo-id", default=None, help="Hub repo, e.g. you/my-pong-agent (default: named from --orga)")
    push.add_argument(
        "--orga", default=None, help="Hub user or organisation: the repo is ORGA/<algo>-<env>, as rl-zoo3 names it"
    )
    push.add_argument("--pixels", **_PIXELS_OPTION, help=_PIXELS_OF_MODEL_HELP)
    push.add_argument("--env", default=None, help="env id (default: from run.json beside the model)")
    push.add_argument(
        "--episodes", type=int, default=None, help=_EPISODES_HELP.format(what="evaluation episodes for the model card")
    )
    push.add_argument("--video-length", type=int, default=1000, help="steps of the replay video")
    push.add_argument("--token", default=None, help="Hub token (default: the logged-in one)")
    push.add_argument(
        "--log-dir",
        default=None,
        help="training run folder whose evaluations.npz and Monitor logs go into the repo "
        "(default: the model's folder when run.json is there)",
    )
    push.add_argument("--private", action="store_true")
    push.add_argument("--message", default="Upload sb3-jedi agent", help="commit message")
    push.add_argument("--device", default="auto")

    pull = command(
        "pull",
        "Download a model repo from the Hugging Face Hub (nothing is unpickled).",
        ["pull you/jedi-ALE-Pong-v5 --out models/pong", "evaluate models/pong/jedi-ALE-Pong-v5.zip --env Pong"],
        cmd_pull,
    )
    pull.add_argument("repo_id", help="Hub repo, e.g. you/jedi-ALE-Pong-v5")
    pull.add_argument("--revision", default=None)
    pull.add_argument("--out", default=None, help="directory (default hub/<owner>--<name>)")

    bench = command(
        "bench",
        "Efficiency benchmarks. 'world-model': the latent (JEDI) against the pixel (DIAMOND) world model.",
        ["bench world-model --device cuda --json wm.json", "bench world-model --quick"],
        cmd_bench,
    )
    bench.add_argument("what", choices=["world-model"])
    bench.add_argument("--device", default="cpu", help="cpu or cuda")
    bench.add_argument("--batch-size", type=int, default=32)
    bench.add_argument("--repeats", type=int, default=None, help="timed repeats per measure (median reported)")
    bench.add_argument("--warmup", type=int, default=None, help="untimed warm-up repeats")
    bench.add_argument("--threads", type=int, default=None, help="torch threads (CPU; default: torch's)")
    bench.add_argument("--quick", action="store_true", help="tiny sizes, a few seconds")
    bench.add_argument("--json", default=None, help="write the results to this JSON file")

    benchmark = command(
        "benchmark",
        "Train and evaluate (game, seed) runs of the Atari100k benchmark, resumable, on local processes or Ray.",
        [
            "benchmark atari100k --games Pong Breakout --seeds 0 1 2 --out results/",
            "benchmark atari100k --out results/ --workers 4 --device cuda",
            "benchmark atari100k --out results/ --ray                 # start or join a local Ray cluster",
            "benchmark atari100k --out results/ --ray ray://head:10001",
        ],
        cmd_benchmark,
    )
    benchmark.add_argument("suite", choices=["atari100k"])
    benchmark.add_argument("--games", nargs="+", default=None, help="games (default: the 26 of Atari100k)")
    benchmark.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    benchmark.add_argument("--steps", type=int, default=100_000)
    benchmark.add_argument("--out", required=True, help="results directory (one JSON per run)")
    benchmark.add_argument("--algo", default="JEDI", help="JEDI or DIAMOND")
    benchmark.add_argument("--workers", type=int, default=1, help="parallel local processes")
    benchmark.add_argument(
        "--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
        help="run on Ray: alone, start a local Ray instance (or join RAY_ADDRESS); with an address, join that cluster",
    )  # fmt: skip
    benchmark.add_argument("--device", default="auto")
    benchmark.add_argument("--hyperparams", default=None, help="rl-zoo3-style YAML (section 'atari' or 'default')")
    benchmark.add_argument("--eval-episodes", type=int, default=100)
    benchmark.add_argument("--eval-deterministic", action="store_true", help="greedy evaluation (DIAMOND samples)")
    benchmark.add_argument(
        "--eval-max-episode-frames", type=int, default=108_000, help="frame cap of evaluation games (0: none)"
    )
    benchmark.add_argument("--checkpoint-freq", type=int, default=10_000)
    benchmark.add_argument("--threads-per-run", type=int, default=None, help="torch threads (and Ray CPUs) per run")
    benchmark.add_argument("--gpus-per-run", type=float, default=None, help="GPU fraction each Ray task asks for")
    benchmark.add_argument("--no-tf32", action="store_true", help=_NO_TF32_HELP)

    report = command(
        "report",
        "Write a Markdown table and figures (aggregates, per-game, Agent- vs Human-Optimal) for benchmark results.",
        ["report results/ --compare DIAMOND STORM", "report results/ --out report/"],
        cmd_report,
    )
    report.add_argument("run_dir", help="results directory of `sb3-jedi benchmark`")
    report.add_argument("--compare", nargs="*", default=["DIAMOND", "STORM", "IRIS", "DreamerV3", "TWM"])
    report.add_argument("--out", default=None, help="output directory (default: <run_dir>/report)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sb3-jedi`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except CommandError as error:
        print(f"{PROGRAM} {args.command}: error: {error}", file=sys.stderr)
        return 2
    except (ValueError, DependencyNotInstalled) as error:
        # The library's input errors are written for people: show the message, not a traceback.
        print(f"{PROGRAM} {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
