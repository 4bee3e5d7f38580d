"""A Gymnasium env's state as plain data (numbers, arrays as tensors, its RNG), for checkpoints that resume exactly.

Gymnasium has no state API, and pickling an env would make loading a checkpoint run code. So the state is read
from the attributes of every layer of the env (wrappers and the unwrapped env): plain values (numbers, strings,
bools, numpy arrays, tuples/lists/dicts of them) and the env's `np_random` generator are saved; spaces, specs and
render handles are not state. An env whose unwrapped class defines `get_state()`/`set_state(state)` (returning
plain data) is saved through those instead.

Wrappers' deques (FrameStackObservation's frames) are saved as plain data. Atari (ale-py) envs are saved through
the emulator's own serialized state with its RNG (`ale.cloneState(include_rng=True)`: sticky actions resume exactly).
MinAtar envs are saved through their game objects' attributes and their shared `RandomState`.

MuJoCo envs are saved too: their `MjData` as MuJoCo's integration state (`mj_getState`) plus its arrays;
their `MjModel` comes from the config, like the spaces (an env that edits its model while running is not
restored exactly). An env with any other attribute (a simulator handle, an open file) cannot be captured:
`capture` says which attribute, and a resumed run resets such envs instead of continuing their episodes.
"""
from __future__ import annotations

import collections
import numbers
from typing import Any, Dict, List, Optional, Tuple

import gymnasium as gym
import numpy as np
import torch

# Attributes that are configuration or handles, not state (a restored env is built from the same config).
NOT_STATE = {"env", "spec", "_cached_spec", "_saved_kwargs", "metadata", "_metadata", "render_mode",
             "action_space", "observation_space", "_action_space", "_observation_space", "screen", "clock",
             "_np_random_seed", "_ezpickle_args", "_ezpickle_kwargs", "mujoco_renderer"}
RNG = "_np_random"
MJ_MODEL, MJ_DATA = "model", "data"  # MuJoCo envs: the compiled model (from the config) and the physics state
ALE, ALE_ACTION_SET = "ale", "_action_set"  # Atari envs: the emulator, and its actions (from the game, not state)
MINATAR_GAME = "game"  # MinAtar envs: a minatar.environment.Environment holding the game (`env`) and its RNG


def capture(env: gym.Env) -> Tuple[Optional[List[Any]], Optional[str]]:
    """(state, None), or (None, why not) when some layer holds state that is not plain data."""
    try:
        return [_capture_layer(layer, custom=layer is env.unwrapped and _has_state_api(layer))
                for layer in _layers(env)], None
    except _NotPlain as exc:
        return None, str(exc)


def restore(env: gym.Env, state: List[Any]) -> None:
    """Put a state from `capture()` back into an env built from the same config."""
    layers = _layers(env)
    names = [type(layer).__name__ for layer in layers]
    saved = [name for name, _ in state]
    if names != saved:
        raise ValueError(f"the env's layers are {names}, the saved state's are {saved}")
    for layer, (_, attrs) in zip(layers, state):
        if "__custom__" in attrs:
            layer.set_state(_decode(attrs["__custom__"]))
            continue
        for name, value in attrs.items():
            if isinstance(value, dict) and "__mjdata__" in value:
                _set_mujoco_state(layer, value["__mjdata__"])
            elif isinstance(value, dict) and "__ale__" in value:
                _set_ale_state(layer, value["__ale__"])
            elif isinstance(value, dict) and "__minatar__" in value:
                _set_minatar_state(layer.game, _decode(value["__minatar__"]))
            elif name == RNG:
                rng = None
                if value is not None:
                    rng = np.random.Generator(getattr(np.random, value["bit_generator"])())
                    rng.bit_generator.state = value
                setattr(layer, name, rng)
            else:
                setattr(layer, name, _decode(value))


class _NotPlain(Exception):
    pass


def _capture_layer(layer: gym.Env, *, custom: bool) -> Tuple[str, Dict[str, Any]]:
    if custom:
        return type(layer).__name__, {"__custom__": _encode(layer.get_state(), _path(layer, "get_state()"))}
    attrs: Dict[str, Any] = {}
    mujoco, ale = _is_mujoco(layer), _is_ale(layer)
    for name, value in vars(layer).items():
        if name in NOT_STATE or isinstance(value, (gym.Space, gym.envs.registration.EnvSpec)):
            continue
        if (mujoco and name == MJ_MODEL) or (ale and name == ALE_ACTION_SET):
            continue
        if name == RNG:
            attrs[name] = None if value is None else value.bit_generator.state
        elif mujoco and name == MJ_DATA:
            attrs[name] = {"__mjdata__": _mujoco_state(layer)}
        elif name == MINATAR_GAME and _is_minatar(value):
            attrs[name] = {"__minatar__": _encode(_minatar_state(value), _path(layer, name))}
        elif ale and name == ALE:
            state = bytearray(layer.ale.cloneState(include_rng=True).serialize())
            attrs[name] = {"__ale__": torch.frombuffer(state, dtype=torch.uint8).clone()}
        else:
            attrs[name] = _encode(value, _path(layer, name))
    return type(layer).__name__, attrs


