"""The Atari100k evaluation protocol, benchmark runner (process pool, resume, Ray) and report, end to end on a tiny budget."""

import json
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
import torch as th
from stable_baselines3 import PPO

from sb3_jedi import JEDI
from sb3_jedi.checkpoints import CheckpointCallback, latest_checkpoint
from sb3_jedi.envs import make_atari100k_env
from sb3_jedi.evaluation import (
    evaluate_atari100k,
    human_normalized_score,
    load_results,
    run_atari100k,
    write_report,
)
from sb3_jedi.evaluation import runner as runner_module

# Tiny networks and schedule (as in tests/test_jedi.py's real-ALE test, smaller still): 100 random steps, then
# epochs of 100 steps with one world-model and one actor-critic update.
TINY = {
    "learning_starts": 100,
    "train_freq": 100,
    "gradient_steps": 1,
    "actor_critic_gradient_steps": 1,
    "first_epoch_gradient_steps": 1,
    "first_epoch_actor_critic_gradient_steps": 1,
    "batch_size": 2,
    "buffer_size": 1_000,
    "imagination_horizon": 2,
    "policy_kwargs": {
        "encoder_kwargs": {"channels": [8, 8, 8, 4]},
        "denoiser_kwargs": {"channels": 16, "depth": 1, "cond_dim": 16},
        "reward_end_kwargs": {"lstm_dim": 16, "channels": [8, 8], "hidden_dim": 16, "cond_dim": 16, "depth": 1},
        "use_decoder": False,
        "actor_critic_kwargs": {"lstm_dim": 16, "channels": [8, 8], "hidden_sizes": [16]},
    },
}
# One evaluation game cut at 400 frames (100 agent steps): quick, and a real whole-game score up to the cap.
QUICK_EVAL = {"eval_episodes": 1, "eval_max_episode_frames": 400, "save_model": False, "device": "cpu", "verbose": 0}


def tiny_jedi(game: str = "Pong", seed: int = 0) -> JEDI:
    return JEDI("CnnPolicy", make_atari100k_env(game, seed=seed), seed=seed, device="cpu", **TINY)


def test_evaluate_atari100k_with_jedi_and_an_sb3_model():
    model = tiny_jedi()
    result = evaluate_atari100k(model, "ALE/Pong-v5", n_episodes=2, seed=3, max_episode_frames=400)
    assert result.game == "Pong" and result.n_episodes == 2 and not result.deterministic
    assert len(result.episode_scores) == len(result.episode_lengths) == 2
    # Whole games up to the frame cap: 400 frames, minus the reset's no-ops, at 4 frames per step.
    assert all(0 < n <= 100 for n in result.episode_lengths)
    assert result.mean == pytest.approx(np.mean(result.episode_scores))
    assert result.std == pytest.approx(np.std(result.episode_scores))
    assert result.hns == pytest.approx(human_normalized_score("Pong", result.mean))
    # Seeded: same env games and same sampled actions; the caller's torch random state is not consumed.
    th.manual_seed(123)
    again = evaluate_atari100k(model, "Pong", n_episodes=2, seed=3, max_episode_frames=400)
    assert th.rand(1).item() == th.rand(1, generator=th.Generator().manual_seed(123)).item()
    assert again.episode_scores == result.episode_scores and again.episode_lengths == result.episode_lengths

    # Any SB3 model with predict(obs, state, episode_start, deterministic) works, here a (non-recurrent) PPO.
    ppo = PPO("CnnPolicy", make_atari100k_env("Pong", seed=0), n_steps=16, batch_size=16, seed=0, device="cpu")
    greedy = evaluate_atari100k(ppo, "Pong", n_episodes=1, seed=0, deterministic=True, max_episode_frames=200)
    assert greedy.deterministic and greedy.n_episodes == 1 and greedy.episode_lengths[0] <= 50
    with pytest.raises(ValueError, match="n_episodes"):
        evaluate_atari100k(model, "Pong", n_episodes=0)
    with pytest.raises(ValueError, match="Unknown Atari game"):
        evaluate_atari100k(model, "Pongg")


def run_files(out_dir: Path) -> dict[str, float]:
    return {str(p.relative_to(out_dir)): p.stat().st_mtime_ns for p in sorted(out_dir.glob("*/*/seed_*.json"))}


