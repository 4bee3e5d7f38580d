"""Making Gymnasium envs from the `env` config: id resolution with suggestions, vector envs, spaces."""
from __future__ import annotations

import difflib
import importlib
from typing import Any, Callable, Dict, List, Tuple

import gymnasium as gym
from gymnasium.vector import AutoresetMode, VectorEnv
from hydra.utils import instantiate

from rlhydra.config.env_class import env_class_of, register_env_class
from rlhydra.config.schema import ConfigError, EnvConfig
from rlhydra.config.targets import import_class


def resolve_env_spec(env_id: str) -> gym.envs.registration.EnvSpec:
    """The registered spec of `env_id` ('pkg.module:EnvId' imports the package first), or a ConfigError."""
    module, _, name = env_id.rpartition(":")
    imported = None
    if module:
        try:
            imported = importlib.import_module(module)
        except ImportError as exc:
            raise ConfigError(
                f"env.id={env_id}: cannot import '{module}' ({exc}). Install your package or add it to PYTHONPATH."
            ) from None
    try:
        return gym.spec(name)
    except gym.error.Error:
        env_class = env_class_of(imported, name) if imported is not None else None
        if env_class is not None:  # 'pkg.module:MyEnv', a gymnasium.Env class: registered here, in each process
            return gym.spec(register_env_class(env_class))
        close = difflib.get_close_matches(name, list(gym.registry), n=3, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ConfigError(
            f"env.id={env_id}: no such Gymnasium environment is registered.{hint} "
            "Use a registered id, 'your_pkg.module:EnvId' to import the package that registers it, or "
            "'your_pkg.module:YourEnvClass' (a gymnasium.Env subclass)."
        ) from None


def make_vector_env(env: EnvConfig, num_envs: int) -> VectorEnv:
    """A vector env of `num_envs` copies, autoreset in the same step (final obs in `info['final_obs']`)."""
    spec = resolve_env_spec(env.id)
    return gym.make_vec(
        spec.id,
        num_envs=num_envs,
        vectorization_mode=env.vectorization_mode,
        vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP},
        wrappers=build_wrappers(env) or None,
        **_make_kwargs(env),
    )


def env_spaces(env: EnvConfig) -> Tuple[gym.Space, gym.Space]:
    """Single-env observation and action spaces (wrappers applied), read from one short-lived env."""
    spec = resolve_env_spec(env.id)
    probe = gym.make(spec.id, **_make_kwargs(env))
    for wrap in build_wrappers(env):
        probe = wrap(probe)
    try:
        return probe.observation_space, probe.action_space
    finally:
        probe.close()


def build_wrappers(env: EnvConfig) -> List[Callable[[gym.Env], gym.Env]]:
    """`env.wrappers` entries ({_target_: ..., kwargs} or a dotted path) as callables env -> wrapped env."""
    wrappers = []
    for i, node in enumerate(env.wrappers):
        node = {"_target_": node} if isinstance(node, str) else dict(node)
        if "_target_" not in node:
            raise ConfigError(f"env.wrappers[{i}]: needs a _target_ (e.g. gymnasium.wrappers.ClipReward)")
        try:  # a gymnasium.Wrapper class, checked before anything is called
            import_class(node["_target_"], gym.Wrapper, f"env.wrappers[{i}]")
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"env.wrappers[{i}]._target_={node['_target_']}: cannot import it ({exc})") from None
        wrappers.append(instantiate(node, _partial_=True, _convert_="all"))
    return wrappers


def _make_kwargs(env: EnvConfig) -> Dict[str, Any]:
    kwargs = dict(env.kwargs)
    if env.max_episode_steps is not None:
        kwargs["max_episode_steps"] = env.max_episode_steps
    return kwargs
