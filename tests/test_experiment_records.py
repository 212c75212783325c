"""The figures README.md and the docs quote from the sparse-goal experiments are those of their records."""

import csv
import json
import math
import re
from pathlib import Path

import pytest
from benchmark_scripts import load_benchmark

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = ROOT / "benchmarks" / "results" / "experiments" / "sparse_goals"
EARLIER_DEFAULTS = ROOT / "benchmarks" / "results" / "experiments" / "earlier_defaults"
learning_results = load_benchmark("learning_results")


def _means(name: str) -> dict[int, float]:
    return _means_in("sparse_goals", name)


def _record_in(folder: str, name: str) -> dict:
    """The JSON record ``name`` (without ``.json``) of an experiments folder."""
    return json.loads((EXPERIMENTS.parent / folder / f"{name}.json").read_text())


def _means_in(folder: str, name: str) -> dict[int, float]:
    """A record's deterministic means by env steps, without the evaluation after the training-only epochs."""
    record = _record_in(folder, name)
    return {point["steps"]: point["mean"] for point in record["curve"] if not point.get("after_training")}


def _text(relative: str) -> str:
    return " ".join((ROOT / relative).read_text().split())


DOCUMENTS = ["README.md", "docs/can-i-use.md", "benchmarks/results/experiments/sparse_goals/README.md"]


@pytest.mark.parametrize("document", DOCUMENTS)
def test_the_self_imitation_run_is_quoted_from_its_record(document):
    means = _means("Acrobot-v1_I")
    quoted = ", ".join(f"{means[steps]:.1f}" for steps in (10_000, 20_000, 30_000))
    assert f"{quoted} at 10k, 20k and 30k steps" in _text(document)


def test_the_experiment_table_quotes_every_runs_last_evaluation():
    table = _text("benchmarks/results/experiments/sparse_goals/README.md")
    for run in ("A", "C", "D", "E", "G", "I", "K", "L"):
        means = _means(f"Acrobot-v1_{run}")
        last = max(means)
        assert f"| {run} |" in table
        if all(value == -500.0 for value in means.values()):
            assert f"-500 up to {last:,}" in table
        else:
            assert f"{means[last]:.1f} at {last:,}" in table


def test_the_untuned_checks_are_quoted_from_their_records():
    acrobot = _means_in("untuned", "Acrobot-v1_MlpPolicy_seed3")
    mountain_car = _means_in("untuned", "MountainCar-v0_MlpPolicy_seed0")
    readme = _text("README.md")
    assert f"Acrobot-v1 seed 3 scored {acrobot[30_000]:.1f} at 30k steps" in readme
    best = max(mountain_car.values())
    quoted = f"(best {best:.1f} at {max(mountain_car, key=mountain_car.get) // 1000}k) but ended at {mountain_car[30_000]:.1f}"
    assert quoted in readme
    assert quoted in _text("docs/can-i-use.md")
    table = _text("benchmarks/results/experiments/untuned/README.md")
    for means in (acrobot, mountain_car):
        assert ", ".join(f"{means[steps]:.1f}" for steps in sorted(means) if steps >= 10_000) in table


PIXEL_RUNS = [
    "cpu_preset",
    "lr1e-3",
    "lr1e-3_stabilised",
    "lr1e-3_stabilised_wm8",
    "lr1e-3_stabilised_50k",
    "lr1e-3_stabilised_wm8_50k",
    "wm8_68ae469",
    "wm8_sigma_data_0.1",
    "wm8_sigma_data_0.1_seed1",
    "wm8_sigma_data_0.1_seed2",
    "wm8_seed1",
    "stem2_wm16",
    "stem2_wm16_50k",
    "stem2_wm16_50k_seed1",
    "stem2_wm16_50k_seed2",
    "stem2_wm16_paper_actor_critic",
]


@pytest.mark.parametrize("run", PIXEL_RUNS)
def test_the_pixel_cartpole_table_quotes_each_runs_curve(run):
    means = _means_in("pixel_cartpole", f"CartPole-v1_CnnPolicy_{run}")
    table = _text("benchmarks/results/experiments/pixel_cartpole/README.md")
    row = f"`CartPole-v1_CnnPolicy_{run}.json`"
    assert row in table
    assert ", ".join(f"{means[steps]:.1f}" for steps in sorted(means)) in table.split(row, 1)[1].split("|")[2]
    record = _record_in("pixel_cartpole", f"CartPole-v1_CnnPolicy_{run}")
    after = [point["mean"] for point in record["curve"] if point.get("after_training")]
    if after:
        assert f"({after[0]:.1f} after the training-only epochs)" in table.split(row, 1)[1].split("|")[2]


def _window_means(run: str, size: int = 5_000) -> dict[int, dict[str, float]]:
    """The logged diagnostics of a pixel CartPole run averaged over windows of ``size`` env steps (1: steps 1-5,000, ...)."""
    path = EXPERIMENTS.parent / "pixel_cartpole" / f"CartPole-v1_CnnPolicy_{run}_progress.csv"
    windows: dict[int, dict[str, list[float]]] = {}
    with path.open() as file:
        for row in csv.DictReader(file):
            if not row["time/total_timesteps"]:
                continue  # the training-only epochs after the last env step
            window = (int(row["time/total_timesteps"]) - 1) // size + 1
            for key, value in row.items():
                if value and key != "time/total_timesteps":
                    windows.setdefault(window, {}).setdefault(key, []).append(float(value))
    return {window: {key: sum(values) / len(values) for key, values in keys.items()} for window, keys in windows.items()}


