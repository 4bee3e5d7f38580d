"""The local EnvRunner: one batched forward per vector step, correct next observations at episode ends."""
from __future__ import annotations

import numpy as np
import pytest

from rlhydra.algorithms.ppo.module import PPOModule
from rlhydra.config.schema import EnvConfig, EnvRunnersConfig
from rlhydra.core import columns as C
from rlhydra.env.env_runner import EnvRunner
from rlhydra.env.make import env_spaces


def make_runner(env: EnvConfig, num_envs: int = 4, **kwargs) -> EnvRunner:
    obs_space, act_space = env_spaces(env)
    return EnvRunner(env, EnvRunnersConfig(), PPOModule(obs_space, act_space), num_envs=num_envs, seed=0, **kwargs)


def test_one_batched_forward_per_vector_step():
    runner = make_runner(EnvConfig(id="CartPole-v1"), num_envs=4)
    calls = []
    forward = runner._forward

    def counting(batch):
        calls.append(batch[C.OBS].shape)
        return forward(batch)

    runner._forward = counting
    rollout = runner.sample(10)
    assert calls == [(4, 4)] * 10
    assert rollout.num_steps == 40
    assert rollout[C.OBS].shape == (10, 4, 4) and rollout[C.ACTIONS].shape == (10, 4)
    assert rollout[C.ACTION_LOGP].shape == (10, 4)
    runner.stop()


def test_next_obs_is_the_real_final_observation_at_truncation():
    runner = make_runner(EnvConfig(id="CartPole-v1", max_episode_steps=5), num_envs=3)
    rollout = runner.sample(12)
    obs, next_obs = rollout[C.OBS], rollout[C.NEXT_OBS]
    done = rollout[C.TERMINATED] | rollout[C.TRUNCATED]
    assert rollout[C.TRUNCATED][4].all()  # every env hits the 5-step limit at t=4
    for t in range(11):
        for i in range(3):
            if done[t, i]:
                assert not np.array_equal(next_obs[t, i], obs[t + 1, i])
                assert np.abs(obs[t + 1, i]).max() <= 0.05  # reset obs: CartPole starts in [-0.05, 0.05]
            else:
                np.testing.assert_array_equal(next_obs[t, i], obs[t + 1, i])
    assert rollout.episode_lengths[:3] == [5, 5, 5]
    runner.stop()


def test_episodes_continue_across_sample_calls():
    runner = make_runner(EnvConfig(id="CartPole-v1"), num_envs=2)
    first, second = runner.sample(5), runner.sample(5)
    np.testing.assert_array_equal(first[C.NEXT_OBS][-1], second[C.OBS][0])
    runner.stop()


def test_evaluation_runs_exactly_the_requested_episodes_reproducibly():
    runner = make_runner(EnvConfig(id="CartPole-v1"), num_envs=3, explore=False)
    first = runner.run_episodes(7, seed=123)
    again = runner.run_episodes(7, seed=123)
    assert len(first["episode_returns"]) == 7
    assert first == again
    runner.stop()


def test_nan_observation_names_the_env():
    runner = make_runner(EnvConfig(id="NaNObs-v0"), num_envs=2)
    with pytest.raises(FloatingPointError, match="NaNObs-v0.*NaN/inf"):
        runner.sample(10)
    runner.stop()
