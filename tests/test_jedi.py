"""SB3's generic algorithm tests, adapted to JEDI (recurrent acting, episodic buffer, several optimisers)."""

import zipfile

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy
from tiny_settings import TINY
from toy_envs import RandomImages

from sb3_jedi import JEDI
from sb3_jedi.buffers import EpisodeReplayBuffer


def tiny_model(env="CartPole-v1", **kwargs) -> JEDI:
    return JEDI("MlpPolicy", env, **{**TINY, **kwargs})


def params_of(model: JEDI) -> dict[str, th.Tensor]:
    return {k: v.detach().clone() for k, v in model.policy.state_dict().items()}


def test_tiny_run_trains_every_epoch_after_learning_starts():
    model = JEDI("MlpPolicy", "CartPole-v1", learning_starts=100, train_freq=50, gradient_steps=5, batch_size=8)
    model.learn(250)
    assert model.num_timesteps == 250
    assert model.replay_buffer.n_transitions == 250
    # Epochs end at 50, 100, ..., 250; training follows those past learning_starts: 150 (the first epoch: 25 x 5 world-
    # model and 12.5 x 5 (rounded to even) actor-critic updates), 200 and 250 (5 + 5 each).
    assert model._n_train_calls == 3
    assert model._world_model_updates == 125 + 5 + 5
    assert model._actor_critic_updates == 62 + 5 + 5


def test_predict_single_and_batch_with_and_without_state():
    model = tiny_model()
    env = gym.make("CartPole-v1")
    obs, _ = env.reset(seed=0)
    action, state = model.predict(obs)
    assert np.shape(action) == () and model.action_space.contains(int(action))
    assert state[0].shape == (1, model.policy.actor_critic.lstm_dim)
    _action2, state2 = model.predict(obs, state=state, episode_start=np.array([False]))
    assert not np.allclose(state2[0], state[0])  # the LSTM state moved on

    batch = np.stack([obs, obs * 0.5, obs * -1.0])
    actions, batch_state = model.predict(batch, deterministic=True)
    assert actions.shape == (3,)
    assert batch_state[0].shape == (3, model.policy.actor_critic.lstm_dim)
    # episode_start resets the state: same as passing no state at all.
    fresh, _ = model.predict(batch, deterministic=True)
    restarted, _ = model.predict(batch, state=batch_state, episode_start=np.ones(3, dtype=bool), deterministic=True)
    np.testing.assert_array_equal(fresh, restarted)
    with pytest.raises(ValueError, match="state"):
        model.predict(batch, state=state)  # a state from a batch of 1
    with pytest.raises(ValueError, match="observation shape"):
        model.predict(np.zeros((2, 5), dtype=np.float32))


def test_save_load_gives_identical_parameters_and_actions(tmp_path):
    model = tiny_model(seed=0)
    model.learn(200)
    obs = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    actions, state = model.predict(obs, deterministic=True)
    model.save(tmp_path / "jedi")
    loaded = JEDI.load(tmp_path / "jedi", device="cpu")
    before, after = params_of(model), params_of(loaded)
    assert before.keys() == after.keys()
    for key in before:
        assert th.equal(before[key], after[key]), key
    loaded_actions, loaded_state = loaded.predict(obs, deterministic=True)
    np.testing.assert_array_equal(actions, loaded_actions)
    np.testing.assert_allclose(state[0], loaded_state[0])
    # Hyper-parameters and optimiser states survive too.
    assert loaded.imagination_horizon == 4 and loaded.gradient_steps == 2
    assert loaded.policy.world_model_optimizer.state_dict()["state"].keys() == (
        model.policy.world_model_optimizer.state_dict()["state"].keys()
    )
    # Every tensor file in the zip loads with weights_only=True (no arbitrary unpickling).
    with zipfile.ZipFile(tmp_path / "jedi.zip") as archive:
        names = [n for n in archive.namelist() if n.endswith(".pth")]
        assert {"policy.pth", "policy.world_model_optimizer.pth", "policy.actor_critic_optimizer.pth"} <= set(names)
        for name in names:
            with archive.open(name) as f:
                th.load(f, weights_only=True)


def test_set_env_and_num_timesteps_continue():
    model = tiny_model()
    model.learn(150)
    assert model.num_timesteps == 150
    model.set_env(make_vec_env("CartPole-v1", n_envs=1))
    model.learn(100, reset_num_timesteps=False)
    assert model.num_timesteps == 250
    model.learn(100)
    assert model.num_timesteps == 100
    with pytest.raises(ValueError, match="built for 1"):
        model.set_env(make_vec_env("CartPole-v1", n_envs=2))
    with pytest.raises(ValueError):
        model.set_env(make_vec_env("MountainCar-v0", n_envs=1))  # other observation space


