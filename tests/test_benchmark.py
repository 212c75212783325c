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
        "MlpPolicy_CartPole_default_schedule",
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
    assert "| params_atari_defaults.agent_total |" in capsys.readouterr().out
