"""
Aggregate Atari100k metrics with stratified-bootstrap confidence intervals (Agarwal et al., "Deep Reinforcement
Learning at the Edge of the Statistical Precipice", NeurIPS 2021, through their ``rliable`` library).

Every metric is computed on human-normalised scores (HNS) arranged as a ``runs x games`` matrix:

- ``mean``: mean over games of the per-game mean HNS;
- ``median``: median over games of the per-game mean HNS;
- ``iqm``: interquartile mean, the 25%-trimmed mean of all ``runs x games`` scores;
- ``optimality_gap``: mean over all scores of ``max(1 - HNS, 0)`` (how far below human level, lower is better);
- ``har_hns``: harmonic-mean HNS of the JEDI follow-up paper (arXiv 2605.13013),
  ``1 / mean_games(1 / (HNS_game + 0.1))`` over per-game mean HNS. It is dominated by the weakest games, so a method
  cannot hide its failures behind a few superhuman games. It is undefined (NaN) as soon as a game's HNS is <= -0.1;
- ``superhuman_games``: number of games whose mean HNS is above 1.

The 95% intervals resample the runs of each game independently (stratified bootstrap, percentile method), i.e. they
measure the uncertainty from the finite number of seeds on this fixed set of games. With one run per game (published
tables of means) the intervals collapse to the point estimates.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from rliable import library as rly_library
from rliable import metrics as rly_metrics

from sb3_jedi.evaluation.reference import canonical_game_name, human_normalized_score

__all__ = [
    "METRICS",
    "AggregateMetrics",
    "IntervalEstimate",
    "aggregate_metrics",
    "harmonic_mean_hns",
    "hns_matrix",
]

#: Metrics with a point estimate and a bootstrap interval, in the order they are reported.
METRICS: tuple[str, ...] = ("mean", "median", "iqm", "optimality_gap", "har_hns")
#: Offset of the harmonic-mean HNS (arXiv 2605.13013): keeps games with HNS near 0 from making it 0.
HAR_HNS_OFFSET = 0.1
UNEQUAL_RUNS_POLICIES = ("error", "truncate")


@dataclass(frozen=True)
class IntervalEstimate:
    """A point estimate and its confidence interval ``[low, high]``."""

    point: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.point:.3f} [{self.low:.3f}, {self.high:.3f}]"


@dataclass(frozen=True)
class AggregateMetrics:
    """
    Aggregate HNS metrics of one agent on a set of games (see the module docstring for their definitions).

    :param mean: mean HNS, with its bootstrap interval
    :param median: median HNS
    :param iqm: interquartile mean HNS
    :param optimality_gap: optimality gap (lower is better)
    :param har_hns: harmonic-mean HNS (NaN when a game's HNS is <= -0.1)
    :param superhuman_games: number of games with mean HNS > 1
    :param games: the games aggregated, in column order
    :param n_runs: runs per game used (after truncation, see ``aggregate_metrics``)
    :param per_game_hns: mean HNS of each game over its runs
    :param reps: bootstrap replications
    :param confidence: coverage of the intervals
    """

    mean: IntervalEstimate
    median: IntervalEstimate
    iqm: IntervalEstimate
    optimality_gap: IntervalEstimate
    har_hns: IntervalEstimate
    superhuman_games: int
    games: tuple[str, ...]
    n_runs: int
    per_game_hns: dict[str, float] = field(default_factory=dict)
    reps: int = 0
    confidence: float = 0.95

    def metric(self, name: str) -> IntervalEstimate:
        """
        One of the interval metrics by name.

        :param name: one of :data:`METRICS`
        :return: its estimate
        """
        if name not in METRICS:
            raise ValueError(f"Unknown metric {name!r}; the metrics are {', '.join(METRICS)}.")
        return getattr(self, name)

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python form (JSON-serialisable, NaN aside)."""
        data = asdict(self)
        data["games"] = list(self.games)
        return data


def harmonic_mean_hns(per_game_hns: ArrayLike) -> float:
    """
    Harmonic-mean HNS of the JEDI follow-up paper (arXiv 2605.13013): ``1 / mean_i(1 / (HNS_i + 0.1))``.

    :param per_game_hns: mean HNS of each game (one value per game)
    :return: the harmonic-mean HNS; NaN when some ``HNS_i <= -0.1`` (the harmonic mean is undefined there)
    """
    values = np.asarray(per_game_hns, dtype=np.float64).reshape(-1)
    if values.size == 0:
        raise ValueError("harmonic_mean_hns needs at least one game.")
    shifted = values + HAR_HNS_OFFSET
    if np.any(shifted <= 0):
        return math.nan
    return float(1.0 / np.mean(1.0 / shifted))


def _metric_vector(matrix: np.ndarray) -> np.ndarray:
    """Every metric of a ``runs x games`` HNS matrix, in the order of :data:`METRICS`, then the superhuman count."""
    per_game = matrix.mean(axis=0)
    return np.array(
        [
            rly_metrics.aggregate_mean(matrix),
            rly_metrics.aggregate_median(matrix),
            rly_metrics.aggregate_iqm(matrix),
            rly_metrics.aggregate_optimality_gap(matrix),
            harmonic_mean_hns(per_game),
            float(np.sum(per_game > 1.0)),
        ]
    )


def hns_matrix(
    scores: Mapping[str, ArrayLike],
    normalized: bool = False,
    unequal_runs: str = "error",
) -> tuple[np.ndarray, tuple[str, ...]]:
    """
    Arrange per-run scores as the ``runs x games`` HNS matrix that ``rliable`` expects.

    :param scores: ``{game: per-run scores}``; a single number counts as one run. Games are named as in the shipped
        tables or as ALE ids (``"ALE/Pong-v5"``)
    :param normalized: the scores are already human-normalised (then game names outside Atari100k are accepted)
    :param unequal_runs: what to do when games have different numbers of runs: ``"error"`` raises, ``"truncate"``
        keeps the first ``min`` runs of every game (in the order given, e.g. by seed)
    :return: the matrix and the game of each column
    """
    if unequal_runs not in UNEQUAL_RUNS_POLICIES:
        raise ValueError(f"unequal_runs must be one of {UNEQUAL_RUNS_POLICIES}, got {unequal_runs!r}.")
    if not isinstance(scores, Mapping) or len(scores) == 0:
        raise ValueError("`scores` must be a non-empty mapping {game: array of per-run scores}, e.g. {'Pong': [20.1, 18.3]}.")
    columns: dict[str, np.ndarray] = {}
    for game, values in scores.items():
        if normalized:
            try:
                name = canonical_game_name(game)
            except ValueError:
                name = str(game)
            try:
                column = np.asarray(values, dtype=np.float64).reshape(-1)
            except (TypeError, ValueError) as error:
                raise ValueError(f"Scores of {game!r} must be numbers, got {values!r}.") from error
        else:
            name = canonical_game_name(game)
            column = np.asarray(human_normalized_score(name, values), dtype=np.float64).reshape(-1)
        if name in columns:
            raise ValueError(f"Game {name!r} appears twice in `scores` (as {game!r} and under another spelling).")
        if column.size == 0:
            raise ValueError(f"Game {name!r} has no scores; drop it or add at least one run.")
        if not np.all(np.isfinite(column)):
            raise ValueError(f"Scores of {name!r} contain NaN or infinite values: {column.tolist()}.")
        columns[name] = column
    counts = {game: column.size for game, column in columns.items()}
    n_runs = min(counts.values())
    if len(set(counts.values())) > 1:
        if unequal_runs == "error":
            raise ValueError(
                f"Games have different numbers of runs ({counts}); the stratified bootstrap needs a runs x games matrix. "
                "Give every game the same number of runs, or pass unequal_runs='truncate' to keep the first "
                f"{n_runs} run(s) of each game."
            )
        columns = {game: column[:n_runs] for game, column in columns.items()}
    return np.stack(list(columns.values()), axis=1), tuple(columns)


def aggregate_metrics(
    scores: Mapping[str, ArrayLike],
    reps: int = 10_000,
    confidence: float = 0.95,
    seed: int | None = 0,
    normalized: bool = False,
    unequal_runs: str = "error",
) -> AggregateMetrics:
    """
    Mean, median, IQM and optimality gap of the HNS with stratified-bootstrap intervals (``rliable``), plus the
    harmonic-mean HNS and the number of superhuman games.

    :param scores: ``{game: array of per-run scores}`` (game scores, e.g. each run's mean evaluation score; a single
        number counts as one run). Game names as in the shipped tables or ALE ids (``"ALE/Pong-v5"``)
    :param reps: bootstrap replications (rliable advises 50,000 for final figures; 10,000 gives intervals stable to
        about 0.01 HNS on 26 games x 5 runs and takes about a second and a half)
    :param confidence: coverage of the intervals (0.95)
    :param seed: seed of the bootstrap resampling: the same seed gives the same intervals; ``None`` draws a fresh one.
        The global NumPy random state is left as it was
    :param normalized: the scores are already human-normalised
    :param unequal_runs: ``"error"`` (default) when games have different numbers of runs, or ``"truncate"`` to keep
        the first ``min`` runs of each game (see :func:`hns_matrix`)
    :return: the metrics
    """
    if isinstance(reps, bool) or not isinstance(reps, int | np.integer) or reps < 1:
        raise ValueError(f"reps must be a positive integer (number of bootstrap replications), got {reps!r}.")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), e.g. 0.95, got {confidence!r}.")
    matrix, games = hns_matrix(scores, normalized=normalized, unequal_runs=unequal_runs)
    point, low, high = _bootstrap(matrix, int(reps), confidence, seed)
    estimates = {name: IntervalEstimate(float(point[i]), float(low[i]), float(high[i])) for i, name in enumerate(METRICS)}
    per_game = matrix.mean(axis=0)
    return AggregateMetrics(
        **estimates,
        superhuman_games=int(point[len(METRICS)]),
        games=games,
        n_runs=int(matrix.shape[0]),
        per_game_hns={game: float(value) for game, value in zip(games, per_game, strict=True)},
        reps=int(reps),
        confidence=float(confidence),
    )


def _bootstrap(matrix: np.ndarray, reps: int, confidence: float, seed: int | None) -> tuple[np.ndarray, ...]:
    # rliable 1.2's StratifiedBootstrap draws its indices from NumPy's *global* generator and ignores `random_state`,
    # so seeding means seeding the global generator (and restoring it afterwards). `random_state` is passed as well,
    # for rliable versions that honour it.
    saved_state = np.random.get_state()
    random_state = None
    if seed is not None:
        np.random.seed(seed)
        random_state = np.random.RandomState(seed)
    try:
        with warnings.catch_warnings():
            # arch warns that `random_state` is deprecated; a NaN harmonic mean makes the percentiles warn too.
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            points, intervals = rly_library.get_interval_estimates(
                {"scores": matrix},
                _metric_vector,
                reps=reps,
                confidence_interval_size=confidence,
                random_state=random_state,
            )
    finally:
        if seed is not None:
            np.random.set_state(saved_state)
    interval = np.asarray(intervals["scores"], dtype=np.float64)
    return np.asarray(points["scores"], dtype=np.float64), interval[0], interval[1]