def _diagnostics_cells(means: dict[str, float]) -> str:
    return (
        f"{means['train/end_recall']:.2f} | {means['world_model/open_loop_mse_ratio']:.2f} "
        f"| {means['world_model/open_loop_end_rate']:.3f} / {means['world_model/open_loop_real_end_rate']:.3f} "
        f"| {means['train/denoising_loss']:.3f} |"
    )


def test_the_pixel_cartpole_diagnostics_tables_are_the_progress_files_averaged_over_5k_steps():
    table = _text("benchmarks/results/experiments/pixel_cartpole/README.md")
    four = _window_means("lr1e-3_stabilised_50k")
    for window in (1, 3, 5, 7, 9, 10):
        means = four[window]
        row = (
            f"| {window * 5}k | {means['rollout/ep_rew_mean']:.1f} | {means['train/entropy']:.2f} "
            f"| {_diagnostics_cells(means)}"
        )
        assert row in table
    eight_50k = _window_means("lr1e-3_stabilised_wm8_50k")
    for window in (2, 4, 6, 8, 10):
        for label, runs in (("4 updates", four), ("8 updates", eight_50k)):
            means = runs[window]
            row = (
                f"| {window * 5}k | {label} | {means['rollout/ep_rew_mean']:.1f} | {means['train/entropy']:.2f} "
                f"| {_diagnostics_cells(means)}"
            )
            assert row in table
    eight = _window_means("lr1e-3_stabilised_wm8")
    for window in (1, 2, 3):
        for label, runs in (("4 updates", four), ("8 updates", eight)):
            means = runs[window]
            row = f"| {window * 5}k | {label} | {means['rollout/ep_rew_mean']:.1f} | {_diagnostics_cells(means)}"
            assert row in table


def test_the_cpu_preset_page_quotes_the_pixel_records():
    doc = _text("docs/cpu-preset.md")
    stabilised = _means_in("pixel_cartpole", "CartPole-v1_CnnPolicy_lr1e-3_stabilised_50k")
    best = max(stabilised, key=stabilised.get)
    assert f"{stabilised[50_000]:.1f} after 50k steps (best {stabilised[best]:.1f} at {best // 1000}k" in doc
    preset = json.loads((ROOT / "benchmarks" / "results" / "learning" / "CartPole-v1_CnnPolicy_seed0.json").read_text())
    assert f"a mean of {preset['final_mean']:.1f} after {preset['steps'] // 1000}k steps" in doc
    name = "CartPole-v1_CnnPolicy_lr1e-3_stabilised_wm8_50k"
    eight = _means_in("pixel_cartpole", name)
    record = _record_in("pixel_cartpole", name)
    after = next(point["mean"] for point in record["curve"] if point.get("after_training"))
    best = max(eight, key=eight.get)
    quoted = (
        f"{eight[50_000]:.1f} after 50k steps, {after:.1f} after the training-only epochs "
        f"(best {eight[best]:.1f} at {best // 1000}k), in {record['train_minutes']:.1f} minutes"
    )
    assert quoted in doc


def test_the_atari_table_quotes_the_boxing_records():
    folder = ROOT / "benchmarks" / "results" / "atari"
    lines = (folder / "README.md").read_text().splitlines()
    table = _text("benchmarks/results/atari/README.md")
    jedi = json.loads((folder / "Boxing_CnnPolicy_cpu_preset_seed0.json").read_text())
    dqn = json.loads((folder / "dqn_Boxing_CnnPolicy_seed0.json").read_text())
    rows = {"JEDI, `cpu` preset, deterministic": (jedi, "mean"), "JEDI, `cpu` preset, sampled actions": (jedi, "mean_sampled")}
    rows["SB3 DQN, zoo Atari settings"] = (dqn, "mean")
    for label, (record, key) in rows.items():
        (row,) = [line for line in lines if line.startswith(f"| {label} |")]
        during = ", ".join(f"{point[key]:.1f}" for point in record["curve"] if not point.get("after_training"))
        assert row.split("|")[4].strip().startswith(during)
        after = [point[key] for point in record["curve"] if point.get("after_training")]
        if after:
            assert f"({after[0]:.1f} after the training-only epochs)" in row
    assert f"| {jedi['train_minutes']:.1f} |" in table and f"| {dqn['train_minutes']:.1f} |" in table
    scores = jedi["reference_scores"]
    assert f"Random play scores {scores['random']} and the human reference {scores['human']}" in table
    with (folder / "Boxing_CnnPolicy_cpu_preset_seed0_progress.csv").open() as file:
        logged = list(csv.DictReader(file))
    entropies = [float(row["train/entropy"]) for row in logged if row["train/entropy"]]
    assert f"(entropy {min(entropies):.3f}-{max(entropies):.3f} at every logged point" in table
    recalls = [float(row["world_model/reward_recall_pos"]) for row in logged if row["world_model/reward_recall_pos"]]
    assert len(recalls) == 4 and set(recalls) == {0.0}


def test_the_docs_quote_the_boxing_records():
    folder = ROOT / "benchmarks" / "results" / "atari"
    jedi = json.loads((folder / "Boxing_CnnPolicy_cpu_preset_seed0.json").read_text())
    dqn = json.loads((folder / "dqn_Boxing_CnnPolicy_seed0.json").read_text())
    doc = _text("docs/cpu-preset.md")
    for label, record, key, minutes in (
        ("JEDI, `cpu` preset, deterministic", jedi, "mean", f" {jedi['train_minutes']:.1f} |"),
        ("JEDI, `cpu` preset, sampled actions", jedi, "mean_sampled", " |"),
        ("SB3 DQN", dqn, "mean", f" {dqn['train_minutes']:.1f} |"),
    ):
        during = [point[key] for point in record["curve"] if not point.get("after_training")]
        assert f"| {label} | " + " | ".join(f"{value:.1f}" for value in during) + " |" + minutes in doc
    last = next(point for point in jedi["curve"] if point["steps"] == 50_000 and not point.get("after_training"))
    quoted = (
        f"Boxing after 50k steps ({jedi['train_minutes']:.1f} minutes) plays at the random level with sampled actions "
        f"({last['mean_sampled']:.1f}; random {jedi['reference_scores']['random']}, human "
        f"{jedi['reference_scores']['human']}), SB3's DQN at {dqn['curve'][-1]['mean']:.1f}"
    )
    assert quoted in _text("README.md")


