"""
Time a preset of CnnPolicy (``"cpu"`` by default) on 64x64 pixel CartPole, one torch thread, and project a whole run.

A real ``learn`` run: the initial random steps, the first (long) training epoch, then ``--epochs`` regular epochs. Each
epoch is split into acting (collecting ``train_freq`` env steps with the actor), world-model updates and actor-critic
updates; one world-model diagnostics measurement (``wm_log_interval``) is timed apart. Every time is taken twice: wall
clock, and the CPU time of this process, which is what the wall clock would be on an idle core (the difference is
time spent waiting for a core that other work held). The projection of a ``--total-steps`` run adds the random
steps, the first epoch, the regular epochs, DIAMOND's final training-only epochs and the diagnostics.

    python benchmarks/cpu_preset_timing.py [--preset cpu] [--epochs 5] [--total-steps 50000] [--json PATH]
"""

import argparse
import inspect
import json
import os
import platform
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import stable_baselines3
import torch as th

import sb3_jedi
from sb3_jedi import JEDI
from sb3_jedi.callbacks import WorldModelDiagnosticsCallback
from sb3_jedi.envs import make_pixel_env
from sb3_jedi.presets import with_preset
from sb3_jedi.run_info import source_commit

DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "cpu_preset_timing.json"


class Clock:
    """Wall and process CPU seconds of wrapped calls, by name."""

    def __init__(self) -> None:
        self.calls: dict[str, list[tuple[float, float]]] = defaultdict(list)

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            wall, cpu = time.perf_counter(), time.process_time()
            result = fn(*args, **kwargs)
            self.calls[name].append((time.perf_counter() - wall, time.process_time() - cpu))
            return result

        return timed

    def count(self, name: str) -> int:
        return len(self.calls[name])

    def total(self, name: str, start: int = 0, stop: int | None = None) -> dict[str, float]:
        calls = self.calls[name][start:stop]
        return {"wall_s": sum(c[0] for c in calls), "cpu_s": sum(c[1] for c in calls)}


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--env", default="CartPole-v1", help="a gymnasium id that renders rgb_array frames")
    parser.add_argument("--size", type=int, default=64, help="frame size")
    parser.add_argument("--epochs", type=int, default=5, help="regular epochs timed after the first one")
    parser.add_argument("--total-steps", type=int, default=50_000, help="env steps of the projected run")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--overrides", default=None, help="JSON dict of JEDI arguments replacing the preset's")
    parser.add_argument("--json", default=str(DEFAULT_JSON), help="where to write the results ('' for nowhere)")
    args = parser.parse_args(argv)
    th.set_num_threads(args.threads)
    commit = source_commit(__file__)  # the code that runs: read before timing, while the tree may change
    load_before = load_average()

    hyperparams = with_preset(args.preset, json.loads(args.overrides or "{}"))
    env = make_pixel_env(args.env, size=args.size, seed=0)
    # Diagnostics are timed apart (below); final epochs are projected from the regular ones.
    timed_hyperparams = {**hyperparams, "wm_log_interval": None, "final_epochs": 0}
    model = JEDI("CnnPolicy", env, seed=0, device="cpu", **timed_hyperparams)
    params = {
        "encoder": sum(p.numel() for p in model.policy.world_model.encoder.parameters()),
        "denoiser": sum(p.numel() for p in model.policy.world_model.denoiser.parameters()),
        "reward_end": sum(p.numel() for p in model.policy.world_model.reward_end_model.parameters()),
        "decoder": sum(p.numel() for p in model.policy.world_model.decoder.parameters())
        if model.policy.world_model.decoder is not None
        else 0,
        "actor_critic": sum(p.numel() for p in model.policy.actor_critic.parameters()),
    }
    params["total"] = sum(params.values())

    clock = Clock()
    epochs: list[dict[str, Any]] = []
    collect, train = model.collect_rollouts, model.train
    model.train_world_model = clock.wrap("world_model", model.train_world_model)  # type: ignore[method-assign]
    model.train_actor_critic = clock.wrap("actor_critic", model.train_actor_critic)  # type: ignore[method-assign]

    def timed_collect(*c_args: Any, **c_kwargs: Any) -> Any:
        random_steps = model.num_timesteps < c_kwargs["learning_starts"]
        name = "acting_random" if random_steps else "acting"
        return clock.wrap(name, collect)(*c_args, **c_kwargs)

    def timed_train(*t_args: Any, **t_kwargs: Any) -> Any:
        marks = {name: clock.count(name) for name in ("world_model", "actor_critic")}
        acting = clock.calls["acting"][-1]
        result = train(*t_args, **t_kwargs)
        epoch = {
            "acting": {"wall_s": acting[0], "cpu_s": acting[1]},
            **{name: clock.total(name, start) for name, start in marks.items()},
            "updates": {name: clock.count(name) - start for name, start in marks.items()},
        }
        epoch["total"] = {
            key: sum(epoch[part][key] for part in ("acting", "world_model", "actor_critic")) for key in ("wall_s", "cpu_s")
        }
        epochs.append(epoch)
        print(
            f"epoch {len(epochs)}: {epoch['updates']} updates, wall {epoch['total']['wall_s']:.1f} s, "
            f"cpu {epoch['total']['cpu_s']:.1f} s",
            flush=True,
        )
        return result

    model.collect_rollouts = timed_collect  # type: ignore[method-assign]
    model.train = timed_train  # type: ignore[method-assign]
    train_freq = model.train_freq.frequency  # type: ignore[union-attr]
    run_steps = model.learning_starts + (args.epochs + 1) * train_freq
    start = time.perf_counter()
    model.learn(run_steps)
    run_wall_s = time.perf_counter() - start

    diagnostics = WorldModelDiagnosticsCallback(log_interval=100)
    diagnostics.init_callback(model)
    diagnostics_clock = Clock()
    diagnostics_clock.wrap("diagnostics", diagnostics.log_diagnostics)()
    diagnostics_s = diagnostics_clock.total("diagnostics")

    first, regular = epochs[0], epochs[1:]
    random_collect = clock.total("acting_random")
    random_steps = clock.count("acting_random") * train_freq

    def mean(key: str, part: str) -> float:
        return statistics.mean(epoch[part][key] for epoch in regular)

    per_epoch = {
        key: {part: mean(key, part) for part in ("acting", "world_model", "actor_critic", "total")}
        for key in ("wall_s", "cpu_s")
    }
    # The projected run: random steps, then (total - random) / train_freq epochs of acting + training (the first one
    # long), DIAMOND's final epochs (5% of the run's epochs unless the preset sets final_epochs), diagnostics every
    # wm_log_interval epochs (the preset's, else the default 100).
    n_epochs = (args.total_steps - random_steps) // train_freq
    model.final_epochs = hyperparams.get("final_epochs")
    n_final = model.n_final_epochs(args.total_steps)
    interval = hyperparams.get("wm_log_interval", inspect.signature(JEDI).parameters["wm_log_interval"].default)
    n_diagnostics = 0 if not interval else n_epochs // interval
    projection = {}
    for key in ("wall_s", "cpu_s"):
        train_s = per_epoch[key]["world_model"] + per_epoch[key]["actor_critic"]
        seconds = (
            random_collect[key]
            + n_epochs * per_epoch[key]["acting"]
            + first["world_model"][key]
            + first["actor_critic"][key]
            + (n_epochs - 1 + n_final) * train_s
            + n_diagnostics * diagnostics_s[key]
        )
        projection[key.replace("_s", "_minutes")] = seconds / 60

    results = {
        "preset": args.preset,
        "hyperparams": json.loads(json.dumps(hyperparams)),
        "env": f"make_pixel_env({args.env!r}, size={args.size})",
        "device": f"cpu ({platform.processor() or platform.machine()}), {os.cpu_count()} cores",
        "torch_threads": th.get_num_threads(),
        "load_average_1_5_15_min": {"before": load_before, "after": load_average()},
        "note": (
            "Measured on a machine shared with other jobs: wall_s includes time spent waiting for a core, cpu_s is this "
            "process's CPU time (about what the wall clock reads on an idle core). Projections use both."
        ),
        "commit": commit,
        "versions": {
            "sb3_jedi": sb3_jedi.__version__,
            "torch": th.__version__,
            "stable_baselines3": stable_baselines3.__version__,
            "python": platform.python_version(),
        },
        "params": params,
        "random_steps": {"steps": random_steps, **random_collect},
        "first_epoch": first,
        "regular_epochs": regular,
        "per_epoch_mean": per_epoch,
        "per_100_env_steps": {key: per_epoch[key]["total"] * 100 / train_freq for key in ("wall_s", "cpu_s")},
        "world_model_diagnostics": diagnostics_s,
        "projection": {
            "total_steps": args.total_steps,
            "epochs": n_epochs,
            "final_epochs": n_final,
            "diagnostics": n_diagnostics,
            **projection,
        },
        "timed_run_wall_s": run_wall_s,
    }
    print(f"{args.preset} preset, {params['total']:,} parameters, {results['env']}, {results['torch_threads']} thread(s)")
    print("| per epoch of 100 env steps | wall s | cpu s |\n|---|---|---|")
    for part in ("acting", "world_model", "actor_critic", "total"):
        print(f"| {part} | {per_epoch['wall_s'][part]:.2f} | {per_epoch['cpu_s'][part]:.2f} |")
    print(
        f"first epoch: world model {first['world_model']['wall_s']:.0f} s wall / {first['world_model']['cpu_s']:.0f} s cpu "
        f"({first['updates']['world_model']} updates), actor-critic {first['actor_critic']['wall_s']:.0f} / "
        f"{first['actor_critic']['cpu_s']:.0f} s ({first['updates']['actor_critic']} updates)"
    )
    print(f"diagnostics: {diagnostics_s['wall_s']:.1f} s wall, {diagnostics_s['cpu_s']:.1f} s cpu")
    print(
        f"projected {args.total_steps} steps: {projection['wall_minutes']:.0f} min wall (this load), "
        f"{projection['cpu_minutes']:.0f} min cpu (an idle core); load average {load_before} -> {load_average()}"
    )
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, indent=2) + "\n")
        print(f"Wrote {path}")
    return results


if __name__ == "__main__":
    main()