def test_replay_buffer_save_load(tmp_path):
    model = tiny_model()
    model.learn(150)
    model.save_replay_buffer(tmp_path / "buffer")
    other = tiny_model()
    other.load_replay_buffer(tmp_path / "buffer.pkl")
    assert isinstance(other.replay_buffer, EpisodeReplayBuffer)
    assert other.replay_buffer.n_transitions == model.replay_buffer.n_transitions == 150
    np.testing.assert_array_equal(other.replay_buffer.observations, model.replay_buffer.observations)


class LocalsProbe(BaseCallback):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self.training_flags: list[bool] = []

    def _on_step(self) -> bool:
        for key in ("new_obs", "rewards", "dones", "infos", "actions"):
            assert key in self.locals, key
        assert self.locals["new_obs"].shape == (self.training_env.num_envs, 4)
        self.training_flags.append(self.model.policy.training)
        self.calls += 1
        return True


def test_callback_locals_and_eval_mode_while_acting():
    model = tiny_model()
    probe = LocalsProbe()
    model.learn(200, callback=probe)
    assert probe.calls == 200
    assert not any(probe.training_flags)


def test_callback_can_stop_training():
    class StopAt(BaseCallback):
        def _on_step(self) -> bool:
            return self.num_timesteps < 30

    model = tiny_model()
    model.learn(500, callback=StopAt())
    assert model.num_timesteps == 30


def test_tensorboard_run_naming(tmp_path):
    pytest.importorskip("tensorboard")
    model = tiny_model(tensorboard_log=str(tmp_path))
    model.learn(150)
    model.learn(150, tb_log_name="custom")
    model.learn(150)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["JEDI_1", "JEDI_2", "custom_1"]
    assert any(f.name.startswith("events.out.tfevents") for f in (tmp_path / "JEDI_1").iterdir())


def test_same_seed_same_actions_and_parameters():
    def run() -> tuple[dict[str, th.Tensor], np.ndarray]:
        model = tiny_model(seed=7)
        model.learn(200)
        obs = np.linspace(-1, 1, 40, dtype=np.float32).reshape(10, 4)
        return params_of(model), model.predict(obs, deterministic=True)[0]

    params_a, actions_a = run()
    params_b, actions_b = run()
    for key in params_a:
        assert th.equal(params_a[key], params_b[key]), key
    np.testing.assert_array_equal(actions_a, actions_b)


def test_two_envs_learn_and_evaluate_policy_runs_end_to_end():
    env = make_vec_env("CartPole-v1", n_envs=2, seed=0)
    model = tiny_model(env)
    model.learn(300)
    assert model.num_timesteps == 300
    assert model.replay_buffer.n_transitions == 300
    returns, lengths = evaluate_policy(
        model, make_vec_env("CartPole-v1", n_envs=2, seed=1), n_eval_episodes=4, return_episode_rewards=True
    )
    assert len(returns) == 4 and returns == [float(n) for n in lengths]  # CartPole: +1 per step
    # Greedy actions on envs seeded alike: the summary form gives the same episodes.
    mean, std = evaluate_policy(model, make_vec_env("CartPole-v1", n_envs=2, seed=1), n_eval_episodes=4)
    assert (mean, std) == (np.mean(returns), np.std(returns))


class _SpacesEnv(gym.Env):
    def __init__(self, observation_space, action_space) -> None:
        self.observation_space, self.action_space = observation_space, action_space

    def reset(self, *, seed=None, options=None):
        return self.observation_space.sample(), {}

    def step(self, action):
        return self.observation_space.sample(), 0.0, False, False, {}


@pytest.mark.parametrize(
    ("policy", "env", "match"),
    [
        ("MlpPolicy", _SpacesEnv(spaces.Box(-1, 1, (4,)), spaces.Box(-1, 1, (2,))), "Discrete"),
        ("MlpPolicy", _SpacesEnv(spaces.Box(-1, 1, (4,)), spaces.MultiDiscrete([2, 3])), "Discrete"),
        ("MlpPolicy", _SpacesEnv(spaces.Dict({"a": spaces.Box(-1, 1, (4,))}), spaces.Discrete(2)), "Dict"),
        ("CnnPolicy", "CartPole-v1", "MlpPolicy for vector"),
        ("CnnPolicy", RandomImages((60, 60, 3)), "multiples of 8"),
        ("NoSuchPolicy", "CartPole-v1", "Unknown policy"),
    ],
)
def test_bad_input_is_a_clear_value_error(policy, env, match):
    with pytest.raises(ValueError, match=match):
        JEDI(policy, env)


def test_bad_hyperparameters_are_named():
    with pytest.raises(ValueError, match="imagination_horizon"):
        tiny_model(imagination_horizon=0)


