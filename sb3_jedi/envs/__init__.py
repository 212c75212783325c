"""
Environments: the Atari100k protocol of DIAMOND / JEDI (64x64 RGB, frame skip 4, life loss ends training episodes), and
pixel versions of envs that render themselves (classic control from frames).
"""

from sb3_jedi.envs.atari import (
    ATARI100K_GAMES,
    Atari100kPreprocessing,
    TerminateOnLifeLoss,
    make_atari100k_env,
    make_atari100k_single_env,
    resolve_atari_game,
)
from sb3_jedi.envs.factory import atari_game_or_none, make_env
from sb3_jedi.envs.pixel import make_pixel_env

__all__ = [
    "ATARI100K_GAMES",
    "Atari100kPreprocessing",
    "TerminateOnLifeLoss",
    "atari_game_or_none",
    "make_atari100k_env",
    "make_atari100k_single_env",
    "make_env",
    "make_pixel_env",
    "resolve_atari_game",
]
