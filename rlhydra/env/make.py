"""Making Gymnasium envs from the `env` config: id resolution with suggestions, vector envs, spaces."""
from __future__ import annotations

import contextlib
import difflib
import functools
import importlib
import logging
from typing import Any, Callable, Dict, Iterator, List, Tuple

import gymnasium as gym
from gymnasium.vector import AutoresetMode, VectorEnv
from hydra.utils import instantiate

from rlhydra.config.env_class import env_class_of, register_env_class
from rlhydra.config.schema import ConfigError, EnvConfig
from rlhydra.config.targets import import_class
from rlhydra.env.wrappers import frame_stack, preprocessing_wrappers

# Namespaces whose package registers its ids when imported: prefix -> (module to import, pip package)
PACKAGE_NAMESPACES = {"ALE/": ("ale_py", "ale-py"), "MinAtar/": ("minatar.gym", "minatar")}


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
    _register_namespace(env_id, name)
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


def _register_namespace(env_id: str, name: str) -> None:
    """Import the package that registers `name`'s namespace (ALE/, MinAtar/) when its ids are not registered yet."""
    for prefix, (module, package) in PACKAGE_NAMESPACES.items():
        if not name.startswith(prefix) or any(key.startswith(prefix) for key in gym.registry):
            continue
        try:
            with _quiet_root_logger():  # minatar warns through logging that seaborn (for its GUI) is missing
                imported = importlib.import_module(module)
        except ImportError as exc:
            raise ConfigError(f"env.id={env_id}: the {prefix} ids come with the {package} package, which cannot be "
                              f"imported ({exc}). Install it: pip install {package}") from None
        if hasattr(imported, "register_envs"):  # minatar registers on request; ale_py when imported
            imported.register_envs()


@contextlib.contextmanager
def _quiet_root_logger() -> Iterator[None]:
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(previous)


def make_vector_env(env: EnvConfig, num_envs: int, *, training: bool = True) -> VectorEnv:
    """A vector env of `num_envs` copies, autoreset in the same step (final obs in `info['final_obs']`).

    `training=False` (evaluation envs) leaves out the training-only wrappers of `env.preprocessing` (Atari's
    episodic life and reward clipping), so that evaluation returns are whole games' raw scores."""
    spec = resolve_env_spec(env.id)
    _check_preprocessing(env, spec)
    return gym.make_vec(
        spec.id,
        num_envs=num_envs,
        vectorization_mode=env.vectorization_mode,
        vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP},
        wrappers=build_wrappers(env, training=training) or None,
        **_make_kwargs(env),
    )


def env_spaces(env: EnvConfig) -> Tuple[gym.Space, gym.Space]:
    """Single-env observation and action spaces (wrappers applied), read from one short-lived env."""
    spec = resolve_env_spec(env.id)
    _check_preprocessing(env, spec)
    probe = gym.make(spec.id, **_make_kwargs(env))
    for wrap in build_wrappers(env):
        probe = wrap(probe)
    try:
        return probe.observation_space, probe.action_space
    finally:
        probe.close()


def build_wrappers(env: EnvConfig, *, training: bool = False) -> List[Callable[[gym.Env], gym.Env]]:
    """Callables env -> wrapped env, in order: `env.preprocessing`'s (the training-only ones when `training`),
    `env.wrappers` entries ({_target_: ..., kwargs} or a dotted path), then `env.frame_stack`'s."""
    wrappers = preprocessing_wrappers(env.preprocessing, training=training)
    for i, node in enumerate(env.wrappers):
        node = {"_target_": node} if isinstance(node, str) else dict(node)
        if "_target_" not in node:
            raise ConfigError(f"env.wrappers[{i}]: needs a _target_ (e.g. gymnasium.wrappers.ClipReward)")
        try:  # a gymnasium.Wrapper class, checked before anything is called
            import_class(node["_target_"], gym.Wrapper, f"env.wrappers[{i}]")
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"env.wrappers[{i}]._target_={node['_target_']}: cannot import it ({exc})") from None
        wrappers.append(instantiate(node, _partial_=True, _convert_="all"))
    if env.frame_stack > 1:
        wrappers.append(functools.partial(frame_stack, stack_size=env.frame_stack))
    return wrappers


def _check_preprocessing(env: EnvConfig, spec: gym.envs.registration.EnvSpec) -> None:
    if env.preprocessing == "atari" and not str(spec.entry_point).startswith("ale_py"):
        raise ConfigError(f"env.preprocessing=atari: env.id={env.id} is not an Atari (ale-py) env; use an ALE id "
                          "(env=atari env.id=ALE/Breakout-v5) or set env.preprocessing=null")
    if env.preprocessing == "atari" and env.kwargs.get("frameskip", 1) != 1:
        raise ConfigError(f"env.kwargs.frameskip={env.kwargs['frameskip']}: env.preprocessing=atari skips 4 frames "
                          "itself (max-pooling the last 2); remove env.kwargs.frameskip")


def _make_kwargs(env: EnvConfig) -> Dict[str, Any]:
    kwargs = dict(env.kwargs)
    if env.preprocessing == "atari":  # ALE v5 ids skip 4 frames themselves; AtariPreprocessing does it instead
        kwargs["frameskip"] = 1
    if env.max_episode_steps is not None:
        kwargs["max_episode_steps"] = env.max_episode_steps
    return kwargs
