"""Gymnasium spaces as JSON (for checkpoint metadata): what a module was built for, readable without the env."""
from __future__ import annotations

from typing import Any, Dict

import gymnasium as gym
import numpy as np


def space_to_json(space: gym.Space) -> Dict[str, Any]:
    """A JSON-able description that `space_from_json` turns back into an equal space."""
    if isinstance(space, gym.spaces.Box):
        return {"type": "Box", "shape": list(space.shape), "dtype": space.dtype.str,
                "low": _bound(space.low), "high": _bound(space.high)}
    if isinstance(space, gym.spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    if isinstance(space, gym.spaces.MultiDiscrete):
        return {"type": "MultiDiscrete", "nvec": space.nvec.tolist(), "start": space.start.tolist()}
    if isinstance(space, gym.spaces.MultiBinary):
        return {"type": "MultiBinary", "n": np.asarray(space.n).tolist()}
    if isinstance(space, gym.spaces.Tuple):
        return {"type": "Tuple", "spaces": [space_to_json(s) for s in space.spaces]}
    if isinstance(space, gym.spaces.Dict):
        return {"type": "Dict", "spaces": {k: space_to_json(s) for k, s in space.spaces.items()}}
    return {"type": type(space).__name__, "repr": repr(space)}  # compared by its repr only


def space_from_json(data: Dict[str, Any]) -> gym.Space:
    """The space `space_to_json` described (a ValueError for a kind it only recorded by name)."""
    kind = data["type"]
    if kind == "Box":
        dtype = np.dtype(data["dtype"])
        shape = tuple(data["shape"])
        return gym.spaces.Box(np.broadcast_to(np.asarray(data["low"], dtype), shape),
                              np.broadcast_to(np.asarray(data["high"], dtype), shape), shape, dtype)
    if kind == "Discrete":
        return gym.spaces.Discrete(data["n"], start=data["start"])
    if kind == "MultiDiscrete":
        return gym.spaces.MultiDiscrete(data["nvec"], start=data["start"])
    if kind == "MultiBinary":
        return gym.spaces.MultiBinary(data["n"])
    if kind == "Tuple":
        return gym.spaces.Tuple([space_from_json(s) for s in data["spaces"]])
    if kind == "Dict":
        return gym.spaces.Dict({k: space_from_json(s) for k, s in data["spaces"].items()})
    raise ValueError(f"a {kind} space cannot be rebuilt from a checkpoint ({data.get('repr')})")


def _bound(values: np.ndarray) -> Any:
    """One number when every entry is the same (image spaces), else the nested list."""
    flat = values.reshape(-1)
    if flat.size and (flat == flat[0]).all():
        return flat[0].item()
    return values.tolist()
