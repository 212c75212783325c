"""
Benchmark report: a Markdown summary and PNG figures of the runs written by
:func:`~sb3_jedi.evaluation.run_atari100k`, next to published Atari100k results.

Files written to ``out_dir`` (default: ``<run_dir>/report``):

- ``report.md``: aggregate metrics with 95% stratified-bootstrap intervals, the same on the Agent-Optimal and
  Human-Optimal halves, and a per-game table;
- ``aggregates.png``: point estimate and interval of each metric for each agent (as in rliable's figures);
- ``per_game_hns.png``: per-game HNS of our runs (bar: mean over seeds, dots: seeds) and of the compared agents;
- ``task_split.png``: mean and IQM HNS on the Agent-Optimal and Human-Optimal halves, side by side;
- ``summary.json``: every number of the report.

Published agents are compared on the games our runs cover, so that every row of a table aggregates the same games.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sb3_jedi.evaluation.metrics import METRICS, AggregateMetrics, IntervalEstimate, aggregate_metrics
from sb3_jedi.evaluation.reference import (
    _canonical_agent,
    canonical_game_name,
    human_normalized_score,
    published_scores,
    reference_scores,
)
from sb3_jedi.evaluation.runner import load_results
from sb3_jedi.evaluation.split import AGENT_OPTIMAL, HUMAN_OPTIMAL, SPLIT_NAMES, TaskSplit, task_split

__all__ = ["DEFAULT_COMPARE", "collect_scores", "write_report"]

#: Published agents compared by default, strongest mean HNS first.
DEFAULT_COMPARE: tuple[str, ...] = ("DIAMOND", "STORM", "DreamerV3", "IRIS", "TWM")
METRIC_LABELS = {
    "mean": "Mean HNS",
    "median": "Median HNS",
    "iqm": "IQM HNS",
    "optimality_gap": "Optimality gap",
    "har_hns": "Har-HNS",
}
SET_LABELS = {AGENT_OPTIMAL: "Agent-Optimal", HUMAN_OPTIMAL: "Human-Optimal", "all": "All"}


def collect_scores(results: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, list[float]]]:
    """
    Per-run scores of each algorithm, from run results (:func:`~sb3_jedi.evaluation.load_results`).

    :param results: result dictionaries with ``algo``, ``game``, ``seed`` and ``score``
    :return: ``{algo: {game: [score of each seed, by increasing seed]}}``
    """
    collected: dict[str, dict[str, list[tuple[int, float]]]] = {}
    for result in results:
        runs = collected.setdefault(result["algo"], {}).setdefault(result["game"], [])
        runs.append((int(result["seed"]), float(result["score"])))
    return {
        algo: {game: [score for _, score in sorted(runs)] for game, runs in games.items()} for algo, games in collected.items()
    }


def _fmt(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def _fmt_interval(estimate: IntervalEstimate) -> str:
    if math.isnan(estimate.point):
        return "n/a"
    if estimate.low == estimate.high == estimate.point:
        return _fmt(estimate.point)
    return f"{_fmt(estimate.point)} [{_fmt(estimate.low)}, {_fmt(estimate.high)}]"


def _split_games(games: Sequence[str], split: TaskSplit) -> dict[str, list[str]]:
    """Games of each set, in the split's order (decreasing reference HNS); games outside Atari100k only in "all"."""
    ours = set(games)
    sets = {name: [game for game in split.games(name) if game in ours] for name in SPLIT_NAMES}
    sets["all"] += sorted(ours - set(split.games("all")))
    return sets


def _ordered_games(sets: Mapping[str, list[str]]) -> list[str]:
    """Agent-Optimal games, then Human-Optimal ones, then any other (each by decreasing reference HNS)."""
    halves = sets[AGENT_OPTIMAL] + sets[HUMAN_OPTIMAL]
    return halves + [game for game in sets["all"] if game not in halves]


