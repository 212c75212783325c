"""
Dreams: the agent (or random actions, or a person at the keyboard) acting *inside* the world model, as DIAMOND's
``play.py`` lets one play its world model.

A dream starts from ``n_cond_steps`` real frames, drawn from the replay buffer (or, when it is empty, as a loaded
model's is, the reset frames of an env followed by random actions). Each step, the actor-critic acts on the current
state (keeping its LSTM state), the diffusion sampler draws the next state, the reward/termination model predicts the
reward and whether the episode ends (keeping its LSTM state), and the state is turned into a frame: decoded by the
visualisation decoder of a latent model, as it is for a pixel model (DIAMOND), or drawn as a small chart of the state
otherwise. At a predicted episode end the dream restarts from new real frames (``on_end="reset"``, the default, so a
dream always lasts ``n_steps`` steps) or stops (``on_end="stop"``)::

    from sb3_jedi.dream import dream

    result = dream(model, 500, record="dream.mp4")  # headless: an H.264 video with reward and end captions
    result.frames, result.rewards, result.ends, result.actions

``policy="human"`` opens a window (pygame, installed separately) and reads the arrow keys and the space bar; nothing
else imports pygame.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import cv2
import gymnasium as gym
import numpy as np
import torch as th
from gymnasium import spaces
from gymnasium.error import DependencyNotInstalled
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecEnv
from torch.distributions import Categorical

from sb3_jedi.buffers import SegmentBatch
from sb3_jedi.callbacks import _own_torch_rng
from sb3_jedi.diagnostics import _evaluating, _frame_decoder
from sb3_jedi.imagination import burn_in
from sb3_jedi.video import _H264Writer

if TYPE_CHECKING:
    from sb3_jedi.jedi import JEDI

__all__ = ["DREAM_POLICIES", "DreamResult", "NoDisplayError", "annotate_frame", "dream", "has_display", "human_action"]

#: Who acts in a dream: the agent's actor-critic, uniformly random actions, or a person at the keyboard.
DREAM_POLICIES = ("agent", "random", "human")

# Recorded and shown frames are upscaled (nearest neighbour) to at least this height, for readability.
_MIN_HEIGHT = 256
_CAPTION_HEIGHT = 40


class NoDisplayError(RuntimeError):
    """A dream was to be shown in a window, but no window can be opened (no display): record it to a video instead."""


@dataclass
class DreamResult:
    """
    What happened in a dream of ``T`` steps (``T = n_steps``, fewer if it stopped at a predicted end or the window
    was closed). Step ``t`` takes ``actions[t]`` in the current state and leads to ``states[t]``, shown as ``frames[t]``,
    with the predicted ``rewards[t]`` and ``ends[t]``.

    :param frames: (T, H, W, 3) uint8 frames at the model's resolution, without captions: decoded states, or a chart
        of the state when the model has no frames to show
    :param states: (T, *state_shape) float32 imagined world-model states
    :param rewards: (T,) float32 sampled predicted rewards: signs in {-1, 0, 1} for the sign reward head, rewards of
        any size for the symlog two-hot head
    :param ends: (T,) bool predicted episode ends
    :param actions: (T,) int64 actions taken
    :param starts: (T,) bool, True where the step starts from new real frames (the first step, and after each
        predicted end with ``on_end="reset"``)
    :param video: path of the recorded video, if any
    """

    frames: np.ndarray
    states: np.ndarray
    rewards: np.ndarray
    ends: np.ndarray
    actions: np.ndarray
    starts: np.ndarray
    video: Path | None = None

    def __len__(self) -> int:
        return len(self.actions)


# Starting frames ---------------------------------------------------------------------------------------------------


class _Starts:
    """Where dreams start: ``n_cond_steps`` real rows (observations and the actions taken on them), as a batch of 1."""

    def __init__(self, model: JEDI, start: Any, rng: np.random.Generator, seed: int | None) -> None:
        self.model = model
        self.n = model.policy.world_model.n_cond_steps
        self.rng = rng
        self.seed = seed
        self.env: VecEnv | None = None
        self.batch: SegmentBatch | None = None
        if isinstance(start, SegmentBatch):
            if start.observations.shape[1] < self.n:
                raise ValueError(
                    f"start holds segments of {start.observations.shape[1]} rows: a dream needs n_cond_steps = {self.n}."
                )
            self.batch = SegmentBatch._make(t[:1, : self.n].to(model.device) for t in start)
        elif isinstance(start, (gym.Env, VecEnv)):
            self.env = _wrap_env(model, start)
        elif start is not None:
            raise TypeError(
                f"start must be None (replay frames), an env (its reset frames) or a SegmentBatch, got {type(start).__name__}."
            )
        elif model.replay_buffer is None or model.replay_buffer.n_transitions == 0:
            raise ValueError(
                "The replay buffer holds no transition to start the dream from (a loaded model has an empty one): pass an "
                "env, dream(model, n_steps, start=env), whose reset frames start the dream, or load a replay buffer "
                "(model.load_replay_buffer(path))."
            )
        self.n_resets = 0

    def draw(self) -> SegmentBatch:
        if self.batch is not None:
            return self.batch
        if self.env is not None:
            return self._from_env()
        buffer = self.model.replay_buffer
        # The context ends on a row that carries an action: a dream never starts from an episode's final frame.
        indices = buffer.sample_segment_indices(1, self.n, generator=self.rng, transitions_only=True)
        return buffer.get_segments(indices)

    def _from_env(self) -> SegmentBatch:
        """Reset the env and take ``n_cond_steps - 1`` random actions: their frames and actions are the context."""
        env = self.env
        assert env is not None
        if self.seed is not None and self.n_resets == 0:
            env.seed(self.seed)
        self.n_resets += 1
        # Box observations (arrays) and Discrete actions, as the model's spaces.
        observations: list[np.ndarray] = [cast(np.ndarray, env.reset())[0]]
        actions: list[int] = []
        while len(observations) < self.n:
            action = int(self.rng.integers(cast(spaces.Discrete, env.action_space).n))
            vec_obs, _, done, _ = env.step(np.array([action]))
            obs = cast(np.ndarray, vec_obs)
            if done[0]:  # the episode ended during the context: start again from the reset frame
                observations, actions = [obs[0]], []
                continue
            observations.append(obs[0])
            actions.append(action)
        actions.append(0)  # the action on the last frame is the dream's first
        device = self.model.device
        dtype = th.uint8 if self.model.replay_buffer.observations.dtype == np.uint8 else th.float32
        obs_tensor = th.as_tensor(np.stack(observations)[None], device=device).to(dtype)
        ones = th.ones(1, self.n, dtype=th.bool, device=device)
        zeros = th.zeros(1, self.n, device=device)
        return SegmentBatch(
            observations=obs_tensor,
            actions=th.as_tensor([actions], dtype=th.long, device=device),
            rewards=zeros,
            terminated=zeros.clone(),
            truncated=zeros.clone(),
            mask=ones,
            has_action=ones.clone(),
        )


def _wrap_env(model: BaseAlgorithm, env: gym.Env | VecEnv) -> VecEnv:
    """A VecEnv of one env with the model's observation layout (channel-first images, as SB3 wraps them)."""
    vec_env = BaseAlgorithm._wrap_env(env, verbose=0, monitor_wrapper=False)
    if vec_env.num_envs != 1:
        raise ValueError(f"A dream starts from one env, got a VecEnv of {vec_env.num_envs}: pass a single env.")
    if vec_env.observation_space.shape != model.observation_space.shape:
        raise ValueError(
            f"The env gives observations of shape {vec_env.observation_space.shape}, the model was trained on "
            f"{model.observation_space.shape}: pass the env the model was trained on (same game, same wrappers)."
        )
    if vec_env.action_space != model.action_space:
        raise ValueError(f"The env's actions {vec_env.action_space} are not the model's {model.action_space}.")
    return vec_env


