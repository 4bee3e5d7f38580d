"""LSTM PPO on StatelessCartPole (CartPole-v1 without the velocities), rlhydra vs sb3-contrib's RecurrentPPO with
rl-zoo's CartPoleNoVel-v1 hyperparameters, side by side; rlhydra's MLP PPO on the same budget as the memoryless
baseline.

Measures training throughput (env steps/s, no evaluation) and wall time from process start to the first evaluation
with mean return >= the threshold; prints a markdown table and writes it to --out.

    python benchmarks/recurrent.py                 # full run, ~10 min on 2 idle cores
    python benchmarks/recurrent.py --quick         # smoke run, ~1 min
    python benchmarks/recurrent.py --seeds 0 1     # time-to-400 over two seeds

Every measurement runs in its own fresh child process (this script with --child), one after another.
Only the standard library is imported at the top, so children pay for exactly the imports they need.
"""
from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from _common import REPO, child_command, emit, load_average, load_line, log, machine_lines, md_table, publish, run_child

SCRIPT = str(Path(__file__).resolve().relative_to(REPO))
ENV_ID = "rlhydra.env.stateless_cartpole:StatelessCartPole"
NUM_ENVS = 8
STEPS_PER_ENV = 32  # 8 x 32 = 256 env steps per iteration
EVAL_EVERY = 2560  # env steps between evaluations (10 iterations)
EVAL_EPISODES = 10
EVAL_ENVS = 5
LSTM_CELL = 64
HYPERPARAMETERS = ("8 envs x 32 steps, minibatch 256 steps, 20 epochs, gamma 0.98, GAE lambda 0.8, lr 1e-3 and clip "
                   "0.2 both linear to 0 over the budget, ent_coef 0, vf_coef 0.5, max_grad_norm 0.5, LSTM 64, "
                   "pi/vf heads [64] ReLU, no orthogonal init, sequences of 32 steps (SB3: the rollout's 32)")


# ---- children: each runs in its own process and emits one JSON result ---------------------------------------
def child_rlhydra(steps: int, seed: int, lstm: bool, threshold: Optional[float]) -> None:
    """rlhydra PPO (LSTM or MLP); with `threshold`, evaluates every EVAL_EVERY env steps and stops once reached."""
    start = time.perf_counter()
    from rlhydra import PPOConfig

    model = {"use_lstm": lstm, "hidden_sizes": [64], "activation": "relu", "ortho_init": False}
    if lstm:
        model.update(lstm_cell_size=LSTM_CELL, max_seq_len=STEPS_PER_ENV)
    interval = EVAL_EVERY // (NUM_ENVS * STEPS_PER_ENV) if threshold is not None else 0
    algo = (
        PPOConfig().environment(ENV_ID).debugging(seed=seed)
        .training(lr=1e-3, lr_schedule="linear", train_batch_size=NUM_ENVS * STEPS_PER_ENV, minibatch_size=256,
                  num_epochs=20, gamma=0.98, gae_lambda=0.8, clip_param=0.2, clip_schedule="linear",
                  entropy_coeff=0.0, vf_coeff=0.5, grad_clip=0.5)
        .rl_module(model_config=model)
        .env_runners(num_envs_per_env_runner=NUM_ENVS)
        .evaluation(interval=interval, episodes=EVAL_EPISODES, num_envs=EVAL_ENVS, final=False,
                    stop_at_return=threshold)
        .learners(torch_threads=1)
        .stopping(total_steps=steps)
        .build()
    )
    evals = _Evals()
    learn_start, cpu = time.perf_counter(), time.process_time()
    algo.learn(loggers=[evals])
    learned, cpu = time.perf_counter(), time.process_time() - cpu
    algo.stop()
    emit({"learn_s": learned - learn_start, "learn_cpu_s": cpu, "env_steps": algo.env_steps,
          "wall_in_child_s": learned - start,
          "evals": evals.rows, "best_eval_return": max((r for _, r in evals.rows), default=None)})


class _Evals:
    """A logger that keeps (env steps, eval return) of each evaluation."""

    def __init__(self) -> None:
        self.rows: List[List[float]] = []

    def log(self, result: Dict[str, Any]) -> None:
        if result.get("eval/episode_return_mean") is not None:
            self.rows.append([result["env_steps"], result["eval/episode_return_mean"]])


