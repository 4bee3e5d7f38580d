"""StatelessCartPole: CartPole-v1 with the velocities hidden (RLlib's StatelessCartPole, rl-zoo's CartPoleNoVel).

Observations are (cart position, pole angle); the velocities must be inferred from their history, so a memoryless
policy stays far below CartPole's 500 while a recurrent one can balance. Load it with
`env.id=rlhydra.env.stateless_cartpole:StatelessCartPole`.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import numpy as np
from gymnasium import spaces
from gymnasium.envs.classic_control.cartpole import CartPoleEnv

VISIBLE = np.array([0, 2])  # x and theta of (x, x_dot, theta, theta_dot)


class StatelessCartPole(CartPoleEnv):
    """CartPole-v1 (500-step limit) observing only the cart position and the pole angle."""

    def __init__(self, render_mode: Optional[str] = None, max_episode_steps: int = 500) -> None:
        super().__init__(render_mode=render_mode)
        high = self.observation_space.high[VISIBLE]
        self.observation_space = spaces.Box(-high, high, dtype=np.float32)
        self.max_episode_steps = max_episode_steps
        self._elapsed = 0

    def reset(self, *, seed: Optional[int] = None, options: Optional[Dict[str, Any]] = None
              ) -> Tuple[np.ndarray, Dict[str, Any]]:
        obs, info = super().reset(seed=seed, options=options)
        self._elapsed = 0
        return obs[VISIBLE], info

    def step(self, action: Any) -> Tuple[np.ndarray, float, bool, bool, Dict[str, Any]]:
        obs, reward, terminated, truncated, info = super().step(action)
        self._elapsed += 1
        truncated = truncated or self._elapsed >= self.max_episode_steps
        return obs[VISIBLE], reward, terminated, truncated, info
