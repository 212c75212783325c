"""The core benchmark runs end to end in its quick mode and writes every figure (no timing assertions)."""

import importlib.util
import json
from pathlib import Path

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "core_benchmark.py"


def test_core_benchmark_quick(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("core_benchmark", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
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
