"""
Non-finite losses or gradients: the update is skipped (parameters, optimiser and return statistics untouched), counted,
warned about once per epoch, and a streak of them stops training with NonFiniteError naming the component.
"""

import math
import warnings

import numpy as np
import pytest
import torch as th
from stable_baselines3.common.logger import KVWriter, Logger

import sb3_jedi.jedi as jedi_module
from sb3_jedi import JEDI
from sb3_jedi.jedi import NonFiniteError, NonFiniteWarning

TINY = {
    "learning_starts": 100,
    "train_freq": 50,
    "gradient_steps": 3,
    "actor_critic_gradient_steps": 3,
    "first_epoch_gradient_steps": 3,
    "first_epoch_actor_critic_gradient_steps": 3,
    "batch_size": 8,
    "imagination_horizon": 4,
    # No warm-up: DIAMOND's runs its first update at a learning rate of 0, which would leave the weights as they were.
    "lr_warmup_steps": 0,
    "device": "cpu",
    "seed": 0,
}


class Capture(KVWriter):
    """Logger output keeping every dumped key/value."""

    def __init__(self) -> None:
        self.records: list[dict[str, float]] = []

    def write(self, key_values, key_excluded, step=0) -> None:
        self.records.append(dict(key_values))


def collected_model(**kwargs) -> tuple[JEDI, Capture]:
    """A model whose buffer holds 100 random steps and that has not trained yet."""
    model = JEDI("MlpPolicy", "CartPole-v1", **{**TINY, **kwargs})
    model.learn(100)  # exactly learning_starts: collection only
    assert model._world_model_updates == 0
    capture = Capture()
    model.set_logger(Logger(folder=None, output_formats=[capture]))
    return model, capture


def snapshot(model: JEDI) -> dict[str, th.Tensor]:
    """Every parameter and buffer of the policy (target critic and return statistics included) and optimiser state."""
    state = {f"policy.{k}": v.detach().clone() for k, v in model.policy.state_dict().items()}
    for name in ("world_model_optimizer", "actor_critic_optimizer"):
        for index, values in getattr(model.policy, name).state_dict()["state"].items():
            for key, value in values.items():
                state[f"{name}.{index}.{key}"] = th.as_tensor(value).detach().clone()
    return state


def assert_same(before: dict[str, th.Tensor], after: dict[str, th.Tensor]) -> None:
    assert before.keys() == after.keys()
    for key in before:
        assert th.equal(before[key], after[key]), key


def assert_changed(before: dict[str, th.Tensor], after: dict[str, th.Tensor], prefix: str) -> None:
    assert any(not th.equal(before[k], after[k]) for k in before if k.startswith(prefix)), prefix


def nan_denoising_loss(model: JEDI, bad_calls: set[int]) -> list[int]:
    """Make the denoising loss NaN on the given (0-based) calls; returns the call counter."""
    world_model = model.policy.world_model
    original = world_model.denoising_loss
    calls = [0]

    def denoising_loss(batch, states):
        loss, logs = original(batch, states)
        if calls[0] in bad_calls:
            loss = loss * float("nan")
            logs = {**logs, "denoising_loss": float("nan")}
        calls[0] += 1
        return loss, logs

    world_model.denoising_loss = denoising_loss
    return calls


def test_nan_loss_skips_the_world_model_update_and_warns_once():
    model, _ = collected_model()
    nan_denoising_loss(model, bad_calls={0, 1})
    before = snapshot(model)
    with pytest.warns(
        NonFiniteWarning, match=r"skipped an update of the world model .*loss term 'denoising_loss' = nan"
    ) as record:
        model.train_world_model(8)
        model.train_world_model(8)
    assert len([w for w in record if issubclass(w.category, NonFiniteWarning)]) == 1  # not once per step
    assert_same(before, snapshot(model))
    assert model._nonfinite_updates == 2 and model._consecutive_nonfinite["world model"] == 2
    assert model._world_model_updates == 0
    assert all(p.grad is None for p in model.policy.world_model.parameters())

    model.train_world_model(8)  # a good update: it changes the world model and ends the streak
    after = snapshot(model)
    assert_changed(before, after, "policy.world_model.")
    assert model._consecutive_nonfinite["world model"] == 0 and model._world_model_updates == 1


def test_nonfinite_gradients_are_named_by_group():
    model, _ = collected_model()
    encoder_weight = next(model.policy.world_model.encoder.parameters())
    handle = encoder_weight.register_hook(lambda grad: grad * float("inf"))
    before = snapshot(model)
    with pytest.warns(NonFiniteWarning, match=r"grad group 'encoder' norm = (nan|inf)"):
        logs = model.train_world_model(8)
    assert math.isfinite(logs["denoising_loss"])  # the loss was fine: the gradients were not
    assert_same(before, snapshot(model))  # no group stepped, not even the healthy ones
    handle.remove()
    model.train_world_model(8)
    assert_changed(before, snapshot(model), "policy.world_model.denoiser.")


