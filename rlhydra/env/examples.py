"""Small PettingZoo envs for tests, examples and benchmarks: `env.id=rlhydra.env.examples:multi_cartpole`."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import gymnasium as gym
from pettingzoo.utils.env import ParallelEnv


class MultiCartPole(ParallelEnv):
    """N independent CartPole-v1 games, one per agent (RLlib's MultiAgentCartPole): each agent's episode ends on
    its own (pole down, or 500 steps); the env is over when every agent's is."""

    metadata = {"name": "multi_cartpole_v0", "render_modes": []}

    def __init__(self, num_agents: int = 2, render_mode: Optional[str] = None) -> None:
        self.possible_agents: List[str] = [f"cartpole_{i}" for i in range(num_agents)]
        self.agents: List[str] = []
        self._envs = {a: gym.make("CartPole-v1") for a in self.possible_agents}
        self.render_mode = render_mode

    def observation_space(self, agent: str) -> gym.Space:
        return self._envs[agent].observation_space

    def action_space(self, agent: str) -> gym.Space:
        return self._envs[agent].action_space

    def reset(self, seed: Optional[int] = None, options: Optional[Dict[str, Any]] = None
              ) -> Tuple[Dict[str, Any], Dict[str, Any]]:
        self.agents = list(self.possible_agents)
        obs = {}
        for i, agent in enumerate(self.agents):
            obs[agent], _ = self._envs[agent].reset(seed=None if seed is None else seed * len(self.agents) + i)
        return obs, {a: {} for a in self.agents}

    def step(self, actions: Dict[str, Any]) -> Tuple[Dict[str, Any], ...]:
        obs, rewards, terminated, truncated, infos = {}, {}, {}, {}, {}
        for agent, action in actions.items():
            obs[agent], rewards[agent], terminated[agent], truncated[agent], infos[agent] = \
                self._envs[agent].step(int(action))
        self.agents = [a for a in self.agents if not (terminated.get(a) or truncated.get(a))]
        return obs, rewards, terminated, truncated, infos

    def close(self) -> None:
        for env in self._envs.values():
            env.close()


def multi_cartpole(num_agents: int = 2, render_mode: Optional[str] = None) -> MultiCartPole:
    """`env=pettingzoo env.id=rlhydra.env.examples:multi_cartpole '+env.kwargs={num_agents: 3}'`."""
    return MultiCartPole(num_agents, render_mode)
