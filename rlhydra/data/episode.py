"""Episode: one trajectory (or a piece of one), built step by step and finalized to numpy."""
from __future__ import annotations

import uuid
from typing import Any, Dict, List, Optional

import numpy as np

from rlhydra.data import tree


class Episode:
    """One trajectory: len(obs) == len(actions) + 1; terminated and truncated are kept apart. Dict/Tuple
    observations finalize to a tree of arrays (see data/tree.py)."""

    def __init__(self, id_: Optional[str] = None) -> None:
        self.id_ = id_ or uuid.uuid4().hex
        self.obs: Any = []
        self.actions: Any = []
        self.rewards: Any = []
        self.infos: List[Dict[str, Any]] = []
        self.extra: Dict[str, Any] = {}
        self.terminated = False
        self.truncated = False
        self.is_finalized = False

    # ---- building ------------------------------------------------------------------------------
    def add_reset(self, obs: Any, info: Optional[Dict[str, Any]] = None) -> None:
        """Start the episode with the first observation."""
        if self.obs:
            raise ValueError("add_reset() on an episode that already has observations")
        self.obs.append(obs)
        self.infos.append(info or {})

    def add_step(
        self,
        obs: Any,
        action: Any,
        reward: float,
        *,
        terminated: bool = False,
        truncated: bool = False,
        info: Optional[Dict[str, Any]] = None,
        extra: Optional[Dict[str, Any]] = None,
    ) -> None:
        """Append one transition: the action taken, its reward and the observation it led to."""
        if self.is_finalized:
            raise ValueError("cannot add_step() to a finalized episode")
        if not self.obs:
            raise ValueError("call add_reset(obs) before add_step()")
        if self.is_done:
            raise ValueError(f"episode {self.id_} is already done")
        self.obs.append(obs)
        self.actions.append(action)
        self.rewards.append(reward)
        self.infos.append(info or {})
        for key, value in (extra or {}).items():
            self.extra.setdefault(key, []).append(value)
        self.terminated, self.truncated = bool(terminated), bool(truncated)

    def finalize(self) -> "Episode":
        """Turn the step lists into numpy arrays (in place); returns self."""
        if not self.is_finalized:
            self.obs = tree.stack(self.obs) if self.obs and tree.is_nested(self.obs[0]) else np.asarray(self.obs)
            self.actions = np.asarray(self.actions)
            self.rewards = np.asarray(self.rewards, dtype=np.float32)
            self.extra = {k: np.asarray(v) for k, v in self.extra.items()}
            self.is_finalized = True
        return self

    # ---- reading -------------------------------------------------------------------------------
    @property
    def is_done(self) -> bool:
        return self.terminated or self.truncated

    def __len__(self) -> int:
        return len(self.actions)

    def get_return(self) -> float:
        """The undiscounted sum of rewards."""
        return float(np.sum(self.rewards))

    def __getitem__(self, item: slice) -> "Episode":
        """Steps [start:stop] as a new finalized episode (obs keeps the one extra final observation)."""
        if not isinstance(item, slice) or item.step not in (None, 1):
            raise TypeError("episodes are sliced by contiguous step ranges, e.g. episode[10:20]")
        self.finalize()
        start, stop, _ = item.indices(len(self))
        stop = max(start, stop)
        piece = Episode(self.id_)
        piece.obs = tree.index(self.obs, slice(start, stop + 1))
        piece.actions = self.actions[start:stop]
        piece.rewards = self.rewards[start:stop]
        piece.infos = self.infos[start : stop + 1]
        piece.extra = {k: v[start:stop] for k, v in self.extra.items()}
        at_end = stop == len(self)
        piece.terminated, piece.truncated = self.terminated and at_end, self.truncated and at_end
        piece.is_finalized = True
        return piece

    def concat(self, other: "Episode") -> "Episode":
        """This piece followed by `other`, which must continue it (same id, starting at this last obs)."""
        self.finalize()
        other.finalize()
        if other.id_ != self.id_:
            raise ValueError(f"cannot concat episode {other.id_} to episode {self.id_}")
        if self.is_done:
            raise ValueError(f"episode {self.id_} is done; nothing can follow it")
        if not all(np.array_equal(a[-1], b[0]) for a, b in zip(tree.leaves(self.obs), tree.leaves(other.obs))):
            raise ValueError("the second piece must start at the first piece's last observation")
        joined = Episode(self.id_)
        joined.obs = tree.concat([self.obs, tree.index(other.obs, slice(1, None))])
        joined.actions = np.concatenate([self.actions, other.actions])
        joined.rewards = np.concatenate([self.rewards, other.rewards])
        joined.infos = self.infos + other.infos[1:]
        joined.extra = {k: np.concatenate([v, other.extra[k]]) for k, v in self.extra.items()}
        joined.terminated, joined.truncated = other.terminated, other.truncated
        joined.is_finalized = True
        return joined

    def __repr__(self) -> str:
        state = "terminated" if self.terminated else "truncated" if self.truncated else "running"
        return f"Episode(id={self.id_[:8]}, len={len(self)}, return={self.get_return():.3g}, {state})"
