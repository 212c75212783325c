"""
Replay videos of an agent: frames from ``env.render()`` written to an H.264 MP4 file with PyAV.

The video is H.264 (libx264, bundled with PyAV's wheels, so no system ``ffmpeg`` is needed) in the ``yuv420p`` pixel
format, with the index at the start of the file (``movflags=+faststart``): the format browsers and the Hugging Face
Hub's player play. ``yuv420p`` needs even frame sizes, so frames of odd width or height are padded by one pixel,
repeating their last column or row.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path
from typing import Any, Final

import av
import numpy as np
from stable_baselines3.common.vec_env import VecEnv

__all__ = ["VIDEO_CODEC", "VIDEO_PIXEL_FORMAT", "record_video"]

#: Encoder of the replay videos (H.264 through libx264).
VIDEO_CODEC: Final = "libx264"
#: Pixel format of the replay videos (4:2:0 chroma subsampling, which every H.264 player decodes).
VIDEO_PIXEL_FORMAT = "yuv420p"


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
    its ``render()`` shows to an H.264 MP4 video (``yuv420p``; odd frame sizes are padded to even ones).

    :param model: anything with SB3's recurrent ``predict(obs, state, episode_start, deterministic)``
    :param env: a VecEnv whose envs render ``rgb_array`` frames
    :param path: output path, written as an MP4 file whatever its extension (parent directories are created)
    :param n_steps: number of env steps recorded, one frame each
    :param fps: frames per second of the video
    :param deterministic: greedy actions (True) or samples of the policy
    :return: number of frames written
    """
    if isinstance(n_steps, bool) or not isinstance(n_steps, int | np.integer) or n_steps < 1:
        raise ValueError(f"n_steps must be an integer >= 1, got {n_steps!r}.")
    if isinstance(fps, bool) or not isinstance(fps, int | np.integer) or fps < 1:
        raise ValueError(f"fps must be an integer >= 1 (frames per second), got {fps!r}.")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    obs = env.reset()
    state = None
    episode_start = np.ones(env.num_envs, dtype=bool)
    writer: _H264Writer | None = None
    frames = 0
    try:
        for _ in range(n_steps):
            frame = _first_frame(env.get_images())
            if writer is None:
                writer = _H264Writer(path, width=frame.shape[1], height=frame.shape[0], fps=int(fps))
            writer.write(frame)
            frames += 1
            actions, state = model.predict(obs, state=state, episode_start=episode_start, deterministic=deterministic)
            obs, _, episode_start, _ = env.step(actions)
        if writer is not None:
            writer.flush()
    finally:
        if writer is not None:
            writer.close()
    return frames


class _H264Writer:
    """An MP4 file with one H.264 video stream, fed RGB frames of one size (odd sizes padded to even ones)."""

    def __init__(self, path: Path, width: int, height: int, fps: int) -> None:
        self.path = path
        self.frame_size = (height, width)
        # yuv420p stores one chroma sample per 2x2 pixels: both sides must be even.
        self.width, self.height = width + width % 2, height + height % 2
        self.container = av.open(str(path), mode="w", format="mp4", options={"movflags": "+faststart"})
        try:
            self.stream = self.container.add_stream(VIDEO_CODEC, rate=Fraction(fps))
        except (ValueError, av.FFmpegError) as error:
            self.container.close()
            path.unlink(missing_ok=True)
            raise RuntimeError(
                f"PyAV {av.__version__} has no {VIDEO_CODEC} (H.264) encoder ({error}). The PyAV wheels from PyPI bundle "
                "it: reinstall PyAV from them with `pip install --force-reinstall --only-binary=av av`."
            ) from error
        self.stream.width, self.stream.height = self.width, self.height
        self.stream.pix_fmt = VIDEO_PIXEL_FORMAT

    def write(self, frame: np.ndarray) -> None:
        if frame.shape[:2] != self.frame_size:
            raise ValueError(
                f"env.render() changed its frame size during the recording, from {self.frame_size} to {frame.shape[:2]} "
                "(height, width): a video has one frame size."
            )
        pad = ((0, self.height - frame.shape[0]), (0, self.width - frame.shape[1]), (0, 0))
        if any(after for _, after in pad):
            frame = np.pad(frame, pad, mode="edge")
        self.container.mux(self.stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))

    def flush(self) -> None:
        """Write the frames the encoder still holds."""
        self.container.mux(self.stream.encode(None))

    def close(self) -> None:
        self.container.close()


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
