"""Replay videos of an agent: frames from ``env.render()`` written to an MP4 file with OpenCV."""

import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from stable_baselines3.common.vec_env import VecEnv

__all__ = ["record_video"]


def record_video(
    model: Any,
    env: VecEnv,
    path: str | os.PathLike,
    n_steps: int = 1000,
    fps: int = 30,
    deterministic: bool = True,
) -> int:
    """
    Play ``model`` in the first env of ``env`` for ``n_steps`` steps (episodes restart as needed) and write what
    its ``render()`` shows to an MP4 video.

    :param model: anything with SB3's recurrent ``predict(obs, state, episode_start, deterministic)``
    :param env: a VecEnv whose envs render ``rgb_array`` frames
    :param path: output ``.mp4`` path (parent directories are created)
    :param n_steps: number of env steps recorded
    :param fps: frames per second of the video
    :param deterministic: greedy actions (True) or samples of the policy
    :return: number of frames written
    """
    if n_steps < 1:
        raise ValueError(f"n_steps must be >= 1, got {n_steps}.")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    obs = env.reset()
    state = None
    episode_start = np.ones(env.num_envs, dtype=bool)
    writer = None
    frames = 0
    try:
        for _ in range(n_steps):
            frame = _first_frame(env.get_images())
            if writer is None:
                height, width = frame.shape[:2]
                writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
                if not writer.isOpened():
                    raise RuntimeError(f"OpenCV could not open {path} for writing an MP4 video (codec mp4v).")
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
            frames += 1
            actions, state = model.predict(obs, state=state, episode_start=episode_start, deterministic=deterministic)
            obs, _, episode_start, _ = env.step(actions)
    finally:
        if writer is not None:
            writer.release()
    return frames


def _first_frame(images: Any) -> np.ndarray:
    image = images[0] if images else None
    if image is None:
        raise ValueError(
            "env.render() returned nothing: build the env with render_mode='rgb_array' to record a video "
            "(sb3_jedi.envs.make_env does so by default)."
        )
    frame = np.asarray(image)
    if frame.ndim != 3 or frame.shape[-1] != 3:
        raise ValueError(f"env.render() must give RGB frames (H, W, 3), got shape {frame.shape}.")
    return np.ascontiguousarray(frame.astype(np.uint8))
