"""The core benchmark runs end to end in its quick mode and writes every figure (no timing assertions)."""

import json
from pathlib import Path

from benchmark_scripts import load_benchmark

from sb3_jedi.run_info import source_commit

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "core_benchmark.py"


def test_core_benchmark_quick(tmp_path, capsys):
    module = load_benchmark("core_benchmark")
    module.main(["--quick", "--batch-size", "2", "--json", str(tmp_path / "bench.json")])
    results = json.loads((tmp_path / "bench.json").read_text())
    assert set(results["learn_env_steps_per_s"]) == {
        "MlpPolicy_CartPole_default_updates",
        "CnnPolicy_Pong_1+1_updates_per_100_steps",
        "CnnPolicy_Pong_paper_schedule",
    }
    assert all(v > 0 for v in results["learn_env_steps_per_s"].values())
    params = results["params_atari_defaults"]
    parts = ("encoder", "denoiser", "reward_end", "actor_critic")
    assert params["agent_total"] == sum(params[p] for p in parts) and all(params[p] > 0 for p in parts)
    sizes = results["atari_paper_sizes"]
    assert sizes["epoch_s"] > 400 * sizes["world_model_update_s"] > 0
    assert results["predict_latency_ms"]["CnnPolicy_one_env"] > 0
    assert results["predict_latency_ms"]["CnnPolicy_one_env_in_env_loop"] > 0
    assert results["predict_latency_ms"]["CnnPolicy_one_env_fresh_process"] > 0
    assert set(results["predict_breakdown_ms_CnnPolicy_one_env"]) == {
        "encoder",
        "actor_critic_trunk",
        "actor_critic_lstm_cell",
    }
    assert all(v > 0 for v in results["predict_breakdown_ms_CnnPolicy_one_env"].values())
    # The throughput key says what it changes from the defaults.
    overrides = results["learn_overrides"]["MlpPolicy_CartPole_default_updates"]
    assert overrides["learning_starts"] == 100 and overrides["first_epoch_gradient_steps"] == 0
    assert 0 < sizes["world_model_update_without_decoder_s"]
    assert "| params_atari_defaults.agent_total |" in capsys.readouterr().out
    # The record names the code it measured (this checkout's commit, "-dirty" when tracked code differs from it).
    assert results["commit"] == source_commit(BENCHMARK)


def test_readme_quotes_the_recorded_core_benchmark():
    # The README's core figures are read off the record, not typed from memory.
    root = BENCHMARK.parents[1]
    readme = (root / "README.md").read_text()
    record = json.loads((root / "benchmarks" / "results" / "core_cpu.json").read_text())
    assert record["torch_threads"] == 1 and not record["quick"]
    # "machine otherwise idle": the benchmark's own thread is the load.
    assert record["load_average_1min"] <= 1.5, "core_cpu.json was measured on a busy machine"
    sizes = record["atari_paper_sizes"]
    wm, wm_without = sizes["world_model_update_s"], sizes["world_model_update_without_decoder_s"]
    assert f"takes {wm:.1f} s and one actor-critic update {sizes['actor_critic_update_s']:.1f} s" in readme
    assert f"about {sizes['epoch_s'] / 3600:.1f} hours" in readme
    decoder_share = f"takes {100 * (wm - wm_without) / wm:.0f}% of that update"
    assert f"{decoder_share}\n  ({wm:.1f} s with it, {wm_without:.1f} s without)" in readme
    latency = record["predict_latency_ms"]
    predict = latency["CnnPolicy_one_env"]
    assert f"{latency['MlpPolicy_one_env']:.2f} ms (MlpPolicy) and\n  {predict:.1f} ms (CnnPolicy;" in readme
    assert f"{latency['CnnPolicy_one_env_in_env_loop']:.1f} ms inside an env loop" in readme
    assert f"{latency['CnnPolicy_one_env_fresh_process']:.1f} ms in a fresh process" in readme
    breakdown = record["predict_breakdown_ms_CnnPolicy_one_env"]
    encoder_share = f"the encoder takes {100 * breakdown['encoder'] / predict:.0f}% of it"
    assert f"{encoder_share}\n  ({breakdown['encoder']:.1f} of {predict:.1f} ms)" in readme
    assert f"convolutions {100 * breakdown['actor_critic_trunk'] / predict:.0f}%" in readme
    assert f"LSTM cell {100 * breakdown['actor_critic_lstm_cell'] / predict:.0f}%" in readme
    params = record["params_atari_defaults"]
    assert f"for Pong (6 actions)\n  {params['agent_total'] / 1e6:.2f}M" in readme