def test_cnn_policy_on_a_real_atari_game():
    from sb3_jedi.envs import make_atari100k_env

    env = make_atari100k_env("Pong", seed=0)
    model = JEDI(
        "CnnPolicy",
        env,
        learning_starts=150,
        train_freq=100,
        gradient_steps=1,
        actor_critic_gradient_steps=1,
        first_epoch_gradient_steps=2,
        first_epoch_actor_critic_gradient_steps=1,
        learning_starts_max=200,
        batch_size=2,
        buffer_size=1_000,
        seed=0,
    )
    assert model.policy.world_model.state_shape == (16, 8, 8) and model.unroll_steps == 2
    model.learn(400)
    assert model.num_timesteps == 400
    assert model.replay_buffer.observations.dtype == np.uint8
    # The initial collection ends at the first epoch boundary past learning_starts (200 steps, learning_starts_max):
    # as SB3, training follows at once since 200 > 150, then every 100 steps; 5% of 4 epochs rounds to no final epoch.
    assert model._initial_collection_done and model._random_steps_until == 150
    assert model._world_model_updates == 2 + 2 and model._actor_critic_updates == 1 + 2
    obs = env.reset()
    actions, _state = model.predict(obs, deterministic=True)
    assert actions.shape == (1,) and env.action_space.contains(int(actions[0]))


def test_cnn_policy_defaults_are_the_papers_numbers():
    # Literal values from the paper and DIAMOND (not ATARI_DEFAULTS itself): a changed default fails here.
    model = JEDI("CnnPolicy", RandomImages((64, 64, 3)), buffer_size=1_000)
    policy = model.policy
    assert model.learning_rate == 1e-4 and model.lr_schedule(1.0) == 1e-4
    assert model.learning_starts == 5_000
    assert model.batch_size == 32
    assert model.gamma == 0.985 and model.gae_lambda == 0.95
    assert model.ent_coef == 1e-3 and model.value_coef == 1.0
    assert (model.train_freq.frequency, model.train_freq.unit.value) == (100, "step")
    assert model.gradient_steps == 400
    assert model._actor_critic_steps(400) == 400
    assert model.first_epoch_steps(400) == (10_000, 5_000)
    assert model.imagination_horizon == 15
    assert model.unroll_steps == 2
    assert model.exploration_epsilon == 0.01
    assert model.lr_warmup_steps == 100
    assert model.world_model_max_grad_norm == 1.0
    assert model.reward_end_max_grad_norm == 100.0
    assert model.actor_critic_max_grad_norm == 100.0
    assert model.sample_weights == (0.1, 0.1, 0.1, 0.7)
    assert policy.encoder_lr_scale == 0.3
    assert {group["lr_scale"] for group in policy.world_model_optimizer.param_groups if group["name"] == "encoder"} == {0.3}
    assert policy.random_switching_prob == 0.5 and policy.world_model.random_switching_prob == 0.5
    assert policy.world_model_optimizer_kwargs["weight_decay"] == 1e-2
    assert policy.actor_critic_optimizer_kwargs["weight_decay"] == 0.0


def test_mlp_defaults_differ_and_explicit_values_win():
    mlp = JEDI("MlpPolicy", "CartPole-v1")
    assert (mlp.gamma, mlp.learning_rate, mlp.batch_size, mlp.gradient_steps) == (0.99, 1e-3, 128, 20)
    assert mlp.sample_weights == (0.1, 0.1, 0.1, 0.7)
    explicit = JEDI("MlpPolicy", "CartPole-v1", gamma=0.5, sample_weights=None, target_critic_tau=None)
    assert explicit.gamma == 0.5 and explicit.sample_weights is None and explicit.target_critic_tau is None


def test_eval_callback_runs_unchanged(tmp_path):
    from stable_baselines3.common.callbacks import EvalCallback

    eval_env = make_vec_env("CartPole-v1", n_envs=1, seed=3)
    callback = EvalCallback(
        eval_env, n_eval_episodes=2, eval_freq=100, log_path=str(tmp_path), best_model_save_path=str(tmp_path)
    )
    tiny_model().learn(200, callback=callback)
    evaluations = np.load(tmp_path / "evaluations.npz")
    assert evaluations["timesteps"].tolist() == [100, 200]
    results = evaluations["results"]
    assert results.shape == (2, 2)
    np.testing.assert_array_equal(results, evaluations["ep_lengths"])  # CartPole: +1 per step
    # The best evaluation was saved, at the time step it was reached (the first of equals: EvalCallback needs better).
    assert callback.best_mean_reward == results.mean(axis=1).max()
    best = JEDI.load(tmp_path / "best_model")
    assert best.num_timesteps == evaluations["timesteps"][np.argmax(results.mean(axis=1))]
