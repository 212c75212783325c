"""
Hugging Face Hub support (sb3_jedi.hub), with no network: the real ``huggingface_hub`` client talks to a local stand-in
for the Hub endpoint (tests/hub_server.py) through ``HF_ENDPOINT``, with its cache in a temporary ``HF_HOME``.
"""

import base64
import functools
import inspect
import io
import json
import pickle
import re
import sys
import zipfile
from pathlib import Path

import av
import cv2
import gymnasium as gym
import numpy as np
import pytest
import torch as th
import yaml
from hub_server import HubStandIn
from huggingface_hub import HfApi, constants
from stable_baselines3 import PPO

import sb3_jedi.evaluation
from sb3_jedi import JEDI
from sb3_jedi.envs import make_atari100k_env
from sb3_jedi.evaluation import human_normalized_score
from sb3_jedi.evaluation.protocol import evaluate_atari100k
from sb3_jedi.hub import (
    HF_SB3_TRUST_REMOTE_CODE_ENV,
    TRUST_REMOTE_CODE_ENV,
    canonical_env_id,
    default_eval_episodes,
    default_repo_id,
    env_name,
    load_from_hub,
    model_zip_name,
    push_to_hub,
)
from sb3_jedi.policies import with_critic_layout, with_reward_head
from sb3_jedi.save_util import InvalidCheckpointError
from sb3_jedi.video import record_video

# The client's HTTP library deprecates the way the client itself sends LFS uploads; not something these tests control.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>' to upload raw bytes:DeprecationWarning")

TOKEN = "hf_stand_in_write_token"
REPO = "tester/jedi-cartpole"
ZIP = "jedi-CartPole-v1.zip"
# The files rl-zoo3's load_from_hub fetches besides the model zip.
ZOO_FILES = ("config.yml", "args.yml", "env_kwargs.yml", "train_eval_metrics.zip")
N_EVAL_EPISODES = 3
VIDEO_STEPS = 20

SMALL_MLP = {
    "latent_dim": 8,
    "encoder_kwargs": {"hidden_sizes": (32,)},
    "denoiser_kwargs": {"hidden_dim": 32, "n_layers": 1, "cond_dim": 16},
    "reward_end_kwargs": {"lstm_dim": 16, "hidden_dim": 16, "cond_dim": 8},
    "actor_critic_kwargs": {"lstm_dim": 16, "hidden_sizes": (16,)},
    "decoder_kwargs": {"hidden_sizes": (16,)},
}
SMALL_CNN = {
    "encoder_kwargs": {"channels": (8, 8, 8, 4)},
    "denoiser_kwargs": {"channels": 16, "depth": 1, "cond_dim": 16},
    "reward_end_kwargs": {"lstm_dim": 16, "channels": (8, 8), "hidden_dim": 16, "cond_dim": 8},
    "actor_critic_kwargs": {"lstm_dim": 16, "channels": (8, 8)},
    "use_decoder": False,
}


def _hub_environment(monkeypatch: pytest.MonkeyPatch, server: HubStandIn, hf_home: Path) -> None:
    """Point the huggingface_hub client at the stand-in, with its cache and token files under ``hf_home``."""
    monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
    monkeypatch.setenv("HF_HOME", str(hf_home))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    # LFS files then go through the Hub's LFS batch API (which the stand-in serves) rather than the Xet storage.
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    for name in ("HF_TOKEN", "HF_HUB_OFFLINE", "HF_HUB_CACHE", TRUST_REMOTE_CODE_ENV, HF_SB3_TRUST_REMOTE_CODE_ENV):
        monkeypatch.delenv(name, raising=False)
    # The client read its environment when imported: move every path under the old HF_HOME to the new one.
    old_home = constants.HF_HOME
    settings: dict[str, object] = {}
    for name in dir(constants):
        value = getattr(constants, name)
        if name.isupper() and isinstance(value, str) and value.startswith(old_home) and name != "HF_HOME":
            settings[name] = str(hf_home) + value[len(old_home) :]
    settings.update(
        {
            "HF_HOME": str(hf_home),
            "ENDPOINT": server.endpoint,
            "HUGGINGFACE_CO_URL_TEMPLATE": server.endpoint + "/{repo_id}/resolve/{revision}/{filename}",
            "HF_HUB_DISABLE_TELEMETRY": True,
            "HF_HUB_DISABLE_XET": True,
            "HF_HUB_OFFLINE": False,
        }
    )
    # Some client versions (0.x) also copied settings into their modules by name, e.g. file_download's URL template:
    # those copies move too, or a download would go to the real Hub.
    modules = [module for name, module in sorted(sys.modules.items()) if name.startswith("huggingface_hub.")]
    for name, value in settings.items():
        old = getattr(constants, name, None)
        monkeypatch.setattr(constants, name, value, raising=False)
        for module in modules:
            if module is not constants and name in vars(module) and vars(module)[name] == old:
                monkeypatch.setattr(module, name, value)


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    server = HubStandIn().start()
    with pytest.MonkeyPatch.context() as monkeypatch:
        _hub_environment(monkeypatch, server, tmp_path_factory.mktemp("hf_home"))
        yield server
    server.stop()


@pytest.fixture(scope="module")
def model():
    threads = th.get_num_threads()
    # Small networks: one thread is fastest, and leaves the machine's other cores alone.
    th.set_num_threads(1)
    model = JEDI(
        "MlpPolicy",
        "CartPole-v1",
        learning_starts=100,
        train_freq=50,
        gradient_steps=5,
        actor_critic_gradient_steps=5,
        first_epoch_gradient_steps=5,
        first_epoch_actor_critic_gradient_steps=5,
        batch_size=8,
        imagination_horizon=4,
        policy_kwargs=SMALL_MLP,
        seed=0,
    )
    yield model.learn(200)
    th.set_num_threads(threads)


@pytest.fixture(scope="module")
def pushed(hub, model):
    """The CartPole model pushed once; tests read the repo it made."""
    commit = push_to_hub(model, REPO, "CartPole-v1", n_eval_episodes=N_EVAL_EPISODES, video_length=VIDEO_STEPS, token=TOKEN)
    return commit


def _download(repo_id: str, filename: str) -> Path:
    return Path(HfApi().hf_hub_download(repo_id, filename))


