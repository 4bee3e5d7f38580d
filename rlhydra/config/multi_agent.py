"""Multi-agent settings resolved: each module's `module` config, the policy mapping function, the modules it names."""
from __future__ import annotations

from typing import Any, Callable, Dict, List

from rlhydra.config.algorithm_config import AlgorithmConfig
from rlhydra.config.schema import ConfigError
from rlhydra.config.targets import import_object

SHARED = "shared"  # the module id of `policy_mapping: shared`
PROBE_EPISODES = 8  # a user's mapping function is asked about this many episode ids to find the modules it uses


def module_config(config: AlgorithmConfig, module_id: str) -> Dict[str, Any]:
    """The `module` group's settings with `multi_agent.policies[module_id]`'s overrides on top."""
    merged = dict(config.module)
    merged.update(config.multi_agent.policies.get(module_id) or {})
    return merged


def shared_mapping(agent_id: str, episode: Any) -> str:
    """`policy_mapping: shared`: one module for every agent."""
    return SHARED


def independent_mapping(agent_id: str, episode: Any) -> str:
    """`policy_mapping: independent`: a module per agent, named after it."""
    return agent_id


def mapping_function(config: AlgorithmConfig) -> Callable[[str, Any], str]:
    """`multi_agent.policy_mapping` as a function (agent_id, episode) -> module id."""
    mapping = config.multi_agent.policy_mapping
    if mapping == "shared":
        return shared_mapping
    if mapping == "independent":
        return independent_mapping
    target = mapping["_target_"]
    try:
        fn = import_object(target)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigError(f"multi_agent.policy_mapping._target_={target}: cannot import it ({exc})") from None
    if not callable(fn):
        raise ConfigError(f"multi_agent.policy_mapping._target_={target}: not a function (agent_id, episode) -> module id")
    return fn


def agents_by_module(config: AlgorithmConfig, agents: List[str], episode_cls: Any) -> Dict[str, List[str]]:
    """module id -> the agents the mapping gives it, over a few probe episodes; modules declared in
    `multi_agent.policies` but never mapped to are a ConfigError (nothing would tell their spaces)."""
    fn = mapping_function(config)
    found: Dict[str, List[str]] = {}
    for episode_id in range(PROBE_EPISODES):
        for agent in agents:
            try:
                mid = fn(agent, episode_cls(episode_id, 0))
            except Exception as exc:
                raise ConfigError(f"multi_agent.policy_mapping: the mapping function raised for agent '{agent}': "
                                  f"{type(exc).__name__}: {exc}") from None
            if not isinstance(mid, str):
                raise ConfigError(f"multi_agent.policy_mapping: returned {mid!r} for agent '{agent}'; it must return "
                                  "a module id (str)")
            if agent not in found.setdefault(mid, []):
                found[mid].append(agent)
    declared = config.multi_agent.policies
    if declared:
        unknown = [m for m in found if m not in declared]
        if unknown:
            raise ConfigError(f"multi_agent.policy_mapping maps agents to {', '.join(unknown)}, not declared in "
                              f"multi_agent.policies ({', '.join(declared)}); declare them or fix the mapping")
        unused = [m for m in declared if m not in found]
        if unused:
            raise ConfigError(f"multi_agent.policies: {', '.join(unused)} gets no agent from "
                              f"multi_agent.policy_mapping (agents: {', '.join(agents)}); remove it or map agents to it")
    trained = config.multi_agent.policies_to_train
    for mid in trained or ():
        if mid not in found:
            raise ConfigError(f"multi_agent.policies_to_train: '{mid}' is not a module (modules: {', '.join(found)})")
    return found
