"""The JEDI world model: encoder, EDM diffusion, latent denoiser, reward/termination model and decoder."""

from sb3_jedi.world_model.decoder import CnnDecoder, MlpDecoder
from sb3_jedi.world_model.denoiser import EDMDenoiser, SigmaDistribution
from sb3_jedi.world_model.diffusion_sampler import DiffusionSampler, build_sigmas
from sb3_jedi.world_model.encoder import CnnEncoder, MlpEncoder
from sb3_jedi.world_model.inner_model import LatentUNet, MlpDenoiser
from sb3_jedi.world_model.pixel import PixelWorldModel, quantize_pixels
from sb3_jedi.world_model.reward_end import RewardEndModel
from sb3_jedi.world_model.world_model import LatentWorldModel, WorldModel, WorldModelLoss

__all__ = [
    "CnnDecoder",
    "CnnEncoder",
    "DiffusionSampler",
    "EDMDenoiser",
    "LatentUNet",
    "LatentWorldModel",
    "MlpDecoder",
    "MlpDenoiser",
    "MlpEncoder",
    "PixelWorldModel",
    "RewardEndModel",
    "SigmaDistribution",
    "WorldModel",
    "WorldModelLoss",
    "build_sigmas",
    "quantize_pixels",
]