def _action_names(env: VecEnv | None, n_actions: int) -> list[str] | None:
    """Atari's action meanings (``NOOP``, ``FIRE``, ``UPRIGHT``, ...) where the env has them."""
    if env is None:
        return None
    try:
        names = list(env.get_attr("unwrapped")[0].get_action_meanings())
    except Exception:
        return None
    return names if len(names) == n_actions else None


# Frames ------------------------------------------------------------------------------------------------------------


def _to_rgb_uint8(frames: th.Tensor) -> np.ndarray:
    """(B, C, H, W) frames in [-1, 1] to (B, H, W, 3) uint8; grey repeated, other channel counts show the last one."""
    pixels = frames.clamp(-1.0, 1.0).add(1.0).mul(127.5).round().to(th.uint8).cpu()
    if pixels.shape[1] != 3:
        pixels = pixels[:, -1:].expand(-1, 3, -1, -1)
    return pixels.permute(0, 2, 3, 1).contiguous().numpy()


def _state_chart(values: np.ndarray, height: int = 64) -> np.ndarray:
    """A bar chart of a vector (one bar per entry, squashed with tanh(v / 2)) as an (H, W, 3) uint8 image."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    bar = max(2, min(12, 256 // max(1, len(values))))
    width = max(16, bar * len(values))
    image = np.full((height, width, 3), 255, dtype=np.uint8)
    middle = height // 2
    for i, value in enumerate(np.tanh(values / 2.0)):
        top = middle - round(float(value) * (middle - 2))
        low, high = sorted((top, middle))
        colour = (31, 119, 180) if value >= 0 else (214, 39, 40)
        image[low : high + 1, i * bar : (i + 1) * bar - 1] = colour
    image[middle] = 0
    return image


def _latent_mosaic(state: np.ndarray, bound: float = 3.0) -> np.ndarray:
    """Channels of a (C, h, w) latent side by side in a square-ish grid, grey levels for [-bound, bound]."""
    channels, h, w = state.shape
    columns = math.ceil(math.sqrt(channels))
    rows = math.ceil(channels / columns)
    grid = np.full((rows * (h + 1), columns * (w + 1)), 255, dtype=np.uint8)
    levels = np.clip((state / bound + 1.0) * 127.5, 0, 255).astype(np.uint8)
    for c in range(channels):
        r, k = divmod(c, columns)
        grid[r * (h + 1) : r * (h + 1) + h, k * (w + 1) : k * (w + 1) + w] = levels[c]
    return np.repeat(grid[..., None], 3, axis=-1)


def _frame_renderer(world_model: Any) -> Callable[[th.Tensor], np.ndarray]:
    """States (B, *state_shape) to (B, H, W, 3) uint8 frames."""
    decode = _frame_decoder(world_model)
    if decode is not None:  # a latent model with a decoder, or a pixel model (its states are frames)
        return lambda states: _to_rgb_uint8(decode(states))
    decoder = getattr(world_model, "decoder", None)
    if len(world_model.observation_space.shape) == 1 and decoder is not None:  # vector observations, decoded
        return lambda states: np.stack([_state_chart(v) for v in world_model.decode(states).cpu().numpy()])
    if len(world_model.state_shape) == 3:  # image latents without a decoder
        return lambda states: np.stack([_latent_mosaic(s) for s in states.cpu().numpy()])
    return lambda states: np.stack([_state_chart(s) for s in states.flatten(1).cpu().numpy()])


def annotate_frame(
    frame: np.ndarray,
    step: int,
    action: str,
    reward: float,
    end: bool,
    start: bool = False,
    min_height: int = _MIN_HEIGHT,
) -> np.ndarray:
    """
    A frame of a dream upscaled for reading (nearest neighbour, to at least ``min_height`` pixels) with a caption
    band below it: the step and action, the predicted reward and, when predicted, the episode end.

    :param frame: (H, W, 3) uint8
    :param step: the dream step
    :param action: the action taken (name or number)
    :param reward: the predicted reward
    :param end: whether the model predicts the episode ends here
    :param start: whether this step started from new real frames
    :param min_height: smallest height of the upscaled frame
    :return: (s * H + 40, max(s * W, 256), 3) uint8, ``s = ceil(min_height / H)``
    """
    scale = max(1, math.ceil(min_height / frame.shape[0]))
    big = cv2.resize(frame, (frame.shape[1] * scale, frame.shape[0] * scale), interpolation=cv2.INTER_NEAREST)
    width = max(big.shape[1], 256)
    canvas = np.zeros((big.shape[0] + _CAPTION_HEIGHT, width, 3), dtype=np.uint8)
    canvas[: big.shape[0], : big.shape[1]] = big
    font, size, white = cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255)
    base = big.shape[0]
    first = f"dream step {step}  action {action}" + ("  (new start)" if start else "")
    cv2.putText(canvas, first, (6, base + 15), font, size, white, 1, cv2.LINE_AA)
    reward_colour = (80, 220, 80) if reward > 0 else (240, 80, 80) if reward < 0 else white
    # Signs read +1 / +0 / -1; rewards of other sizes keep three significant digits.
    cv2.putText(canvas, f"reward {reward:+.3g}", (6, base + 33), font, size, reward_colour, 1, cv2.LINE_AA)
    if end:
        cv2.putText(canvas, "EPISODE END", (110, base + 33), font, size, (255, 64, 64), 2, cv2.LINE_AA)
    return canvas


# Keyboard ----------------------------------------------------------------------------------------------------------


def human_action(pressed: set[str], n_actions: int, names: Sequence[str] | None, previous: int) -> int:
    """
    The action for the keys held down (``"up"``, ``"down"``, ``"left"``, ``"right"``, ``"fire"`` for the space bar,
    ``"0"``..``"9"``).

    With Atari's action meanings the arrows and space compose a name (``UP`` + ``RIGHT`` + ``FIRE`` =
    ``UPRIGHTFIRE``), dropping ``FIRE`` and then the vertical direction when the game lacks it, ``NOOP`` when nothing is
    held. Without names, a digit key picks that action, left and right pick actions 0 and 1 (CartPole's pushes), up
    and down 2 and 3, space 0; with nothing held the previous action repeats.

    :param pressed: keys held down
    :param n_actions: number of actions
    :param names: the action meanings, or ``None``
    :param previous: the previous action
    :return: the action
    """
    digits = [int(key) for key in pressed if key.isdigit() and int(key) < n_actions]
    if digits:
        return digits[0]
    if names is not None:
        vertical = "UP" if "up" in pressed and "down" not in pressed else "DOWN" if "down" in pressed else ""
        horizontal = "RIGHT" if "right" in pressed and "left" not in pressed else "LEFT" if "left" in pressed else ""
        fire = "FIRE" if "fire" in pressed else ""
        for candidate in (vertical + horizontal + fire, vertical + horizontal, horizontal + fire, horizontal, fire):
            if candidate and candidate in names:
                return names.index(candidate)
        return names.index("NOOP") if "NOOP" in names else 0
    for key, action in (("left", 0), ("right", 1), ("up", 2), ("down", 3), ("fire", 0)):
        if key in pressed and action < n_actions:
            return action
    return previous


def has_display() -> bool:
    """Whether a window can be opened: on Linux a ``DISPLAY`` or ``WAYLAND_DISPLAY`` (or an SDL video driver chosen
    through ``SDL_VIDEODRIVER``); elsewhere always."""
    if not sys.platform.startswith("linux"):
        return True
    return any(os.environ.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER"))


class _Window:
    """A pygame window showing the dream and reading the keyboard (pygame is imported only here)."""

    def __init__(self, width: int, height: int, fps: int) -> None:
        try:
            import pygame
        except ImportError as error:
            raise DependencyNotInstalled(
                "Playing or watching a dream in a window needs pygame: `pip install pygame` (or record it headless to a "
                "video instead: record='dream.mp4', `sb3-jedi dream MODEL.zip --record dream.mp4`)."
            ) from error
        self.pygame = pygame
        pygame.init()
        try:
            self.screen = pygame.display.set_mode((width, height))
        except pygame.error as error:
            pygame.quit()
            raise NoDisplayError(
                f"Cannot open a window ({error}): record the dream to a video instead, record='dream.mp4' "
                "(`sb3-jedi dream MODEL.zip --record dream.mp4`)."
            ) from error
        pygame.display.set_caption("sb3-jedi dream (arrows, space; Esc quits)")
        self.clock = pygame.time.Clock()
        self.fps = fps
        self.keys = {
            pygame.K_UP: "up",
            pygame.K_DOWN: "down",
            pygame.K_LEFT: "left",
            pygame.K_RIGHT: "right",
            pygame.K_SPACE: "fire",
            **{getattr(pygame, f"K_{d}"): str(d) for d in range(10)},
        }

    def show(self, frame: np.ndarray) -> bool:
        """Show a frame at the dream's pace; ``False`` once the window is closed or Esc pressed."""
        pygame = self.pygame
        for event in pygame.event.get():
            if event.type == pygame.QUIT or (event.type == pygame.KEYDOWN and event.key == pygame.K_ESCAPE):
                return False
        surface = pygame.surfarray.make_surface(np.ascontiguousarray(frame.transpose(1, 0, 2)))
        self.screen.blit(surface, (0, 0))
        pygame.display.flip()
        self.clock.tick(self.fps)
        return True

    def pressed(self) -> set[str]:
        self.pygame.event.pump()
        held = self.pygame.key.get_pressed()
        return {name for key, name in self.keys.items() if held[key]}

    def close(self) -> None:
        self.pygame.display.quit()
        self.pygame.quit()


# The dream ---------------------------------------------------------------------------------------------------------


@contextmanager
def _maybe_seeded(device: th.device, seed: int | None) -> Iterator[None]:
    if seed is None:
        yield
        return
    with _own_torch_rng(device, seed):
        yield


def dream(
    model: JEDI,
    n_steps: int,
    start: gym.Env | VecEnv | SegmentBatch | None = None,
    policy: str = "agent",
    record: str | os.PathLike | None = None,
    fps: int = 15,
    seed: int | None = None,
    on_end: str = "reset",
    deterministic: bool = False,
    display: bool = False,
) -> DreamResult:
    """
    Let the agent, random actions or a person act inside the world model of ``model`` for ``n_steps`` steps.

    :param model: a JEDI or DIAMOND model
    :param n_steps: number of dream steps
    :param start: where dreams start: ``None`` draws ``n_cond_steps`` real rows from the replay buffer (as
        imagination does; a loaded model's buffer is empty); an env (``gym.Env`` or a one-env ``VecEnv``) starts from
        its reset frame followed by ``n_cond_steps - 1`` random actions; a :class:`~sb3_jedi.buffers.SegmentBatch`
        starts from the first rows of its first segment
    :param policy: ``"agent"`` (the actor-critic, its LSTM state carried along), ``"random"`` (uniform actions) or
        ``"human"`` (arrow keys and space in a pygame window; needs a display and ``pip install pygame``)
    :param record: write the dream to this H.264 MP4 file: frames upscaled to at least 256 pixels high, captioned with
        the step, action, predicted reward and predicted episode end
    :param fps: frames per second of the video and of the window
    :param seed: seed of the starting frames, random actions, sampled actions, diffusion noise and predicted
        rewards and ends (``None``: unseeded); the global random states are left as they were
    :param on_end: at a predicted episode end, ``"reset"`` restarts from new real frames (the dream keeps its
        ``n_steps`` steps) or ``"stop"`` ends the dream there
    :param deterministic: the agent takes its most likely action instead of sampling (``"agent"`` only)
    :param display: show the dream in a window as it runs (always on with ``policy="human"``)
    :return: the frames, states, predicted rewards and ends, actions and restarts
    """
    if isinstance(n_steps, bool) or not isinstance(n_steps, int | np.integer) or n_steps < 1:
        raise ValueError(f"n_steps must be an integer >= 1, got {n_steps!r}.")
    if policy not in DREAM_POLICIES:
        raise ValueError(f"policy must be one of {DREAM_POLICIES}, got {policy!r}.")
    if on_end not in ("reset", "stop"):
        raise ValueError(f"on_end must be 'reset' or 'stop', got {on_end!r}.")
    if isinstance(fps, bool) or not isinstance(fps, int | np.integer) or fps < 1:
        raise ValueError(f"fps must be an integer >= 1 (frames per second), got {fps!r}.")
    if not hasattr(getattr(model, "policy", None), "world_model"):
        raise TypeError(f"dream needs a world-model agent (JEDI or DIAMOND), got {type(model).__name__}.")
    rng = np.random.default_rng(seed)
    starts_source = _Starts(model, start, rng, seed)
    world_model, actor_critic = model.policy.world_model, model.policy.actor_critic
    n_actions = int(model.action_space.n)
    names = _action_names(starts_source.env, n_actions)
    render = _frame_renderer(world_model)

    frames: list[np.ndarray] = []
    states: list[np.ndarray] = []
    rewards: list[float] = []
    ends: list[bool] = []
    actions: list[int] = []
    starts: list[bool] = []
    writer: _H264Writer | None = None
    window: _Window | None = None
    video = None if record is None else Path(record)
    show = display or policy == "human"
    try:
        with _maybe_seeded(model.device, seed), _evaluating(model.policy):
            cond_states, cond_actions, hidden, reward_end_hidden = burn_in(world_model, actor_critic, starts_source.draw())
            new_start, action = True, 0
            if show:
                # The window opens on the real frame the dream starts from, so a player sees it before the first move.
                first = annotate_frame(render(cond_states[:, -1])[0], 0, "-", 0.0, False, True)
                window = _Window(first.shape[1], first.shape[0], int(fps))
                if not window.show(first):
                    n_steps = 0
            for step in range(n_steps):
                current = cond_states[:, -1]
                if policy == "agent":
                    logits, _, hidden = actor_critic(current, hidden)
                    chosen = logits.argmax(dim=-1) if deterministic else Categorical(logits=logits).sample()
                    action = int(chosen[0])
                elif policy == "random":
                    action = int(rng.integers(n_actions))
                elif window is not None:
                    action = human_action(window.pressed(), n_actions, names, action)
                action_tensor = th.tensor([action], device=model.device)
                cond_actions = th.cat([cond_actions[:, :-1], action_tensor[:, None]], dim=1)
                next_state = world_model.sample_next_state(cond_states, cond_actions)
                reward_logits, end_logits, reward_end_hidden = world_model.predict_reward_end(
                    current[:, None], action_tensor[:, None], next_state[:, None], reward_end_hidden
                )
                # Sampled, as DIAMOND's world-model env and imagination do.
                reward = float(world_model.decode_reward(reward_logits[:, 0], sample=True)[0])
                end = bool(Categorical(logits=end_logits[:, 0]).sample()[0])

                frame = render(next_state)[0]
                frames.append(frame)
                states.append(next_state[0].float().cpu().numpy())
                rewards.append(reward)
                ends.append(end)
                actions.append(action)
                starts.append(new_start)
                if video is not None or show:
                    label = names[action] if names is not None else str(action)
                    captioned = annotate_frame(frame, step, label, reward, end, new_start)
                    if video is not None:
                        if writer is None:
                            video.parent.mkdir(parents=True, exist_ok=True)
                            writer = _H264Writer(video, width=captioned.shape[1], height=captioned.shape[0], fps=int(fps))
                        writer.write(captioned)
                    if window is not None and not window.show(captioned):
                        break

                new_start = False
                if end and on_end == "stop":
                    break
                if end:
                    # The episode ended in the dream: start again from new real frames, with fresh recurrent states.
                    cond_states, cond_actions, hidden, reward_end_hidden = burn_in(
                        world_model, actor_critic, starts_source.draw()
                    )
                    new_start = True
                else:
                    cond_states = th.cat([cond_states[:, 1:], next_state[:, None]], dim=1)
                    cond_actions = th.cat([cond_actions[:, 1:], th.zeros_like(cond_actions[:, :1])], dim=1)
        if writer is not None:
            writer.flush()
    finally:
        if writer is not None:
            writer.close()
        if window is not None:
            window.close()
    state_shape = tuple(world_model.state_shape)
    return DreamResult(
        frames=np.stack(frames) if frames else np.zeros((0, 1, 1, 3), dtype=np.uint8),
        states=np.stack(states).astype(np.float32) if states else np.zeros((0, *state_shape), dtype=np.float32),
        rewards=np.asarray(rewards, dtype=np.float32),
        ends=np.asarray(ends, dtype=bool),
        actions=np.asarray(actions, dtype=np.int64),
        starts=np.asarray(starts, dtype=bool),
        video=video,
    )
