"""sb3-jedi: the JEDI latent-diffusion world-model agent as a Stable-Baselines3 algorithm."""

from sb3_jedi.version import __version__

__all__ = ["__version__"]
