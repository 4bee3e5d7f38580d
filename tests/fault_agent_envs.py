"""Multi-agent test helpers: a PettingZoo ParallelEnv that raises on a chosen step, and picklable policy mappings
(env runner workers get them through a pipe)."""
from __future__ import annotations

from typing import Any, Dict, Optional

from rlhydra.env.examples import MultiCartPole
from tests.fault_envs import fails_here

FAULTY_CARTPOLES = "tests.fault_agent_envs:faulty_cartpoles"  # env.id, importable in spawned workers too


class FaultyCartPoles(MultiCartPole):
    """Two CartPoles (MultiCartPole) whose step `at` raises. With `once_flag` (a file path) only the first env to get
    there fails; with `only_seed`, only the env first reset with that seed (a multi-agent runner resets env copy j of
    worker i with seed + 10_000 * (i + 1) + j first)."""

    def __init__(self, at: int = 5, once_flag: Optional[str] = None, only_seed: Optional[int] = None) -> None:
        super().__init__(num_agents=2)
        self.at, self.once_flag, self.only_seed = at, once_flag, only_seed
        self.first_seed: Optional[int] = None
        self.t = 0

    def reset(self, seed: Optional[int] = None, options: Optional[Dict[str, Any]] = None) -> Any:
        if self.first_seed is None:
            self.first_seed = seed
        return super().reset(seed, options)

    def step(self, actions: Dict[str, Any]) -> Any:
        self.t += 1
        if self.t == self.at and self._fails_here():
            raise RuntimeError(f"FaultyCartPoles: injected failure at step {self.t}")
        return super().step(actions)

    def _fails_here(self) -> bool:
        return fails_here(self.first_seed, self.only_seed, self.once_flag)


def faulty_cartpoles(at: int = 5, once_flag: Optional[str] = None, only_seed: Optional[int] = None) -> FaultyCartPoles:
    return FaultyCartPoles(at, once_flag, only_seed)


def everyone_to_cartpole_1(agent_id: str, episode: Any) -> str:
    """A policy mapping that gives every agent module cartpole_1."""
    return "cartpole_1"
