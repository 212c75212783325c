"""
Core benchmark of the JEDI agent: prints a table and writes JSON.

- ``learn`` throughput (env steps per second, updates included) for MlpPolicy on CartPole and CnnPolicy on Pong;
- parameter count per component at the paper's Atari sizes (paper: about 13.5M in all);
- the time of one full Atari epoch at paper sizes (100 env steps + 400 world-model + 400 actor-critic updates,
  batch 32), measured on a few updates and scaled, the per-update times reported beside it;
- ``predict`` latency for one env (goal: under 2 ms on a CPU), where it goes (encoder, actor-critic trunk, LSTM cell),
  and the same in a fresh process that has run nothing else;
- the time of one world-model diagnostics measurement at paper sizes, and its share of training time at the default
  ``wm_log_interval``.

    python benchmarks/core_benchmark.py [--device cpu|cuda] [--quick] [--json PATH]
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import stable_baselines3
import torch as th

import sb3_jedi
from sb3_jedi import JEDI
from sb3_jedi.callbacks import WorldModelDiagnosticsCallback
from sb3_jedi.envs import make_atari100k_env
from sb3_jedi.run_info import source_commit


def median_seconds(fn: Callable[[], Any], repeats: int, warmup: int = 1, sync: bool = False) -> float:
    """Median wall time of ``fn`` over ``repeats`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        if sync:
            th.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if sync:
            th.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def count_parameters(module: th.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def parameter_counts(model: JEDI) -> dict[str, int]:
    world_model = model.policy.world_model
    counts = {
        "encoder": count_parameters(world_model.encoder),
        "denoiser": count_parameters(world_model.denoiser),
        "reward_end": count_parameters(world_model.reward_end_model),
        "actor_critic": count_parameters(model.policy.actor_critic),
    }
    counts["agent_total"] = sum(counts.values())
    counts["decoder_visualisation_only"] = count_parameters(world_model.decoder) if world_model.decoder is not None else 0
    return counts


def learn_throughput(policy: str, env: Any, steps: int, device: str, **kwargs: Any) -> float:
    model = JEDI(policy, env, device=device, seed=0, **kwargs)
    start = time.perf_counter()
    model.learn(steps)
    return steps / (time.perf_counter() - start)


def predict_breakdown_ms(model: JEDI, obs: np.ndarray, repeats: int, sync: bool) -> dict[str, float]:
    """Where one ``predict`` call goes: the encoder, the actor-critic's trunk and its LSTM cell, each timed alone."""
    policy = model.policy
    obs_t = th.as_tensor(obs, device=model.device)
    hidden = policy.actor_critic.initial_state(obs_t.shape[0], model.device)
    with th.no_grad():
        states = policy.world_model.encode(obs_t)
        features = policy.actor_critic.trunk(states).flatten(1)

        def encoder() -> None:
            policy.world_model.encode(obs_t)

        def trunk() -> None:
            policy.actor_critic.trunk(states)

        def lstm_cell() -> None:
            policy.actor_critic.lstm(features, hidden)

        return {
            name: 1000 * median_seconds(fn, repeats, warmup=10, sync=sync)
            for name, fn in (("encoder", encoder), ("actor_critic_trunk", trunk), ("actor_critic_lstm_cell", lstm_cell))
        }


def fresh_process_predict_ms(model: JEDI, obs: np.ndarray, repeats: int, threads: int) -> float:
    """``predict`` latency in a new Python process that loads the saved model and does nothing else."""
    with tempfile.TemporaryDirectory() as tmp:
        model_path, obs_path = os.path.join(tmp, "model.zip"), os.path.join(tmp, "obs.npy")
        model.save(model_path)
        np.save(obs_path, obs)
        command = [sys.executable, __file__, "--fresh-predict", model_path, obs_path, str(repeats), str(threads)]
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return float(out.strip().splitlines()[-1])


def _fresh_predict_main(model_path: str, obs_path: str, repeats: str, threads: str) -> None:
    th.set_num_threads(int(threads))
    model = JEDI.load(model_path, device="cpu")
    obs = np.load(obs_path)
    state: Any = None

    def predict_once() -> None:
        nonlocal state
        _, state = model.predict(obs, state=state, episode_start=np.zeros(1, dtype=bool), deterministic=True)

    print(1000 * median_seconds(predict_once, int(repeats), warmup=10))


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--quick", action="store_true", help="few repeats and steps (a smoke run)")
    parser.add_argument("--json", default=None, help="write the results to this JSON file")
    parser.add_argument("--batch-size", type=int, default=32, help="segments per update at paper sizes (paper: 32)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.threads is not None:
        th.set_num_threads(args.threads)
    device = args.device
    sync = device == "cuda"
    repeats = 1 if args.quick else 5
    # Read before the run, while the tree cannot change under it: the code the figures belong to.
    commit = source_commit(__file__)

    # Full learn loops, updates included: MlpPolicy with its default schedule; CnnPolicy with 4 + 4 updates per 100
    # steps (its paper schedule is reported below from the measured epoch). --quick shrinks both to a smoke run.
    learn_steps = 200 if args.quick else 3_000
    mlp_schedule = {"gradient_steps": 2, "actor_critic_gradient_steps": 2} if args.quick else {}
    mlp_sps = learn_throughput(
        "MlpPolicy",
        "CartPole-v1",
        learn_steps,
        device,
        learning_starts=learn_steps // 2,
        first_epoch_gradient_steps=0,
        first_epoch_actor_critic_gradient_steps=0,
        **mlp_schedule,
    )
    cnn_steps = 200 if args.quick else 1_000
    cnn_updates = 1 if args.quick else 4
    cnn_sps = learn_throughput(
        "CnnPolicy",
        make_atari100k_env("Pong", seed=0),
        cnn_steps,
        device,
        learning_starts=cnn_steps // 2,
        first_epoch_gradient_steps=0,
        first_epoch_actor_critic_gradient_steps=0,
        gradient_steps=cnn_updates,
        actor_critic_gradient_steps=cnn_updates,
        batch_size=args.batch_size,
        # Train right after learning_starts (a throughput measure: no waiting for rewards of the minority sign)
        learning_starts_reward_threshold=0,
    )

    # Paper sizes: a CnnPolicy agent with its default (paper) settings and a filled buffer.
    env = make_atari100k_env("Pong", seed=0)
    model = JEDI("CnnPolicy", env, device=device, seed=0, learning_starts=10_000, batch_size=args.batch_size)
    params = parameter_counts(model)
    model.learn(1_000 if not args.quick else 300)  # random steps fill the buffer: no update yet
    batch_size = model.batch_size
    world_model_update_s = median_seconds(lambda: model.train_world_model(batch_size), repeats, sync=sync)
    # The visualisation decoder (trained on stop-gradient latents) is part of that update: its share, by timing the
    # update once more without it.
    decoder = model.policy.world_model.decoder
    model.policy.world_model.decoder = None
    try:
        world_model_update_without_decoder_s = median_seconds(lambda: model.train_world_model(batch_size), repeats, sync=sync)
    finally:
        model.policy.world_model.decoder = decoder
    actor_critic_update_s = median_seconds(lambda: model.train_actor_critic(batch_size), repeats, sync=sync)
    model.learning_starts = 0
    model.exploration_epsilon = 0.0
    model._last_obs = model.env.reset()
    model._last_rnn_state = model.policy.actor_critic.initial_state(1, model.device)
    collect_100_s = median_seconds(
        lambda: [model._sample_collection_actions(0, 1) for _ in range(100)], max(1, repeats // 2), sync=sync
    )
    epoch_s = collect_100_s + 400 * world_model_update_s + 400 * actor_critic_update_s

    # World-model diagnostics (JEDI(wm_log_interval=...)): one measurement, and its share of the training time at the
    # default interval.
    diagnostics = WorldModelDiagnosticsCallback(log_interval=model.wm_log_interval)
    diagnostics.init_callback(model)
    diagnostics_s = median_seconds(diagnostics.log_diagnostics, max(1, repeats // 2), warmup=0 if args.quick else 1, sync=sync)
    diagnostics_overhead = diagnostics_s / (model.wm_log_interval * epoch_s)

    # predict latency, one env, with state.
    obs = model.env.reset()
    state: Any = None
    episode_start = np.ones(1, dtype=bool)

    def predict_once() -> None:
        nonlocal state, episode_start
        _, state = model.predict(obs, state=state, episode_start=episode_start, deterministic=True)
        episode_start = np.zeros(1, dtype=bool)

    predict_ms = 1000 * median_seconds(predict_once, 50 if args.quick else 500, warmup=10, sync=sync)
    breakdown = predict_breakdown_ms(model, obs, 50 if args.quick else 500, sync)
    fresh_ms = (
        None if device == "cuda" else fresh_process_predict_ms(model, obs, 50 if args.quick else 500, th.get_num_threads())
    )

    # The same inside an env loop, where stepping the emulator between calls evicts the networks from the CPU caches:
    # (predict + step) minus step alone.
    loop_env = model.env
    loop_obs = [loop_env.reset()]
    loop_actions = np.zeros(1, dtype=np.int64)

    def step_only() -> None:
        loop_obs[0], _, _, _ = loop_env.step(loop_actions)

    def predict_and_step() -> None:
        nonlocal state
        action, state = model.predict(loop_obs[0], state=state, episode_start=np.zeros(1, dtype=bool), deterministic=True)
        loop_obs[0], _, _, _ = loop_env.step(action)

    n_loop = 50 if args.quick else 300
    step_ms = 1000 * median_seconds(step_only, n_loop, warmup=5, sync=sync)
    predict_in_loop_ms = 1000 * median_seconds(predict_and_step, n_loop, warmup=5, sync=sync) - step_ms
    mlp_model = JEDI("MlpPolicy", "CartPole-v1", device=device, seed=0)
    mlp_obs = np.zeros((1, 4), dtype=np.float32)
    mlp_predict_ms = 1000 * median_seconds(lambda: mlp_model.predict(mlp_obs), 50 if args.quick else 500, warmup=10, sync=sync)

    results = {
        "device": th.cuda.get_device_name() if device == "cuda" else f"cpu ({platform.processor() or platform.machine()})",
        "torch_threads": th.get_num_threads(),
        "commit": commit,
        "versions": {
            "sb3_jedi": sb3_jedi.__version__,
            "torch": th.__version__,
            "stable_baselines3": stable_baselines3.__version__,
            "python": platform.python_version(),
        },
        "quick": args.quick,
        # Machine load when the run started (1-minute load average against the cores): timings are only comparable
        # between runs made under the same load.
        "load_average_1min": os.getloadavg()[0],
        "cpu_count": os.cpu_count(),
        # What the throughput runs change from the defaults (the updates per epoch are the defaults').
        "learn_overrides": {
            "MlpPolicy_CartPole_default_updates": {
                "learning_starts": learn_steps // 2,
                "first_epoch_gradient_steps": 0,
                "first_epoch_actor_critic_gradient_steps": 0,
                **mlp_schedule,
            },
        },
        "learn_env_steps_per_s": {
            "MlpPolicy_CartPole_default_updates": mlp_sps,
            f"CnnPolicy_Pong_{cnn_updates}+{cnn_updates}_updates_per_100_steps": cnn_sps,
            "CnnPolicy_Pong_paper_schedule": 100 / epoch_s,
        },
        "params_atari_defaults": params,
        "atari_paper_sizes": {
            "batch_size": batch_size,
            "world_model_update_s": world_model_update_s,
            "world_model_update_without_decoder_s": world_model_update_without_decoder_s,
            "actor_critic_update_s": actor_critic_update_s,
            "collect_100_env_steps_s": collect_100_s,
            "epoch_s": epoch_s,
            "world_model_diagnostics_s": diagnostics_s,
            f"world_model_diagnostics_overhead_every_{model.wm_log_interval}_epochs": diagnostics_overhead,
        },
        "predict_latency_ms": {
            "CnnPolicy_one_env": predict_ms,
            "CnnPolicy_one_env_in_env_loop": predict_in_loop_ms,
            "MlpPolicy_one_env": mlp_predict_ms,
            "CnnPolicy_one_env_fresh_process": fresh_ms,
        },
        "predict_breakdown_ms_CnnPolicy_one_env": breakdown,
    }
    print(f"device: {results['device']}, torch threads: {results['torch_threads']}")
    print("| measure | value |\n|---|---|")
    groups = ("learn_env_steps_per_s", "params_atari_defaults", "atari_paper_sizes", "predict_latency_ms")
    for group in (*groups, "predict_breakdown_ms_CnnPolicy_one_env"):
        for key, value in results[group].items():
            shown = "-" if value is None else f"{value:,}" if isinstance(value, int) else f"{value:.4g}"
            print(f"| {group}.{key} | {shown} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return results


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--fresh-predict":
        _fresh_predict_main(*sys.argv[2:])
    else:
        main()
