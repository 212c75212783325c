"""
The JEDI policy: it owns every network of the agent (SB3 convention) — the world model (encoder, latent denoiser,
reward/termination model, visualisation decoder) and the recurrent actor-critic — and their optimisers.

Acting: frame -> encoder -> latent -> actor (LSTM) -> action, keeping the LSTM state between calls like
sb3-contrib's ``RecurrentPPO``.
"""

import copy
import math
from typing import Any, ClassVar, cast

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.preprocessing import is_image_space, is_image_space_channels_first
from stable_baselines3.common.type_aliases import Schedule
from stable_baselines3.common.utils import polyak_update
from torch.distributions import Categorical

from sb3_jedi.actor_critic import ActorCriticNetwork
from sb3_jedi.actor_critic_loss import ReturnScaler
from sb3_jedi.world_model.decoder import CnnDecoder, MlpDecoder
from sb3_jedi.world_model.denoiser import EDMDenoiser, SigmaDistribution
from sb3_jedi.world_model.encoder import CnnEncoder, MlpEncoder
from sb3_jedi.world_model.inner_model import LatentUNet, MlpDenoiser
from sb3_jedi.world_model.reward_end import RewardEndModel
from sb3_jedi.world_model.world_model import LatentWorldModel, WorldModel

__all__ = [
    "SAVED_DIAMOND_BLOCKS",
    "SAVED_REWARD_HEAD",
    "SAVED_SEPARATE_CRITIC",
    "WEIGHT_DECAY_MODULES",
    "CnnPolicy",
    "JEDIPolicy",
    "MlpPolicy",
    "RNNStates",
    "check_spaces",
    "fill_saved_policy_kwargs",
    "no_weight_decay_parameters",
    "split_weight_decay",
    "with_critic_layout",
    "with_reward_head",
]

# The recurrent state handed back by ``predict``: the actor-critic's LSTM (h, c), each (n_envs, lstm_dim).
RNNStates = tuple[np.ndarray, np.ndarray]


def check_spaces(observation_space: spaces.Space, action_space: spaces.Space, image_policy: bool) -> None:
    """
    Raise a ``ValueError`` naming the problem and the fix when JEDI cannot handle the spaces.

    :param observation_space: the env's observation space (channel-first or channel-last for images)
    :param action_space: the env's action space
    :param image_policy: whether the policy is ``CnnPolicy`` (image observations) rather than ``MlpPolicy``
    """
    if not isinstance(action_space, spaces.Discrete):
        raise ValueError(
            f"JEDI supports only Discrete action spaces, got {action_space}. The world model conditions on action "
            "embeddings and the actor is categorical: discretise continuous actions (e.g. with a wrapper) or use an "
            "algorithm for continuous control such as SAC."
        )
    if isinstance(observation_space, (spaces.Dict, spaces.Tuple)):
        raise ValueError(
            f"JEDI does not support {type(observation_space).__name__} observation spaces ({observation_space}). "
            "Flatten the observation to a single Box (gymnasium.wrappers.FlattenObservation) for MlpPolicy, or keep "
            "only the image for CnnPolicy."
        )
    if not isinstance(observation_space, spaces.Box):
        raise ValueError(
            f"JEDI needs a Box observation space, got {observation_space}. Wrap the env so that it returns arrays "
            "(e.g. gymnasium.wrappers.FlattenObservation for Discrete or MultiDiscrete observations)."
        )
    if image_policy:
        if not is_image_space(observation_space, check_channels=True):
            raise ValueError(
                f"CnnPolicy needs image observations (uint8 Box of shape (H, W, C) or (C, H, W) with 1, 3 or 4 channels "
                f"and values in [0, 255]), got {observation_space}. Use MlpPolicy for vector observations."
            )
        shape = observation_space.shape
        height, width = shape[1:] if is_image_space_channels_first(observation_space) else shape[:2]
        if height % 8 != 0 or width % 8 != 0 or min(height, width) < 16:
            raise ValueError(
                f"CnnPolicy's encoder downsamples frames by 8, so height and width must be multiples of 8 (at least 16), "
                f"got {height}x{width}. Resize the frames, e.g. to 64x64 as the Atari100k protocol does "
                "(sb3_jedi.envs.make_atari100k_env) or with gymnasium.wrappers.ResizeObservation."
            )
    elif len(observation_space.shape) != 1:
        raise ValueError(
            f"MlpPolicy needs flat vector observations, got shape {observation_space.shape}. Use CnnPolicy for images or "
            "flatten the observation (gymnasium.wrappers.FlattenObservation)."
        )


