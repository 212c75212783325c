"""
Mistakes in use give an exception naming the problem and the fix: unsupported spaces, damaged or foreign model files,
mismatched envs, wrongly shaped predict inputs. (tests/test_jedi.py covers continuous and multi-discrete actions, Dict
observations, CnnPolicy on vectors, a 60x60 image, an unknown policy, set_env with another env count and a state
from another batch size.)
"""

import io
import pickle
import zipfile

import cloudpickle
import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from saved_models import rewrite_zip
from stable_baselines3 import DQN, PPO
from stable_baselines3.common.env_util import make_vec_env
from tiny_settings import SMALL_CNN, TINY

from sb3_jedi import JEDI
from sb3_jedi.diamond import DIAMOND
from sb3_jedi.save_util import (
    CHECKPOINT_FORMAT_VERSION,
    CheckpointNotFoundError,
    InvalidCheckpointError,
    check_jedi_checkpoint,
)
from sb3_jedi.version import __version__


class SpacesEnv(gym.Env):
    """An env with the given spaces, returning samples."""

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space) -> None:
        self.observation_space, self.action_space = observation_space, action_space

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action):
        return self.observation_space.sample(), 0.0, False, False, {}


VECTOR = spaces.Box(-1, 1, (4,), np.float32)


def image(height: int, width: int, channels: int = 3, dtype=np.uint8) -> spaces.Box:
    return spaces.Box(0, 255, (height, width, channels), dtype)


# Spaces ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "observation_space", "action_space", "problem", "fix"),
    [
        ("MlpPolicy", VECTOR, spaces.MultiBinary(3), "only Discrete action spaces", "discretise"),
        ("MlpPolicy", spaces.Tuple((VECTOR, VECTOR)), spaces.Discrete(2), "does not support Tuple", "FlattenObservation"),
        ("MlpPolicy", spaces.Discrete(5), spaces.Discrete(2), "needs a Box observation space", "FlattenObservation"),
        ("MlpPolicy", spaces.Box(-1, 1, (4, 3), np.float32), spaces.Discrete(2), "flat vector", "FlattenObservation"),
        ("MlpPolicy", VECTOR, spaces.Discrete(3, start=1), "start != 0", "actions are 0..n-1"),
        ("CnnPolicy", image(64, 64, channels=2), spaces.Discrete(3), "1, 3 or 4 channels", "MlpPolicy"),
        ("CnnPolicy", image(64, 64, dtype=np.float32), spaces.Discrete(3), "uint8", "MlpPolicy"),
        ("CnnPolicy", image(8, 8), spaces.Discrete(3), "at least 16", "64x64"),
        ("CnnPolicy", image(64, 36), spaces.Discrete(3), "64x36", "ResizeObservation"),
    ],
    ids=[
        "multi-binary-actions",
        "tuple-observations",
        "discrete-observations",
        "mlp-on-2d-box",
        "discrete-start-1",
        "two-channel-images",
        "float-images",
        "tiny-images",
        "width-not-multiple-of-8",
    ],
)
def test_unsupported_spaces_are_named_with_the_fix(policy, observation_space, action_space, problem, fix):
    with pytest.raises(ValueError) as error:
        JEDI(policy, SpacesEnv(observation_space, action_space), buffer_size=1_000, device="cpu")
    message = str(error.value)
    assert problem in message and fix in message, message


# Loading ------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def jedi_zip(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("models") / "jedi.zip"
    JEDI("MlpPolicy", "CartPole-v1", device="cpu").save(path)
    return str(path)


def test_a_valid_file_is_described_without_unpickling(jedi_zip, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("check_jedi_checkpoint unpickled something")

    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(cloudpickle, "loads", refuse)
    monkeypatch.setattr(cloudpickle, "load", refuse)
    info = check_jedi_checkpoint(jedi_zip.removesuffix(".zip"))  # like JEDI.load, ".zip" may be left out
    assert info["algorithm_name"] == "JEDI"
    assert info["sb3_jedi_version"] == __version__
    assert info["checkpoint_format_version"] == CHECKPOINT_FORMAT_VERSION
    assert {"data", "policy.pth"} <= set(info["files"])
    assert info["data"]["imagination_horizon"] == 15


def test_a_file_object_is_checked_and_left_where_it_was(jedi_zip):
    with open(jedi_zip, "rb") as file:
        stream = io.BytesIO(file.read())
    assert check_jedi_checkpoint(stream)["algorithm_name"] == "JEDI"
    assert stream.tell() == 0
    model = JEDI.load(stream, device="cpu")  # SB3 reads the stream after the check
    assert model.algorithm_name == "JEDI" and model.checkpoint_format_version == CHECKPOINT_FORMAT_VERSION


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointNotFoundError, match=r"No model file at .*nope.*Check the path") as error:
        JEDI.load(tmp_path / "nope")
    assert isinstance(error.value, FileNotFoundError) and isinstance(error.value, ValueError)


