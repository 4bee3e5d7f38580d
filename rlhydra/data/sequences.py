"""Time-major [T, N] rollout columns cut into sequences for recurrent modules (pure numpy).

A sequence is at most `max_seq_len` consecutive steps of one env that never crosses an episode end: a new one
starts at t = 0, after every step that ended an episode, and `max_seq_len` steps after the previous start. Columns
become [S, L, ...] (L = max_seq_len), zero-padded after each sequence's last step, with a [S, L] mask of its real
steps; the recurrent state a sequence starts from is the STATE_IN the runner stored at its first step.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rlhydra.data.tree import Tree, map_tree


@dataclass(frozen=True)
class Sequences:
    """Where each sequence sits in the [T, N] rollout: its env, first step and length, each [S]."""

    env: np.ndarray
    start: np.ndarray
    length: np.ndarray
    max_seq_len: int
    num_t: int
    num_envs: int

    @property
    def num_sequences(self) -> int:
        return int(len(self.env))

    def mask(self, extra: int = 0) -> np.ndarray:
        """[S, L + extra] bool: True at each sequence's real steps."""
        return np.arange(self.max_seq_len + extra)[None, :] < self.length[:, None]

    def gather(self, column: Tree) -> Tree:
        """A [T, N, ...] column (a tree) -> [S, L, ...], zeros after each sequence's last step."""
        time_idx, mask = self._time_index(), self.mask()
        return map_tree(lambda x: _masked(x[time_idx, self.env[:, None]], mask), column)

    def gather_with_next(self, column: Tree, next_column: Tree) -> Tree:
        """[S, L + 1, ...]: the sequence's steps of `column`, then `next_column` at its last step (the observation
        that followed it), then zeros. Replaying it gives every value a truncation or a cut needs to bootstrap."""
        time_idx = self._time_index(extra=1)
        last = self.start + self.length - 1
        valid = self.mask(extra=1)

        def join(x: np.ndarray, nxt: np.ndarray) -> np.ndarray:
            out = _masked(x[time_idx, self.env[:, None]], valid)
            out[np.arange(self.num_sequences), self.length] = nxt[last, self.env]
            return out
        return map_tree(join, column, next_column)

    def initial(self, column: Tree) -> Tree:
        """The [T, N, ...] column at each sequence's first step: [S, ...] (e.g. the state it starts from)."""
        return map_tree(lambda x: x[self.start, self.env], column)

    def scatter(self, values: np.ndarray, offset: int = 0) -> np.ndarray:
        """[S, L + extra, ...] per-sequence values (from position `offset` of each) back to [T, N, ...]."""
        out = np.zeros((self.num_t, self.num_envs, *values.shape[2:]), values.dtype)
        mask = self.mask()
        seq, pos = np.nonzero(mask)
        out[self.start[seq] + pos, self.env[seq]] = values[seq, pos + offset]
        return out

    def _time_index(self, extra: int = 0) -> np.ndarray:
        steps = self.start[:, None] + np.arange(self.max_seq_len + extra)[None, :]
        last = (self.start + self.length - 1)[:, None]
        return np.minimum(steps, last)  # padding reads the last real step, then is zeroed


def cut_sequences(dones: np.ndarray, max_seq_len: int) -> Sequences:
    """The sequences of a [T, N] rollout whose `dones[t, n]` is True where step t ended env n's episode."""
    if max_seq_len < 1:
        raise ValueError(f"max_seq_len must be >= 1, got {max_seq_len}")
    num_t, num_envs = dones.shape
    envs, starts, lengths = [], [], []
    for n in range(num_envs):
        bounds = [0, *(np.flatnonzero(dones[:-1, n]) + 1).tolist(), num_t]
        for begin, end in zip(bounds[:-1], bounds[1:]):
            for s in range(begin, end, max_seq_len):
                envs.append(n)
                starts.append(s)
                lengths.append(min(max_seq_len, end - s))
    return Sequences(np.asarray(envs, np.int64), np.asarray(starts, np.int64), np.asarray(lengths, np.int64),
                     max_seq_len, num_t, num_envs)


def _masked(x: Any, mask: np.ndarray) -> np.ndarray:
    """`x` [S, L, ...] with the steps where `mask` is False set to zero (False for bools)."""
    x = np.array(x, copy=True)
    x[~mask] = 0
    return x