def test_runner_in_a_process_pool_then_skips_finished_runs_then_reports(tmp_path, capsys):
    out_dir = tmp_path / "runs"
    games, seeds = ["Pong", "ALE/Seaquest-v5"], [0, 1]
    kwargs = {"steps": 300, "out_dir": out_dir, "hyperparams": TINY, "checkpoint_freq": 100, **QUICK_EVAL}
    results = run_atari100k(games, seeds, workers=2, threads_per_run=1, **{**kwargs, "verbose": 1})
    assert [(r["game"], r["seed"]) for r in results] == [("Pong", 0), ("Pong", 1), ("Seaquest", 0), ("Seaquest", 1)]
    for result in results:
        path = out_dir / "JEDI" / result["game"] / f"seed_{result['seed']}.json"
        assert json.loads(path.read_text()) == result
        assert result["algo"] == "JEDI" and result["num_timesteps"] == 300 and result["steps"] == 300
        assert result["score"] == pytest.approx(np.mean(result["evaluation"]["episode_scores"]))
        assert result["hns"] == pytest.approx(human_normalized_score(result["game"], result["score"]))
        assert result["hyperparams"] == json.loads(json.dumps(TINY))
        assert result["resolved_hyperparams"]["batch_size"] == 2 and result["resolved_hyperparams"]["gamma"] == 0.985
        assert result["evaluation"]["seed"] == result["seed"] + 10_000 and result["evaluation"]["max_episode_frames"] == 400
        assert result["torch_threads"] == 1 and result["device"] == "cpu"
        assert {"torch", "stable_baselines3", "sb3_jedi", "ale_py"} <= set(result["versions"])
        assert result["wall_time_s"] >= result["train_time_s"] > 0 and result["resumed_from_timesteps"] is None
        # Finished: the checkpoints (with the replay buffer) are gone.
        assert not (out_dir / "JEDI" / result["game"] / f"seed_{result['seed']}" / "checkpoints").exists()
    assert "[4/4]" in capsys.readouterr().out

    # Called again: every run is finished, nothing runs and no file changes.
    before = run_files(out_dir)
    again = run_atari100k(games, seeds, workers=2, **{**kwargs, "verbose": 1})
    assert run_files(out_dir) == before and again == results
    assert "4 runs, 4 already finished" in capsys.readouterr().out
    # Another configuration in the same directory is refused before anything runs.
    with pytest.raises(ValueError, match=r"another configuration.*steps"):
        run_atari100k(games, seeds, **{**kwargs, "steps": 400})

    paths = write_report(out_dir, compare=("DIAMOND", "STORM"), reps=300)
    assert set(paths) == {"report", "summary", "aggregates", "per_game", "task_split"}
    for key in ("aggregates", "per_game", "task_split"):
        image = matplotlib.image.imread(paths[key])
        assert image.ndim == 3 and image.shape[0] >= 300 and image.shape[1] >= 500, (key, image.shape)
        assert image.std() > 0.01  # not a blank canvas
    report = paths["report"].read_text()
    assert "| JEDI (ours) |" in report and "| DIAMOND |" in report and "| STORM |" in report
    assert "| Pong | Agent-Optimal |" in report and "| Seaquest | Human-Optimal |" in report
    summary = json.loads(paths["summary"].read_text())
    ours = summary["aggregates"]["all"]["JEDI (ours)"]
    pong_hns = [human_normalized_score("Pong", r["score"]) for r in results[:2]]
    seaquest_hns = [human_normalized_score("Seaquest", r["score"]) for r in results[2:]]
    assert ours["mean"]["point"] == pytest.approx((np.mean(pong_hns) + np.mean(seaquest_hns)) / 2)
    assert ours["mean"]["low"] <= ours["mean"]["point"] <= ours["mean"]["high"]
    assert summary["aggregates"]["agent_optimal"]["DIAMOND"]["games"] == ["Pong"]
    assert summary["scores"]["JEDI (ours)"]["Pong"] == [r["score"] for r in results[:2]]


def test_unfinished_run_resumes_from_its_checkpoint(tmp_path):
    out_dir = tmp_path / "runs"
    # An interrupted attempt: 200 of 300 steps done, checkpoints written, no result.
    run_dir = out_dir / "JEDI" / "Pong" / "seed_0"
    model = tiny_jedi("Pong", seed=0)
    model.learn(200, callback=CheckpointCallback(run_dir / "checkpoints", save_freq=100))
    assert latest_checkpoint(run_dir / "checkpoints").name == "checkpoint_000000000200"

    results = run_atari100k(["Pong"], [0], steps=300, out_dir=out_dir, hyperparams=TINY, checkpoint_freq=100, **QUICK_EVAL)
    (result,) = results
    assert result["resumed_from_timesteps"] == 200
    assert result["num_timesteps"] == 300
    # The resumed attempt trained only the remaining 100 steps: its Monitor log starts at step 200.
    assert sorted(p.name for p in (run_dir / "monitor").iterdir()) == ["start_200"]
    assert not (run_dir / "checkpoints").exists()
    assert load_results(out_dir) == [{**result, "path": str(out_dir / "JEDI" / "Pong" / "seed_0.json")}]


