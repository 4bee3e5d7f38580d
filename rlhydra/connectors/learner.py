"""Learner connectors: value predictions, GAE (truncation bootstraps, termination does not), flatten, to device."""
from __future__ import annotations

from typing import Tuple

import numpy as np
import torch

from rlhydra.connectors.pipeline import Batch, Connector
from rlhydra.data import columns as C
from rlhydra.data import tree


def compute_gae(
    rewards: np.ndarray,
    values: np.ndarray,
    next_values: np.ndarray,
    terminated: np.ndarray,
    truncated: np.ndarray,
    gamma: float,
    lam: float,
) -> Tuple[np.ndarray, np.ndarray]:
    """GAE over time-major [T, N] arrays; next_values[t] is V of the real next obs (the final obs at an episode end).

    A terminated step has no future value; a truncated one bootstraps from its final obs. Either way the
    advantage recursion stops at the episode end.
    """
    not_terminated = 1.0 - terminated.astype(values.dtype)
    deltas = rewards + gamma * not_terminated * next_values - values
    keep = gamma * lam * (1.0 - (terminated | truncated).astype(values.dtype))
    advantages = np.zeros_like(deltas)
    last = np.zeros_like(deltas[0])
    for t in range(len(deltas) - 1, -1, -1):
        last = deltas[t] + keep[t] * last
        advantages[t] = last
    return advantages, advantages + values


class AddValuePredictions(Connector):
    """V(obs) and V(next_obs) from the module's value head, in one forward pass."""

    def __init__(self, module: torch.nn.Module) -> None:
        self.module = module

    @torch.no_grad()
    def __call__(self, batch: Batch, *, update: bool = True) -> Batch:
        num_t, num_envs = tree.first_leaf(batch[C.OBS]).shape[:2]
        both = tree.reshape_batch(tree.concat([batch[C.OBS], batch[C.NEXT_OBS]]), 2, (2 * num_t * num_envs,))
        device = next(self.module.parameters()).device
        values = self.module.compute_values(tree.to_torch(both, device)).float().cpu().numpy()
        values = values.reshape(2, num_t, num_envs)
        batch[C.VF_PREDS], batch[C.NEXT_VF_PREDS] = values[0], values[1]
        return batch


class GeneralAdvantageEstimation(Connector):
    """Advantages and value targets from rewards and value predictions."""

    def __init__(self, gamma: float, lam: float) -> None:
        self.gamma, self.lam = gamma, lam

    def __call__(self, batch: Batch, *, update: bool = True) -> Batch:
        advantages, targets = compute_gae(
            batch[C.REWARDS], batch[C.VF_PREDS], batch[C.NEXT_VF_PREDS],
            batch[C.TERMINATED], batch[C.TRUNCATED], self.gamma, self.lam,
        )
        batch[C.ADVANTAGES], batch[C.VALUE_TARGETS] = advantages, targets
        return batch


class FlattenTime(Connector):
    """[T, N, ...] columns (or trees of them) -> [T * N, ...]."""

    def __call__(self, batch: Batch, *, update: bool = True) -> Batch:
        return {k: tree.map_tree(_flatten_time, v) for k, v in batch.items()}


def _flatten_time(x: np.ndarray) -> np.ndarray:
    return x.reshape(x.shape[0] * x.shape[1], *x.shape[2:])


class ToDevice(Connector):
    """numpy columns (or trees of them) -> torch tensors on the learner's device, once per iteration."""

    def __init__(self, device: torch.device) -> None:
        self.device = device

    def __call__(self, batch: Batch, *, update: bool = True) -> Batch:
        return {k: tree.to_torch(v, self.device, non_blocking=True) for k, v in batch.items()}
