"""
DIAMOND (Alonso et al., "Diffusion for World Modeling: Visual Details Matter in Atari", NeurIPS 2024), the
pixel-space diffusion world-model agent JEDI builds on, as a baseline inside this library.

DIAMOND and JEDI share everything but the space the world model diffuses in: :class:`DIAMONDPolicy` builds a
:class:`~sb3_jedi.world_model.pixel.PixelWorldModel` (diffusion over 64x64 RGB frames) and an actor-critic acting on
frames, with DIAMOND's published sizes; :class:`DIAMOND` is :class:`~sb3_jedi.jedi.JEDI`'s training loop with that
policy and DIAMOND's hyper-parameters. Running both on the same data and hardware is what
``sb3_jedi.benchmarks.world_model`` does to check JEDI's efficiency claims. Training DIAMOND on a game::

    from sb3_jedi import DIAMOND
    from sb3_jedi.envs import make_atari100k_env

    model = DIAMOND("CnnPolicy", make_atari100k_env("Pong", seed=0)).learn(100_000)
"""

from typing import Any, ClassVar, TypeVar

from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import MaybeCallback

from sb3_jedi.jedi import ATARI_DEFAULTS, JEDI
from sb3_jedi.policies import JEDIPolicy
from sb3_jedi.world_model.denoiser import EDMDenoiser, SigmaDistribution
from sb3_jedi.world_model.inner_model import LatentUNet
from sb3_jedi.world_model.pixel import PixelWorldModel
from sb3_jedi.world_model.reward_end import RewardEndModel

__all__ = ["DIAMOND", "DIAMOND_DEFAULTS", "DIAMONDPolicy"]

SelfDIAMOND = TypeVar("SelfDIAMOND", bound="DIAMOND")

# DIAMOND's published training settings (its config/trainer.yaml). They coincide with JEDI's Atari defaults today
# (JEDI inherits DIAMOND's schedule); they are spelled out so that tuning JEDI never changes the baseline. Arguments of
# our own that DIAMOND does not have take JEDI's values, which switch those extensions off.
DIAMOND_DEFAULTS: dict[str, Any] = {
    **ATARI_DEFAULTS,
    "learning_rate": 1e-4,
    "buffer_size": 100_000,
    "learning_starts": 5_000,  # first epoch: at least 5k random steps
    "batch_size": 32,
    "gamma": 0.985,
    "gae_lambda": 0.95,
    "ent_coef": 1e-3,
    "value_coef": 1.0,
    "train_freq": 100,
    "gradient_steps": 400,
    "actor_critic_gradient_steps": -1,  # as many as gradient_steps: 400
    "first_epoch_gradient_steps": None,  # 25x gradient_steps: 10k
    "first_epoch_actor_critic_gradient_steps": None,  # 12.5x actor_critic_gradient_steps: 5k
    "learning_starts_max": None,  # 2x learning_starts: 10k
    "learning_starts_reward_threshold": 10,  # collection.train.first_epoch.threshold_rew
    "final_epochs": None,  # 5% of the run's epochs: training.num_final_epochs = 50 after 100k steps
    "imagination_horizon": 15,
    "unroll_steps": 2,  # num_autoregressive_steps: 1 = 4 + 1 + 1 frames, two denoising steps
    "exploration_epsilon": 0.01,
    "lr_warmup_steps": 100,
    "world_model_max_grad_norm": 1.0,  # denoiser
    "reward_end_max_grad_norm": 100.0,
    "actor_critic_max_grad_norm": 100.0,
    "sample_weights": (0.1, 0.1, 0.1, 0.7),
    "sample_reward_end": True,
}


