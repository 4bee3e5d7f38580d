"""Small envs with structured observations for the data-path tests (importable by runner processes)."""
from __future__ import annotations

from typing import Any, Dict, Tuple

import gymnasium as gym
import numpy as np


class DictImageEnv(gym.Env):
    """Dict obs (uint8 image, float64 vector, Discrete, Tuple); each episode lasts 3 steps, obs encode (episode, step)."""

    def __init__(self, episode_length: int = 3) -> None:
        self.observation_space = gym.spaces.Dict({
            "image": gym.spaces.Box(0, 255, (2, 5, 5), np.uint8),
            "vec": gym.spaces.Box(-np.inf, np.inf, (3,), np.float64),
            "mode": gym.spaces.Discrete(4),
            "pair": gym.spaces.Tuple((gym.spaces.MultiBinary(2), gym.spaces.Discrete(3))),
        })
        self.action_space = gym.spaces.Discrete(2)
        self.episode_length = episode_length
        self.episode, self.t = -1, 0

    def _obs(self) -> Dict[str, Any]:
        code = self.episode * 10 + self.t
        return {"image": np.full((2, 5, 5), code % 256, np.uint8), "vec": np.full(3, code, np.float64),
                "mode": self.t % 4, "pair": (np.array([self.t % 2, 1], np.int8), self.episode % 3)}

    def reset(self, *, seed: int | None = None, options: Any = None) -> Tuple[Dict[str, Any], Dict[str, Any]]:
        super().reset(seed=seed)
        self.episode, self.t = self.episode + 1, 0
        return self._obs(), {}

    def step(self, action: int) -> Tuple[Dict[str, Any], float, bool, bool, Dict[str, Any]]:
        self.t += 1
        return self._obs(), float(action), self.t >= self.episode_length, False, {}
