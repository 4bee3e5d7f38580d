"""MultiAgentRollout: what a multi-agent env runner ships per iteration: each module's agent steps, stream by stream."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List

import numpy as np

from rlhydra.data import columns as C
from rlhydra.data import tree

STREAM_END = "stream_end"  # True on the last step of an (env, agent) stream in this rollout: GAE stops there


@dataclass
class MultiAgentRollout:
    """`batches[module_id][col]`: flat [L, ...] columns (obs: a tree), each (env copy, agent) stream's steps in
    order, streams one after another, `STREAM_END` on each stream's last step. Episode statistics: the team's
    (returns summed over agents), each agent's and each module's."""

    batches: Dict[str, Dict[str, np.ndarray]]
    num_steps: int  # env steps (one per env copy per vector step; a turn of an AEC game is one)
    episode_returns: List[float] = field(default_factory=list)
    episode_lengths: List[int] = field(default_factory=list)
    agent_returns: Dict[str, List[float]] = field(default_factory=dict)
    module_returns: Dict[str, List[float]] = field(default_factory=dict)

    def agent_steps(self, module_id: str) -> int:
        """The steps of `module_id`'s agents in this rollout."""
        batch = self.batches.get(module_id)
        return 0 if batch is None else int(len(batch[C.REWARDS]))

    @staticmethod
    def concat(rollouts: List["MultiAgentRollout"]) -> "MultiAgentRollout":
        """Rollouts of different env runners together (their streams one after another)."""
        if len(rollouts) == 1:
            return rollouts[0]
        batches: Dict[str, Dict[str, np.ndarray]] = {}
        for mid in {m for r in rollouts for m in r.batches}:
            parts = [r.batches[mid] for r in rollouts if mid in r.batches]
            batches[mid] = {k: tree.concat([p[k] for p in parts]) for k in parts[0]}
        merged = MultiAgentRollout(batches, sum(r.num_steps for r in rollouts))
        for r in rollouts:
            merged.episode_returns += r.episode_returns
            merged.episode_lengths += r.episode_lengths
            for key, values in r.agent_returns.items():
                merged.agent_returns.setdefault(key, []).extend(values)
            for key, values in r.module_returns.items():
                merged.module_returns.setdefault(key, []).extend(values)
        return merged
