"""Sampling throughput, no learning: rlhydra's EnvRunner (local, 1 and 2 subprocess runners) vs the raw Gymnasium
vector env with random actions and SB3's PPO rollout collection (DummyVecEnv, SubprocVecEnv), 8 envs in total.

Env steps/s with the policy forward and the connectors included, on CartPole-v1 (cheap env) and on a costlier env
(HalfCheetah-v5 when `gymnasium[mujoco]` is installed, else Acrobot-v1); prints a markdown report and writes it to
--out.

    python benchmarks/sampling.py                   # full run, ~2.5 min on 2 cores
    python benchmarks/sampling.py --quick           # smoke run, ~35 s
    python benchmarks/sampling.py --repeats 3       # median of 3 interleaved runs per variant (~3x longer)
    python benchmarks/sampling.py --costly-env Acrobot-v1

Every variant runs in its own fresh child process (this script with --child), one after another, with one torch
thread in that process (rlhydra's runner workers set one thread each too). Only the standard library is imported at
the top, so children pay for exactly the imports they need.
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from _common import (REPO, child_command, emit, load_average, load_line, log, machine_lines, md_table, publish,
                     run_child)

SCRIPT = str(Path(__file__).resolve().relative_to(REPO))
NUM_ENVS = 8  # total envs of every variant
CHEAP_ENV = "CartPole-v1"
COSTLY_ENVS = ("HalfCheetah-v5", "Acrobot-v1")  # the first that makes, unless --costly-env
SEED = 0

# variant -> (label, processes that sample, rlhydra (num_env_runners, num_envs_per_env_runner) or None)
VARIANTS: Dict[str, Dict[str, Any]] = {
    "raw": {"label": "raw Gymnasium sync vector env, random actions (the limit)", "procs": "1", "rl": None},
    "local": {"label": "rlhydra local EnvRunner, 8 envs", "procs": "1", "rl": (0, NUM_ENVS)},
    "runners-1": {"label": "rlhydra EnvRunnerGroup, 1 runner x 8 envs", "procs": "1 + 1 worker", "rl": (1, NUM_ENVS)},
    "runners-2": {"label": "rlhydra EnvRunnerGroup, 2 runners x 4 envs", "procs": "1 + 2 workers",
                  "rl": (2, NUM_ENVS // 2)},
    "sb3-dummy": {"label": "SB3 PPO `collect_rollouts`, DummyVecEnv (8 envs)", "procs": "1", "rl": None},
    "sb3-subproc": {"label": "SB3 PPO `collect_rollouts`, SubprocVecEnv (8 envs)", "procs": "1 + 8 env workers",
                    "rl": None},
}
SINGLE_PROCESS = ("raw", "local", "sb3-dummy")


# ---- children: each runs in its own process and emits one JSON result ---------------------------------------
class _Clock:
    """Times a stretch of rollouts: wall time inside them (less any excluded part), and the CPU time of this
    process plus `pids` (worker processes, read from /proc) over the whole stretch."""

    def __init__(self, seconds: float, pids: Sequence[int] = ()) -> None:
        self.seconds, self.pids = seconds, list(pids)
        self.busy_s = self.excluded_s = 0.0
        self.env_steps = self.rollouts = 0
        self._first: Optional[float] = None
        self._cpu0 = self._t = 0.0
        self.span_s = self.cpu_s = 0.0

    def begin(self) -> None:
        self._t = time.perf_counter()
        if self._first is None:
            self._first, self._cpu0 = self._t, cpu_seconds(self.pids)

    def exclude(self, seconds: float) -> None:
        """Take `seconds` spent inside the current rollout out of its time (SB3's GAE)."""
        self.excluded_s += seconds

    def end(self, env_steps: int) -> bool:
        """Close the current rollout; True while the stretch should go on."""
        now = time.perf_counter()
        self.busy_s += now - self._t
        self.env_steps += env_steps
        self.rollouts += 1
        if now - self._first < self.seconds:
            return True
        self.span_s, self.cpu_s = now - self._first, cpu_seconds(self.pids) - self._cpu0
        return False

    def result(self, **extra: Any) -> Dict[str, Any]:
        return {"env_steps": self.env_steps, "time_s": self.busy_s - self.excluded_s, "excluded_s": self.excluded_s,
                "span_s": self.span_s, "cpu_s": self.cpu_s, "rollouts": self.rollouts, **extra}


def cpu_seconds(pids: Sequence[int] = ()) -> float:
    """CPU time (user + system) of this process and of `pids` (from /proc/PID/stat; skipped where unreadable)."""
    total = time.process_time()
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime (fields 14 and 15)
        except (OSError, ValueError, IndexError):
            pass
    return total


def run_clock(clock: _Clock, rollout: Callable[[], int]) -> None:
    """Call `rollout` (returns its env steps) under `clock` until the stretch is over."""
    while True:
        clock.begin()
        if not clock.end(rollout()):
            return


def child_probe(env_ids: List[str]) -> None:
    """The first of `env_ids` that Gymnasium can make and step here."""
    import gymnasium as gym

    for env_id in env_ids:
        try:
            env = gym.make(env_id)
            env.reset(seed=SEED)
            env.step(env.action_space.sample())
            env.close()
        except Exception as exc:  # e.g. mujoco not installed
            log(f"[bench] {env_id} not usable here: {type(exc).__name__}: {exc}")
            continue
        emit({"env_id": env_id})
        return
    raise SystemExit(f"none of {env_ids} can be made")


def child_raw(env_id: str, seconds: float, rollout: int) -> None:
    """Gymnasium's sync vector env (what rlhydra's runner steps: same-step autoreset) with uniform random actions."""
    import gymnasium as gym
    import numpy as np
    from gymnasium.vector import AutoresetMode

    envs = gym.make_vec(env_id, num_envs=NUM_ENVS, vectorization_mode="sync",
                        vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP})
    envs.reset(seed=SEED)
    rng = np.random.default_rng(SEED)
    space = envs.single_action_space
    if isinstance(space, gym.spaces.Discrete):
        def actions() -> Any:
            return rng.integers(0, int(space.n), NUM_ENVS)
    else:
        low, high = space.low, space.high

        def actions() -> Any:
            return rng.uniform(low, high, (NUM_ENVS, *space.shape)).astype(space.dtype)

    def one_rollout() -> int:
        for _ in range(rollout):
            envs.step(actions())
        return rollout * NUM_ENVS

    one_rollout()  # warm-up
    clock = _Clock(seconds)
    run_clock(clock, one_rollout)
    envs.close()
    emit(clock.result(torch_threads=None))