def test_nan_returns_skip_the_actor_critic_update_and_keep_return_statistics(monkeypatch):
    model, _ = collected_model()
    assert model.return_normalization and model.target_critic_tau is not None  # MlpPolicy defaults
    model.train_actor_critic(8)  # initialise the return statistics with a good update
    original = jedi_module.actor_critic_loss

    def nan_rewards(*args, **kwargs):
        args = list(args)
        args[3] = args[3] * float("nan")  # rewards -> NaN returns -> NaN percentiles and loss
        return original(*args, **kwargs)

    monkeypatch.setattr(jedi_module, "actor_critic_loss", nan_rewards)
    before = snapshot(model)
    with pytest.warns(NonFiniteWarning, match=r"skipped an update of the actor-critic .*loss term 'policy_loss' = nan"):
        model.train_actor_critic(8)
    assert_same(before, snapshot(model))  # actor-critic, target critic and return scaler untouched
    assert model._consecutive_nonfinite == {"world model": 0, "actor-critic": 1}
    monkeypatch.setattr(jedi_module, "actor_critic_loss", original)
    model.train_actor_critic(8)
    assert_changed(before, snapshot(model), "policy.actor_critic.")
    assert model._consecutive_nonfinite["actor-critic"] == 0


def test_streak_raises_and_a_good_update_resets_it():
    model, _ = collected_model(max_nonfinite_updates=3)
    nan_denoising_loss(model, bad_calls={0, 1, 3, 4, 5})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NonFiniteWarning)
        for _ in range(5):  # bad, bad, good, bad, bad: never 3 in a row
            model.train_world_model(8)
        assert model._nonfinite_updates == 4 and model._consecutive_nonfinite["world model"] == 2
        with pytest.raises(NonFiniteError, match=r"The world model had non-finite .* in 3 consecutive updates"):
            model.train_world_model(8)


def test_corrupted_parameter_stops_training_with_a_clear_error():
    model, _ = collected_model(max_nonfinite_updates=2)
    with th.no_grad():
        next(model.policy.world_model.denoiser.parameters()).fill_(float("nan"))
    with pytest.warns(NonFiniteWarning), pytest.raises(NonFiniteError) as error:
        model.learn(100, reset_num_timesteps=False)  # the first epoch trains 3 world-model updates
    message = str(error.value)
    assert "world model" in message and "denoising_loss" in message
    assert "VecCheckNan" in message and "max_nonfinite_updates" in message


def test_epoch_logs_the_count_and_warns_once_per_epoch():
    model, capture = collected_model()
    nan_denoising_loss(model, bad_calls={0, 2, 4})  # first epoch: updates 0-2, second epoch: updates 3-5
    for epoch in range(2):
        with pytest.warns(NonFiniteWarning) as record:
            model.train(gradient_steps=3, batch_size=8)
        assert len([w for w in record if issubclass(w.category, NonFiniteWarning)]) == 1, epoch
        model.logger.dump(epoch)
    first, second = capture.records
    assert first["train/nonfinite_updates"] == 2 and second["train/nonfinite_updates"] == 3
    # Skipped updates stay out of the logged means.
    assert math.isfinite(first["train/denoising_loss"]) and math.isfinite(second["train/denoising_loss"])
    assert first["train/world_model_updates"] == 1 and second["train/world_model_updates"] == 3


def test_a_healthy_epoch_logs_zero_and_does_not_warn():
    model, capture = collected_model()
    with warnings.catch_warnings():
        warnings.simplefilter("error", NonFiniteWarning)
        model.train(gradient_steps=3, batch_size=8)
    model.logger.dump(0)
    assert capture.records[0]["train/nonfinite_updates"] == 0


def test_gradients_are_clipped_per_component():
    model, _ = collected_model(world_model_max_grad_norm=1e-4, reward_end_max_grad_norm=1e-2)
    policy = model.policy
    batch = model.replay_buffer.sample_segments(8, 5, np.random.default_rng(0))
    reward_end_batch = model.replay_buffer.sample_segments(8, 8, np.random.default_rng(1))
    policy.world_model_optimizer.zero_grad()
    policy.world_model.compute_loss(batch, reward_end_batch).total.backward()
    norms = model._clip_gradients(policy.world_model_optimizer)
    limits = {"encoder": 1e-4, "denoiser": 1e-4, "decoder": 1e-4, "reward_end": 1e-2}
    assert set(norms) == {f"{name}_grad_norm" for name in limits}
    # A component's parameters may sit in two groups (with and without weight decay): it is clipped as a whole.
    components: dict[str, list] = {}
    for group in policy.world_model_optimizer.param_groups:
        components.setdefault(group["name"], []).extend(group["params"])
    assert set(components) == set(limits)
    for name, params in components.items():
        limit = limits[name]
        assert norms[f"{name}_grad_norm"] > limit  # the clip had something to do
        clipped = th.linalg.vector_norm(th.stack([th.linalg.vector_norm(p.grad) for p in params if p.grad is not None]))
        # Each component is scaled to its own limit, not by a norm taken over all components together.
        assert clipped == pytest.approx(limit, rel=1e-3), name


def test_max_nonfinite_updates_is_validated():
    with pytest.raises(ValueError, match=r"max_nonfinite_updates=0"):
        JEDI("MlpPolicy", "CartPole-v1", max_nonfinite_updates=0)