# The reward head of models saved before the head was an option: every policy predicted sign(r) then.
SAVED_REWARD_HEAD = "sign"
# The critic layout of models saved before it was an option: the critic shared the actor's trunk and LSTM then.
SAVED_SEPARATE_CRITIC = False
# The conv blocks of models saved before DIAMOND's exact blocks were the default (JEDIPolicy(diamond_blocks=...)).
SAVED_DIAMOND_BLOCKS = False


def with_reward_head(policy_kwargs: dict[str, Any], reward_head: str) -> dict[str, Any]:
    """
    A copy of ``policy_kwargs`` whose ``reward_end_kwargs`` name a reward head: ``reward_head`` unless they name one.

    :param policy_kwargs: keyword arguments of a policy (left unchanged)
    :param reward_head: the head to name where none is
    :return: the completed copy
    """
    reward_end_kwargs = {"reward_head": reward_head, **(policy_kwargs.get("reward_end_kwargs") or {})}
    return {**policy_kwargs, "reward_end_kwargs": reward_end_kwargs}


def with_critic_layout(policy_kwargs: dict[str, Any], separate_critic: bool) -> dict[str, Any]:
    """
    A copy of ``policy_kwargs`` whose ``actor_critic_kwargs`` say whether the critic has its own trunk:
    ``separate_critic`` unless they say so already.

    :param policy_kwargs: keyword arguments of a policy (left unchanged)
    :param separate_critic: the layout to name where none is
    :return: the completed copy
    """
    actor_critic_kwargs = {"separate_critic": separate_critic, **(policy_kwargs.get("actor_critic_kwargs") or {})}
    return {**policy_kwargs, "actor_critic_kwargs": actor_critic_kwargs}


def fill_saved_policy_kwargs(policy_kwargs: dict[str, Any]) -> dict[str, Any]:
    """
    The ``policy_kwargs`` of a saved model, completed with what models saved by older versions leave out, whatever the
    policy's defaults are now, so that the weights they saved fit the networks built for them: their reward head,
    :data:`SAVED_REWARD_HEAD` (``"sign"``; ``MlpPolicy``'s default is now ``"symlog_twohot"``), and their critic
    layout, :data:`SAVED_SEPARATE_CRITIC` (a trunk shared with the actor; ``MlpPolicy``'s default is now a critic of
    its own), and their conv blocks, :data:`SAVED_DIAMOND_BLOCKS` (the blocks before ``diamond_blocks``).

    :param policy_kwargs: the saved keyword arguments of the policy (left unchanged)
    :return: the completed copy
    """
    completed = with_critic_layout(with_reward_head(policy_kwargs, SAVED_REWARD_HEAD), SAVED_SEPARATE_CRITIC)
    return {"diamond_blocks": SAVED_DIAMOND_BLOCKS, **completed}


# Modules whose weights are decayed (DIAMOND's configure_opt, after minGPT); everything else, and every bias, is not:
# normalisation scales, embeddings and any free parameter.
WEIGHT_DECAY_MODULES = (
    th.nn.Linear,
    th.nn.Conv1d,
    th.nn.Conv2d,
    th.nn.ConvTranspose2d,
    th.nn.LSTM,
    th.nn.LSTMCell,
    th.nn.GRU,
    th.nn.GRUCell,
)


