"""The world-model benchmark runs end to end in --quick mode and writes every figure (no timing assertions)."""

import json
import math

import pytest
import torch as th

from sb3_jedi.benchmarks.world_model import (
    AGENTS,
    MEASURES,
    MEMORY_METHOD,
    PARAM_COMPONENTS,
    format_markdown_table,
    main,
    measure_peak_memory,
    run_world_model_benchmark,
)


def test_quick_run_writes_valid_json_with_every_key(tmp_path, capsys):
    threads = th.get_num_threads()
    path = tmp_path / "results" / "wm.json"
    returned = main(["--quick", "--json", str(path), "--threads", "1"])
    assert th.get_num_threads() == threads  # the run restores the caller's thread count
    result = json.loads(path.read_text())
    assert result == json.loads(json.dumps(returned))

    assert {"device", "device_type", "torch_threads", "batch_size", "versions", "latent", "pixel", "ratios"} <= result.keys()
    assert result["device"] and result["device_type"] == "cpu" and result["torch_threads"] == 1
    assert result["batch_size"] == 2 and result["quick"] is True and result["repeats"] == 1
    assert {"sb3_jedi", "torch", "stable_baselines3", "python"} <= result["versions"].keys()
    assert result["settings"]["imagination_horizon"] == 15 and result["settings"]["memory_method"]

    for agent in AGENTS:
        measured = result[agent]
        assert measured.keys() == {*MEASURES, "params"}
        for key in MEASURES:
            assert math.isfinite(measured[key]) and measured[key] > 0, (agent, key)
        assert measured["imagined_frames_per_s"] == pytest.approx(result["batch_size"] / measured["imagine_step_s"])
        params = measured["params"]
        assert params.keys() == {*PARAM_COMPONENTS, "total"}
        assert params["total"] == sum(params[c] for c in PARAM_COMPONENTS)
    assert result["latent"]["params"]["encoder"] > 0 and result["pixel"]["params"]["encoder"] == 0

    assert result["ratios"].keys() == {*MEASURES, "params"}
    for key in MEASURES:
        assert result["ratios"][key] == pytest.approx(result["pixel"][key] / result["latent"][key])
    totals = {agent: result[agent]["params"]["total"] for agent in AGENTS}
    assert result["ratios"]["params"] == pytest.approx(totals["pixel"] / totals["latent"])

    printed = capsys.readouterr().out
    assert printed.strip() == format_markdown_table(result).strip()
    assert "| measure | latent (JEDI) | pixel (DIAMOND) | pixel / latent |" in printed
    assert "| imagined frames per second |" in printed and "| parameters: total |" in printed


def test_peak_memory_grows_with_the_batch():
    # The measure must see the step's own memory: a 16x larger batch of the pixel agent needs clearly more.
    (small, method), (large, _) = measure_peak_memory([("pixel", "train", 2), ("pixel", "train", 32)], quick=True, threads=1)
    assert method in MEMORY_METHOD and method != "cuda"
    assert 0 < small < large and large - small > 64 * 2**20


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"device": "tpu"}, "device"),
        ({"batch_size": 0}, "batch_size"),
        ({"repeats": 0}, "repeats"),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        run_world_model_benchmark(quick=True, **kwargs)
