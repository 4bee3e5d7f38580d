"""Fault-injection and odd-space envs for tests: NaN observations, Tuple actions, a short corridor."""
from __future__ import annotations

import gymnasium as gym
import numpy as np


class NaNObsEnv(gym.Env):
    """Returns a NaN observation on step `nan_at`."""

    def __init__(self, nan_at: int = 5) -> None:
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.nan_at, self.t = nan_at, 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(3, np.float32), {}

    def step(self, action):
        self.t += 1
        obs = np.full(3, np.nan if self.t == self.nan_at else 0.0, np.float32)
        return obs, 1.0, False, self.t % 20 == 0, {}


class TupleActionEnv(gym.Env):
    """An env whose action space the default modules cannot serve."""

    def __init__(self) -> None:
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.action_space = gym.spaces.Tuple((gym.spaces.Discrete(2), gym.spaces.Discrete(3)))

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(2, np.float32), {}

    def step(self, action):
        return np.zeros(2, np.float32), 0.0, True, False, {}


for _id, _cls in (("NaNObs-v0", NaNObsEnv), ("TupleAction-v0", TupleActionEnv)):
    if _id not in gym.registry:
        gym.register(id=_id, entry_point=_cls, max_episode_steps=100)
