"""Proportional prioritized experience replay (Schaul et al., 2016)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch

from rlhydra.data import columns as C
from rlhydra.buffers.base import ReplayBuffer, as_numpy
from rlhydra.buffers.sum_tree import SumTree


class PrioritizedReplayBuffer(ReplayBuffer):
    """Replay buffer sampling transitions with probability proportional to priority**alpha."""

    def __init__(
        self,
        capacity: int,
        *,
        alpha: float = 0.6,
        beta_start: float = 0.4,
        beta_anneal_steps: int = 100_000,
        eps: float = 1e-6,
        **kwargs: Any,
    ) -> None:
        super().__init__(capacity, **kwargs)
        self.alpha = alpha
        self.beta_start = beta_start
        self.beta_anneal_steps = beta_anneal_steps
        self.eps = eps
        self.tree = SumTree(1)
        self.max_priority = 1.0  # stored as priority**alpha, given to new transitions
        self._sample_calls = 0
        self._fixed_beta: float | None = None

    @property
    def beta(self) -> float:
        """Importance-sampling exponent for the next sample() call."""
        if self._fixed_beta is not None:
            return self._fixed_beta
        if self.beta_anneal_steps <= 0:
            return 1.0
        progress = min(self._sample_calls / self.beta_anneal_steps, 1.0)
        return self.beta_start + progress * (1.0 - self.beta_start)

    def set_beta(self, beta: float) -> None:
        """Fix beta, overriding the linear annealing schedule."""
        self._fixed_beta = float(beta)

    def setup(self, observation_space: gym.Space, action_space: gym.Space, num_envs: int) -> None:
        super().setup(observation_space, action_space, num_envs)
        self.tree = SumTree(self.capacity_per_env * num_envs)
        self.max_priority = 1.0

    @property
    def nbytes(self) -> int:
        """Bytes of the stored data plus the sum tree."""
        return super().nbytes + self.tree.nbytes

    def add(self, rollout: dict[str, Any]) -> None:
        super().add(rollout)
        written = min(len(rollout[C.REWARDS]), self.capacity_per_env)
        # The rows just written plus the rows whose windows they complete: newest first.
        age = np.arange(min(written + self.n_step - 1, self._filled))
        rows = (self._pos - 1 - age) % self.capacity_per_env
        priority = np.where(age >= self.n_step - 1, self.max_priority, 0.0)
        indices = rows[:, None] * self.num_envs + np.arange(self.num_envs)
        self.tree.update(indices.ravel(), np.repeat(priority, self.num_envs))

    def _sample_indices(self, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        if self.tree.total() <= 0:
            raise ValueError("cannot sample: all priorities are zero")
        beta = self.beta
        self._sample_calls += 1
        indices = self.tree.find_prefix_sum(self.rng.random(batch_size) * self.tree.total())
        # w_i = (N * P(i))**-beta / max_j w_j  simplifies to  (p_i / p_min)**-beta.
        weights = (self.tree[indices] / self.tree.min()) ** -beta
        return indices, weights.astype(np.float32)

    def update_priorities(self, indices: np.ndarray | torch.Tensor, td_errors: np.ndarray | torch.Tensor) -> None:
        """Set priorities to (|td_error| + eps)**alpha; indices no longer sampleable are skipped."""
        indices = as_numpy(indices).astype(np.int64).ravel()
        priorities = (np.abs(as_numpy(td_errors).astype(np.float64).ravel()) + self.eps) ** self.alpha
        keep = self.is_sampleable(indices)
        if keep.any():
            self.tree.update(indices[keep], priorities[keep])
            self.max_priority = max(self.max_priority, float(priorities[keep].max()))

    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "priorities": torch.from_numpy(self.tree.priorities.copy()),
            "max_priority": self.max_priority,
            "sample_calls": self._sample_calls,
            "fixed_beta": self._fixed_beta,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        priorities = as_numpy(state_dict["priorities"]).astype(np.float64)
        self.tree = SumTree(len(priorities))
        self.tree.update(np.arange(len(priorities)), priorities)
        self.max_priority = float(state_dict["max_priority"])
        self._sample_calls = int(state_dict["sample_calls"])
        self._fixed_beta = state_dict["fixed_beta"]
