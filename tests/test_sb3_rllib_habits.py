"""What a user coming from Stable-Baselines3 or RLlib types in the first hour: learn(total_timesteps=...) that
continues, predict(), compute_actions on one observation, environment(EnvClass, env_config), the nested result
view, build_algo(), and a ConfigError for builder methods rlhydra has no counterpart of."""
from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest

from rlhydra import ConfigError, PPOConfig, SACConfig
from rlhydra.data.result import Result
from rlhydra.models.rl_module import RLModule

BATCH = 32  # env steps per iteration below: train_batch_size 32 over 4 envs


def ppo(env="CartPole-v1", **env_kwargs):
    return (PPOConfig().environment(env, **env_kwargs).training(train_batch_size=BATCH, minibatch_size=16, num_epochs=1)
            .env_runners(num_envs_per_env_runner=4).evaluation(interval=0, final=False, episodes=2, num_envs=2)
            .rl_module(hidden_sizes=[8]))


class KwargsEnv(gym.Env):
    """Gymnasium style: env_config arrives as keyword arguments."""

    def __init__(self, size: int = 3, reward: float = 0.0, render_mode=None):
        self.size, self.reward = size, reward
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (size,), np.float32)
        self.action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(self.size, np.float32), {}

    def step(self, action):
        self.t += 1
        return np.zeros(self.size, np.float32), self.reward, False, self.t >= 5, {}


class ConfigDictEnv(KwargsEnv):
    """RLlib style: env_config arrives as one dict."""

    def __init__(self, config):
        super().__init__(**config)


# ---- learn() ------------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [64, 40])
def test_two_learn_calls_of_n_timesteps_continue_and_end_on_whole_iterations(n):
    with ppo().build_algo() as algo:
        first = algo.learn(total_timesteps=n)
        after_first = algo.env_steps
        second = algo.learn(total_timesteps=n)
        after_second = algo.env_steps
    assert after_first == math.ceil(n / BATCH) * BATCH
    assert after_second == math.ceil((after_first + n) / BATCH) * BATCH  # 2n when BATCH divides n
    assert (after_first, after_second) == (64, 128)  # 40: 2 iterations, then 64 + 40 = 104 -> 4 iterations
    assert first["iteration"] == after_first // BATCH and second["iteration"] == after_second // BATCH


def test_learn_positional_is_total_timesteps_and_total_steps_is_the_absolute_target():
    with ppo().build_algo() as algo:
        algo.learn(BATCH)
        algo.learn(BATCH)  # SB3's model.learn(5000) twice: twice the steps
        assert algo.env_steps == 2 * BATCH
        algo.learn(total_steps=3 * BATCH)
        assert algo.env_steps == 3 * BATCH
        with pytest.warns(UserWarning, match="nothing to train; learn\\(total_timesteps=N\\) trains N more"):
            assert algo.learn(total_steps=BATCH) == {}
        assert algo.env_steps == 3 * BATCH
        with pytest.raises(ConfigError, match="give one"):
            algo.learn(total_timesteps=1, total_steps=1)


def test_the_progress_bar_reaches_the_target(capsys):
    with ppo().build_algo() as algo:
        algo.learn(total_timesteps=2 * BATCH, progress_bar=True)
    err = capsys.readouterr().err
    assert "64/64" in err and "env_steps=64" in err


def test_the_plain_progress_printer_writes_one_line_per_iteration():
    import io

    from rlhydra.loggers.progress import ProgressBar

    out = io.StringIO()
    bar = ProgressBar(0, 100, file=out, use_tqdm=False)
    bar.log({"iteration": 1, "env_steps": 64, "train/episode_return_mean": 9.5})
    bar.log({"iteration": 2, "env_steps": 128, "train/episode_return_mean": None})
    assert out.getvalue().splitlines() == [
        "rlhydra: iteration 1: 64/100 env steps (64%), episode_return_mean=9.50",
        "rlhydra: iteration 2: 128/100 env steps (128%), episode_return_mean=n/a",
    ]


