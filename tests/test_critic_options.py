"""Options of the critic: a replay value loss on real segments, and a critic with its own trunk and LSTM."""

import numpy as np
import pytest
import torch as th
from saved_models import rewrite_zip
from tiny_settings import TINY

from sb3_jedi import JEDI


def _trained_model(**kwargs) -> JEDI:
    model = JEDI("MlpPolicy", "CartPole-v1", seed=0, wm_log_interval=None, **{**TINY, **kwargs})
    model.learn(200)
    return model


OFF = {"replay_value_coef": 0.0, "self_imitation_coef": 0.0}


def test_replay_value_loss_off_at_zero_and_logged_when_on():
    assert "replay_value_loss" not in _trained_model(**OFF).train_actor_critic(8)
    logs = _trained_model(**{**OFF, "replay_value_coef": 0.3}).train_actor_critic(8)
    assert np.isfinite(logs["replay_value_loss"]) and logs["replay_value_loss"] >= 0.0


def test_self_imitation_off_at_zero_and_logged_when_on():
    assert "self_imitation_loss" not in _trained_model(**OFF).train_actor_critic(8)
    logs = _trained_model(**{**OFF, "self_imitation_coef": 1.0}).train_actor_critic(8)
    assert np.isfinite(logs["self_imitation_loss"]) and logs["self_imitation_loss"] >= 0.0


def test_mlp_policy_defaults_log_both_replay_losses():
    logs = _trained_model().train_actor_critic(8)
    assert logs["replay_value_loss"] > 0.0 and logs["self_imitation_loss"] >= 0.0


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


def _as_saved_before_the_options(data: dict) -> None:
    """Edit a saved model's ``data`` as an older version wrote it: no critic layout and none of the replay or
    exploration-episode hyper-parameters (their initial exploration was always uniform)."""
    assert data["policy_kwargs"]["actor_critic_kwargs"].pop("separate_critic") is False
    for name in ("initial_exploration", "exploration_episodes", "replay_value_coef", "self_imitation_coef"):
        del data[name]
    del data["self_imitation_margin"]
    del data["imagination_restarts"]


def test_models_saved_before_the_options_load_as_they_were_trained(tmp_path):
    old_behaviour = {
        "initial_exploration": "uniform",
        "exploration_episodes": 0.0,
        "self_imitation_margin": 0.0,
        "imagination_restarts": False,
        **OFF,
    }
    shared = {"actor_critic_kwargs": {"separate_critic": False}}
    model = JEDI("MlpPolicy", "CartPole-v1", seed=0, policy_kwargs=shared, **{**TINY, **old_behaviour})
    model.save(tmp_path / "new.zip")
    rewrite_zip(tmp_path / "new.zip", tmp_path / "old.zip", edit_data=_as_saved_before_the_options)
    loaded = JEDI.load(tmp_path / "old.zip")  # today's defaults would build a separate critic its weights do not fit
    assert not loaded.policy.actor_critic.separate_critic
    assert {name: getattr(loaded, name) for name in old_behaviour} == old_behaviour
    for name, value in model.policy.state_dict().items():
        assert th.equal(loaded.policy.state_dict()[name], value), name
    # A file of this version keeps what it was trained with, defaults included.
    JEDI("MlpPolicy", "CartPole-v1", seed=0, **TINY).save(tmp_path / "defaults.zip")
    new = JEDI.load(tmp_path / "defaults.zip")
    assert new.policy.actor_critic.separate_critic and (new.self_imitation_coef, new.exploration_episodes) == (1.0, 0.25)
    assert new.self_imitation_margin == 0.25
    assert new.initial_exploration == "random_linear"


def test_cnn_models_saved_before_diamond_blocks_load_with_their_blocks(tmp_path):
    from gymnasium.wrappers import TimeLimit
    from tiny_settings import SMALL_CNN
    from toy_envs import RandomImages

    env = TimeLimit(RandomImages((32, 32, 3)), 30)
    earlier = JEDI("CnnPolicy", env, seed=0, policy_kwargs={**SMALL_CNN, "diamond_blocks": False}, **TINY)
    assert earlier.policy_kwargs["diamond_blocks"] is False
    earlier.save(tmp_path / "earlier.zip")

    def as_saved_before_diamond_blocks(data: dict) -> None:
        assert data["policy_kwargs"].pop("diamond_blocks") is False

    rewrite_zip(tmp_path / "earlier.zip", tmp_path / "old.zip", edit_data=as_saved_before_diamond_blocks)
    loaded = JEDI.load(tmp_path / "old.zip")  # today's default blocks would not fit its weights
    assert loaded.policy.diamond_blocks is False and loaded.policy.world_model.reward_end_model.norm_out is not None
    for name, value in earlier.policy.state_dict().items():
        assert th.equal(loaded.policy.state_dict()[name], value), name
    # A file of this version names its blocks, so it loads with them whatever the default becomes.
    JEDI("CnnPolicy", env, seed=0, policy_kwargs=SMALL_CNN, **TINY).save(tmp_path / "today.zip")
    today = JEDI.load(tmp_path / "today.zip")
    assert today.policy_kwargs["diamond_blocks"] is True and today.policy.world_model.reward_end_model.norm_out is None