LUNAR_LANDER_RUNS = [
    ("defaults (de53304)", 0, "experiments/earlier_defaults", "LunarLander-v3_MlpPolicy_seed0_de53304"),
    ("earlier defaults (a6fefff)", 0, "experiments/earlier_defaults", "LunarLander-v3_MlpPolicy_seed0"),
    ("earlier defaults (522b635)", 1, "experiments/earlier_defaults", "LunarLander-v3_MlpPolicy_seed1_522b635"),
    ("earlier defaults (522b635)", 2, "experiments/earlier_defaults", "LunarLander-v3_MlpPolicy_seed2_522b635"),
    ("defaults (4dd9f95)", 2, "experiments/earlier_defaults", "LunarLander-v3_MlpPolicy_seed2_4dd9f95"),
    ("`exploration_episodes=0`", 0, "experiments/lunar_lander", "LunarLander-v3_no_exploration_episodes_seed0"),
    ("`self_imitation_coef=0`", 0, "experiments/lunar_lander", "LunarLander-v3_no_self_imitation_seed0"),
    ("`self_imitation_margin=0.25`", 0, "experiments/lunar_lander", "LunarLander-v3_self_imitation_margin_seed0"),
    ("defaults (f0f1702)", 1, "experiments/lunar_lander", "LunarLander-v3_defaults_f0f1702_seed1"),
    ("defaults (f869cce)", 0, "learning", "LunarLander-v3_MlpPolicy_seed0"),
    ("defaults (f869cce)", 1, "learning", "LunarLander-v3_MlpPolicy_seed1"),
    ("defaults (e59095b)", 2, "learning", "LunarLander-v3_MlpPolicy_seed2"),
]
ABLATION_COMMITS = {
    "`exploration_episodes=0`": "fd0f9de",
    "`self_imitation_coef=0`": "f309d1f",
    "`self_imitation_margin=0.25`": "f3d8c85",
}


@pytest.mark.parametrize(("label", "seed", "folder", "name"), LUNAR_LANDER_RUNS)
def test_the_lunar_lander_ablation_table_quotes_each_runs_evaluations(label, seed, folder, name):
    record = json.loads((ROOT / "benchmarks" / "results" / folder / f"{name}.json").read_text())
    # A row names the commit of its defaults; the README names the ablations' commits.
    expected = label.split("(")[1].rstrip(")") if "(" in label else ABLATION_COMMITS[label]
    assert record["commit"].startswith(expected)
    points = {point["steps"]: point for point in record["curve"] if not point.get("after_training")}
    cells = []
    for steps in (10_000, 20_000, 30_000, 40_000, 50_000):
        sampled = points[steps].get("mean_sampled")
        cells.append(f"{points[steps]['mean']:.1f} / " + ("-" if sampled is None else f"{sampled:.1f}"))
    assert f"| {label} | {seed} | " + " | ".join(cells) + " |" in _text(
        "benchmarks/results/experiments/lunar_lander/README.md"
    )


@pytest.mark.parametrize(
    ("label", "name"),
    [
        ("defaults (de53304)", "defaults"),
        ("`exploration_episodes=0`", "no_exploration_episodes"),
        ("`self_imitation_coef=0`", "no_self_imitation"),
        ("`self_imitation_margin=0.25`", "self_imitation_margin"),
    ],
)
def test_the_lunar_lander_entropy_table_is_the_progress_files_averaged(label, name):
    path = EXPERIMENTS.parent / "lunar_lander" / f"LunarLander-v3_{name}_seed0_progress.csv"
    with path.open() as file:
        rows = [row for row in csv.DictReader(file) if int(row["time/total_timesteps"]) <= 50_000]
    entropies = []
    for low in (10_000, 20_000, 30_000, 40_000):
        window = [
            float(row["train/entropy"])
            for row in rows
            if row["train/entropy"] and low < int(row["time/total_timesteps"]) <= low + 10_000
        ]
        entropies.append(f"{sum(window) / len(window):.2f}")
    training = [float(row["rollout/ep_rew_mean"]) for row in rows if row["rollout/ep_rew_mean"]]
    row = f"| {label} | {', '.join(entropies)} | {training[-1]:.1f} |"
    assert row in _text("benchmarks/results/experiments/lunar_lander/README.md")


def _self_imitation_losses(run: str) -> list[tuple[int, float]]:
    with (EXPERIMENTS / f"Acrobot-v1_{run}_progress.csv").open() as file:
        rows = list(csv.DictReader(file))
    return [
        (int(row["time/total_timesteps"]), float(row["train/self_imitation_loss"]))
        for row in rows
        if row["train/self_imitation_loss"]
    ]


def test_the_self_imitation_margin_run_is_quoted_from_its_record_and_log():
    means = _means("Acrobot-v1_L")
    text = _text("benchmarks/results/experiments/sparse_goals/README.md")
    quoted = ", ".join(f"{means[steps]:.1f}" for steps in (10_000, 20_000, 30_000))
    assert f"then {quoted} at 10k, 20k and 30k steps" in text
    assert f"-500 up to {max(steps for steps, mean in means.items() if steps < 10_000 and mean == -500.0):,} steps" in text
    losses = {run: _self_imitation_losses(run) for run in ("I", "L")}
    early = {run: [loss for steps, loss in values if steps <= 6_000] for run, values in losses.items()}
    late = {run: [loss for steps, loss in values if steps >= 13_000] for run, values in losses.items()}
    assert f"loss is {min(early['L']):.3f}-{max(early['L']):.3f} up to 6,000 steps" in text
    assert f"(run I: {min(early['I']):.2f}-{max(early['I']):.2f})" in text
    assert f"at most {max(late['L']):.4f} from 13,000 steps on (run I: up to {max(late['I']):.4f})" in text


