"""Self-play for two-player zero-sum games: module 'main' learns against a pool of its own frozen snapshots."""
from __future__ import annotations

from typing import Any, Dict, List, Sequence, Tuple

import numpy as np

from rlhydra.config.schema import ConfigError, SelfPlayConfig
from rlhydra.core.algorithm import EVAL_RETURN
from rlhydra.models.multi_rl_module import RANDOM_MODULE, MultiRLModule

MAIN = "main"  # the learning module's id
SEATS = ("first", "second")  # the game's possible_agents in order


def outcome_rates(returns: Sequence[float]) -> Tuple[float, float, float]:
    """(win, draw, loss) rates of a player from its game returns: > 0 won, 0 drew, < 0 lost."""
    values = np.asarray(returns, np.float64)
    if not len(values):
        return 0.0, 0.0, 0.0
    return float((values > 0).mean()), float((values == 0).mean()), float((values < 0).mean())


class SelfPlay:
    """The opponent pool (modules snapshot_0 .. snapshot_<pool_size-1>, plus a uniform-random player), the policy
    mapping that seats 'main' and an opponent per game, the snapshots and the evaluation."""

    def __init__(self, config: SelfPlayConfig, agents: List[str], seed: int) -> None:
        if len(agents) != 2:
            raise ConfigError(f"self_play.enabled=true: self-play is for two-player games; this env has "
                              f"{len(agents)} agents ({', '.join(agents)}). Set self_play.enabled=false.")
        self.config, self.agents, self.seed = config, list(agents), seed
        self.snapshots = [f"snapshot_{k}" for k in range(config.pool_size)]
        self.filled = 1  # snapshot_0 starts as a copy of main's initial weights
        self.latest = 0

    def agents_by_module(self) -> Dict[str, List[str]]:
        return {mid: list(self.agents) for mid in (MAIN, *self.snapshots, RANDOM_MODULE)}

    def mapping(self, agent_id: str, episode: Any) -> str:
        """'main' plays seat `episode.id_ % 2`; the other seat's opponent is drawn per game (seeded by its id)."""
        if agent_id == self.agents[episode.id_ % 2]:
            return MAIN
        rng = np.random.default_rng([self.seed, episode.id_])
        if rng.random() < self.config.random_opponent_prob:
            return RANDOM_MODULE
        if rng.random() < self.config.latest_prob:
            return self.snapshots[self.latest]
        return self.snapshots[int(rng.integers(self.filled))]

    def initialise(self, modules: MultiRLModule) -> None:
        """snapshot_0 holds main's initial weights."""
        modules[self.snapshots[0]].set_state(modules[MAIN].get_state())

    def maybe_snapshot(self, iteration: int, modules: MultiRLModule) -> Dict[str, Any]:
        """Every `snapshot_interval` iterations main's weights go into the pool (over its oldest when full)."""
        if iteration % self.config.snapshot_interval:
            return {"self_play/pool_size": self.filled}
        slot = self.filled if self.filled < len(self.snapshots) else (self.latest + 1) % len(self.snapshots)
        self.filled = max(self.filled, slot + 1)
        self.latest = slot
        modules[self.snapshots[slot]].set_state(modules[MAIN].get_state())
        return {"self_play/pool_size": self.filled}

    def evaluate(self, runner: Any, seed: int) -> Dict[str, Any]:
        """Games of main against the random player and the latest snapshot, half in each seat: win/draw/loss rates
        overall and per seat; eval/episode_return_mean is main's mean return against the random player."""
        result: Dict[str, Any] = {}
        half = max(1, self.config.eval_games // 2)
        saved = runner.mapping
        try:
            for name, opponent in (("random", RANDOM_MODULE), ("latest", self.snapshots[self.latest])):
                all_returns: List[float] = []
                for seat, seat_name in enumerate(SEATS):
                    runner.mapping = _seated(self.agents[seat], opponent)
                    returns = [r[self.agents[seat]] for r, _, _ in runner.run_episodes(half, seed + seat)]
                    all_returns += returns
                    _, _, loss = outcome_rates(returns)
                    result[f"eval/vs_{name}/{seat_name}/loss_rate"] = loss
                win, draw, loss = outcome_rates(all_returns)
                result.update({f"eval/vs_{name}/win_rate": win, f"eval/vs_{name}/draw_rate": draw,
                               f"eval/vs_{name}/loss_rate": loss})
                if name == "random":
                    result[EVAL_RETURN] = float(np.mean(all_returns))
                    result["eval/episodes"] = len(all_returns)
        finally:
            runner.mapping = saved
        return result

    def get_state(self) -> Dict[str, int]:
        return {"filled": self.filled, "latest": self.latest}

    def set_state(self, state: Dict[str, int]) -> None:
        self.filled, self.latest = int(state["filled"]), int(state["latest"])


def _seated(main_agent: str, opponent: str) -> Any:
    def mapping(agent_id: str, episode: Any) -> str:
        return MAIN if agent_id == main_agent else opponent
    return mapping
