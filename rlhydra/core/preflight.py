"""Everything checked before any env or worker starts: the config alone, then the classes it names (module,
connectors, replay buffer), the env id, and one env's spaces against the algorithm and its module."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import gymnasium as gym
import numpy as np
from omegaconf import MISSING, DictConfig

from rlhydra.buffers import ReplayBuffer
from rlhydra.config.algorithm_config import AlgorithmConfig
from rlhydra.config.registry import get_algorithm_spec, no_multi_agent_version
from rlhydra.config.schema import ConfigError, OffPolicyTrainingConfig
from rlhydra.config.targets import (
    BUFFER_SUPPLIED, DEFAULT_BUFFER, MODULE_SUPPLIED, check_target, import_object, module_target_and_kwargs,
)
from rlhydra.config.validate import config_from_hydra, config_problems, raise_problems
from rlhydra.connectors.env_to_module import normalize_problem
from rlhydra.connectors.pipeline import Connector
from rlhydra.connectors.runner_pipelines import module_observation_space
from rlhydra.config.multi_agent import agents_by_module, module_config
from rlhydra.env.make import env_spaces, resolve_env_spec
from rlhydra.env.multi_agent_runner import AgentEpisode
from rlhydra.env.pettingzoo_env import agent_spaces, pettingzoo_factory
from rlhydra.env.video import check_video_support
from rlhydra.data.columns import ACTION_MASK
from rlhydra.models.apis import missing_api_methods
from rlhydra.models.catalog import space_problem
from rlhydra.models.rl_module import RLModule


def check_hydra_config(cfg: DictConfig) -> AlgorithmConfig:
    """Composed Hydra config -> validated AlgorithmConfig, or ConfigError naming every bad key."""
    config = config_from_hydra(cfg)
    validate(config)
    return config


def validate(config: AlgorithmConfig) -> None:
    """Raise one ConfigError listing every problem, each with its key and fix."""
    raise_problems(problems(config))


def problems(config: AlgorithmConfig) -> List[str]:
    """Every problem of a config, with what it names and the env it makes; empty when it is sound."""
    errors = config_problems(config)
    errors.extend(_connector_problems(config))
    errors.extend(_module_problems(config))
    if config.env.api == "pettingzoo":
        errors += _buffer_problems(config)
        return errors + multi_agent_problems(config, env_too=not errors)
    if not errors:  # the env is only made once the rest of the config is sound
        errors.extend(_env_problems(config))
    else:  # but a misspelt env id is reported with the rest (it costs no env)
        errors.extend(_env_id_problems(config))
    errors.extend(_buffer_problems(config))
    return errors


def space_problems(config: AlgorithmConfig, obs_space: Any, act_space: Any) -> List[str]:
    """Can the algorithm and its module serve these spaces (`obs_space` as the module sees it: after the user's
    env->module connectors)? Each problem names what is needed."""
    spec = get_algorithm_spec(config.algorithm.name)
    discrete = (gym.spaces.Discrete, gym.spaces.MultiDiscrete, gym.spaces.MultiBinary)
    kind = "discrete" if isinstance(act_space, discrete) else "continuous"
    if kind not in spec.action_spaces:
        return [f"algorithm={spec.name} needs {' or '.join(spec.action_spaces)} actions, but env "
                f"'{config.env.id}' has {kind} actions ({act_space}). Pick an algorithm that supports "
                "them or another env."]
    try:
        target, kwargs = module_target_and_kwargs(config.module, spec.default_module, spec.recurrent_module, spec.name)
    except ConfigError:
        return []  # reported by the module check
    try:
        cls = import_object(target)
    except (ImportError, AttributeError, ValueError):
        return []  # reported by the module check
    problem = _module_space_problem(cls, kwargs, obs_space, act_space)
    if problem:
        return [f"module: {problem} (env.id={config.env.id}). Pick another env or module._target_."]
    return []


def _module_space_problem(cls: type, kwargs: Dict[str, Any], obs_space: Any, act_space: Any) -> Optional[str]:
    """The module class's own check; for the catalog's modules, with the module's encoder settings: a user's
    `module.encoder` takes whatever it takes, and `module.conv_filters` must fit the images."""
    if not hasattr(cls, "check_spaces"):
        return None
    if kwargs.get("encoder"):  # only the action side (and a mask's fit) is checked
        stand_in = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
        if isinstance(obs_space, gym.spaces.Dict) and ACTION_MASK in obs_space.spaces:
            stand_in = gym.spaces.Dict({ACTION_MASK: obs_space[ACTION_MASK], "observation": stand_in})
        return cls.check_spaces(stand_in, act_space)
    problem = cls.check_spaces(obs_space, act_space)
    if problem is None and kwargs.get("conv_filters") and not kwargs.get("encoders"):
        problem = space_problem(obs_space, kwargs["conv_filters"])
    return problem


def _env_problems(config: AlgorithmConfig) -> List[str]:
    """The env id resolves, the env constructs with its kwargs and wrappers, and its spaces suit the algorithm."""
    errors = _env_id_problems(config)
    if errors:
        return errors
    try:  # constructs one env object to read its spaces; nothing is reset or stepped
        obs_space, act_space = env_spaces(config.env)
    except ConfigError as exc:
        return [str(exc)]
    except Exception as exc:
        return [f"env: {config.env.id} could not be made with env.kwargs={config.env.kwargs} and "
                f"env.wrappers={config.env.wrappers}: {type(exc).__name__}: {exc}"]
    module_obs_space, problem = _connector_space(config, obs_space, f"env '{config.env.id}'")
    if problem:
        return [problem]
    errors = space_problems(config, module_obs_space, act_space)
    problem = normalize_problem(module_obs_space) if config.env_runners.normalize_obs else None
    errors += [problem] if problem else []
    if config.evaluation.video:
        problem = check_video_support(config.env, config.evaluation.video_format)
        errors += [problem] if problem else []
    return errors


def _connector_space(config: AlgorithmConfig, obs_space: Any, whose: str) -> Tuple[Any, Optional[str]]:
    """(the observation space after the user's env->module connectors, None), or (None, why it could not be had)."""
    try:
        return module_observation_space(config.env_runners, obs_space), None
    except ConfigError as exc:
        return None, str(exc)
    except Exception as exc:
        return None, (f"env_runners.env_to_module_connectors: transform_space() raised on {whose}'s observation "
                      f"space {obs_space}: {type(exc).__name__}: {exc}")


def _env_id_problems(config: AlgorithmConfig) -> List[str]:
    """The env id is set and registered (suggesting close ones when it is not)."""
    if config.env.id in (MISSING, "", None):
        return ["env.id: not set. Pick an env group (env=cartpole) or set env.id=<Gymnasium id>."]
    try:
        resolve_env_spec(config.env.id)
    except ConfigError as exc:
        return [str(exc)]
    return []


def _module_problems(config: AlgorithmConfig) -> List[str]:
    """The module class imports, is an RLModule, takes the given keys and has every method the learner calls."""
    spec = get_algorithm_spec(config.algorithm.name)
    try:
        target, kwargs = module_target_and_kwargs(config.module, spec.default_module, spec.recurrent_module, spec.name)
    except ConfigError as exc:
        return [str(exc)]
    errors = check_target("module", target, kwargs, MODULE_SUPPLIED, RLModule)
    if errors:
        return errors
    missing = missing_api_methods(import_object(target), spec.module_apis)
    if not missing:
        return []
    apis = ", ".join(f"{api.__module__}.{api.__qualname__}" for api in spec.module_apis)
    return [f"module._target_={target}: {target.rpartition('.')[2]} lacks {', '.join(missing)}, which "
            f"{spec.name}'s learner calls. Implement them (subclass {apis} to see each method's contract), or "
            "pick another module._target_."]


def _connector_problems(config: AlgorithmConfig) -> List[str]:
    errors = []
    for key in ("env_to_module_connectors", "module_to_env_connectors"):
        for i, node in enumerate(getattr(config.env_runners, key)):
            kwargs = {"_target_": node} if isinstance(node, str) else dict(node)
            target = kwargs.pop("_target_", None)
            if not target:
                errors.append(f"env_runners.{key}[{i}]: needs a _target_ (a rlhydra.connectors.Connector class)")
                continue
            errors += check_target(f"env_runners.{key}[{i}]", target, kwargs, (), Connector)
    return errors


def multi_agent_problems(config: AlgorithmConfig, env_too: bool = True) -> List[str]:
    """A PettingZoo run: the algorithm has a multi-agent version, the env id imports, and (`env_too`) the env is made
    once to check the policy mapping and each module against its agents' spaces."""
    errors = []
    spec = get_algorithm_spec(config.algorithm.name)
    if spec.multi_agent_class is None:
        errors.append(no_multi_agent_version(spec.name))
    if config.evaluation.num_env_runners:
        errors.append(f"evaluation.num_env_runners={config.evaluation.num_env_runners}: multi-agent evaluation runs in "
                      "the main process; set evaluation.num_env_runners=0 (env_runners.num_env_runners samples in "
                      "workers)")
    if config.module.get("use_lstm"):
        errors.append("module.use_lstm=true: multi-agent runs (env.api=pettingzoo) carry no recurrent state yet; "
                      "set module.use_lstm=false")
    if config.env_runners.normalize_rewards:
        errors.append("env_runners.normalize_rewards=true: multi-agent runners do not normalise rewards yet; set it "
                      "to false")
    if config.env.frame_stack > 1 or config.env.wrappers or config.env.preprocessing:
        errors.append("env.frame_stack / env.wrappers / env.preprocessing: Gymnasium wrappers do not apply to a "
                      "PettingZoo env; wrap it in your env function instead (e.g. with supersuit)")
    try:
        pettingzoo_factory(config.env.id)
    except ConfigError as exc:
        return errors + [str(exc)]
    if errors or not env_too:
        return errors
    try:
        spaces = agent_spaces(config.env)
    except ConfigError as exc:
        return [str(exc)]
    except Exception as exc:
        return [f"env: {config.env.id} could not be made with env.kwargs={config.env.kwargs}: "
                f"{type(exc).__name__}: {exc}"]
    if config.self_play.enabled:
        if len(spaces) != 2:
            return [f"self_play.enabled=true: self-play is for two-player games; env '{config.env.id}' has "
                    f"{len(spaces)} agents ({', '.join(spaces)}). Set self_play.enabled=false."]
        groups = {"main": list(spaces)}
    else:
        try:
            groups = agents_by_module(config, list(spaces), AgentEpisode)
        except ConfigError as exc:
            return [str(exc)]
    for mid, agents in groups.items():
        obs_space, act_space = spaces[agents[0]]
        differ = [a for a in agents[1:] if spaces[a] != spaces[agents[0]]]
        if differ:
            errors.append(f"multi_agent.policy_mapping: module '{mid}' acts for agents {agents[0]} and {differ[0]}, "
                          "whose spaces differ; use multi_agent.policy_mapping=independent, or a mapping function "
                          "that gives them different modules")
            continue
        module_cfg = config.copy()
        module_cfg.module = module_config(config, mid)
        obs_space, problem = _connector_space(config, obs_space, f"agent {agents[0]}")
        if problem:
            errors.append(problem)
            continue
        errors += [f"multi_agent.policies.{mid} (agents {', '.join(agents)}): {p}"
                   for p in space_problems(module_cfg, obs_space, act_space)]
        errors += [f"multi_agent.policies.{mid}: {p}" for p in _module_problems(module_cfg)]
    return errors


def _buffer_problems(config: AlgorithmConfig) -> List[str]:
    if not isinstance(config.algorithm, OffPolicyTrainingConfig):
        return []
    target, kwargs = module_target_and_kwargs(config.buffer, DEFAULT_BUFFER)
    errors = check_target("buffer", target, kwargs, BUFFER_SUPPLIED, ReplayBuffer)
    if isinstance(kwargs.get("capacity"), int) and kwargs["capacity"] < 1:  # a non-integer: check_target said so
        errors.append(f"buffer.capacity: must be a positive integer, got {kwargs['capacity']}")
    return errors
