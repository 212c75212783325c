"""sb3-jedi: the JEDI latent-diffusion world-model agent as a Stable-Baselines3 algorithm."""

from sb3_jedi.diamond import DIAMOND
from sb3_jedi.jedi import JEDI, NonFiniteError, RewardMagnitudeWarning
from sb3_jedi.policies import CnnPolicy, MlpPolicy
from sb3_jedi.version import __version__

__all__ = ["DIAMOND", "JEDI", "CnnPolicy", "MlpPolicy", "NonFiniteError", "RewardMagnitudeWarning", "__version__"]
