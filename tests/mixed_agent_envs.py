"""A PettingZoo ParallelEnv whose agents differ in observation and action spaces (for tests)."""
from __future__ import annotations

from typing import Any, Dict, Optional

import gymnasium as gym
from pettingzoo.utils.env import ParallelEnv


class PoleAndSwing(ParallelEnv):
    """Agent 'pole' balances a CartPole (Box(4) obs, Discrete(2) actions); agent 'swing' swings a Pendulum (Box(3)
    obs, Box(1) actions in [-2, 2]). Each finishes on its own; the env is over when both have."""

    metadata = {"name": "pole_and_swing_v0", "render_modes": []}

    def __init__(self, render_mode: Optional[str] = None) -> None:
        self.possible_agents = ["pole", "swing"]
        self._envs = {"pole": gym.make("CartPole-v1"), "swing": gym.make("Pendulum-v1", max_episode_steps=60)}
        self.agents = []
        self.actions_seen: Dict[str, list] = {"pole": [], "swing": []}

    def observation_space(self, agent: str) -> gym.Space:
        return self._envs[agent].observation_space

    def action_space(self, agent: str) -> gym.Space:
        return self._envs[agent].action_space

    def reset(self, seed: Optional[int] = None, options: Any = None):
        self.agents = list(self.possible_agents)
        obs = {a: self._envs[a].reset(seed=None if seed is None else 2 * seed + i)[0] for i, a in enumerate(self.agents)}
        return obs, {a: {} for a in self.agents}

    def step(self, actions: Dict[str, Any]):
        out = {a: self._envs[a].step(int(act) if a == "pole" else act) for a, act in actions.items()}
        for a, act in actions.items():
            self.actions_seen[a].append(act)
        obs, rewards, terminated, truncated, infos = ({a: o[k] for a, o in out.items()} for k in range(5))
        self.agents = [a for a in self.agents if not (terminated[a] or truncated[a])]
        return obs, rewards, terminated, truncated, infos


def pole_and_swing(render_mode: Optional[str] = None) -> PoleAndSwing:
    """`env.id=tests.mixed_agent_envs:pole_and_swing`."""
    return PoleAndSwing(render_mode)
