"""A gymnasium.Env class as the env: the builders' `.environment(MyEnv, env_config={...})` and the command line's
`env.id=my_pkg.envs:MyEnv`. The class is registered with Gymnasium under a generated id, so the env runners make
it with `gymnasium.make` like any registered env.

The env's constructor gets `env_config` as keyword arguments (Gymnasium's way), or, when its only argument is
named `config` / `env_config` (RLlib's way, `MyEnv(config)`), as that one dict.
"""
from __future__ import annotations

import functools
import importlib
import inspect
import re
from typing import Any, Optional

import gymnasium as gym

CONFIG_ARGUMENTS = ("config", "env_config")  # a constructor whose only argument has one of these names takes a dict


def class_path(cls: type) -> Optional[str]:
    """'module:QualName' when another process can import the class by that path, else None (a class defined in
    `__main__` or inside a function)."""
    if cls.__module__ == "__main__" or "<locals>" in cls.__qualname__:
        return None
    try:
        obj: Any = importlib.import_module(cls.__module__)
        for part in cls.__qualname__.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError):
        return None
    return f"{cls.__module__}:{cls.__qualname__}" if obj is cls else None


def takes_config_dict(cls: type) -> bool:
    """Whether the constructor takes the env config as one dict (RLlib's `MyEnv(config)`) rather than kwargs."""
    try:
        params = list(inspect.signature(cls).parameters.values())
    except (TypeError, ValueError):
        return False
    return (len(params) == 1 and params[0].name in CONFIG_ARGUMENTS
            and params[0].kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD))


def make_with_config_dict(cls: type, **env_config: Any) -> gym.Env:
    """Gymnasium's entry point for an RLlib-style env: the make kwargs as the constructor's one dict."""
    return cls(dict(env_config))


def register_env_class(cls: type) -> str:
    """Register `cls` with Gymnasium (again, if the id was another class's) and return its generated id,
    'rlhydra/<module>.<QualName>'."""
    if not (isinstance(cls, type) and issubclass(cls, gym.Env)):
        raise TypeError(f"{cls!r} is not a gymnasium.Env subclass")
    env_id = "rlhydra/" + re.sub(r"[^\w.-]", "_", f"{cls.__module__}.{cls.__qualname__}")
    entry_point: Any = functools.partial(make_with_config_dict, cls) if takes_config_dict(cls) else cls
    gym.registry.pop(env_id, None)
    gym.register(id=env_id, entry_point=entry_point)
    return env_id


def env_class_of(module: Any, name: str) -> Optional[type]:
    """The gymnasium.Env subclass `name` of an imported module (dotted for a nested class), or None."""
    obj: Any = module
    for part in name.split("."):
        obj = getattr(obj, part, None)
    return obj if isinstance(obj, type) and issubclass(obj, gym.Env) else None