# ---- predict / compute_actions ----------------------------------------------------------------------
@pytest.mark.parametrize("env, obs_shape, action_shape", [
    ("CartPole-v1", (4,), ()), ("Pendulum-v1", (3,), (1,)),
])
def test_predict_takes_one_observation_or_a_batch_and_equals_compute_actions(env, obs_shape, action_shape, tmp_path):
    builder = ppo(env) if env == "CartPole-v1" else (
        SACConfig().environment(env).training(train_batch_size=BATCH, learning_starts=0, minibatch_size=16)
        .env_runners(num_envs_per_env_runner=4).evaluation(interval=0, final=False).rl_module(hidden_sizes=[8]))
    rng = np.random.default_rng(0)
    one = rng.uniform(-1, 1, obs_shape).astype(np.float32)
    batch = rng.uniform(-1, 1, (5, *obs_shape)).astype(np.float32)
    with builder.build_algo() as algo:
        algo.train()
        action, state = algo.predict(one)
        actions, _ = algo.predict(batch, deterministic=True)
        assert state is None and np.shape(action) == action_shape and actions.shape == (5, *action_shape)
        np.testing.assert_array_equal(actions, algo.compute_actions(batch))
        np.testing.assert_array_equal(action, algo.compute_actions(one))  # one observation works too
        np.testing.assert_array_equal(action, algo.compute_single_action(one))
        np.testing.assert_array_equal(action, algo.compute_actions(one[None])[0])
        sampled, _ = algo.predict(batch, deterministic=False)
        assert sampled.shape == actions.shape and algo.action_space.contains(sampled[0])
        path = algo.save(str(tmp_path / "ckpt"))
    module = RLModule.from_checkpoint(path)
    m_action, m_state = module.predict(one, state="s")
    np.testing.assert_array_equal(m_action, action)
    assert m_state == "s"
    np.testing.assert_array_equal(module.predict(batch)[0], actions)
    with pytest.raises(ConfigError, match="explore=True"):
        module.predict(one, deterministic=False)


# ---- results ----------------------------------------------------------------------------------
def test_the_nested_result_view_equals_the_flat_values():
    with ppo().evaluation(interval=1).build_algo() as algo:
        result = algo.train()
    assert isinstance(result, Result)
    assert result["env_runners"]["episode_return_mean"] == result["train/episode_return_mean"]
    assert result["env_runners"]["episode_len_mean"] == result["train/episode_length_mean"]
    assert result["env_runners"]["num_env_steps_sampled_lifetime"] == result["env_steps"] == BATCH
    assert result["learners"]["default_policy"]["policy_loss"] == result["learner/policy_loss"]
    assert result["learners"]["lr"] == result["learner/lr"]
    assert result["evaluation"]["env_runners"]["episode_return_mean"] == result["eval/episode_return_mean"]
    assert result["evaluation"]["env_runners"]["num_episodes"] == 2
    assert (result["training_iteration"], result["perf"]["env_steps_per_s"]) == (1, result["perf/env_steps_per_s"])
    assert result.get("env_runners")["episode_return_mean"] == result["train/episode_return_mean"]
    # loggers and JSON see the flat keys only
    assert all(not isinstance(v, dict) for v in result.values()) and "env_runners" not in result
    with pytest.raises(KeyError, match="nested: "):
        result["no_such_key"]


# ---- environment(Class, env_config) ----------------------------------------------------------------
@pytest.mark.parametrize("cls", [KwargsEnv, ConfigDictEnv])
def test_an_env_class_gets_env_config_in_its_constructor(cls):
    builder = ppo(cls, env_config={"size": 5, "reward": 2.0})
    assert builder.config.env.id == f"tests.test_sb3_rllib_habits:{cls.__qualname__}"  # importable: workers make it
    with builder.build_algo() as algo:
        assert algo.env_observation_space.shape == (5,)
        result = algo.train()
    assert result["train/episode_return_mean"] == 10.0  # 5 steps x reward 2.0 per episode
    with ppo(cls, env_config={"size": 2}).env_runners(num_env_runners=1).build_algo() as algo:  # a runner process
        assert algo.train()["env_steps"] == BATCH