def _aggregate_all(
    agents: Mapping[str, Mapping[str, Sequence[float]]],
    sets: Mapping[str, list[str]],
    reps: int,
    seed: int | None,
) -> dict[str, dict[str, AggregateMetrics]]:
    """``{set: {agent: metrics}}`` for each set with at least one game the agent has."""
    table: dict[str, dict[str, AggregateMetrics]] = {}
    for set_name, games in sets.items():
        table[set_name] = {}
        for label, scores in agents.items():
            subset = {game: scores[game] for game in games if game in scores}
            if subset:
                table[set_name][label] = aggregate_metrics(subset, reps=reps, seed=seed, unequal_runs="truncate")
    return table


def _plot_intervals(ax: Any, labels: list[str], estimates: list[IntervalEstimate], colors: dict[str, Any]) -> None:
    """rliable-style interval plot: one row per agent, a bar over the interval and a marker at the point estimate."""
    for row, (label, estimate) in enumerate(zip(labels, estimates, strict=True)):
        if math.isnan(estimate.point):
            ax.text(0.5, row, "n/a", transform=ax.get_yaxis_transform(), ha="center", va="center", fontsize=8)
            continue
        if not (math.isnan(estimate.low) or math.isnan(estimate.high)) and estimate.high > estimate.low:
            ax.barh(row, estimate.high - estimate.low, left=estimate.low, height=0.6, color=colors[label], alpha=0.45)
        ax.plot(estimate.point, row, marker="D", markersize=7, color=colors[label], markeredgecolor="black", linestyle="")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_ylim(-0.6, len(labels) - 0.4)
    # Bars are "sticky" at their base, which would stop the margin there and clip the interval at the frame.
    ax.use_sticky_edges = False
    ax.margins(x=0.12)
    ax.grid(axis="x", alpha=0.3)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)


def _agent_colors(labels: Sequence[str]) -> dict[str, Any]:
    import matplotlib

    palette = matplotlib.colormaps["tab10"]
    return {label: palette(index % 10) for index, label in enumerate(labels)}


