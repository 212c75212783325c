"""
JEDI: a latent end-to-end diffusion world-model agent (arXiv 2505.19698) as a Stable-Baselines3 algorithm.

One epoch of :meth:`JEDI.learn` (DIAMOND's loop): collect ``train_freq`` env steps with the current actor, then
``gradient_steps`` world-model updates (denoiser + encoder + reward/termination model, decoder) and
``actor_critic_gradient_steps`` actor-critic updates in imagination. The first epoch, after ``learning_starts`` random
steps, is longer.
"""

import contextlib
import io
import math
import pathlib
import time
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any, ClassVar, TypeVar, cast

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.base_class import maybe_make_env
from stable_baselines3.common.callbacks import BaseCallback, ConvertCallback
from stable_baselines3.common.noise import ActionNoise
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.save_util import load_from_pkl
from stable_baselines3.common.type_aliases import (
    GymEnv,
    MaybeCallback,
    RolloutReturn,
    Schedule,
    TrainFreq,
    TrainFrequencyUnit,
)
from stable_baselines3.common.utils import should_collect_more_steps
from stable_baselines3.common.vec_env import VecEnv
from torch.nn.utils import clip_grad_norm_
from tqdm.auto import tqdm

from sb3_jedi.actor_critic_loss import (
    ActorCriticLosses,
    actor_critic_loss,
    replay_lambda_returns,
    replay_value_loss,
    self_imitation_loss,
)
from sb3_jedi.buffers import EpisodeReplayBuffer, SegmentBatch
from sb3_jedi.exploration import INITIAL_EXPLORATIONS, RandomLinearPolicies
from sb3_jedi.imagination import ImaginationLoop, ImaginedSteps, ImaginedTrajectory, imagine, replay_values, unroll
from sb3_jedi.policies import (
    CnnPolicy,
    JEDIPolicy,
    MlpPolicy,
    check_spaces,
    fill_saved_policy_kwargs,
    with_critic_layout,
    with_reward_head,
)
from sb3_jedi.save_util import CHECKPOINT_FORMAT_VERSION, check_jedi_checkpoint
from sb3_jedi.version import __version__

__all__ = ["ATARI_DEFAULTS", "JEDI", "VECTOR_DEFAULTS", "NonFiniteError", "NonFiniteWarning", "RewardMagnitudeWarning"]

SelfJEDI = TypeVar("SelfJEDI", bound="JEDI")

# Hyper-parameters handled by SB3's OffPolicyAlgorithm (with their SB3 meaning).
SB3_ARGUMENTS = ("learning_rate", "buffer_size", "learning_starts", "batch_size", "gamma", "train_freq", "gradient_steps")

# DIAMOND's first epoch against a regular one (config/trainer.yaml): 10k / 400 world-model updates, 5k / 400
# actor-critic updates, and up to 10k / 5k random steps of initial collection.
FIRST_EPOCH_WORLD_MODEL_RATIO = 25.0
FIRST_EPOCH_ACTOR_CRITIC_RATIO = 12.5
LEARNING_STARTS_MAX_RATIO = 2
# DIAMOND's training-only epochs at the end (training.num_final_epochs: 50) against its 1000 epochs of 100 env steps.
FINAL_EPOCHS_FRACTION = 0.05

# The paper's Atari100k setting (JEDI, inheriting DIAMOND's schedule), defaults of CnnPolicy.
ATARI_DEFAULTS: dict[str, Any] = {
    "learning_rate": 1e-4,
    "buffer_size": 100_000,
    "learning_starts": 5_000,
    "batch_size": 32,
    "gamma": 0.985,
    "gae_lambda": 0.95,
    "ent_coef": 1e-3,
    "value_coef": 1.0,
    "train_freq": 100,
    "gradient_steps": 400,
    # -1: as many as gradient_steps (DIAMOND: 400 and 400), so that a user who sets gradient_steps sizes both.
    "actor_critic_gradient_steps": -1,
    # None: DIAMOND's ratios to the per-epoch counts, 25x and 12.5x (10k and 5k for 400 updates per epoch).
    "first_epoch_gradient_steps": None,
    "first_epoch_actor_critic_gradient_steps": None,
    # None: twice learning_starts (DIAMOND: 5k to 10k random steps, until 10 rewards of the minority sign).
    "learning_starts_max": None,
    "learning_starts_reward_threshold": 10,
    # DIAMOND collects its first steps with its untrained, uniformly random actor.
    "initial_exploration": "uniform",
    # 0: after the initial collection every episode is the actor's (DIAMOND).
    "exploration_episodes": 0.0,
    # None: 5% of the run's epochs, DIAMOND's 50 training-only epochs after a 100k-step run.
    "final_epochs": None,
    "imagination_horizon": 15,
    # DIAMOND's imagination loop: 32 imagined episodes kept across actor-critic updates, each ended one restarted at once.
    "imagination_restarts": True,
    # DIAMOND's num_autoregressive_steps: 1 means one step more than the first: 4 + 1 + 1 = 6 frames, 2 denoising steps.
    "unroll_steps": 2,
    "exploration_epsilon": 0.01,
    "lr_warmup_steps": 100,
    "world_model_max_grad_norm": 1.0,
    "reward_end_max_grad_norm": 100.0,
    "actor_critic_max_grad_norm": 100.0,
    "sample_weights": (0.1, 0.1, 0.1, 0.7),
    "sample_reward_end": True,
    "termination_oversampling": 0.0,
    "return_normalization": False,
    "target_critic_tau": None,
    # 0: the critic learns from imagined returns only (DIAMOND, JEDI).
    "replay_value_coef": 0.0,
    # 0: the actor learns in imagination only (DIAMOND, JEDI).
    "self_imitation_coef": 0.0,
    "self_imitation_margin": 0.0,
}

# Small, fast settings for vector observations (CartPole-sized tasks on a CPU), defaults of MlpPolicy.
VECTOR_DEFAULTS: dict[str, Any] = {
    **ATARI_DEFAULTS,
    "learning_rate": 1e-3,
    "learning_starts": 1_000,
    "batch_size": 128,
    "gamma": 0.99,
    "train_freq": 100,
    "gradient_steps": 20,
    # No training-only epochs at the end: the small models keep pace with the data.
    "final_epochs": 0,
    # A small value loss kept the critic's large regression errors (returns up to 1 / (1 - gamma)) from swamping the
    # LSTM trunk the actor shared; with the DIAMOND weight of 1 CartPole reached 500 and collapsed. The critic now has
    # its own trunk; the weight stays at the value the runs of these defaults measured.
    "value_coef": 0.1,
    "sample_reward_end": False,
    # No extra random steps: the reward model of a vector task needs no rewards of another sign to start.
    "learning_starts_reward_threshold": 0,
    "return_normalization": True,
    "target_critic_tau": 0.02,
    # Goals that independent random actions rarely reach (Acrobot's swing-up): per-episode random linear policies find
    # them in the initial collection, a quarter of later episodes keep exploring that way, and the actor learns from
    # real successes directly (self-imitation) while the critic also learns real returns (replay value loss). Without
    # them the actor collapsed onto the termination model's false positives on Acrobot (benchmarks/results/
    # experiments/sparse_goals/README.md).
    "initial_exploration": "random_linear",
    "exploration_episodes": 0.25,
    # Fresh rollouts each update: the replay losses, the target critic and expected rewards and terminations (above) were
    # measured with them, and the loop restarts on sampled terminations only.
    "imagination_restarts": False,
    "replay_value_coef": 1.0,
    "self_imitation_coef": 1.0,
    # Only advantages above a quarter of the return scale count: on LunarLander's dense, shaped rewards most replayed
    # segments beat the critic by a little, and imitating all of them held the actor to its past actions (seed 0: 63.5
    # at 50k steps, 165.6 without self-imitation), while Acrobot's real goals beat it by many scales
    # (benchmarks/results/experiments/lunar_lander/README.md).
    "self_imitation_margin": 0.25,
}


# What models saved before these hyper-parameters existed were trained with (DIAMOND's behaviour): loading such a file
# fills them in with these values rather than with the policy's defaults of today.
SAVED_HYPERPARAMETERS: dict[str, Any] = {
    "imagination_restarts": False,
    "initial_exploration": "uniform",
    "exploration_episodes": 0.0,
    "replay_value_coef": 0.0,
    "self_imitation_coef": 0.0,
    "self_imitation_margin": 0.0,
}


class NonFiniteError(RuntimeError):
    """Raised when a component of JEDI had non-finite losses or gradients in too many consecutive updates."""


class NonFiniteWarning(UserWarning):
    """An update was skipped because its loss or gradients were not finite (warned at most once per epoch)."""


class RewardMagnitudeWarning(UserWarning):
    """
    The env paid a reward other than -1, 0 or +1 to a model whose reward head predicts only its sign
    (``reward_head="sign"``, the default of ``CnnPolicy``): warned once per model.
    """


