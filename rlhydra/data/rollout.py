"""Rollout: what an EnvRunner ships per iteration: N envs' streams side by side, time-major numpy arrays."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Iterator, List

import numpy as np

from rlhydra.data import columns as C
from rlhydra.data import tree
from rlhydra.data.episode import Episode


@dataclass
class Rollout:
    """T vector steps of N envs: `data[col]` has shape [T, N, ...] (obs columns: a tree of such arrays); next_obs
    holds the real final obs at episode ends."""

    data: Dict[str, np.ndarray]
    episode_returns: List[float] = field(default_factory=list)  # episodes completed in this rollout
    episode_lengths: List[int] = field(default_factory=list)

    @property
    def num_steps(self) -> int:
        """Env steps in this rollout (T * N)."""
        rewards = self.data[C.REWARDS]
        return int(rewards.shape[0] * rewards.shape[1])

    def __getitem__(self, column: str) -> np.ndarray:
        return self.data[column]

    @staticmethod
    def concat(rollouts: List["Rollout"]) -> "Rollout":
        """Rollouts of different env runners side by side (along the env axis)."""
        if len(rollouts) == 1:
            return rollouts[0]
        data = {k: tree.concat([r.data[k] for r in rollouts], axis=1) for k in rollouts[0].data}
        returns = [x for r in rollouts for x in r.episode_returns]
        lengths = [x for r in rollouts for x in r.episode_lengths]
        return Rollout(data, returns, lengths)

    def episodes(self) -> Iterator[Episode]:
        """Cut each env's stream into Episode pieces at episode ends (the first and last may be partial)."""
        obs, next_obs = self.data[C.OBS], self.data[C.NEXT_OBS]
        done = self.data[C.TERMINATED] | self.data[C.TRUNCATED]
        extra_cols = [k for k in self.data if k not in (C.OBS, C.NEXT_OBS, C.ACTIONS, C.REWARDS,
                                                          C.TERMINATED, C.TRUNCATED)]
        num_t, num_envs = done.shape
        for env in range(num_envs):
            start = 0
            ends = list(np.flatnonzero(done[:, env]))
            if not ends or ends[-1] != num_t - 1:
                ends.append(num_t - 1)
            for end in ends:
                ep = Episode()
                ep.obs = tree.concat([tree.index(obs, (slice(start, end + 1), env)),
                                      tree.index(next_obs, (slice(end, end + 1), env))])
                ep.actions = self.data[C.ACTIONS][start : end + 1, env]
                ep.rewards = self.data[C.REWARDS][start : end + 1, env]
                ep.infos = [{} for _ in range(end - start + 2)]
                ep.extra = {k: tree.index(self.data[k], (slice(start, end + 1), env)) for k in extra_cols}
                ep.terminated = bool(self.data[C.TERMINATED][end, env])
                ep.truncated = bool(self.data[C.TRUNCATED][end, env]) and not ep.terminated
                ep.is_finalized = True
                yield ep
                start = end + 1
