"""Uniform replay buffer over parallel env streams, with n-step returns computed at sample time."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from rlhydra.data import columns as C


def as_numpy(x: Any) -> np.ndarray:
    """Convert a numpy array, torch tensor (any device) or sequence to a numpy array."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _storage_dtype(space: gym.Space) -> np.dtype:
    if isinstance(space, gym.spaces.Discrete | gym.spaces.MultiDiscrete):
        return np.dtype(np.int64)
    if np.issubdtype(space.dtype, np.floating):
        return np.dtype(np.float32)
    return np.dtype(space.dtype)


class ReplayBuffer:
    """Uniform ring-buffer replay for off-policy RL, storing 1-step data per env stream."""

    # Storage is [capacity_per_env, num_envs, ...]: row t of column n is step t of env n's stream,
    # and all envs share one write cursor. n-step windows are assembled at sample time by walking
    # forward along a column; the newest n_step - 1 rows are not sampleable because their windows
    # may still be incomplete, which also keeps windows from wrapping into overwritten data.

    def __init__(
        self,
        capacity: int,
        *,
        n_step: int = 1,
        gamma: float = 0.99,
        batch_size: int = 256,
        device: str | torch.device = "cpu",
        seed: int | None = None,
    ) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        if n_step < 1:
            raise ValueError(f"n_step must be >= 1, got {n_step}")
        self.capacity = capacity
        self.n_step = n_step
        self.gamma = gamma
        self.batch_size = batch_size
        self.device = torch.device(device)
        self.rng = np.random.default_rng(seed)
        self.num_envs = 0
        self.capacity_per_env = 0
        self.storage: dict[str, np.ndarray] = {}
        self._flat: dict[str, np.ndarray] = {}
        self._pos = 0  # next row to write
        self._filled = 0  # rows holding data

    def setup(self, observation_space: gym.Space, action_space: gym.Space, num_envs: int) -> None:
        """Preallocate storage for `num_envs` parallel streams (total capacity rounded up to a multiple)."""
        if observation_space.shape is None or action_space.shape is None:
            raise NotImplementedError("ReplayBuffer supports only spaces with a fixed shape (no Dict/Tuple)")
        self.num_envs = num_envs
        self.capacity_per_env = -(-self.capacity // num_envs)
        if self.capacity_per_env < self.n_step:
            raise ValueError(f"capacity per env ({self.capacity_per_env}) must be >= n_step ({self.n_step})")
        lead = (self.capacity_per_env, num_envs)
        obs_shape, obs_dtype = tuple(observation_space.shape), _storage_dtype(observation_space)
        self.storage = {
            C.OBS: np.zeros(lead + obs_shape, dtype=obs_dtype),
            C.ACTIONS: np.zeros(lead + tuple(action_space.shape), dtype=_storage_dtype(action_space)),
            C.REWARDS: np.zeros(lead, dtype=np.float32),
            C.TERMINATED: np.zeros(lead, dtype=bool),
            C.TRUNCATED: np.zeros(lead, dtype=bool),
            C.NEXT_OBS: np.zeros(lead + obs_shape, dtype=obs_dtype),
        }
        self._pos = 0
        self._filled = 0
        self._make_flat_views()

    def _make_flat_views(self) -> None:
        # [capacity_per_env * num_envs, ...] views, indexed by flat index = row * num_envs + env.
        self._flat = {k: v.reshape(-1, *v.shape[2:]) for k, v in self.storage.items()}

    def __len__(self) -> int:
        return max(self._filled - self.n_step + 1, 0) * self.num_envs

    def add(self, rollout: dict[str, Any]) -> None:
        """Append a time-major rollout of [T, num_envs, ...] arrays, continuing each env's stream."""
        if not self.storage:
            raise RuntimeError("call setup() before add()")
        steps = len(rollout[C.REWARDS])
        first = max(steps - self.capacity_per_env, 0)  # earlier steps would be overwritten by this call
        rows = (self._pos + np.arange(first, steps)) % self.capacity_per_env
        for key, store in self.storage.items():
            data = as_numpy(rollout[key])
            if data.shape != (steps,) + store.shape[1:]:
                raise ValueError(f"rollout[{key!r}] has shape {data.shape}, expected {(steps,) + store.shape[1:]}")
            store[rows] = data[first:]
        self._pos = (self._pos + steps) % self.capacity_per_env
        self._filled = min(self._filled + steps, self.capacity_per_env)

    def is_sampleable(self, indices: np.ndarray) -> np.ndarray:
        """Mask of flat indices whose n-step window lies entirely in the stored data."""
        age = (self._pos - 1 - indices // self.num_envs) % self.capacity_per_env  # 0 = newest row
        return (age >= self.n_step - 1) & (age < self._filled)

    def _sample_indices(self, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        """Draw flat indices and their importance weights; the hook subclasses override."""
        oldest = (self._pos - self._filled) % self.capacity_per_env
        k = self.rng.integers(0, len(self), size=batch_size)
        rows = (oldest + k // self.num_envs) % self.capacity_per_env
        return rows * self.num_envs + k % self.num_envs, np.ones(batch_size, dtype=np.float32)

    def _gather(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        flat, num_envs = self._flat, self.num_envs
        rows, envs = np.divmod(indices, num_envs)
        rewards = flat[C.REWARDS][indices].astype(np.float64)
        terminated = flat[C.TERMINATED][indices]
        alive = ~(terminated | flat[C.TRUNCATED][indices])
        steps = np.ones(len(indices), dtype=np.int64)
        last = indices
        for k in range(1, self.n_step):
            if not alive.any():
                break
            idx = ((rows + k) % self.capacity_per_env) * num_envs + envs
            rewards += np.where(alive, self.gamma**k * flat[C.REWARDS][idx], 0.0)
            steps += alive
            last = np.where(alive, idx, last)
            term = flat[C.TERMINATED][idx]
            terminated = terminated | (alive & term)
            alive = alive & ~(term | flat[C.TRUNCATED][idx])
        return {
            C.OBS: flat[C.OBS][indices],
            C.ACTIONS: flat[C.ACTIONS][indices],
            C.REWARDS: rewards.astype(np.float32),
            C.NEXT_OBS: flat[C.NEXT_OBS][last],
            C.TERMINATED: terminated.astype(np.float32),
            C.DISCOUNTS: (self.gamma**steps).astype(np.float32),
            C.INDICES: indices,
        }

    def sample(self, batch_size: int | None = None) -> dict[str, torch.Tensor]:
        """Sample a batch of (n-step) transitions as torch tensors on `self.device`."""
        if len(self) == 0:
            raise ValueError("cannot sample: the buffer holds no complete transitions yet")
        indices, weights = self._sample_indices(batch_size or self.batch_size)
        batch = self._gather(indices)
        batch[C.WEIGHTS] = weights
        return {k: torch.from_numpy(v).to(self.device) for k, v in batch.items()}

    def iterate(self, batch_size: int | None = None, num_batches: int | None = None) -> Iterator[dict[str, torch.Tensor]]:
        """Yield `num_batches` sampled batches (forever when None), sampling lazily."""
        for _ in itertools.count() if num_batches is None else range(num_batches):
            yield self.sample(batch_size)

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        return self.iterate()

    def state_dict(self) -> dict[str, Any]:
        """Snapshot of contents, cursor and RNG; arrays are CPU torch tensors so torch.load(weights_only=True) works."""
        return {
            "storage": {k: torch.from_numpy(v.copy()) for k, v in self.storage.items()},
            "num_envs": self.num_envs,
            "capacity_per_env": self.capacity_per_env,
            "pos": self._pos,
            "filled": self._filled,
            "rng": self.rng.bit_generator.state,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a `state_dict()` snapshot; setup() is not needed beforehand."""
        self.storage = {k: as_numpy(v).copy() for k, v in state_dict["storage"].items()}
        self.num_envs = int(state_dict["num_envs"])
        self.capacity_per_env = int(state_dict["capacity_per_env"])
        self._pos = int(state_dict["pos"])
        self._filled = int(state_dict["filled"])
        self.rng.bit_generator.state = state_dict["rng"]
        self._make_flat_views()
