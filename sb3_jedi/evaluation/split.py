"""
The JEDI paper's split of the 26 Atari100k games into Agent-Optimal and Human-Optimal halves (arXiv 2505.19698).

Rule: rank the games by the mean human-normalised score of four reference agents (IRIS, TWM, DreamerV3, STORM, with
their published scores); the upper 13 games, where agents already play far above human level, are Agent-Optimal,
the lower 13 are Human-Optimal. Aggregate scores are dominated by the first half; the second is where agents still
trail humans. :func:`task_split` computes the split from the shipped table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from sb3_jedi.evaluation.metrics import AggregateMetrics, aggregate_metrics
from sb3_jedi.evaluation.reference import (
    TASK_SPLIT_FILE,
    _canonical_agent,
    _read_rows,
    canonical_game_name,
    published_hns,
    reference_games,
)

__all__ = [
    "AGENT_OPTIMAL",
    "HUMAN_OPTIMAL",
    "REFERENCE_AGENTS",
    "SPLIT_NAMES",
    "TaskSplit",
    "packaged_task_split",
    "split_metrics",
    "task_split",
]

#: The reference agents of the paper's split rule.
REFERENCE_AGENTS: tuple[str, ...] = ("IRIS", "TWM", "DreamerV3", "STORM")
AGENT_OPTIMAL = "agent_optimal"
HUMAN_OPTIMAL = "human_optimal"
#: Keys of :func:`split_metrics`, in the order they are reported.
SPLIT_NAMES: tuple[str, ...] = (AGENT_OPTIMAL, HUMAN_OPTIMAL, "all")


@dataclass(frozen=True)
class TaskSplit:
    """
    Agent-Optimal and Human-Optimal games.

    :param agent_optimal: upper half, by decreasing reference HNS
    :param human_optimal: lower half, by decreasing reference HNS
    :param reference_mean_hns: the ranking score of each game (mean HNS of the reference agents)
    :param reference_agents: agents whose published scores ranked the games
    """

    agent_optimal: tuple[str, ...]
    human_optimal: tuple[str, ...]
    reference_mean_hns: dict[str, float] = field(default_factory=dict)
    reference_agents: tuple[str, ...] = REFERENCE_AGENTS

    def set_of(self, game: str) -> str:
        """
        :param game: an Atari100k game (any spelling :func:`~sb3_jedi.evaluation.canonical_game_name` accepts)
        :return: ``"agent_optimal"`` or ``"human_optimal"``
        """
        name = canonical_game_name(game)
        return AGENT_OPTIMAL if name in self.agent_optimal else HUMAN_OPTIMAL

    def games(self, name: str) -> tuple[str, ...]:
        """
        :param name: ``"agent_optimal"``, ``"human_optimal"`` or ``"all"``
        :return: the games of that set
        """
        sets = {AGENT_OPTIMAL: self.agent_optimal, HUMAN_OPTIMAL: self.human_optimal}
        sets["all"] = self.agent_optimal + self.human_optimal
        if name not in sets:
            raise ValueError(f"Unknown set {name!r}; the sets are {', '.join(SPLIT_NAMES)}.")
        return sets[name]

    def to_dict(self) -> dict[str, Any]:
        return {
            AGENT_OPTIMAL: list(self.agent_optimal),
            HUMAN_OPTIMAL: list(self.human_optimal),
            "reference_mean_hns": dict(self.reference_mean_hns),
            "reference_agents": list(self.reference_agents),
        }


def task_split(reference_agents: Sequence[str] = REFERENCE_AGENTS) -> TaskSplit:
    """
    The paper's split, computed from the shipped published scores: rank the 26 games by the reference agents' mean
    HNS, the upper 13 are Agent-Optimal and the lower 13 Human-Optimal.

    :param reference_agents: agents of :func:`~sb3_jedi.evaluation.published_agents` whose mean HNS ranks the games
        (the paper: IRIS, TWM, DreamerV3, STORM)
    :return: the split
    """
    if isinstance(reference_agents, str) or len(reference_agents) == 0:
        raise ValueError(f"reference_agents must be a non-empty sequence of agent names, got {reference_agents!r}.")
    agents = tuple(_canonical_agent(agent) for agent in reference_agents)
    if len(set(agents)) != len(agents):
        raise ValueError(f"reference_agents lists an agent twice: {list(reference_agents)}.")
    tables = [published_hns(agent) for agent in agents]
    games = reference_games()
    mean_hns = {game: float(np.mean([table[game] for table in tables])) for game in games}
    # Ties (none in the shipped table) are broken by name so that the split never depends on file order.
    ranked = sorted(games, key=lambda game: (-mean_hns[game], game))
    half = len(ranked) // 2
    return TaskSplit(
        agent_optimal=tuple(ranked[:half]),
        human_optimal=tuple(ranked[half:]),
        reference_mean_hns=mean_hns,
        reference_agents=agents,
    )


def packaged_task_split() -> TaskSplit:
    """
    The split as listed in the shipped ``atari100k_task_split.csv`` (the expected result of :func:`task_split`).

    :return: the split, with the listed (rounded) reference mean HNS
    """
    header, rows = _read_rows(TASK_SPLIT_FILE)
    if header != ["game", "set", "reference_mean_hns"]:
        raise ValueError(f"{TASK_SPLIT_FILE} has columns {header}, expected ['game', 'set', 'reference_mean_hns'].")
    return TaskSplit(
        agent_optimal=tuple(row[0] for row in rows if row[1] == AGENT_OPTIMAL),
        human_optimal=tuple(row[0] for row in rows if row[1] == HUMAN_OPTIMAL),
        reference_mean_hns={row[0]: float(row[2]) for row in rows},
    )


def split_metrics(
    scores: Mapping[str, ArrayLike],
    split: TaskSplit | None = None,
    **aggregate_kwargs: Any,
) -> dict[str, AggregateMetrics]:
    """
    :func:`~sb3_jedi.evaluation.aggregate_metrics` on the Agent-Optimal games, the Human-Optimal games and all games.

    :param scores: ``{game: array of per-run scores}`` as for ``aggregate_metrics`` (Atari100k games only)
    :param split: the split to use (default: :func:`task_split` with the paper's reference agents)
    :param aggregate_kwargs: passed to ``aggregate_metrics`` (``reps``, ``seed``, ``normalized``, ``unequal_runs``,
        ``confidence``)
    :return: ``{"agent_optimal": ..., "human_optimal": ..., "all": ...}``; a half none of whose games is in ``scores``
        is left out
    """
    if not isinstance(scores, Mapping) or len(scores) == 0:
        raise ValueError("`scores` must be a non-empty mapping {game: array of per-run scores}.")
    split = task_split() if split is None else split
    by_name = {canonical_game_name(game): values for game, values in scores.items()}
    if len(by_name) != len(scores):
        raise ValueError(f"`scores` names a game twice under different spellings: {list(scores)}.")
    results = {}
    for name in SPLIT_NAMES:
        subset = {game: by_name[game] for game in split.games(name) if game in by_name}
        if subset:
            results[name] = aggregate_metrics(subset, **aggregate_kwargs)
    return results