def _figure_aggregates(path: Path, table: Mapping[str, AggregateMetrics], colors: dict[str, Any], n_games: int) -> None:
    import matplotlib.pyplot as plt

    labels = list(table)
    fig, axes = plt.subplots(1, len(METRICS), figsize=(3.2 * len(METRICS), 0.55 * len(labels) + 1.6), sharey=True)
    for ax, metric in zip(axes, METRICS, strict=True):
        _plot_intervals(ax, labels, [table[label].metric(metric) for label in labels], colors)
        ax.set_title(METRIC_LABELS[metric])
        ax.set_xlabel("Human Normalized Score" if metric != "optimality_gap" else "Gap (lower is better)")
    fig.suptitle(f"Atari100k aggregates on {n_games} game(s), 95% stratified-bootstrap intervals")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _figure_per_game(
    path: Path,
    sets: Mapping[str, list[str]],
    ours: Mapping[str, Mapping[str, Sequence[float]]],
    published: Mapping[str, Mapping[str, float]],
    colors: dict[str, Any],
) -> None:
    import matplotlib.pyplot as plt

    games = _ordered_games(sets)
    labels = list(ours) + list(published)
    width = 0.8 / len(labels)
    fig, ax = plt.subplots(figsize=(min(22.0, max(6.0, 2.5 + 0.11 * len(games) * (len(labels) + 1))), 5.0))
    for index, label in enumerate(labels):
        offsets = np.arange(len(games)) - 0.4 + width * (index + 0.5)
        if label in ours:
            runs = [np.atleast_1d(human_normalized_score(g, ours[label][g])) if g in ours[label] else None for g in games]
            heights = [float(np.mean(r)) if r is not None else np.nan for r in runs]
            ax.bar(offsets, heights, width, color=colors[label], label=label, edgecolor="black", linewidth=0.6)
            for x, r in zip(offsets, runs, strict=True):
                if r is not None:
                    ax.scatter(np.full(r.shape, x), r, s=10, color="black", zorder=3)
        else:
            heights = [float(human_normalized_score(g, published[label][g])) for g in games]
            ax.bar(offsets, heights, width, color=colors[label], label=label, alpha=0.8)
    ax.axhline(1.0, color="black", linestyle="--", linewidth=1, label="human")
    ax.axhline(0.0, color="grey", linewidth=0.8)
    ax.set_yscale("symlog", linthresh=1.0)
    ax.set_xticks(range(len(games)), games, rotation=60, ha="right")
    ax.set_ylabel("Human Normalized Score (symlog)")
    low, high = ax.get_ylim()
    ticks = [t for t in (-2, -1, -0.5, 0, 0.25, 0.5, 1, 2, 5, 10, 20, 50) if low <= t <= high]
    ax.set_yticks(ticks, [f"{t:g}" for t in ticks])
    n_agent = len(sets[AGENT_OPTIMAL])
    if 0 < n_agent < len(games):
        ax.axvline(n_agent - 0.5, color="black", linewidth=1)
    top = ax.get_ylim()[1]
    if n_agent:
        ax.text((n_agent - 1) / 2, top, "Agent-Optimal", ha="center", va="bottom", fontsize=9)
    if sets[HUMAN_OPTIMAL]:
        ax.text(n_agent + (len(sets[HUMAN_OPTIMAL]) - 1) / 2, top, "Human-Optimal", ha="center", va="bottom", fontsize=9)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title("Per-game HNS (bars: mean over seeds, dots: seeds)", pad=18)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _figure_split(path: Path, table: Mapping[str, Mapping[str, AggregateMetrics]], colors: dict[str, Any]) -> None:
    import matplotlib.pyplot as plt

    halves = (AGENT_OPTIMAL, HUMAN_OPTIMAL)
    metrics = ("mean", "iqm")
    labels = list(colors)
    fig, axes = plt.subplots(len(metrics), 2, figsize=(11, 0.45 * len(labels) * len(metrics) + 2.2), sharey=True)
    for row, metric in enumerate(metrics):
        for col, half in enumerate(halves):
            ax = axes[row][col]
            present = [label for label in labels if label in table.get(half, {})]
            if not present:
                ax.text(0.5, 0.5, "no game of this set was run", transform=ax.transAxes, ha="center", va="center")
                ax.set_yticks(range(len(labels)), labels)
            else:
                estimates = [
                    table[half][label].metric(metric) if label in present else IntervalEstimate(math.nan, math.nan, math.nan)
                    for label in labels
                ]
                _plot_intervals(ax, labels, estimates, colors)
            n_games = max((len(m.games) for m in table.get(half, {}).values()), default=0)
            ax.set_title(f"{SET_LABELS[half]} ({n_games} game(s)): {METRIC_LABELS[metric]}")
            ax.set_xlabel("Human Normalized Score")
    fig.suptitle("Agent-Optimal vs Human-Optimal games (95% stratified-bootstrap intervals)")
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _markdown(
    run_dir: Path,
    table: Mapping[str, Mapping[str, AggregateMetrics]],
    sets: Mapping[str, list[str]],
    ours: Mapping[str, Mapping[str, Sequence[float]]],
    published: Mapping[str, Mapping[str, float]],
    results: Sequence[Mapping[str, Any]],
    split: TaskSplit,
    reps: int,
    figures: Mapping[str, Path],
) -> str:
    games_all = sets["all"]
    lines = [
        "# Atari100k report",
        "",
        f"Runs: `{run_dir}` ({len(results)} finished run(s)), written {time.strftime('%Y-%m-%d %H:%M')}.",
        "",
        "| agent | games | runs per game | agent steps | evaluation |",
        "|---|---|---|---|---|",
    ]
    for label, scores in ours.items():
        algo_results = [r for r in results if _label(r["algo"]) == label]
        steps = sorted({int(r["num_timesteps"]) for r in algo_results})
        run_counts = sorted({len(v) for v in scores.values()})
        protocols = sorted({_protocol(r.get("evaluation", {})) for r in algo_results})
        lines.append(
            f"| {label} | {len(scores)} | {', '.join(map(str, run_counts))} | {', '.join(f'{s:,}' for s in steps)} "
            f"| {'; '.join(protocols)} |"
        )
    for label in published:
        n_games = len([g for g in games_all if g in published[label]])
        lines.append(f"| {label} (published) | {n_games} | 1 (mean) | 100,000 | as published |")
    header = "| agent | " + " | ".join(METRIC_LABELS[m] for m in METRICS) + " | superhuman games | runs used |"
    rule = "|---" * (len(METRICS) + 3) + "|"
    lines += ["", f"## Aggregates on the {len(games_all)} game(s) run", "", header, rule]
    for label, metrics in table["all"].items():
        cells = " | ".join(_fmt_interval(metrics.metric(m)) for m in METRICS)
        lines.append(f"| {label} | {cells} | {metrics.superhuman_games} / {len(metrics.games)} | {metrics.n_runs} |")
    lines += ["", f"![aggregates]({figures['aggregates'].name})", "", "## Agent-Optimal vs Human-Optimal", ""]
    lines.append(
        "The paper's split (arXiv 2505.19698): the 26 games ranked by the mean HNS of "
        f"{', '.join(split.reference_agents)}; the upper 13 are Agent-Optimal, the lower 13 Human-Optimal."
    )
    lines += ["", "| set | agent | games | Mean HNS | IQM HNS | Optimality gap | Har-HNS |", "|---|---|---|---|---|---|---|"]
    for set_name in (AGENT_OPTIMAL, HUMAN_OPTIMAL):
        if not table.get(set_name):
            lines.append(f"| {SET_LABELS[set_name]} | (no game of this set was run) | 0 | | | | |")
            continue
        for label, metrics in table[set_name].items():
            cells = " | ".join(_fmt_interval(metrics.metric(m)) for m in ("mean", "iqm", "optimality_gap", "har_hns"))
            lines.append(f"| {SET_LABELS[set_name]} | {label} | {len(metrics.games)} | {cells} |")
    lines += ["", f"![task split]({figures['task_split'].name})", "", "## Per game", ""]
    our_labels = list(ours)
    head = ["game", "set", "random", "human"]
    for label in our_labels:
        head += [f"{label} score", f"{label} HNS"]
    head += [f"{label} HNS" for label in published]
    lines += ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    references = reference_scores()
    split_sets = {game: SET_LABELS[split.set_of(game)] for game in split.games("all")}
    for game in _ordered_games(sets):
        reference = references.get(game, {})
        row = [game, split_sets.get(game, "-"), _fmt(reference.get("random"), 1), _fmt(reference.get("human"), 1)]
        for label in our_labels:
            runs = ours[label].get(game)
            if runs is None:
                row += ["-", "-"]
                continue
            values = np.asarray(runs, dtype=np.float64)
            row.append(f"{values.mean():.1f} +- {values.std():.1f} ({len(values)})")
            row.append(_fmt(float(np.mean(human_normalized_score(game, values)))) if game in references else "n/a")
        row += [_fmt(float(human_normalized_score(game, published[label][game]))) for label in published]
        lines.append("| " + " | ".join(row) + " |")
    lines += [
        "",
        f"![per-game HNS]({figures['per_game'].name})",
        "",
        "## Notes",
        "",
        "- HNS = (score - random) / (human - random). Our score of a run is the mean game score of its final evaluation "
        "(see each run's JSON for the protocol: episodes, greedy or sampled actions, frame cap).",
        "- Intervals: 95% stratified bootstrap over runs (rliable, percentile method, "
        f"{reps:,} replications). Published agents have one value (a mean over their seeds) per game, so their "
        "intervals have zero width and are not shown.",
        "- Har-HNS = 1 / mean(1 / (HNS + 0.1)) over per-game mean HNS (arXiv 2605.13013); n/a when a game's HNS is "
        "<= -0.1, where it is undefined.",
        "- When the games of an agent have different numbers of finished runs, the first (lowest-seed) runs are used, "
        "as many as the game with the fewest (column 'runs used').",
        "- Published scores are compared on the games run here only. They were transcribed from the papers "
        "(sb3_jedi/evaluation/data/README.md).",
    ]
    return "\n".join(lines) + "\n"


