"""Dreams: acting inside the world model, recorded headless to H.264, from the buffer or an env, and `sb3-jedi dream`."""

import json
import sys

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium.error import DependencyNotInstalled
from tiny_settings import TINY
from toy_envs import MovingBar

from sb3_jedi import JEDI
from sb3_jedi.cli import build_parser, main
from sb3_jedi.dream import annotate_frame, dream, human_action

av = pytest.importorskip("av")

ENV_ID = "SB3JediDreamMovingBar-v0"
TINY_CNN = {
    **TINY,
    "device": "cpu",
    "buffer_size": 1_000,
    "policy_kwargs": {
        "encoder_kwargs": {"channels": (8, 8, 8, 4)},
        "denoiser_kwargs": {"channels": 16, "depth": 1, "cond_dim": 16},
        "decoder_kwargs": {"channels": (8, 8, 8, 8)},
        "reward_end_kwargs": {"channels": (8, 8), "depth": 1, "cond_dim": 8, "lstm_dim": 16, "hidden_dim": 16},
        "actor_critic_kwargs": {"channels": (8,), "lstm_dim": 16},
    },
}
# 16x16 frames are upscaled 16x to 256x256, with a 40-pixel caption band below.
VIDEO_SIZE = (256, 296)


if ENV_ID not in gym.registry:
    gym.register(ENV_ID, entry_point=MovingBar)


@pytest.fixture(scope="module")
def model() -> JEDI:
    """A tiny CnnPolicy model (untrained: dreams only need the networks) with 100 random steps in its buffer."""
    model = JEDI("CnnPolicy", MovingBar(), seed=0, **TINY_CNN)
    model.learn(60)
    assert model.replay_buffer.n_transitions == 100 and model._world_model_updates == 0
    return model


def video_frames(path) -> tuple[int, tuple[int, int], str]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        n_frames = sum(1 for _ in container.decode(stream))
        return n_frames, (stream.width, stream.height), stream.codec_context.name


