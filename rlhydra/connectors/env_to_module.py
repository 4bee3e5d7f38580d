"""env -> module connectors: flatten observations, normalise them with running statistics, make tensors."""
from __future__ import annotations

from typing import Any, Dict, List

import gymnasium as gym
import numpy as np
import torch

from rlhydra.connectors.pipeline import Batch, Connector, ConnectorPipeline
from rlhydra.data import columns as C


class FlattenObservations(Connector):
    """[N, *shape] Box observations -> [N, D] float32; Discrete -> one-hot."""

    def __init__(self, observation_space: gym.Space) -> None:
        self.discrete_n = observation_space.n if isinstance(observation_space, gym.spaces.Discrete) else None

    def __call__(self, batch: Batch, *, update: bool = True) -> Batch:
        obs = batch[C.OBS]
        if self.discrete_n is not None:
            obs = np.eye(self.discrete_n, dtype=np.float32)[np.asarray(obs, dtype=np.int64)]
        else:
            obs = np.asarray(obs, dtype=np.float32).reshape(len(obs), -1)
        batch[C.OBS] = obs
        return batch


class NormalizeObservations(Connector):
    """Running mean/std normalisation (Welford over batches), clipped; state is checkpointed."""

    def __init__(self, dim: int, clip: float = 10.0, eps: float = 1e-8) -> None:
        self.mean = np.zeros(dim, np.float64)
        self.var = np.ones(dim, np.float64)
        self.count = eps
        self.clip, self.eps = clip, eps

    def __call__(self, batch: Batch, *, update: bool = True) -> Batch:
        obs = batch[C.OBS]
        if update:
            self._update(obs)
        normed = (obs - self.mean) / np.sqrt(self.var + self.eps)
        batch[C.OBS] = np.clip(normed, -self.clip, self.clip).astype(np.float32)
        return batch

    def _update(self, x: np.ndarray) -> None:
        batch_mean, batch_var, n = x.mean(0), x.var(0), x.shape[0]
        delta, total = batch_mean - self.mean, self.count + n
        self.mean = self.mean + delta * n / total
        m2 = self.var * self.count + batch_var * n + delta**2 * self.count * n / total
        self.var, self.count = m2 / total, total

    def get_state(self) -> Dict[str, Any]:
        return {"mean": torch.from_numpy(self.mean.copy()), "var": torch.from_numpy(self.var.copy()),
                "count": float(self.count)}

    def set_state(self, state: Dict[str, Any]) -> None:
        self.mean = np.asarray(state["mean"], np.float64).copy()
        self.var = np.asarray(state["var"], np.float64).copy()
        self.count = float(state["count"])

    @staticmethod
    def merge_states(base: Dict[str, Any], states: List[Dict[str, Any]]) -> Dict[str, Any]:
        """One state from runners' states that each started at `base`: base plus every runner's new data, by counts."""
        base_count, base_mean = float(base["count"]), np.asarray(base["mean"], np.float64)
        base_m2 = np.asarray(base["var"], np.float64) * base_count
        count, mean, m2 = base_count, base_mean, base_m2
        for state in states:
            total = float(state["count"])
            n = total - base_count  # observations this runner added since base
            if n <= 0:
                continue
            # Take base out of the runner's statistics (the pairwise update inverted), then add what is left.
            new_mean = (total * np.asarray(state["mean"], np.float64) - base_count * base_mean) / n
            new_m2 = np.asarray(state["var"], np.float64) * total - base_m2
            new_m2 = np.maximum(new_m2 - (new_mean - base_mean) ** 2 * base_count * n / total, 0.0)
            delta = new_mean - mean
            mean = mean + delta * n / (count + n)
            m2 = m2 + new_m2 + delta**2 * count * n / (count + n)
            count += n
        return {"mean": torch.from_numpy(mean), "var": torch.from_numpy(m2 / count), "count": count}


class ObsToTensor(Connector):
    """Observations as a torch tensor on the module's device (shares memory on CPU)."""

    def __init__(self, device: torch.device | str = "cpu") -> None:
        self.device = torch.device(device)

    def __call__(self, batch: Batch, *, update: bool = True) -> Batch:
        batch[C.OBS] = torch.from_numpy(batch[C.OBS]).to(self.device)
        return batch


def default_env_to_module(
    observation_space: gym.Space, *, normalize: bool = False, clip: float = 10.0, device: str = "cpu"
) -> ConnectorPipeline:
    """Flatten -> (normalise) -> tensor."""
    pipeline = ConnectorPipeline([FlattenObservations(observation_space)])
    if normalize:
        dim = observation_space.n if isinstance(observation_space, gym.spaces.Discrete) else int(
            np.prod(observation_space.shape))
        pipeline.append(NormalizeObservations(dim, clip))
    pipeline.append(ObsToTensor(device))
    return pipeline
