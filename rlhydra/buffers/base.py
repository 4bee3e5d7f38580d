"""Uniform replay buffer over parallel env streams, with n-step returns computed at sample time.

Observations are trees (an array, or Dict / Tuple of trees, see `rlhydra.data.tree`) kept in their travelling dtype
(uint8 frames stay uint8) and stored once: a step's next observation is the next step's observation of the same env
stream, except where the two differ bit for bit. Those next observations go to a side ring (see `ReplayBuffer`).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from rlhydra.data import columns as C
from rlhydra.data import tree as T

FORMAT = 2  # state_dict layout; 1 (no "format" key) stored flat obs and a separate next_obs column
SIDE_GROWTH = 1.5  # the side ring grows by this factor (not 2: the ring's slack counts against the memory target)


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


def _differs(a: T.Tree, b: T.Tree) -> np.ndarray:
    """[T, N] mask of the observations (trees with leaves [T, N, ...]) of `a` and `b` that differ in any bit."""
    out = None
    for x, y in zip(T.leaves(a), T.leaves(b), strict=True):
        bits = np.dtype(f"u{x.dtype.itemsize}")  # bitwise: -0.0 differs from 0.0, a NaN equals its own bits
        ne = x.view(bits) != y.view(bits)
        ne = ne.reshape(*ne.shape[:2], int(np.prod(ne.shape[2:], dtype=np.int64))).any(-1)
        out = ne if out is None else out | ne
    return out


class ReplayBuffer:
    """Uniform ring-buffer replay for off-policy RL, storing 1-step data per env stream and each observation once."""

    # Columns are [capacity_per_env, num_envs, ...]: row t of column n is step t of env n's stream, all envs share
    # one write cursor, and a flat index is row * num_envs + env. n-step windows are assembled at sample time by
    # walking forward along a column; the newest n_step - 1 rows are not sampleable because their windows may still
    # be incomplete, which also keeps windows from wrapping into overwritten data.
    #
    # obs[r] is the observation step r acted on. Its next observation is obs[r + 1] (wrapping) of the same env,
    # unless side_index[r] >= 0: then it is side[side_index[r]]. An add compares every next_obs[t] with obs[t + 1]
    # bitwise, and the previous add's newest next_obs with its first obs (a runner may reset its envs between
    # adds); what differs goes to the side ring: episode ends (final obs vs reset obs), discontinuities, and always
    # the newest row (its next row is not written yet). Rows are overwritten in write order, so side entries die
    # in the order they were born: the ring is a FIFO (head = oldest), and the newest row's entries are its last
    # num_envs entries, in env order.

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
        self.obs: T.Tree = None  # leaves [capacity_per_env, num_envs, ...]
        self.columns: dict[str, np.ndarray] = {}  # actions, rewards, terminated, truncated
        self.side_index = np.zeros((0, 0), dtype=np.int64)  # [capacity_per_env, num_envs], -1: next obs in obs
        self.side: T.Tree = None  # ring of next observations, leaves [side_capacity, ...]
        self._side_head = 0
        self._side_size = 0
        self._pos = 0  # next row to write
        self._filled = 0  # rows holding data

    def setup(self, observation_space: gym.Space, action_space: gym.Space, num_envs: int) -> None:
        """Preallocate storage for `num_envs` parallel streams (total capacity rounded up to a multiple)."""
        try:
            T.space_leaves(observation_space)
        except ValueError as e:
            raise ValueError(f"{type(self).__name__} cannot store observations of {observation_space}: {e}") from None
        if action_space.shape is None:
            raise ValueError(f"{type(self).__name__} stores actions of a fixed shape only, not {action_space}")
        self.num_envs = num_envs
        self.capacity_per_env = -(-self.capacity // num_envs)
        if self.capacity_per_env < self.n_step:
            raise ValueError(f"capacity per env ({self.capacity_per_env}) must be >= n_step ({self.n_step})")
        lead = (self.capacity_per_env, num_envs)
        self.obs = T.map_space_leaves(lambda shape, dtype: np.zeros(lead + shape, dtype), observation_space)
        self.columns = {
            C.ACTIONS: np.zeros(lead + tuple(action_space.shape), dtype=_storage_dtype(action_space)),
            C.REWARDS: np.zeros(lead, dtype=np.float32),
            C.TERMINATED: np.zeros(lead, dtype=bool),
            C.TRUNCATED: np.zeros(lead, dtype=bool),
        }
        self.side_index = np.full(lead, -1, dtype=np.int32)
        side_capacity = min(2 * num_envs, self.capacity_per_env * num_envs)  # the newest row needs num_envs
        self.side = T.map_space_leaves(lambda shape, dtype: np.zeros((side_capacity,) + shape, dtype),
                                       observation_space)
        self._side_head = self._side_size = 0
        self._pos = 0
        self._filled = 0
        self._make_flat_views()

    def _make_flat_views(self) -> None:
        # [capacity_per_env * num_envs, ...] views, indexed by flat index = row * num_envs + env.
        self._flat = {k: v.reshape(-1, *v.shape[2:]) for k, v in self.columns.items()}
        self._flat_obs = T.map_tree(lambda x: x.reshape(-1, *x.shape[2:]), self.obs)
        self._flat_side_index = self.side_index.reshape(-1)

    def __len__(self) -> int:
        return max(self._filled - self.n_step + 1, 0) * self.num_envs

    @property
    def side_capacity(self) -> int:
        """Rows allocated in the side ring of next observations."""
        return len(T.first_leaf(self.side))

    @property
    def nbytes(self) -> int:
        """Bytes of every array the buffer holds: observations, side ring, other columns and side index."""
        return (T.nbytes(self.obs) + T.nbytes(self.side) + self.side_index.nbytes
                + sum(v.nbytes for v in self.columns.values()))

    @property
    def storage(self) -> dict[str, np.ndarray]:
        """Every array the buffer holds by name (observation leaves as 'obs/<key>...', the side ring as
        'side_obs/...'): what `nbytes` sums; read-only use."""
        named = {f"obs/{k}" if k else "obs": v for k, v in T.to_dict(self.obs).items()}
        named.update({f"side_obs/{k}" if k else "side_obs": v for k, v in T.to_dict(self.side).items()})
        named.update(self.columns)
        named["side_index"] = self.side_index
        return named

    # ---- side ring: a FIFO of next observations ----------------------------------------------------------------
    def _side_push(self, values: T.Tree) -> np.ndarray:
        """Append observations (leaves [k, ...]) at the ring's tail; returns their positions."""
        k = len(T.first_leaf(values))
        if self._side_size + k > self.side_capacity:
            self._side_grow(self._side_size + k)
        at = (self._side_head + self._side_size + np.arange(k)) % self.side_capacity
        T.assign(self.side, at, values)
        self._side_size += k
        return at

    def _side_grow(self, needed: int) -> None:
        # Never above capacity_per_env * num_envs: each live step has at most one entry.
        old = self.side_capacity
        cap = min(max(needed, int(old * SIDE_GROWTH) + 1), self.capacity_per_env * self.num_envs)
        live = (self._side_head + np.arange(self._side_size)) % old

        def grown(x: np.ndarray) -> np.ndarray:
            out = np.zeros((cap,) + x.shape[1:], x.dtype)
            out[: len(live)] = x[live]
            return out
        self.side = T.map_tree(grown, self.side)
        used = self.side_index >= 0
        self.side_index[used] = (self.side_index[used] - self._side_head) % old
        self._side_head = 0

    def _side_drop_oldest(self, k: int) -> None:
        self._side_head = (self._side_head + k) % self.side_capacity
        self._side_size -= k

    def _rejoin(self, first_obs: T.Tree) -> None:
        """Keep the previous newest row's next obs (the ring's last num_envs entries) only where this add's first
        obs differs from it."""
        row = (self._pos - 1) % self.capacity_per_env
        tail = self.side_index[row].copy()
        stored = T.map_tree(lambda x: x[tail][None], self.side)
        keep = _differs(stored, T.map_tree(lambda x: x[None], first_obs))[0]
        kept = T.map_tree(lambda x: x[tail[keep]], self.side)
        self._side_size -= self.num_envs
        self.side_index[row] = -1
        self.side_index[row, keep] = self._side_push(kept)

    # ---- add ---------------------------------------------------------------------------------------------------
    @staticmethod
    def _column(data: Any, key: str, store: np.ndarray, steps: int, first: int) -> np.ndarray:
        """Rollout column `data` checked against its store's shape, its steps from `first`, in the store's dtype."""
        data = as_numpy(data)
        expected = (steps,) + store.shape[1:]
        if data.shape != expected:
            raise ValueError(f"rollout[{key!r}] has shape {data.shape}, expected {expected}")
        return np.asarray(data[first:], dtype=store.dtype)

    def add(self, rollout: dict[str, Any]) -> None:
        """Append a time-major rollout of [T, num_envs, ...] arrays (obs trees alike), continuing each env's stream."""
        if not self.columns:
            raise RuntimeError("call setup() before add()")
        steps = len(rollout[C.REWARDS])
        if steps == 0:
            return
        first = max(steps - self.capacity_per_env, 0)  # earlier steps would be overwritten by this call
        kept = steps - first

        def read(key: str) -> T.Tree:
            return T.map_tree(lambda store, data: self._column(data, key, store, steps, first), self.obs, rollout[key])
        obs, next_obs = read(C.OBS), read(C.NEXT_OBS)
        columns = {k: self._column(rollout[k], k, v, steps, first) for k, v in self.columns.items()}
        rows = (self._pos + np.arange(first, steps)) % self.capacity_per_env

        if self._filled and kept < self.capacity_per_env:  # the previous newest row survives this add
            self._rejoin(T.index(obs, 0))
        self._side_drop_oldest(int(np.count_nonzero(self.side_index[rows] >= 0)))
        differs = np.ones((kept, self.num_envs), dtype=bool)
        differs[:-1] = _differs(T.index(next_obs, slice(None, -1)), T.index(obs, slice(1, None)))
        t, env = np.nonzero(differs)  # time-major: the ring stays in write order
        self.side_index[rows] = -1
        self.side_index[rows[t], env] = self._side_push(T.map_tree(lambda x: x[t, env], next_obs))

        T.assign(self.obs, rows, obs)
        for key, store in self.columns.items():
            store[rows] = columns[key]
        self._pos = (self._pos + steps) % self.capacity_per_env
        self._filled = min(self._filled + steps, self.capacity_per_env)

    # ---- sample ------------------------------------------------------------------------------------------------
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

    def _next_obs(self, indices: np.ndarray) -> T.Tree:
        """The next observations of the steps at flat `indices`."""
        following = (indices + self.num_envs) % len(self._flat_side_index)
        out = T.map_tree(lambda x: x.take(following, axis=0), self._flat_obs)
        side = self._flat_side_index[indices]
        if side.size and side.max() >= 0:
            on_side = side >= 0
            at = side[on_side]
            T.assign(out, on_side, T.map_tree(lambda x: x.take(at, axis=0), self.side))
        return out

    def _gather(self, indices: np.ndarray) -> dict[str, Any]:
        # x.take(i, axis=0) gathers rows several times faster than x[i] for arrays of 2+ dims.
        flat = self._flat
        if self.n_step == 1:
            rewards = flat[C.REWARDS][indices]
            terminated = flat[C.TERMINATED][indices]
            discounts = np.full(len(indices), self.gamma, dtype=np.float32)
            last = indices
        else:
            rewards, terminated, discounts, last = self._n_step(indices)
        return {
            C.OBS: T.map_tree(lambda x: x.take(indices, axis=0), self._flat_obs),
            C.ACTIONS: flat[C.ACTIONS].take(indices, axis=0),
            C.REWARDS: rewards,
            C.NEXT_OBS: self._next_obs(last),
            C.TERMINATED: terminated.astype(np.float32),
            C.DISCOUNTS: discounts,
            C.INDICES: indices,
        }

    def _n_step(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(return, terminated, gamma**steps, flat index of the window's last step) of each window."""
        flat, size = self._flat, len(self._flat_side_index)
        rewards = flat[C.REWARDS][indices].astype(np.float64)
        terminated = flat[C.TERMINATED][indices]
        alive = ~(terminated | flat[C.TRUNCATED][indices])
        steps = np.ones(len(indices), dtype=np.int64)
        last = indices
        for k in range(1, self.n_step):
            if not alive.any():
                break
            idx = (indices + k * self.num_envs) % size  # k rows later in the same env's column, wrapping
            rewards += np.where(alive, self.gamma**k * flat[C.REWARDS][idx], 0.0)
            steps += alive
            last = np.where(alive, idx, last)
            term = flat[C.TERMINATED][idx]
            terminated |= alive & term
            alive &= ~(term | flat[C.TRUNCATED][idx])
        return rewards.astype(np.float32), terminated, (self.gamma**steps).astype(np.float32), last

    def sample(self, batch_size: int | None = None) -> dict[str, Any]:
        """Sample a batch of (n-step) transitions as torch tensors on `self.device` (obs / next_obs as trees)."""
        if len(self) == 0:
            raise ValueError("cannot sample: the buffer holds no complete transitions yet")
        indices, weights = self._sample_indices(batch_size or self.batch_size)
        batch = self._gather(indices)
        batch[C.WEIGHTS] = weights
        device = None if self.device.type == "cpu" else self.device
        for key in (C.OBS, C.NEXT_OBS):
            batch[key] = T.to_torch(batch[key], device)
        for key, value in batch.items():
            if isinstance(value, np.ndarray):
                batch[key] = torch.from_numpy(value) if device is None else torch.from_numpy(value).to(device)
        return batch

    def iterate(self, batch_size: int | None = None, num_batches: int | None = None) -> Iterator[dict[str, Any]]:
        """Yield `num_batches` sampled batches (forever when None), sampling lazily."""
        for _ in itertools.count() if num_batches is None else range(num_batches):
            yield self.sample(batch_size)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return self.iterate()

    # ---- checkpoints -------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Snapshot of contents, cursors and RNG; CPU tensors and plain numbers, so torch.load(weights_only=True)
        works. The side ring is saved compacted: its live entries, oldest first."""
        live = (self._side_head + np.arange(self._side_size)) % self.side_capacity
        side_index = self.side_index.copy()
        used = side_index >= 0
        side_index[used] = (side_index[used] - self._side_head) % self.side_capacity
        return {
            "format": FORMAT,
            "obs": T.map_tree(lambda x: torch.from_numpy(x.copy()), self.obs),
            "columns": {k: torch.from_numpy(v.copy()) for k, v in self.columns.items()},
            "side_index": torch.from_numpy(side_index),
            "side": T.map_tree(lambda x: torch.from_numpy(x[live]), self.side),
            "side_capacity": self.side_capacity,
            "num_envs": self.num_envs,
            "capacity_per_env": self.capacity_per_env,
            "pos": self._pos,
            "filled": self._filled,
            "rng": self.rng.bit_generator.state,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a `state_dict()` snapshot; setup() is not needed beforehand."""
        if state_dict.get("format") != FORMAT:
            raise ValueError(
                "this replay buffer checkpoint predates structured-observation buffers (flat observations with a "
                f"separate next_obs column, format {state_dict.get('format', 1)}); {type(self).__name__} reads "
                f"format {FORMAT} only: resume from a newer checkpoint or start with an empty buffer")
        self.obs = T.map_tree(lambda t: as_numpy(t).copy(), state_dict["obs"])
        self.columns = {k: as_numpy(v).copy() for k, v in state_dict["columns"].items()}
        self.side_index = as_numpy(state_dict["side_index"]).copy()
        cap = int(state_dict["side_capacity"])

        def ring(t: torch.Tensor) -> np.ndarray:
            x = as_numpy(t)
            out = np.zeros((cap,) + x.shape[1:], x.dtype)
            out[: len(x)] = x
            return out
        self.side = T.map_tree(ring, state_dict["side"])
        self._side_head = 0
        self._side_size = len(T.first_leaf(state_dict["side"]))
        self.num_envs = int(state_dict["num_envs"])
        self.capacity_per_env = int(state_dict["capacity_per_env"])
        self._pos = int(state_dict["pos"])
        self._filled = int(state_dict["filled"])
        self.rng.bit_generator.state = state_dict["rng"]
        self._make_flat_views()
