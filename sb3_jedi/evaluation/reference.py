"""
Atari100k reference data shipped with the package: random and human scores, and published per-game results.

The CSV files live in ``sb3_jedi/evaluation/data/`` (sources in the README there) and are read with
:mod:`importlib.resources`, so they work from an installed wheel as well as from a source checkout.

The human-normalised score (HNS) of a game score is ``(score - random) / (human - random)``: 0 is a random policy, 1 a
human player.
"""

from __future__ import annotations

import csv
import difflib
import functools
import io
import re
from importlib import resources

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "canonical_game_name",
    "human_normalized_score",
    "published_agents",
    "published_hns",
    "published_scores",
    "read_data_file",
    "reference_games",
    "reference_scores",
]

_DATA_PACKAGE = "sb3_jedi.evaluation"
REFERENCE_FILE = "atari100k_reference_scores.csv"
PUBLISHED_FILE = "atari100k_published_scores.csv"
TASK_SPLIT_FILE = "atari100k_task_split.csv"


def read_data_file(name: str) -> str:
    """
    Text of one of the shipped data files (``sb3_jedi/evaluation/data/<name>``).

    :param name: file name, e.g. ``"atari100k_reference_scores.csv"``
    :return: its content
    """
    resource = resources.files(_DATA_PACKAGE).joinpath("data").joinpath(name)
    if not resource.is_file():
        raise FileNotFoundError(
            f"The data file {name!r} is missing from the installed sb3_jedi.evaluation package. Reinstall sb3-jedi; when "
            "building it yourself, include the package data 'data/*.csv' and 'data/*.md' of sb3_jedi.evaluation."
        )
    return resource.read_text(encoding="utf-8")


def _read_rows(name: str) -> tuple[list[str], list[list[str]]]:
    rows = list(csv.reader(io.StringIO(read_data_file(name))))
    return rows[0], [row for row in rows[1:] if row]


@functools.cache
def _reference_table() -> dict[str, tuple[float, float]]:
    header, rows = _read_rows(REFERENCE_FILE)
    if header != ["game", "random", "human"]:
        raise ValueError(f"{REFERENCE_FILE} has columns {header}, expected ['game', 'random', 'human'].")
    return {row[0]: (float(row[1]), float(row[2])) for row in rows}


@functools.cache
def _published_table() -> dict[str, dict[str, float]]:
    header, rows = _read_rows(PUBLISHED_FILE)
    agents = header[1:]
    return {agent: {row[0]: float(row[1 + i]) for row in rows} for i, agent in enumerate(agents)}


def reference_games() -> tuple[str, ...]:
    """
    The 26 Atari100k games, named as in the shipped tables and ALE (``"MsPacman"``, ``"PrivateEye"``), in table order.

    :return: the game names
    """
    return tuple(_reference_table())


def reference_scores() -> dict[str, dict[str, float]]:
    """
    Random and human scores of the 26 Atari100k games (the denominators of the HNS).

    :return: ``{game: {"random": float, "human": float}}``
    """
    return {game: {"random": random, "human": human} for game, (random, human) in _reference_table().items()}


def _name_key(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", name.lower())


def canonical_game_name(game: str) -> str:
    """
    The name of an Atari100k game as the shipped tables spell it.

    Accepts the table's names in any case or with underscores (``"Pong"``, ``"ms_pacman"``) and gymnasium ids of the
    ALE (``"ALE/Pong-v5"``, ``"PongNoFrameskip-v4"``, ``"PongDeterministic-v4"``).

    :param game: game name or id
    :return: the table's name, e.g. ``"Pong"``
    :raises ValueError: the game is not one of the 26 Atari100k games (the message lists them)
    """
    if not isinstance(game, str) or not game.strip():
        raise ValueError(f"A game must be a non-empty string such as 'Pong' or 'ALE/Pong-v5', got {game!r}.")
    name = re.sub(r"^ale/", "", game.strip(), flags=re.IGNORECASE)
    name = re.sub(r"-v\d+$", "", name, flags=re.IGNORECASE)
    name = re.sub(r"(noframeskip|deterministic)$", "", name, flags=re.IGNORECASE)
    games = {_name_key(g): g for g in reference_games()}
    key = _name_key(name)
    if key in games:
        return games[key]
    close = difflib.get_close_matches(key, list(games), n=3, cutoff=0.6)
    hint = f" Did you mean {', '.join(repr(games[k]) for k in close)}?" if close else ""
    raise ValueError(
        f"Unknown Atari100k game {game!r}.{hint} Human-normalised scores exist for the 26 Atari100k games: "
        f"{', '.join(reference_games())}."
    )


def human_normalized_score(game: str, score: ArrayLike) -> float | np.ndarray:
    """
    Human-normalised score ``(score - random) / (human - random)`` of a game score (0: random policy, 1: human).

    :param game: Atari100k game, e.g. ``"Pong"``, ``"ALE/Pong-v5"`` or ``"PongNoFrameskip-v4"``
    :param score: game score(s): a number or an array of any shape
    :return: a float for a scalar score, else an array of the same shape
    :raises ValueError: unknown game (the message lists the 26 valid ones) or non-numeric scores
    """
    random, human = _reference_table()[canonical_game_name(game)]
    try:
        values = np.asarray(score, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"Scores must be numbers or arrays of numbers, got {score!r} for {game!r}.") from error
    normalized = (values - random) / (human - random)
    return float(normalized) if normalized.ndim == 0 else normalized


def published_agents() -> tuple[str, ...]:
    """
    Agents whose per-game Atari100k scores ship with the package (``"DIAMOND"``, ``"IRIS"``, ``"DreamerV3"``,
    ``"STORM"``, ``"TWM"``).

    :return: the agent names, in table order
    """
    return tuple(_published_table())


def _canonical_agent(agent: str) -> str:
    agents = {name.lower(): name for name in published_agents()}
    if not isinstance(agent, str) or agent.lower() not in agents:
        raise ValueError(
            f"No published Atari100k scores for {agent!r}; the shipped tables have: {', '.join(agents.values())}."
        )
    return agents[agent.lower()]


def published_scores(agent: str) -> dict[str, float]:
    """
    Published per-game mean game scores of an agent at 100k agent steps.

    :param agent: one of :func:`published_agents` (case-insensitive)
    :return: ``{game: score}`` for the 26 games
    """
    return dict(_published_table()[_canonical_agent(agent)])


def published_hns(agent: str) -> dict[str, float]:
    """
    Human-normalised published per-game scores of an agent.

    :param agent: one of :func:`published_agents` (case-insensitive)
    :return: ``{game: HNS}`` for the 26 games
    """
    return {game: float(human_normalized_score(game, score)) for game, score in published_scores(agent).items()}