def _lunar_lander_progress(name: str) -> list[dict[str, str]]:
    path = EXPERIMENTS.parent / "lunar_lander" / f"LunarLander-v3_{name}_seed0_progress.csv"
    with path.open() as file:
        return [row for row in csv.DictReader(file) if int(row["time/total_timesteps"]) <= 50_000]


def test_the_self_imitation_margin_paragraph_is_quoted_from_the_records():
    text = _text("benchmarks/results/experiments/lunar_lander/README.md")
    losses = {}
    for name in ("self_imitation_margin", "defaults", "no_exploration_episodes"):
        rows = _lunar_lander_progress(name)
        values = [
            float(row["train/self_imitation_loss"])
            for row in rows
            if row["train/self_imitation_loss"] and int(row["time/total_timesteps"]) > 10_000
        ]
        losses[name] = f"{sum(values) / len(values):.4f}"
    assert (
        f"averaged {losses['self_imitation_margin']} against {losses['defaults']} with the defaults of de53304 "
        f"({losses['no_exploration_episodes']} without exploration episodes)"
    ) in text
    averages = {}
    for name, folder in [
        ("LunarLander-v3_self_imitation_margin_seed0", "lunar_lander"),
        ("LunarLander-v3_no_self_imitation_seed0", "lunar_lander"),
        ("LunarLander-v3_no_exploration_episodes_seed0", "lunar_lander"),
        ("LunarLander-v3_defaults_seed0", None),
    ]:
        if folder is None:
            record = json.loads((EARLIER_DEFAULTS / "LunarLander-v3_MlpPolicy_seed0_de53304.json").read_text())
            means = {point["steps"]: point["mean"] for point in record["curve"] if not point.get("after_training")}
        else:
            means = _means_in(folder, name)
        averages[name] = f"{sum(means[steps] for steps in range(10_000, 50_001, 10_000)) / 5:.1f}"
    assert (
        f"average {averages['LunarLander-v3_self_imitation_margin_seed0']}, against "
        f"{averages['LunarLander-v3_no_self_imitation_seed0']} without self-imitation, "
        f"{averages['LunarLander-v3_no_exploration_episodes_seed0']} without exploration episodes and "
        f"{averages['LunarLander-v3_defaults_seed0']} with the defaults of de53304"
    ) in text
    margin = _means_in("lunar_lander", "LunarLander-v3_self_imitation_margin_seed0")
    assert f"{margin[30_000]:.1f} and {margin[40_000]:.1f} at 30k and 40k, {margin[50_000]:.1f} at 50k" in text
    assert f"run L of `../sparse_goals/README.md`: {_means('Acrobot-v1_L')[30_000]:.1f} at 30k steps" in text


def test_the_first_seed_of_the_margin_defaults_is_quoted_from_its_record():
    record = _record_in("lunar_lander", "LunarLander-v3_defaults_f0f1702_seed1")
    assert record["commit"].startswith("f0f1702") and record["hyperparameters"] == {"wm_log_interval": 50}
    means = _means_in("lunar_lander", "LunarLander-v3_defaults_f0f1702_seed1")
    earlier = json.loads((EARLIER_DEFAULTS / "LunarLander-v3_MlpPolicy_seed1_522b635.json").read_text())
    earlier_50k = next(point["mean"] for point in earlier["curve"] if point["steps"] == 50_000)
    quoted = (
        f"{record['train_minutes']:.1f} minutes), scored {means[40_000]:.1f} at 40k and {means[50_000]:.1f} at 50k, below "
        f"DQN's 84.3 there and below the {earlier_50k:.1f} of the same seed with the defaults of {earlier['commit'][:7]}"
    )
    assert quoted in _text("benchmarks/results/experiments/lunar_lander/README.md")
    assert means[50_000] < 84.3 < earlier_50k


def _offline_row(entry: dict) -> str:
    sigma_data = entry["variant"].get("policy_kwargs", {}).get("edm_kwargs", {}).get("sigma_data", 0.5)
    curve = {point["updates"]: point for point in entry["curve"]}
    ratios = " | ".join(f"{curve[updates]['open_loop_mse_ratio']:.2f}" for updates in (100, 200, 300, 400))
    last = curve[400]
    return f"| {sigma_data} | {ratios} | {last['latent_mean_std']:.3f} | {last['latent_effective_rank']:.1f} |"


def test_the_offline_world_model_table_quotes_its_record():
    record = _record_in("pixel_cartpole", "offline_world_model_sigma_data")
    table = _text("benchmarks/results/experiments/pixel_cartpole/README.md")
    assert len(record["variants"]) >= 2
    for entry in record["variants"]:
        assert _offline_row(entry) in table


def _offset_noise_row(entry: dict) -> str:
    edm = entry["variant"].get("policy_kwargs", {}).get("edm_kwargs", {})
    # The variant that moves the noise levels rescales the sampler too; the others keep DIAMOND's.
    rescaled = "sigma_distribution" in edm
    assert rescaled == ("sampler_kwargs" in entry["variant"].get("policy_kwargs", {}))
    levels = "DIAMOND's / 5" if rescaled else "DIAMOND's"
    curve = {point["updates"]: point for point in entry["curve"]}
    ratios = " | ".join(f"{curve[updates]['open_loop_mse_ratio']:.2f}" for updates in (100, 200, 300, 400))
    last = curve[400]
    return (
        f"| {edm.get('sigma_data', 0.5)} | {edm.get('sigma_offset_noise', 0.3)} | {levels} | {ratios} "
        f"| {last['latent_mean_std']:.3f} | {last['latent_effective_rank']:.1f} |"
    )