def _card_metadata(card: str) -> dict:
    match = re.match(r"^---\n(.*?)\n---\n", card, flags=re.DOTALL)
    assert match is not None, "the model card has no YAML front matter"
    return yaml.safe_load(match.group(1))


def _protocol_deterministic() -> bool:
    """The ``deterministic`` default of the Atari100k evaluation protocol (``sb3-jedi evaluate`` on Atari)."""
    default = inspect.signature(evaluate_atari100k).parameters["deterministic"].default
    assert isinstance(default, bool)
    return default


# How the model card describes each action selection.
ACTIONS = {True: "greedy actions", False: "actions sampled from the policy"}


def _rollout_actions(model, n_steps: int = 30, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic actions and final LSTM state over a fixed CartPole trajectory (driven by seeded random actions)."""
    env = gym.make("CartPole-v1")
    obs, _ = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    state, episode_start, actions = None, np.ones(1, dtype=bool), []
    for _ in range(n_steps):
        action, state = model.predict(obs[None], state=state, episode_start=episode_start, deterministic=True)
        actions.append(int(action[0]))
        # The trajectory does not depend on the model: both models see the same observations and episode starts.
        obs, _, terminated, truncated, _ = env.step(int(rng.integers(2)))
        episode_start = np.array([terminated or truncated])
        if episode_start[0]:
            obs, _ = env.reset()
    return np.array(actions), np.concatenate(state, axis=-1)


# Pushing -------------------------------------------------------------------------------------------------------------


def test_push_uploads_every_file_in_one_commit(hub, pushed):
    repo = hub.repos[REPO]
    # The repo's initial commit, then exactly one commit with everything.
    assert len(repo.commits) == 2
    assert pushed.oid == repo.head.oid
    assert pushed.commit_url == f"{hub.endpoint}/{REPO}/commit/{repo.head.oid}"
    expected = {".gitattributes", "README.md", "config.json", "results.json", "replay.mp4", ZIP, *ZOO_FILES}
    assert set(hub.files(REPO)) == expected
    # Binary files went through the LFS negotiation and upload, text files inside the commit.
    assert hub.lfs_paths(REPO) == {ZIP, "replay.mp4", "train_eval_metrics.zip"}
    assert hub.count("PUT", r"/_lfs/upload/[0-9a-f]{64}") == 3
    assert TOKEN in hub.tokens_seen
    assert hub.unhandled == []
    # The files listed by the Hub API are the ones committed.
    assert sorted(HfApi().list_repo_files(REPO)) == sorted(hub.files(REPO))


def test_push_again_updates_the_repo(hub, model):
    repo_id = "tester/pushed-twice"
    push_to_hub(model, repo_id, "CartPole-v1", n_eval_episodes=1, video_length=0, token=TOKEN, commit_message="first")
    push_to_hub(model, repo_id, "CartPole-v1", n_eval_episodes=2, video_length=0, token=TOKEN, commit_message="second")
    commits = hub.repos[repo_id].commits
    assert [c.message for c in commits[1:]] == ["first", "second"]
    assert json.loads(hub.files(repo_id)["results.json"])["n_eval_episodes"] == 2
    assert "replay.mp4" not in hub.files(repo_id)


def test_model_card_metadata_and_usage(hub, pushed):
    card = _download(REPO, "README.md").read_text()
    match = re.match(r"^---\n(.*?)\n---\n", card, flags=re.DOTALL)
    assert match is not None, "the model card has no YAML front matter"
    metadata = yaml.safe_load(match.group(1))
    results = json.loads(_download(REPO, "results.json").read_text())

    assert metadata["library_name"] == "stable-baselines3"
    for tag in ("sb3-jedi", "model-based-reinforcement-learning", "deep-reinforcement-learning", "reinforcement-learning"):
        assert tag in metadata["tags"]
    assert {"stable-baselines3", "CartPole-v1"} <= set(metadata["tags"])
    (entry,) = metadata["model-index"]
    assert entry["name"] == "JEDI"
    (result,) = entry["results"]
    assert result["task"]["type"] == "reinforcement-learning"
    assert result["dataset"]["name"] == "CartPole-v1"
    (metric,) = result["metrics"]
    assert metric["type"] == "mean_reward"
    assert metric["value"] == f"{results['mean_reward']:.2f} +/- {results['std_reward']:.2f}"

    body = card[match.end() :]
    assert "load_from_hub" in body and "state=state" in body and "episode_start" in body
    assert TRUST_REMOTE_CODE_ENV in body and f"{HF_SB3_TRUST_REMOTE_CODE_ENV}=True" in body
    assert f"| {N_EVAL_EPISODES} ({ACTIONS[results['is_deterministic']]}) |" in body
    assert "atari100k" not in metadata["tags"]
    # How to load it with huggingface-sb3 and rl-zoo3, and the zoo's files in the file list.
    assert f'load_from_hub("{REPO}", "{ZIP}")' in body and "JEDI.load(checkpoint)" in body
    assert "download_from_hub(algo='jedi', env_name=EnvironmentName('CartPole-v1')" in body
    assert all(f"`{name}`" in body for name in ZOO_FILES)


def _python_blocks(card: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", card, flags=re.DOTALL)


def test_model_card_usage_code_runs(hub, pushed, monkeypatch):
    card = _download(REPO, "README.md").read_text()
    usage, _ = _python_blocks(card)
    namespace: dict = {}
    exec(compile(usage, "model card usage", "exec"), namespace)
    assert isinstance(namespace["model"], JEDI)
    assert np.isfinite(namespace["mean_reward"]) and namespace["mean_reward"] >= 1


def test_model_card_huggingface_sb3_code_runs(hub, pushed, model, monkeypatch):
    pytest.importorskip("huggingface_sb3")
    card = _download(REPO, "README.md").read_text()
    _, code = _python_blocks(card)
    # The snippet sets the variable itself; monkeypatch restores the environment afterwards.
    monkeypatch.setenv(HF_SB3_TRUST_REMOTE_CODE_ENV, "False")
    namespace: dict = {}
    exec(compile(code, "model card huggingface-sb3 usage", "exec"), namespace)
    assert type(namespace["model"]) is JEDI
    np.testing.assert_array_equal(_rollout_actions(namespace["model"])[0], _rollout_actions(model)[0])


def test_results_json(hub, pushed, model):
    results = json.loads(_download(REPO, "results.json").read_text())
    # huggingface-sb3's keys come first, in its order; ours follow.
    assert list(results)[:5] == ["mean_reward", "std_reward", "is_deterministic", "n_eval_episodes", "eval_datetime"]
    assert results["env_id"] == "CartPole-v1"
    assert results["n_eval_episodes"] == len(results["episode_rewards"]) == N_EVAL_EPISODES
    assert results["mean_reward"] == pytest.approx(np.mean(results["episode_rewards"]))
    assert results["std_reward"] == pytest.approx(np.std(results["episode_rewards"]))
    # CartPole pays 1 per step: the returns are the episode lengths.
    assert results["episode_rewards"] == pytest.approx(results["episode_lengths"])
    assert results["num_timesteps"] == model.num_timesteps
    assert "human_normalized_score" not in results  # not an Atari game
    # As huggingface-sb3 writes it, beside our own key: CartPole is scored with greedy actions, as `sb3-jedi evaluate` does.
    assert results["is_deterministic"] is True
    assert results["deterministic"] is True
    assert results["action_selection"] == "greedy"
    assert results["evaluation_protocol"] == "evaluate_policy"


def test_config_json(hub, pushed, model):
    config = json.loads(_download(REPO, "config.json").read_text())
    assert config["algorithm"] == "sb3_jedi.jedi:JEDI"
    assert config["env_id"] == "CartPole-v1"
    hp = config["hyperparameters"]
    assert hp["learning_starts"] == 100 and hp["batch_size"] == 8 and hp["imagination_horizon"] == 4
    assert hp["train_freq"] == [50, "step"]
    assert hp["learning_rate"] == model.learning_rate
    # The policy_kwargs passed in, with the reward head, the critic layout and the conv blocks the policy built
    # (recorded so that loading rebuilds them).
    built = {**with_critic_layout(with_reward_head(SMALL_MLP, "symlog_twohot"), separate_critic=True), "diamond_blocks": True}
    assert json.loads(json.dumps(built)) == config["policy_kwargs"]
    assert {"sb3-jedi", "stable-baselines3", "torch", "gymnasium", "ale-py"} <= set(config["versions"])
    assert config["versions"]["torch"] == th.__version__


def test_rl_zoo_files(hub, pushed, model):
    """config.yml, args.yml, env_kwargs.yml and train_eval_metrics.zip, laid out as rl-zoo3 writes them."""
    # Plain YAML: safe_load reads it (rl-zoo3 reads it with its unsafe loader, which reads plain YAML too).
    zoo_config = yaml.safe_load(_download(REPO, "config.yml").read_text())
    config = json.loads(_download(REPO, "config.json").read_text())
    assert zoo_config["policy"] == "MlpPolicy"
    assert zoo_config["n_timesteps"] == model.num_timesteps
    assert zoo_config["n_envs"] == 1
    assert zoo_config["policy_kwargs"] == config["policy_kwargs"]
    assert zoo_config["batch_size"] == 8 and zoo_config["learning_starts"] == 100
    assert {key: zoo_config[key] for key in config["hyperparameters"]} == config["hyperparameters"]
    # rl-zoo3's enjoy reads env_kwargs from args.yml.
    args = yaml.safe_load(_download(REPO, "args.yml").read_text())
    assert args == {"algo": "jedi", "env": "CartPole-v1", "env_kwargs": {}, "n_timesteps": model.num_timesteps, "seed": 0}
    assert yaml.safe_load(_download(REPO, "env_kwargs.yml").read_text()) == {}
    # The evaluation of results.json, as SB3's EvalCallback writes evaluations.npz (one row: one evaluation).
    results = json.loads(_download(REPO, "results.json").read_text())
    with zipfile.ZipFile(_download(REPO, "train_eval_metrics.zip")) as archive:
        assert archive.namelist() == ["evaluations.npz"]
        evaluations = np.load(io.BytesIO(archive.read("evaluations.npz")))
        np.testing.assert_array_equal(evaluations["timesteps"], [model.num_timesteps])
        np.testing.assert_allclose(evaluations["results"], [results["episode_rewards"]])
        np.testing.assert_array_equal(evaluations["ep_lengths"], [results["episode_lengths"]])


def _decode(path: Path) -> tuple[dict, list[np.ndarray]]:
    """The video stream's codec, pixel format, size and rate, and its frames as RGB arrays, read with PyAV."""
    with av.open(str(path)) as container:
        (stream,) = container.streams.video
        info = {
            "codec": stream.codec_context.name,
            "pix_fmt": stream.codec_context.pix_fmt,
            "size": (stream.codec_context.width, stream.codec_context.height),
            "rate": stream.average_rate,
            "frames": stream.frames,
        }
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
    return info, frames


def test_replay_video_is_h264(hub, pushed):
    path = _download(REPO, "replay.mp4")
    info, frames = _decode(path)
    # H.264 in yuv420p: what browsers and the Hub's player play.
    assert info["codec"] == "h264"
    assert info["pix_fmt"] == "yuv420p"
    assert info["frames"] == len(frames) == VIDEO_STEPS
    # CartPole renders 600x400 RGB frames at 50 fps; a rendered cart is not a blank image.
    assert info["size"] == (600, 400)
    assert frames[0].shape == (400, 600, 3)
    assert info["rate"] == gym.make("CartPole-v1").metadata["render_fps"]
    assert frames[0].std() > 1
    # OpenCV reads it too.
    capture = cv2.VideoCapture(str(path))
    try:
        assert capture.isOpened() and capture.read()[0]
    finally:
        capture.release()


class _OddSizedEnv(gym.Env):
    """Renders (21, 33) RGB frames: red left part, blue right part, a green pixel row whose height tells the step."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self) -> None:
        self.render_mode = "rgb_array"
        self.observation_space = gym.spaces.Box(0.0, 1.0, (1,))
        self.action_space = gym.spaces.Discrete(2)
        self.t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(1, dtype=np.float32), {}

    def step(self, action):
        self.t += 1
        return np.zeros(1, dtype=np.float32), 0.0, self.t >= 4, False, {}

    def render(self) -> np.ndarray:
        frame = np.zeros((21, 33, 3), dtype=np.uint8)
        frame[:, :16] = (220, 20, 20)
        frame[:, 16:] = (20, 20, 220)
        return frame


class _ConstantPolicy:
    def __init__(self) -> None:
        self.calls: list[bool] = []

    def predict(self, obs, state=None, episode_start=None, deterministic=False):
        self.calls.append(deterministic)
        return np.zeros(len(obs), dtype=np.int64), state


def test_record_video_writes_h264_with_even_sizes(tmp_path):
    from stable_baselines3.common.vec_env import DummyVecEnv

    env = DummyVecEnv([_OddSizedEnv])
    policy = _ConstantPolicy()
    path = tmp_path / "videos" / "odd.mp4"
    n_steps = 11  # episodes of 4 steps: the recording goes on across resets
    assert record_video(policy, env, path, n_steps=n_steps, fps=7, deterministic=False) == n_steps
    assert policy.calls == [False] * n_steps
    info, frames = _decode(path)
    assert info["codec"] == "h264" and info["pix_fmt"] == "yuv420p"
    assert info["frames"] == len(frames) == n_steps
    assert info["rate"] == 7
    # 33x21 padded to 34x22 (yuv420p needs even sides), repeating the last column and row.
    assert info["size"] == (34, 22)
    frame = frames[n_steps // 2].astype(int)
    assert frame.shape == (22, 34, 3)
    # Colours survive the encoding (lossy, so approximately) in RGB order, the padding included.
    np.testing.assert_allclose(frame[2:-2, 2:12].mean(axis=(0, 1)), (220, 20, 20), atol=25)
    np.testing.assert_allclose(frame[2:-2, 20:].mean(axis=(0, 1)), (20, 20, 220), atol=25)
    np.testing.assert_allclose(frame[:, -1].mean(axis=0), (20, 20, 220), atol=25)


def test_record_video_checks_its_arguments(tmp_path):
    from stable_baselines3.common.vec_env import DummyVecEnv

    env = DummyVecEnv([_OddSizedEnv])
    with pytest.raises(ValueError, match="n_steps"):
        record_video(_ConstantPolicy(), env, tmp_path / "a.mp4", n_steps=0)
    with pytest.raises(ValueError, match="fps"):
        record_video(_ConstantPolicy(), env, tmp_path / "a.mp4", fps=0)
    assert not (tmp_path / "a.mp4").exists()


def _metrics_archive(files: dict[str, bytes]) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(files["train_eval_metrics.zip"])) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_push_packs_the_training_run_metrics(hub, model, tmp_path):
    """With the run's folder, train_eval_metrics.zip holds its evaluations.npz and Monitor logs, as rl-zoo3 packs them."""
    run = tmp_path / "run"
    run.mkdir()
    returns = [[9.0, 11.0], [30.0, 50.0]]
    np.savez(run / "evaluations.npz", timesteps=[100, 200], results=returns, ep_lengths=np.array(returns, dtype=int))
    (run / "0.monitor.csv").write_text('#{"t_start": 0.0, "env_id": "CartPole-v1"}\nr,l,t\n12.0,12,0.1\n')
    (run / "0.part1.monitor.csv").write_text('#{"t_start": 0.0, "env_id": "CartPole-v1"}\nr,l,t\n20.0,20,0.2\n')
    (run / "model.zip").write_bytes(b"not packed")
    repo_id = "tester/with-run-metrics"
    push_to_hub(model, repo_id, "CartPole-v1", n_eval_episodes=1, video_length=0, token=TOKEN, log_dir=run)
    files = hub.files(repo_id)
    packed = _metrics_archive(files)
    assert set(packed) == {"evaluations.npz", "0.monitor.csv", "0.part1.monitor.csv"}
    assert packed["evaluations.npz"] == (run / "evaluations.npz").read_bytes()
    assert packed["0.monitor.csv"] == (run / "0.monitor.csv").read_bytes()
    assert "the training run's evaluations (`evaluations.npz`) and the run's Monitor logs (2 `.csv` files)" in (
        files["README.md"].decode()
    )
    # A folder without evaluations.npz: the push's own evaluation, beside the run's Monitor logs.
    (run / "evaluations.npz").unlink()
    push_to_hub(model, repo_id, "CartPole-v1", n_eval_episodes=2, video_length=0, token=TOKEN, log_dir=str(run))
    packed = _metrics_archive(hub.files(repo_id))
    assert set(packed) == {"evaluations.npz", "0.monitor.csv", "0.part1.monitor.csv"}
    assert np.load(io.BytesIO(packed["evaluations.npz"]))["results"].shape == (1, 2)
    with pytest.raises(ValueError, match="log_dir must be the training run's folder"):
        push_to_hub(model, repo_id, "CartPole-v1", token=TOKEN, log_dir=tmp_path / "missing")


def test_push_checks_its_arguments(hub, model):
    with pytest.raises(ValueError, match="repo_id"):
        push_to_hub(model, "not a/valid/repo", "CartPole-v1", token=TOKEN)
    with pytest.raises(ValueError, match="n_eval_episodes"):
        push_to_hub(model, REPO, "CartPole-v1", n_eval_episodes=0, token=TOKEN)
    with pytest.raises(ValueError, match="deterministic must be True"):
        push_to_hub(model, REPO, "CartPole-v1", deterministic="yes", token=TOKEN)
    with pytest.raises(ValueError, match="action space"):
        push_to_hub(model, REPO, "MountainCar-v0", token=TOKEN)
    with pytest.raises(ValueError, match="render_mode='rgb_array'"):
        push_to_hub(model, REPO, "CartPole-v1", eval_env=gym.make("CartPole-v1"), token=TOKEN)
    with pytest.raises(TypeError, match="JEDI models"):
        push_to_hub(PPO("MlpPolicy", "CartPole-v1"), REPO, "CartPole-v1", token=TOKEN)


# Loading -------------------------------------------------------------------------------------------------------------


def test_round_trip_gives_identical_actions(hub, pushed, model):
    loaded = load_from_hub(REPO, trust_remote_code=True)
    assert type(loaded) is JEDI
    assert loaded.num_timesteps == model.num_timesteps
    actions, state = _rollout_actions(model)
    loaded_actions, loaded_state = _rollout_actions(loaded)
    np.testing.assert_array_equal(loaded_actions, actions)
    np.testing.assert_allclose(loaded_state, state, rtol=0, atol=1e-6)
    # A non-zero recurrent state: the state comparison above says something.
    assert not np.allclose(state, 0)


def test_second_load_comes_from_the_cache(hub, pushed):
    load_from_hub(REPO, trust_remote_code=True)
    downloads = hub.count("GET", r"/[0-9a-f]{64}")  # LFS content, from the storage origin
    load_from_hub(REPO, trust_remote_code=True)
    assert hub.count("GET", r"/[0-9a-f]{64}") == downloads
    assert downloads >= 1


def test_load_refuses_without_opt_in(hub, pushed):
    before = len(hub.requests)
    with pytest.raises(ValueError) as error:
        load_from_hub(REPO)
    message = str(error.value)
    assert "arbitrary code" in message and "trust_remote_code=True" in message and TRUST_REMOTE_CODE_ENV in message
    # Refused before anything was downloaded.
    assert len(hub.requests) == before


def test_environment_variable_opts_in(hub, pushed, monkeypatch):
    monkeypatch.setenv(TRUST_REMOTE_CODE_ENV, "1")
    assert isinstance(load_from_hub(REPO), JEDI)
    monkeypatch.setenv(TRUST_REMOTE_CODE_ENV, "0")
    with pytest.raises(ValueError, match="trust_remote_code=True"):
        load_from_hub(REPO)


@pytest.mark.parametrize("value", ["True", "1", "true"])
def test_huggingface_sb3_environment_variable_opts_in(hub, pushed, monkeypatch, value):
    monkeypatch.setenv(HF_SB3_TRUST_REMOTE_CODE_ENV, value)
    assert isinstance(load_from_hub(REPO), JEDI)


@pytest.mark.parametrize("value", ["False", "0", "false", ""])
def test_huggingface_sb3_environment_variable_false_refuses(hub, pushed, monkeypatch, value):
    monkeypatch.setenv(HF_SB3_TRUST_REMOTE_CODE_ENV, value)
    before = len(hub.requests)
    with pytest.raises(ValueError, match="trust_remote_code=True") as error:
        load_from_hub(REPO)
    assert f"{HF_SB3_TRUST_REMOTE_CODE_ENV}=True" in str(error.value)
    assert len(hub.requests) == before
    # Either variable opts in.
    monkeypatch.setenv(TRUST_REMOTE_CODE_ENV, "yes")
    assert isinstance(load_from_hub(REPO), JEDI)


def test_unreadable_trust_value_is_an_error(hub, pushed, monkeypatch):
    monkeypatch.setenv(HF_SB3_TRUST_REMOTE_CODE_ENV, "maybe")
    with pytest.raises(ValueError, match=r"TRUST_REMOTE_CODE='maybe' is not a yes/no value"):
        load_from_hub(REPO)
    # An explicit opt-in does not read the environment.
    assert isinstance(load_from_hub(REPO, trust_remote_code=True), JEDI)


def _ppo_zip_with_booby_trap(marker: Path) -> bytes:
    """A PPO model zip whose pickled policy class, if ever unpickled, would create ``marker``."""
    buffer = io.BytesIO()
    PPO("MlpPolicy", "CartPole-v1", n_steps=16, batch_size=16).save(buffer)
    source = zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
    data = json.loads(source.read("data"))
    trap = pickle.dumps(_TouchOnUnpickle(str(marker)))
    data["policy_class"][":serialized:"] = base64.b64encode(trap).decode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name in source.namelist():
            archive.writestr(name, json.dumps(data) if name == "data" else source.read(name))
    return out.getvalue()


class _TouchOnUnpickle:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return Path.touch, (Path(self.path),)


def test_ppo_zip_is_rejected_before_unpickling(hub, tmp_path):
    marker = tmp_path / "unpickled"
    payload = _ppo_zip_with_booby_trap(marker)
    # The trap works: unpickling the policy class entry would create the marker.
    pickle.loads(base64.b64decode(json.loads(zipfile.ZipFile(io.BytesIO(payload)).read("data"))["policy_class"][":serialized:"]))
    assert marker.exists()
    marker.unlink()

    api = HfApi()
    api.create_repo("tester/ppo-cartpole", token=TOKEN, exist_ok=True)
    api.upload_file(path_or_fileobj=payload, path_in_repo="ppo-CartPole-v1.zip", repo_id="tester/ppo-cartpole", token=TOKEN)
    with pytest.raises(InvalidCheckpointError, match="not a JEDI model: it was saved by PPO") as error:
        load_from_hub("tester/ppo-cartpole", trust_remote_code=True)
    assert "tester/ppo-cartpole" in str(error.value)
    assert not marker.exists()


def test_non_zip_file_is_rejected(hub):
    hub.add_repo("tester/not-a-zip", {"model.zip": b"this is a text file, not a zip archive\n"})
    with pytest.raises(InvalidCheckpointError, match="not a readable zip archive"):
        load_from_hub("tester/not-a-zip", trust_remote_code=True)


def test_choice_of_the_model_zip(hub, pushed):
    hub.add_repo("tester/no-zip", {"README.md": b"# nothing here\n"})
    with pytest.raises(ValueError, match=r"no \.zip model file .*README\.md"):
        load_from_hub("tester/no-zip", trust_remote_code=True)

    jedi_zip = hub.files(REPO)[ZIP]
    hub.add_repo("tester/two-zips", {"a.zip": jedi_zip, "b.zip": jedi_zip})
    with pytest.raises(ValueError, match=r"several model zips \(a\.zip, b\.zip\).*filename="):
        load_from_hub("tester/two-zips", trust_remote_code=True)
    assert isinstance(load_from_hub("tester/two-zips", filename="b.zip", trust_remote_code=True), JEDI)
    with pytest.raises(ValueError, match=r"no file 'c\.zip'"):
        load_from_hub("tester/two-zips", filename="c.zip", trust_remote_code=True)
    # rl-zoo3's metrics archive is not a model: a repo with it and one model zip has one choice.
    metrics = hub.files(REPO)["train_eval_metrics.zip"]
    hub.add_repo("tester/zoo-layout", {"model.zip": jedi_zip, "train_eval_metrics.zip": metrics})
    assert isinstance(load_from_hub("tester/zoo-layout", trust_remote_code=True), JEDI)
    hub.add_repo("tester/metrics-only", {"train_eval_metrics.zip": metrics})
    with pytest.raises(ValueError, match=r"no \.zip model file"):
        load_from_hub("tester/metrics-only", trust_remote_code=True)


# Other clients: huggingface-sb3 and rl-zoo3 ---------------------------------------------------------------------------


def _assert_same_agent(loaded, model) -> None:
    actions, state = _rollout_actions(model)
    loaded_actions, loaded_state = _rollout_actions(loaded)
    np.testing.assert_array_equal(loaded_actions, actions)
    np.testing.assert_allclose(loaded_state, state, rtol=0, atol=1e-6)


def test_huggingface_sb3_load_from_hub_then_jedi_load(hub, pushed, model, monkeypatch):
    huggingface_sb3 = pytest.importorskip("huggingface_sb3")
    monkeypatch.setenv(HF_SB3_TRUST_REMOTE_CODE_ENV, "True")
    path = huggingface_sb3.load_from_hub(REPO, ZIP)
    loaded = JEDI.load(path, device="cpu")
    assert type(loaded) is JEDI and loaded.num_timesteps == model.num_timesteps
    _assert_same_agent(loaded, model)


# Run in a child process: importing rl_zoo3 patches gymnasium's TimeLimit for the whole process.
_RL_ZOO3_DOWNLOAD = """
import sys

import rl_zoo3.load_from_hub as zoo_hub
from huggingface_hub.errors import EntryNotFoundError
from huggingface_sb3 import EnvironmentName

# rl-zoo3 skips a repo's missing vec_normalize.pkl by catching requests' HTTPError, which huggingface-hub 0.x raises
# and 1.0 and later do not (their errors are not requests' any more): catch those too, as the zoo means to.
if not issubclass(EntryNotFoundError, zoo_hub.HTTPError):
    zoo_hub.HTTPError = (zoo_hub.HTTPError, EntryNotFoundError)
algo, env_id, folder, organization = sys.argv[1:]
zoo_hub.download_from_hub(algo, EnvironmentName(env_id), exp_id=0, folder=folder, organization=organization)
"""


def test_rl_zoo3_load_from_hub(hub, model, tmp_path, monkeypatch):
    pytest.importorskip("huggingface_sb3")
    pytest.importorskip("rl_zoo3")
    import subprocess
    import sys

    # The repo rl-zoo3 looks for: ORGA/<algo>-<env name>, holding <algo>-<env name>.zip (default_repo_id names it so).
    repo_id = default_repo_id("tester", "jedi", "CartPole-v1")
    push_to_hub(model, repo_id, "CartPole-v1", n_eval_episodes=2, video_length=0, token=TOKEN)
    monkeypatch.setenv(HF_SB3_TRUST_REMOTE_CODE_ENV, "True")
    logs = tmp_path / "logs"
    command = [sys.executable, "-c", _RL_ZOO3_DOWNLOAD, "jedi", "CartPole-v1", str(logs), "tester"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"Downloading from https://huggingface.co/{repo_id}" in done.stdout
    # The zoo's log folder: logs/<algo>/<env>_<run>/ with the model, the env's config folder and the metrics.
    run = logs / "jedi" / "CartPole-v1_1"
    assert {path.relative_to(run).as_posix() for path in run.rglob("*") if path.is_file()} == {
        "CartPole-v1.zip",
        "CartPole-v1/config.yml",
        "CartPole-v1/args.yml",
        "CartPole-v1/env_kwargs.yml",
        "evaluations.npz",
    }
    assert np.load(run / "evaluations.npz")["results"].shape == (1, 2)
    loaded = JEDI.load(run / "CartPole-v1.zip", device="cpu")
    assert loaded.num_timesteps == model.num_timesteps
    _assert_same_agent(loaded, model)


# Atari -------------------------------------------------------------------------------------------------------------


# Short games (400 emulator frames = 100 agent steps) keep the Atari evaluations fast.
SHORT_GAME_FRAMES = 400


@pytest.fixture(scope="module")
def atari_env():
    env = make_atari100k_env("Pong", seed=0, training=False, max_episode_frames=SHORT_GAME_FRAMES)
    yield env
    env.close()


@pytest.fixture(scope="module")
def atari_model(atari_env):
    return JEDI("CnnPolicy", atari_env, buffer_size=1_000, policy_kwargs=SMALL_CNN, seed=0, device="cpu")


@pytest.fixture
def protocol_calls(monkeypatch):
    """
    Spies on the Atari100k protocol's evaluation as the command line and the Hub code import it: records the
    ``deterministic`` each call gets (defaults applied) and shortens the games.
    """
    real = sb3_jedi.evaluation.evaluate_atari100k
    signature = inspect.signature(real)
    calls: list[bool] = []

    @functools.wraps(real)
    def spy(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        calls.append(bound.arguments["deterministic"])
        bound.arguments["max_episode_frames"] = SHORT_GAME_FRAMES
        return real(*bound.args, **bound.kwargs)

    monkeypatch.setattr(sb3_jedi.evaluation, "evaluate_atari100k", spy)
    return calls


def test_atari_push_reports_the_human_normalized_score(hub, atari_env, atari_model):
    push_to_hub(
        atari_model, "tester/jedi-pong", "ALE/Pong-v5", eval_env=atari_env, n_eval_episodes=1, video_length=4, token=TOKEN
    )
    files = hub.files("tester/jedi-pong")
    assert "jedi-ALE-Pong-v5.zip" in files
    results = json.loads(files["results.json"])
    assert results["atari_game"] == "Pong"
    assert results["human_normalized_score"] == pytest.approx(human_normalized_score("Pong", results["mean_reward"]))
    # A given eval_env is scored by evaluate_policy, with the protocol's action selection.
    assert results["evaluation_protocol"] == "evaluate_policy"
    assert results["is_deterministic"] is results["deterministic"] is _protocol_deterministic()
    metadata = _card_metadata(files["README.md"].decode())
    metrics = {m["type"]: m["value"] for m in metadata["model-index"][0]["results"][0]["metrics"]}
    assert metrics["human_normalized_score"] == pytest.approx(results["human_normalized_score"], abs=1e-4)
    assert {"ALE/Pong-v5", "atari100k"} <= set(metadata["tags"])
    assert 'make_atari100k_env("Pong", training=False)' in files["README.md"].decode()
    info, frames = _decode_bytes(files["replay.mp4"])
    assert info["codec"] == "h264" and len(frames) == 4
    # 15 agent steps per second (60 emulator frames, frame skip 4): real time.
    assert info["rate"] == 15


def _decode_bytes(content: bytes) -> tuple[dict, list[np.ndarray]]:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "video.mp4"
        path.write_bytes(content)
        return _decode(path)


def test_atari_push_scores_as_the_cli_evaluates(hub, atari_model, tmp_path, protocol_calls):
    """The card's score and `sb3-jedi evaluate` use one protocol on Atari: the same action selection, the same games."""
    from sb3_jedi.cli import main

    model_path = tmp_path / "model.zip"
    atari_model.save(model_path)
    cli_json = tmp_path / "evaluate.json"
    args = ["evaluate", str(model_path), "--env", "Pong", "--episodes", "2", "--device", "cpu", "--json", str(cli_json)]
    assert main(args) == 0
    cli = json.loads(cli_json.read_text())

    repo = "tester/jedi-pong-protocol"
    push_to_hub(atari_model, repo, "Pong", n_eval_episodes=2, video_length=0, token=TOKEN)
    files = hub.files(repo)
    results = json.loads(files["results.json"])
    card = files["README.md"].decode()

    protocol = _protocol_deterministic()
    # Both ran the protocol's evaluation, with its default action selection (sampled actions, DIAMOND's protocol).
    assert protocol_calls == [protocol, protocol]
    assert cli["deterministic"] is protocol
    assert results["is_deterministic"] is results["deterministic"] is protocol
    assert results["action_selection"] == ("greedy" if protocol else "sampled")
    assert results["evaluation_protocol"] == "atari100k" and results["eval_seed"] == 0
    # Same seed, same model: the same games, episode by episode.
    assert results["episode_rewards"] == cli["returns"]
    assert results["human_normalized_score"] == pytest.approx(cli["human_normalized_score"])
    # The card says which actions the score used, and its usage code uses them too.
    assert f"| 2 ({ACTIONS[protocol]}) |" in card
    assert f"deterministic={protocol})" in card
    assert "sb3-jedi evaluate" in card
    # The canonical ALE id and the benchmark tag, whichever spelling of the game was given; the zip is named from it.
    metadata = _card_metadata(card)
    assert {"ALE/Pong-v5", "atari100k"} <= set(metadata["tags"])
    assert "Pong" not in metadata["tags"]
    assert metadata["model-index"][0]["results"][0]["dataset"]["type"] == "ALE/Pong-v5"
    assert results["env_id"] == "ALE/Pong-v5" and results["atari_game"] == "Pong"
    assert "jedi-ALE-Pong-v5.zip" in files and "jedi-Pong.zip" not in files
    assert yaml.safe_load(files["args.yml"])["env"] == "ALE/Pong-v5"
    assert yaml.safe_load(files["config.yml"])["policy"] == "CnnPolicy"


def test_atari_push_with_the_other_action_selection(hub, atari_model, protocol_calls):
    other = not _protocol_deterministic()
    repo = "tester/jedi-pong-other"
    push_to_hub(atari_model, repo, "Pong", n_eval_episodes=1, video_length=0, token=TOKEN, deterministic=other)
    assert protocol_calls == [other]
    files = hub.files(repo)
    results = json.loads(files["results.json"])
    assert results["is_deterministic"] is results["deterministic"] is other
    assert results["action_selection"] == ("greedy" if other else "sampled")
    assert f"| 1 ({ACTIONS[other]}) |" in files["README.md"].decode()



class _EpisodesSeen(Exception):
    """Stops an evaluation once its number of episodes is known."""


def test_atari_evaluations_default_to_diamonds_100_final_episodes(hub, atari_model, tmp_path, monkeypatch):
    """
    DIAMOND's final evaluation is 100 episodes (config/trainer.yaml: collection.test.num_final_episodes): `sb3-jedi
    evaluate`, `sb3-jedi push` and push_to_hub use it on Atari games when no number is given.
    """
    from sb3_jedi.cli import main
    from sb3_jedi.evaluation.protocol import DIAMOND_FINAL_EPISODES

    assert DIAMOND_FINAL_EPISODES == 100
    assert default_eval_episodes("Pong") == inspect.signature(evaluate_atari100k).parameters["n_episodes"].default == 100
    seen: list[int] = []
    real = sb3_jedi.evaluation.evaluate_atari100k
    signature = inspect.signature(real)

    @functools.wraps(real)  # the callers read the protocol's defaults from its signature
    def stop(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        seen.append(bound.arguments["n_episodes"])
        raise _EpisodesSeen

    monkeypatch.setattr(sb3_jedi.evaluation, "evaluate_atari100k", stop)
    model_path = tmp_path / "model.zip"
    atari_model.save(model_path)
    commands = [
        ["evaluate", str(model_path), "--env", "Pong", "--device", "cpu"],
        ["push", str(model_path), "--env", "Pong", "--repo-id", "tester/jedi-pong-cli", "--device", "cpu"],
    ]
    for command in commands:
        with pytest.raises(_EpisodesSeen):
            main(command)
    with pytest.raises(_EpisodesSeen):
        push_to_hub(atari_model, "tester/jedi-pong-100", "Pong", video_length=0, token=TOKEN)
    with pytest.raises(_EpisodesSeen):
        main(["evaluate", str(model_path), "--env", "Pong", "--episodes", "3", "--device", "cpu"])
    assert seen == [100, 100, 100, 3]


def test_other_envs_default_to_10_evaluation_episodes(model, tmp_path, capsys):
    """SB3's evaluate_policy and huggingface-sb3's package_to_hub evaluate 10 episodes: so do we outside Atari."""
    from sb3_jedi.cli import main

    assert default_eval_episodes(None) == 10
    model_path = tmp_path / "model.zip"
    model.save(model_path)
    result_file = tmp_path / "result.json"
    assert main(["evaluate", str(model_path), "--env", "CartPole-v1", "--json", str(result_file)]) == 0
    assert json.loads(result_file.read_text())["episodes"] == 10
    assert main(["evaluate", str(model_path), "--env", "CartPole-v1", "--episodes", "0"]) == 2
    assert "--episodes must be at least 1" in capsys.readouterr().err

# Repo names -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("orga", "algo", "env_id", "expected"),
    [
        ("you", "jedi", "CartPole-v1", "you/jedi-CartPole-v1"),
        ("sb3", "JEDI", "ALE/Pong-v5", "sb3/jedi-ALE-Pong-v5"),
        # Every spelling of an Atari game gives the canonical ALE id's name.
        ("my-org", "DIAMOND", "Pong", "my-org/diamond-ALE-Pong-v5"),
        ("you", "jedi", "PongNoFrameskip-v4", "you/jedi-ALE-Pong-v5"),
        ("you", "jedi", "MountainCar-v0", "you/jedi-MountainCar-v0"),
    ],
)
def test_default_repo_id(orga, algo, env_id, expected):
    repo_id = default_repo_id(orga, algo, env_id)
    assert repo_id == expected
    # The repo is named as the model zip push_to_hub puts in it.
    model_class = type(algo.upper(), (), {})
    assert model_zip_name(model_class(), env_id) == repo_id.split("/")[1] + ".zip"


@pytest.mark.parametrize(
    ("env_id", "expected"),
    [
        ("CartPole-v1", "CartPole-v1"),
        ("ALE/Pong-v5", "ALE-Pong-v5"),
        ("my_package:MyEnv-v0", "MyEnv-v0"),
        ("my_package:ns/MyEnv-v0", "ns-MyEnv-v0"),
        ("MiniGrid-Empty-5x5-v0", "MiniGrid-Empty-5x5-v0"),
    ],
)
def test_env_name_follows_rl_zoo3(env_id, expected):
    assert env_name(env_id) == expected
    try:
        from huggingface_sb3 import EnvironmentName
    except ImportError:
        return
    # The name rl-zoo3 and huggingface-sb3 build their model and repo names from.
    assert env_name(env_id) == str(EnvironmentName(env_id))


def test_env_name_checks_its_argument():
    with pytest.raises(ValueError, match="one colon at most"):
        env_name("a:b:MyEnv-v0")
    with pytest.raises(ValueError, match="non-empty string"):
        env_name("  ")
    with pytest.raises(ValueError, match="no character"):
        env_name("///")


def test_canonical_env_id():
    assert canonical_env_id("Pong") == canonical_env_id("PongNoFrameskip-v4") == canonical_env_id("ALE/Pong-v5")
    assert canonical_env_id("Pong") == "ALE/Pong-v5"
    assert canonical_env_id(" CartPole-v1 ") == "CartPole-v1"


def test_default_repo_id_checks_its_arguments():
    with pytest.raises(ValueError, match="orga must be a non-empty string"):
        default_repo_id("", "jedi", "Pong")
    with pytest.raises(ValueError, match="orga must be a Hub user or organisation"):
        default_repo_id("you/them", "jedi", "Pong")
    with pytest.raises(ValueError, match="env_id must be a non-empty string"):
        default_repo_id("you", "jedi", " ")
    with pytest.raises(ValueError, match="not a valid Hub repo id"):
        default_repo_id("you", "jedi", "x" * 120)


def test_cli_push_pull_and_evaluate(hub, model, tmp_path, capsys):
    from sb3_jedi.cli import main

    model.save(tmp_path / "model.zip")
    repo = "tester/cli-cartpole"
    push = ["push", str(tmp_path / "model.zip"), "--repo-id", repo, "--env", "CartPole-v1", "--episodes", "2"]
    assert main([*push, "--video-length", "5", "--token", TOKEN]) == 0
    assert f"Pushed to {repo}" in capsys.readouterr().out
    assert main(["pull", repo, "--out", str(tmp_path / "pulled")]) == 0
    pulled = tmp_path / "pulled" / ZIP
    assert pulled.is_file() and str(pulled) in capsys.readouterr().out
    assert (tmp_path / "pulled" / "results.json").is_file()
    evaluated = tmp_path / "evaluate.json"
    assert main(["evaluate", str(pulled), "--env", "CartPole-v1", "--episodes", "1", "--json", str(evaluated)]) == 0
    assert "CartPole-v1: mean return" in capsys.readouterr().out
    # The same action selection for the card's score and for `sb3-jedi evaluate` (greedy on non-Atari envs).
    pushed_results = json.loads((tmp_path / "pulled" / "results.json").read_text())
    assert pushed_results["is_deterministic"] is json.loads(evaluated.read_text())["deterministic"] is True


def test_cli_push_names_the_repo_from_orga(hub, model, tmp_path, capsys):
    from sb3_jedi.cli import main

    # A run directory: the env comes from run.json, and the run's Monitor log goes into the repo.
    model.save(tmp_path / "model.zip")
    (tmp_path / "run.json").write_text(json.dumps({"env_id": "CartPole-v1"}))
    (tmp_path / "0.monitor.csv").write_text('#{"t_start": 0.0, "env_id": "CartPole-v1"}\nr,l,t\n12.0,12,0.1\n')
    push = ["push", str(tmp_path / "model.zip"), "--episodes", "1", "--video-length", "3"]
    assert main([*push, "--orga", "tester", "--token", TOKEN]) == 0
    assert "Pushed to tester/jedi-CartPole-v1" in capsys.readouterr().out
    assert set(_metrics_archive(hub.files("tester/jedi-CartPole-v1"))) == {"evaluations.npz", "0.monitor.csv"}
    assert main(["pull", "tester/jedi-CartPole-v1", "--out", str(tmp_path / "pulled")]) == 0
    assert (tmp_path / "pulled" / "results.json").is_file()
    assert f"model: {tmp_path / 'pulled' / ZIP}" in capsys.readouterr().out
    assert main([*push, "--orga", "tester", "--log-dir", str(tmp_path / "missing"), "--token", TOKEN]) == 2
    assert "is not a directory" in capsys.readouterr().err
    # Neither --repo-id nor --orga: a clear error, not a stack trace
    assert main([*push, "--token", TOKEN]) == 2
    assert "--orga" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("repo_option", "repo_id"),
    [(["--repo-id", "tester/example"], "tester/example"), (["--orga", "tester"], "tester/jedi-CartPole-v1")],
)
def test_share_on_hub_example(hub, model, tmp_path, capsys, repo_option, repo_id):
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "examples" / "share_on_hub.py"
    spec = importlib.util.spec_from_file_location("share_on_hub", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    model.save(tmp_path / "model.zip")
    argv = ["--model", str(tmp_path / "model.zip"), "--env", "CartPole-v1", *repo_option]
    loaded = example.main([*argv, "--episodes", "1", "--video-length", "3", "--token", TOKEN])
    assert isinstance(loaded, JEDI)
    assert f"Loaded {repo_id} back: same greedy action" in capsys.readouterr().out
    assert hub.repos[repo_id].head.message == "Upload agent with sb3-jedi"
