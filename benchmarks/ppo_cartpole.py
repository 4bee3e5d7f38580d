"""PPO on 8 CartPole-v1 envs, rlhydra vs Stable-Baselines3 with rl-zoo's hyperparameters, side by side in one run.

Measures the raw env limit, PPO training throughput, wall time from process start to eval return >= 475 and
process start to the first env step; prints a markdown table and writes it to --out.

    python benchmarks/ppo_cartpole.py                 # full run, ~2-3 min on 2 cores
    python benchmarks/ppo_cartpole.py --quick         # smoke run, ~30 s
    python benchmarks/ppo_cartpole.py --seeds 0 1 2   # time-to-475 over three seeds

Every measurement runs in its own fresh child process (this script with --child), one after another.
Only the standard library is imported at the top, so children pay for exactly the imports they need.
"""
from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from _common import (REPO, child_command, emit, load_average, load_line, log, machine_lines, md_table, publish,
                     read_jsonl, run_child)

SCRIPT = str(Path(__file__).resolve().relative_to(REPO))
NUM_ENVS = 8
STEPS_PER_ENV = 32  # 8 x 32 = 256 env steps per iteration
EVAL_EVERY = 2560  # env steps between evaluations (10 iterations)
EVAL_EPISODES = 10
EVAL_ENVS = 5
ZOO_TOTAL_STEPS = 100_000
FIRST_STEP_ENV = "benchmarks.first_step_env:FirstStepCartPole-v1"
FIRST_STEP_TOTAL = 2048
HYPERPARAMETERS = ("8 envs x 32 steps, minibatch 256, 20 epochs, gamma 0.98, GAE lambda 0.8, lr 1e-3 and clip 0.2 "
                   "both linear to 0, ent_coef 0, vf_coef 0.5, max_grad_norm 0.5, Adam eps 1e-5, "
                   "64x64 tanh separate pi/vf MLPs, orthogonal init, advantage normalisation")


# ---- children: each runs in its own process and emits one JSON result ---------------------------------------
def child_raw_gym(steps: int) -> None:
    """Env steps/s of Gymnasium's sync vector env (rlhydra's) with random actions."""
    import gymnasium as gym
    import numpy as np
    from gymnasium.vector import AutoresetMode

    envs = gym.make_vec("CartPole-v1", num_envs=NUM_ENVS, vectorization_mode="sync",
                        vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP})
    envs.reset(seed=0)
    rng = np.random.default_rng(0)
    iterations = steps // NUM_ENVS
    start = time.perf_counter()
    for _ in range(iterations):
        envs.step(rng.integers(0, 2, NUM_ENVS))
    elapsed = time.perf_counter() - start
    envs.close()
    emit({"env_steps": iterations * NUM_ENVS, "time_s": elapsed})


def child_raw_sb3(steps: int) -> None:
    """Env steps/s of SB3's DummyVecEnv (with Monitor, as make_vec_env builds it) with random actions."""
    import numpy as np
    from stable_baselines3.common.env_util import make_vec_env

    envs = make_vec_env("CartPole-v1", n_envs=NUM_ENVS, seed=0)
    envs.reset()
    rng = np.random.default_rng(0)
    iterations = steps // NUM_ENVS
    start = time.perf_counter()
    for _ in range(iterations):
        envs.step(rng.integers(0, 2, NUM_ENVS))
    elapsed = time.perf_counter() - start
    envs.close()
    emit({"env_steps": iterations * NUM_ENVS, "time_s": elapsed})


def child_rlhydra(steps: int, seed: int, threads: int) -> None:
    """rlhydra PPO through the Python API, no evaluation; times import, build and learn() separately."""
    start = time.perf_counter()
    from rlhydra import PPOConfig

    imported = time.perf_counter()
    algo = (
        PPOConfig().environment("CartPole-v1").debugging(seed=seed)
        .training(lr=1e-3, lr_schedule="linear", train_batch_size=NUM_ENVS * STEPS_PER_ENV, minibatch_size=256,
                  num_epochs=20, gamma=0.98, gae_lambda=0.8, clip_param=0.2, clip_schedule="linear",
                  entropy_coeff=0.0, vf_coeff=0.5, grad_clip=0.5, adam_eps=1e-5)
        .env_runners(num_envs_per_env_runner=NUM_ENVS)
        .evaluation(interval=0, final=False)
        .learners(torch_threads=threads)
        .stopping(total_steps=steps)
        .build()
    )
    built, cpu = time.perf_counter(), time.process_time()
    update_time = _UpdateTime()
    result = algo.learn(loggers=[update_time])
    learned, cpu = time.perf_counter(), time.process_time() - cpu
    algo.stop()
    import torch

    emit({"import_s": imported - start, "build_s": built - imported, "learn_s": learned - built,
          "learn_cpu_s": cpu, "update_s": update_time.total_s, "env_steps": algo.env_steps,
          "threads": torch.get_num_threads(),
          "train_return": result.get("train/episode_return_mean")})


