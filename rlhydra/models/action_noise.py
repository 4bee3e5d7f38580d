"""Per-env exploration noise that the env runner adds to a squashed module's actions (as SB3's `action_noise`).

Noise with a state of its own (Ornstein-Uhlenbeck) cannot live in the module's stateless forward pass: the module
builds it (`RLModule.make_action_noise`), and the EnvRunner holds one per runner, adds it to the actions of every
env copy, restarts it where that env's episode ends, and keeps its state in checkpoints, as it does a recurrent
module's state. Draws come from torch's global RNG, which the runner's checkpoints restore.
"""
from __future__ import annotations

import math
from typing import Any, Dict

import numpy as np
import torch
from torch import Tensor


class ActionNoise:
    """Noise for the actions of `num_envs` env copies, in units of the [-1, 1] action range, with state per env."""

    def __call__(self, actions: Tensor) -> Tensor:
        """`actions` [num_envs, action_dim] in [-1, 1] plus this step's noise, clipped to [-1, 1]."""
        return (actions + self.sample().to(actions.dtype)).clamp(-1.0, 1.0)

    def sample(self) -> Tensor:
        """The next noise of every env, [num_envs, action_dim]."""
        raise NotImplementedError

    def reset(self, done: np.ndarray) -> None:
        """Restart the noise of the envs where `done` [num_envs] is true (their next step starts an episode)."""
        raise NotImplementedError

    def get_state(self) -> Dict[str, Any]:
        return {}

    def set_state(self, state: Dict[str, Any]) -> None:
        pass


class OrnsteinUhlenbeckNoise(ActionNoise):
    """SB3's OrnsteinUhlenbeckActionNoise for each env: x <- x + theta (mu - x) dt + sigma sqrt(dt) N(0, 1), the
    new x added to the action; x = 0 at each episode start."""

    def __init__(self, num_envs: int, action_dim: int, sigma: float, *, theta: float = 0.15, dt: float = 1e-2,
                 mu: float = 0.0) -> None:
        self.sigma, self.theta, self.dt, self.mu = sigma, theta, dt, mu
        self.x = torch.zeros(num_envs, action_dim)

    def sample(self) -> Tensor:
        step = torch.randn(self.x.shape)
        self.x = self.x + self.theta * (self.mu - self.x) * self.dt + self.sigma * math.sqrt(self.dt) * step
        return self.x

    def reset(self, done: np.ndarray) -> None:
        # not in place: x may have been made under inference_mode
        self.x = torch.where(torch.as_tensor(done, dtype=torch.bool).reshape(-1, 1), 0.0, self.x)

    def get_state(self) -> Dict[str, Any]:
        return {"x": self.x.clone()}

    def set_state(self, state: Dict[str, Any]) -> None:
        x = torch.as_tensor(state["x"], dtype=torch.float32)
        if x.shape != self.x.shape:
            raise ValueError(f"Ornstein-Uhlenbeck noise state of shape {tuple(x.shape)}, this runner's is "
                             f"{tuple(self.x.shape)}")
        self.x = x.clone()