def _without_nan(value: Any) -> Any:
    """``value`` with NaN floats as ``None`` (strict JSON has no NaN)."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, Mapping):
        return {key: _without_nan(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_without_nan(item) for item in value]
    return value


def _protocol(evaluation: Mapping[str, Any]) -> str:
    """One line on how a run was evaluated, e.g. "100 episodes, sampled actions, 108,000-frame cap"."""
    if not evaluation:
        return "unknown"
    actions = "greedy" if evaluation.get("deterministic") else "sampled"
    cap = evaluation.get("max_episode_frames")
    cap_text = "no frame cap" if cap is None else f"{int(cap):,}-frame cap"
    return f"{evaluation.get('n_episodes', evaluation.get('episodes', '?'))} episode(s), {actions} actions, {cap_text}"


def _label(algo: str) -> str:
    return f"{algo} (ours)"


def write_report(
    run_dir: str | os.PathLike,
    out_dir: str | os.PathLike | None = None,
    compare: Sequence[str] = DEFAULT_COMPARE,
    reps: int = 10_000,
    seed: int | None = 0,
    split: TaskSplit | None = None,
) -> dict[str, Path]:
    """
    Write ``report.md``, ``summary.json`` and PNG figures for the runs under ``run_dir``, next to published agents.

    :param run_dir: the ``out_dir`` of :func:`~sb3_jedi.evaluation.run_atari100k` (every ``<algo>/<game>/seed_*.json``
        result under it is read; each algorithm appears as ``"<algo> (ours)"``)
    :param out_dir: where to write the report (default: ``<run_dir>/report``)
    :param compare: published agents to show (:func:`~sb3_jedi.evaluation.published_agents`); empty for none
    :param reps: bootstrap replications of the intervals
    :param seed: seed of the bootstrap (``None``: unseeded)
    :param split: Agent-/Human-Optimal split (default: :func:`~sb3_jedi.evaluation.task_split`)
    :return: ``{"report": ..., "summary": ..., "aggregates": ..., "per_game": ..., "task_split": ...}`` paths
    """
    import matplotlib

    matplotlib.use("Agg")  # files only, whatever the display

    run_dir = Path(run_dir)
    results = load_results(run_dir)
    if not results:
        raise ValueError(f"No finished run (<algo>/<game>/seed_<s>.json) under {run_dir}; run run_atari100k first.")
    if isinstance(compare, str):
        compare = [compare]
    compare = [_canonical_agent(agent) for agent in compare]
    split = task_split() if split is None else split
    out = Path(out_dir) if out_dir is not None else run_dir / "report"
    out.mkdir(parents=True, exist_ok=True)

    ours: dict[str, dict[str, list[float]]] = {}
    for algo, games in collect_scores(results).items():
        # Results name games as ALE does; the tables' names are the same for the Atari100k games.
        named = {}
        for game, runs in games.items():
            try:
                named[canonical_game_name(game)] = runs
            except ValueError:
                named[game] = runs
        ours[_label(algo)] = named
    unknown = sorted({g for scores in ours.values() for g in scores} - set(reference_scores()))
    if unknown:
        raise ValueError(
            f"Games without human and random reference scores cannot be normalised: {', '.join(unknown)}. "
            "Reports cover the 26 Atari100k games."
        )
    sets = _split_games(sorted({g for scores in ours.values() for g in scores}), split)
    published = {agent: published_scores(agent) for agent in compare}
    agents: dict[str, Mapping[str, Sequence[float]]] = {**ours}
    agents.update({agent: {g: [v] for g, v in scores.items()} for agent, scores in published.items()})
    table = _aggregate_all(agents, sets, reps, seed)
    colors = _agent_colors(list(agents))

    paths = {
        "report": out / "report.md",
        "summary": out / "summary.json",
        "aggregates": out / "aggregates.png",
        "per_game": out / "per_game_hns.png",
        "task_split": out / "task_split.png",
    }
    _figure_aggregates(paths["aggregates"], table["all"], colors, len(sets["all"]))
    _figure_per_game(paths["per_game"], sets, ours, published, colors)
    _figure_split(paths["task_split"], table, colors)
    paths["report"].write_text(_markdown(run_dir, table, sets, ours, published, results, split, reps, paths))
    summary = {
        "run_dir": str(run_dir),
        "reps": reps,
        "seed": seed,
        "games": sets,
        "scores": ours,
        "aggregates": {set_name: {label: m.to_dict() for label, m in rows.items()} for set_name, rows in table.items()},
        "task_split": split.to_dict(),
    }
    paths["summary"].write_text(json.dumps(_without_nan(summary), indent=2, default=str))
    return paths