def child_sb3(steps: int, seed: int, threshold: Optional[float]) -> None:
    """sb3-contrib RecurrentPPO with rl-zoo's CartPoleNoVel-v1 settings; with `threshold`, EvalCallback stopping."""
    start = time.perf_counter()
    import torch
    from sb3_contrib import RecurrentPPO
    from stable_baselines3.common.callbacks import EvalCallback, StopTrainingOnRewardThreshold
    from stable_baselines3.common.env_util import make_vec_env

    from rlhydra.env.stateless_cartpole import StatelessCartPole

    torch.set_num_threads(1)
    env = make_vec_env(StatelessCartPole, n_envs=NUM_ENVS, seed=seed)
    model = RecurrentPPO(
        "MlpLstmPolicy", env, n_steps=STEPS_PER_ENV, batch_size=256, n_epochs=20, gamma=0.98, gae_lambda=0.8,
        learning_rate=_linear(1e-3), clip_range=_linear(0.2), ent_coef=0.0, vf_coef=0.5, max_grad_norm=0.5,
        policy_kwargs={"ortho_init": False, "activation_fn": torch.nn.ReLU, "lstm_hidden_size": LSTM_CELL,
                       "enable_critic_lstm": True, "net_arch": {"pi": [64], "vf": [64]}},
        device="cpu", seed=seed, verbose=0,
    )
    callback = None
    if threshold is not None:
        eval_env = make_vec_env(StatelessCartPole, n_envs=EVAL_ENVS, seed=seed + 1_000_000)
        callback = EvalCallback(
            eval_env, n_eval_episodes=EVAL_EPISODES, eval_freq=EVAL_EVERY // NUM_ENVS, deterministic=True,
            callback_on_new_best=StopTrainingOnRewardThreshold(reward_threshold=threshold, verbose=0), verbose=0,
        )
    learn_start, cpu = time.perf_counter(), time.process_time()
    model.learn(total_timesteps=steps, callback=callback)
    learned, cpu = time.perf_counter(), time.process_time() - cpu
    emit({"learn_s": learned - learn_start, "learn_cpu_s": cpu, "env_steps": int(model.num_timesteps),
          "wall_in_child_s": learned - start,
          "best_eval_return": None if callback is None else float(callback.best_mean_reward)})


def _linear(start: float) -> Callable[[float], float]:
    """rl-zoo's `lin_<value>` schedule: SB3 passes progress_remaining, 1 -> 0."""
    return lambda progress_remaining: progress_remaining * start


# ---- measurements (parent) --------------------------------------------------------------------------------
def measure(args: argparse.Namespace) -> Dict[str, Any]:
    """Throughput runs (no evaluation), then time-to-threshold runs per seed, then the MLP baseline."""
    out: Dict[str, Any] = {"throughput": {}, "ttr": [], "mlp": []}
    runs = {"rlhydra": child_command(SCRIPT, "rlhydra", steps=args.steps, seed=args.seeds[0], lstm=True),
            "sb3": child_command(SCRIPT, "sb3", steps=args.steps, seed=args.seeds[0])}
    for name, cmd in runs.items():
        log(f"[bench] throughput: {name}, {args.steps:,} env steps")
        r = run_child(cmd).result
        out["throughput"][name] = {**r, "steps_per_s": r["env_steps"] / r["learn_s"]}
    for seed in args.seeds:
        row: Dict[str, Any] = {"seed": seed}
        for name, kind, extra in (("rlhydra", "rlhydra", {"lstm": True}), ("sb3", "sb3", {})):
            log(f"[bench] time to {args.threshold:g}, seed {seed}: {name}")
            run = run_child(child_command(SCRIPT, kind, steps=args.budget, seed=seed, threshold=args.threshold,
                                          stop=True, **extra))
            best = run.result["best_eval_return"]
            row[name] = {"wall_s": run.wall_s, "env_steps": run.result["env_steps"], "cpu_s": run.result["learn_cpu_s"],
                         "reached": best is not None and best >= args.threshold, "best": best}
        out["ttr"].append(row)
        log(f"[bench] MLP baseline, seed {seed}: rlhydra, {args.budget:,} env steps")
        run = run_child(child_command(SCRIPT, "rlhydra", steps=args.budget, seed=seed, threshold=args.threshold,
                                      stop=True))
        out["mlp"].append({"seed": seed, "best": run.result["best_eval_return"], "env_steps": run.result["env_steps"]})
    return out


