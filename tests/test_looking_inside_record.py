"""The figures docs/looking-inside.md quotes from the recorded diagnostics runs match their JSON records."""

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The page's words with single spaces, wherever its lines wrap.
DOC = " ".join((ROOT / "docs" / "looking-inside.md").read_text().split())


def _series(name: str) -> dict[str, list[list[float]]]:
    return json.loads((ROOT / "benchmarks" / "results" / f"looking_inside_{name}.json").read_text())["series"]


def _at(series: list[list[float]], step: int) -> float:
    return dict((int(s), v) for s, v in series)[step]


def test_pong_record_is_the_documented_run() -> None:
    record = json.loads((ROOT / "benchmarks" / "results" / "looking_inside_Pong.json").read_text())
    assert (record["env"], record["policy"], record["preset"], record["steps"]) == ("Pong", "CnnPolicy", "cpu", 6000)
    assert record["log_interval_epochs"] == 5 and record["hyperparameters"] == "defaults"
    assert f"{round(record['minutes'], 1)} minutes" in DOC
    for image in ("scalars", "open_loop", "dream"):
        assert (ROOT / "docs" / "images" / f"looking_inside_Pong_{image}.png").is_file()
        assert f"images/looking_inside_Pong_{image}.png" in DOC


@pytest.mark.parametrize(
    ("quoted", "key", "step", "digits"),
    [
        ("(25.4 at the end)", "open_loop_mse_ratio", 6000, 1),
        ("from 0.89 at 2,000", "latent_live_fraction", 2000, 2),
        ("0.43 at 4,000", "latent_live_fraction", 4000, 2),
        ("rank to 40 (of 512)", "latent_effective_rank", 4500, 0),
        ("back to 0.63 and 58", "latent_live_fraction", 6000, 2),
        ("0.63 and 58 by", "latent_effective_rank", 6000, 0),
        ("between 0.67 and 0.85", "replay_latent_live_fraction", 4500, 2),
        ("between 0.67 and 0.85", "replay_latent_live_fraction", 2500, 2),
        ("between 131 and 146", "replay_latent_effective_rank", 2500, 0),
        ("between 131 and 146", "replay_latent_effective_rank", 1500, 0),
        ("from 21.5", "open_loop_recon_psnr", 1500, 1),
        ("to 29.8 dB", "open_loop_recon_psnr", 6000, 1),
        ("reach 26.9 dB", "open_loop_psnr", 6000, 1),
        ("(0.17% against", "open_loop_end_rate", 6000, 4),
        ("against 0.15% per step", "open_loop_real_end_rate", 6000, 4),
    ],
)
def test_pong_figures_match_the_record(quoted: str, key: str, step: int, digits: int) -> None:
    assert quoted in DOC, f"docs/looking-inside.md no longer says {quoted!r}"
    value = _at(_series("Pong")[key], step)
    number = quoted.replace("%", " %").replace("(", " ").replace(")", " ").split()
    figures = [float(word) for word in number if word.replace(".", "", 1).isdigit()]
    expected = round(value * 100, digits - 2) if "%" in quoted else round(value, digits)
    assert any(abs(figure - expected) < 1e-9 for figure in figures), f"{quoted!r}: record says {expected} ({value})"


def test_diagnostics_overhead_matches_the_core_benchmark() -> None:
    sizes = json.loads((ROOT / "benchmarks" / "results" / "core_cpu.json").read_text())["atari_paper_sizes"]
    assert f"one measurement took {sizes['world_model_diagnostics_s']:.0f} s" in DOC
    assert f"about as long as {sizes['world_model_diagnostics_s'] / sizes['world_model_update_s']:.0f} world-model" in DOC
    assert f"against {sizes['epoch_s']:,.0f} s for one epoch" in DOC
    overhead = sizes["world_model_diagnostics_overhead_every_100_epochs"]
    assert f"diagnostics cost {overhead * 100:.3f}% of the training time" in DOC
