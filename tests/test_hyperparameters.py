"""``JEDI.hyperparameters``: the one list of a model's hyper-parameters that config.json, run.json and results use."""

import inspect

import pytest

from sb3_jedi import DIAMOND, JEDI
from sb3_jedi.evaluation.runner import _resolved_hyperparams
from sb3_jedi.hub import _hyperparameters
from sb3_jedi.jedi import ATARI_DEFAULTS, VECTOR_DEFAULTS

# Constructor arguments that say what to train on, where and how verbosely, or which networks: not hyper-parameters.
NOT_HYPERPARAMETERS = {"self", "policy", "env", "policy_kwargs", "tensorboard_log", "verbose", "device", "seed"}


@pytest.mark.parametrize(("algorithm", "policy"), [(JEDI, "MlpPolicy"), (JEDI, "CnnPolicy"), (DIAMOND, "CnnPolicy")])
def test_every_constructor_hyperparameter_is_listed(algorithm, policy):
    model = algorithm(policy, None, _init_setup_model=False)
    arguments = {name for name in inspect.signature(algorithm.__init__).parameters if not name.startswith("_")}
    assert set(model.hyperparameters()) == arguments - NOT_HYPERPARAMETERS
    assert set(ATARI_DEFAULTS) <= set(model.hyperparameters())


def test_values_are_the_models_with_defaults_filled_in():
    model = JEDI("MlpPolicy", "CartPole-v1", batch_size=4, stats_window_size=7)
    values = model.hyperparameters()
    assert values["batch_size"] == 4 and values["stats_window_size"] == 7
    assert values["gamma"] == VECTOR_DEFAULTS["gamma"] and values["imagination_horizon"] == 15
    assert values["max_nonfinite_updates"] == 10 and values["train_freq"].frequency == VECTOR_DEFAULTS["train_freq"]
    assert list(values)[: len(VECTOR_DEFAULTS)] == list(VECTOR_DEFAULTS)


def test_run_records_use_the_same_list():
    model = JEDI("MlpPolicy", "CartPole-v1", learning_rate=lambda progress: 2e-3 * progress, seed=3)
    names = set(model.hyperparameters())
    # The Hub's config.json also records the seed; values as JSON.
    hub = _hyperparameters(model)
    assert set(hub) == names | {"seed"} and hub["seed"] == 3 and hub["train_freq"] == [100, "step"]
    # A benchmark result's resolved hyper-parameters: train_freq as a step count, a schedule as its initial value.
    resolved = _resolved_hyperparams(model)
    assert set(resolved) == names and resolved["train_freq"] == 100 and resolved["learning_rate"] == pytest.approx(2e-3)