def child_rlhydra(env_id: str, seconds: float, rollout: int, runners: int, envs_per_runner: int) -> None:
    """rlhydra's runner of a built PPO algorithm (EnvRunner or EnvRunnerGroup), driven directly: sample() only."""
    from rlhydra import PPOConfig

    algo = (PPOConfig().environment(env_id).debugging(seed=SEED)
            .env_runners(num_env_runners=runners, num_envs_per_env_runner=envs_per_runner)
            .training(train_batch_size=NUM_ENVS * rollout, minibatch_size=NUM_ENVS * rollout)
            .evaluation(interval=0, final=False).build())
    import torch

    runner = algo.env_runner
    try:  # the Algorithm's torch settings (1 thread) hold inside its own methods; the runner is driven directly here
        with algo.torch_settings:
            runner.sample(rollout)  # warm-up (the workers are already up: the group starts them when built)
            pids = [p for p in getattr(runner, "worker_pids", []) if p is not None]
            clock = _Clock(seconds, pids)
            run_clock(clock, lambda: runner.sample(rollout).num_steps)
    finally:
        algo.stop()
    emit(clock.result(torch_threads=torch.get_num_threads(), runner=type(runner).__name__))


def child_sb3(env_id: str, seconds: float, rollout: int, subproc: bool) -> None:
    """SB3's PPO rollout collection: `learn()` with `train()` a no-op, timing only inside `collect_rollouts()` and
    taking out the GAE at its end (`rollout_buffer.compute_returns_and_advantage`); the first rollout is warm-up."""
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

    torch.set_num_threads(1)
    if subproc:  # fork, as rlhydra's runners: only the start-up (untimed) differs from the default forkserver
        venv = make_vec_env(env_id, n_envs=NUM_ENVS, seed=SEED, vec_env_cls=SubprocVecEnv,
                            vec_env_kwargs={"start_method": "fork"})
        pids = [p.pid for p in venv.processes]
    else:
        venv = make_vec_env(env_id, n_envs=NUM_ENVS, seed=SEED, vec_env_cls=DummyVecEnv)
        pids = []
    model = PPO("MlpPolicy", venv, n_steps=rollout, batch_size=NUM_ENVS * rollout, device="cpu", seed=SEED,
                verbose=0)
    clock = _Clock(seconds, pids)
    calls = [0]
    collect, gae = model.collect_rollouts, model.rollout_buffer.compute_returns_and_advantage
    counting = [False]

    def timed_gae(*args: Any, **kwargs: Any) -> None:
        t = time.perf_counter()
        gae(*args, **kwargs)
        if counting[0]:
            clock.exclude(time.perf_counter() - t)

    def timed_collect(*args: Any, **kwargs: Any) -> bool:
        calls[0] += 1
        counting[0] = calls[0] > 1  # the first rollout is warm-up
        if not counting[0]:
            return collect(*args, **kwargs)
        clock.begin()
        ok = collect(*args, **kwargs)
        return clock.end(rollout * NUM_ENVS) and ok

    model.collect_rollouts = timed_collect
    model.rollout_buffer.compute_returns_and_advantage = timed_gae
    model.train = lambda: None  # no updates
    model.learn(total_timesteps=10**12)
    venv.close()
    emit(clock.result(torch_threads=torch.get_num_threads()))