class _UpdateTime:
    """A logger that sums rlhydra's per-iteration learner time (update + weight sync)."""

    def __init__(self) -> None:
        self.total_s = 0.0

    def log(self, result: Dict[str, Any]) -> None:
        self.total_s += result["perf/learn_time_s"]


def child_sb3(steps: int, seed: int, threads: int, env_id: str, threshold: Optional[float]) -> None:
    """SB3 PPO with rl-zoo's CartPole hyperparameters; with `threshold`, zoo-style EvalCallback early stopping."""
    start = time.perf_counter()
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import EvalCallback, StopTrainingOnRewardThreshold
    from stable_baselines3.common.env_util import make_vec_env

    imported = time.perf_counter()
    if threads > 0:
        torch.set_num_threads(threads)
    env = make_vec_env(env_id, n_envs=NUM_ENVS, seed=seed)
    model = PPO(
        "MlpPolicy", env, n_steps=STEPS_PER_ENV, batch_size=256, n_epochs=20, gamma=0.98, gae_lambda=0.8,
        learning_rate=_linear(1e-3), clip_range=_linear(0.2), ent_coef=0.0, vf_coef=0.5, max_grad_norm=0.5,
        device="cpu", seed=seed, verbose=0,
    )
    callback = None
    if threshold is not None:
        eval_env = make_vec_env(env_id, n_envs=EVAL_ENVS, seed=seed + 1_000_000)
        callback = EvalCallback(
            eval_env, n_eval_episodes=EVAL_EPISODES, eval_freq=EVAL_EVERY // NUM_ENVS, deterministic=True,
            callback_on_new_best=StopTrainingOnRewardThreshold(reward_threshold=threshold, verbose=0), verbose=0,
        )
    update_s = [0.0]
    train = model.train

    def timed_train() -> None:  # SB3's update step, timed from outside
        t = time.perf_counter()
        train()
        update_s[0] += time.perf_counter() - t

    model.train = timed_train
    built, cpu = time.perf_counter(), time.process_time()
    model.learn(total_timesteps=steps, callback=callback)
    learned, cpu = time.perf_counter(), time.process_time() - cpu
    emit({"import_s": imported - start, "build_s": built - imported, "learn_s": learned - built,
          "learn_cpu_s": cpu, "update_s": update_s[0], "env_steps": int(model.num_timesteps),
          "threads": torch.get_num_threads(),
          "best_eval_return": None if callback is None else float(callback.best_mean_reward)})


def _linear(start: float) -> Callable[[float], float]:
    """rl-zoo's `lin_<value>` schedule: SB3 passes progress_remaining, 1 -> 0."""
    return lambda progress_remaining: progress_remaining * start


# ---- measurements (parent) --------------------------------------------------------------------------------
def measure_raw(steps: int) -> Dict[str, float]:
    """Raw env steps/s: Gymnasium sync vector env (rlhydra's) and SB3's DummyVecEnv."""
    out = {}
    for kind in ("raw-gym", "raw-sb3"):
        log(f"[bench] {kind}: {steps:,} random-action env steps")
        r = run_child(child_command(SCRIPT, kind, steps=steps)).result
        out[kind] = r["env_steps"] / r["time_s"]
    return out


