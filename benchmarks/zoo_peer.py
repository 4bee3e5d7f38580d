"""rl-zoo retrained here: the zoo's own training (rl_zoo3.train, its tuned hyperparameters) on the same pair, budget and
seeds as a LEARNING.md row, with the same final evaluation (20 deterministic episodes of the final model).

benchmark.md in rl-baselines3-zoo reports one trained agent per pair; this gives the zoo's mean +- std over the seeds
the table uses, on this machine, so a row that falls short of benchmark.md can be told apart from one agent's luck.
rl_zoo3 pins its own SB3 and optuna, so it lives in a venv of its own:

    python3 -m venv /tmp/zoovenv && /tmp/zoovenv/bin/pip install torch==2.13.0 rl_zoo3 "gymnasium[box2d]"
    /tmp/zoovenv/bin/python benchmarks/zoo_peer.py dqn MountainCar-v0 120000 --seeds 0 1 2

Prints one line per seed and the mean +- std, and appends each seed's line to benchmarks/zoo_peer.jsonl (--out), from
which `python -m rlhydra.benchmark` fills the table's "rl-zoo retrained here" column.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import List

EPISODES = 20


def train(algo: str, env_id: str, budget: int, seed: int, folder: str) -> str:
    """Run rl_zoo3.train (no periodic evaluation, 1 torch thread); the folder of the trained agent."""
    subprocess.run([sys.executable, "-m", "rl_zoo3.train", "--algo", algo, "--env", env_id, "-n", str(budget),
                    "--seed", str(seed), "--eval-freq", "-1", "--num-threads", "1", "--device", "cpu",
                    "--verbose", "0", "-f", folder], check=True)
    (run,) = glob.glob(os.path.join(folder, algo, f"{env_id}_*"))
    return run


def evaluate(algo: str, env_id: str, run: str, seed: int) -> float:
    """Mean return of EPISODES deterministic episodes of the final model (the zoo's VecNormalize stats frozen)."""
    import rl_zoo3
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.vec_env import VecNormalize

    model = rl_zoo3.ALGOS[algo].load(os.path.join(run, f"{env_id}.zip"), device="cpu")
    env = make_vec_env(env_id, n_envs=1, seed=10_000 + seed)
    stats = os.path.join(run, env_id, "vecnormalize.pkl")
    if os.path.isfile(stats):
        env = VecNormalize.load(stats, env)
        env.training, env.norm_reward = False, False
    mean, _ = evaluate_policy(model, env, n_eval_episodes=EPISODES, deterministic=True)
    return float(mean)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("algo")
    parser.add_argument("env_id")
    parser.add_argument("budget", type=int)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "zoo_peer.jsonl"),
                        help="append one JSON line per seed here (default: %(default)s, which the table reads)")
    args = parser.parse_args()
    finals: List[float] = []
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as folder:
            start = time.perf_counter()
            run = train(args.algo, args.env_id, args.budget, seed, folder)
            wall = time.perf_counter() - start
            finals.append(evaluate(args.algo, args.env_id, run, seed))
        line = {"algo": args.algo, "env_id": args.env_id, "budget": args.budget, "seed": seed,
                "final_return": finals[-1], "train_s": round(wall, 1)}
        print(json.dumps(line), flush=True)
        with open(args.out, "a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")
    spread = statistics.pstdev(finals) if len(finals) > 1 else 0.0
    print(f"rl-zoo retrained: {args.algo} {args.env_id} @ {args.budget:,}: {statistics.mean(finals):.1f} +- "
          f"{spread:.1f} over seeds {', '.join(map(str, args.seeds))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