def no_weight_decay_parameters(module: th.nn.Module) -> set[int]:
    """
    The parameters DIAMOND leaves out of weight decay (``configure_opt``): biases, normalisation weights, embeddings.

    :param module: the network
    :return: ids of the parameters that take no weight decay
    """
    decayed = {
        id(param)
        for sub in module.modules()
        if isinstance(sub, WEIGHT_DECAY_MODULES)
        for name, param in sub.named_parameters(recurse=False)
        if "bias" not in name and (name.endswith("weight") or name.startswith("weight_"))
    }
    return {id(param) for param in module.parameters() if id(param) not in decayed}


def split_weight_decay(params: list[th.nn.Parameter], no_decay: set[int], options: dict[str, Any]) -> list[dict]:
    """
    One optimiser group per weight-decay class (the optimiser's decay, and none), both with ``options``.

    :param params: the parameters of one component
    :param no_decay: ids of the parameters that take no weight decay
    :param options: group options (``name``, ``lr_scale``, ``lr``) shared by both groups
    :return: the groups that hold parameters
    """
    decayed = [p for p in params if id(p) not in no_decay]
    plain = [p for p in params if id(p) in no_decay]
    groups = [{"params": decayed, **options}] if decayed else []
    if plain:
        groups.append({"params": plain, **options, "weight_decay": 0.0})
    return groups


