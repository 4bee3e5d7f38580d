"""Learning tests: tuned defaults (and untuned SAC) reach a steady return within their step budget, on every seed
of a pinned set.

Steady skill, not a lucky moment: the mean of the last K evaluations (10 deterministic episodes each, spread over
the end of training) must reach the threshold, for each seed. Runs train their whole budget with no early stop,
so the budget checked and the steps trained are the same number. Deterministic: CPU, one torch thread, seeded
envs and RNGs, so each case passes or fails the same way every time. Each case prints achieved vs required.
"""
from __future__ import annotations

from typing import Any, Dict, List, Tuple

import numpy as np
import pytest

from rlhydra.core.preflight import check_hydra_config
from tests.conftest import compose_cfg

EVAL = "eval/episode_return_mean"
K = 3  # evaluations averaged at the end of training

# algorithm, env, required mean of the last K evaluations, env-step budget, pinned seeds, extra overrides
CASES: List[Tuple[str, str, float, int, Tuple[int, ...], Tuple[str, ...]]] = [
    ("ppo", "cartpole", 475.0, 60_000, (0, 1), ()),
    # 2 runner processes of 4 envs: the tuned 8 envs x 32 steps per iteration, sampled in parallel
    ("ppo", "cartpole", 475.0, 60_000, (0,), ("resources=cpu_workers", "env_runners.num_envs_per_env_runner=4")),
    # DQN's greedy CartPole policy keeps swinging between ~150 and 500 late in training with rl-zoo's settings,
    # Stable-Baselines3's DQN included (its evals at 43k-49k env steps, seed 0: 500, 500, 500, 165): no seed holds
    # 475 over 3 evaluations, so this case asks for a steady 200 (a random policy gets ~22).
    ("dqn", "cartpole", 200.0, 61_440, (0, 1), ()),
    # one pinned seed for tuned SAC (its untuned case below is a second run of the same loop); TD3 keeps two
    ("sac", "pendulum", -200.0, 10_000, (0,), ("evaluation.interval=1",)),
    # No tuned file: SAC's SB3 defaults on the default 8-env runner, one gradient step per env step (issue 13: it
    # once took one per vector step, 8x fewer, and ended near -1400); SB3's defaults reach -200 within 20k too.
    # 10k keeps the suite's time: its evaluations cross -200 at 4k env steps (benchmarks/untuned_defaults.py)
    ("sac", "pendulum", -200.0, 10_000, (0,), ("~tuned", "evaluation.interval=2")),
    ("td3", "pendulum", -200.0, 20_000, (0,), ("evaluation.interval=1",)),  # one seed: 20k steps take ~2 min
    ("a2c", "cartpole", 475.0, 115_000, (0, 1), ()),
]


class EvalCollector:
    """A logger that keeps (env steps, eval return) of each evaluation."""

    def __init__(self) -> None:
        self.evals: List[Tuple[int, float]] = []

    def log(self, result: Dict[str, Any]) -> None:
        if EVAL in result:
            self.evals.append((result["env_steps"], result[EVAL]))

    def close(self) -> None:
        pass


def train(algorithm: str, env: str, seed: int, budget: int, overrides: Tuple[str, ...]) -> Tuple[List, int]:
    """Train the tuned pair for `budget` env steps; returns its evaluations and the env steps trained."""
    config = check_hydra_config(compose_cfg([
        f"algorithm={algorithm}", f"env={env}", f"seed={seed}", f"total_steps={budget}",
        "evaluation.episodes=10", "evaluation.final=true", "evaluation.stop_at_return=null", "logger=jsonl",
        *overrides,
    ]))
    collector = EvalCollector()
    with config.build() as algo:
        result = algo.learn(loggers=[collector])
    return collector.evals, result["env_steps"]


def iteration_steps(algorithm: str, env: str, overrides: Tuple[str, ...]) -> int:
    """Env steps per training iteration of the tuned pair."""
    config = check_hydra_config(compose_cfg([f"algorithm={algorithm}", f"env={env}", *overrides]))
    hp = config.algorithm
    return hp.train_batch_size


@pytest.mark.slow
@pytest.mark.parametrize("algorithm, env, threshold, budget, seed, overrides", [
    pytest.param(a, e, t, b, s, o, id=f"{a}-{e}-seed{s}{'-' + '-'.join(o) if o else ''}")
    for a, e, t, b, seeds, o in CASES for s in seeds
])
def test_tuned_defaults_reach_a_steady_return_within_the_budget(algorithm, env, threshold, budget, seed, overrides,
                                                                 capsys):
    evals, steps = train(algorithm, env, seed, budget, overrides)
    last = evals[-K:]
    achieved = float(np.mean([ret for _, ret in last]))
    line = (f"{algorithm} on {env}, seed {seed}{' ' + ' '.join(overrides) if overrides else ''}: mean of the last "
            f"{K} evaluations {achieved:.1f} (at env steps {[s for s, _ in last]}), required >= {threshold} "
            f"within {budget:,} env steps (trained {steps:,})")
    with capsys.disabled():
        print(f"\n  learning: {line}")
    # learn() stops at the first iteration that reaches the budget: less than one iteration past it
    assert budget <= steps < budget + iteration_steps(algorithm, env, overrides), f"budget and stop disagree: {line}"
    assert len(last) == K, f"only {len(evals)} evaluations: {line}"
    assert last[-1][0] == steps, f"the last evaluation is not of the final policy: {line}"
    assert achieved >= threshold, line