# ---- measurements (parent) --------------------------------------------------------------------------------
def costly_env(requested: Optional[str]) -> str:
    """--costly-env, else the first of COSTLY_ENVS that a child process can make."""
    if requested:
        return requested
    return run_child(child_command(SCRIPT, "probe", env_id=",".join(COSTLY_ENVS))).result["env_id"]


def cores_busy(r: Dict[str, Any]) -> float:
    """CPU time of a run's processes / wall time of its timed stretch."""
    return r["cpu_s"] / r["span_s"] if r["span_s"] else float("nan")


def contended(variant: str, r: Dict[str, Any]) -> bool:
    """True when a run visibly lost CPU to other processes: a single-process variant below 95% of a core, or the
    2-runner variant below 1.5 cores on a machine with 2+ cores (SB3's SubprocVecEnv never fills its cores)."""
    if variant in SINGLE_PROCESS:
        return cores_busy(r) < 0.95
    if variant == "runners-2" and (os.cpu_count() or 1) >= 2:
        return cores_busy(r) < 1.5
    return False


def measure(env_ids: List[str], seconds: float, rollout: int, repeats: int,
            retries: int) -> Dict[str, Dict[str, Dict[str, Any]]]:
    """Per env and variant: the median (by env steps/s) of `repeats` runs, interleaved (all variants, then again);
    a run that other load visibly slowed is run again, up to `retries` times (the last attempt counts)."""
    runs: Dict[str, Dict[str, List[Dict[str, Any]]]] = {e: {v: [] for v in VARIANTS} for e in env_ids}
    for i in range(repeats):
        for env_id in env_ids:
            for variant in VARIANTS:
                for attempt in range(retries + 1):
                    log(f"[bench] {env_id} {variant}: {seconds:g} s of {rollout}-step rollouts (run {i + 1}/{repeats}"
                        + (f", retry {attempt})" if attempt else ")"))
                    child = run_child(child_command(SCRIPT, variant, env_id=env_id, seconds=seconds, rollout=rollout))
                    r = {**child.result, "steps_per_s": child.result["env_steps"] / child.result["time_s"],
                         "process_s": child.wall_s, "retries": attempt}
                    if not contended(variant, r):
                        break
                    log(f"[bench]   contended: {cores_busy(r):.2f} cores busy")
                runs[env_id][variant].append({**r, "contended": contended(variant, r)})
    return {e: {v: sorted(rs, key=lambda r: r["steps_per_s"])[len(rs) // 2] for v, rs in by_v.items()}
            for e, by_v in runs.items()}


# ---- the report -------------------------------------------------------------------------------------------
def verdict(ok: bool) -> str:
    """Target verdict cell."""
    return "met" if ok else "**NOT met**"


def ratio(a: float, b: float) -> str:
    """a / b as '1.23x'."""
    return f"{a / b:.2f}x"


def rate(res: Dict[str, Dict[str, Any]], variant: str) -> float:
    """Env steps/s of a variant."""
    return res[variant]["steps_per_s"]


def targets_table(res: Dict[str, Dict[str, Dict[str, Any]]], costly: str) -> str:
    """One row per target: the result and whether it is met."""
    cp, co = res[CHEAP_ENV], res[costly]
    share = rate(cp, "local") / rate(cp, "raw")
    vs_sb3 = rate(cp, "local") / rate(cp, "sb3-dummy")
    par = rate(co, "runners-2") / rate(co, "local")
    one = rate(co, "runners-1") / rate(co, "local")
    return md_table(["target", "result", "verdict"], [
        [f"{CHEAP_ENV}: rlhydra local runner >= 25% of the raw vector env", f"{share:.1%}", verdict(share >= 0.25)],
        [f"{CHEAP_ENV}: rlhydra local runner >= 2x SB3's rollout collection (DummyVecEnv)", f"{vs_sb3:.2f}x",
         verdict(vs_sb3 >= 2.0)],
        [f"{costly}: subprocess runners (2 x 4 envs) faster than the local runner (8 envs)",
         f"{par:.2f}x (1 runner x 8 envs: {one:.2f}x)", verdict(par > 1.0)],
    ])


def env_table(res: Dict[str, Dict[str, Any]]) -> str:
    """One row per variant: env steps/s, ratios to raw / local / SB3 DummyVecEnv, CPU use."""
    rows = []
    for variant, spec in VARIANTS.items():
        r = res[variant]
        cores = cores_busy(r)
        speed = r["steps_per_s"]
        rows.append([spec["label"], spec["procs"], f"{speed:,.0f}", ratio(speed, rate(res, "raw")),
                     ratio(speed, rate(res, "local")), ratio(speed, rate(res, "sb3-dummy")), f"{cores:.2f}",
                     f"{r['env_steps'] / r['cpu_s']:,.0f}" if r["cpu_s"] else "", f"{r['env_steps']:,}"])
    return md_table(["variant", "processes", "env steps/s", "/ raw", "/ rlhydra local", "/ SB3 DummyVecEnv",
                     "CPU cores busy", "env steps per CPU-s", "env steps timed"], rows)


def ratios_table(res: Dict[str, Dict[str, Dict[str, Any]]], env_ids: List[str]) -> str:
    """The ratios the issue asks for, one column per env."""
    pairs = [("rlhydra local / raw Gymnasium vector env", "local", "raw"),
             ("rlhydra local / SB3 DummyVecEnv collection", "local", "sb3-dummy"),
             ("rlhydra 1 runner / rlhydra local", "runners-1", "local"),
             ("rlhydra 2 runners / rlhydra local", "runners-2", "local"),
             ("rlhydra local / SB3 SubprocVecEnv collection", "local", "sb3-subproc"),
             ("rlhydra 2 runners / SB3 SubprocVecEnv collection", "runners-2", "sb3-subproc"),
             ("SB3 SubprocVecEnv / SB3 DummyVecEnv", "sb3-subproc", "sb3-dummy")]
    return md_table(["ratio (env steps/s)", *env_ids],
                    [[label, *(ratio(rate(res[e], a), rate(res[e], b)) for e in env_ids)] for label, a, b in pairs])


def method_notes(args: argparse.Namespace, env_ids: List[str], res: Dict[str, Dict[str, Dict[str, Any]]]) -> List[str]:
    """How each number was measured, and the known differences between the variants."""
    def gae_share(r: Dict[str, Any]) -> float:
        return r["excluded_s"] / (r["time_s"] + r["excluded_s"])

    gae = ", ".join(f"{e} {gae_share(res[e]['sb3-dummy']):.1%}" for e in env_ids)
    return [
        f"- {NUM_ENVS} envs in total in every variant; rollouts of {args.rollout} vector steps per env per call "
        f"(--rollout), on-policy style; seed {SEED}. Each variant runs in its own fresh Python process, one after "
        f"another; per process: build, one untimed warm-up rollout, then rollouts until {args.seconds:g} s have "
        f"passed (--seconds; the last rollout is finished). Median of {args.repeats} interleaved run(s) per variant "
        f"(--repeats); a run that other processes visibly slowed (see the CPU bullets above) is run again, up to "
        f"{args.retries} time(s) (--retries), and the last attempt counts.",
        "- env steps/s = env steps of the timed rollouts / wall time inside them. `CPU cores busy` = CPU time "
        "(user + system) of the process and its worker processes (from /proc) / wall time of the stretch: about 1 "
        "for one process at full speed, up to the core count with workers; `env steps per CPU-s` is less "
        "sensitive to other load on the machine but not to parallel overhead.",
        "- raw: `gymnasium.make_vec(env, 8, vectorization_mode='sync', autoreset same-step)` (the vector env "
        "rlhydra's runner steps), one numpy uniform random action batch per vector step, no torch.",
        "- rlhydra: `PPOConfig().environment(env).env_runners(num_env_runners=R, num_envs_per_env_runner=E)"
        ".evaluation(interval=0, final=False).build()`, then `algo.env_runner.sample(T)` in a loop: the EnvRunner "
        "(R=0, sharing the learner's module) or the EnvRunnerGroup (R=1: 8 envs, R=2: 4 envs each, forked workers, "
        "1 torch thread each, whole rollouts back through pipes; the parent merges them). Included: the policy "
        "forward (the action distribution only: rlhydra's PPO computes values in the learner), action sampling "
        "and log-probs, the env->module and module->env connectors, the rollout buffers and episode bookkeeping. "
        "1 torch thread in the parent (rlhydra's `learners(torch_threads=1)` default).",
        "- SB3: `PPO('MlpPolicy', make_vec_env(env, 8, vec_env_cls=...), n_steps=T, device='cpu')` (64x64 tanh "
        "pi and vf, as rlhydra's default module), `torch.set_num_threads(1)`; `learn()` runs with `model.train` "
        "replaced by a no-op and `collect_rollouts()` wrapped: only the time inside `collect_rollouts()` counts, "
        "less the GAE at its end (`rollout_buffer.compute_returns_and_advantage`, which rlhydra does in the "
        f"learner, not in the runner; it was {gae} of DummyVecEnv's collection time); the first rollout is "
        "warm-up. Included: policy forward with the value head (SB3 computes values while sampling), clipping, "
        "`Monitor` wrappers (as `make_vec_env` builds them), callbacks, the rollout buffer and the time-limit "
        "bootstrap. SubprocVecEnv runs one process per env (8 on this machine), started with fork (only its "
        "untimed start-up differs from SB3's default forkserver).",
        "- Subprocess variants can pass the raw limit: it is one process, they use several cores.",
    ]


def contention_lines(res: Dict[str, Dict[str, Dict[str, Any]]], env_ids: List[str]) -> List[str]:
    """Markdown bullets: CPU share of the single-process variants, cores busy with 2 runners, retried runs."""
    share = {f"{e} {v}": cores_busy(res[e][v]) for e in env_ids for v in SINGLE_PROCESS}
    busy = {e: cores_busy(res[e]["runners-2"]) for e in env_ids}
    still = [f"{e} {v}" for e in env_ids for v in VARIANTS if res[e][v]["contended"]]
    retried = sum(res[e][v]["retries"] for e in env_ids for v in VARIANTS)
    return [
        f"- CPU share of the single-process variants (process time / wall time): min {min(share.values()):.1%}",
        "- CPU cores busy with 2 runners (CPU time of parent + workers / wall time): "
        + ", ".join(f"{e} {b:.2f}" for e, b in busy.items()),
        f"- runs repeated because other load slowed them (single process < 95% of a core, 2 runners < 1.5 cores; "
        f"--retries): {retried}"
        + (f" - **still contended: {', '.join(still)}; those numbers are understated**" if still else ""),
    ]


def report(args: argparse.Namespace, env_ids: List[str], res: Dict[str, Dict[str, Dict[str, Any]]], total_s: float,
           load_md: str) -> str:
    """The markdown report: targets, then one table per env, the ratios, then how it was measured."""
    quick = " (--quick: smoke numbers, not results)" if args.quick else ""
    lines = [
        "# Sampling throughput (no learning): rlhydra EnvRunner vs raw Gymnasium and SB3 rollout collection",
        "",
        f"- command: `{shlex.join(['python', *sys.argv])}`",
        *machine_lines(),
        f"- cores: {os.cpu_count()} (os.cpu_count()); torch threads: 1 in each variant's main process and in each "
        "rlhydra runner worker",
        load_md,
        *contention_lines(res, env_ids),
        f"- benchmark run took {total_s:.0f} s{quick}",
        "",
        "## Targets",
        "",
        targets_table(res, env_ids[1]),
        "",
    ]
    for env_id in env_ids:
        lines += [f"## {env_id}: {NUM_ENVS} envs, {args.rollout}-step rollouts", "", env_table(res[env_id]), ""]
    lines += ["## Ratios", "", ratios_table(res, env_ids), "", "## How it was measured", "",
              *method_notes(args, env_ids, res), ""]
    return "\n".join(lines)


# ---- entry point ------------------------------------------------------------------------------------------
def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Command-line flags; the --child flags are internal."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=10.0, help="timed seconds of each variant run")
    p.add_argument("--rollout", type=int, default=128, help="vector steps per env of each sample() call")
    p.add_argument("--repeats", type=int, default=1, help="runs per variant, interleaved; the median is reported")
    p.add_argument("--retries", type=int, default=2, help="re-runs of a run that other load visibly slowed")
    p.add_argument("--costly-env", help=f"the costlier env (default: the first of {', '.join(COSTLY_ENVS)} that "
                                        "makes here)")
    p.add_argument("--quick", action="store_true", help="smoke run (~35 s): 0.5 s per variant, no retries")
    p.add_argument("--out", default="benchmarks/out/sampling.md", help="markdown file for the report")
    # child mode (internal)
    p.add_argument("--child", choices=("probe", *VARIANTS), help=argparse.SUPPRESS)
    p.add_argument("--env-id", default=CHEAP_ENV, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def run_child_mode(args: argparse.Namespace) -> None:
    """Dispatch a --child invocation."""
    if args.child == "probe":
        child_probe(args.env_id.split(","))
    elif args.child == "raw":
        child_raw(args.env_id, args.seconds, args.rollout)
    elif args.child.startswith("sb3"):
        child_sb3(args.env_id, args.seconds, args.rollout, subproc=args.child == "sb3-subproc")
    else:
        child_rlhydra(args.env_id, args.seconds, args.rollout, *VARIANTS[args.child]["rl"])


def main(argv: Optional[List[str]] = None) -> None:
    """Run every variant on both envs, print the report and write it to --out."""
    args = parse_args(argv)
    if args.child:
        run_child_mode(args)
        return
    if args.quick:
        args.seconds, args.repeats, args.retries = 0.5, 1, 0
    start, start_load = time.perf_counter(), load_average()
    env_ids = [CHEAP_ENV, costly_env(args.costly_env)]
    res = measure(env_ids, args.seconds, args.rollout, args.repeats, args.retries)
    text = report(args, env_ids, res, time.perf_counter() - start, load_line(start_load, load_average()))
    publish(text, args.out)


if __name__ == "__main__":
    main()
