"""Env state as plain data: classic envs continue exactly; envs with other state say which attribute."""
from __future__ import annotations

import io

import gymnasium as gym
import numpy as np
import pytest
import torch

from rlhydra.env import env_state
from tests.conftest import MUJOCO


def through_disk(state):
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)  # loading runs no code


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1", "Acrobot-v1", "MountainCarContinuous-v0",
                                    "FrozenLake-v1", pytest.param("HalfCheetah-v5", marks=MUJOCO),
                                    pytest.param("Ant-v5", marks=MUJOCO), pytest.param("Humanoid-v5", marks=MUJOCO)])
def test_a_restored_env_continues_step_for_step(env_id):
    saved, fresh = gym.make(env_id), gym.make(env_id)
    saved.reset(seed=1)
    fresh.reset(seed=99)
    for _ in range(37):  # Ant and Humanoid are in contact with the floor by now
        if any(saved.step(saved.action_space.sample())[2:4]):
            saved.reset()
    state, not_exact = env_state.capture(saved)
    assert not_exact is None
    env_state.restore(fresh, through_disk(state))
    actions = [saved.action_space.sample() for _ in range(200)]
    for action in actions:
        a, b = saved.step(action), fresh.step(action)
        np.testing.assert_array_equal(a[0], b[0])
        assert a[1:4] == b[1:4]
        if a[2] or a[3]:  # the env's own RNG was restored too: the next reset is the same
            np.testing.assert_array_equal(saved.reset()[0], fresh.reset()[0])


class Handle:
    pass


class WithHandle(gym.Env):
    observation_space = gym.spaces.Box(-1, 1, (1,))
    action_space = gym.spaces.Discrete(2)

    def __init__(self):
        self.sim = Handle()


class WithStateApi(WithHandle):
    def get_state(self):
        return {"t": self.t}

    def set_state(self, state):
        self.t = state["t"]


def test_an_attribute_that_is_not_plain_data_is_named():
    state, not_exact = env_state.capture(WithHandle())
    assert state is None
    assert not_exact == "WithHandle.sim is a tests.test_env_state.Handle, which rlhydra cannot save"


def test_an_env_with_get_state_and_set_state_is_saved_through_them():
    env, other = WithStateApi(), WithStateApi()
    env.t = 7
    state, not_exact = env_state.capture(env)
    assert not_exact is None
    env_state.restore(other, through_disk(state))
    assert other.t == 7


def test_restoring_into_another_kind_of_env_is_refused():
    state, _ = env_state.capture(gym.make("CartPole-v1"))
    with pytest.raises(ValueError, match="the env's layers are"):
        env_state.restore(gym.make("CartPole-v1", max_episode_steps=None).unwrapped, state)
