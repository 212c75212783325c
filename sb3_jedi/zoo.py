"""
Train and watch JEDI and DIAMOND with `rl-baselines3-zoo <https://github.com/DLR-RM/rl-baselines3-zoo>`_ (rl-zoo3).

The zoo has no plug-in entry point: its ``--algo`` choices are the keys of ``rl_zoo3.ALGOS`` when its ``train`` parses
its arguments. Following the zoo's own recipe for algorithms from other packages, this module adds ``jedi`` and
``diamond`` to that dict, then runs the zoo's ``train`` or ``enjoy`` with every zoo option::

    pip install "sb3-jedi[zoo]"
    python -m sb3_jedi.zoo train --env CartPole-v1 -n 30000 --eval-freq 5000
    python -m sb3_jedi.zoo train --env PongNoFrameskip-v4 --eval-freq 25000 --eval-episodes 5
    python -m sb3_jedi.zoo enjoy --env CartPole-v1 -f logs --no-render -n 1000

``--algo`` defaults to ``jedi`` and ``-conf`` to the hyper-parameters shipped with the package
(:func:`default_hyperparams_file`): sections ``atari`` (the Atari100k protocol through :class:`Atari100kWrapper`),
``CartPole-v1`` and ``default``. Runs land where the zoo puts them (``logs/jedi/<env>_<n>/``), so its plotting scripts
read them.

Atari games: use the zoo's ``<Game>NoFrameskip-v4`` ids (``PongNoFrameskip-v4``), whose ALE settings are the protocol's
(no frame skip of their own, no sticky actions, minimal action set, 108,000-frame cap); :class:`Atari100kWrapper` adds
DIAMOND's preprocessing. The zoo puts its ``Monitor`` under ``env_wrapper``, so its logs count emulator frames, as for
every zoo Atari run; the official Atari100k score of a model is ``sb3-jedi evaluate``'s.
"""

import argparse
import sys
from collections.abc import Sequence
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import gymnasium as gym
import numpy as np

from sb3_jedi.envs.atari import Atari100kPreprocessing, TerminateOnLifeLoss

if TYPE_CHECKING:
    from ale_py.env import AtariEnv

__all__ = ["Atari100kWrapper", "default_hyperparams_file", "main", "register_algorithms", "zoo_arguments"]

PROGRAM = "python -m sb3_jedi.zoo"
COMMANDS = ("train", "enjoy")
INSTALL_HINT = 'rl-zoo3 is not installed: pip install "sb3-jedi[zoo]" (or pip install rl-zoo3).'


class Atari100kWrapper(gym.Wrapper[np.ndarray, int, np.ndarray, int]):
    """
    The Atari100k protocol of DIAMOND / JEDI as one ``env_wrapper`` for rl-zoo3 (and for ``sb3-jedi train``, which
    builds the same env): DIAMOND's preprocessing (:class:`~sb3_jedi.envs.Atari100kPreprocessing`: no-op resets, frame
    skip 4 with max-pooling, 64x64 RGB), then, while training, :class:`~sb3_jedi.envs.TerminateOnLifeLoss`.

    It wraps an ALE env that neither skips frames nor repeats actions by itself: the zoo's ``<Game>NoFrameskip-v4`` ids
    (``PongNoFrameskip-v4``), or ``ALE/<Game>-v5`` with ``frameskip=1`` and ``repeat_action_probability=0``.
    In a zoo YAML file::

        atari:
          env_wrapper: sb3_jedi.zoo.Atari100kWrapper

    :param env: the ALE env (a ``Monitor`` below this wrapper, as the zoo puts it, sees whole games)
    :param training: end the agent's episode on life loss (DIAMOND's training env); False for an evaluation env
    :param frame_size: side of the square RGB observation (64)
    :param frame_skip: emulator frames per agent step (4)
    :param noop_max: most no-op frames played on reset (30)
    """

    def __init__(
        self, env: gym.Env, training: bool = True, frame_size: int = 64, frame_skip: int = 4, noop_max: int = 30
    ) -> None:
        _check_ale_env(env)
        wrapped: gym.Env = Atari100kPreprocessing(env, frame_size=frame_size, frame_skip=frame_skip, noop_max=noop_max)
        if training:
            wrapped = TerminateOnLifeLoss(wrapped)
        super().__init__(wrapped)
        self.training = training


def _check_ale_env(env: gym.Env) -> None:
    """Refuse, with the fix, an env whose own settings differ from the protocol (the preprocessing adds the rest)."""
    unwrapped = env.unwrapped
    env_id = env.spec.id if env.spec is not None else type(unwrapped).__name__
    if not hasattr(unwrapped, "ale"):
        raise ValueError(
            f"Atari100kWrapper wraps ALE Atari envs (e.g. PongNoFrameskip-v4), got {env_id}: leave env_wrapper out for "
            "other envs."
        )
    fix = (
        "use the zoo's <Game>NoFrameskip-v4 id (e.g. PongNoFrameskip-v4), or pass "
        "--env-kwargs frameskip:1 repeat_action_probability:0.0 for an ALE/<Game>-v5 id"
    )
    frameskip = getattr(unwrapped, "_frameskip", None)
    if frameskip != 1:
        raise ValueError(f"{env_id} skips frames itself (frameskip={frameskip}); Atari100kWrapper skips 4: {fix}.")
    ale_env = cast("AtariEnv", unwrapped)  # it has an emulator: an ALE env
    sticky = ale_env.ale.getFloat("repeat_action_probability")
    if sticky > 0:
        raise ValueError(
            f"{env_id} repeats actions at random (repeat_action_probability={sticky:g}); the Atari100k protocol has no "
            f"sticky actions: {fix}."
        )
    if len(ale_env._action_set) != len(ale_env.ale.getMinimalActionSet()):
        raise ValueError(
            f"{env_id} uses the full action set; the Atari100k protocol uses the game's minimal one: pass "
            "--env-kwargs full_action_space:False."
        )