def _is_mujoco(layer: gym.Env) -> bool:
    model, data = getattr(layer, MJ_MODEL, None), getattr(layer, MJ_DATA, None)
    return type(model).__name__ == "MjModel" and type(data).__name__ == "MjData"


def _mujoco_state(layer: gym.Env) -> Dict[str, Any]:
    """MjData's whole integration state (`mj_getState`: qpos, qvel, act, warm start, controls, time, ...) and
    every array it holds, so that quantities an env reads before stepping (e.g. `xpos`) are as they were."""
    import mujoco

    spec = mujoco.mjtState.mjSTATE_INTEGRATION
    integration = np.empty(mujoco.mj_stateSize(layer.model, spec), np.float64)
    mujoco.mj_getState(layer.model, layer.data, integration, spec)
    arrays = {}
    for name in dir(layer.data):
        value = None if name.startswith("_") else getattr(layer.data, name, None)
        if isinstance(value, np.ndarray) and value.size:
            arrays[name] = torch.from_numpy(value.copy())
    return {"integration": torch.from_numpy(integration), "arrays": arrays}


def _is_ale(layer: gym.Env) -> bool:
    return type(vars(layer).get(ALE)).__name__ == "ALEInterface"


def _set_ale_state(layer: gym.Env, state: torch.Tensor) -> None:
    import ale_py

    layer.ale.restoreState(ale_py.ALEState(state.numpy().tobytes()))


def _is_minatar(game: Any) -> bool:
    return type(game).__module__ == "minatar.environment" and isinstance(getattr(game, "random", None),
                                                                          np.random.RandomState)


def _minatar_state(game: Any) -> Dict[str, Any]:
    """The wrapper's and the game's attributes; their RandomState once when they share it (after a seeded reset)."""
    shared = game.env.random is game.random
    return {"game": {k: v for k, v in vars(game).items() if k not in ("env", "random")},
            "env": {k: v for k, v in vars(game.env).items() if k != "random"},
            "random": game.random.get_state(), "env_random": None if shared else game.env.random.get_state()}


def _set_minatar_state(game: Any, state: Dict[str, Any]) -> None:
    for target, attrs in ((game, state["game"]), (game.env, state["env"])):
        for name, value in attrs.items():
            setattr(target, name, value)
    game.random = np.random.RandomState()
    game.random.set_state(state["random"])
    if state["env_random"] is None:
        game.env.random = game.random
    else:
        game.env.random = np.random.RandomState()
        game.env.random.set_state(state["env_random"])


def _set_mujoco_state(layer: gym.Env, state: Dict[str, Any]) -> None:
    import mujoco

    mujoco.mj_setState(layer.model, layer.data, state["integration"].numpy(), mujoco.mjtState.mjSTATE_INTEGRATION)
    for name, saved in state["arrays"].items():
        target = getattr(layer.data, name)
        if target.shape == saved.shape:  # the others are sized by this step's contacts: mj_step remakes them
            target[...] = saved.numpy()


def _layers(env: gym.Env) -> List[gym.Env]:
    layers = [env]
    while isinstance(layers[-1], gym.Wrapper):
        layers.append(layers[-1].env)
    return layers


def _has_state_api(env: gym.Env) -> bool:
    return callable(getattr(env, "get_state", None)) and callable(getattr(env, "set_state", None)) \
        and not hasattr(env, "data")  # MuJoCo envs have set_state(qpos, qvel), a different thing


def _path(layer: gym.Env, name: str) -> str:
    return f"{type(layer).__name__}.{name}"


def _encode(value: Any, path: str) -> Any:
    """Plain data with numpy arrays and scalars as tagged tensors (loadable with weights_only=True)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "SU":
            return {"__strarray__": value.tolist(), "dtype": value.dtype.str}
        if value.dtype.kind not in "biufc":
            raise _NotPlain(f"{path} is an array of dtype {value.dtype}")
        return {"__ndarray__": torch.from_numpy(np.array(value))}
    if isinstance(value, np.generic):
        return {"__npscalar__": torch.from_numpy(np.array(value))}
    if isinstance(value, numbers.Number):
        return value
    if isinstance(value, collections.deque):
        return {"__deque__": [_encode(v, f"{path}[{i}]") for i, v in enumerate(value)], "maxlen": value.maxlen}
    if isinstance(value, (list, tuple)):
        items = [_encode(v, f"{path}[{i}]") for i, v in enumerate(value)]
        return items if isinstance(value, list) else {"__tuple__": items}
    if isinstance(value, dict) and all(isinstance(k, (str, int)) for k in value):
        return {"__dict__": {k: _encode(v, f"{path}[{k!r}]") for k, v in value.items()}}
    raise _NotPlain(f"{path} is a {type(value).__module__}.{type(value).__name__}, which rlhydra cannot save")


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "__ndarray__" in value:
        return value["__ndarray__"].numpy().copy()
    if "__strarray__" in value:
        return np.array(value["__strarray__"], dtype=value["dtype"])
    if "__npscalar__" in value:
        return value["__npscalar__"].numpy()[()]
    if "__deque__" in value:
        return collections.deque([_decode(v) for v in value["__deque__"]], maxlen=value["maxlen"])
    if "__tuple__" in value:
        return tuple(_decode(v) for v in value["__tuple__"])
    return {k: _decode(v) for k, v in value["__dict__"].items()}