class JEDIPolicy(BasePolicy):
    """
    Every network of a JEDI agent, and the optimisers that train them.

    :param observation_space: channel-first observation space
    :param action_space: a Discrete action space
    :param lr_schedule: learning-rate schedule (the initial value builds the optimisers)
    :param image_observations: build the convolutional networks (``CnnPolicy``) rather than the MLPs (``MlpPolicy``)
    :param latent_dim: latent size of the MLP encoder (``MlpPolicy`` only)
    :param n_cond_steps: past latents and actions the denoiser conditions on (paper: 4)
    :param encoder_kwargs: keyword arguments of the encoder (``CnnEncoder`` / ``MlpEncoder``)
    :param denoiser_kwargs: keyword arguments of the inner denoiser network (``LatentUNet`` / ``MlpDenoiser``);
        ``LatentUNet``'s defaults are the paper's: DIAMOND's U-Net topology with one stage of 160 channels
        (2 down blocks, 2 middle blocks with self-attention, 3 up blocks)
    :param edm_kwargs: keyword arguments of :class:`~sb3_jedi.world_model.denoiser.EDMDenoiser` (``sigma_data``,
        ``sigma_offset_noise``, ``output_clamp``) and ``sigma_distribution`` as a dict of
        :class:`~sb3_jedi.world_model.denoiser.SigmaDistribution` fields
    :param sampler_kwargs: keyword arguments of :class:`~sb3_jedi.world_model.diffusion_sampler.DiffusionSampler`
    :param reward_end_kwargs: keyword arguments of :class:`~sb3_jedi.world_model.reward_end.RewardEndModel`;
        ``reward_head`` defaults to the policy's :attr:`default_reward_head`: ``"sign"`` (3 classes of ``sign(r)``,
        DIAMOND and the paper) for ``CnnPolicy``, ``"symlog_twohot"`` (DreamerV3's symlog two-hot categorical, which
        keeps the reward's size) for ``MlpPolicy``
    :param decoder_kwargs: keyword arguments of the visualisation decoder
    :param use_decoder: train a visualisation decoder on stop-gradient latents (it never shapes the encoder)
    :param actor_critic_kwargs: keyword arguments of :class:`~sb3_jedi.actor_critic.ActorCriticNetwork`
    :param diamond_blocks: the conv networks use DIAMOND's blocks exactly (default): self-attention adds to the
        normalised input, the reward/end encoder closes with two attention blocks and no norm and its output layer has
        no bias, the actor-critic trunk uses DIAMOND's one-convolution residual blocks. ``False`` builds the layout
        of models saved by sb3-jedi before this option (loading such a file does so by itself). Unused by the MLPs
    :param random_switching_prob: JEDI's random switching probability when unrolling the denoiser (paper: 0.5)
    :param encoder_lr_scale: encoder learning rate as a fraction of the denoiser's (paper: 0.3)
    :param optimizer_class: optimiser of every component (DIAMOND: AdamW)
    :param world_model_optimizer_kwargs: world-model optimiser options (DIAMOND: weight decay 1e-2, eps 1e-8; as
        DIAMOND, biases, normalisation weights and embeddings take no weight decay)
    :param actor_critic_optimizer_kwargs: actor-critic optimiser options (DIAMOND: weight decay 0, eps 1e-8)
    :param normalize_images: kept for SB3 compatibility; images are always mapped to [-1, 1]
    """

    # Narrower than BasePolicy's spaces: check_spaces admits only these.
    observation_space: spaces.Box
    action_space: spaces.Discrete
    world_model: WorldModel
    actor_critic: ActorCriticNetwork
    # Reward head when reward_end_kwargs name none: sign(r), DIAMOND's and the paper's choice for (clipped) Atari rewards.
    default_reward_head: ClassVar[str] = "sign"

    def __init__(
        self,
        observation_space: spaces.Box,
        action_space: spaces.Discrete,
        lr_schedule: Schedule,
        image_observations: bool = True,
        latent_dim: int = 16,
        n_cond_steps: int = 4,
        encoder_kwargs: dict[str, Any] | None = None,
        denoiser_kwargs: dict[str, Any] | None = None,
        edm_kwargs: dict[str, Any] | None = None,
        sampler_kwargs: dict[str, Any] | None = None,
        reward_end_kwargs: dict[str, Any] | None = None,
        decoder_kwargs: dict[str, Any] | None = None,
        use_decoder: bool = True,
        actor_critic_kwargs: dict[str, Any] | None = None,
        diamond_blocks: bool = True,
        random_switching_prob: float = 0.5,
        encoder_lr_scale: float = 0.3,
        optimizer_class: type[th.optim.Optimizer] = th.optim.AdamW,
        world_model_optimizer_kwargs: dict[str, Any] | None = None,
        actor_critic_optimizer_kwargs: dict[str, Any] | None = None,
        normalize_images: bool = True,
    ) -> None:
        check_spaces(observation_space, action_space, image_observations)
        super().__init__(observation_space, action_space, normalize_images=normalize_images)
        self.image_observations = image_observations
        self.latent_dim = latent_dim
        self.n_cond_steps = n_cond_steps
        self.encoder_kwargs = dict(encoder_kwargs or {})
        self.denoiser_kwargs = dict(denoiser_kwargs or {})
        self.edm_kwargs = dict(edm_kwargs or {})
        self.sampler_kwargs = dict(sampler_kwargs or {})
        # The head is always named here, so that it is among the saved constructor parameters.
        self.reward_end_kwargs = {"reward_head": self.default_reward_head, **(reward_end_kwargs or {})}
        self.decoder_kwargs = dict(decoder_kwargs or {})
        self.use_decoder = use_decoder
        self.actor_critic_kwargs = dict(actor_critic_kwargs or {})
        self.diamond_blocks = diamond_blocks
        self.random_switching_prob = random_switching_prob
        if encoder_lr_scale < 0:
            raise ValueError(f"encoder_lr_scale must be >= 0, got {encoder_lr_scale}.")
        self.encoder_lr_scale = encoder_lr_scale
        self.optimizer_class = optimizer_class
        self.world_model_optimizer_kwargs = {"weight_decay": 1e-2, "eps": 1e-8, **(world_model_optimizer_kwargs or {})}
        self.actor_critic_optimizer_kwargs = {"weight_decay": 0.0, "eps": 1e-8, **(actor_critic_optimizer_kwargs or {})}
        self._build(lr_schedule)

    @property
    def n_actions(self) -> int:
        return int(self.action_space.n)

    def make_world_model(self) -> WorldModel:
        """Build the world model (override to plug in another kind, e.g. a pixel-space one)."""
        edm_kwargs = dict(self.edm_kwargs)
        sigma_distribution = SigmaDistribution(**edm_kwargs.pop("sigma_distribution", {}))
        encoder: CnnEncoder | MlpEncoder
        inner: LatentUNet | MlpDenoiser
        decoder: CnnDecoder | MlpDecoder
        if self.image_observations:
            channels, height, width = self.observation_space.shape
            encoder = CnnEncoder(in_channels=channels, image_size=(height, width), **self.encoder_kwargs)
            latent_shape = tuple(encoder.latent_shape)
            inner = LatentUNet(
                state_channels=latent_shape[0],
                n_cond_steps=self.n_cond_steps,
                n_actions=self.n_actions,
                **self.block_kwargs(self.denoiser_kwargs),
            )
            # The decoder mirrors the encoder: it upsamples as many times as the encoder downsamples, unless told otherwise.
            decoder_kwargs = {"n_upsamples": int(math.log2(encoder.factor)), **self.decoder_kwargs}
            decoder = CnnDecoder(latent_shape=latent_shape, out_channels=channels, **decoder_kwargs)
            if decoder.output_shape != (channels, height, width):
                raise ValueError(
                    f"The visualisation decoder makes {decoder.output_shape} images from {latent_shape} latents, but "
                    f"the observations are {(channels, height, width)}: the encoder makes latents {encoder.factor}x "
                    f"smaller, so give decoder_kwargs n_upsamples={int(math.log2(encoder.factor))} and at least that many "
                    "stages of channels, or use_decoder=False."
                )
        else:
            obs_dim = int(self.observation_space.shape[0])
            encoder = MlpEncoder(obs_dim, latent_dim=self.latent_dim, **self.encoder_kwargs)
            latent_shape = tuple(encoder.latent_shape)
            inner = MlpDenoiser(
                state_dim=latent_shape[0], n_cond_steps=self.n_cond_steps, n_actions=self.n_actions, **self.denoiser_kwargs
            )
            decoder = MlpDecoder(latent_dim=latent_shape[0], obs_dim=obs_dim, **self.decoder_kwargs)
        return LatentWorldModel(
            self.observation_space,
            self.n_actions,
            encoder=encoder,
            denoiser=EDMDenoiser(inner, sigma_distribution=sigma_distribution, **edm_kwargs),
            reward_end_model=RewardEndModel(latent_shape, self.n_actions, **self.block_kwargs(self.reward_end_kwargs)),
            decoder=decoder if self.use_decoder else None,
            n_cond_steps=self.n_cond_steps,
            random_switching_prob=self.random_switching_prob,
            sampler_kwargs=self.sampler_kwargs,
        )

    def make_actor_critic(self, state_shape: tuple[int, ...]) -> ActorCriticNetwork:
        """Build the actor-critic acting on world-model states."""
        return ActorCriticNetwork(state_shape, self.n_actions, **self.block_kwargs(self.actor_critic_kwargs))

    def block_kwargs(self, network_kwargs: dict[str, Any]) -> dict[str, Any]:
        """
        A conv-capable network's keyword arguments with the policy's ``diamond_blocks`` (unless they name their own).

        :param network_kwargs: the network's keyword arguments (left unchanged)
        :return: the completed copy
        """
        return {"diamond_blocks": self.diamond_blocks, **network_kwargs}

    def _build(self, lr_schedule: Schedule) -> None:
        self.world_model = self.make_world_model()
        self.actor_critic = self.make_actor_critic(self.world_model.state_shape)
        # A slow copy of the actor-critic whose critic can bootstrap the returns (JEDI(target_critic_tau=...)).
        self.actor_critic_target = copy.deepcopy(self.actor_critic).requires_grad_(False)
        # Percentile statistics of the imagined returns (JEDI(return_normalization=True)).
        self.return_scaler = ReturnScaler()
        lr = lr_schedule(1)
        groups = []
        no_decay = no_weight_decay_parameters(self.world_model)
        for name, params in self.world_model.parameter_groups().items():
            scale = self.encoder_lr_scale if name == "encoder" else 1.0
            groups += split_weight_decay(params, no_decay, {"name": name, "lr_scale": scale, "lr": lr * scale})
        # Every torch optimiser takes lr, though the Optimizer base class's signature does not say so.
        self.world_model_optimizer = self.optimizer_class(  # type: ignore[call-arg]
            groups, lr=lr, **self.world_model_optimizer_kwargs
        )
        actor_critic_groups = split_weight_decay(
            list(self.actor_critic.parameters()),
            no_weight_decay_parameters(self.actor_critic),
            {"name": "actor_critic", "lr_scale": 1.0, "lr": lr},
        )
        self.actor_critic_optimizer = self.optimizer_class(  # type: ignore[call-arg]
            actor_critic_groups, lr=lr, **self.actor_critic_optimizer_kwargs
        )
        # SB3 code that looks for ``policy.optimizer`` finds the world model's.
        self.optimizer = self.world_model_optimizer

    def update_target_critic(self, tau: float) -> None:
        """Polyak-average the actor-critic into its slow copy: ``target <- (1 - tau) target + tau online``."""
        polyak_update(self.actor_critic.parameters(), self.actor_critic_target.parameters(), tau)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(
            image_observations=self.image_observations,
            latent_dim=self.latent_dim,
            n_cond_steps=self.n_cond_steps,
            encoder_kwargs=self.encoder_kwargs,
            denoiser_kwargs=self.denoiser_kwargs,
            edm_kwargs=self.edm_kwargs,
            sampler_kwargs=self.sampler_kwargs,
            reward_end_kwargs=self.reward_end_kwargs,
            decoder_kwargs=self.decoder_kwargs,
            use_decoder=self.use_decoder,
            actor_critic_kwargs=self.actor_critic_kwargs,
            random_switching_prob=self.random_switching_prob,
            encoder_lr_scale=self.encoder_lr_scale,
            optimizer_class=self.optimizer_class,
            world_model_optimizer_kwargs=self.world_model_optimizer_kwargs,
            actor_critic_optimizer_kwargs=self.actor_critic_optimizer_kwargs,
        )
        return data

    # Acting -----------------------------------------------------------------------------------------------------

    def initial_state(self, n_envs: int) -> RNNStates:
        """Zero LSTM state for ``n_envs`` environments."""
        zeros = np.zeros((n_envs, self.actor_critic.lstm_dim), dtype=np.float32)
        return zeros, zeros.copy()

    def act(
        self,
        obs: th.Tensor,
        hidden: tuple[th.Tensor, th.Tensor],
        deterministic: bool = False,
    ) -> tuple[th.Tensor, th.Tensor, tuple[th.Tensor, th.Tensor]]:
        """
        One acting step on raw observations (as stored: uint8 images, float vectors).

        :return: actions (B,), action logits (B, n_actions), new LSTM state
        """
        with th.no_grad():
            states = self.world_model.encode(obs)
            logits, _, hidden = self.actor_critic(states, hidden)
            actions = logits.argmax(dim=-1) if deterministic else Categorical(logits=logits).sample()
        return actions, logits, hidden

    # Observations are Box tensors, never SB3's dict observations (check_spaces refuses Dict spaces).
    def _predict(self, observation: th.Tensor, deterministic: bool = False) -> th.Tensor:  # type: ignore[override]
        # Stateless use (SB3's BasePolicy API): every call starts from a zero LSTM state.
        hidden = self.actor_critic.initial_state(observation.shape[0], observation.device)
        actions, _, _ = self.act(observation, hidden, deterministic)
        return actions

    def forward(self, obs: th.Tensor, deterministic: bool = False) -> th.Tensor:
        return self._predict(obs, deterministic)

    def predict(
        self,
        observation: np.ndarray | dict[str, np.ndarray],
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, RNNStates]:
        """
        Actions for a batch of observations, keeping the actor's LSTM state like sb3-contrib's ``RecurrentPPO``.

        :param observation: one observation or a batch (n_envs, *obs_shape)
        :param state: the state returned by the previous call (``None``: zeros, i.e. every env starts an episode)
        :param episode_start: (n_envs,) flags; the state of flagged envs is reset to zeros before acting
        :param deterministic: take the most likely action instead of sampling
        :return: the actions and the new state
        """
        if self.training:  # switching walks every submodule: costly at one env step per call
            self.set_training_mode(False)
        obs_tensor, vectorized_env = self.obs_to_tensor(observation)
        obs_tensor = cast(th.Tensor, obs_tensor)  # an array observation gives a tensor (a dict one, a dict)
        n_envs = obs_tensor.shape[0]
        if state is None:
            state = self.initial_state(n_envs)
        expected = (n_envs, self.actor_critic.lstm_dim)
        if len(state) != 2 or any(np.shape(s) != expected for s in state):
            raise ValueError(
                f"The recurrent state must be a pair (h, c) of arrays of shape {expected} for {n_envs} observation(s), got "
                f"shapes {[np.shape(s) for s in state]}. Pass the state returned by the previous predict() call on the "
                "same envs, or None to start from zeros."
            )
        if episode_start is None:
            episode_start = np.zeros(n_envs, dtype=bool)
        elif np.size(episode_start) != n_envs:
            raise ValueError(
                f"episode_start must hold one flag per observation ({n_envs}), got shape {np.shape(episode_start)}. "
                "Pass the envs' done flags of the previous step (all True at the start)."
            )
        keep = th.as_tensor(1.0 - np.asarray(episode_start, dtype=np.float32), device=self.device).reshape(n_envs, 1)
        hidden = tuple(th.as_tensor(s, device=self.device, dtype=th.float32) * keep for s in state)
        actions, _, (h, c) = self.act(obs_tensor, hidden, deterministic)  # type: ignore[arg-type]
        actions_np = actions.cpu().numpy()
        if not vectorized_env:
            actions_np = actions_np.squeeze(axis=0)
        return actions_np, (h.cpu().numpy(), c.cpu().numpy())


