"""Reference data, human-normalised scores, aggregate metrics and the Agent-/Human-Optimal split (sb3_jedi.evaluation)."""

import csv
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import scipy.stats

from sb3_jedi.envs import ATARI100K_GAMES
from sb3_jedi.evaluation import (
    METRICS,
    aggregate_metrics,
    canonical_game_name,
    harmonic_mean_hns,
    human_normalized_score,
    packaged_task_split,
    published_agents,
    published_hns,
    published_scores,
    reference_games,
    reference_scores,
    split_metrics,
    task_split,
)

# The reference copy the package data was taken from (present in the development checkout only).
SHARED_REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"
DATA_FILES = ("atari100k_reference_scores.csv", "atari100k_published_scores.csv", "atari100k_task_split.csv")


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(text.splitlines()))


def packaged(name: str) -> str:
    return resources.files("sb3_jedi.evaluation").joinpath("data").joinpath(name).read_text()


def test_package_data_is_shipped_and_matches_the_reference_copy():
    data = resources.files("sb3_jedi.evaluation").joinpath("data")
    names = {entry.name for entry in data.iterdir()}
    assert set(DATA_FILES) | {"README.md"} <= names
    if not SHARED_REFERENCE.is_dir():
        pytest.skip("the shared reference copy exists only in the development checkout")
    for name in DATA_FILES:
        assert packaged(name) == (SHARED_REFERENCE / name).read_text(), name


def test_reference_games_are_the_26_atari100k_games():
    assert reference_games() == ATARI100K_GAMES
    scores = reference_scores()
    assert scores["Pong"] == {"random": -20.7, "human": 14.6}
    assert set(published_agents()) == {"DIAMOND", "IRIS", "DreamerV3", "STORM", "TWM"}
    for agent in published_agents():
        assert set(published_scores(agent)) == set(ATARI100K_GAMES)


@pytest.mark.parametrize("game", ["Pong", "pong", "ALE/Pong-v5", "PongNoFrameskip-v4", "PongDeterministic-v4"])
def test_game_name_spellings(game):
    assert canonical_game_name(game) == "Pong"
    assert human_normalized_score(game, 14.6) == pytest.approx(1.0)


def test_human_normalized_score_values_and_shapes():
    for game, ref in reference_scores().items():
        assert human_normalized_score(game, ref["random"]) == pytest.approx(0.0)
        assert human_normalized_score(game, ref["human"]) == pytest.approx(1.0)
    assert canonical_game_name("ms_pacman") == "MsPacman"
    assert canonical_game_name("ALE/PrivateEye-v5") == "PrivateEye"
    value = human_normalized_score("Breakout", 30.5)
    assert isinstance(value, float) and value == pytest.approx(1.0)
    # (score - random) / (human - random) with Breakout's 1.7 and 30.5, elementwise on arrays of any shape.
    scores = np.array([[1.7, 16.1], [59.3, 30.5]])
    np.testing.assert_allclose(human_normalized_score("Breakout", scores), (scores - 1.7) / 28.8)
    assert human_normalized_score("Breakout", [1.7, 30.5]).shape == (2,)


def test_unknown_game_and_agent_errors_name_the_valid_ones():
    with pytest.raises(ValueError, match=r"Unknown Atari100k game 'Pongg'\. Did you mean 'Pong'\?.*Alien, Amidar"):
        human_normalized_score("Pongg", 1.0)
    with pytest.raises(ValueError, match="26 Atari100k games"):
        human_normalized_score("CartPole-v1", 1.0)
    with pytest.raises(ValueError, match="non-empty string"):
        canonical_game_name("")
    with pytest.raises(ValueError, match="numbers"):
        human_normalized_score("Pong", "a lot")
    with pytest.raises(ValueError, match="DIAMOND, IRIS, DreamerV3, STORM, TWM"):
        published_scores("MuZero")
    assert published_scores("diamond") == published_scores("DIAMOND")


@pytest.mark.parametrize(
    ("agent", "mean_hns"), [("DIAMOND", 1.459), ("IRIS", 1.046), ("STORM", 1.267), ("TWM", 0.956), ("DreamerV3", 1.124)]
)
def test_published_mean_hns_matches_the_papers(agent, mean_hns):
    metrics = aggregate_metrics(published_scores(agent), reps=200)
    assert metrics.mean.point == pytest.approx(mean_hns, abs=1e-3)
    assert metrics.n_runs == 1 and len(metrics.games) == 26
    # One run per game: nothing to resample, the interval is the point.
    assert metrics.mean.low == metrics.mean.high == metrics.mean.point
    # Same number straight from the formula, game by game.
    ref = reference_scores()
    scores = published_scores(agent)
    by_hand = np.mean([(s - ref[g]["random"]) / (ref[g]["human"] - ref[g]["random"]) for g, s in scores.items()])
    assert metrics.mean.point == pytest.approx(by_hand)