def test_the_offset_noise_table_quotes_its_record():
    record = _record_in("pixel_cartpole", "offline_world_model_offset_noise")
    readme = _text("benchmarks/results/experiments/pixel_cartpole/README.md")
    assert len(record["variants"]) == 3
    for entry in record["variants"]:
        assert _offset_noise_row(entry) in readme
    # The rescaled variant divides each of DIAMOND's noise scales by the same factor.
    rescaled = record["variants"][2]["variant"]["policy_kwargs"]
    factor = 5
    assert rescaled["edm_kwargs"]["sigma_offset_noise"] * factor == pytest.approx(0.3)
    assert rescaled["edm_kwargs"]["sigma_distribution"]["loc"] == pytest.approx(-0.4 - math.log(factor), abs=1e-3)
    assert rescaled["edm_kwargs"]["sigma_distribution"]["sigma_max"] * factor == pytest.approx(20.0)
    assert rescaled["edm_kwargs"]["sigma_distribution"]["sigma_min"] * factor == pytest.approx(2e-3)
    assert rescaled["sampler_kwargs"]["sigma_max"] * factor == pytest.approx(5.0)
    assert rescaled["sampler_kwargs"]["sigma_min"] * factor == pytest.approx(2e-3)
    assert rescaled["sampler_kwargs"]["initial_noise_std"] * factor == pytest.approx(1.0)
    assert rescaled["edm_kwargs"]["sigma_data"] * factor == pytest.approx(0.5)


def test_the_sigma_data_run_paragraph_quotes_the_progress_files():
    readme = _text("benchmarks/results/experiments/pixel_cartpole/README.md")
    ratios = {}
    for run in ("wm8_68ae469", "wm8_sigma_data_0.1"):
        path = EXPERIMENTS.parent / "pixel_cartpole" / f"CartPole-v1_CnnPolicy_{run}_progress.csv"
        with path.open() as file:
            rows = [row for row in csv.DictReader(file) if row["time/total_timesteps"]]
        rows = [row for row in rows if row["world_model/open_loop_mse_ratio"]]
        windows = []
        for window in range(5):
            values = [
                float(row["world_model/open_loop_mse_ratio"])
                for row in rows
                if (int(row["time/total_timesteps"]) - 1) // 10_000 == window
            ]
            windows.append(f"{sum(values) / len(values):.2f}")
        ratios[run] = windows
    treated, control = ratios["wm8_sigma_data_0.1"], ratios["wm8_68ae469"]
    quoted = (
        f"{', '.join(treated[:4])} and {treated[4]} with 0.1 against {', '.join(control[:4])} and {control[4]} in the control"
    )
    assert quoted in readme
    record = _record_in("pixel_cartpole", "CartPole-v1_CnnPolicy_wm8_sigma_data_0.1")
    assert record["hyperparameters"]["policy_kwargs"]["edm_kwargs"] == {"sigma_data": 0.1}
    assert f"{record['train_minutes']:.1f} training minutes" in " ".join(readme.split())


def test_the_cpu_preset_page_quotes_the_sigma_data_run():
    doc = " ".join(_text("docs/cpu-preset.md").split())
    means = _means_in("pixel_cartpole", "CartPole-v1_CnnPolicy_wm8_sigma_data_0.1")
    control = _means_in("pixel_cartpole", "CartPole-v1_CnnPolicy_wm8_68ae469")
    record = _record_in("pixel_cartpole", "CartPole-v1_CnnPolicy_wm8_sigma_data_0.1")
    after = next(point["mean"] for point in record["curve"] if point.get("after_training"))
    best = max(means, key=means.get)
    quoted = (
        f"{means[50_000]:.1f} after 50k steps, {after:.1f} after the training-only epochs (best {means[best]:.1f} at "
        f"{best // 1000}k), in {record['train_minutes']:.1f} minutes, ahead of a control with 0.5 on the same commit at "
        f"every evaluation ({control[50_000]:.1f} at 50k)"
    )
    assert quoted in doc
    assert all(means[steps] > control[steps] for steps in control)
    # Seeds 1 and 2 of the setting, which do not repeat seed 0's climb.
    others = [_means_in("pixel_cartpole", f"CartPole-v1_CnnPolicy_wm8_sigma_data_0.1_seed{seed}") for seed in (1, 2)]
    assert (
        f"seeds 1 and 2 of the same setting scored {others[0][50_000]:.1f} and {others[1][50_000]:.1f} at 50k steps "
        f"(best {max(others[0].values()):.1f} and {max(others[1].values()):.1f})"
    ) in doc


def test_every_earlier_defaults_record_is_listed_with_its_commit_and_figures():
    # Each replaced learning record keeps a row naming its commit, its first quoted return and its minutes.
    table = (EARLIER_DEFAULTS / "README.md").read_text()
    records = sorted(EARLIER_DEFAULTS.glob("*.json"))
    assert len(records) >= 12
    for path in records:
        record = json.loads(path.read_text())
        rows = [line for line in table.splitlines() if line.startswith(f"| `{path.name}` |")]
        assert len(rows) == 1, f"{path.name}: no row (or several) in earlier_defaults/README.md"
        _, _, commit, replaced, _ = rows[0].split("|")
        assert commit.strip() == record["commit"][:7]
        quoted = re.match(r"\s*(-?[\d.]+) at (?:every evaluation up to )?(\d+)k", replaced)
        assert quoted is not None, f"{path.name}: the row quotes no return"
        means = {point["steps"]: point["mean"] for point in record["curve"] if not point.get("after_training")}
        steps = int(quoted.group(2)) * 1000
        if "every evaluation" in replaced:
            assert all(mean == float(quoted.group(1)) for step, mean in means.items() if step <= steps)
        else:
            assert quoted.group(1) == f"{means[steps]:.1f}"
        assert f"{record['train_minutes']:.1f} min" in replaced