class CnnPolicy(JEDIPolicy):
    """JEDI policy for image observations: convolutional encoder to 16x8x8 latents and a latent U-Net (paper:
    DIAMOND's U-Net with one 160-channel stage and attention in its 2 middle blocks). The reward model predicts
    ``sign(r)`` (``reward_head="sign"``, the paper's Atari setting); pass
    ``reward_end_kwargs={"reward_head": "symlog_twohot"}`` for rewards whose size matters."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("image_observations", True)
        super().__init__(*args, **kwargs)


class MlpPolicy(JEDIPolicy):
    """JEDI policy for vector observations: MLP encoder to a flat latent and an MLP denoiser with adaptive norm. The
    reward model predicts the reward's size with DreamerV3's symlog two-hot head (``reward_head="symlog_twohot"``, 255
    bins over [-20, 20] in symlog space): vector tasks' rewards are seldom only -1, 0 and +1. Pass
    ``reward_end_kwargs={"reward_head": "sign"}`` for DIAMOND's sign classes."""

    # Not the paper's sign(r): vector tasks pay rewards of many sizes (0.1 per step, 100 at the goal) that the sign
    # would make equal.
    default_reward_head: ClassVar[str] = "symlog_twohot"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("image_observations", False)
        # Small networks: vector tasks (CartPole-sized) need far less capacity than Atari, and train fast on a CPU.
        for key, small in self.small_network_kwargs.items():
            kwargs[key] = {**small, **(kwargs.get(key) or {})}
        super().__init__(*args, **kwargs)

    small_network_kwargs: dict[str, dict[str, Any]] = {
        "denoiser_kwargs": {"hidden_dim": 128, "n_layers": 3, "cond_dim": 64},
        "reward_end_kwargs": {"lstm_dim": 128, "hidden_dim": 128, "cond_dim": 32},
        # A critic of its own: its regression of returns then cannot drag the actor's features (DreamerV3).
        "actor_critic_kwargs": {"lstm_dim": 128, "hidden_sizes": (128,), "separate_critic": True},
    }