def test_directory_instead_of_a_file(tmp_path):
    with pytest.raises(ValueError, match=r"is a directory, not a model file.*load_checkpoint"):
        JEDI.load(tmp_path)


def test_not_a_zip(tmp_path):
    path = tmp_path / "model.zip"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(InvalidCheckpointError, match=r"not a readable zip archive.*Copy it again"):
        JEDI.load(path)


def test_truncated_zip(tmp_path, jedi_zip):
    with open(jedi_zip, "rb") as file:
        content = file.read()
    path = tmp_path / "truncated.zip"
    path.write_bytes(content[: len(content) // 2])  # an interrupted copy
    with pytest.raises(InvalidCheckpointError, match=r"truncated"):
        JEDI.load(path)


def test_corrupt_bytes_fail_the_crc_check(tmp_path, jedi_zip):
    with zipfile.ZipFile(jedi_zip) as archive:
        info = archive.getinfo("policy.pth")
        assert info.compress_type == zipfile.ZIP_STORED  # SB3 stores entries uncompressed: flipped bytes stay local
    with open(jedi_zip, "rb") as file:
        content = bytearray(file.read())
    # Flip bytes in the middle of the stored weights (after the 30-byte local header and the name).
    middle = info.header_offset + 30 + len(info.filename) + info.compress_size // 2
    content[middle : middle + 8] = bytes(255 - b for b in content[middle : middle + 8])
    path = tmp_path / "corrupt.zip"
    path.write_bytes(bytes(content))
    with pytest.raises(InvalidCheckpointError, match=r"'policy.pth' fails its CRC check.*older checkpoint"):
        JEDI.load(path)


def test_zip_without_data_entry(tmp_path, jedi_zip):
    rewrite_zip(jedi_zip, tmp_path / "no_data.zip", drop=("data",))
    with pytest.raises(InvalidCheckpointError, match=r"not a Stable-Baselines3 model: it has no 'data' entry"):
        JEDI.load(tmp_path / "no_data.zip")


def test_zip_without_weights(tmp_path, jedi_zip):
    rewrite_zip(jedi_zip, tmp_path / "no_policy.zip", drop=("policy.pth",))
    with pytest.raises(InvalidCheckpointError, match=r"no 'policy.pth' entry: the network weights are missing"):
        JEDI.load(tmp_path / "no_policy.zip")


@pytest.mark.parametrize(
    ("algorithm", "env"),
    [(PPO, "CartPole-v1"), (DQN, "CartPole-v1")],
    ids=["PPO", "DQN"],
)
def test_another_algorithms_model(tmp_path, algorithm, env):
    kwargs = {"buffer_size": 1_000} if algorithm is DQN else {}
    algorithm("MlpPolicy", env, device="cpu", **kwargs).save(tmp_path / "other")
    name = algorithm.__name__
    with pytest.raises(InvalidCheckpointError, match=rf"not a JEDI model: it was saved by {name} .*{name}\.load\(path\)"):
        JEDI.load(tmp_path / "other")


def test_model_from_a_newer_sb3_jedi(tmp_path, jedi_zip):
    def newer(data):
        data["checkpoint_format_version"] = CHECKPOINT_FORMAT_VERSION + 1
        data["sb3_jedi_version"] = "99.0.0"

    rewrite_zip(jedi_zip, tmp_path / "newer.zip", edit_data=newer)
    pattern = rf"saved by sb3-jedi 99.0.0 in checkpoint format {CHECKPOINT_FORMAT_VERSION + 1}.*Upgrade sb3-jedi"
    with pytest.raises(InvalidCheckpointError, match=pattern):
        JEDI.load(tmp_path / "newer.zip")


def test_model_from_an_sb3_jedi_without_marker(tmp_path, jedi_zip):
    def unmarked(data):
        for key in ("algorithm_name", "sb3_jedi_version", "checkpoint_format_version"):
            del data[key]

    rewrite_zip(jedi_zip, tmp_path / "old.zip", edit_data=unmarked)
    with pytest.raises(InvalidCheckpointError, match=r"did not yet record its checkpoint format.*sb3-jedi version that wrote"):
        JEDI.load(tmp_path / "old.zip")


def test_model_of_another_sb3_jedi_class(tmp_path, jedi_zip):
    DIAMOND("CnnPolicy", SpacesEnv(image(64, 64), spaces.Discrete(3)), buffer_size=1_000, device="cpu").save(
        tmp_path / "diamond"
    )
    assert check_jedi_checkpoint(tmp_path / "diamond.zip")["algorithm_name"] == "DIAMOND"
    with pytest.raises(InvalidCheckpointError, match=r"holds a DIAMOND model, not a JEDI one: load it with DIAMOND\.load"):
        JEDI.load(tmp_path / "diamond")
    with pytest.raises(InvalidCheckpointError, match=r"holds a JEDI model, not a DIAMOND one: load it with JEDI\.load"):
        DIAMOND.load(jedi_zip)
    assert type(DIAMOND.load(tmp_path / "diamond", device="cpu")) is DIAMOND


def test_load_with_an_env_of_other_spaces(jedi_zip):
    with pytest.raises(ValueError, match=r"spaces do not match.*spaces the model was trained with"):
        JEDI.load(jedi_zip, env=make_vec_env("MountainCar-v0", n_envs=1))


# set_env and predict ------------------------------------------------------------------------------------------


def test_set_env_with_other_action_space():
    model = JEDI("MlpPolicy", "CartPole-v1", device="cpu")
    other = SpacesEnv(model.observation_space, spaces.Discrete(3))
    with pytest.raises(ValueError, match=r"Action spaces do not match.*same game, same wrappers"):
        model.set_env(other)


@pytest.fixture(scope="module")
def image_model() -> JEDI:
    return JEDI("CnnPolicy", SpacesEnv(image(16, 16), spaces.Discrete(3)), buffer_size=1_000, device="cpu")


def test_predict_with_an_image_of_another_size(image_model):
    with pytest.raises(ValueError, match=r"Unexpected observation shape \(1, 32, 32, 3\).*please use \(3, 16, 16\)"):
        image_model.predict(np.zeros((1, 32, 32, 3), dtype=np.uint8))


def test_predict_with_a_state_of_another_model(image_model):
    foreign_state = (np.zeros((1, 7), np.float32), np.zeros((1, 7), np.float32))  # another LSTM size
    with pytest.raises(ValueError, match=r"recurrent state must be a pair .*Pass the state returned by the previous"):
        image_model.predict(np.zeros((1, 16, 16, 3), dtype=np.uint8), state=foreign_state)


def test_predict_with_episode_starts_of_another_batch(image_model):
    obs = np.zeros((2, 16, 16, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match=r"episode_start must hold one flag per observation \(2\)"):
        image_model.predict(obs, episode_start=np.ones(3, dtype=bool))


# Networks sized by the user --------------------------------------------------------------------------------------


def _small_cnn_with_encoder(**encoder_kwargs) -> dict:
    return {**SMALL_CNN, "encoder_kwargs": {**SMALL_CNN["encoder_kwargs"], **encoder_kwargs}}


@pytest.mark.parametrize(
    "encoder_kwargs",
    [{"channels": (8, 8, 8, 8, 4), "n_downsamples": 4}, {"channels": (8, 8, 8, 4), "n_downsamples": 3, "stem_stride": 2}],
    ids=["four-downsamplings", "strided-stem"],
)
def test_the_decoder_follows_the_encoders_downsampling(encoder_kwargs):
    # 32x32 frames encoded 16x to 2x2 latents: the visualisation decoder upsamples 16x too, and trains.
    policy_kwargs = _small_cnn_with_encoder(**encoder_kwargs)
    env = SpacesEnv(image(32, 32), spaces.Discrete(3))
    model = JEDI(
        "CnnPolicy", env, policy_kwargs=policy_kwargs, buffer_size=500, seed=0, learning_starts_reward_threshold=0, **TINY
    )
    world_model = model.policy.world_model
    assert world_model.state_shape == (4, 2, 2)
    assert world_model.decode(th.zeros(5, 4, 2, 2)).shape == (5, 3, 32, 32)
    model.learn(150)  # collection, then world-model updates that train the decoder
    assert model._world_model_updates > 0


def test_a_decoder_that_cannot_make_the_frames_is_named():
    policy_kwargs = {
        **_small_cnn_with_encoder(channels=(8, 8, 8, 8, 4), n_downsamples=4),
        "decoder_kwargs": {"channels": (8, 8, 8, 8), "n_upsamples": 3},
    }
    with pytest.raises(ValueError, match=r"decoder makes \(3, 16, 16\) images .* observations are \(3, 32, 32\).*n_upsamples"):
        JEDI("CnnPolicy", SpacesEnv(image(32, 32), spaces.Discrete(3)), policy_kwargs=policy_kwargs, buffer_size=500)