def test_the_second_seed_of_the_sigma_data_setting_is_quoted_from_its_record():
    record = _record_in("pixel_cartpole", "CartPole-v1_CnnPolicy_wm8_sigma_data_0.1_seed1")
    seed0 = _record_in("pixel_cartpole", "CartPole-v1_CnnPolicy_wm8_sigma_data_0.1")
    assert record["seed"] == 1 and record["hyperparameters"] == seed0["hyperparameters"]
    means = _means_in("pixel_cartpole", "CartPole-v1_CnnPolicy_wm8_sigma_data_0.1_seed1")
    best = max(means.values())
    at_best = " and ".join(f"{steps // 1000}k" for steps in sorted(means) if means[steps] == best)
    quoted = f"{best:.1f} at best ({at_best}), {means[50_000]:.1f} at 50k"
    text = _text("benchmarks/results/experiments/pixel_cartpole/README.md")
    assert quoted in text and f"{record['train_minutes']:.1f} training minutes" in text


def _ten_k_means(run: str, key: str) -> list[float]:
    """One logged diagnostic of a pixel CartPole run averaged over each 10k env steps, in order."""
    return [means[key] for _, means in sorted(_window_means(run, 10_000).items())]


def _listed(values: list[float], digits: int = 2) -> str:
    return ", ".join(f"{value:.{digits}f}" for value in values[:-1]) + f" and {values[-1]:.{digits}f}"


def test_the_third_seed_of_the_sigma_data_setting_is_quoted_from_its_record_and_log():
    folder, name = "pixel_cartpole", "CartPole-v1_CnnPolicy_wm8_sigma_data_0.1"
    record = _record_in(folder, f"{name}_seed2")
    seed0 = _record_in(folder, name)
    assert record["seed"] == 2 and record["hyperparameters"] == seed0["hyperparameters"] and record["complete"]
    means = _means_in(folder, f"{name}_seed2")
    best = max(means.values())
    at_best = " and ".join(f"{steps // 1000}k" for steps in sorted(means) if means[steps] == best)
    after = next(point["mean"] for point in record["curve"] if point.get("after_training"))
    text = _text("benchmarks/results/experiments/pixel_cartpole/README.md")
    assert f"{best:.1f} at best ({at_best}), {after:.1f} after the training-only epochs" in text
    commit, minutes = record["commit"][:7], record["train_minutes"]
    assert f"Seed 2 (commit {commit}, the same training code; {minutes:.1f} training minutes" in text
    # The three seeds at 50k steps, against DIAMOND's sigma_data on seed 0.
    at_50k = [_means_in(folder, f"{name}{suffix}")[50_000] for suffix in ("", "_seed1", "_seed2")]
    control = _means_in(folder, "CartPole-v1_CnnPolicy_wm8_68ae469")[50_000]
    assert f"{_listed(at_50k, 1)} at 50k steps (mean {sum(at_50k) / 3:.1f}), against {control:.1f} for DIAMOND's 0.5" in text
    # The open-loop ratios per 10k steps of seeds 1 and 2, and the range of seed 0's and the control's.
    ratio = "world_model/open_loop_mse_ratio"
    seed1, seed2 = _ten_k_means("wm8_sigma_data_0.1_seed1", ratio), _ten_k_means("wm8_sigma_data_0.1_seed2", ratio)
    assert f"was {_listed(seed1)} on seed 1 and {_listed(seed2)} on seed 2" in text
    first0, last0 = _ten_k_means("wm8_sigma_data_0.1", ratio)[::4]
    first_control, last_control = _ten_k_means("wm8_68ae469", ratio)[::4]
    assert f"seed 0 had {first0:.2f} to {last0:.2f} and the control {first_control:.2f} to {last_control:.2f}" in text
    assert max(_ten_k_means("wm8_sigma_data_0.1", ratio)) < 1 < min(seed1 + seed2[:2])


def test_the_seed_1_control_is_quoted_from_its_record_and_log():
    folder = "pixel_cartpole"
    record = _record_in(folder, "CartPole-v1_CnnPolicy_wm8_seed1")
    control0 = _record_in(folder, "CartPole-v1_CnnPolicy_wm8_68ae469")
    assert record["seed"] == 1 and record["hyperparameters"] == control0["hyperparameters"] and record["complete"]
    ours, theirs = (
        [point["mean"] for point in _record_in(folder, name)["curve"]][-2:]
        for name in ("CartPole-v1_CnnPolicy_wm8_seed1", "CartPole-v1_CnnPolicy_wm8_sigma_data_0.1_seed1")
    )
    text = _text("benchmarks/results/experiments/pixel_cartpole/README.md")
    assert (
        f"(DIAMOND's 0.5, commit {record['commit'][:7]}, {record['train_minutes']:.1f} training minutes, beside other "
        f"runs) scored {ours[0]:.1f} at 50k steps and {ours[1]:.1f} after the training-only epochs, against "
        f"{theirs[0]:.1f} and {theirs[1]:.1f} with 0.1 on the same seed"
    ) in text
    ratios = _ten_k_means("wm8_seed1", "world_model/open_loop_mse_ratio")
    assert f"per 10k steps {_listed(ratios)}, is no better" in text and min(ratios) > 1