# ---- the report -------------------------------------------------------------------------------------------
def report(args: argparse.Namespace, m: Dict[str, Any], total_s: float, load_md: str) -> str:
    """The markdown report: throughput, time to threshold, the MLP baseline, how it was measured."""
    rl, sb = m["throughput"]["rlhydra"], m["throughput"]["sb3"]
    quick = " (--quick: smoke numbers, not results)" if args.quick else ""
    thr = f"{args.threshold:g}"

    def reached(side: Dict[str, Any]) -> str:
        return f"{side['env_steps']:,}" + ("" if side["reached"] else f" (not reached; best {side['best']:.0f})")

    ttr_rows = [[r["seed"], f"{r['rlhydra']['wall_s']:.1f}", reached(r["rlhydra"]), f"{r['sb3']['wall_s']:.1f}",
                 reached(r["sb3"]), f"{r['rlhydra']['wall_s'] / r['sb3']['wall_s']:.2f}x",
                 f"{r['rlhydra']['cpu_s']:.1f} / {r['sb3']['cpu_s']:.1f}"] for r in m["ttr"]]
    mlp_rows = [[r["seed"], f"{r['best']:.1f}", f"{r['env_steps']:,}"] for r in m["mlp"]]
    return "\n".join([
        "# LSTM PPO on StatelessCartPole: rlhydra vs sb3-contrib RecurrentPPO (rl-zoo CartPoleNoVel-v1 settings)",
        "",
        f"- command: `{shlex.join(['python', *sys.argv])}`",
        *machine_lines(),
        load_md,
        f"- benchmark run took {total_s:.0f} s{quick}",
        f"- CPU share of the timed throughput runs (process time / wall time): rlhydra "
        f"{rl['learn_cpu_s'] / rl['learn_s']:.0%}, sb3-contrib {sb['learn_cpu_s'] / sb['learn_s']:.0%}"
        + (" - **below ~95%: other processes took CPU time, wall figures are noisy**"
           if min(rl['learn_cpu_s'] / rl['learn_s'], sb['learn_cpu_s'] / sb['learn_s']) < 0.95 else ""),
        "",
        f"## Throughput (8 envs, {args.steps:,} env steps, no evaluation, 1 torch thread)",
        "",
        md_table(["measurement", "rlhydra", "sb3-contrib", "rlhydra / sb3-contrib"], [
            ["LSTM PPO training (env steps/s)", f"{rl['steps_per_s']:,.0f}", f"{sb['steps_per_s']:,.0f}",
             f"**{rl['steps_per_s'] / sb['steps_per_s']:.2f}x**"],
            ["LSTM PPO training per CPU-second of `learn()` (env steps/s; less sensitive to other load)",
             f"{rl['env_steps'] / rl['learn_cpu_s']:,.0f}", f"{sb['env_steps'] / sb['learn_cpu_s']:,.0f}",
             f"{(rl['env_steps'] / rl['learn_cpu_s']) / (sb['env_steps'] / sb['learn_cpu_s']):.2f}x"],
            [f"learn() time for {rl['env_steps']:,} / {sb['env_steps']:,} env steps (s)", f"{rl['learn_s']:.1f}",
             f"{sb['learn_s']:.1f}", f"{rl['learn_s'] / sb['learn_s']:.2f}x"],
        ]),
        "",
        f"## Wall time from process start to eval return >= {thr} (budget {args.budget:,} env steps)",
        "",
        md_table(["seed", "rlhydra wall (s)", "rlhydra env steps", "sb3-contrib wall (s)", "sb3-contrib env steps",
                  "rlhydra / sb3-contrib wall", "CPU s of learn(): rlhydra / sb3-contrib"], ttr_rows),
        "",
        "## Memoryless baseline: rlhydra MLP PPO, same settings and budget (best evaluation)",
        "",
        md_table(["seed", "best eval return", "env steps trained"], mlp_rows),
        "",
        "## How it was measured",
        "",
        f"- Same hyperparameters for both (rl-baselines3-zoo's ppo_lstm CartPoleNoVel-v1): {HYPERPARAMETERS}; CPU "
        "only. Architecture difference: rlhydra's `module.use_lstm` runs one LSTM shared by the pi and vf heads "
        "(RLlib's layout); rl-zoo's RecurrentPPO runs a second LSTM for the critic (`enable_critic_lstm=True`).",
        "- Every measurement runs in its own fresh Python process, one after another (nothing runs in parallel).",
        "- Throughput: only `learn()` is timed, with no evaluation (budget --steps); both sides 1 torch thread.",
        f"- Time to {thr}: wall time measured by this script from just before `Popen` to process exit (imports, "
        f"build, training, evaluations). Both evaluate every {EVAL_EVERY:,} env steps on {EVAL_ENVS} separate envs, "
        f"{EVAL_EPISODES} deterministic episodes, and stop at the first evaluation with mean return >= {thr}. "
        "rlhydra: `evaluation.stop_at_return`; sb3-contrib: `EvalCallback` + `StopTrainingOnRewardThreshold`. Env "
        "steps are those at the stopping evaluation (or the budget when not reached).",
        "",
    ])


# ---- entry point ------------------------------------------------------------------------------------------
def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Command-line flags; the --child flags are internal."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=20_480, help="env steps of each throughput run")
    p.add_argument("--budget", type=int, default=100_000, help="env-step budget of the time-to-threshold runs")
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds of the time-to-threshold runs")
    p.add_argument("--threshold", type=float, default=400.0, help="eval mean return that stops training")
    p.add_argument("--quick", action="store_true", help="smoke run: few steps, threshold 50")
    p.add_argument("--out", default="benchmarks/out/recurrent.md", help="markdown file for the report")
    p.add_argument("--child", choices=("rlhydra", "sb3"), help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--lstm", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--stop", action="store_true", help=argparse.SUPPRESS)  # evaluate and stop at --threshold
    return p.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> None:
    """Run every measurement, print the report and write it to --out."""
    args = parse_args(argv)
    threshold = args.threshold if args.stop else None
    if args.child == "rlhydra":
        child_rlhydra(args.steps, args.seed, args.lstm, threshold)
        return
    if args.child == "sb3":
        child_sb3(args.steps, args.seed, threshold)
        return
    if args.quick:
        args.steps, args.budget, args.threshold = 2_560, 5_120, 50.0
    start, start_load = time.perf_counter(), load_average()
    m = measure(args)
    publish(report(args, m, time.perf_counter() - start, load_line(start_load, load_average())), args.out)


if __name__ == "__main__":
    main()