def test_harmonic_mean_hns_of_diamond_and_superhuman_games():
    metrics = aggregate_metrics(published_scores("DIAMOND"), reps=200)
    assert metrics.har_hns.point == pytest.approx(0.319, abs=1e-3)
    assert harmonic_mean_hns(list(published_hns("DIAMOND").values())) == pytest.approx(0.319, abs=1e-3)
    # DIAMOND's paper: superhuman on 11 games.
    assert metrics.superhuman_games == 11 == sum(h > 1 for h in published_hns("DIAMOND").values())
    assert harmonic_mean_hns([0.9, 0.9]) == pytest.approx(1.0)
    # 1 / mean(1 / (h + 0.1)) is dominated by the weakest game.
    assert harmonic_mean_hns([0.0, 9.9]) == pytest.approx(1 / ((10 + 0.1) / 2))
    assert np.isnan(harmonic_mean_hns([1.0, -0.2]))
    with pytest.raises(ValueError, match="at least one game"):
        harmonic_mean_hns([])


def known_matrix() -> np.ndarray:
    # 5 runs x 8 games of HNS, spread enough that trimming matters.
    rng = np.random.default_rng(3)
    return rng.lognormal(mean=-0.5, sigma=1.0, size=(5, 8)) - 0.05


def test_metrics_follow_their_definitions_on_a_known_matrix():
    matrix = known_matrix()
    games = ATARI100K_GAMES[:8]
    scores = {game: matrix[:, j] for j, game in enumerate(games)}
    metrics = aggregate_metrics(scores, normalized=True, reps=500)
    assert metrics.games == games and metrics.n_runs == 5
    assert metrics.iqm.point == pytest.approx(scipy.stats.trim_mean(matrix, 0.25, axis=None))
    # IQM is the mean of the middle half of the 40 scores.
    middle = np.sort(matrix.reshape(-1))[10:30]
    assert metrics.iqm.point == pytest.approx(middle.mean())
    per_game = matrix.mean(axis=0)
    assert metrics.mean.point == pytest.approx(per_game.mean())
    assert metrics.median.point == pytest.approx(np.median(per_game))
    assert metrics.optimality_gap.point == pytest.approx(np.mean(np.maximum(1.0 - matrix, 0.0)))
    assert metrics.har_hns.point == pytest.approx(1.0 / np.mean(1.0 / (per_game + 0.1)))
    assert metrics.superhuman_games == int(np.sum(per_game > 1))
    assert metrics.per_game_hns == pytest.approx(dict(zip(games, per_game, strict=True)))
    # Game scores are normalised first: the same matrix expressed as raw scores gives the same metrics.
    ref = reference_scores()
    raw = {g: matrix[:, j] * (ref[g]["human"] - ref[g]["random"]) + ref[g]["random"] for j, g in enumerate(games)}
    assert aggregate_metrics(raw, reps=500).iqm.point == pytest.approx(metrics.iqm.point)


def test_bootstrap_intervals_contain_the_points_and_are_seeded():
    matrix = known_matrix()
    scores = {game: matrix[:, j] for j, game in enumerate(ATARI100K_GAMES[:8])}
    numpy_state = np.random.get_state()[1].copy()
    first = aggregate_metrics(scores, normalized=True, reps=1000, seed=7)
    np.testing.assert_array_equal(np.random.get_state()[1], numpy_state)  # the global generator is left alone
    for name in METRICS:
        estimate = first.metric(name)
        assert estimate.low <= estimate.point <= estimate.high, name
        assert estimate.low < estimate.high, name  # 5 runs per game: real uncertainty
    again = aggregate_metrics(scores, normalized=True, reps=1000, seed=7)
    other = aggregate_metrics(scores, normalized=True, reps=1000, seed=8)
    assert again == first
    assert other.mean.point == first.mean.point and other.mean.low != first.mean.low
    # A wider coverage gives a wider interval.
    wide = aggregate_metrics(scores, normalized=True, reps=1000, seed=7, confidence=0.99)
    assert wide.mean.low <= first.mean.low and wide.mean.high >= first.mean.high
    as_dict = first.to_dict()
    assert as_dict["iqm"]["point"] == first.iqm.point and as_dict["games"] == list(ATARI100K_GAMES[:8])


def test_unequal_run_counts_and_bad_input():
    scores = {"Pong": [1.0, 2.0, 3.0], "Breakout": [10.0, 20.0]}
    with pytest.raises(ValueError, match=r"different numbers of runs.*unequal_runs='truncate'"):
        aggregate_metrics(scores, reps=100)
    truncated = aggregate_metrics(scores, reps=100, unequal_runs="truncate")
    assert truncated.n_runs == 2
    assert truncated.per_game_hns["Pong"] == pytest.approx(human_normalized_score("Pong", 1.5))
    with pytest.raises(ValueError, match="unequal_runs must be one of"):
        aggregate_metrics(scores, unequal_runs="pad")
    with pytest.raises(ValueError, match="non-empty mapping"):
        aggregate_metrics({})
    with pytest.raises(ValueError, match="appears twice"):
        aggregate_metrics({"Pong": [1.0], "ALE/Pong-v5": [2.0]})
    with pytest.raises(ValueError, match="NaN"):
        aggregate_metrics({"Pong": [np.nan]})
    with pytest.raises(ValueError, match="no scores"):
        aggregate_metrics({"Pong": []})
    with pytest.raises(ValueError, match="reps"):
        aggregate_metrics({"Pong": [1.0]}, reps=0)
    with pytest.raises(ValueError, match="confidence"):
        aggregate_metrics({"Pong": [1.0]}, confidence=95)
    with pytest.raises(ValueError, match="Unknown Atari100k game"):
        aggregate_metrics({"Pongg": [1.0]})
    # Already-normalised scores may come from other suites.
    assert aggregate_metrics({"my-task": [0.5, 1.5]}, normalized=True, reps=100).mean.point == pytest.approx(1.0)


