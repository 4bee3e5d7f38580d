"""Corridor: walk right to the end of a corridor. Importing this module registers `Corridor-v0`."""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import gymnasium as gym
import numpy as np


class Corridor(gym.Env):
    """Cells 0..length-1, start at 0; actions 0 (left) and 1 (right); +1 at the last cell, -0.01 per other step."""

    metadata: Dict[str, Any] = {"render_modes": []}

    def __init__(self, length: int = 8, render_mode: Optional[str] = None) -> None:
        if length < 2:
            raise ValueError(f"Corridor length must be >= 2, got {length}")
        self.length = length
        self.render_mode = render_mode
        self.observation_space = gym.spaces.Box(0.0, float(length - 1), shape=(1,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self._pos = 0

    def reset(self, *, seed: Optional[int] = None, options: Optional[dict] = None) -> Tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self._pos = 0
        return self._obs(), {}

    def step(self, action: int) -> Tuple[np.ndarray, float, bool, bool, dict]:
        self._pos = max(0, self._pos + (1 if int(action) == 1 else -1))
        at_goal = self._pos == self.length - 1
        return self._obs(), 1.0 if at_goal else -0.01, at_goal, False, {}

    def _obs(self) -> np.ndarray:
        return np.array([self._pos], dtype=np.float32)


if "Corridor-v0" not in gym.registry:
    gym.register(id="Corridor-v0", entry_point="myrl.envs:Corridor", max_episode_steps=50)