def default_hyperparams_file(algo: str = "jedi") -> Path:
    """
    The zoo-format hyper-parameter file shipped with the package for ``algo`` (``sb3_jedi/hyperparams/<algo>.yml``):
    the default ``-conf`` of ``python -m sb3_jedi.zoo train``.

    :param algo: ``"jedi"`` or ``"diamond"`` (any case)
    :return: the path of the file
    """
    path = Path(str(files("sb3_jedi") / "hyperparams" / f"{algo.lower()}.yml"))
    if not path.is_file():
        shipped = sorted(p.stem for p in path.parent.glob("*.yml"))
        raise ValueError(f"No shipped hyper-parameter file for {algo!r}: there are files for {', '.join(shipped)}.")
    return path


def zoo_arguments(command: str, argv: Sequence[str]) -> list[str]:
    """
    The zoo's arguments for ``command``: ``argv`` with ``--algo jedi`` when no algorithm is named, and, for ``train``,
    ``-conf`` pointing at the shipped file of JEDI or DIAMOND when no file is named.

    :param command: ``"train"`` or ``"enjoy"``
    :param argv: the arguments after the command, in the zoo's spelling
    :return: the completed arguments
    """
    from sb3_jedi.registry import ALGORITHMS

    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--algo", default=None)
    parser.add_argument("-conf", "--conf-file", default=None)
    parser.add_argument("-optimize", "--optimize-hyperparameters", action="store_true")
    known, _ = parser.parse_known_args(argv)
    arguments = list(argv)
    if known.algo is None:
        arguments = ["--algo", "jedi", *arguments]
    algo = (known.algo or "jedi").lower()
    if command == "train" and algo in ALGORITHMS:
        if known.optimize_hyperparameters:
            raise ValueError(
                f"The zoo has no hyper-parameter sampler for {algo} (-optimize samples only its own algorithms): "
                "search with your own Optuna loop around sb3_jedi.JEDI, or set values with -params KEY:VALUE."
            )
        if known.conf_file is None:
            arguments += ["-conf", str(default_hyperparams_file(algo))]
    return arguments


def register_algorithms() -> None:
    """
    Add ``jedi`` and ``diamond`` to rl-zoo3's algorithms (``rl_zoo3.ALGOS``), where its ``train`` and ``enjoy`` look
    them up. Needs rl-zoo3 (``pip install "sb3-jedi[zoo]"``).
    """
    import rl_zoo3
    import rl_zoo3.enjoy
    import rl_zoo3.exp_manager
    import rl_zoo3.train

    from sb3_jedi.registry import ALGORITHMS, get_algorithm

    # The package re-exports ALGOS without declaring it: read it from the module's namespace.
    algos: dict[str, Any] = vars(rl_zoo3)["ALGOS"]
    for name in ALGORITHMS:
        algos[name] = get_algorithm(name)
    # These modules imported the dict by name: point them at the completed one (the zoo's recipe for outside algorithms).
    for module in (rl_zoo3.train, rl_zoo3.exp_manager, rl_zoo3.enjoy):
        setattr(module, "ALGOS", algos)  # noqa: B010 (an attribute the modules do not declare)


def main(argv: Sequence[str] | None = None) -> int:
    """
    Entry point of ``python -m sb3_jedi.zoo COMMAND [zoo options]``: ``train`` or ``enjoy`` of rl-zoo3, with JEDI and
    DIAMOND registered.

    :param argv: the command and its arguments (default: the process's)
    :return: the exit status
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        print(
            f"usage: {PROGRAM} {{{','.join(COMMANDS)}}} [rl-zoo3 options]\n"
            f"  {PROGRAM} train --env CartPole-v1 -n 30000 --eval-freq 5000\n"
            f"  {PROGRAM} train --env PongNoFrameskip-v4\n"
            f"  {PROGRAM} enjoy --env CartPole-v1 -f logs\n"
            f"`{PROGRAM} train --help` lists the zoo's options.",
            file=sys.stderr,
        )
        return 0 if argv[:1] in (["-h"], ["--help"]) else 2
    command = argv[0]
    try:
        arguments = zoo_arguments(command, argv[1:])
        register_algorithms()
    except ImportError:
        print(f"{PROGRAM}: error: {INSTALL_HINT}", file=sys.stderr)
        return 2
    except ValueError as error:
        print(f"{PROGRAM} {command}: error: {error}", file=sys.stderr)
        return 2
    import rl_zoo3.enjoy
    import rl_zoo3.train

    run = rl_zoo3.train.train if command == "train" else rl_zoo3.enjoy.enjoy
    # The zoo's commands parse sys.argv themselves.
    saved_argv = sys.argv
    sys.argv = [f"{PROGRAM} {command}", *arguments]
    try:
        run()
    finally:
        sys.argv = saved_argv
    return 0


if __name__ == "__main__":
    sys.exit(main())
