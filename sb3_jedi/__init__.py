"""sb3-jedi: the JEDI latent-diffusion world-model agent as a Stable-Baselines3 algorithm."""

from sb3_jedi.jedi import JEDI
from sb3_jedi.policies import CnnPolicy, MlpPolicy
from sb3_jedi.version import __version__

__all__ = ["JEDI", "CnnPolicy", "MlpPolicy", "__version__"]