def test_the_epoch_cost_table_is_read_from_the_timing_records():
    text = _text("benchmarks/results/experiments/pixel_cartpole/README.md")
    costs = {}
    for name in ("timing_wm8", "timing_wm8_stem_stride2"):
        record = _record_in("pixel_cartpole", name)
        assert record["load_average_1_5_15_min"]["before"][0] <= 1.5  # measured on an otherwise idle machine
        assert record["first_epoch"]["updates"] == {"world_model": 200, "actor_critic": 50}
        epoch = record["per_epoch_mean"]["cpu_s"]
        cells = [epoch[part] for part in ("acting", "world_model", "actor_critic", "total")]
        row = " | ".join(f"{cell:.2f} s" for cell in cells) + f" | {record['projection']['cpu_minutes']:.1f} min |"
        assert row in text, row
        costs[name] = epoch
        encoder = record["hyperparams"]["policy_kwargs"]["encoder_kwargs"]
        assert encoder.get("stem_stride", 1) == (2 if name.endswith("stride2") else 1)
    paper, strided = costs["timing_wm8"], costs["timing_wm8_stem_stride2"]
    assert (
        f"makes the world-model updates {paper['world_model'] / strided['world_model']:.1f}x cheaper and a whole epoch "
        f"{paper['total'] / strided['total']:.1f}x"
    ) in text


def test_the_stem_stride_table_quotes_its_record():
    record = _record_in("pixel_cartpole", "offline_world_model_stem_stride")
    readme = _text("benchmarks/results/experiments/pixel_cartpole/README.md")
    assert record["variants"][0]["variant"] == {}
    curves = []
    for entry, label in zip(record["variants"], ("the paper's (`stem_stride=1`)", "strided (`stem_stride=2`)"), strict=True):
        encoder = entry["variant"].get("policy_kwargs", {}).get("encoder_kwargs", {})
        assert encoder.get("stem_stride", 1) == (1 if "paper" in label else 2)
        curve = {point["updates"]: point for point in entry["curve"]}
        ratios = " | ".join(f"{curve[updates]['open_loop_mse_ratio']:.2f}" for updates in (100, 200, 300, 400))
        assert f"| {label} | {ratios} | {curve[400]['cpu_seconds']:.1f} |" in readme
        curves.append(curve)
    paper, strided = curves
    share = strided[400]["cpu_seconds"] / paper[400]["cpu_seconds"]
    assert f"for {share:.0%} of the CPU time" in readme
    assert (
        f"({strided[400]['cpu_seconds']:.1f} s against the paper's stem's {paper[200]['cpu_seconds']:.1f} s for 200 "
        f"updates) it predicts better ({strided[400]['open_loop_mse_ratio']:.2f} against "
        f"{paper[200]['open_loop_mse_ratio']:.2f})"
    ) in readme


# The diagnostics the strided-stem runs' tables quote, in their columns' order.
STRIDED_RUN_KEYS = (
    "rollout/ep_rew_mean",
    "train/end_recall",
    "world_model/open_loop_mse_ratio",
    "world_model/open_loop_end_rate",
    "world_model/open_loop_real_end_rate",
)


def test_the_strided_stem_run_quotes_its_log():
    readme = _text("benchmarks/results/experiments/pixel_cartpole/README.md")
    record = _record_in("pixel_cartpole", "CartPole-v1_CnnPolicy_stem2_wm16")
    assert record["hyperparameters"]["policy_kwargs"]["encoder_kwargs"]["stem_stride"] == 2
    assert record["hyperparameters"]["gradient_steps"] == 16 and record["hyperparameters"]["actor_critic_gradient_steps"] == 8
    assert f"{record['train_minutes']:.1f} training minutes" in readme
    keys = (*STRIDED_RUN_KEYS, "train/denoising_loss")
    runs = (
        ("lr1e-3_stabilised_wm8", "8 updates"),
        ("stem2_wm16", "strided, 16 updates"),
        ("stem2_wm16_paper_actor_critic", "paper's actor-critic"),
    )
    for run, label in runs:
        windows = _window_means(run)
        for window in (1, 2, 3):
            ret, recall, ratio, imagined, real, loss = (windows[window][key] for key in keys)
            row = (
                f"| {window * 5}k | {label} | {ret:.1f} | {recall:.2f} | {ratio:.2f} | {imagined:.3f} / {real:.3f} "
                f"| {loss:.3f} |"
            )
            assert row in readme, row


STRIDED_50K_RUNS = {0: "stem2_wm16_50k", 1: "stem2_wm16_50k_seed1", 2: "stem2_wm16_50k_seed2"}


