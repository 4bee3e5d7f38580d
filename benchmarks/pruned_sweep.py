"""Does pruning pay? The same 12-trial Optuna sweep (sweeps/ppo_cartpole_tpe_median.yaml, TPE with the same sampler
seed) run with its median pruner and without (hydra.sweeper.pruner=null): trials pruned, env steps spent in all, wall
time and the best final return each found.

    python benchmarks/pruned_sweep.py                       # 12 trials x 10,240 env steps each way, ~5 min on 2 cores
    python benchmarks/pruned_sweep.py --trials 6 --steps 4096

Writes the sweeps to benchmarks/out/pruned_sweep/{pruned,unpruned} (fresh each run) and prints a Markdown table.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rlhydra.sweep_summary import read_job_results  # noqa: E402  (after the repo is on the path)


def run_sweep(out: Path, trials: int, steps: int, pruned: bool) -> Dict[str, Any]:
    """One sweep in a child process; its trials' outcome from the jobs' result.json files and the study."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "train.py", "--config-dir", "sweeps", "--config-name", "ppo_cartpole_tpe_median", "-m",
           f"hydra.sweeper.n_trials={trials}", f"total_steps={steps}", "logger=jsonl", f"hydra.sweep.dir={out}"]
    if not pruned:
        cmd.append("hydra.sweeper.pruner=null")
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    jobs = read_job_results(str(out))
    storage = JournalStorage(JournalFileBackend(str(out / "optuna.journal")))
    study = optuna.load_study(study_name="ppo_cartpole_tpe_median", storage=storage)
    states = [t.state.name for t in study.trials]
    return {"command": " ".join(cmd[1:]), "wall_s": wall, "trials": len(states),
            "pruned": states.count("PRUNED"), "complete": states.count("COMPLETE"), "failed": states.count("FAIL"),
            "env_steps": sum(int(j.get("env_steps") or 0) for j in jobs),
            "best": study.best_value, "best_trial": study.best_trial.number, "best_params": study.best_params}


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--steps", type=int, default=10240, help="env steps of a trial that is not pruned")
    args = parser.parse_args(argv)
    out = REPO / "benchmarks" / "out" / "pruned_sweep"
    runs = {name: run_sweep(out / name, args.trials, args.steps, name == "pruned") for name in ("pruned", "unpruned")}
    lines = ["| sweep | trials | complete | pruned | env steps in all | wall time (s) | best final return (trial) |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for name, r in runs.items():
        lines.append(f"| {name} | {r['trials']} | {r['complete']} | {r['pruned']} | {r['env_steps']:,} | "
                     f"{r['wall_s']:.0f} | {r['best']:.2f} ({r['best_trial']}) |")
    p, u = runs["pruned"], runs["unpruned"]
    checks = [("at least one trial pruned", p["pruned"] >= 1),
              ("fewer env steps than unpruned", p["env_steps"] < u["env_steps"]),
              ("best at least as good as unpruned", p["best"] >= u["best"])]
    print("\n".join(lines))
    print()
    for name, r in runs.items():
        print(f"{name}: python {r['command']}")
    print()
    for text, ok in checks:
        print(f"- {text}: {'yes' if ok else 'NO'}")
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