class DIAMONDPolicy(JEDIPolicy):
    """
    DIAMOND's networks: a pixel diffusion world model and an actor-critic on frames (no encoder, no decoder).

    Defaults (DIAMOND's ``config/agent/default.yaml``; any key passed in the ``*_kwargs`` dicts overrides its default):

    - denoiser: :class:`~sb3_jedi.world_model.inner_model.LatentUNet` (DIAMOND's U-Net topology) over 3-channel frames,
      channels [64, 64, 64, 64], depths [2, 2, 2, 2] (3 up blocks per stage), 2 middle blocks with self-attention,
      no attention in the stages, conditioning dim 256, conditioned on 4 past frames and actions: DIAMOND's 4.41M
      parameters besides the action embedding (one table per step here: 4.42M in all for 18 actions); EDM with
      sigma_data 0.5 and offset noise 0.3, no soft clamp (sampled frames are quantised to 256 levels instead);
    - reward/termination model: CNN [32, 32, 32, 32] (2 blocks per stage, action embedding 128) + LSTM 512, head 512
      predicting ``sign(r)`` in 3 classes (``reward_head="sign"``);
    - actor-critic: CNN [32, 32, 64, 64] with a 2x max-pool after every stage + LSTM 512.

    Takes :class:`~sb3_jedi.policies.JEDIPolicy`'s arguments; those of the encoder and decoder do not apply.
    """

    pixel_network_kwargs: ClassVar[dict[str, dict[str, Any]]] = {
        "denoiser_kwargs": {
            "channels": (64, 64, 64, 64),
            "depths": (2, 2, 2, 2),
            "mid_depth": 2,
            "mid_attention": True,
            "attention": False,
            "cond_dim": 256,
        },
        "edm_kwargs": {"sigma_data": 0.5, "sigma_offset_noise": 0.3, "output_clamp": None},
        "reward_end_kwargs": {"channels": (32, 32, 32, 32), "depth": 2, "cond_dim": 128, "lstm_dim": 512, "hidden_dim": 512},
        "actor_critic_kwargs": {"channels": (32, 32, 64, 64), "lstm_dim": 512},
    }
    # DIAMOND predicts the sign of the reward, whatever JEDIPolicy's default.
    default_reward_head: ClassVar[str] = "sign"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if not kwargs.setdefault("image_observations", True):
            raise ValueError("DIAMONDPolicy diffuses image frames: image_observations must be True (DIAMOND is for images).")
        if kwargs.setdefault("use_decoder", False):
            raise ValueError("DIAMONDPolicy's states are the frames themselves: there is nothing to decode, drop use_decoder.")
        for key in ("encoder_kwargs", "decoder_kwargs"):
            if kwargs.get(key):
                raise ValueError(f"DIAMONDPolicy has no encoder or decoder (the states are frames): drop {key}={kwargs[key]}.")
        for key, defaults in self.pixel_network_kwargs.items():
            kwargs[key] = {**defaults, **(kwargs.get(key) or {})}
        super().__init__(*args, **kwargs)

    def make_world_model(self) -> PixelWorldModel:
        """Build DIAMOND's pixel diffusion world model."""
        edm_kwargs = dict(self.edm_kwargs)
        sigma_distribution = SigmaDistribution(**edm_kwargs.pop("sigma_distribution", {}))
        state_shape = tuple(self.observation_space.shape)
        inner = LatentUNet(
            state_channels=state_shape[0],
            n_cond_steps=self.n_cond_steps,
            n_actions=self.n_actions,
            **self.block_kwargs(self.denoiser_kwargs),
        )
        return PixelWorldModel(
            self.observation_space,
            self.n_actions,
            denoiser=EDMDenoiser(inner, sigma_distribution=sigma_distribution, **edm_kwargs),
            reward_end_model=RewardEndModel(state_shape, self.n_actions, **self.block_kwargs(self.reward_end_kwargs)),
            n_cond_steps=self.n_cond_steps,
            sampler_kwargs=self.sampler_kwargs,
        )


class DIAMOND(JEDI):
    """
    DIAMOND: the pixel-space diffusion world-model agent (Alonso et al., NeurIPS 2024), trained by JEDI's loop.

    Same arguments, loop, saving and acting as :class:`~sb3_jedi.jedi.JEDI` (``predict`` keeps the actor's LSTM state
    the same way); only the policy and the defaults differ: ``"CnnPolicy"`` is :class:`DIAMONDPolicy`, and arguments
    left to ``None`` take :data:`DIAMOND_DEFAULTS` (DIAMOND's published settings, equal to JEDI's Atari defaults).

    One difference of bookkeeping from DIAMOND's code: DIAMOND trains its denoiser and its reward/termination model
    with two optimisers on separately drawn batches; here one world-model update optimises both (one parameter group
    each, with DIAMOND's gradient clips 1 and 100 and weight decay 1e-2), on the same two batch shapes (6-frame
    segments for the denoiser, 4 + 1 + 1 with ``unroll_steps=2``; 19-frame segments for the reward/termination
    model), 400 times per epoch as DIAMOND.

    Arguments: those of :class:`~sb3_jedi.jedi.JEDI`; ``policy`` is ``"CnnPolicy"`` or a :class:`DIAMONDPolicy`
    subclass, ``env`` gives 64x64 RGB frames (``sb3_jedi.envs.make_atari100k_env``).
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {"CnnPolicy": DIAMONDPolicy}

    @classmethod
    def _default_hyperparameters(cls, policy_class: type[BasePolicy]) -> dict[str, Any]:
        # Called by JEDI.__init__ with the resolved policy class, before anything is built.
        if not issubclass(policy_class, DIAMONDPolicy):
            raise ValueError(
                f"DIAMOND needs a DIAMONDPolicy (pixel world model), got {policy_class.__name__}: use "
                "DIAMOND('CnnPolicy', env), or JEDI for the latent world model."
            )
        return DIAMOND_DEFAULTS

    def learn(
        self: SelfDIAMOND,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 4,
        tb_log_name: str = "DIAMOND",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfDIAMOND:
        return super().learn(
            total_timesteps=total_timesteps,
            callback=callback,
            log_interval=log_interval,
            tb_log_name=tb_log_name,
            reset_num_timesteps=reset_num_timesteps,
            progress_bar=progress_bar,
        )
