"""What docs/ says sb3-jedi supports, each claim exercised once as documented (tiny schedules, a few seconds each)."""

from pathlib import Path

import pytest
import torch as th
from stable_baselines3 import A2C, SAC, TD3
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import SubprocVecEnv, VecTransposeImage
from tiny_settings import SMALL_CNN, TINY
from toy_envs import RandomImages

from sb3_jedi import JEDI
from sb3_jedi.cli import main
from sb3_jedi.registry import load_model
from sb3_jedi.save_util import InvalidCheckpointError, check_jedi_checkpoint

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_the_docs_still_make_the_claims_tested_here():
    can_i_use = (DOCS / "can-i-use.md").read_text()
    assert "| Several envs (`n_envs > 1`, `DummyVecEnv`, `SubprocVecEnv`) | ✔️ |" in can_i_use
    assert "Images may be channel-first or channel-last with 1, 3 or 4 channels" in can_i_use
    reliability = (DOCS / "reliability.md").read_text()
    assert "the message names\n  PPO, A2C, DQN, SAC, TD3" in reliability


# docs/can-i-use.md: "Several envs (`n_envs > 1`, `DummyVecEnv`, `SubprocVecEnv`) ✔️".
def test_learns_on_a_subproc_vec_env():
    env = make_vec_env("CartPole-v1", n_envs=2, seed=0, vec_env_cls=SubprocVecEnv)
    try:
        model = JEDI("MlpPolicy", env, seed=0, **TINY)
        model.learn(200)
        assert model.n_envs == 2 and model.num_timesteps == 200
        assert model.replay_buffer.n_transitions == 200
        # Rollouts of 50 steps per env (100 transitions): the first epoch (3 + 2 updates) follows the second rollout.
        assert (model._world_model_updates, model._actor_critic_updates) == (3, 2)
        actions, _ = model.predict(env.reset(), deterministic=True)
        assert actions.shape == (2,) and all(env.action_space.contains(int(a)) for a in actions)
    finally:
        env.close()


# docs/can-i-use.md: "Images may be channel-first or channel-last with 1, 3 or 4 channels (SB3 transposes channel-last
# images)." Three channels: tests/test_jedi.py and the Atari tests.
@pytest.mark.parametrize("channels", [1, 4])
@pytest.mark.parametrize("channels_first", [True, False], ids=["channel-first", "channel-last"])
def test_cnn_policy_learns_on_1_and_4_channel_images(channels, channels_first):
    shape = (channels, 16, 16) if channels_first else (16, 16, channels)
    env = RandomImages(shape)
    model = JEDI("CnnPolicy", env, seed=0, buffer_size=1_000, learning_starts_max=100, policy_kwargs=SMALL_CNN, **TINY)
    assert model.observation_space.shape == (channels, 16, 16)
    assert isinstance(model.get_env(), VecTransposeImage) is not channels_first
    model.learn(150)
    assert (model._world_model_updates, model._actor_critic_updates) == (3, 2)
    assert model.replay_buffer.observations.shape[1:] == (channels, 16, 16)
    world_model = model.policy.world_model
    with th.no_grad():
        frames = world_model.decode(world_model.encode(th.as_tensor(model.replay_buffer.observations[:2])))
    assert frames.shape == (2, channels, 16, 16)
    # predict takes observations as the env gives them.
    action, _ = model.predict(env.observation_space.sample())
    assert env.action_space.contains(int(action))


@pytest.mark.parametrize("shape", [(2, 16, 16), (16, 16, 2)], ids=["channel-first", "channel-last"])
def test_cnn_policy_refuses_other_channel_counts(shape):
    with pytest.raises(ValueError, match="1, 3 or 4 channels"):
        JEDI("CnnPolicy", RandomImages(shape), buffer_size=1_000, policy_kwargs=SMALL_CNN)


# docs/reliability.md: "Stable-Baselines3 models are recognised by their policy class (the message names PPO, A2C, DQN,
# SAC, TD3 ..., and says to use `PPO.load`, ...)"; PPO and DQN: tests/test_bad_inputs.py.
@pytest.mark.parametrize(
    ("algorithm", "env_id", "name"),
    [(A2C, "CartPole-v1", "A2C"), (SAC, "Pendulum-v1", "SAC"), (TD3, "Pendulum-v1", "TD3")],
    ids=["A2C", "SAC", "TD3"],
)
def test_other_algorithms_zips_are_recognised(tmp_path, capsys, algorithm, env_id, name):
    kwargs = {} if algorithm is A2C else {"buffer_size": 100}
    algorithm("MlpPolicy", env_id, device="cpu", **kwargs).save(tmp_path / "other")
    path = tmp_path / "other.zip"
    message = rf"not a JEDI model: it was saved by {name}\b.*{name}\.load\(path\)"
    with pytest.raises(InvalidCheckpointError, match=message):
        check_jedi_checkpoint(path)
    with pytest.raises(InvalidCheckpointError, match=message):
        load_model(path)
    with pytest.raises(InvalidCheckpointError, match=message):
        JEDI.load(path)
    assert main(["evaluate", str(path), "--env", env_id]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sb3-jedi evaluate: error: ") and f"saved by {name}" in err and f"{name}.load(path)" in err


def test_the_documented_diamond_behaviour_for_vector_observations_switches_every_option_off():
    can_i_use = (DOCS / "can-i-use.md").read_text()
    section = can_i_use[can_i_use.index("## Goals that random actions rarely reach") :]
    code = section[section.index("```python") + len("```python") : section.index("```", section.index("```python") + 9)]
    namespace: dict = {"JEDI": JEDI}
    exec(code, namespace)
    model = namespace["model"]
    assert (model.initial_exploration, model.exploration_episodes) == ("uniform", 0.0)
    assert (model.replay_value_coef, model.self_imitation_coef) == (0.0, 0.0)
    assert not model.policy.actor_critic.separate_critic
