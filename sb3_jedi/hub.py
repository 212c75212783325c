"""
Share trained agents through Hugging Face Hub model repos, as Stable-Baselines3 agents are shared.

:func:`push_to_hub` evaluates a model, records a replay video and uploads, in one commit, a repo holding:

- ``<algo>-<env>.zip``: the model, as ``model.save`` writes it, named as rl-zoo3 and huggingface-sb3 name model zips
  (``jedi-CartPole-v1.zip``, ``jedi-ALE-Pong-v5.zip``)
- ``config.json``: the algorithm class, its hyper-parameters, ``policy_kwargs`` and the library versions
- ``results.json``: the keys huggingface-sb3 writes (mean and standard deviation of the return, ``is_deterministic``,
  episodes, date), then ours (per-episode returns, the protocol, and the human-normalised score on Atari)
- ``config.yml``, ``args.yml``, ``env_kwargs.yml`` and ``train_eval_metrics.zip``: the files rl-zoo3's
  ``load_from_hub`` fetches besides the model (hyper-parameters, run arguments, env arguments, and the training run's
  ``evaluations.npz`` and Monitor logs, or this evaluation as SB3's ``EvalCallback`` writes ``evaluations.npz``)
- ``replay.mp4``: the agent playing, recorded from the env's ``rgb_array`` renders as H.264 (which browsers and the Hub
  play)
- ``README.md``: a model card whose metadata the Hub shows for SB3 agents (``library_name: stable-baselines3``,
  tags: the canonical env id, such as ``ALE/Pong-v5``, and ``atari100k`` for Atari games; a ``model-index`` with the
  ``mean_reward`` result), with usage code

Scores follow the protocol of ``sb3-jedi evaluate``: on Atari games, :func:`sb3_jedi.evaluation.evaluate_atari100k`
with its defaults (DIAMOND's final evaluation: actions sampled from the policy, no epsilon noise); elsewhere greedy
actions. ``deterministic=`` chooses otherwise, and the card and ``results.json`` say which was used.

:func:`load_from_hub` downloads the model zip back (through the Hub client's cache) and loads it. A model zip holds
pickled Python objects, and unpickling can run arbitrary code, so loading refuses unless the caller trusts the repo
(``trust_remote_code=True``, or the environment variable ``SB3_JEDI_TRUST_REMOTE_CODE=1`` or huggingface-sb3's
``TRUST_REMOTE_CODE=True``); the zip is also checked to be a JEDI checkpoint, from its plain JSON entries, before
anything in it is unpickled.

Besides :func:`load_from_hub`, a pushed repo loads with huggingface-sb3's ``load_from_hub(repo_id, filename)`` and
``JEDI.load``, and with rl-zoo3's ``load_from_hub`` (``download_from_hub``), which lays it out as a zoo log folder.

The functions talk to the Hub through ``huggingface_hub`` (``HfApi``), so ``HF_TOKEN``, ``hf auth login`` and
``HF_ENDPOINT`` apply as usual.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import inspect
import io
import json
import os
import re
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np
import yaml
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

from sb3_jedi.envs import atari_game_or_none, make_env
from sb3_jedi.registry import get_algorithm
from sb3_jedi.run_info import jsonable, library_versions
from sb3_jedi.save_util import InvalidCheckpointError, check_jedi_checkpoint
from sb3_jedi.video import record_video

if TYPE_CHECKING:
    from huggingface_hub import CommitInfo

    from sb3_jedi.jedi import JEDI

__all__ = [
    "ATARI100K_TAG",
    "HF_SB3_TRUST_REMOTE_CODE_ENV",
    "TRUST_REMOTE_CODE_ENV",
    "canonical_env_id",
    "default_deterministic",
    "default_eval_episodes",
    "default_repo_id",
    "env_name",
    "load_from_hub",
    "model_zip_name",
    "push_to_hub",
]

#: Environment variable that, set to ``1`` (or ``true``, ``yes``, ``on``), lets :func:`load_from_hub` unpickle model
#: zips without ``trust_remote_code=True``.
TRUST_REMOTE_CODE_ENV = "SB3_JEDI_TRUST_REMOTE_CODE"
#: huggingface-sb3's environment variable with the same meaning (``TRUST_REMOTE_CODE=True``), honoured too.
HF_SB3_TRUST_REMOTE_CODE_ENV = "TRUST_REMOTE_CODE"
# Values of those variables, read as huggingface-sb3 reads its one (distutils' strtobool, case-insensitive).
_TRUE_VALUES = ("y", "yes", "t", "true", "on", "1")
_FALSE_VALUES = ("n", "no", "f", "false", "off", "0", "")

#: Tag of the model cards of Atari agents, whose env is built and scored under the Atari100k protocol.
ATARI100K_TAG = "atari100k"

# Tags of every sb3-jedi model card (the env id is added); the Hub lists SB3 agents by `library_name` and these tags.
MODEL_CARD_TAGS = (
    "sb3-jedi",
    "model-based-reinforcement-learning",
    "deep-reinforcement-learning",
    "reinforcement-learning",
    "stable-baselines3",
)

CONFIG_FILE = "config.json"
RESULTS_FILE = "results.json"
VIDEO_FILE = "replay.mp4"
MODEL_CARD_FILE = "README.md"
# The files rl-zoo3's load_from_hub downloads besides the model zip (a missing one fails the download).
ZOO_CONFIG_FILE = "config.yml"
ZOO_ARGS_FILE = "args.yml"
ZOO_ENV_KWARGS_FILE = "env_kwargs.yml"
ZOO_METRICS_FILE = "train_eval_metrics.zip"

# How the model card names each action selection (`deterministic=True` / `False`).
_ACTIONS = {True: "greedy actions", False: "actions sampled from the policy"}

# The ALE emulates 60 frames per second; one agent step of the Atari100k protocol is `frame_skip` of them.
_ALE_FPS = 60


# Pushing -------------------------------------------------------------------------------------------------------------


def push_to_hub(
    model: JEDI,
    repo_id: str,
    env_id: str,
    eval_env: gym.Env | VecEnv | None = None,
    n_eval_episodes: int | None = None,
    video_length: int = 1000,
    token: str | None = None,
    private: bool = False,
    commit_message: str = "Upload agent with sb3-jedi",
    deterministic: bool | None = None,
    log_dir: str | os.PathLike | None = None,
) -> CommitInfo:
    """
    Evaluate ``model``, record a replay video and upload the model, its card and results to a Hub model repo, in one
    commit (the repo is created if needed).

    :param model: the trained JEDI model (or subclass)
    :param repo_id: the model repo, ``"<user or organisation>/<name>"``
    :param env_id: the env the model plays: an Atari game (``"Pong"``, ``"ALE/Pong-v5"``, ``"PongNoFrameskip-v4"``,
        played under the Atari100k evaluation protocol) or a gymnasium id (``"CartPole-v1"``). Its canonical id
        (:func:`canonical_env_id`: ``ALE/Pong-v5`` for every spelling of Pong) names the model zip
        (:func:`model_zip_name`) and tags the model card
    :param eval_env: the env to evaluate on and record (a gymnasium env or a VecEnv, built with
        ``render_mode="rgb_array"`` when a video is recorded); ``None`` builds one from ``env_id`` with
        :func:`sb3_jedi.envs.make_env` (``make_atari100k_env(game, training=False)`` for Atari, the gymnasium id with
        ``render_mode="rgb_array"`` and a ``Monitor`` otherwise). With ``None``, Atari games are scored by
        :func:`sb3_jedi.evaluation.evaluate_atari100k` (its env and seed), as ``sb3-jedi evaluate`` scores them; a
        given ``eval_env`` is scored with SB3's ``evaluate_policy``
    :param n_eval_episodes: evaluation episodes; ``None``: as ``sb3-jedi evaluate``, :func:`default_eval_episodes`
        (100 on Atari games, DIAMOND's final evaluation; 10 elsewhere, huggingface-sb3's default)
    :param video_length: steps in the replay video; 0 uploads no video
    :param token: Hub token with write access; ``None`` uses the saved login (``hf auth login``) or ``HF_TOKEN``
    :param private: create the repo private (ignored if it already exists)
    :param commit_message: message of the commit
    :param deterministic: greedy actions (True) or actions sampled from the policy (False), in the evaluation and
        the video. ``None``: as ``sb3-jedi evaluate``, the default of
        :func:`~sb3_jedi.evaluation.evaluate_atari100k` on Atari games (sampled actions, DIAMOND's protocol) and
        greedy actions on other envs. The model card and ``results.json`` say which was used
    :param log_dir: the training run's folder (``sb3-jedi train``'s run directory, or an rl-zoo3 log folder), whose
        ``evaluations.npz`` and Monitor logs (``*.csv``) go into ``train_eval_metrics.zip`` as rl-zoo3 packs them.
        ``None``, or a folder without ``evaluations.npz``: the archive's ``evaluations.npz`` holds this push's evaluation
    :return: the commit's ``CommitInfo`` (``.commit_url``, ``.oid``)
    """
    from huggingface_hub import CommitOperationAdd, HfApi

    from sb3_jedi.jedi import JEDI

    if not isinstance(model, JEDI):
        raise TypeError(
            f"push_to_hub shares JEDI models (or subclasses), got {type(model).__name__}. Models of other SB3 algorithms "
            "are pushed with huggingface-sb3's package_to_hub."
        )
    _check_repo_id(repo_id)
    if not isinstance(env_id, str) or not env_id.strip():
        raise ValueError(f"env_id must name the env the model plays, e.g. 'CartPole-v1' or 'Pong', got {env_id!r}.")
    if n_eval_episodes is not None and (
        isinstance(n_eval_episodes, bool) or not isinstance(n_eval_episodes, int) or n_eval_episodes < 1
    ):
        raise ValueError(f"n_eval_episodes must be an integer >= 1 (or None for the default), got {n_eval_episodes!r}.")
    if isinstance(video_length, bool) or not isinstance(video_length, int) or video_length < 0:
        raise ValueError(f"video_length must be an integer >= 0 (0: no video), got {video_length!r}.")
    if not isinstance(commit_message, str) or not commit_message.strip():
        raise ValueError("commit_message must be a non-empty string.")
    if log_dir is not None and not Path(log_dir).is_dir():
        raise ValueError(f"log_dir must be the training run's folder, got {str(log_dir)!r}, which is not a directory.")
    if deterministic is not None and not isinstance(deterministic, bool | np.bool_):
        raise ValueError(
            f"deterministic must be True (greedy actions), False (actions sampled from the policy) or None (the "
            f"protocol of `sb3-jedi evaluate`), got {deterministic!r}."
        )

    # Checks that the env id can name files before anything runs.
    zip_name = model_zip_name(model, env_id)
    game = atari_game_or_none(env_id)
    deterministic = default_deterministic(game) if deterministic is None else bool(deterministic)
    n_eval_episodes = default_eval_episodes(game) if n_eval_episodes is None else n_eval_episodes
    owns_env = eval_env is None
    # Atari games under the Atari100k evaluation protocol (whole games), other ids rendering rgb_array frames.
    env = make_env(env_id, training=False, render_mode="rgb_array") if eval_env is None else _as_vec_env(eval_env)
    try:
        _check_eval_env(model, env, env_id)
        if video_length > 0 and env.render_mode != "rgb_array":
            raise ValueError(
                f"The replay video is made of the evaluation env's renders, but its render_mode is {env.render_mode!r}: "
                "build eval_env with render_mode='rgb_array' (e.g. gymnasium.make(env_id, render_mode='rgb_array')), or "
                "pass video_length=0 to upload no video."
            )
        protocol: dict[str, Any]
        if game is not None and eval_env is None:
            # Imported here: the evaluation package pulls in rliable and pandas, which a CartPole agent does not need.
            from sb3_jedi.evaluation import evaluate_atari100k

            # The Atari100k protocol's own evaluation (its env, seed and frame cap), as `sb3-jedi evaluate` runs it.
            evaluation = evaluate_atari100k(model, game, n_episodes=n_eval_episodes, deterministic=deterministic)
            episode_rewards, episode_lengths = evaluation.episode_scores, evaluation.episode_lengths
            protocol = {
                "evaluation_protocol": ATARI100K_TAG,
                "eval_seed": evaluation.seed,
                "max_episode_frames": evaluation.max_episode_frames,
            }
        else:
            episode_rewards, episode_lengths = evaluate_policy(  # type: ignore[assignment]
                model, env, n_eval_episodes=n_eval_episodes, deterministic=deterministic, return_episode_rewards=True
            )
            protocol = {"evaluation_protocol": "evaluate_policy"}
        results = _results(model, env_id, game, episode_rewards, episode_lengths, deterministic, protocol)
        with tempfile.TemporaryDirectory(prefix="sb3-jedi-hub-") as tmp:
            folder = Path(tmp)
            if video_length > 0:
                fps = _video_fps(env, game)
                record_video(model, env, folder / VIDEO_FILE, n_steps=video_length, fps=fps, deterministic=deterministic)
            model.save(folder / zip_name)
            config = _config(model, env_id, game)
            (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
            (folder / RESULTS_FILE).write_text(json.dumps(results, indent=2) + "\n")
            metrics = _write_zoo_files(folder, model, config, results, None if log_dir is None else Path(log_dir))
            card = _model_card(
                model, repo_id, env_id, game, zip_name, config, results, has_video=video_length > 0, metrics=metrics
            )
            (folder / MODEL_CARD_FILE).write_text(card)

            api = HfApi()
            api.create_repo(repo_id, token=token, private=private, exist_ok=True)
            # One commit with every file (upload_folder may split large folders into several commits).
            operations = [
                CommitOperationAdd(path_in_repo=path.name, path_or_fileobj=str(path)) for path in sorted(folder.iterdir())
            ]
            return api.create_commit(repo_id, operations, commit_message=commit_message, token=token)
    finally:
        if owns_env:
            env.close()


def default_deterministic(game: str | None) -> bool:
    """
    The action selection of ``sb3-jedi evaluate`` when neither ``--greedy`` nor ``--stochastic`` is given, which
    :func:`push_to_hub` uses by default: on Atari games the default of
    :func:`sb3_jedi.evaluation.evaluate_atari100k` (``False``: actions sampled from the policy, DIAMOND's final
    evaluation), elsewhere greedy actions (``True``).

    :param game: the ALE game name, or ``None`` for a non-Atari env (see :func:`sb3_jedi.envs.atari_game_or_none`)
    :return: ``deterministic`` of the evaluation
    """
    if game is None:
        return True
    from sb3_jedi.evaluation import evaluate_atari100k

    return bool(inspect.signature(evaluate_atari100k).parameters["deterministic"].default)


# huggingface-sb3's package_to_hub and SB3's evaluate_policy evaluate 10 episodes by default.
SB3_EVAL_EPISODES = 10


def default_eval_episodes(game: str | None) -> int:
    """
    The number of evaluation episodes of ``sb3-jedi evaluate`` and ``sb3-jedi push`` when ``--episodes`` is not given,
    which :func:`push_to_hub` uses by default: on Atari games the default of
    :func:`sb3_jedi.evaluation.evaluate_atari100k` (100, DIAMOND's final evaluation: ``num_final_episodes``), elsewhere
    10, as huggingface-sb3's ``package_to_hub`` and SB3's ``evaluate_policy``.

    :param game: the ALE game name, or ``None`` for a non-Atari env (see :func:`sb3_jedi.envs.atari_game_or_none`)
    :return: the number of evaluation episodes
    """
    if game is None:
        return SB3_EVAL_EPISODES
    from sb3_jedi.evaluation import evaluate_atari100k

    return int(inspect.signature(evaluate_atari100k).parameters["n_episodes"].default)


def model_zip_name(model: Any, env_id: str) -> str:
    """
    File name of the model zip in a Hub repo, as rl-zoo3 and huggingface-sb3 name it (their ``ModelName``):
    ``<algorithm>-<env name>.zip``, with the algorithm's class name lower-cased and the env name of the canonical env id
    (:func:`env_name`), e.g. ``jedi-CartPole-v1.zip``, and ``jedi-ALE-Pong-v5.zip`` for ``"Pong"``,
    ``"ALE/Pong-v5"`` or ``"PongNoFrameskip-v4"``.

    :param model: the model (its class names the algorithm)
    :param env_id: the env id given to :func:`push_to_hub`
    :return: the file name
    """
    return f"{type(model).__name__.lower()}-{env_name(canonical_env_id(env_id))}.zip"


def default_repo_id(orga: str, algo_name: str, env_id: str) -> str:
    """
    The repo id rl-zoo3 gives an agent when no repo name is chosen: ``"{orga}/{algo}-{env}"``, with the algorithm name
    lower-cased (rl-zoo3's algorithm names: ``jedi``) and the env named as rl-zoo3 names it (:func:`env_name`) after
    the env id is made canonical (:func:`canonical_env_id`). The repo is then named as the model zip it holds
    (:func:`model_zip_name`), and rl-zoo3's ``load_from_hub`` finds both from ``algo``, the canonical env id and
    ``orga``. For example ``default_repo_id("you", "JEDI", "Pong")`` is ``"you/jedi-ALE-Pong-v5"`` and
    ``default_repo_id("you", "jedi", "CartPole-v1")`` is ``"you/jedi-CartPole-v1"``.

    :param orga: the Hub user or organisation that owns the repo
    :param algo_name: the algorithm, e.g. ``"jedi"``, ``"JEDI"`` or ``type(model).__name__``
    :param env_id: the env id the model plays, as given to :func:`push_to_hub`
    :return: the repo id
    """
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    for name, value in (("orga", orga), ("algo_name", algo_name), ("env_id", env_id)):
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{name} must be a non-empty string, got {value!r}.")
    if not re.fullmatch(r"[\w.\-]+", orga.strip()):
        raise ValueError(f"orga must be a Hub user or organisation name (letters, digits, '-', '_', '.'), got {orga!r}.")
    repo_id = f"{orga.strip()}/{algo_name.strip().lower()}-{env_name(canonical_env_id(env_id))}"
    try:
        validate_repo_id(repo_id)
    except HFValidationError as error:
        raise ValueError(
            f"default_repo_id({orga!r}, {algo_name!r}, {env_id!r}) gives {repo_id!r}, not a valid Hub repo id: {error} "
            "Pass a repo id of your choice instead."
        ) from error
    return repo_id


def env_name(env_id: str) -> str:
    """
    An env id as rl-zoo3 and huggingface-sb3 write it in file and repo names (their ``EnvironmentName``): the ``/``
    of a namespaced id becomes ``-`` (``ALE/Pong-v5`` gives ``ALE-Pong-v5``), and of a ``module:EnvId`` id only
    ``EnvId`` is kept. Any other character a repo name cannot hold also becomes ``-``.

    :param env_id: a gymnasium env id
    :return: the name
    """
    if not isinstance(env_id, str) or not env_id.strip():
        raise ValueError(f"env_id must be a non-empty string, got {env_id!r}.")
    name = env_id.strip().replace("/", "-")
    if ":" in name:
        parts = name.split(":")
        if len(parts) != 2 or not parts[1]:
            raise ValueError(f"env_id {env_id!r} must be 'EnvId' or 'module:EnvId' (one colon at most).")
        name = parts[1]
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")
    if not name:
        raise ValueError(f"env_id {env_id!r} holds no character a file or repo name can use.")
    return name


def canonical_env_id(env_id: str) -> str:
    """
    The id the model card tags an env with: ``ALE/<game>-v5`` for Atari games (the id our Atari100k env builder makes,
    whichever spelling was given: ``"Pong"``, ``"PongNoFrameskip-v4"``), the gymnasium id otherwise.

    :param env_id: the env id given to :func:`push_to_hub`
    :return: the canonical id
    """
    game = atari_game_or_none(env_id)
    return f"ALE/{game}-v5" if game is not None else env_id.strip()


def _check_repo_id(repo_id: Any) -> None:
    if not isinstance(repo_id, str) or not re.fullmatch(r"[\w.\-]+(/[\w.\-]+)?", repo_id):
        raise ValueError(
            f"repo_id must be '<user or organisation>/<name>' (letters, digits, '-', '_', '.'), got {repo_id!r}."
        )


def _as_vec_env(env: gym.Env | VecEnv) -> VecEnv:
    if isinstance(env, VecEnv):
        return env
    if isinstance(env, gym.Env):
        return DummyVecEnv([lambda: env])
    raise TypeError(f"eval_env must be a gymnasium env or an SB3 VecEnv, got {type(env).__name__}.")


def _check_eval_env(model: JEDI, env: VecEnv, env_id: str) -> None:
    """Fail early, with the fix, when the evaluation env is not one the model can play."""
    if env.action_space != model.action_space:
        raise ValueError(
            f"The evaluation env ({env_id!r}) has action space {env.action_space} but the model acts in "
            f"{model.action_space}: pass the env id the model was trained on, or a matching eval_env."
        )
    env_shape, model_shape = env.observation_space.shape, model.observation_space.shape
    # Image models see channel-first frames (SB3 transposes them) while envs may return channel-last ones.
    channel_moves = {tuple(model_shape), (model_shape[-1], *model_shape[:-1]), (*model_shape[1:], model_shape[0])}
    if env_shape is None or model_shape is None or tuple(env_shape) not in channel_moves:
        raise ValueError(
            f"The evaluation env ({env_id!r}) has observations of shape {env_shape} but the model was trained on "
            f"{model_shape}: pass the env id the model was trained on, or a matching eval_env."
        )


def _action_selection(deterministic: bool) -> str:
    return "greedy" if deterministic else "sampled"


def _results(
    model: JEDI,
    env_id: str,
    game: str | None,
    episode_rewards: list[float],
    episode_lengths: list[int],
    deterministic: bool,
    protocol: dict[str, Any],
) -> dict[str, Any]:
    rewards = np.asarray(episode_rewards, dtype=np.float64)
    results: dict[str, Any] = {
        # The keys of huggingface-sb3's results.json, in its order, so that tools reading those files read this one.
        "mean_reward": float(rewards.mean()),
        "std_reward": float(rewards.std()),
        "is_deterministic": deterministic,
        "n_eval_episodes": len(episode_rewards),
        "eval_datetime": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        # Ours.
        "env_id": canonical_env_id(env_id),
        "deterministic": deterministic,
        "action_selection": _action_selection(deterministic),
        **protocol,
        "episode_rewards": [float(r) for r in episode_rewards],
        "episode_lengths": [int(n) for n in episode_lengths],
        "num_timesteps": int(model.num_timesteps),
    }
    if game is not None:
        results["atari_game"] = game
        hns = _human_normalized_score(game, results["mean_reward"])
        if hns is not None:
            results["human_normalized_score"] = hns
    return results


def _human_normalized_score(game: str, score: float) -> float | None:
    """The human-normalised score of a mean game score; None for games without human reference scores."""
    # Imported here: the evaluation package pulls in rliable and pandas, which pushing a CartPole agent does not need.
    from sb3_jedi.evaluation import human_normalized_score, reference_games

    # Only the 26 Atari100k games have the random and human reference scores the normalisation needs.
    if game not in reference_games():
        return None
    return float(human_normalized_score(game, score))


def _video_fps(env: VecEnv, game: str | None) -> int:
    """Frames per second that play the replay in real time."""
    if game is not None:
        try:
            frame_skip = int(env.get_attr("frame_skip")[0])
        except (AttributeError, TypeError, ValueError):
            frame_skip = 4
        return max(1, round(_ALE_FPS / max(frame_skip, 1)))
    # SB3 types VecEnv.metadata by its default content (render_modes, a list); render_fps is a number.
    return int((env.metadata or {}).get("render_fps") or 30)  # type: ignore[arg-type]


def _versions() -> dict[str, str]:
    # Distribution names, as the Hub and PyPI spell them.
    versions = {name.replace("_", "-"): version for name, version in library_versions().items()}
    try:
        versions["huggingface-hub"] = importlib.metadata.version("huggingface-hub")
    except importlib.metadata.PackageNotFoundError:
        versions["huggingface-hub"] = "not installed"
    return versions


def _hyperparameters(model: JEDI) -> dict[str, Any]:
    """The model's hyper-parameters (:meth:`~sb3_jedi.jedi.JEDI.hyperparameters`) and its seed, as JSON values."""
    return {name: jsonable(value) for name, value in {**model.hyperparameters(), "seed": model.seed}.items()}


def _config(model: JEDI, env_id: str, game: str | None) -> dict[str, Any]:
    cls = type(model)
    config: dict[str, Any] = {
        "algorithm": f"{cls.__module__}:{cls.__qualname__}",
        "algorithm_name": cls.__name__,
        "policy": jsonable(model.policy_class),
        "env_id": canonical_env_id(env_id),
    }
    if game is not None:
        config["atari_game"] = game
    config.update(
        {
            "num_timesteps": int(model.num_timesteps),
            "observation_space": repr(model.observation_space),
            "action_space": repr(model.action_space),
            "hyperparameters": _hyperparameters(model),
            "policy_kwargs": jsonable(model.policy_kwargs),
            "versions": _versions(),
        }
    )
    return config


def _policy_name(model: JEDI) -> str:
    """The policy as rl-zoo3's config.yml names it: its alias (``"MlpPolicy"``) or else its qualified class name."""
    for alias, policy_class in model.policy_aliases.items():
        if policy_class is model.policy_class:
            return alias
    return jsonable(model.policy_class)


def _write_zoo_files(
    folder: Path, model: JEDI, config: dict[str, Any], results: dict[str, Any], log_dir: Path | None
) -> str:
    """
    Write the files rl-zoo3's ``load_from_hub`` downloads besides the model zip, laid out as rl-zoo3 writes them, in
    YAML that ``yaml.safe_load`` reads (rl-zoo3's own files hold Python tags):

    - ``config.yml``: the hyper-parameters, with rl-zoo3's keys for the policy and the training steps
    - ``args.yml``: the run's arguments (algorithm, env id, env arguments, seed, steps)
    - ``env_kwargs.yml``: keyword arguments of the env beyond its id (none: the id, and for Atari the Atari100k
      protocol, define it)
    - ``train_eval_metrics.zip``: as rl-zoo3 packs a run's folder, its ``evaluations.npz`` and Monitor logs
      (``*.csv``); without a run's ``evaluations.npz``, one as SB3's ``EvalCallback`` writes it holding the evaluation
      of ``results.json`` (one evaluation, at the model's step count)

    :return: what ``train_eval_metrics.zip`` holds, for the model card
    """
    hyperparameters = {
        **config["hyperparameters"],
        "policy": _policy_name(model),
        "policy_kwargs": config["policy_kwargs"],
        "n_timesteps": config["num_timesteps"],
        "n_envs": int(model.n_envs),
    }
    (folder / ZOO_CONFIG_FILE).write_text(yaml.safe_dump(hyperparameters, sort_keys=True))
    env_kwargs: dict[str, Any] = {}
    args = {
        "algo": type(model).__name__.lower(),
        "env": config["env_id"],
        "env_kwargs": env_kwargs,
        "n_timesteps": config["num_timesteps"],
        "seed": model.seed,
    }
    (folder / ZOO_ARGS_FILE).write_text(yaml.safe_dump(args, sort_keys=True))
    (folder / ZOO_ENV_KWARGS_FILE).write_text(yaml.safe_dump(env_kwargs))
    run_evaluations = None if log_dir is None else log_dir / "evaluations.npz"
    monitor_logs = [] if log_dir is None else sorted(path for path in log_dir.glob("*.csv") if path.is_file())
    with zipfile.ZipFile(folder / ZOO_METRICS_FILE, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        if run_evaluations is not None and run_evaluations.is_file():
            archive.write(run_evaluations, arcname="evaluations.npz")
            description = "the training run's evaluations (`evaluations.npz`)"
        else:
            archive.writestr("evaluations.npz", _evaluations_npz(results))
            description = "this card's evaluation, as `evaluations.npz` in SB3's `EvalCallback` format"
        for path in monitor_logs:
            archive.write(path, arcname=path.name)
    if monitor_logs:
        description += f" and the run's Monitor logs ({len(monitor_logs)} `.csv` file{'s' if len(monitor_logs) > 1 else ''})"
    return description


def _evaluations_npz(results: dict[str, Any]) -> bytes:
    """The evaluation of ``results.json`` as SB3's ``EvalCallback`` saves its evaluations: one row, one evaluation."""
    buffer = io.BytesIO()
    np.savez(
        buffer,
        timesteps=np.array([results["num_timesteps"]], dtype=np.int64),
        results=np.array([results["episode_rewards"]], dtype=np.float64),
        ep_lengths=np.array([results["episode_lengths"]], dtype=np.int64),
    )
    return buffer.getvalue()


def _model_card_metadata(algorithm: str, env_id: str, game: str | None, results: dict[str, Any]) -> dict[str, Any]:
    """The card's YAML front matter, laid out as the Hub expects it for SB3 agents (as huggingface-sb3 writes it)."""
    metrics: list[dict[str, Any]] = [
        {
            "type": "mean_reward",
            "value": f"{results['mean_reward']:.2f} +/- {results['std_reward']:.2f}",
            "name": "mean_reward",
            "verified": False,
        }
    ]
    if "human_normalized_score" in results:
        metrics.append(
            {
                "type": "human_normalized_score",
                "value": round(float(results["human_normalized_score"]), 4),
                "name": "human-normalised score",
                "verified": False,
            }
        )
    dataset = canonical_env_id(env_id)
    tags = list(dict.fromkeys((*MODEL_CARD_TAGS, dataset, *((ATARI100K_TAG,) if game is not None else ()))))
    return {
        "library_name": "stable-baselines3",
        "tags": tags,
        "model-index": [
            {
                "name": algorithm,
                "results": [
                    {
                        "task": {"type": "reinforcement-learning", "name": "reinforcement-learning"},
                        "dataset": {"name": dataset, "type": dataset},
                        "metrics": metrics,
                    }
                ],
            }
        ],
    }


def _usage_code(repo_id: str, env_id: str, game: str | None, deterministic: bool) -> str:
    if game is not None:
        imports = "from sb3_jedi.envs import make_atari100k_env\n"
        make_env = (
            "# Atari100k evaluation protocol (64x64 RGB, frame skip 4, a life loss does not end the episode)\n"
            f'env = make_atari100k_env("{game}", training=False)\n'
        )
    else:
        imports = "from stable_baselines3.common.env_util import make_vec_env\n"
        make_env = f'env = make_vec_env("{env_id}", n_envs=1)\n'
    return (
        "import numpy as np\n"
        "from stable_baselines3.common.evaluation import evaluate_policy\n"
        f"{imports}"
        "from sb3_jedi.hub import load_from_hub\n\n"
        "# The model zip is unpickled when loaded: only opt in for repos you trust.\n"
        f'model = load_from_hub("{repo_id}", trust_remote_code=True)\n'
        f"{make_env}\n"
        "# The actor is recurrent: pass the returned state back, and flag the envs whose episode starts.\n"
        "obs = env.reset()\n"
        "state, episode_start = None, np.ones(env.num_envs, dtype=bool)\n"
        "for _ in range(1_000):\n"
        f"    action, state = model.predict(obs, state=state, episode_start=episode_start, deterministic={deterministic})\n"
        "    obs, rewards, dones, infos = env.step(action)\n"
        "    episode_start = dones\n\n"
        f"# evaluate_policy carries the recurrent state itself (with {_ACTIONS[deterministic]}, as for the card's score).\n"
        f"mean_reward, std_reward = evaluate_policy(model, env, n_eval_episodes=10, deterministic={deterministic})\n"
    )


def _huggingface_sb3_code(model: JEDI, repo_id: str, zip_name: str) -> str:
    cls = type(model)
    return (
        "import os\n\n"
        "from huggingface_sb3 import load_from_hub\n"
        f"from {cls.__module__} import {cls.__qualname__}\n\n"
        "# huggingface-sb3 downloads model zips only with this opt-in: loading one unpickles it.\n"
        f'os.environ["{HF_SB3_TRUST_REMOTE_CODE_ENV}"] = "True"\n'
        f'checkpoint = load_from_hub("{repo_id}", "{zip_name}")\n'
        f"model = {cls.__qualname__}.load(checkpoint)\n"
    )


def _model_card(
    model: JEDI,
    repo_id: str,
    env_id: str,
    game: str | None,
    zip_name: str,
    config: dict[str, Any],
    results: dict[str, Any],
    has_video: bool,
    metrics: str,
) -> str:
    algorithm = type(model).__name__
    metadata = yaml.safe_dump(_model_card_metadata(algorithm, env_id, game, results), sort_keys=False, allow_unicode=True)
    deterministic = bool(results["is_deterministic"])
    scores = [
        "| | |",
        "|---|---|",
        f"| mean return | {results['mean_reward']:.2f} +/- {results['std_reward']:.2f} |",
        f"| episodes | {results['n_eval_episodes']} ({_ACTIONS[deterministic]}) |",
        f"| training steps | {results['num_timesteps']} |",
    ]
    if "human_normalized_score" in results:
        scores.append(f"| human-normalised score | {results['human_normalized_score']:.3f} |")
    notes = []
    if results.get("evaluation_protocol") == ATARI100K_TAG:
        notes.append(
            f"Scores are whole games of {game} under the Atari100k evaluation protocol (64x64 RGB frames, frame skip 4, "
            "up to 30 no-op frames, no sticky actions, a life loss does not end the episode), measured as "
            f"`sb3-jedi evaluate` measures them (`sb3_jedi.evaluation.evaluate_atari100k`, seed {results['eval_seed']})."
        )
    elif game is not None:
        notes.append(f"Scores are games of {game} on the evaluation env given to `push_to_hub` (SB3's `evaluate_policy`).")
    protocol_default = default_deterministic(game)
    if deterministic:
        notes.append(
            "Actions are greedy (the policy's most likely action, `deterministic=True`)"
            + (
                "; the default of `sb3-jedi evaluate` on Atari, DIAMOND's protocol, samples them instead."
                if not protocol_default
                else ", as `sb3-jedi evaluate` picks them."
            )
        )
    else:
        notes.append(
            "Actions are sampled from the policy with no epsilon noise (`deterministic=False`)"
            + (
                ", as in DIAMOND's final Atari evaluation and `sb3-jedi evaluate`."
                if not protocol_default
                else "; `sb3-jedi evaluate` picks greedy actions on this env."
            )
        )
    if has_video:
        notes.append(f"A replay of the agent, with the same action selection, is in `{VIDEO_FILE}` (H.264).")
    notes.append(f"Evaluated on {results['eval_datetime']} (`{RESULTS_FILE}`).")
    files = [
        f"- `{zip_name}`: the model (`{algorithm}.load`)",
        f"- `{CONFIG_FILE}`: algorithm, hyper-parameters, `policy_kwargs`, library versions",
        f"- `{RESULTS_FILE}`: evaluation results",
    ]
    if has_video:
        files.append(f"- `{VIDEO_FILE}`: a replay of the agent")
    files.append(
        f"- `{ZOO_CONFIG_FILE}`, `{ZOO_ARGS_FILE}`, `{ZOO_ENV_KWARGS_FILE}`, `{ZOO_METRICS_FILE}`: the files rl-zoo3's "
        f"`load_from_hub` fetches besides the model (hyper-parameters, run arguments, env arguments; the archive holds "
        f"{metrics})"
    )
    hyperparameters = {"hyperparameters": config["hyperparameters"], "policy_kwargs": config["policy_kwargs"]}
    versions = ", ".join(f"{name} {version}" for name, version in config["versions"].items())
    sections = [
        f"# {algorithm} agent playing {env_id}",
        f"A **{algorithm}** agent playing **{env_id}**, trained with sb3-jedi: JEDI (*Latent End-to-end Diffusion "
        "Mitigates Agent-Human Performance Asymmetry in Model-Based RL*, arXiv 2505.19698) as a Stable-Baselines3 "
        "algorithm. JEDI learns a diffusion world model in a latent space trained end to end by the denoising objective, "
        "and trains a recurrent actor-critic inside it.",
        "## Evaluation",
        "\n".join(scores),
        " ".join(notes),
        "## Usage",
        "Install `sb3-jedi`, then:",
        f"```python\n{_usage_code(repo_id, env_id, game, deterministic)}```",
        "Loading a model zip unpickles Python objects, which can run arbitrary code: `load_from_hub` refuses unless you "
        f"pass `trust_remote_code=True` (or set `{TRUST_REMOTE_CODE_ENV}=1`, or huggingface-sb3's "
        f"`{HF_SB3_TRUST_REMOTE_CODE_ENV}=True`), and checks first that the file is a JEDI checkpoint.",
        "### With huggingface-sb3 or rl-zoo3",
        f"```python\n{_huggingface_sb3_code(model, repo_id, zip_name)}```",
        f"rl-zoo3's `rl_zoo3.load_from_hub.download_from_hub(algo='{type(model).__name__.lower()}', "
        f"env_name=EnvironmentName('{canonical_env_id(env_id)}'), ...)` downloads the repo into a zoo log folder "
        "(the algorithm is not one of the zoo's own, so its command line does not offer it); load the zip it writes "
        f"with `{algorithm}.load`.",
        "## Files",
        "\n".join(files),
        "## Hyper-parameters",
        f"```json\n{json.dumps(hyperparameters, indent=2)}\n```",
        f"Library versions: {versions}.",
    ]
    return f"---\n{metadata}---\n\n" + "\n\n".join(sections) + "\n"


# Loading -------------------------------------------------------------------------------------------------------------


def _trusted_by_environment() -> bool:
    """Whether ``SB3_JEDI_TRUST_REMOTE_CODE`` or huggingface-sb3's ``TRUST_REMOTE_CODE`` is set to a true value."""
    for name in (TRUST_REMOTE_CODE_ENV, HF_SB3_TRUST_REMOTE_CODE_ENV):
        value = os.environ.get(name, "")
        if value.strip().lower() in _TRUE_VALUES:
            return True
        if value.strip().lower() not in _FALSE_VALUES:
            raise ValueError(
                f"The environment variable {name}={value!r} is not a yes/no value: set it to 1 (or true, yes, on) to "
                "trust the model zips loaded from the Hub, to 0 (or false, no, off) or unset it otherwise."
            )
    return False


def load_from_hub(
    repo_id: str,
    filename: str | None = None,
    revision: str | None = None,
    trust_remote_code: bool = False,
    **load_kwargs: Any,
) -> JEDI:
    """
    Download a model zip from a Hub model repo and load it.

    A model zip holds pickled Python objects and unpickling can run arbitrary code, so this refuses unless you trust
    the repo: pass ``trust_remote_code=True`` or set the environment variable ``SB3_JEDI_TRUST_REMOTE_CODE=1`` (or
    huggingface-sb3's ``TRUST_REMOTE_CODE=True``; both read ``1``, ``true``, ``yes``, ``on`` in any case as true).
    Before anything is unpickled, the zip is checked to be a JEDI checkpoint (from its plain JSON entries).

    :param repo_id: the model repo, ``"<user or organisation>/<name>"``
    :param filename: the model zip in the repo; ``None`` picks the repo's only ``.zip`` file (besides rl-zoo3's
        ``train_eval_metrics.zip``)
    :param revision: branch, tag or commit to download from (``None``: the main branch)
    :param trust_remote_code: allow unpickling the model zip of this repo
    :param load_kwargs: passed on to ``JEDI.load`` (``env``, ``device``, ``custom_objects``, ...)
    :return: the model, of the algorithm class that saved it (recorded in the zip: ``JEDI``, ``DIAMOND``)
    """
    from huggingface_hub import HfApi

    _check_repo_id(repo_id)
    if not (trust_remote_code or _trusted_by_environment()):
        raise ValueError(
            f"Refusing to load a model from the Hub repo {repo_id!r}: a model zip holds pickled Python objects, and "
            "unpickling can run arbitrary code. If you trust this repo, pass trust_remote_code=True "
            f"(or set the environment variable {TRUST_REMOTE_CODE_ENV}=1, or huggingface-sb3's "
            f"{HF_SB3_TRUST_REMOTE_CODE_ENV}=True)."
        )
    api = HfApi()
    filename = _pick_model_zip(repo_id, api.list_repo_files(repo_id, revision=revision), filename)
    path = api.hf_hub_download(repo_id, filename, revision=revision)
    try:
        # Reads the zip's plain JSON entries only: nothing is unpickled before this passes.
        info = check_jedi_checkpoint(path)
    except InvalidCheckpointError as error:
        raise InvalidCheckpointError(f"{filename} of the Hub repo {repo_id!r} cannot be loaded: {error}") from error
    return get_algorithm(info["algorithm_name"]).load(path, **load_kwargs)


def _pick_model_zip(repo_id: str, files: list[str], filename: str | None) -> str:
    # rl-zoo3's metrics archive is a zip too, never a model.
    zips = sorted(name for name in files if name.endswith(".zip") and name != ZOO_METRICS_FILE)
    if filename is not None:
        if filename not in files:
            listing = ", ".join(zips) if zips else "none"
            raise ValueError(f"The Hub repo {repo_id!r} has no file {filename!r}. Its model zips: {listing}.")
        return filename
    if len(zips) == 1:
        return zips[0]
    if not zips:
        raise ValueError(
            f"The Hub repo {repo_id!r} holds no .zip model file (its files: {', '.join(sorted(files)) or 'none'}). "
            "Push a model with sb3_jedi.hub.push_to_hub, or check the repo id."
        )
    raise ValueError(
        f"The Hub repo {repo_id!r} holds several model zips ({', '.join(zips)}): choose one with filename=..., "
        f"e.g. load_from_hub({repo_id!r}, filename={zips[0]!r})."
    )
