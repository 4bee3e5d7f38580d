"""rl-zoo retrained here: the zoo's own training (rl_zoo3.train, its tuned hyperparameters) on the same pair, budget and
seeds as a LEARNING.md row, with the same final evaluation (20 deterministic episodes of the final model).

benchmark.md in rl-baselines3-zoo reports one trained agent per pair; this gives the zoo's mean +- std over the seeds
the table uses, on this machine, so a row that falls short of benchmark.md can be told apart from one agent's luck.
rl_zoo3 pins its own SB3 and optuna, so it lives in a venv of its own:

    python3 -m venv /tmp/zoovenv && /tmp/zoovenv/bin/pip install torch==2.13.0 rl_zoo3 "gymnasium[box2d]"
    /tmp/zoovenv/bin/python benchmarks/zoo_peer.py dqn MountainCar-v0 120000 --seeds 0 1 2

Prints one line per seed and the mean +- std, and appends each seed's line to benchmarks/zoo_peer.jsonl (--out), from
which `python -m rlhydra.benchmark` fills the table's "rl-zoo retrained here" column. Each line holds the final model's
return on one env seeded 10,000 + seed (`final_return`) and on the table's own initial states
(`final_return_table_states`: 5 envs seeded seed + 1,000,000, as rlhydra evaluates; the column uses it when every
seed of the row has it, "same starts").
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
from typing import Dict, List

EPISODES = 20
ZOO_EVAL_SEED_OFFSET = 10_000  # this script's own evaluation env: one env seeded 10,000 + seed
TABLE_EVAL_ENVS = 5  # rlhydra's evaluation.num_envs default; SB3's evaluate_policy gives each env 20 // 5 episodes
TABLE_EVAL_SEED_OFFSET = 1_000_000  # rlhydra's EVAL_SEED_OFFSET: its evaluation envs reset with seed + this


def train(algo: str, env_id: str, budget: int, seed: int, folder: str) -> str:
    """Run rl_zoo3.train (no periodic evaluation, 1 torch thread); the folder of the trained agent."""
    subprocess.run([sys.executable, "-m", "rl_zoo3.train", "--algo", algo, "--env", env_id, "-n", str(budget),
                    "--seed", str(seed), "--eval-freq", "-1", "--num-threads", "1", "--device", "cpu",
                    "--verbose", "0", "-f", folder], check=True)
    (run,) = glob.glob(os.path.join(folder, algo, f"{env_id}_*"))
    return run


def evaluate(algo: str, env_id: str, run: str, seed: int) -> Dict[str, float]:
    """Mean return of EPISODES deterministic episodes of the final model (the zoo's VecNormalize stats frozen), on
    two sets of initial states: one env seeded 10,000 + seed (`final_return`, this script's measure from the start),
    and the table's own (`final_return_table_states`: 5 envs seeded seed + 1,000,000, 4 episodes each, as rlhydra's
    evaluation runs them), so a row can be set beside the zoo on the very same starts."""
    import rl_zoo3
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.vec_env import VecNormalize

    model = rl_zoo3.ALGOS[algo].load(os.path.join(run, f"{env_id}.zip"), device="cpu")
    stats = os.path.join(run, env_id, "vecnormalize.pkl")
    means = {}
    for key, n_envs, env_seed in (("final_return", 1, ZOO_EVAL_SEED_OFFSET + seed),
                                  ("final_return_table_states", TABLE_EVAL_ENVS, TABLE_EVAL_SEED_OFFSET + seed)):
        env = make_vec_env(env_id, n_envs=n_envs, seed=env_seed)  # env i's first reset: env_seed + i
        if os.path.isfile(stats):
            env = VecNormalize.load(stats, env)
            env.training, env.norm_reward = False, False
        means[key] = float(evaluate_policy(model, env, n_eval_episodes=EPISODES, deterministic=True)[0])
        env.close()
    return means


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
            returns = evaluate(args.algo, args.env_id, run, seed)
            finals.append(returns["final_return"])
        line = {"algo": args.algo, "env_id": args.env_id, "budget": args.budget, "seed": seed, **returns,
                "train_s": round(wall, 1)}
        print(json.dumps(line), flush=True)
        with open(args.out, "a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")
    spread = statistics.pstdev(finals) if len(finals) > 1 else 0.0
    print(f"rl-zoo retrained: {args.algo} {args.env_id} @ {args.budget:,}: {statistics.mean(finals):.1f} +- "
          f"{spread:.1f} over seeds {', '.join(map(str, args.seeds))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
