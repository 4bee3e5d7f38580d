"""Reward normalisation as SB3's VecNormalize(norm_reward=True): rewards scaled by the running std of each env's
discounted return, clipped. Only the rewards the learner trains on change; episode returns in metrics stay raw."""
from __future__ import annotations

import numpy as np

from rlhydra.connectors.env_to_module import RunningMoments

# The key of the reward statistics in an EnvRunner's env->module connector state (merged across workers by counts)
STATE_KEY = "rewards_NormalizeRewards"


class NormalizeRewards(RunningMoments):
    """Running variance of every env's discounted return; rewards divided by its std and clipped (VecNormalize).
    Its state (get_state) is the running statistics, shared by workers; the per-env returns are the runner's own."""

    def __init__(self, num_envs: int, gamma: float, clip: float = 10.0, eps: float = 1e-8) -> None:
        super().__init__((1,), count=1e-4)  # SB3's RunningMeanStd(epsilon=1e-4)
        self.gamma, self.clip, self.eps = gamma, clip, eps
        self.returns = np.zeros(num_envs, np.float64)

    def __call__(self, rewards: np.ndarray, done: np.ndarray) -> np.ndarray:
        """The normalised rewards of one vector step; `done`: where an episode ended (its return restarts)."""
        self.returns = self.returns * self.gamma + rewards
        self._update(self.returns)
        normed = np.clip(rewards / np.sqrt(self.var[0] + self.eps), -self.clip, self.clip)
        self.returns[done] = 0.0
        return normed
