"""env -> module connectors: observations in their travelling dtypes, optional normalisation, tensors.

Observations keep their shape and dtype on the way to the module (images stay uint8, Discrete stays an int; a
Dict/Tuple observation is a tree, see data/tree.py); the module's encoder turns them into floats. Only floating
leaves change: float64 travels as float32.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import gymnasium as gym
import numpy as np
import torch

from rlhydra.connectors.pipeline import Batch, Connector, ConnectorPipeline
from rlhydra.data import columns as C
from rlhydra.data import tree


class CastObservations(Connector):
    """Raw env observations (any tree) -> numpy leaves in the dtypes of `tree.leaf_dtypes(space)`."""

    def __init__(self, observation_space: gym.Space) -> None:
        self.observation_space = observation_space
        self.dtypes = tree.leaf_dtypes(observation_space)

    def __call__(self, batch: Batch, *, update: bool = True) -> Batch:
        batch[C.OBS] = tree.as_leaf_dtype(batch[C.OBS], self.dtypes)
        return batch


class FlattenObservations(Connector):
    """Any observation tree -> one [N, D] float32 Box (Discrete and MultiDiscrete one-hot, as
    `gymnasium.spaces.flatten`): add it to `env_runners.env_to_module_connectors` to feed a Dict env to an MLP."""

    def __init__(self) -> None:
        self.space: Optional[gym.Space] = None

    def transform_space(self, observation_space: gym.Space) -> gym.Space:
        self.space = observation_space
        flat = gym.spaces.flatten_space(observation_space)
        return gym.spaces.Box(flat.low.astype(np.float32), flat.high.astype(np.float32), dtype=np.float32)

    def __call__(self, batch: Batch, *, update: bool = True) -> Batch:
        if self.space is None:
            raise RuntimeError("FlattenObservations: transform_space(observation_space) must be called first")
        parts = _flat_parts(self.space, batch[C.OBS])
        batch[C.OBS] = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)
        return batch


def _flat_parts(space: gym.Space, obs: Any) -> List[np.ndarray]:
    if isinstance(space, gym.spaces.Dict):
        return [p for key, sub in space.spaces.items() for p in _flat_parts(sub, obs[key])]
    if isinstance(space, gym.spaces.Tuple):
        return [p for i, sub in enumerate(space.spaces) for p in _flat_parts(sub, obs[i])]
    obs = np.asarray(obs)
    if isinstance(space, gym.spaces.Discrete):
        return [np.eye(int(space.n), dtype=np.float32)[obs.astype(np.int64) - int(space.start)]]
    if isinstance(space, gym.spaces.MultiDiscrete):
        flat = (obs - space.start).reshape(len(obs), -1).astype(np.int64)
        return [np.eye(int(n), dtype=np.float32)[flat[:, i]] for i, n in enumerate(space.nvec.reshape(-1))]
    return [obs.reshape(len(obs), -1).astype(np.float32, copy=False)]


class RunningMoments:
    """Running mean, variance and count of rows (Chan et al.'s parallel update, SB3's RunningMeanStd), checkpointed
    and merged across runner workers by counts."""

    def __init__(self, shape: Tuple[int, ...], count: float) -> None:
        self.mean = np.zeros(shape, np.float64)
        self.var = np.ones(shape, np.float64)
        self.count = count

    def _update(self, x: np.ndarray) -> None:
        batch_mean, batch_var, n = x.mean(0), x.var(0), x.shape[0]
        delta, total = batch_mean - self.mean, self.count + n
        m2 = self.var * self.count + batch_var * n + delta**2 * self.count * n / total
        self.mean, self.var, self.count = self.mean + delta * n / total, m2 / total, total

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


class NormalizeObservations(RunningMoments, Connector):
    """Running mean/std normalisation (Welford over batches) of float Box observations, clipped; checkpointed."""

    def __init__(self, shape: Any, clip: float = 10.0, eps: float = 1e-8) -> None:
        super().__init__((int(shape),) if np.isscalar(shape) else tuple(shape), count=eps)
        self.clip, self.eps = clip, eps

    def __call__(self, batch: Batch, *, update: bool = True) -> Batch:
        obs = batch[C.OBS]
        if update:
            self._update(obs)
        normed = (obs - self.mean) / np.sqrt(self.var + self.eps)
        batch[C.OBS] = np.clip(normed, -self.clip, self.clip).astype(np.float32)
        return batch


class ObsToTensor(Connector):
    """Observations as torch tensors (a tree of them) on the module's device, sharing memory on CPU."""

    def __init__(self, device: torch.device | str = "cpu") -> None:
        self.device = torch.device(device)

    def __call__(self, batch: Batch, *, update: bool = True) -> Batch:
        batch[C.OBS] = tree.to_torch(batch[C.OBS], None if self.device.type == "cpu" else self.device)
        return batch


def normalize_problem(observation_space: gym.Space) -> Optional[str]:
    """None if running mean/std normalisation applies to these observations, else why not."""
    if isinstance(observation_space, gym.spaces.Box) and np.issubdtype(observation_space.dtype, np.floating):
        return None
    return (f"env_runners.normalize_obs=true normalises float Box observations, not {observation_space}. Set it to "
            "false, or add a connector of your own (env_runners.env_to_module_connectors) that normalises the "
            "entries you want")


def default_env_to_module(
    observation_space: gym.Space, *, normalize: bool = False, clip: float = 10.0, device: str = "cpu"
) -> ConnectorPipeline:
    """Cast to the travelling dtypes -> (normalise) -> tensors; `observation_space` is after the user's connectors."""
    pipeline = ConnectorPipeline([CastObservations(observation_space)])
    if normalize:
        problem = normalize_problem(observation_space)
        if problem:
            raise ValueError(problem)
        pipeline.append(NormalizeObservations(observation_space.shape, clip))
    pipeline.append(ObsToTensor(device))
    return pipeline