def derive_split_by_hand() -> tuple[list[str], list[str]]:
    """The paper's rule written out independently of the package: mean HNS of the four agents, sorted, cut in two."""
    ref = {row["game"]: row for row in read_csv(packaged("atari100k_reference_scores.csv"))}
    rows = read_csv(packaged("atari100k_published_scores.csv"))
    ranking = []
    for row in rows:
        game = row["game"]
        random, human = float(ref[game]["random"]), float(ref[game]["human"])
        hns = [(float(row[agent]) - random) / (human - random) for agent in ("IRIS", "TWM", "DreamerV3", "STORM")]
        ranking.append((sum(hns) / 4, game))
    ranking.sort(reverse=True)
    return [g for _, g in ranking[:13]], [g for _, g in ranking[13:]]


PAPER_AGENT_OPTIMAL = (
    "Boxing",
    "Krull",
    "CrazyClimber",
    "Gopher",
    "RoadRunner",
    "Jamesbond",
    "Assault",
    "Breakout",
    "KungFuMaster",
    "Pong",
    "Kangaroo",
    "Freeway",
    "UpNDown",
)


def test_task_split_reproduces_the_papers_split():
    split = task_split()
    assert len(split.agent_optimal) == len(split.human_optimal) == 13
    assert set(split.agent_optimal) | set(split.human_optimal) == set(ATARI100K_GAMES)
    # Against the shipped list, including its order and rounded ranking scores ...
    expected = packaged_task_split()
    assert split.agent_optimal == expected.agent_optimal
    assert split.human_optimal == expected.human_optimal
    for game, value in expected.reference_mean_hns.items():
        assert split.reference_mean_hns[game] == pytest.approx(value, abs=1e-4)
    # ... against the rule re-derived here ...
    agent_optimal, human_optimal = derive_split_by_hand()
    assert list(split.agent_optimal) == agent_optimal and list(split.human_optimal) == human_optimal
    # ... and against the paper's 13 Agent-Optimal games, by decreasing reference HNS (the rest are Human-Optimal).
    assert split.agent_optimal == PAPER_AGENT_OPTIMAL
    assert split.set_of("ALE/Boxing-v5") == "agent_optimal" and split.set_of("Seaquest") == "human_optimal"
    assert split.games("all") == split.agent_optimal + split.human_optimal


def test_task_split_depends_on_the_reference_agents():
    diamond_only = task_split(reference_agents=("DIAMOND",))
    hns = published_hns("DIAMOND")
    assert set(diamond_only.agent_optimal) == set(sorted(hns, key=hns.get, reverse=True)[:13])
    assert diamond_only.agent_optimal != task_split().agent_optimal
    with pytest.raises(ValueError, match="No published Atari100k scores"):
        task_split(reference_agents=("IRIS", "Agent57"))
    with pytest.raises(ValueError, match="non-empty sequence"):
        task_split(reference_agents="IRIS")
    with pytest.raises(ValueError, match="twice"):
        task_split(reference_agents=("IRIS", "iris"))


def test_split_metrics_on_each_half_and_on_all_games():
    results = split_metrics(published_scores("DIAMOND"), reps=200)
    assert list(results) == ["agent_optimal", "human_optimal", "all"]
    split = task_split()
    assert results["agent_optimal"].games == split.agent_optimal
    assert results["human_optimal"].games == split.human_optimal
    assert len(results["all"].games) == 26
    hns = published_hns("DIAMOND")
    assert results["agent_optimal"].mean.point == pytest.approx(np.mean([hns[g] for g in split.agent_optimal]))
    assert results["human_optimal"].mean.point == pytest.approx(np.mean([hns[g] for g in split.human_optimal]))
    # The asymmetry the paper is about: far above human level on one half, far below on the other.
    assert results["agent_optimal"].mean.point > 1.0 > results["human_optimal"].mean.point
    # A half with none of the given games is left out.
    partial = split_metrics({"Boxing": [80.0, 90.0], "ALE/Krull-v5": [8000.0, 7000.0]}, reps=200)
    assert list(partial) == ["agent_optimal", "all"]
    assert partial["all"].games == ("Boxing", "Krull")
