"""module -> env connectors: sample from the action distribution, to numpy, clip or unsquash to the bounds."""
from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch

from rlhydra.connectors.pipeline import Batch, Connector, ConnectorPipeline
from rlhydra.data import columns as C


class SampleActions(Connector):
    """Actions (and their log-probs when exploring) from `action_dist_inputs`; skipped if the module gave actions."""

    def __init__(self, dist_cls: Any, *, deterministic: bool = False) -> None:
        self.dist_cls, self.deterministic = dist_cls, deterministic

    def __call__(self, batch: Batch, *, update: bool = True) -> Batch:
        if C.ACTIONS in batch:
            return batch
        dist = self.dist_cls.from_inputs(batch[C.ACTION_DIST_INPUTS])
        if self.deterministic:
            batch[C.ACTIONS] = dist.deterministic_sample()
        else:
            batch[C.ACTIONS], batch[C.ACTION_LOGP] = dist.sample_and_logp()
        return batch


class TensorsToNumpy(Connector):
    """Every tensor in the batch to a CPU numpy array."""

    def __call__(self, batch: Batch, *, update: bool = True) -> Batch:
        return {k: v.cpu().numpy() if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


class ClipActions(Connector):
    """Box actions clipped to the space bounds for env.step; the unclipped ones stay for the loss."""

    def __init__(self, action_space: gym.spaces.Box) -> None:
        self.low, self.high = action_space.low, action_space.high

    def __call__(self, batch: Batch, *, update: bool = True) -> Batch:
        batch[C.ENV_ACTIONS] = np.clip(batch[C.ACTIONS], self.low, self.high)
        return batch


class UnsquashActions(Connector):
    """Actions in [-1, 1] (e.g. tanh-squashed) rescaled to the Box bounds."""

    def __init__(self, action_space: gym.spaces.Box) -> None:
        self.low, self.high = action_space.low, action_space.high

    def __call__(self, batch: Batch, *, update: bool = True) -> Batch:
        actions = np.clip(batch[C.ACTIONS], -1.0, 1.0)
        batch[C.ENV_ACTIONS] = self.low + 0.5 * (actions + 1.0) * (self.high - self.low)
        return batch


class PassActions(Connector):
    """env actions are the sampled actions (Discrete, or Box without clipping)."""

    def __call__(self, batch: Batch, *, update: bool = True) -> Batch:
        batch[C.ENV_ACTIONS] = batch[C.ACTIONS]
        return batch


def default_module_to_env(
    action_space: gym.Space, dist_cls: Any, *, deterministic: bool = False,
    clip_actions: bool = True, squashed: bool = False,
) -> ConnectorPipeline:
    """Sample -> numpy -> clip/unsquash (Box) or pass (Discrete)."""
    pipeline = ConnectorPipeline([SampleActions(dist_cls, deterministic=deterministic), TensorsToNumpy()])
    if isinstance(action_space, gym.spaces.Box) and squashed:
        pipeline.append(UnsquashActions(action_space))
    elif isinstance(action_space, gym.spaces.Box) and clip_actions:
        pipeline.append(ClipActions(action_space))
    else:
        pipeline.append(PassActions())
    return pipeline
