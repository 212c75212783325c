"""benchmarks/offline_world_model.py: world-model-only training on one random-action buffer, variant by variant."""

import json
import math

from benchmark_scripts import load_benchmark

offline_world_model = load_benchmark("offline_world_model")


def test_a_variant_updates_the_base_policy_kwargs_key_by_key():
    base = {"learning_rate": 1e-3, "policy_kwargs": {"encoder_kwargs": {"channels": (8, 8)}, "use_decoder": True}}
    merged = offline_world_model.merge_variant(base, {"batch_size": 8, "policy_kwargs": {"use_decoder": False}})
    assert merged == {
        "learning_rate": 1e-3,
        "batch_size": 8,
        "policy_kwargs": {"encoder_kwargs": {"channels": (8, 8)}, "use_decoder": False},
    }
    assert base["policy_kwargs"]["use_decoder"] is True  # the base is left as it was


def test_variants_train_on_the_same_buffer_and_are_recorded(tmp_path):
    path = tmp_path / "offline.json"
    variants = [{}, {"policy_kwargs": {"edm_kwargs": {"sigma_data": 0.1}}}]
    record = offline_world_model.main(
        [
            "--env", "CartPole-v1",
            "--kwargs", json.dumps({"policy_kwargs": {"latent_dim": 8}}),
            "--variants", json.dumps(variants),
            "--collect-steps", "300",
            "--updates", "4",
            "--eval-every", "2",
            "--batch-size", "8",
            "--json", str(path),
        ]
    )  # fmt: skip
    assert json.loads(path.read_text()) == record
    assert [entry["variant"] for entry in record["variants"]] == variants
    for entry in record["variants"]:
        assert [point["updates"] for point in entry["curve"]] == [2, 4]
        assert all(math.isfinite(point["open_loop_mse_ratio"]) for point in entry["curve"])
    # Same buffer, batches and held-out segments: the variants differ only by sigma_data, and so do their losses.
    first, second = (entry["curve"][0]["denoising_loss"] for entry in record["variants"])
    assert first != second
    assert record["collect_steps"] == 300 and record["commit"]