def test_failed_runs_are_reported_after_the_others_finish(tmp_path, monkeypatch):
    original = runner_module._run_one

    def flaky(spec):
        if spec.seed == 1:
            raise RuntimeError("emulator exploded")
        return original(spec)

    monkeypatch.setattr(runner_module, "_run_one", flaky)
    out_dir = tmp_path / "runs"
    with pytest.raises(RuntimeError, match=r"1 of 2 runs failed(.|\n)*Pong seed 1(.|\n)*emulator exploded"):
        run_atari100k(["Pong"], [1, 0], steps=200, out_dir=out_dir, hyperparams=TINY, checkpoint_freq=None, **QUICK_EVAL)
    assert (out_dir / "JEDI" / "Pong" / "seed_0.json").is_file()
    assert not (out_dir / "JEDI" / "Pong" / "seed_1.json").exists()


def test_runner_input_errors(tmp_path):
    with pytest.raises(ValueError, match="Unknown algorithm 'PPO'"):
        run_atari100k(["Pong"], [0], out_dir=tmp_path, algo="PPO")
    with pytest.raises(ValueError, match="Unknown Atari game"):
        run_atari100k(["Pongg"], [0], out_dir=tmp_path)
    with pytest.raises(ValueError, match="seed is listed twice"):
        run_atari100k(["Pong"], [0, 0], out_dir=tmp_path)
    with pytest.raises(ValueError, match="must not set 'seed'"):
        run_atari100k(["Pong"], [0], out_dir=tmp_path, hyperparams={"seed": 3})
    with pytest.raises(ValueError, match="JSON-serialisable"):
        run_atari100k(["Pong"], [0], out_dir=tmp_path, hyperparams={"policy_kwargs": {"optimizer_class": object}})
    with pytest.raises(ValueError, match="workers"):
        run_atari100k(["Pong"], [0], out_dir=tmp_path, workers=0)
    with pytest.raises(ValueError, match="No finished run"):
        write_report(tmp_path)
    assert not any(tmp_path.iterdir())  # nothing was started
    # What the command line passes when --games / --seeds are left out: the 26 games, seeds 0 to 4.
    specs = runner_module._make_specs(None, None, tmp_path, "jedi", None, steps=100)
    assert len(specs) == 130 and {s.algo for s in specs} == {"JEDI"} and {s.seed for s in specs} == {0, 1, 2, 3, 4}


def test_runner_on_a_local_ray_cluster(tmp_path, monkeypatch):
    ray = pytest.importorskip("ray")
    # Ray 2.60 has no local_mode any more: a one-node cluster of this machine, without dashboard or auth token.
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=1, num_gpus=0, include_dashboard=False, log_to_driver=False)
    try:
        results = run_atari100k(
            ["Pong"],
            [0, 1],
            steps=200,
            out_dir=tmp_path,
            hyperparams=TINY,
            checkpoint_freq=None,
            ray_address="local",
            **QUICK_EVAL,
        )
    finally:
        ray.shutdown()
    assert [(r["seed"], r["num_timesteps"], r["torch_threads"], r["device"]) for r in results] == [
        (0, 200, 1, "cpu"),
        (1, 200, 1, "cpu"),
    ]
    assert sorted(p.name for p in (tmp_path / "JEDI" / "Pong").glob("*.json")) == ["seed_0.json", "seed_1.json"]


def test_training_games_of_resumed_attempts_are_not_counted_twice(tmp_path):
    def monitor_log(folder: Path, episodes: list[tuple[float, int]]) -> None:
        folder.mkdir(parents=True)
        rows = "".join(f"{r},{n},{i}.0\n" for i, (r, n) in enumerate(episodes))
        (folder / "0.monitor.csv").write_text('#{"t_start": 0, "env_id": "Pong"}\nr,l,t\n' + rows)

    # The first attempt played games ending at steps 100, 250 and 370, but it was resumed from a checkpoint at 200:
    # only the game that ended by then counts, then the resumed attempt's games.
    monitor_log(tmp_path / "start_0", [(1.0, 100), (2.0, 150), (3.0, 120)])
    monitor_log(tmp_path / "start_200", [(4.0, 50), (5.0, 80)])
    episodes = runner_module._training_episodes(tmp_path)
    assert episodes == {"scores": [1.0, 4.0, 5.0], "lengths": [100, 50, 80]}
