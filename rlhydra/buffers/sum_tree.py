"""Array-backed binary sum tree (with min tracking) for proportional prioritized replay."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


class SumTree:
    """Binary sum/min tree over `capacity` non-negative priorities, vectorised over index arrays."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self._leaves = 1 << (capacity - 1).bit_length()  # padded to a power of two
        self._depth = self._leaves.bit_length() - 1
        # Heap layout: node 1 is the root, node i has children 2i and 2i+1, leaves start at _leaves.
        self._sum = np.zeros(2 * self._leaves, dtype=np.float64)
        # Zero priorities (empty or unsampleable slots) count as +inf so min() is over positive ones.
        self._min = np.full(2 * self._leaves, np.inf, dtype=np.float64)

    def __len__(self) -> int:
        return self.capacity

    def __getitem__(self, indices: ArrayLike) -> np.ndarray:
        return self._sum[np.asarray(indices, dtype=np.int64) + self._leaves]

    @property
    def priorities(self) -> np.ndarray:
        """Read-only view of the `capacity` leaf priorities."""
        view = self._sum[self._leaves : self._leaves + self.capacity]
        view.flags.writeable = False
        return view

    @property
    def nbytes(self) -> int:
        """Bytes of the sum and min arrays."""
        return self._sum.nbytes + self._min.nbytes

    def total(self) -> float:
        return float(self._sum[1])

    def min(self) -> float:
        """Smallest strictly positive priority (inf when all are zero)."""
        return float(self._min[1])

    def update(self, indices: ArrayLike, priorities: ArrayLike) -> None:
        """Set leaf priorities; for repeated indices the last occurrence wins."""
        indices = np.asarray(indices, dtype=np.int64).ravel()
        priorities = np.broadcast_to(np.asarray(priorities, dtype=np.float64).ravel(), indices.shape)
        if indices.size == 0:
            return
        if indices.min() < 0 or indices.max() >= self.capacity:
            raise IndexError(f"indices out of range [0, {self.capacity})")
        if not np.all(np.isfinite(priorities) & (priorities >= 0)):
            raise ValueError("priorities must be finite and non-negative")
        # np.unique on the reversed arrays keeps the last occurrence of each index.
        nodes, last = np.unique(indices[::-1], return_index=True)
        priorities = priorities[::-1][last]
        nodes = nodes + self._leaves
        self._sum[nodes] = priorities
        self._min[nodes] = np.where(priorities > 0, priorities, np.inf)
        for _ in range(self._depth):
            nodes = nodes // 2
            left = 2 * nodes
            self._sum[nodes] = self._sum[left] + self._sum[left + 1]
            self._min[nodes] = np.minimum(self._min[left], self._min[left + 1])

    def find_prefix_sum(self, values: ArrayLike) -> np.ndarray:
        """Leaf index i with cumsum[i-1] <= v < cumsum[i] for each value v in [0, total()).

        Equivalent to ``np.searchsorted(np.cumsum(p), v, side="right")``, except that a
        zero-priority leaf is never returned while total() > 0 (values >= total() map to
        the last positive leaf), which guards against float round-off.
        """
        values = np.array(values, dtype=np.float64)
        nodes = np.ones(values.shape, dtype=np.int64)
        for _ in range(self._depth):
            left = 2 * nodes
            left_sum = self._sum[left]
            go_right = (values >= left_sum) & (self._sum[left + 1] > 0)
            values = np.where(go_right, values - left_sum, values)
            nodes = left + go_right
        return nodes - self._leaves
