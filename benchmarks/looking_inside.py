"""
The world-model diagnostics of a real run, as figures for the docs: train JEDI with ``wm_log_interval`` set, read the
``world_model/*`` scalars it logged, and plot the open-loop prediction ratio, the latent health and the imagined
against real termination rates over training; then save, as PNG, the open-loop media TensorBoard shows at the end
(real | imagined | difference frames for images, imagined against real state trajectories for vectors).

    python benchmarks/looking_inside.py --env CartPole-v1 --steps 10000 --log-interval 5
    python benchmarks/looking_inside.py --atari Pong --steps 3000 --log-interval 2 --kwargs '{"learning_starts": 1000}'
    python benchmarks/looking_inside.py --atari Pong --preset cpu --steps 6000 --log-interval 5 --dream-frames 6
    python benchmarks/looking_inside.py --env CartPole-v1 --pixels 64 --preset cpu --steps 15000 --dream-frames 8

Writes ``docs/images/looking_inside_<name>_scalars.png``, ``docs/images/looking_inside_<name>_open_loop.png`` and
``benchmarks/results/looking_inside_<name>.json`` (the plotted series, with the commit, settings and minutes); with
``--dream-frames N``, also ``docs/images/looking_inside_<name>_dream.png``, the first N steps of a dream of the trained
agent inside its world model (:func:`sb3_jedi.dream.dream`, captioned as ``sb3-jedi dream --record`` captions them).
"""

import argparse
import csv
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch as th
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.logger import configure

from sb3_jedi import JEDI
from sb3_jedi.callbacks import recent_segment_indices
from sb3_jedi.diagnostics import open_loop_media, open_loop_prediction
from sb3_jedi.presets import with_preset
from sb3_jedi.run_info import library_versions, source_commit

HERE = Path(__file__).resolve().parent
IMAGES = HERE.parent / "docs" / "images"
RESULTS = HERE / "results"

# The scalars plotted, grouped by panel: (title, [(logged key, label)]).
PANELS = [
    ("open-loop prediction (below 1: predicts motion)", [("open_loop_mse_ratio", "MSE / copy-last MSE")]),
    (
        "latent health (newest states; whole buffer)",
        [
            ("latent_live_fraction", "live fraction"),
            ("latent_mean_std", "mean std"),
            ("replay_latent_live_fraction", "live fraction, buffer"),
            ("replay_latent_mean_std", "mean std, buffer"),
        ],
    ),
    (
        "effective rank of the latents",
        [("latent_effective_rank", "newest states"), ("replay_latent_effective_rank", "whole buffer")],
    ),
    (
        "termination rate on open-loop rollouts",
        [("open_loop_end_rate", "imagined"), ("open_loop_real_end_rate", "real states"), ("data_end_rate", "data")],
    ),
]


def read_series(progress_csv: Path) -> dict[str, list[tuple[int, float]]]:
    """``world_model/<key>`` columns of SB3's progress.csv as (env step, value) pairs, rows where the key was logged."""
    series: dict[str, list[tuple[int, float]]] = {}
    with progress_csv.open() as file:
        for row in csv.DictReader(file):
            step = row.get("time/total_timesteps")
            if not step:
                continue
            for column, value in row.items():
                if column.startswith("world_model/") and value not in ("", None):
                    series.setdefault(column.removeprefix("world_model/"), []).append((int(float(step)), float(value)))
    return series