def test_the_strided_stem_50k_runs_quote_their_logs():
    readme = _text("benchmarks/results/experiments/pixel_cartpole/README.md")
    fifteen = _record_in("pixel_cartpole", "CartPole-v1_CnnPolicy_stem2_wm16")
    curves, minutes, windows = {}, {}, {}
    for seed, run in STRIDED_50K_RUNS.items():
        record = _record_in("pixel_cartpole", f"CartPole-v1_CnnPolicy_{run}")
        # The 15k-step run's settings, on each seed, to 50k steps.
        assert record["hyperparameters"] == fifteen["hyperparameters"]
        assert (record["seed"], record["steps"], record["complete"]) == (seed, 50_000, True)
        curves[seed] = _means_in("pixel_cartpole", f"CartPole-v1_CnnPolicy_{run}")
        minutes[seed] = record["train_minutes"]
        windows[seed] = _window_means(run, 10_000)
        assert sorted(windows[seed]) == [1, 2, 3, 4, 5]
        for window, means in windows[seed].items():
            ret, recall, ratio, imagined, real = (means[key] for key in STRIDED_RUN_KEYS)
            row = f"| {window * 10}k | {seed} | {ret:.1f} | {recall:.2f} | {ratio:.2f} | {imagined:.3f} / {real:.3f} |"
            assert row in readme, row
        assert f"seed {seed}: {minutes[seed]:.1f}" in readme.split("Training minutes (", 1)[1].split(")")[0]
    rates = [
        means["world_model/open_loop_end_rate"] / means["world_model/open_loop_real_end_rate"]
        for seed_windows in windows.values()
        for means in seed_windows.values()
    ]
    assert f"the imagined termination rate stays {min(rates):.1f}-{max(rates):.1f}x the real one;" in readme
    at_50k = {seed: curve[50_000] for seed, curve in curves.items()}
    mean = sum(at_50k.values()) / 3
    assert f"{at_50k[0]:.1f}, {at_50k[1]:.1f} and {at_50k[2]:.1f} at 50k steps (mean {mean:.1f})" in readme
    best = {seed: max(curve.values()) for seed, curve in curves.items()}
    assert f"(best {best[1]:.1f} and {best[2]:.1f}, against" in readme
    assert (
        f"that setting scored {at_50k[0]:.1f}, {at_50k[1]:.1f} and {at_50k[2]:.1f} (mean {mean:.1f}; best "
        f"{best[0]:.1f}, {best[1]:.1f} and {best[2]:.1f}) in under 45 training minutes each"
    ) in _text("docs/cpu-preset.md")
    assert max(minutes.values()) < 45
    # The eight-update runs of those seeds, as quoted beside them.
    earlier = [
        max(_means_in("pixel_cartpole", f"CartPole-v1_CnnPolicy_{run}").values())
        for run in ("wm8_seed1", "wm8_sigma_data_0.1_seed1", "wm8_sigma_data_0.1_seed2")
    ]
    assert f"against {earlier[0]:.1f} and {earlier[1]:.1f} on seed 1 and {earlier[2]:.1f} on seed 2" in readme
    # sigma_data 0.1, the other setting run on seeds 0-2: a higher mean, a wider spread.
    sigma = [
        _means_in("pixel_cartpole", f"CartPole-v1_CnnPolicy_{run}")[50_000]
        for run in ("wm8_sigma_data_0.1", "wm8_sigma_data_0.1_seed1", "wm8_sigma_data_0.1_seed2")
    ]
    assert (
        f"Its mean at 50k steps, {mean:.1f}, is a little below the {sum(sigma) / 3:.1f} of `sigma_data` 0.1 on the same "
        f"seeds, with a narrower spread ({min(at_50k.values()):.1f} to {max(at_50k.values()):.1f}, against "
        f"{min(sigma):.1f} to {max(sigma):.1f})"
    ) in readme


def test_the_paper_actor_critic_run_quotes_its_log():
    readme = _text("benchmarks/results/experiments/pixel_cartpole/README.md")
    strided = _record_in("pixel_cartpole", "CartPole-v1_CnnPolicy_stem2_wm16")["hyperparameters"]
    paper = _record_in("pixel_cartpole", "CartPole-v1_CnnPolicy_stem2_wm16_paper_actor_critic")["hyperparameters"]
    # Sizes, schedule and learning rate of the strided run; none of MlpPolicy's actor-critic options.
    assert all(paper[key] == strided[key] for key in paper if key != "policy_kwargs")
    assert set(paper) == {"learning_rate", "gradient_steps", "actor_critic_gradient_steps", "policy_kwargs"}
    assert paper["policy_kwargs"]["encoder_kwargs"] == strided["policy_kwargs"]["encoder_kwargs"]
    assert "separate_critic" not in paper["policy_kwargs"]["actor_critic_kwargs"]
    means = _means_in("pixel_cartpole", "CartPole-v1_CnnPolicy_stem2_wm16_paper_actor_critic")
    assert max(means.values()) < 22  # below random actions at every evaluation, as the README says
    windows = _window_means("stem2_wm16_paper_actor_critic")
    assert f"(entropy {windows[1]['train/entropy']:.2f}; real episodes end at a rate of" in readme
    assert f"of {windows[1]['world_model/open_loop_real_end_rate']:.3f} per step" in readme
    assert f"uniform ({windows[3]['train/entropy']:.2f} over the last 5k steps)" in readme
    recalls = [windows[window]["train/end_recall"] for window in (1, 2, 3)]
    assert f"(termination recall {min(recalls):.2f}-{max(recalls):.2f}," in readme


def test_readme_quotes_the_strided_pixel_setting_beside_the_baselines():
    strided = [_means_in("pixel_cartpole", f"CartPole-v1_CnnPolicy_{run}")[50_000] for run in STRIDED_50K_RUNS.values()]
    settings = _record_in("pixel_cartpole", "CartPole-v1_CnnPolicy_stem2_wm16_50k")["hyperparameters"]
    assert (settings["learning_rate"], settings["gradient_steps"], settings["actor_critic_gradient_steps"]) == (1e-3, 16, 8)
    results = json.loads(learning_results.RESULTS_JSON.read_text())
    baselines = results["tasks"]["CartPole-v1 from pixels"]["baselines"]
    at_50k = {}
    for algo in ("PPO", "DQN"):
        runs = baselines[algo]["runs"]
        assert sorted(run["seed"] for run in runs) == [0, 1, 2]
        at_50k[algo] = dict(zip(*learning_results.mean_curve(runs), strict=True))[50_000]
    assert (
        f"reaches a mean of {sum(strided) / 3:.1f} over three seeds at 50k steps (PPO: {at_50k['PPO']:.1f}, DQN: "
        f"{at_50k['DQN']:.1f};"
    ) in _text("README.md")