def test_a_headless_dream_is_recorded_without_pygame(model, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pygame", None)  # `import pygame` fails: headless use must not need it
    result = dream(model, 12, record=tmp_path / "videos" / "dream.mp4", seed=0)
    assert len(result) == 12 and result.video == tmp_path / "videos" / "dream.mp4"
    assert result.frames.shape == (12, 16, 16, 3) and result.frames.dtype == np.uint8
    assert result.states.shape == (12, *model.policy.world_model.state_shape)
    assert set(result.rewards.tolist()) <= {-1.0, 0.0, 1.0} and result.ends.dtype == bool
    assert ((0 <= result.actions) & (result.actions < 3)).all()
    # The dream restarts from real frames after each predicted end, and only there.
    assert result.starts[0] and np.array_equal(result.starts[1:], result.ends[:-1])
    assert video_frames(result.video) == (12, VIDEO_SIZE, "h264")

    again = dream(model, 12, seed=0)
    assert np.array_equal(again.frames, result.frames) and np.array_equal(again.actions, result.actions)
    other = dream(model, 12, seed=1)
    assert not np.array_equal(other.frames, result.frames)

    with pytest.raises(DependencyNotInstalled, match="pip install pygame"):
        dream(model, 2, policy="human")


def test_dreams_start_from_an_env_when_the_buffer_is_empty_and_stop_or_reset_at_ends(monkeypatch):
    fresh = JEDI("CnnPolicy", MovingBar(), seed=1, **TINY_CNN)
    with pytest.raises(ValueError, match="holds no transition"):
        dream(fresh, 3)
    result = dream(fresh, 4, start=MovingBar(), policy="random", seed=0)
    assert len(result) == 4 and result.frames.shape == (4, 16, 16, 3)

    world_model = fresh.policy.world_model
    predict = world_model.predict_reward_end

    def always_ends(*args, **kwargs):
        reward, end, hidden = predict(*args, **kwargs)
        return reward, th.tensor([-50.0, 50.0]).expand_as(end), hidden

    monkeypatch.setattr(world_model, "predict_reward_end", always_ends)
    stopped = dream(fresh, 5, start=MovingBar(), seed=0, on_end="stop")
    assert len(stopped) == 1 and stopped.ends.tolist() == [True]
    reset = dream(fresh, 5, start=MovingBar(), seed=0)
    assert len(reset) == 5 and reset.ends.all() and reset.starts.all()


def test_vector_states_are_drawn_as_charts():
    vector = JEDI("MlpPolicy", "CartPole-v1", seed=0, **{**TINY, "device": "cpu"})
    result = dream(vector, 3, start=gym.make("CartPole-v1"), seed=0)
    assert result.frames.ndim == 4 and result.frames.shape[0] == 3 and result.frames.shape[-1] == 3
    assert result.frames.min() < 128 < result.frames.max()  # bars on a white canvas
    assert result.states.shape == (3, *vector.policy.world_model.state_shape)


def test_a_window_opens_with_a_virtual_display(model, monkeypatch):
    pytest.importorskip("pygame")
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    monkeypatch.setenv("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    result = dream(model, 3, policy="human", fps=1000, seed=0)
    assert len(result) == 3 and result.actions.tolist() == [0, 0, 0]  # no key held: the first action repeats


def test_keys_map_to_actions():
    pong = ["NOOP", "FIRE", "RIGHT", "LEFT", "RIGHTFIRE", "LEFTFIRE"]
    assert human_action(set(), 6, pong, previous=3) == 0
    assert human_action({"up", "right", "fire"}, 6, pong, previous=0) == pong.index("RIGHTFIRE")
    assert human_action({"left"}, 6, pong, previous=0) == pong.index("LEFT")
    full = ["NOOP", "FIRE", "UP", "RIGHT", "LEFT", "DOWN", "UPRIGHT", "UPLEFT", "DOWNRIGHT", "DOWNLEFT", "UPFIRE"]
    full += ["RIGHTFIRE", "LEFTFIRE", "DOWNFIRE", "UPRIGHTFIRE", "UPLEFTFIRE", "DOWNRIGHTFIRE", "DOWNLEFTFIRE"]
    assert human_action({"up", "right", "fire"}, 18, full, previous=0) == full.index("UPRIGHTFIRE")
    assert human_action({"down", "left"}, 18, full, previous=0) == full.index("DOWNLEFT")
    # Without action meanings: left/right push (CartPole), digits pick, nothing held repeats.
    assert human_action({"right"}, 2, None, previous=0) == 1
    assert human_action({"left"}, 2, None, previous=1) == 0
    assert human_action(set(), 2, None, previous=1) == 1
    assert human_action({"2"}, 3, None, previous=0) == 2


def test_captions_upscale_and_mark_ends():
    frame = np.zeros((16, 16, 3), dtype=np.uint8)
    plain = annotate_frame(frame, 3, "RIGHT", 0.0, False)
    ended = annotate_frame(frame, 3, "RIGHT", 0.0, True)
    assert plain.shape == (*VIDEO_SIZE[::-1], 3)
    assert (plain[:256] == 0).all() and plain[256:].max() == 255  # the frame is untouched, the caption is below
    red = (ended[256:, :, 0] > 200) & (ended[256:, :, 1] < 100)
    assert red.any() and not ((plain[256:, :, 0] > 200) & (plain[256:, :, 1] < 100)).any()


def test_the_dream_command_has_help_with_examples(capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["dream", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and "sb3-jedi dream" in out and "--record" in out


def test_the_dream_command_records_and_asks_for_record_without_a_display(tmp_path, capsys, monkeypatch):
    run = tmp_path / "run"
    run.mkdir()
    JEDI("CnnPolicy", ENV_ID, seed=0, **TINY_CNN).save(run / "model.zip")
    (run / "run.json").write_text(json.dumps({"env_id": ENV_ID}))
    video = tmp_path / "x.mp4"
    assert main(["dream", str(run / "model.zip"), "--record", str(video), "--steps", "20", "--device", "cpu"]) == 0
    assert f"Dreamt 20 steps of {ENV_ID}" in capsys.readouterr().out
    assert video_frames(video) == (20, VIDEO_SIZE, "h264")

    for name in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    assert main(["dream", str(run / "model.zip"), "--steps", "5"]) == 2
    assert "--record dream.mp4" in capsys.readouterr().err
