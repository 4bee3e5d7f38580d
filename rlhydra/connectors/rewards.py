"""Reward normalisation as SB3's VecNormalize(norm_reward=True): rewards scaled by the running std of each env's
discounted return, clipped. Only the rewards the learner trains on change; episode returns in metrics stay raw."""
from __future__ import annotations

from typing import Any, Dict, List

import numpy as np
import torch

from rlhydra.connectors.env_to_module import NormalizeObservations, running_moments

# The key of the reward statistics in an EnvRunner's env->module connector state (merged across workers by counts)
STATE_KEY = "rewards_NormalizeRewards"


class NormalizeRewards:
    """Running variance of every env's discounted return; rewards divided by its std and clipped (VecNormalize)."""

    def __init__(self, num_envs: int, gamma: float, clip: float = 10.0, eps: float = 1e-8) -> None:
        self.gamma, self.clip, self.eps = gamma, clip, eps
        self.mean = np.zeros(1, np.float64)
        self.var = np.ones(1, np.float64)
        self.count = 1e-4  # SB3's RunningMeanStd(epsilon=1e-4)
        self.returns = np.zeros(num_envs, np.float64)

    def __call__(self, rewards: np.ndarray, done: np.ndarray) -> np.ndarray:
        """The normalised rewards of one vector step; `done`: where an episode ended (its return restarts)."""
        self.returns = self.returns * self.gamma + rewards
        self._update(self.returns)
        normed = np.clip(rewards / np.sqrt(self.var[0] + self.eps), -self.clip, self.clip)
        self.returns[done] = 0.0
        return normed

    def _update(self, x: np.ndarray) -> None:
        self.mean, self.var, self.count = running_moments(self.mean, self.var, self.count, x)

    def get_state(self) -> Dict[str, Any]:
        """The running statistics (shared by workers); the per-env returns are the runner's own (see EnvRunner)."""
        return {"mean": torch.from_numpy(self.mean.copy()), "var": torch.from_numpy(self.var.copy()),
                "count": float(self.count)}

    def set_state(self, state: Dict[str, Any]) -> None:
        self.mean = np.asarray(state["mean"], np.float64).reshape(1).copy()
        self.var = np.asarray(state["var"], np.float64).reshape(1).copy()
        self.count = float(state["count"])

    @staticmethod
    def merge_states(base: Dict[str, Any], states: List[Dict[str, Any]]) -> Dict[str, Any]:
        """Workers' statistics that each started at `base`, merged by counts (as NormalizeObservations')."""
        return NormalizeObservations.merge_states(base, states)
