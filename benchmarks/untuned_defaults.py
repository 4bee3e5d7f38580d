"""Untuned off-policy defaults: rlhydra with no tuned file vs Stable-Baselines3 with its own defaults.

SAC on Pendulum-v1 (20k env steps) and DQN on CartPole-v1 (100k env steps), per seed:

    rlhydra:  python train.py algorithm=sac env=pendulum '~tuned' total_steps=20000 seed=S  (+ eval cadence, jsonl)
    SB3:      SAC("MlpPolicy", "Pendulum-v1", seed=S).learn(20000)  with an EvalCallback at the same cadence

Only the budget and the seed are set on both sides (plus torch's 1 thread and the CPU device on SB3's, as rlhydra's
defaults have). Both evaluate the same way: deterministic actions, 10 episodes on 5 separate envs, every
`eval_every` env steps and once at the end. Prints a markdown table (final eval, mean of the last 3 evals, first
env step at the threshold, wall time) and writes it to --out.

    python benchmarks/untuned_defaults.py --seeds 0 1            # ~10 min per seed on 1 free core
    python benchmarks/untuned_defaults.py --algos sac --seeds 0   # one side of the table
    python benchmarks/untuned_defaults.py --quick                 # smoke run: tiny budgets
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from _common import REPO, child_command, emit, load_average, load_line, log, machine_lines, md_table, publish, \
    read_jsonl, run_child

SCRIPT = str(Path(__file__).resolve().relative_to(REPO))
EVAL_EPISODES = 10
EVAL_ENVS = 5  # rlhydra's evaluation.num_envs default; SB3's eval vector env gets as many
LAST = 3  # evaluations averaged at the end, as tests/test_learning.py does

# rlhydra's untuned train_batch_size is 1000 env steps per iteration for both, so eval_every = 1000 x interval.
SETTINGS: Dict[str, Dict[str, Any]] = {
    "sac": {"env": "Pendulum-v1", "cli_env": "pendulum", "total": 20_000, "eval_every": 2_000, "threshold": -200.0},
    "dqn": {"env": "CartPole-v1", "cli_env": "cartpole", "total": 100_000, "eval_every": 5_000, "threshold": 475.0},
}
SPI = 1000  # rlhydra's default train_batch_size (env steps per iteration)


def summarise(evals: List[List[float]], threshold: float, wall_s: float) -> Dict[str, Any]:
    """[(env steps, eval return), ...] -> final, mean of the last LAST, first env step at the threshold."""
    hit = next((s for s, r in evals if r >= threshold), None)
    return {"final": evals[-1][1], "final_steps": evals[-1][0],
            "last_mean": statistics.mean(r for _, r in evals[-LAST:]), "first_hit": hit, "wall_s": wall_s,
            "evals": evals}


# ---- children -----------------------------------------------------------------------------------------------
def child_sb3(algo: str, seed: int, total: int, eval_every: int) -> None:
    """SB3 with its defaults (only total timesteps and seed; CPU, 1 torch thread) and an EvalCallback."""
    import torch

    torch.set_num_threads(1)
    from stable_baselines3 import DQN, SAC
    from stable_baselines3.common.callbacks import EvalCallback
    from stable_baselines3.common.env_util import make_vec_env

    env_id = SETTINGS[algo]["env"]
    model = (SAC if algo == "sac" else DQN)("MlpPolicy", env_id, seed=seed, device="cpu")
    eval_env = make_vec_env(env_id, n_envs=EVAL_ENVS, seed=seed + 1_000_000)
    callback = EvalCallback(eval_env, n_eval_episodes=EVAL_EPISODES, eval_freq=eval_every, deterministic=True,
                            log_path=tempfile.mkdtemp(prefix="sb3_eval_"), verbose=0)  # it keeps results with a log_path
    model.learn(total_timesteps=total, callback=callback)
    evals = [[int(s), sum(r) / len(r)] for s, r in zip(callback.evaluations_timesteps, callback.evaluations_results)]
    if not evals or evals[-1][0] != model.num_timesteps:  # the final policy, as rlhydra's evaluation.final
        from stable_baselines3.common.evaluation import evaluate_policy

        mean, _ = evaluate_policy(model, eval_env, n_eval_episodes=EVAL_EPISODES, deterministic=True)
        evals.append([int(model.num_timesteps), float(mean)])
    emit({"evals": evals, "n_envs": model.n_envs, "train_freq": str(model.train_freq),
          "gradient_steps": model.gradient_steps, "updates": int(model._n_updates)})


# ---- parent -------------------------------------------------------------------------------------------------
def rlhydra_overrides(algo: str, seed: int, s: Dict[str, Any], run_dir: str) -> List[str]:
    """The untuned command line: the tuned file dropped, only budget and seed set, plus evaluation and logging."""
    return [f"algorithm={algo}", f"env={s['cli_env']}", "~tuned", f"total_steps={s['total']}", f"seed={seed}",
            f"evaluation.interval={s['eval_every'] // SPI}", f"evaluation.episodes={EVAL_EPISODES}",
            "evaluation.final=true", "logger=jsonl", f"hydra.run.dir={run_dir}"]


def run_rlhydra(algo: str, seed: int, s: Dict[str, Any]) -> Dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="rlhydra_untuned_") as tmp:
        overrides = rlhydra_overrides(algo, seed, s, tmp)
        log(f"[bench] rlhydra: python train.py {' '.join(overrides[:5])}")
        run = run_child(["train.py", *overrides], timeout_s=3600)
        metrics = read_jsonl(Path(tmp) / "metrics.jsonl")
    evals = [[m["env_steps"], m["eval/episode_return_mean"]] for m in metrics
             if m.get("eval/episode_return_mean") is not None]
    dedup = [e for i, e in enumerate(evals) if i == 0 or e[0] != evals[i - 1][0]]  # interval and final may coincide
    updates = max((m.get("learner/updates", 0) for m in metrics), default=0)
    return {**summarise(dedup, s["threshold"], run.wall_s), "updates": updates}


def run_sb3(algo: str, seed: int, s: Dict[str, Any]) -> Dict[str, Any]:
    log(f"[bench] SB3: {'SAC' if algo == 'sac' else 'DQN'}('MlpPolicy', '{s['env']}', seed={seed})"
        f".learn({s['total']})")
    run = run_child(child_command(SCRIPT, "sb3", algo=algo, seed=seed, total=s["total"], eval_every=s["eval_every"]),
                    timeout_s=3600)
    return {**summarise(run.result["evals"], s["threshold"], run.wall_s), "updates": run.result["updates"]}


def fmt_hit(step: Optional[int]) -> str:
    return f"{step:,}" if step is not None else "never"


def report(rows: List[Dict[str, Any]], seconds: float, load: str) -> str:
    header = ["algo / env", "seed", "side", "env steps", "final eval", f"mean of last {LAST} evals",
              "first eval >= threshold at", "gradient steps", "wall s"]
    table = []
    for r in rows:
        s = SETTINGS[r["algo"]]
        for side in ("rlhydra", "sb3"):
            x = r[side]
            table.append([f"{r['algo'].upper()} {s['env']} (>= {s['threshold']:g})", r["seed"],
                          "rlhydra untuned" if side == "rlhydra" else "SB3 defaults", f"{x['final_steps']:,}",
                          f"{x['final']:.1f}", f"{x['last_mean']:.1f}", fmt_hit(x["first_hit"]), f"{x['updates']:,}",
                          f"{x['wall_s']:.0f}"])
    lines = ["# Untuned off-policy defaults: rlhydra vs Stable-Baselines3", "", md_table(header, table), "",
             "- rlhydra: `python train.py algorithm=<algo> env=<env> '~tuned' total_steps=<budget> seed=<seed>` "
             f"+ `evaluation.interval=<eval_every/1000> evaluation.episodes={EVAL_EPISODES} evaluation.final=true "
             "logger=jsonl`",
             "- SB3: `SAC(\"MlpPolicy\", \"Pendulum-v1\", seed=seed, device=\"cpu\")`, "
             "`DQN(\"MlpPolicy\", \"CartPole-v1\", seed=seed, device=\"cpu\")`, `.learn(budget)`, 1 torch thread, "
             f"`EvalCallback(eval_freq=eval_every, n_eval_episodes={EVAL_EPISODES}, deterministic=True)` on "
             f"{EVAL_ENVS} envs, plus a final evaluation",
             "- eval every " + ", ".join(f"{a.upper()} {s['eval_every']:,}" for a, s in SETTINGS.items())
             + " env steps; evaluations: deterministic, 10 episodes, mean return",
             *machine_lines(), load, f"- total time: {seconds / 60:.1f} min"]
    return "\n".join(lines) + "\n"


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="seeds; each runs both sides")
    p.add_argument("--algos", nargs="+", choices=tuple(SETTINGS), default=list(SETTINGS), help="which pairs")
    p.add_argument("--quick", action="store_true", help="smoke run: SAC 2,000 and DQN 10,000 env steps")
    p.add_argument("--out", default="benchmarks/out/untuned_defaults.md", help="markdown file for the report")
    p.add_argument("--child", choices=("sb3",), help=argparse.SUPPRESS)
    p.add_argument("--algo", choices=tuple(SETTINGS), default="sac", help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--total", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--eval-every", type=int, default=0, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    if args.child:
        child_sb3(args.algo, args.seed, args.total, args.eval_every)
        return
    if args.quick:
        SETTINGS["sac"].update(total=2_000, eval_every=1_000)
        SETTINGS["dqn"].update(total=10_000, eval_every=5_000)
    start, start_load = time.perf_counter(), load_average()
    rows = []
    for algo in args.algos:
        for seed in args.seeds:
            s = SETTINGS[algo]
            rows.append({"algo": algo, "seed": seed, "rlhydra": run_rlhydra(algo, seed, s), "sb3": run_sb3(algo, seed, s)})
            log(f"[bench] {algo} seed {seed}: rlhydra {rows[-1]['rlhydra']['evals']}")
            log(f"[bench] {algo} seed {seed}: SB3     {rows[-1]['sb3']['evals']}")
    publish(report(rows, time.perf_counter() - start, load_line(start_load, load_average())), args.out)


if __name__ == "__main__":
    sys.exit(main())