class JEDI(OffPolicyAlgorithm):
    """
    JEDI: Joint Embedding DIffusion world-model agent (Latent End-to-end Diffusion Mitigates Agent-Human Performance
    Asymmetry in Model-Based RL, arXiv 2505.19698), following DIAMOND (Alonso et al., NeurIPS 2024).

    Arguments left to ``None`` take the policy's defaults: the paper's Atari100k setting for ``CnnPolicy``
    (:data:`ATARI_DEFAULTS`) and small, fast settings for ``MlpPolicy`` (:data:`VECTOR_DEFAULTS`), which also explore
    with random linear policies and learn from real replay (a separate critic with a replay value loss, and
    self-imitation) so that goals random actions rarely reach are learnt; ``CnnPolicy`` keeps DIAMOND's behaviour.

    :param policy: ``"CnnPolicy"``, ``"MlpPolicy"`` or a :class:`~sb3_jedi.policies.JEDIPolicy` subclass
    :param env: the environment to learn from (if registered in Gym, can be str)
    :param learning_rate: learning rate of every component, constant or a schedule of the remaining progress
        (paper: 1e-4; the encoder's is scaled by ``policy_kwargs["encoder_lr_scale"]``, paper: 0.3)
    :param buffer_size: replay capacity in transitions; the final observations of episodes take rows on top, so a run of
        ``buffer_size`` env steps is kept whole (Atari100k: 100k, the whole run, as DIAMOND keeps every transition)
    :param learning_starts: random-action steps collected before the first training epoch (DIAMOND: 5k)
    :param batch_size: segments per world-model and actor-critic update (paper: 32)
    :param gamma: discount factor of the imagined returns (paper: 0.985)
    :param train_freq: env steps collected per epoch (DIAMOND: 100), int or tuple ``(n, "step")``
    :param gradient_steps: world-model updates per epoch (DIAMOND: 400); ``-1``: as many as env steps collected
    :param gae_lambda: lambda of the lambda-returns (paper: 0.95)
    :param ent_coef: weight of the entropy bonus (paper: 0.001)
    :param value_coef: weight of the value loss (DIAMOND: 1)
    :param actor_critic_gradient_steps: actor-critic updates per epoch; ``-1`` (default): as many as ``gradient_steps``
        (DIAMOND: 400 and 400)
    :param first_epoch_gradient_steps: world-model updates of the first epoch; ``None``: 25x the per-epoch count
        (DIAMOND's ratio, 10k for 400)
    :param first_epoch_actor_critic_gradient_steps: actor-critic updates of the first epoch; ``None``: 12.5x the
        per-epoch count (DIAMOND's ratio, 5k for 400)
    :param learning_starts_max: random steps keep being collected past ``learning_starts``, an epoch at a time, until
        the buffer holds ``learning_starts_reward_threshold`` rewards of the minority signs, or this many steps;
        ``None``: twice ``learning_starts`` (DIAMOND: 5k to 10k)
    :param learning_starts_reward_threshold: rewards whose sign is not the most common one needed to end the initial
        collection before ``learning_starts_max`` (DIAMOND: 10; ``MlpPolicy``: 0, no extra random steps)
    :param initial_exploration: actions of the initial collection: ``"uniform"`` (DIAMOND, ``CnnPolicy``: independent
        uniformly random actions) or ``"random_linear"`` (``MlpPolicy``; vector observations only: a random linear
        softmax policy over standardised observations, drawn anew for every episode,
        :class:`~sb3_jedi.exploration.RandomLinearPolicies`; reaches goals that need coordinated actions, such as
        Acrobot's swing-up, far more often)
    :param exploration_episodes: probability that an episode started after the initial collection is acted by the
        initial collection's policy (``initial_exploration``) rather than by the actor (DIAMOND, ``CnnPolicy``: 0;
        ``MlpPolicy``: 0.25). The world model and the critic's replay loss keep seeing states the actor no longer
        reaches, such as a goal it has not yet learnt to reach; the actor learns from these episodes through the world
        model (and, with ``self_imitation_coef``, by imitating their successes), and evaluation uses the actor alone
    :param final_epochs: training-only epochs (no collection) run when ``learn`` reaches ``total_timesteps``;
        ``None``: 5% of the run's epochs (``total_timesteps / train_freq``), i.e. DIAMOND's 50 for a 100k-step run
        (``MlpPolicy``: 0). They run at the end of every ``learn`` call that reaches its
        total, so when learning in chunks set ``model.final_epochs = 0`` until the last one
    :param imagination_horizon: imagined steps per actor-critic update (paper: 15), and with ``imagination_restarts``
        also the length of an imagined episode (DIAMOND: both 15)
    :param imagination_restarts: DIAMOND's imagination loop (``CnnPolicy``, ``DIAMOND``): ``batch_size`` imagined
        episodes kept from one actor-critic update to the next, each update stepping them ``imagination_horizon``
        times, an episode that ends or reaches the horizon restarted at once from a new start, so that every imagined
        step enters the loss (:class:`~sb3_jedi.imagination.ImaginationLoop`); needs ``sample_reward_end=True`` and
        no target critic. ``False`` (``MlpPolicy``): fresh rollouts from new starts every update, whose steps after an
        imagined termination carry no weight
    :param unroll_steps: denoising steps per training segment (DIAMOND: 2, its ``num_autoregressive_steps: 1`` counts
        the steps after the first); each step after the first conditions on the previous step's prediction with
        probability ``policy_kwargs["random_switching_prob"]`` (JEDI's random switching, 0.5; DIAMOND always does)
    :param exploration_epsilon: probability of a uniformly random action while collecting (DIAMOND: 0.01)
    :param lr_warmup_steps: linear learning-rate warm-up, in updates, of each optimiser: update ``k`` runs at
        ``min(1, k / lr_warmup_steps)`` of the rate, the first at 0 (DIAMOND: 100)
    :param world_model_max_grad_norm: gradient-norm clip of the encoder, denoiser and decoder (DIAMOND: 1)
    :param reward_end_max_grad_norm: gradient-norm clip of the reward/termination model (DIAMOND: 100)
    :param actor_critic_max_grad_norm: gradient-norm clip of the actor-critic (DIAMOND: 100)
    :param sample_weights: recency weights of replay sampling over four age-ordered groups of episodes (DIAMOND:
        [0.1, 0.1, 0.1, 0.7]); ``None`` samples transitions uniformly
    :param sample_reward_end: sample imagined rewards and terminations (DIAMOND) rather than using their expectation.
        The symlog two-hot reward head always imagines its expected reward (DreamerV3): a sampled bin could come from
        the distribution's thin tails, rewards far larger than any seen
    :param termination_oversampling: fraction of the reward/termination model's segments placed around a stored
        termination, on top of DIAMOND's sampling, where segments run past episode ends (DIAMOND: 0). Once the
        policy is good, failures become rare in recent data and the termination model forgets them; oversampling
        keeps imagined failures possible
    :param return_normalization: scale advantages by the 5-95 percentile range of the returns (DreamerV3), floor 1
    :param target_critic_tau: if set, bootstrap the returns with a slow copy of the critic updated by Polyak averaging
        with this rate (paper: not used)
    :param replay_value_coef: weight, relative to the imagined value loss, of a second value loss on real replay
        segments: the critic regresses the TD(lambda) returns of the stored rewards and terminations (DreamerV3's
        replay value loss, weight 0.3 there), so that what really ended an episode reaches the values even where the
        termination model misses it; 0 (paper, ``CnnPolicy``): imagined returns only; ``MlpPolicy``: 1
    :param self_imitation_coef: weight of a self-imitation loss on the same real replay segments (Oh et al., 2018): the
        actor raises the probability of the stored actions whose TD(lambda) return beat the critic's value, in units of
        the return scale. Real successes, such as an exploration episode that reached a goal, then teach the actor
        directly, not only through imagination; 0 (paper, ``CnnPolicy``): the actor learns in imagination only;
        ``MlpPolicy``: 1
    :param self_imitation_margin: the self-imitation loss counts only the part of an advantage (in units of the return
        scale) above this margin: rare real successes beat the critic by many return scales, while on tasks of dense
        rewards most replayed segments beat it by a little, by chance, and would hold the actor to its past actions;
        0 (Oh et al., 2018): every positive advantage counts; ``MlpPolicy``: 0.25
    :param max_nonfinite_updates: an update whose loss or gradient norm is NaN or infinite is skipped (no optimiser
        step) and counted in ``train/nonfinite_updates``; after this many consecutive skipped updates of one component
        (world model or actor-critic) training stops with :class:`NonFiniteError`
    :param wm_log_interval: every this many epochs, log world-model diagnostics (open-loop prediction error against
        the copy-last baseline, latent health, held-out reward/termination precision and recall, imagined against real
        returns, and a real | imagined | difference video in TensorBoard) under ``world_model/...``, and warn if the
        latents collapse (:class:`~sb3_jedi.callbacks.WorldModelDiagnosticsCallback`); ``None``: off, at no cost
    :param replay_buffer_kwargs: keyword arguments of :class:`~sb3_jedi.buffers.EpisodeReplayBuffer`, e.g.
        ``{"storage_dir": "/scratch/replay"}`` to keep the frames in a memory-mapped file on disk
    :param stats_window_size: window size of the rollout logging (episodes)
    :param tensorboard_log: TensorBoard log directory (None: no logging)
    :param policy_kwargs: keyword arguments of the policy (network sizes, EDM and sampler options). The reward head,
        ``policy_kwargs={"reward_end_kwargs": {"reward_head": ...}}``, is ``"sign"`` for ``CnnPolicy`` (``sign(r)`` in 3
        classes, the paper's and DIAMOND's choice: Atari rewards count as -1, 0 or +1) and ``"symlog_twohot"`` for
        ``MlpPolicy`` (DreamerV3's symlog two-hot categorical: imagined rewards keep their size). A sign head that
        meets other rewards while collecting warns once (:class:`RewardMagnitudeWarning`). The head the policy built
        is recorded in ``policy_kwargs`` and saved with the model
    :param verbose: 0 no output, 1 info, 2 debug
    :param seed: seed of the pseudo-random generators
    :param device: ``"cpu"``, ``"cuda"`` or ``"auto"``
    :param _init_setup_model: whether to build the networks on creation
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {"CnnPolicy": CnnPolicy, "MlpPolicy": MlpPolicy}
    # Constructor arguments that are hyper-parameters besides the keys of the policy's defaults: their default is the
    # signature's, the same for every policy. Both together are what `hyperparameters` reports.
    _hyperparameters_without_policy_defaults: ClassVar[tuple[str, ...]] = (
        "max_nonfinite_updates",
        "wm_log_interval",
        "replay_buffer_kwargs",
        "stats_window_size",
    )
    # SB3 keeps a few constructor arguments under another attribute name.
    _hyperparameter_attributes: ClassVar[dict[str, str]] = {"stats_window_size": "_stats_window_size"}
    policy: JEDIPolicy
    replay_buffer: EpisodeReplayBuffer  # type: ignore[assignment]
    # Narrower than SB3's spaces: check_spaces admits only these.
    observation_space: spaces.Box
    action_space: spaces.Discrete
    # JEDI's own hyper-parameters: set in __init__ from its arguments, or from the policy's defaults.
    gae_lambda: float
    ent_coef: float
    value_coef: float
    actor_critic_gradient_steps: int
    first_epoch_gradient_steps: int | None
    first_epoch_actor_critic_gradient_steps: int | None
    learning_starts_max: int | None
    learning_starts_reward_threshold: int
    initial_exploration: str
    exploration_episodes: float
    final_epochs: int | None
    imagination_horizon: int
    imagination_restarts: bool
    unroll_steps: int
    exploration_epsilon: float
    lr_warmup_steps: int
    world_model_max_grad_norm: float
    reward_end_max_grad_norm: float
    actor_critic_max_grad_norm: float
    sample_weights: tuple[float, ...] | None
    sample_reward_end: bool
    termination_oversampling: float
    return_normalization: bool
    target_critic_tau: float | None
    replay_value_coef: float
    self_imitation_coef: float
    self_imitation_margin: float

    def __init__(
        self,
        policy: str | type[JEDIPolicy],
        env: GymEnv | str | None,
        learning_rate: float | Schedule | None = None,
        buffer_size: int | None = None,
        learning_starts: int | None = None,
        batch_size: int | None = None,
        gamma: float | None = None,
        train_freq: int | tuple[int, str] | None = None,
        gradient_steps: int | None = None,
        gae_lambda: float | None = None,
        ent_coef: float | None = None,
        value_coef: float | None = None,
        actor_critic_gradient_steps: int | None = None,
        first_epoch_gradient_steps: int | None = None,
        first_epoch_actor_critic_gradient_steps: int | None = None,
        learning_starts_max: int | None = None,
        learning_starts_reward_threshold: int | None = None,
        initial_exploration: str | None = None,
        exploration_episodes: float | None = None,
        final_epochs: int | None = None,
        imagination_horizon: int | None = None,
        imagination_restarts: bool | None = None,
        unroll_steps: int | None = None,
        exploration_epsilon: float | None = None,
        lr_warmup_steps: int | None = None,
        world_model_max_grad_norm: float | None = None,
        reward_end_max_grad_norm: float | None = None,
        actor_critic_max_grad_norm: float | None = None,
        sample_weights: tuple[float, ...] | list[float] | str | None = "default",
        sample_reward_end: bool | None = None,
        termination_oversampling: float | None = None,
        return_normalization: bool | None = None,
        target_critic_tau: float | str | None = "default",
        replay_value_coef: float | None = None,
        self_imitation_coef: float | None = None,
        self_imitation_margin: float | None = None,
        max_nonfinite_updates: int = 10,
        wm_log_interval: int | None = 100,
        replay_buffer_kwargs: dict[str, Any] | None = None,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: th.device | str = "auto",
        _init_setup_model: bool = True,
    ) -> None:
        if isinstance(policy, str) and policy not in self.policy_aliases:
            raise ValueError(f"Unknown policy {policy!r} for {type(self).__name__}: use one of {sorted(self.policy_aliases)}.")
        policy_class = self.policy_aliases[policy] if isinstance(policy, str) else policy
        defaults = self._default_hyperparameters(policy_class)
        arguments = locals()
        # None means "the policy's default", except for the two arguments where None is a real value ("default" then).
        nullable = ("sample_weights", "target_critic_tau")
        hp = {
            key: default if arguments[key] == "default" or (arguments[key] is None and key not in nullable) else arguments[key]
            for key, default in defaults.items()
        }

        if env is not None:
            env = maybe_make_env(env, verbose)
            check_spaces(env.observation_space, env.action_space, image_policy=not issubclass(policy_class, MlpPolicy))

        super().__init__(
            policy,
            env,  # type: ignore[arg-type]  # None builds a model without env (to load into); SB3 types env as required
            learning_rate=hp["learning_rate"],
            buffer_size=hp["buffer_size"],
            learning_starts=hp["learning_starts"],
            batch_size=hp["batch_size"],
            tau=1.0,
            gamma=hp["gamma"],
            train_freq=hp["train_freq"],
            gradient_steps=hp["gradient_steps"],
            replay_buffer_kwargs=replay_buffer_kwargs,
            policy_kwargs=policy_kwargs,
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            verbose=verbose,
            device=device,
            seed=seed,
            supported_action_spaces=None,
            support_multi_env=True,
            sde_support=False,
        )
        # JEDI's own hyper-parameters (the base class set, and converted, the SB3 ones).
        for key, value in hp.items():
            if key not in SB3_ARGUMENTS:
                setattr(self, key, value)
        if self.sample_weights is not None:
            self.sample_weights = tuple(float(w) for w in self.sample_weights)
        self.max_nonfinite_updates = max_nonfinite_updates
        self.wm_log_interval = wm_log_interval
        self._validate_hyperparameters()
        if self.initial_exploration == "random_linear" and getattr(self, "observation_space", None) is not None:
            # Fails now, with a message saying what to use instead, rather than at the first step of learn.
            RandomLinearPolicies(self.observation_space, self.action_space, 1, np.random.default_rng(0))
        # Plain JSON values in the saved ``data``: JEDI.load checks them before unpickling anything (save_util.py).
        self.algorithm_name = type(self).__name__
        self.sb3_jedi_version = __version__
        self.checkpoint_format_version = CHECKPOINT_FORMAT_VERSION
        # Skipped (non-finite) updates: total, consecutive per component, components warned about this epoch.
        self._nonfinite_updates = 0
        self._consecutive_nonfinite = {"world model": 0, "actor-critic": 0}
        self._nonfinite_warned: set[str] = set()
        self._reward_magnitude_warned = False

        self._n_train_calls = 0
        # Initial collection: random steps until this many env steps (grows past learning_starts while rewards of the
        # minority sign are missing), and whether it has ended.
        self._random_steps_until = self.learning_starts
        self._initial_collection_done = False
        self._final_epochs_done = 0
        self._long_epoch_progress: str | None = None
        self._show_progress = False
        self._world_model_updates = 0
        self._actor_critic_updates = 0
        self._last_rnn_state: tuple[th.Tensor, th.Tensor] | None = None
        self._sampling_rng = np.random.default_rng(seed)
        self._initial_explorer: RandomLinearPolicies | None = None
        # Envs whose current episode is an exploration episode (exploration_episodes), drawn at each episode start.
        self._exploring_envs: np.ndarray | None = None
        if _init_setup_model:
            self._setup_model()

    @classmethod
    def _default_hyperparameters(cls, policy_class: type[BasePolicy]) -> dict[str, Any]:
        """The defaults of arguments left to ``None``, per policy class (a subclass with other defaults overrides this)."""
        return VECTOR_DEFAULTS if issubclass(policy_class, MlpPolicy) else ATARI_DEFAULTS

    def hyperparameters(self) -> dict[str, Any]:
        """
        The hyper-parameters this model trains with, by constructor argument, with the defaults it filled in: the keys
        of its policy's defaults (:data:`ATARI_DEFAULTS`, :data:`VECTOR_DEFAULTS`, or DIAMOND's), then
        ``max_nonfinite_updates``, ``wm_log_interval``, ``replay_buffer_kwargs`` and ``stats_window_size``. The seed,
        the policy and its ``policy_kwargs`` are not among them.

        Values are as the model holds them: ``learning_rate`` as given (a float or a schedule), ``train_freq`` as SB3's
        ``TrainFreq``, ``sample_weights`` as a tuple. An argument the model does not hold is left out.

        :return: the values, by argument name
        """
        names = [*self._default_hyperparameters(self.policy_class), *self._hyperparameters_without_policy_defaults]
        values = {}
        for name in names:
            attribute = self._hyperparameter_attributes.get(name, name)
            if hasattr(self, attribute):
                values[name] = getattr(self, attribute)
        return values

    def _validate_hyperparameters(self) -> None:
        checks = {
            "batch_size": self.batch_size >= 1,
            "imagination_horizon": self.imagination_horizon >= 1,
            "unroll_steps": self.unroll_steps >= 1,
            "exploration_epsilon": 0.0 <= self.exploration_epsilon <= 1.0,
            "gamma": 0.0 <= self.gamma <= 1.0,
            "gae_lambda": 0.0 <= self.gae_lambda <= 1.0,
            "lr_warmup_steps": self.lr_warmup_steps >= 0,
            "first_epoch_gradient_steps": self.first_epoch_gradient_steps is None or self.first_epoch_gradient_steps >= 0,
            "first_epoch_actor_critic_gradient_steps": self.first_epoch_actor_critic_gradient_steps is None
            or self.first_epoch_actor_critic_gradient_steps >= 0,
            "learning_starts_max": self.learning_starts_max is None or self.learning_starts_max >= 0,
            "learning_starts_reward_threshold": self.learning_starts_reward_threshold >= 0,
            "initial_exploration": self.initial_exploration in INITIAL_EXPLORATIONS,
            "exploration_episodes": 0.0 <= self.exploration_episodes <= 1.0,
            "final_epochs": self.final_epochs is None or self.final_epochs >= 0,
            "target_critic_tau": self.target_critic_tau is None or 0.0 < self.target_critic_tau <= 1.0,
            "termination_oversampling": 0.0 <= self.termination_oversampling <= 1.0,
            "replay_value_coef": self.replay_value_coef >= 0.0,
            "self_imitation_coef": self.self_imitation_coef >= 0.0,
            "self_imitation_margin": self.self_imitation_margin >= 0.0,
            "max_nonfinite_updates": self.max_nonfinite_updates >= 1,
            "wm_log_interval": self.wm_log_interval is None or self.wm_log_interval >= 1,
        }
        if self.imagination_restarts and (not self.sample_reward_end or self.target_critic_tau is not None):
            raise ValueError(
                "imagination_restarts=True (DIAMOND's imagination loop) restarts imagined episodes on sampled "
                "terminations and bootstraps with the online critic: it needs sample_reward_end=True and "
                f"target_critic_tau=None, got sample_reward_end={self.sample_reward_end}, "
                f"target_critic_tau={self.target_critic_tau}. Pass imagination_restarts=False for fresh rollouts."
            )
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            values = ", ".join(f"{name}={getattr(self, name)!r}" for name in bad)
            raise ValueError(
                f"Invalid JEDI hyper-parameters: {values}. Batch size, horizon and unroll steps must be >= 1, "
                "probabilities and discounts in [0, 1], step counts >= 0, target_critic_tau in (0, 1] or None, "
                f"max_nonfinite_updates >= 1, initial_exploration one of {INITIAL_EXPLORATIONS}."
            )

    def _setup_model(self) -> None:
        self._setup_lr_schedule()
        self.set_random_seed(self.seed)
        reserved = {"buffer_size", "observation_space", "action_space", "device", "n_envs", "sample_weights"}
        if reserved & set(self.replay_buffer_kwargs):
            raise ValueError(
                f"replay_buffer_kwargs may not set {sorted(reserved & set(self.replay_buffer_kwargs))}: JEDI sets them "
                "itself. Pass buffer_size=... and sample_weights=... to JEDI directly."
            )
        self.replay_buffer = EpisodeReplayBuffer(
            self.buffer_size,
            self.observation_space,
            self.action_space,
            device=self.device,
            n_envs=self.n_envs,
            sample_weights=self.sample_weights,
            **self.replay_buffer_kwargs,
        )
        if self.__dict__.pop("_loading_saved_model", False):
            # Models saved before the reward head, the critic layout and the conv blocks were options name none of
            # them: they were trained with the sign head, a critic sharing the actor's trunk and the earlier blocks.
            self.policy_kwargs = fill_saved_policy_kwargs(self.policy_kwargs)
        self.policy = self.policy_class(  # type: ignore[assignment]
            self.observation_space, self.action_space, self.lr_schedule, **self.policy_kwargs
        )
        # Saved with the model, so that loading rebuilds this head, critic and blocks whatever the policy's defaults are then.
        self.policy_kwargs = with_reward_head(self.policy_kwargs, self.policy.reward_end_kwargs["reward_head"])
        self.policy_kwargs = with_critic_layout(self.policy_kwargs, self.policy.actor_critic.separate_critic)
        self.policy_kwargs = {**self.policy_kwargs, "diamond_blocks": self.policy.diamond_blocks}
        self.policy = self.policy.to(self.device)
        self._convert_train_freq()

    # Saving ----------------------------------------------------------------------------------------------------

    def _excluded_save_params(self) -> list[str]:
        return [
            *super()._excluded_save_params(),
            "_last_rnn_state",
            "_nonfinite_warned",
            "_reward_magnitude_warned",
            "_initial_explorer",
            "_exploring_envs",
            "_imagination_loop",
        ]

    @classmethod
    def load(
        cls: type[SelfJEDI],
        path: str | pathlib.Path | io.BufferedIOBase,
        env: GymEnv | None = None,
        device: th.device | str = "auto",
        custom_objects: dict[str, Any] | None = None,
        print_system_info: bool = False,
        force_reset: bool = True,
        **kwargs: Any,
    ) -> SelfJEDI:
        """
        Load a model saved with :meth:`save`. The file is checked first without unpickling anything
        (:func:`~sb3_jedi.save_util.check_jedi_checkpoint`): a damaged file, another algorithm's model (a PPO zip, or a
        DIAMOND model loaded with ``JEDI.load``) or one saved by an incompatible sb3-jedi raises a ``ValueError`` that
        says so and how to load it instead.

        :param path: path of the zip (``.zip`` may be left out) or a binary file object
        :param env: the environment to run the loaded model on; it must have the spaces the model was trained with
        :param device: ``"cpu"``, ``"cuda"`` or ``"auto"``
        :param custom_objects: values replacing saved ones (SB3's ``custom_objects``)
        :param print_system_info: print the system info of the saving machine and of this one
        :param force_reset: reset the env before the next ``learn`` (SB3's default)
        :param kwargs: attributes to set on the loaded model
        :return: the loaded model
        """
        saved = check_jedi_checkpoint(path, expected_algorithm=cls.__name__)["data"]
        # Hyper-parameters a file from an older version lacks take the values it was trained with, not today's defaults.
        for name, value in SAVED_HYPERPARAMETERS.items():
            if name not in saved:
                kwargs.setdefault(name, value)
        try:
            model = super().load(
                path,
                env=env,
                device=device,
                custom_objects=custom_objects,
                print_system_info=print_system_info,
                force_reset=force_reset,
                # Read by _setup_model, which fills in what the policy_kwargs of older files lack.
                _loading_saved_model=True,
                **kwargs,
            )
        except ValueError as error:
            if "spaces do not match" not in str(error):
                raise
            raise ValueError(
                f"{error}. The env passed to {cls.__name__}.load must have the observation and action spaces the model "
                "was trained with (same game, same wrappers, e.g. make_atari100k_env); load without env to only predict."
            ) from error
        # Saving the loaded model again writes this version's format.
        model.sb3_jedi_version = __version__
        model.checkpoint_format_version = CHECKPOINT_FORMAT_VERSION
        return model

    def _get_torch_save_params(self) -> tuple[list[str], list[str]]:
        return ["policy", "policy.world_model_optimizer", "policy.actor_critic_optimizer"], []

    def load_replay_buffer(self, path: Any, truncate_last_traj: bool = True) -> None:
        """
        Load a replay buffer saved with :meth:`save_replay_buffer`.

        :param path: path (or file object) of the pickled buffer
        :param truncate_last_traj: unused (kept for SB3's signature); episodes still open in the saved buffer are
            continued only when learning resumes with ``reset_num_timesteps=False`` on the same envs
        """
        buffer = load_from_pkl(path, self.verbose)
        if not isinstance(buffer, EpisodeReplayBuffer):
            raise ValueError(
                f"{path} holds a {type(buffer).__name__}, not a JEDI EpisodeReplayBuffer: load a buffer saved by "
                "JEDI.save_replay_buffer()."
            )
        buffer.device = self.device
        self.replay_buffer = buffer

    # Acting ----------------------------------------------------------------------------------------------------

    def predict(
        self,
        observation: np.ndarray | dict[str, np.ndarray],
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
        """
        Actions for observations, keeping the actor's recurrent state (as sb3-contrib's ``RecurrentPPO``): pass back
        the returned ``state`` and the envs' ``episode_start`` flags at the next call; ``state=None`` starts from zeros.

        :param observation: the input observation(s)
        :param state: the recurrent state returned by the previous call
        :param episode_start: (n_envs,) whether each env starts a new episode (its state is reset)
        :param deterministic: most likely action (True) or a sample of the policy
        :return: actions and the next recurrent state
        """
        return self.policy.predict(self._raw_observation(observation), state, episode_start, deterministic)

    def _raw_observation(self, observation: np.ndarray | dict[str, np.ndarray]) -> np.ndarray | dict[str, np.ndarray]:
        """
        The world model learns from raw observations (the buffer stores them unnormalised): observations normalised by
        the model's ``VecNormalize`` env, as SB3 passes them, are mapped back before the encoder sees them.
        """
        vec_normalize = self._vec_normalize_env
        if vec_normalize is None or not vec_normalize.norm_obs or isinstance(observation, dict):
            return observation
        return cast(np.ndarray, vec_normalize.unnormalize_obs(np.asarray(observation, dtype=np.float32)))

    def _setup_learn(
        self,
        total_timesteps: int,
        callback: MaybeCallback = None,
        reset_num_timesteps: bool = True,
        tb_log_name: str = "run",
        progress_bar: bool = False,
    ) -> tuple[int, BaseCallback]:
        envs_reset = reset_num_timesteps or self._last_obs is None
        result = super()._setup_learn(total_timesteps, callback, reset_num_timesteps, tb_log_name, progress_bar)
        if envs_reset or self._last_rnn_state is None:
            assert self.env is not None
            h, c = self.policy.actor_critic.initial_state(self.env.num_envs, self.device)
            self._last_rnn_state = (h, c)
        if envs_reset:
            # The envs were reset: episodes the buffer had open can no longer continue.
            self.replay_buffer.reset_open_episodes()
        return result

    def _last_raw_obs(self) -> np.ndarray:
        """The envs' last observation as the buffer stores it and the world model learns from it (not VecNormalize's)."""
        last_obs = self._last_obs if self._vec_normalize_env is None else self._last_original_obs
        assert isinstance(last_obs, np.ndarray)
        return last_obs

    def _sample_collection_actions(self, learning_starts: int, n_envs: int) -> np.ndarray:
        """
        Actions while collecting: the initial exploration's before ``learning_starts``, then the actor's with
        epsilon-greedy noise, except in exploration episodes (``exploration_episodes``).
        """
        if self.num_timesteps < learning_starts:
            return self._exploration_actions(n_envs)
        assert self._last_rnn_state is not None
        obs = th.as_tensor(self._last_raw_obs(), device=self.device)
        actions_t, _, self._last_rnn_state = self.policy.act(obs, self._last_rnn_state, deterministic=False)
        actions = actions_t.cpu().numpy()
        random_mask = np.random.random_sample(n_envs) < self.exploration_epsilon
        if random_mask.any():
            actions[random_mask] = [self.action_space.sample() for _ in range(int(random_mask.sum()))]
        if self._exploring_envs is not None and self._exploring_envs.any():
            actions[self._exploring_envs] = self._exploration_actions(n_envs)[self._exploring_envs]
        return actions

    def _exploration_actions(self, n_envs: int) -> np.ndarray:
        """One action per env from the initial exploration (``initial_exploration``)."""
        if self.initial_exploration == "random_linear":
            if self._initial_explorer is None:
                self._initial_explorer = RandomLinearPolicies(
                    self.observation_space, self.action_space, n_envs, self._sampling_rng
                )
            return self._initial_explorer.actions(self._last_raw_obs())
        return np.array([self.action_space.sample() for _ in range(n_envs)])

    def _draw_exploration_episodes(self, dones: np.ndarray) -> None:
        """At each episode start after the initial collection, decide whether the initial exploration acts it."""
        if self.exploration_episodes <= 0 or self.num_timesteps < self._random_steps_until:
            return
        if self._exploring_envs is None:
            self._exploring_envs = np.zeros(len(dones), dtype=bool)
        ended = np.flatnonzero(np.asarray(dones, dtype=bool))
        self._exploring_envs[ended] = self._sampling_rng.random(ended.size) < self.exploration_episodes

    def collect_rollouts(  # type: ignore[override]
        self,
        env: VecEnv,
        callback: BaseCallback,
        train_freq: TrainFreq,
        replay_buffer: EpisodeReplayBuffer,
        action_noise: ActionNoise | None = None,
        learning_starts: int = 0,
        log_interval: int | None = None,
    ) -> RolloutReturn:
        """
        Collect ``train_freq`` steps into the episodic buffer, keeping the actor's recurrent state across steps (and
        resetting it where an episode ends). Callbacks see SB3's usual locals (``new_obs``, ``rewards``, ``dones``,
        ``infos``, ``actions``).
        """
        self.policy.set_training_mode(False)
        num_collected_steps, num_collected_episodes = 0, 0
        if not isinstance(env, VecEnv):
            raise ValueError("JEDI.collect_rollouts needs a VecEnv (SB3 wraps envs passed to the constructor).")
        callback.on_rollout_start()
        continue_training = True
        while should_collect_more_steps(train_freq, num_collected_steps, num_collected_episodes):
            actions = self._sample_collection_actions(learning_starts, env.num_envs)
            new_obs, rewards, dones, infos = env.step(actions)
            self.num_timesteps += env.num_envs
            num_collected_steps += 1

            callback.update_locals(locals())
            if not callback.on_step():
                return RolloutReturn(num_collected_steps * env.num_envs, num_collected_episodes, continue_training=False)

            self._update_info_buffer(infos, dones)
            self._store_transition(replay_buffer, actions, new_obs, rewards, dones, infos)  # type: ignore[arg-type]
            self._update_current_progress_remaining(self.num_timesteps, self._total_timesteps)
            self._reset_finished_rnn_states(dones)
            if self._initial_explorer is not None:
                self._initial_explorer.new_episodes(dones)
            self._draw_exploration_episodes(dones)
            self._on_step()

            for done in dones:
                if done:
                    num_collected_episodes += 1
                    self._episode_num += 1
                    if log_interval is not None and self._episode_num % log_interval == 0:
                        self.dump_logs()
        callback.on_rollout_end()
        return RolloutReturn(num_collected_steps * env.num_envs, num_collected_episodes, continue_training)

    def _reset_finished_rnn_states(self, dones: np.ndarray) -> None:
        assert self._last_rnn_state is not None
        keep = th.as_tensor(1.0 - dones.astype(np.float32), device=self.device).reshape(-1, 1)
        self._last_rnn_state = (self._last_rnn_state[0] * keep, self._last_rnn_state[1] * keep)

    def _store_transition(  # type: ignore[override]
        self,
        replay_buffer: EpisodeReplayBuffer,
        buffer_action: np.ndarray,
        new_obs: np.ndarray,
        reward: np.ndarray,
        dones: np.ndarray,
        infos: list[dict[str, Any]],
    ) -> None:
        # Store the unnormalised data, and the true last observation of finished episodes (VecEnvs auto-reset).
        if self._vec_normalize_env is not None:
            # The raw observation itself (SB3 keeps it): un-normalising the normalised one is off by rounding errors.
            obs = self._last_original_obs
            new_obs_ = self._vec_normalize_env.get_original_obs()
            reward_ = self._vec_normalize_env.get_original_reward()
        else:
            obs, new_obs_, reward_ = self._last_obs, new_obs, reward
        obs = cast(np.ndarray, obs)  # JEDI's spaces are Box, never Dict (check_spaces)
        self._check_reward_magnitudes(reward_)
        next_obs = np.array(new_obs_, copy=True)
        truncated = np.array([bool(info.get("TimeLimit.truncated", False)) for info in infos]) & dones
        for i, done in enumerate(dones):
            if done and infos[i].get("terminal_observation") is not None:
                terminal = infos[i]["terminal_observation"]
                if self._vec_normalize_env is not None:
                    terminal = self._vec_normalize_env.unnormalize_obs(terminal)
                next_obs[i] = terminal
        replay_buffer.add(
            obs,
            np.asarray(buffer_action),
            np.asarray(reward_, dtype=np.float32),
            dones & ~truncated,
            truncated,
            next_obs,
        )
        self._last_obs = new_obs
        if self._vec_normalize_env is not None:
            self._last_original_obs = new_obs_

    def _check_reward_magnitudes(self, rewards: np.ndarray) -> None:
        """Warn once per model when a sign reward head meets (finite) rewards other than -1, 0 and +1."""
        if self._reward_magnitude_warned or self.policy.world_model.reward_head != "sign":
            return
        rewards = np.asarray(rewards, dtype=np.float64)
        other = np.isfinite(rewards) & ~np.isin(rewards, (-1.0, 0.0, 1.0))
        if not other.any():
            return
        self._reward_magnitude_warned = True
        if self._env_is_atari():
            return  # the paper's setting: Atari rewards count by their sign (DIAMOND's reward clipping)
        warnings.warn(
            f"The env paid a reward of {rewards[other][0]:g}, but the reward model predicts only the sign of rewards "
            "(reward_head='sign'): it learns every reward as -1, 0 or +1, so the agent maximises the number of steps "
            "with positive reward minus those with negative reward, not the return. That is the paper's choice for "
            "Atari (no warning there); to learn the rewards' sizes pass policy_kwargs={'reward_end_kwargs': {'reward_head': "
            "'symlog_twohot'}} (MlpPolicy's default).",
            RewardMagnitudeWarning,
            stacklevel=2,
        )

    def _env_is_atari(self) -> bool:
        """Whether the training env is an ALE game (read from its spec, without importing the env tools)."""
        try:
            specs = self.env.get_attr("spec") if self.env is not None else []
        except (AttributeError, RuntimeError):
            return False
        return any(spec is not None and "ale_py" in str(getattr(spec, "entry_point", "")) for spec in specs)

    # Training --------------------------------------------------------------------------------------------------

    def _set_learning_rates(self, optimizer: th.optim.Optimizer, n_updates: int) -> float:
        lr = self.lr_schedule(self._current_progress_remaining)
        if self.lr_warmup_steps > 0:
            # DIAMOND's LambdaLR: update k runs at k / warm-up of the rate, the first (k = 0) at 0, where it only starts
            # AdamW's moment estimates.
            lr *= min(1.0, n_updates / self.lr_warmup_steps)
        for group in optimizer.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)
        return lr

    def _clip_gradients(self, optimizer: th.optim.Optimizer) -> dict[str, float]:
        norms = {}
        # A component's parameters may sit in several groups (with and without weight decay): clip them together.
        components: dict[str, list[th.nn.Parameter]] = defaultdict(list)
        for group in optimizer.param_groups:
            components[group.get("name", "params")] += group["params"]
        for name, params in components.items():
            if name == "reward_end":
                max_norm = self.reward_end_max_grad_norm
            elif name == "actor_critic":
                max_norm = self.actor_critic_max_grad_norm
            else:
                max_norm = self.world_model_max_grad_norm
            # A NaN or infinite norm is how non-finite gradients are detected (the update is then skipped).
            norms[f"{name}_grad_norm"] = float(clip_grad_norm_(params, max_norm, error_if_nonfinite=False))
        return norms

    @staticmethod
    def _nonfinite_loss_terms(total: th.Tensor, logs: dict[str, float]) -> list[str]:
        """Names of the non-finite loss terms when the total loss is not finite (empty list: the loss is finite)."""
        total_value = float(total.detach())
        if math.isfinite(total_value):
            return []
        terms = [
            f"loss term {key!r} = {value}" for key, value in logs.items() if key.endswith("loss") and not math.isfinite(value)
        ]
        return terms or [f"total loss = {total_value}"]

    @staticmethod
    def _nonfinite_grad_groups(norms: dict[str, float]) -> list[str]:
        return [
            f"grad group {key.removesuffix('_grad_norm')!r} norm = {value}"
            for key, value in norms.items()
            if not math.isfinite(value)
        ]

    def _skip_nonfinite_update(self, component: str, optimizer: th.optim.Optimizer, problems: list[str]) -> None:
        """Drop the gradients of an update with non-finite values, count it, warn once per epoch, stop after a streak."""
        optimizer.zero_grad(set_to_none=True)
        self._nonfinite_updates += 1
        streak = self._consecutive_nonfinite[component] = self._consecutive_nonfinite.get(component, 0) + 1
        what = "; ".join(problems)
        if streak >= self.max_nonfinite_updates:
            raise NonFiniteError(
                f"The {component} had non-finite losses or gradients in {streak} consecutive updates (last: {what}), so "
                "its parameters stopped changing and training stopped. Check the env's observations and rewards for "
                "NaN/inf (stable_baselines3.common.vec_env.VecCheckNan), then resume from the last checkpoint with a "
                "lower learning_rate or max grad norm; max_nonfinite_updates sets how many consecutive skips are tolerated."
            )
        if component not in self._nonfinite_warned:
            self._nonfinite_warned.add(component)
            warnings.warn(
                f"JEDI skipped an update of the {component} because of non-finite values ({what}): no optimiser step was "
                f"taken. Training goes on; {self.max_nonfinite_updates} consecutive skipped {component} updates raise "
                "NonFiniteError. Further skips in this epoch are only counted (train/nonfinite_updates). If they recur, "
                "lower the learning rate or the max grad norm and check observations and rewards for NaN/inf.",
                NonFiniteWarning,
                # Points at the caller of train_world_model / train_actor_critic (through _optimizer_step).
                stacklevel=4,
            )

    def _optimizer_step(
        self,
        component: str,
        optimizer: th.optim.Optimizer,
        total: th.Tensor,
        logs: dict[str, float],
        on_skip: Callable[[], None] | None = None,
    ) -> tuple[dict[str, float], bool]:
        """
        One optimiser step on ``total``, skipped when the loss or a gradient norm is NaN or infinite.

        Zeroes the gradients, checks the loss, backpropagates, clips each component's gradients (:meth:`_clip_gradients`)
        and checks their norms, then steps and ends the component's streak of skipped updates. A non-finite loss skips
        the backward pass; a non-finite loss or gradient norm calls ``on_skip`` and then :meth:`_skip_nonfinite_update`
        (no step, counted, warned about, :class:`NonFiniteError` after a streak).

        :param component: ``"world model"`` or ``"actor-critic"``, as named in the counters and the messages
        :param optimizer: the component's optimiser, whose learning rates are already set
        :param total: the scalar loss to minimise
        :param logs: the loss terms, by name (names ending in ``loss`` are checked when ``total`` is not finite)
        :param on_skip: undoes what computing the loss changed, before a skipped update is counted
        :return: ``logs`` with the gradient norms (none when the loss was not finite), and whether the step was taken
        """
        optimizer.zero_grad(set_to_none=True)
        problems = self._nonfinite_loss_terms(total, logs)
        norms: dict[str, float] = {}
        if not problems:
            total.backward()
            norms = self._clip_gradients(optimizer)
            problems = self._nonfinite_grad_groups(norms)
        logs = {**logs, **norms}
        if problems:
            if on_skip is not None:
                on_skip()
            self._skip_nonfinite_update(component, optimizer, problems)
            return logs, False
        optimizer.step()
        self._consecutive_nonfinite[component] = 0
        return logs, True

    def train_world_model(self, batch_size: int) -> dict[str, float]:
        """One update of the world model (encoder, denoiser, reward/termination model, decoder)."""
        world_model = self.policy.world_model
        denoiser_batch = self.replay_buffer.sample_segments(
            batch_size, world_model.n_cond_steps + self.unroll_steps, self._sampling_rng
        )
        # DIAMOND's reward/end segments (n_cond + horizon frames) may run past the episode's end, so that the final
        # transition, where termination is learnt, is drawn about half as often as a mid-episode one (not 1 / 18).
        reward_end_batch = self.replay_buffer.sample_segments(
            batch_size,
            world_model.n_cond_steps + self.imagination_horizon,
            self._sampling_rng,
            terminal_fraction=self.termination_oversampling,
            beyond_end=True,
        )
        optimizer = self.policy.world_model_optimizer
        self._set_learning_rates(optimizer, self._world_model_updates)
        loss = world_model.compute_loss(denoiser_batch, reward_end_batch)
        logs, stepped = self._optimizer_step("world model", optimizer, loss.total, loss.logs)
        if stepped:
            self._world_model_updates += 1
        return logs

    def train_actor_critic(self, batch_size: int) -> dict[str, float]:
        """One actor-critic update on a batch of imagined trajectories."""
        policy = self.policy
        # The loss updates the return statistics: keep a copy so that a skipped update leaves them untouched.
        scaler_state = {key: value.clone() for key, value in policy.return_scaler.state_dict().items()}
        if self.imagination_restarts:
            losses = self._imagination_loop_losses(batch_size)
        else:
            losses = self._fresh_rollout_losses(batch_size)
        total, logs = losses.total, losses.logs
        if self.replay_value_coef > 0 or self.self_imitation_coef > 0:
            replay = self._replay_losses(batch_size)
            total = total + self.value_coef * self.replay_value_coef * replay["replay_value_loss"]
            total = total + self.self_imitation_coef * replay["self_imitation_loss"]
            logs = {**logs, **{name: loss.item() for name, loss in replay.items()}}
        optimizer = policy.actor_critic_optimizer
        self._set_learning_rates(optimizer, self._actor_critic_updates)
        logs, stepped = self._optimizer_step(
            "actor-critic",
            optimizer,
            total,
            logs,
            on_skip=lambda: policy.return_scaler.load_state_dict(scaler_state),
        )
        if stepped:
            if self.target_critic_tau is not None:
                policy.update_target_critic(self.target_critic_tau)
            self._actor_critic_updates += 1
        return logs

    def _fresh_rollout_losses(self, batch_size: int) -> ActorCriticLosses:
        """The actor-critic loss on ``batch_size`` rollouts imagined from new starts (``imagination_restarts=False``)."""
        policy = self.policy
        # Burn-in segments end on a frame that carries an action: imagination never starts from an episode's final frame.
        batch = self.replay_buffer.sample_segments(
            batch_size, policy.world_model.n_cond_steps, self._sampling_rng, transitions_only=True
        )
        trajectory = imagine(
            policy.world_model, policy.actor_critic, batch, self.imagination_horizon, sample_reward_end=self.sample_reward_end
        )
        if self.target_critic_tau is not None:
            bootstrap = replay_values(policy.actor_critic_target, trajectory)[:, 1:]
        else:
            bootstrap = trajectory.next_values
        return self._imagined_loss(trajectory, bootstrap)

    def _imagination_loop_losses(self, batch_size: int) -> ActorCriticLosses:
        """The actor-critic loss on the next window of DIAMOND's imagination loop (``imagination_restarts=True``)."""
        policy = self.policy
        loop = getattr(self, "_imagination_loop", None)
        if loop is None or loop.world_model is not policy.world_model or loop.actor_critic is not policy.actor_critic:
            loop = self._imagination_loop = ImaginationLoop(policy.world_model, policy.actor_critic, self.imagination_horizon)
        n_cond_steps = policy.world_model.n_cond_steps

        def draw_starts(n: int) -> SegmentBatch:
            # Burn-in segments end on a frame that carries an action: an episode never starts from an episode's end.
            return self.replay_buffer.sample_segments(n, n_cond_steps, self._sampling_rng, transitions_only=True)

        steps = loop.rollout(draw_starts, batch_size, self.imagination_horizon)
        losses = self._imagined_loss(steps, steps.next_values, truncations=steps.truncations)
        losses.logs["imagined_restarts"] = float(steps.restarts)
        return losses

    def _imagined_loss(
        self, steps: ImaginedTrajectory | ImaginedSteps, bootstrap: th.Tensor, truncations: th.Tensor | None = None
    ) -> ActorCriticLosses:
        """
        The actor-critic loss of imagined steps under this model's discount, lambda, loss weights and return scaling.

        :param steps: the imagined steps (a fresh rollout or a window of the imagination loop)
        :param bootstrap: the value of the state after each step, ``(batch, horizon)``
        :param truncations: where an imagined episode was cut at the horizon and restarted (the loop's windows)
        """
        policy = self.policy
        return actor_critic_loss(
            steps.log_probs,
            steps.entropies,
            steps.values,
            steps.rewards,
            steps.ends,
            bootstrap,
            gamma=self.gamma,
            lambda_=self.gae_lambda,
            ent_coef=self.ent_coef,
            value_coef=self.value_coef,
            return_scaler=policy.return_scaler if self.return_normalization else None,
            truncations=truncations,
        )

    def _replay_losses(self, batch_size: int) -> dict[str, th.Tensor]:
        """
        Losses of the actor-critic on real replay segments: the critic's squared error against the TD(lambda) returns
        of their stored rewards (as the reward model learns them: signs for the sign head) and terminations
        (``replay_value_coef``), and the self-imitation loss of the stored actions (``self_imitation_coef``).
        Segments are drawn as the reward/termination model's are, running past episode ends, so that final
        transitions are seen; the first ``n_cond_steps - 1`` rows only warm up the LSTM, as in imagination.

        :return: ``{"replay_value_loss": ..., "self_imitation_loss": ...}``
        """
        policy = self.policy
        world_model, actor_critic = policy.world_model, policy.actor_critic
        burn_in = world_model.n_cond_steps - 1
        batch = self.replay_buffer.sample_segments(
            batch_size, burn_in + self.imagination_horizon + 1, self._sampling_rng, beyond_end=True
        )
        with th.no_grad():
            states = world_model.encode_segments(batch)
        logits, online = unroll(actor_critic, states)
        if self.target_critic_tau is not None:
            with th.no_grad():
                bootstrap = unroll(policy.actor_critic_target, states)[1]
        else:
            bootstrap = online.detach()
        rewards = world_model.reward_target(batch.rewards)
        returns = replay_lambda_returns(rewards, batch.terminated, batch.has_action, bootstrap, self.gamma, self.gae_lambda)
        weights = batch.has_action.clone()
        weights[:, :burn_in] = False
        weights[:, -1] = False
        log_probs = th.log_softmax(logits, dim=-1).gather(-1, batch.actions[..., None]).squeeze(-1)
        scale = policy.return_scaler.scale if self.return_normalization else th.ones(())
        return {
            "replay_value_loss": replay_value_loss(online, returns, weights),
            "self_imitation_loss": self_imitation_loss(
                log_probs, returns, online, weights, scale, margin=self.self_imitation_margin
            ),
        }

    def first_epoch_steps(self, gradient_steps: int) -> tuple[int, int]:
        """
        World-model and actor-critic updates of the first training epoch: the ``first_epoch_*`` arguments, or by
        default DIAMOND's ratios (25x and 12.5x) to the per-epoch counts, so that a run sized by the user keeps its size.

        :param gradient_steps: world-model updates of a regular epoch
        :return: (world-model updates, actor-critic updates)
        """
        per_epoch_actor_critic = self._actor_critic_steps(gradient_steps)
        world_model = self.first_epoch_gradient_steps
        if world_model is None:
            world_model = round(FIRST_EPOCH_WORLD_MODEL_RATIO * gradient_steps)
        actor_critic = self.first_epoch_actor_critic_gradient_steps
        if actor_critic is None:
            actor_critic = round(FIRST_EPOCH_ACTOR_CRITIC_RATIO * per_epoch_actor_critic)
        return int(world_model), int(actor_critic)

    def _actor_critic_steps(self, gradient_steps: int) -> int:
        return gradient_steps if self.actor_critic_gradient_steps < 0 else self.actor_critic_gradient_steps

    def train(self, gradient_steps: int, batch_size: int = 32) -> None:
        """
        One training epoch: world-model updates, then actor-critic updates in imagination. The first epoch is longer
        (:meth:`first_epoch_steps`, DIAMOND) and shows its progress (a bar with ``progress_bar=True``, log lines with
        ``verbose >= 1``).
        """
        self.policy.set_training_mode(True)
        first_epoch = self._n_train_calls == 0
        if first_epoch:
            world_model_steps, actor_critic_steps = self.first_epoch_steps(gradient_steps)
        else:
            world_model_steps, actor_critic_steps = gradient_steps, self._actor_critic_steps(gradient_steps)
        label = "first epoch" if first_epoch else self._long_epoch_progress
        logs: dict[str, list[float]] = defaultdict(list)
        self._nonfinite_warned = set()  # warn at most once per component and epoch
        for name, update, steps in (
            ("world model", self.train_world_model, world_model_steps),
            ("actor-critic", self.train_actor_critic, actor_critic_steps),
        ):
            with self._progress(f"{label}: {name}" if label else None, steps) as advance:
                for _ in range(steps):
                    skipped_before = self._nonfinite_updates
                    update_logs = update(batch_size)
                    if self._nonfinite_updates == skipped_before:  # skipped updates stay out of the logged means
                        for key, value in update_logs.items():
                            logs[key].append(value)
                    advance()
        self.policy.set_training_mode(False)
        self._n_train_calls += 1
        self._n_updates += world_model_steps + actor_critic_steps
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/world_model_updates", self._world_model_updates)
        self.logger.record("train/actor_critic_updates", self._actor_critic_updates)
        self.logger.record("train/nonfinite_updates", self._nonfinite_updates)
        self.logger.record("train/learning_rate", self.lr_schedule(self._current_progress_remaining))
        for key, values in logs.items():
            self.logger.record(f"train/{key}", float(np.mean(values)))

    @contextlib.contextmanager
    def _progress(self, label: str | None, total: int) -> Iterator[Callable[[], None]]:
        """
        Progress of a long stretch of updates (the first epoch, the final epochs): a tqdm bar when ``learn`` runs with
        ``progress_bar=True``, a log line every tenth with ``verbose >= 1``; nothing otherwise.
        """
        if label is None or total <= 0 or not (self._show_progress or self.verbose >= 1):
            yield lambda: None
            return
        start = time.time()
        done = 0
        bar = tqdm(total=total, desc=label, unit="update", leave=False) if self._show_progress else None
        every = max(1, total // 10)

        def advance() -> None:
            nonlocal done
            done += 1
            if bar is not None:
                bar.update(1)
            if self.verbose >= 1 and (done % every == 0 or done == total):
                print(f"{label}: {done}/{total} updates ({time.time() - start:.0f} s)")

        try:
            yield advance
        finally:
            if bar is not None:
                bar.close()

    def _update_initial_collection(self) -> None:
        """
        End the initial random collection once ``learning_starts`` steps are in and the buffer holds enough rewards of
        the minority signs, or ``learning_starts_max`` steps (DIAMOND's ``collection.train.first_epoch``); until then,
        collect another epoch of random steps.
        """
        if self._initial_collection_done or self.num_timesteps < self._random_steps_until:
            return
        counts = np.sort(self.replay_buffer.reward_sign_counts)
        minority_rewards = int(counts[:-1].sum())
        maximum = self.learning_starts_max
        if maximum is None:
            maximum = LEARNING_STARTS_MAX_RATIO * self.learning_starts
        if minority_rewards >= self.learning_starts_reward_threshold or self.num_timesteps >= maximum:
            self._initial_collection_done = True
            # Training starts after the next collection (SB3: once num_timesteps > learning_starts).
            self._random_steps_until = min(self._random_steps_until, self.num_timesteps)
            if self.verbose >= 1:
                print(
                    f"Initial collection: {self.num_timesteps} random steps, rewards -1/0/+1: "
                    f"{self.replay_buffer.reward_sign_counts.tolist()}"
                )
            return
        assert isinstance(self.train_freq, TrainFreq)
        if self.train_freq.unit == TrainFrequencyUnit.STEP:
            self._random_steps_until = min(maximum, self.num_timesteps + self.train_freq.frequency * self.n_envs)
        else:
            # Epochs of whole episodes: random actions until the maximum, checked again after every epoch.
            self._random_steps_until = maximum

    def learn(
        self: SelfJEDI,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 4,
        tb_log_name: str = "JEDI",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfJEDI:
        """
        Train the agent, as DIAMOND's loop: random steps first (:meth:`_update_initial_collection`), then epochs of
        ``train_freq`` env steps each followed by a training epoch, and ``final_epochs`` training-only epochs once
        ``total_timesteps`` is reached (resumed, not repeated, by a later ``learn(..., reset_num_timesteps=False)``).

        :param total_timesteps: env steps to collect (counted from the current ``num_timesteps`` when
            ``reset_num_timesteps=False``)
        :param callback: SB3 callback(s) called during collection
        :param log_interval: log every this many episodes
        :param tb_log_name: name of the TensorBoard run
        :param reset_num_timesteps: start counting env steps from zero (a new run)
        :param progress_bar: show a progress bar of env steps, and one for the first and final epochs' updates
        :return: the trained model
        """
        if reset_num_timesteps:
            self._random_steps_until = self.learning_starts
            self._initial_collection_done = False
        self._show_progress = progress_bar
        callback = self._with_diagnostics(callback)
        total_timesteps, callback = self._setup_learn(
            total_timesteps, callback, reset_num_timesteps, tb_log_name, progress_bar
        )
        callback.on_training_start(locals(), globals())
        assert self.env is not None, "You must set the environment before calling learn()"
        assert isinstance(self.train_freq, TrainFreq)
        reached_total = True
        while self.num_timesteps < total_timesteps:
            rollout = self.collect_rollouts(
                self.env,
                train_freq=self.train_freq,
                callback=callback,
                learning_starts=self._random_steps_until,
                replay_buffer=self.replay_buffer,
                log_interval=log_interval,
            )
            if not rollout.continue_training:
                reached_total = False
                break
            # New data: the final epochs of this run are still to come.
            self._final_epochs_done = 0
            self._update_initial_collection()
            # As SB3 (and DIAMOND), training starts after the first epoch collected past the random steps.
            if not self._initial_collection_done or self.num_timesteps <= self._random_steps_until:
                continue
            gradient_steps = self.gradient_steps if self.gradient_steps >= 0 else rollout.episode_timesteps
            if gradient_steps > 0:
                self.train(batch_size=self.batch_size, gradient_steps=gradient_steps)
        if reached_total and self._initial_collection_done:
            self._train_final_epochs(log_interval)
        callback.on_training_end()
        return self

    def n_final_epochs(self, total_timesteps: int) -> int:
        """
        Training-only epochs at the end of a run of ``total_timesteps`` env steps: ``final_epochs``, or by default 5% of
        the run's epochs (DIAMOND: 50 after 100k steps in epochs of 100).

        :param total_timesteps: env steps of the whole run
        :return: the number of final epochs
        """
        if self.final_epochs is not None:
            return int(self.final_epochs)
        assert isinstance(self.train_freq, TrainFreq)
        epoch_steps = self.train_freq.frequency * self.n_envs
        return round(FINAL_EPOCHS_FRACTION * total_timesteps / max(1, epoch_steps))

    def _with_diagnostics(self, callback: MaybeCallback) -> MaybeCallback:
        """Add the world-model diagnostics callback when ``wm_log_interval`` is set."""
        if not self.wm_log_interval:
            return callback
        from sb3_jedi.callbacks import WorldModelDiagnosticsCallback  # the callback module imports no algorithm

        diagnostics = WorldModelDiagnosticsCallback(log_interval=self.wm_log_interval)
        if callback is None:
            return diagnostics
        if isinstance(callback, list):
            return [*callback, diagnostics]
        if not isinstance(callback, BaseCallback):
            callback = ConvertCallback(callback)
        return [callback, diagnostics]

    def _train_final_epochs(self, log_interval: int) -> None:
        """DIAMOND's training-only epochs after the last collection, counted so that a resumed run finishes them."""
        gradient_steps = self.gradient_steps if self.gradient_steps >= 0 else self.train_freq.frequency  # type: ignore[union-attr]
        n_final = self.n_final_epochs(self._total_timesteps)
        while self._final_epochs_done < n_final and gradient_steps > 0:
            epoch = self._final_epochs_done + 1
            self._long_epoch_progress = f"final epoch {epoch}/{n_final}"
            try:
                self.train(batch_size=self.batch_size, gradient_steps=gradient_steps)
            finally:
                self._long_epoch_progress = None
            self._final_epochs_done = epoch
            self.logger.record("train/final_epochs", self._final_epochs_done)
            if self.verbose >= 1 and not self._show_progress:
                print(f"Final epoch {epoch}/{n_final} done")
            if epoch % max(1, log_interval) == 0 or epoch == n_final:
                self.logger.dump(step=self.num_timesteps)

    def set_env(self, env: GymEnv, force_reset: bool = True) -> None:
        """
        Set a new environment with the same spaces and number of envs; its episodes start afresh, so the recurrent
        state is reset.

        :param env: the new environment
        :param force_reset: reset the env before the next ``learn`` (SB3's default)
        """
        env = self._wrap_env(env, self.verbose)
        if env.num_envs != self.n_envs:
            raise ValueError(
                f"set_env got {env.num_envs} env(s) but the model was built for {self.n_envs} (its replay buffer keeps one "
                f"open episode per env). Use JEDI.load(path, env=new_env) to continue with {env.num_envs} env(s)."
            )
        try:
            super().set_env(env, force_reset)
        except ValueError as error:
            if "spaces do not match" not in str(error):
                raise
            raise ValueError(
                f"{error}. set_env needs an env with the observation and action spaces the model was built for (same "
                "game, same wrappers); for another task, create a new model."
            ) from error
        self._last_rnn_state = None
