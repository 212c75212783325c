"""Options of the critic: a replay value loss on real segments, and a critic with its own trunk and LSTM."""

import numpy as np
import pytest
import torch as th
from tiny_settings import TINY

from sb3_jedi import JEDI


def _trained_model(**kwargs) -> JEDI:
    model = JEDI("MlpPolicy", "CartPole-v1", seed=0, wm_log_interval=None, **{**TINY, **kwargs})
    model.learn(200)
    return model


def test_off_by_default_and_logged_when_on():
    assert "replay_value_loss" not in _trained_model().train_actor_critic(8)
    logs = _trained_model(replay_value_coef=0.3).train_actor_critic(8)
    assert np.isfinite(logs["replay_value_loss"]) and logs["replay_value_loss"] >= 0.0


def test_self_imitation_is_off_by_default_and_logged_when_on():
    assert "self_imitation_loss" not in _trained_model().train_actor_critic(8)
    logs = _trained_model(self_imitation_coef=1.0).train_actor_critic(8)
    assert np.isfinite(logs["self_imitation_loss"]) and logs["self_imitation_loss"] >= 0.0


@pytest.mark.parametrize("name", ["replay_value_coef", "self_imitation_coef"])
def test_negative_weights_are_refused(name):
    with pytest.raises(ValueError, match=name):
        JEDI("MlpPolicy", "CartPole-v1", **{name: -0.1})


def test_the_replay_loss_teaches_the_critic_the_real_returns():
    # CartPole pays +1 per step and ends within a few dozen random steps: the real returns are far above the critic's
    # initial zero. Updates with the replay loss alone (imagined losses switched off) must bring the replay error down.
    model = _trained_model(replay_value_coef=1.0, learning_starts=1_000, batch_size=32)
    th.manual_seed(0)
    before = model._replay_losses(256)["replay_value_loss"].item()
    optimizer = th.optim.Adam(model.policy.actor_critic.parameters(), lr=3e-3)
    for _ in range(150):
        loss = model._replay_losses(32)["replay_value_loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after = model._replay_losses(256)["replay_value_loss"].item()
    assert before > 2.0  # returns of several points against values near 0
    assert after < 0.2 * before


def test_a_separate_critic_learns_predicts_and_reloads(tmp_path):
    model = _trained_model(policy_kwargs={"actor_critic_kwargs": {"separate_critic": True}})
    assert model.policy.actor_critic.separate_critic and model.policy.actor_critic.critic_lstm is not None
    obs = model.get_env().reset()
    actions, state = model.predict(obs, deterministic=True)
    assert state is not None and state[0].shape == (1, 2 * 128)
    model.save(tmp_path / "model.zip")
    loaded = JEDI.load(tmp_path / "model.zip")
    assert loaded.policy.actor_critic.separate_critic
    again, _ = loaded.predict(obs, deterministic=True)
    np.testing.assert_array_equal(actions, again)