def plot_scalars(series: dict[str, list[tuple[int, float]]], title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(name, [(key, label) for key, label in keys if key in series]) for name, keys in PANELS]
    panels = [(name, keys) for name, keys in panels if keys]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.2), squeeze=False)
    for ax, (name, keys) in zip(axes[0], panels, strict=True):
        for (key, label), style in zip(keys, ("-", "--", ":", "-."), strict=False):
            steps, values = zip(*series[key], strict=True)
            ax.plot(steps, values, linestyle=style, marker="o", markersize=3, label=label)
        if keys[0][0] == "open_loop_mse_ratio":
            ax.axhline(1.0, color="grey", linestyle="--", linewidth=1)
        if keys[0][0] == "open_loop_end_rate":
            ax.set_yscale("symlog", linthresh=1e-4)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("env steps")
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def save_open_loop(model: JEDI, path: Path, horizon: int, seed: int) -> dict[str, Any]:
    """The open-loop picture TensorBoard shows, from the newest replay data, saved as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    world_model = model.policy.world_model
    rng = np.random.default_rng(seed)
    # Segments predicting the last 2,000 stored rows: what the current policy does.
    since = max(0, model.replay_buffer.n_inserted - 2_000)
    indices = recent_segment_indices(model.replay_buffer, 16, world_model.n_cond_steps, horizon, since, rng)
    batch = model.replay_buffer.get_segments(indices)
    with th.no_grad():
        result = open_loop_prediction(world_model, batch, horizon)
    # The same picture the diagnostics callback logs: open_loop_media picks the rollouts and the kind of image.
    media = open_loop_media(result, max_rollouts=4)
    picture = media.get("open_loop_frames") or media.get("open_loop_states")
    if picture is None:
        raise SystemExit("No open-loop rollout has a real future to show: train for more steps.")
    image = picture.image.permute(1, 2, 0).numpy() if picture.dataformats == "CHW" else picture.image
    plt.imsave(path, image)
    return {key: value for key, value in result.items() if isinstance(value, float)}


def save_dream_strip(model: JEDI, path: Path, n_frames: int, seed: int) -> None:
    """
    The first ``n_frames`` steps of a dream of the agent inside its world model, from replay frames, side by side with
    the captions ``sb3-jedi dream --record`` writes (step, action, predicted reward and end), saved as a PNG.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sb3_jedi.dream import annotate_frame, dream

    result = dream(model, n_frames, seed=seed)
    tiles = [
        annotate_frame(frame, step, str(int(action)), float(reward), bool(end), bool(start))
        for step, (frame, action, reward, end, start) in enumerate(
            zip(result.frames, result.actions, result.rewards, result.ends, result.starts, strict=True)
        )
    ]
    plt.imsave(path, np.concatenate(tiles, axis=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="CartPole-v1", help="a gymnasium vector-observation task (MlpPolicy)")
    parser.add_argument("--atari", default=None, help="an Atari game (CnnPolicy, Atari100k protocol) instead of --env")
    parser.add_argument(
        "--pixels", type=int, default=None, help="learn --env from SIZE x SIZE rendered frames (CnnPolicy, make_pixel_env)"
    )
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--log-interval", type=int, default=5, help="epochs between diagnostics")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kwargs", default="{}", help="JSON dict of JEDI keyword arguments (over the preset's)")
    parser.add_argument("--preset", default=None, help="a named preset of sb3_jedi.presets (e.g. cpu)")
    parser.add_argument("--dream-frames", type=int, default=0, help="also save this many steps of a dream as a PNG")
    args = parser.parse_args()
    kwargs = json.loads(args.kwargs)
    settings = with_preset(args.preset, kwargs)
    commit = source_commit(__file__)
    th.set_num_threads(1)
    if args.atari is not None:
        from sb3_jedi.envs import make_atari100k_env

        name, policy, env = args.atari, "CnnPolicy", make_atari100k_env(args.atari, seed=args.seed)
    elif args.pixels is not None:
        from sb3_jedi.envs import make_pixel_env

        name, policy = f"{args.env}_pixels{args.pixels}", "CnnPolicy"
        env = make_pixel_env(args.env, size=args.pixels, seed=args.seed)
    else:
        name, policy, env = args.env, "MlpPolicy", make_vec_env(args.env, n_envs=1, seed=args.seed)
    model = JEDI(policy, env, seed=args.seed, wm_log_interval=args.log_interval, **settings)
    with tempfile.TemporaryDirectory() as log_dir:
        model.set_logger(configure(log_dir, ["csv"]))
        start = time.perf_counter()
        model.learn(args.steps)
        minutes = (time.perf_counter() - start) / 60
        series = read_series(Path(log_dir) / "progress.csv")
    if not series:
        raise SystemExit("No world_model/ scalars were logged: train for more epochs or lower --log-interval.")
    IMAGES.mkdir(parents=True, exist_ok=True)
    slug = name.replace("/", "_")
    preset = f", preset {args.preset}" if args.preset else ""
    title = f"JEDI {policy}{preset} on {name}, seed {args.seed}: world-model diagnostics every {args.log_interval} epochs"
    plot_scalars(series, title, IMAGES / f"looking_inside_{slug}_scalars.png")
    final = save_open_loop(model, IMAGES / f"looking_inside_{slug}_open_loop.png", model.imagination_horizon, args.seed)
    if args.dream_frames > 0:
        save_dream_strip(model, IMAGES / f"looking_inside_{slug}_dream.png", args.dream_frames, args.seed)
    record = {
        "env": name,
        "policy": policy,
        "pixels": args.pixels,
        "seed": args.seed,
        "steps": args.steps,
        "log_interval_epochs": args.log_interval,
        "preset": args.preset,
        "hyperparameters": kwargs or "defaults",
        "minutes": round(minutes, 2),
        "series": {key: [list(point) for point in points] for key, points in series.items()},
        "final_open_loop": final,
        "commit": commit,
        "versions": library_versions(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"looking_inside_{slug}.json").write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps({key: record[key] for key in ("env", "steps", "minutes", "final_open_loop")}, indent=2))


if __name__ == "__main__":
    main()