def test_an_env_class_from_main_works_in_process_and_spawned_runners_are_refused_clearly():
    class LocalEnv(KwargsEnv):
        pass

    builder = ppo(LocalEnv, env_config={"size": 4})
    assert builder.config.env.id.startswith("rlhydra/")  # registered here under a generated id
    with builder.build_algo() as algo:
        assert algo.env_observation_space.shape == (4,)
        algo.train()
    with pytest.raises(ConfigError) as info:
        builder.env_runners(num_env_runners=1, start_method="spawn").build_algo()
    message = str(info.value)
    assert "environment(test_an_env_class_from_main" in message and "inside a function" in message
    assert "Move the class into a module" in message and "env_runners.num_env_runners=1" in message


def test_the_command_line_form_names_an_env_class():
    from rlhydra.env.make import resolve_env_spec

    spec = resolve_env_spec("tests.test_sb3_rllib_habits:KwargsEnv")
    assert gym.make(spec.id, size=7).observation_space.shape == (7,)


@pytest.mark.parametrize("call, message", [
    (lambda b: b.environment(KwargsEnv(size=2)), "got an env instance. Pass the env's class"),
    (lambda b: b.environment(int), "int is not a gymnasium.Env subclass"),
    (lambda b: b.environment(lambda cfg: KwargsEnv()), "gymnasium.register(id='MyEnv-v0', entry_point=creator)"),
    (lambda b: b.framework("tf2"), "PPOConfig().framework('tf2'): torch is the only framework"),
    (lambda b: b.rollouts(num_rollout_workers=2), "PPOConfig().rollouts(): RLlib renamed it: use .env_runners("),
    (lambda b: b.training(lrr=1e-3), "PPOConfig().training() got an unknown argument 'lrr'"),
])
def test_what_the_builder_cannot_take_is_a_config_error_naming_method_argument_and_fix(call, message):
    with pytest.raises(ConfigError) as info:
        call(PPOConfig())
    assert message in str(info.value)


def test_build_algo_is_build():
    with PPOConfig().environment("CartPole-v1").build_algo() as algo:
        assert type(algo).__name__ == "PPO" and algo.config.env.id == "CartPole-v1"
    with pytest.raises(AttributeError):
        PPOConfig().no_such_method  # noqa: B018  (other names stay AttributeErrors)


def test_rllib_builder_calls_for_the_new_stack_are_no_ops_and_model_config_names_map():
    from rlhydra import ConfigError, PPOConfig

    builder = (PPOConfig().framework("torch")
               .api_stack(enable_rl_module_and_learner=True, enable_env_runner_and_connector_v2=True)
               .rl_module(model_config={"fcnet_hiddens": [32, 16], "fcnet_activation": "relu"}))
    assert builder.config.module["hidden_sizes"] == [32, 16] and builder.config.module["activation"] == "relu"
    with pytest.raises(ConfigError, match="torch is the only framework"):
        PPOConfig().framework("tf2")
    with pytest.raises(ConfigError, match="new API stack only"):
        PPOConfig().api_stack(enable_rl_module_and_learner=False)


def test_evaluate_reads_like_rllib_and_save_to_path_saves(tmp_path):
    from rlhydra import Algorithm, PPOConfig

    with (PPOConfig().environment("CartPole-v1").training(train_batch_size=64, minibatch_size=64, num_epochs=1)
          .evaluation(evaluation_interval=0, evaluation_duration=2).build_algo()) as algo:
        algo.train()
        out = algo.evaluate()
        assert out["env_runners"]["episode_return_mean"] == out["eval/episode_return_mean"]
        assert out["evaluation"]["env_runners"]["episode_return_mean"] == out["eval/episode_return_mean"]
        path = algo.save_to_path(str(tmp_path / "ckpt"))
    with Algorithm.from_checkpoint(path) as restored:
        assert restored.env_steps == 64
