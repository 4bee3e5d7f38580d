"""PettingZoo envs from `env.id='pkg.module:fn'`: ParallelEnv and AEC (turn-based) envs behind one interface."""
from __future__ import annotations

import importlib
from typing import Any, Callable, Dict, List, Optional, Tuple

import gymnasium as gym

from rlhydra.config.schema import ConfigError, EnvConfig

# agent -> (its observation, its reward since it last acted, terminated, truncated); observation None: not given
Outcomes = Dict[str, Tuple[Any, float, bool, bool]]


def pettingzoo_factory(env_id: str) -> Callable[..., Any]:
    """The callable `env.id='pkg.module:fn'` names, or a ConfigError naming the key and the fix."""
    module_name, _, name = env_id.rpartition(":")
    usage = ("env=pettingzoo takes env.id=<module>:<callable> returning a PettingZoo ParallelEnv or AEC env, e.g. "
             "pettingzoo.classic.tictactoe_v3:env or mpe2.simple_spread_v3:parallel_env")
    if not module_name or not name:
        raise ConfigError(f"env.id={env_id}: {usage}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"env.id={env_id}: cannot import '{module_name}' ({exc}). Install the package "
                          "(pip install pettingzoo, mpe2, ...) or add it to PYTHONPATH.") from None
    factory = getattr(module, name, None)
    if not callable(factory):
        found = [n for n in ("env", "parallel_env", "raw_env") if callable(getattr(module, n, None))]
        hint = f"; it has {', '.join(f'{module_name}:{n}' for n in found)}" if found else ""
        raise ConfigError(f"env.id={env_id}: '{module_name}' has no callable '{name}'{hint}. {usage}")
    return factory


def make_agent_env(env: EnvConfig, *, render_mode: Optional[str] = None) -> "AgentEnv":
    """One PettingZoo env made by `env.id`'s callable with `env.kwargs`, behind AgentEnv's interface."""
    kwargs = dict(env.kwargs)
    if render_mode:
        kwargs["render_mode"] = render_mode
    made = pettingzoo_factory(env.id)(**kwargs)
    if not hasattr(made, "possible_agents") or not hasattr(made, "step"):
        raise ConfigError(f"env.id={env.id}: returned {type(made).__name__}, not a PettingZoo ParallelEnv or AEC env "
                          "(it needs possible_agents, reset, step)")
    return AgentEnv(made)


def agent_spaces(env: EnvConfig) -> Dict[str, Tuple[gym.Space, gym.Space]]:
    """agent id -> (observation space, action space) of every possible agent, from one short-lived env."""
    probe = make_agent_env(env)
    try:
        return {a: (probe.env.observation_space(a), probe.env.action_space(a)) for a in probe.possible_agents}
    finally:
        probe.close()


class AgentEnv:
    """A ParallelEnv (every live agent acts each step) or an AEC env (the selected agent acts; agents that are done
    take their dead step here) with one interface: reset and step return who acts next and what each agent got."""

    def __init__(self, env: Any) -> None:
        self.env = env
        self.turn_based = callable(getattr(env, "last", None))  # AEC envs have last(); pettingzoo stays optional
        self.possible_agents: List[str] = list(env.possible_agents)

    def reset(self, seed: Optional[int]) -> Tuple[Outcomes, Dict[str, Any]]:
        """(outcomes, agent -> observation of every agent to act now)."""
        if self.turn_based:
            self.env.reset(seed=seed)
            return self._advance()
        obs, _ = self.env.reset(seed=seed)
        return {}, {a: obs[a] for a in self.env.agents}

    def step(self, actions: Dict[str, Any]) -> Tuple[Outcomes, Dict[str, Any]]:
        """Act; (what each acting agent got, and in AEC envs any agent observed since; agent -> obs to act on)."""
        if self.turn_based:
            (agent, action), = actions.items()
            self.env.step(action)
            return self._advance()
        obs, rewards, terminated, truncated, _ = self.env.step(actions)
        outcomes = {a: (obs.get(a), float(rewards.get(a, 0.0)), bool(terminated.get(a, False)),
                        bool(truncated.get(a, False))) for a in actions}
        return outcomes, {a: obs[a] for a in self.env.agents}

    def _advance(self) -> Tuple[Outcomes, Dict[str, Any]]:
        """AEC: dead steps for agents that are done, until a live agent is to act or the game is over."""
        outcomes: Outcomes = {}
        while self.env.agents:
            agent = self.env.agent_selection
            obs, reward, terminated, truncated, _ = self.env.last()
            previous = outcomes.get(agent)
            reward = float(reward) + (previous[1] if previous else 0.0)
            outcomes[agent] = (obs, reward, bool(terminated), bool(truncated))
            if not (terminated or truncated):
                return outcomes, {agent: obs}
            self.env.step(None)
        return outcomes, {}

    @property
    def done(self) -> bool:
        """No agent is left: the episode is over."""
        return not self.env.agents

    def render(self) -> Any:
        return self.env.render()

    def close(self) -> None:
        self.env.close()
