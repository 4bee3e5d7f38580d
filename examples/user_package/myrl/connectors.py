"""A user env->module connector: the corridor position as a one-hot vector."""
from __future__ import annotations

import gymnasium as gym
import numpy as np

from rlhydra.connectors import Connector
from rlhydra.connectors.pipeline import Batch
from rlhydra.data.columns import OBS


class OneHotPosition(Connector):
    """[N, 1] integer positions -> [N, length] one-hot float32 (runs before rlhydra's own connectors)."""

    def __init__(self, length: int) -> None:
        self.length = length

    def __call__(self, batch: Batch, *, update: bool = True) -> Batch:
        pos = np.asarray(batch[OBS]).reshape(len(batch[OBS]), -1)[:, 0]
        index = np.clip(np.rint(pos).astype(np.int64), 0, self.length - 1)
        batch[OBS] = np.eye(self.length, dtype=np.float32)[index]
        return batch

    def transform_space(self, observation_space: gym.Space) -> gym.Space:
        return gym.spaces.Box(0.0, 1.0, shape=(self.length,), dtype=np.float32)
