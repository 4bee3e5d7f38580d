"""A LEARNING.md row's final checkpoints evaluated as benchmarks/zoo_peer.py evaluates the retrained zoo: one env
seeded 10,000 + seed, 20 deterministic episodes (SB3's evaluate_policy: one seeded reset, then the env's own resets).

The table evaluates every run on 5 envs seeded seed + 1,000,000, so its initial states differ from zoo_peer.py's. On
envs whose return depends much on the start (Pendulum's initial angle) that alone moves a 20-episode mean by tens;
this puts both sides on the zoo's initial states.

    python benchmarks/eval_like_zoo_peer.py sac Pendulum-v1          # the classic suite's folder, seeds 0, 1, 2
    python benchmarks/eval_like_zoo_peer.py td3 Pendulum-v1 --suite classic --runs benchmarks/out/classic
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys

import gymnasium as gym

from _common import REPO
from zoo_peer import EPISODES, ZOO_EVAL_SEED_OFFSET

sys.path.insert(0, str(REPO))
from rlhydra.benchmark import job_folder, job_overrides, load_suite  # noqa: E402
from rlhydra.env.make import resolve_env_spec  # noqa: E402
from rlhydra.models.rl_module import RLModule  # noqa: E402


def evaluate(checkpoint: str, env_id: str, seed: int) -> float:
    """Mean return of EPISODES deterministic episodes on one env, reset with 10,000 + seed once."""
    module = RLModule.from_checkpoint(checkpoint)
    env = gym.make(resolve_env_spec(env_id))
    obs, _ = env.reset(seed=ZOO_EVAL_SEED_OFFSET + seed)
    returns = []
    while len(returns) < EPISODES:
        total, done = 0.0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(module.compute_single_action(obs))
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
        obs, _ = env.reset()
    env.close()
    return statistics.mean(returns)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("algo")
    parser.add_argument("env_id")
    parser.add_argument("--suite", default="classic")
    parser.add_argument("--runs", help="the suite's sweep folder (default benchmarks/out/<suite>)")
    args = parser.parse_args()
    os.chdir(REPO)
    suite = load_suite(args.suite)
    pairs = [p for p in suite.pairs if (p.algorithm, p.env_id) == (args.algo, args.env_id)]
    if not pairs:
        print(f"eval_like_zoo_peer: the {args.suite} suite has no {args.algo} / {args.env_id} pair", file=sys.stderr)
        return 2
    runs = args.runs or os.path.join("benchmarks", "out", suite.name)
    table, zoo_like = [], []
    for seed in suite.seeds:
        run = os.path.join(runs, job_folder(job_overrides(pairs[0], seed, suite, smoke=False)))
        checkpoint = os.path.join(run, "checkpoints", "final")
        if not os.path.isdir(checkpoint):
            print(f"eval_like_zoo_peer: seed {seed}: no finished run in {run}; run the suite first", file=sys.stderr)
            return 2
        with open(os.path.join(run, "result.json"), encoding="utf-8") as f:
            table.append(float(json.load(f)["final_return"]))
        zoo_like.append(evaluate(checkpoint, args.env_id, seed))
        print(f"seed {seed}: table {table[-1]:.1f}, evaluated like zoo_peer.py {zoo_like[-1]:.1f}", flush=True)
    print(f"{args.algo} {args.env_id}: table {statistics.mean(table):.1f} +- {statistics.pstdev(table):.1f}, evaluated "
          f"like zoo_peer.py {statistics.mean(zoo_like):.1f} +- {statistics.pstdev(zoo_like):.1f} (seeds "
          f"{', '.join(map(str, suite.seeds))})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
