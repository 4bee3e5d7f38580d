"""The two pipelines an env runner applies around its module: the user's connectors around the defaults."""
from __future__ import annotations

from typing import Any, Tuple

import gymnasium as gym

from rlhydra.config.schema import EnvRunnersConfig
from rlhydra.connectors.env_to_module import default_env_to_module
from rlhydra.connectors.module_to_env import default_module_to_env
from rlhydra.connectors.pipeline import ConnectorPipeline, build_connectors


def build_runner_connectors(
    runner_config: EnvRunnersConfig, observation_space: gym.Space, action_space: gym.Space, dist_cls: type,
    *, explore: bool, squashed_actions: bool,
) -> Tuple[ConnectorPipeline, ConnectorPipeline]:
    """(env->module, module->env) for a module whose action distribution is `dist_cls`."""
    rc = runner_config
    user_in = build_connectors(rc.env_to_module_connectors, "env_runners.env_to_module_connectors")
    for connector in user_in:
        observation_space = connector.transform_space(observation_space)
    defaults = default_env_to_module(observation_space, normalize=rc.normalize_obs, clip=rc.normalize_obs_clip)
    env_to_module = ConnectorPipeline(user_in + defaults.connectors)
    module_to_env = default_module_to_env(
        action_space, dist_cls, deterministic=not explore, clip_actions=rc.clip_actions, squashed=squashed_actions,
    )
    for connector in build_connectors(rc.module_to_env_connectors, "env_runners.module_to_env_connectors"):
        module_to_env.append(connector)
    return env_to_module, module_to_env


def module_observation_space(runner_config: EnvRunnersConfig, env_observation_space: Any) -> Any:
    """The observation space the module sees: the env's, after the user's env->module connectors."""
    space = env_observation_space
    for connector in build_connectors(runner_config.env_to_module_connectors, "env_runners.env_to_module_connectors"):
        space = connector.transform_space(space)
    return space