def measure_throughput(steps: int, seed: int, sb3_default_threads: bool, repeats: int) -> Dict[str, Dict[str, Any]]:
    """PPO throughput, median of `repeats` interleaved runs of rlhydra and SB3 (1 torch thread); SB3 default once."""
    runs = {"rlhydra": (child_command(SCRIPT, "rlhydra", steps=steps, seed=seed, threads=1), repeats),
            "sb3": (child_command(SCRIPT, "sb3", steps=steps, seed=seed, threads=1), repeats)}
    if sb3_default_threads:
        runs["sb3-default-threads"] = (child_command(SCRIPT, "sb3", steps=steps, seed=seed, threads=0), 1)
    results: Dict[str, List[Dict[str, Any]]] = {name: [] for name in runs}
    for i in range(repeats):  # interleaved, so a burst of other load hits both sides alike
        for name, (args, runs_of_it) in runs.items():
            if i < runs_of_it:
                log(f"[bench] throughput {name}: {steps:,} env steps (run {i + 1}/{runs_of_it})")
                r = run_child(args).result
                results[name].append({**r, "steps_per_s": r["env_steps"] / r["learn_s"]})
    return {name: sorted(rs, key=lambda r: r["steps_per_s"])[len(rs) // 2] for name, rs in results.items()}


def measure_time_to_return(seeds: List[int], threshold: float) -> List[Dict[str, Any]]:
    """Per seed: wall time from before Popen to exit and env steps at the threshold, rlhydra CLI vs SB3+zoo."""
    rows = []
    for seed in seeds:
        with tempfile.TemporaryDirectory(prefix="rlhydra_bench_") as tmp:
            log(f"[bench] time to {threshold:g}, seed {seed}: rlhydra (train.py)")
            run = run_child(["train.py", *rlhydra_cli_overrides(seed, threshold, tmp)])
            metrics = read_jsonl(Path(tmp) / "metrics.jsonl")
        evals = [m for m in metrics if m.get("eval/episode_return_mean") is not None]
        hit = next((m for m in evals if m["eval/episode_return_mean"] >= threshold), None)
        row = {"seed": seed, "rlhydra_wall_s": run.wall_s, "rlhydra_reached": hit is not None,
               "rlhydra_steps": (hit or metrics[-1])["env_steps"],
               "rlhydra_eval_every": evals[0]["env_steps"] if evals else None}
        log(f"[bench] time to {threshold:g}, seed {seed}: SB3 + rl-zoo (EvalCallback)")
        sb3 = run_child(child_command(SCRIPT, "sb3", steps=ZOO_TOTAL_STEPS, seed=seed, threads=1,
                                      env_id="CartPole-v1", threshold_child=threshold))
        row.update({"sb3_wall_s": sb3.wall_s, "sb3_steps": sb3.result["env_steps"],
                    "sb3_reached": sb3.result["best_eval_return"] >= threshold})
        rows.append(row)
    return rows


def rlhydra_cli_overrides(seed: int, threshold: float, run_dir: str) -> List[str]:
    """train.py overrides of the time-to-threshold run (tuned defaults; eval cadence spelled out)."""
    interval = EVAL_EVERY // (NUM_ENVS * STEPS_PER_ENV)
    return ["algorithm=ppo", "env=cartpole", f"seed={seed}", f"total_steps={ZOO_TOTAL_STEPS}",
            f"evaluation.stop_at_return={threshold:g}", f"evaluation.interval={interval}",
            f"evaluation.episodes={EVAL_EPISODES}", f"evaluation.num_envs={EVAL_ENVS}", "logger=jsonl",
            f"hydra.run.dir={run_dir}"]


def measure_first_step() -> Dict[str, float]:
    """Seconds from just before Popen to the first env step: rlhydra's train.py and the SB3 child."""
    out = {}
    with tempfile.TemporaryDirectory(prefix="rlhydra_bench_") as tmp:
        runs = {
            "rlhydra": ["train.py", "algorithm=ppo", "env=cartpole", f"env.id={FIRST_STEP_ENV}",
                        f"total_steps={FIRST_STEP_TOTAL}", "logger=jsonl", f"hydra.run.dir={tmp}/run"],
            "sb3": child_command(SCRIPT, "sb3", steps=FIRST_STEP_TOTAL, seed=0, threads=1, env_id=FIRST_STEP_ENV),
        }
        for name, args in runs.items():
            log(f"[bench] process start to first env step: {name}")
            stamp = Path(tmp) / f"{name}.first_step"
            run = run_child(args, env={"FIRST_STEP_FILE": str(stamp)})
            out[name] = float(stamp.read_text()) - run.start_time
    return out


# ---- the report -------------------------------------------------------------------------------------------
def verdict(ok: bool) -> str:
    """Target verdict cell."""
    return "met" if ok else "**NOT met**"


def ratio(a: float, b: float) -> str:
    """a / b as '1.23x'."""
    return f"{a / b:.2f}x"


def targets_table(args: argparse.Namespace, tp: Dict[str, Dict[str, Any]], ttr: List[Dict[str, Any]],
                  first: Dict[str, float]) -> str:
    """One row per target: the result and whether it is met."""
    speedup = tp["rlhydra"]["steps_per_s"] / tp["sb3"]["steps_per_s"]
    rl_wall = statistics.mean(r["rlhydra_wall_s"] for r in ttr)
    sb_wall = statistics.mean(r["sb3_wall_s"] for r in ttr)
    seeds = f"seed {args.seeds[0]}" if len(args.seeds) == 1 else f"mean of {len(args.seeds)} seeds"
    return md_table(["target", "result", "verdict"], [
        ["PPO throughput >= 1.5x SB3 (1 torch thread each)", f"{speedup:.2f}x", verdict(speedup >= 1.5)],
        [f"wall time to eval return >= {args.threshold:g} <= SB3+zoo ({seeds})",
         f"{rl_wall:.1f} s vs {sb_wall:.1f} s", verdict(all(r["rlhydra_reached"] for r in ttr) and rl_wall <= sb_wall)],
        ["rlhydra process start to first env step <= 2.5 s", f"{first['rlhydra']:.2f} s",
         verdict(first["rlhydra"] <= 2.5)],
    ])


def throughput_table(raw: Dict[str, float], tp: Dict[str, Dict[str, Any]]) -> str:
    """Raw env limit, PPO env steps/s, and where the time of each process went."""
    rl, sb, gym_raw = tp["rlhydra"], tp["sb3"], raw["raw-gym"]
    rl_rest, sb_rest = rl["learn_s"] - rl["update_s"], sb["learn_s"] - sb["update_s"]
    rows = [
        ["raw env limit: 8 envs, random actions (env steps/s)", f"{gym_raw:,.0f} (Gymnasium sync vector env)",
         f"{raw['raw-sb3']:,.0f} (DummyVecEnv + Monitor)", ratio(gym_raw, raw["raw-sb3"])],
        ["PPO training, 1 torch thread (env steps/s)", f"{rl['steps_per_s']:,.0f}", f"{sb['steps_per_s']:,.0f}",
         f"**{ratio(rl['steps_per_s'], sb['steps_per_s'])}**"],
    ]
    if "sb3-default-threads" in tp:
        sd = tp["sb3-default-threads"]
        rows.append([f"PPO training, SB3 with torch's default {sd['threads']} threads (env steps/s)",
                     f"{rl['steps_per_s']:,.0f} (1 thread)", f"{sd['steps_per_s']:,.0f}",
                     ratio(rl["steps_per_s"], sd["steps_per_s"])])
    rows += [
        ["PPO training per CPU-second of `learn()` (env steps/s; less sensitive to other load)",
         f"{rl['env_steps'] / rl['learn_cpu_s']:,.0f}", f"{sb['env_steps'] / sb['learn_cpu_s']:,.0f}",
         ratio(rl["env_steps"] / rl["learn_cpu_s"], sb["env_steps"] / sb["learn_cpu_s"])],
        ["PPO training / Gymnasium raw env limit", f"{rl['steps_per_s'] / gym_raw:.1%}",
         f"{sb['steps_per_s'] / gym_raw:.1%}", ""],
        [f"learn() time for {rl['env_steps']:,} / {sb['env_steps']:,} env steps (s)", f"{rl['learn_s']:.2f}",
         f"{sb['learn_s']:.2f}", ratio(rl["learn_s"], sb["learn_s"])],
        ["- of which updates (s): learner update + weight sync / SB3 `train()`", f"{rl['update_s']:.2f}",
         f"{sb['update_s']:.2f}", ratio(rl["update_s"], sb["update_s"])],
        ["- of which sampling and the rest (s)", f"{rl_rest:.2f}", f"{sb_rest:.2f}", ratio(rl_rest, sb_rest)],
        ["import time: `import rlhydra` / `import stable_baselines3` (s)", f"{rl['import_s']:.2f}",
         f"{sb['import_s']:.2f}", ratio(rl["import_s"], sb["import_s"])],
        ["build time: config, envs, module, learner / `PPO(...)` (s)", f"{rl['build_s']:.2f}",
         f"{sb['build_s']:.2f}", ratio(rl["build_s"], sb["build_s"])],
    ]
    return md_table(["measurement", "rlhydra", "SB3", "rlhydra / SB3"], rows)


def time_to_return_table(ttr: List[Dict[str, Any]]) -> str:
    """Wall time and env steps to the threshold per seed (and their mean over several seeds)."""
    def steps(n: float, reached: bool) -> str:
        return f"{n:,.0f}" if reached else f"{n:,.0f} (not reached)"

    rows = [[r["seed"], f"{r['rlhydra_wall_s']:.1f}", steps(r["rlhydra_steps"], r["rlhydra_reached"]),
             f"{r['sb3_wall_s']:.1f}", steps(r["sb3_steps"], r["sb3_reached"]),
             ratio(r["rlhydra_wall_s"], r["sb3_wall_s"])] for r in ttr]
    if len(ttr) > 1:
        mean = {k: statistics.mean(r[k] for r in ttr) for k in ("rlhydra_wall_s", "rlhydra_steps", "sb3_wall_s",
                                                               "sb3_steps")}
        rows.append(["mean", f"{mean['rlhydra_wall_s']:.1f}", f"{mean['rlhydra_steps']:,.0f}",
                     f"{mean['sb3_wall_s']:.1f}", f"{mean['sb3_steps']:,.0f}",
                     ratio(mean["rlhydra_wall_s"], mean["sb3_wall_s"])])
    return md_table(["seed", "rlhydra wall (s)", "rlhydra env steps", "SB3+zoo wall (s)", "SB3+zoo env steps",
                     "rlhydra / SB3 wall"], rows)


def startup_table(first: Dict[str, float]) -> str:
    """Process start to first env step."""
    return md_table(["measurement", "rlhydra", "SB3", "rlhydra / SB3"], [
        ["process start to first env step (s)", f"{first['rlhydra']:.2f}", f"{first['sb3']:.2f}",
         ratio(first["rlhydra"], first["sb3"])],
    ])


def method_notes(args: argparse.Namespace, ttr: List[Dict[str, Any]]) -> List[str]:
    """How each number was measured, and the known differences between the two sides."""
    thr = f"{args.threshold:g}"
    eval_every = {r["rlhydra_eval_every"] for r in ttr} - {None}
    cadence_warning = "" if eval_every <= {EVAL_EVERY} else (
        f" **Warning: rlhydra's first evaluation was at {sorted(eval_every)} env steps, not {EVAL_EVERY}.**")
    return [
        f"- Same hyperparameters for both (rl-baselines3-zoo's CartPole-v1 PPO): {HYPERPARAMETERS}; CPU only.",
        "- Every measurement runs in its own fresh Python process, one after another (nothing runs in parallel).",
        f"- Raw env limit: {args.raw_steps:,} env steps of 8 CartPole-v1 with numpy random actions drawn per "
        "vector step; the Gymnasium sync vector env (same-step autoreset) is the one rlhydra samples from.",
        "- Throughput: `torch.set_num_threads(1)` in both (rlhydra: `learners(torch_threads=1)`, its default; "
        f"SB3: set in the child before building). Only `learn()` is timed (--steps {args.steps}; both round up to "
        "whole 256-step iterations): sampling + updates, no evaluation, no logging. Import and build are timed "
        "separately inside the same processes. The per-CPU-second row divides by the child's `time.process_time()` "
        "around `learn()`, which other processes on the machine barely change. "
        f"Median of {args.repeats} interleaved run(s) per side (--repeats); the SB3 default-threads row is one run, "
        "and with as many threads as cores it is sensitive to anything else running on the machine.",
        f"- Time to {thr}: wall time measured by this script from just before `Popen` to process exit (imports, "
        f"build, training, evaluations, rlhydra's final checkpoint). Both evaluate every {EVAL_EVERY:,} env steps on "
        f"{EVAL_ENVS} separate envs, {EVAL_EPISODES} deterministic episodes, stop at the first evaluation with mean "
        f"return >= {thr}, budget {ZOO_TOTAL_STEPS:,} env steps, 1 torch thread. rlhydra: `python train.py "
        f"{' '.join(rlhydra_cli_overrides(0, args.threshold, '<tmp>'))}` (tuned defaults, eval cadence spelled "
        f"out). SB3: `PPO(...)` + `EvalCallback(eval_freq={EVAL_EVERY // NUM_ENVS}, n_eval_episodes={EVAL_EPISODES}, "
        f"deterministic=True, callback_on_new_best=StopTrainingOnRewardThreshold({thr}))`. Env steps are those at "
        "the stopping evaluation. Caveats: SB3's EvalCallback fires on the last env step of a rollout, before that "
        "rollout's update, so at the same env step its policy has had one update fewer; SB3's eval env continues "
        f"its RNG across evaluations while rlhydra replays the same seeded episodes.{cadence_warning}",
        f"- First env step: env `{FIRST_STEP_ENV}` (benchmarks/first_step_env.py) writes `time.time()` on its "
        "first `step()`; reported is that minus `time.time()` just before `Popen`. rlhydra: `python train.py "
        f"algorithm=ppo env=cartpole env.id={FIRST_STEP_ENV} total_steps={FIRST_STEP_TOTAL} logger=jsonl`; "
        "SB3: this script's SB3 child (imports SB3, builds `PPO`, `learn()`).",
    ]


def report(args: argparse.Namespace, raw: Dict[str, float], tp: Dict[str, Dict[str, Any]],
           ttr: List[Dict[str, Any]], first: Dict[str, float], total_s: float, load_md: str) -> str:
    """The markdown report: targets, then the detailed tables, then how it was measured."""
    quick = " (--quick: smoke numbers, not results)" if args.quick else ""
    share = {name: tp[name]["learn_cpu_s"] / tp[name]["learn_s"] for name in ("rlhydra", "sb3")}
    low = min(share.values()) < 0.95
    contended = " - **below ~95%: other processes took CPU time, numbers are noisy**" if low else ""
    return "\n".join([
        "# PPO on CartPole-v1: rlhydra vs Stable-Baselines3 (rl-zoo hyperparameters)",
        "",
        f"- command: `{shlex.join(['python', *sys.argv])}`",
        *machine_lines(),
        load_md,
        f"- CPU share of the timed 1-thread `learn()` runs (process time / wall time): rlhydra {share['rlhydra']:.1%}, "
        f"SB3 {share['sb3']:.1%}{contended}",
        f"- benchmark run took {total_s:.0f} s{quick}",
        "",
        "## Targets",
        "",
        targets_table(args, tp, ttr, first),
        "",
        f"## Throughput (8 envs, {args.steps:,} env steps)",
        "",
        throughput_table(raw, tp),
        "",
        f"## Wall time from process start to eval return >= {args.threshold:g}",
        "",
        time_to_return_table(ttr),
        "",
        "## Startup",
        "",
        startup_table(first),
        "",
        "## How it was measured",
        "",
        *method_notes(args, ttr),
        "",
    ])


# ---- entry point ------------------------------------------------------------------------------------------
def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Command-line flags; the --child flags are internal."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=50_000, help="env steps of each throughput run")
    p.add_argument("--raw-steps", type=int, default=200_000, help="env steps of the raw env limit runs")
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds of the time-to-threshold runs")
    p.add_argument("--repeats", type=int, default=3, help="throughput runs per side; the median run is reported")
    p.add_argument("--threshold", type=float, default=475.0, help="eval mean return that stops training")
    p.add_argument("--no-sb3-default-threads", action="store_true", help="skip SB3 with torch's default threads")
    p.add_argument("--quick", action="store_true", help="smoke run (~30 s): few steps, threshold 200")
    p.add_argument("--out", default="benchmarks/out/ppo_cartpole.md", help="markdown file for the report")
    # child mode (internal)
    p.add_argument("--child", choices=("raw-gym", "raw-sb3", "rlhydra", "sb3"), help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--env-id", default="CartPole-v1", help=argparse.SUPPRESS)
    p.add_argument("--threshold-child", dest="child_threshold", type=float, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def run_child_mode(args: argparse.Namespace) -> None:
    """Dispatch a --child invocation."""
    if args.child == "raw-gym":
        child_raw_gym(args.steps)
    elif args.child == "raw-sb3":
        child_raw_sb3(args.steps)
    elif args.child == "rlhydra":
        child_rlhydra(args.steps, args.seed, args.threads)
    else:
        child_sb3(args.steps, args.seed, args.threads, args.env_id, args.child_threshold)


def main(argv: Optional[List[str]] = None) -> None:
    """Run every measurement, print the report and write it to --out."""
    args = parse_args(argv)
    if args.child:
        run_child_mode(args)
        return
    if args.quick:
        args.steps, args.raw_steps, args.threshold, args.repeats = 5_000, 20_000, 200.0, 1
        args.no_sb3_default_threads = True
    start, start_load = time.perf_counter(), load_average()
    raw = measure_raw(args.raw_steps)
    tp = measure_throughput(args.steps, args.seeds[0], not args.no_sb3_default_threads, args.repeats)
    first = measure_first_step()
    ttr = measure_time_to_return(args.seeds, args.threshold)
    text = report(args, raw, tp, ttr, first, time.perf_counter() - start, load_line(start_load, load_average()))
    publish(text, args.out)


if __name__ == "__main__":
    main()
