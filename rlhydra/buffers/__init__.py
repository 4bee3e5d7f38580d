"""Replay buffers for off-policy algorithms."""

from rlhydra.buffers.base import ReplayBuffer
from rlhydra.buffers.prioritized import PrioritizedReplayBuffer
from rlhydra.buffers.sum_tree import SumTree

__all__ = ["PrioritizedReplayBuffer", "ReplayBuffer", "SumTree"]
