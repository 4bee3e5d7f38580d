"""Multi-agent PPO on two CartPoles in one PettingZoo ParallelEnv, rlhydra vs RLlib (new API stack), side by side.

Both train one module per agent (`independent` mapping; RLlib: a policy_mapping_fn agent -> its own module) with the
same hyperparameters, sampling in the training process (rlhydra's in-process runner; RLlib num_env_runners=0), one
torch thread each. Measures env steps/s of training and wall time from process start to a team training return
(both agents' returns summed, mean of the last 100 episodes) >= --threshold; prints a markdown table, writes --out.

    python benchmarks/multi_agent_rllib.py                          # ~6 min on 2 cores (RLlib's side ~4.5)
    python benchmarks/multi_agent_rllib.py --rllib-python .venv-rllib/bin/python
    python benchmarks/multi_agent_rllib.py --quick                  # smoke run

RLlib 2.60 pins gymnasium 1.2.2 (rlhydra's venv has 1.4): `--rllib-python` runs the RLlib child with another
interpreter, e.g. a venv with `pip install "ray[rllib]==2.60"` whose site-packages falls back to rlhydra's venv.
Only the standard library is imported at the top, so each child pays for exactly the imports it needs.
"""
from __future__ import annotations

import argparse
import shlex
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any, Dict, List

from _common import (REPO, child_command, emit, load_average, load_line, log, machine_lines, md_table, publish,
                     run_child, version)

SCRIPT = str(Path(__file__).resolve().relative_to(REPO))
ENV_FILE = REPO / "rlhydra" / "env" / "examples.py"
AGENTS = ("cartpole_0", "cartpole_1")
HP = dict(lr=1e-3, train_batch_size=512, minibatch_size=128, num_epochs=10, gamma=0.98, gae_lambda=0.8,
          clip_param=0.2, entropy_coeff=0.0, vf_coeff=0.5, grad_clip=0.5)
HYPERPARAMETERS = ("1 env copy (2 agents), 512 env steps per iteration, minibatch 128, 10 epochs, lr 1e-3, gamma 0.98, "
                   "GAE lambda 0.8, clip 0.2, no KL penalty, no value clipping, entropy 0, vf coeff 0.5, grad norm "
                   "0.5, 64x64 tanh separate pi/vf MLPs, a module per agent")


# ---- children ---------------------------------------------------------------------------------------------
def child_rlhydra(max_steps: int, threshold: float, seed: int) -> None:
    """rlhydra's PPO through the Python API until the team return reaches `threshold` or `max_steps`."""
    import torch

    from rlhydra import PPOConfig

    torch.set_num_threads(1)
    hp = dict(HP)
    algo = (PPOConfig().environment("rlhydra.env.examples:multi_cartpole").multi_agent(policy_mapping_fn="independent")
            .env_runners(num_envs_per_env_runner=1).training(**hp)
            .evaluation(interval=0, final=False).reporting(smoothing_episodes=100).debugging(seed=seed).build())
    _loop(algo.train, lambda: algo.env_steps, lambda _: _mean(algo._recent_returns), max_steps, threshold)
    algo.stop()


def child_rllib(max_steps: int, threshold: float, seed: int) -> None:
    """RLlib's PPO (new API stack, local sampling) on the same env through its PettingZoo wrapper."""
    import importlib.util

    import ray
    import torch
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig
    from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec
    from ray.rllib.env.wrappers.pettingzoo_env import ParallelPettingZooEnv
    from ray.tune.registry import register_env

    torch.set_num_threads(1)
    recent: deque = deque(maxlen=100)  # team returns of the last 100 episodes, as rlhydra's smoothing keeps them
    spec = importlib.util.spec_from_file_location("rlhydra_examples", ENV_FILE)  # the env alone, not rlhydra
    examples = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(examples)
    register_env("multi_cartpole", lambda _: ParallelPettingZooEnv(examples.multi_cartpole(len(AGENTS))))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    model = DefaultModelConfig(fcnet_hiddens=[64, 64], fcnet_activation="tanh", vf_share_layers=False)
    config = (
        PPOConfig().environment("multi_cartpole")
        .env_runners(num_env_runners=0, num_envs_per_env_runner=1)
        .learners(num_learners=0)
        .multi_agent(policies=set(AGENTS), policy_mapping_fn=lambda agent_id, episode, **kw: agent_id)
        .rl_module(rl_module_spec=MultiRLModuleSpec(rl_module_specs={a: RLModuleSpec() for a in AGENTS}),
                   model_config=model)
        .training(lr=HP["lr"], train_batch_size_per_learner=HP["train_batch_size"],
                  minibatch_size=HP["minibatch_size"], num_epochs=HP["num_epochs"], gamma=HP["gamma"],
                  lambda_=HP["gae_lambda"], clip_param=HP["clip_param"], entropy_coeff=HP["entropy_coeff"],
                  vf_loss_coeff=HP["vf_coeff"], grad_clip=HP["grad_clip"], grad_clip_by="global_norm",
                  use_kl_loss=False, vf_clip_param=1e9)
        .reporting(metrics_num_episodes_for_smoothing=100)
        .callbacks(on_episode_end=lambda episode, **kw: recent.append(float(episode.get_return())))
        .debugging(seed=seed)
    )
    algo = config.build_algo()

    def steps() -> int:
        return int(algo.metrics.peek(("env_runners", "num_env_steps_sampled_lifetime"), default=0))

    _loop(algo.train, steps, lambda _: _mean(recent), max_steps, threshold)
    algo.stop()
    ray.shutdown()


def _mean(values: Any) -> Any:
    return sum(values) / len(values) if len(values) else None


def _loop(train: Any, env_steps: Any, team_return: Any, max_steps: int, threshold: float) -> None:
    """Train until the threshold or the budget; emit steps/s of the loop and the wall clock when it was reached."""
    start, reached_at, reached_steps, last, iterations = time.perf_counter(), None, None, None, 0
    while env_steps() < max_steps:
        result = train()
        iterations += 1
        last = team_return(result)
        if last is not None and last == last and last >= threshold:
            reached_at, reached_steps = time.time(), env_steps()
            break
    learn_s = time.perf_counter() - start
    emit({"env_steps": env_steps(), "learn_s": learn_s, "reached_at": reached_at, "reached_steps": reached_steps,
          "last_return": last, "iterations": iterations})


# ---- parent -----------------------------------------------------------------------------------------------
def measure(args: argparse.Namespace) -> Dict[str, Dict[str, Any]]:
    out = {}
    for name, python in (("rlhydra", sys.executable), ("rllib", args.rllib_python)):
        log(f"[bench] {name}: up to {args.max_steps:,} env steps, threshold {args.threshold:g}")
        cmd = child_command(SCRIPT, name, max_steps=args.max_steps, threshold=args.threshold, seed=args.seed)
        run = run_child_with(python, cmd)
        r = run.result
        r["wall_s"] = run.wall_s
        r["to_threshold_s"] = None if r["reached_at"] is None else r["reached_at"] - run.start_time
        out[name] = r
    return out


def run_child_with(python: str, args: List[str]) -> Any:
    """run_child under another interpreter (the RLlib venv) when asked (a venv's python is a symlink: no realpath)."""
    saved = sys.executable
    sys.executable = python
    try:
        return run_child(args)
    finally:
        sys.executable = saved


def report(args: argparse.Namespace, res: Dict[str, Dict[str, Any]], loads: List[Any], rllib_version: str) -> str:
    def reach(r: Dict[str, Any]) -> str:
        if r["to_threshold_s"] is None:
            return f"not reached in {r['env_steps']:,} env steps (last {r['last_return']:.1f})"
        return f"{r['to_threshold_s']:.1f} s ({r['reached_steps']:,} env steps)"

    rl, ll = res["rlhydra"], res["rllib"]
    rl_sps, ll_sps = rl["env_steps"] / rl["learn_s"], ll["env_steps"] / ll["learn_s"]
    table = md_table(["measurement", "rlhydra", f"RLlib {rllib_version}", "rlhydra / RLlib"], [
        ["training env steps/s (train() loop, 1 torch thread)", f"{rl_sps:,.0f}", f"{ll_sps:,.0f}",
         f"{rl_sps / ll_sps:.2f}x"],
        [f"process start to team return >= {args.threshold:g}", reach(rl), reach(ll),
         f"{rl['to_threshold_s'] / ll['to_threshold_s']:.2f}x" if rl["to_threshold_s"] and ll["to_threshold_s"] else ""],
        ["whole child process wall time (s)", f"{rl['wall_s']:.1f}", f"{ll['wall_s']:.1f}", ""],
        ["training iterations run", rl["iterations"], ll["iterations"], ""],
    ])
    command = "python " + " ".join(shlex.quote(a) for a in [SCRIPT, *sys.argv[1:]])
    return "\n".join([
        "## Multi-agent PPO: rlhydra vs RLlib on two CartPoles in one PettingZoo ParallelEnv", "",
        f"`{command}`", "", *machine_lines(), f"- RLlib: ray {rllib_version}, run by `{args.rllib_python}`",
        load_line(*loads), f"- hyperparameters (both): {HYPERPARAMETERS}",
        "- sampling: rlhydra's in-process MultiAgentEnvRunner; RLlib num_env_runners=0 (local env runner), "
        "num_learners=0, env wrapped by ray.rllib.env.wrappers.pettingzoo_env.ParallelPettingZooEnv",
        f"- seed {args.seed}; threshold: team training return (sum over the 2 agents, mean of the last 100 "
        f"finished episodes, collected the same way on both sides: rlhydra's smoothing deque, an RLlib "
        f"on_episode_end callback) >= {args.threshold:g}; budget {args.max_steps:,} env steps", "", table, "",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", choices=["rlhydra", "rllib"])
    parser.add_argument("--max-steps", type=int, default=100_000)
    parser.add_argument("--threshold", type=float, default=600.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rllib-python", default=sys.executable)
    parser.add_argument("--quick", action="store_true", help="5,000 env steps each, threshold 40")
    parser.add_argument("--out", default="benchmarks/out/multi_agent_rllib.md")
    args = parser.parse_args()
    if args.child:
        {"rlhydra": child_rlhydra, "rllib": child_rllib}[args.child](args.max_steps, args.threshold, args.seed)
        return
    if args.quick:
        args.max_steps, args.threshold = 5_000, 40.0
    import subprocess
    rllib_version = subprocess.run([args.rllib_python, "-c", "import ray; print(ray.__version__)"],
                                   capture_output=True, text=True).stdout.strip() or version("ray")
    start_load = load_average()
    res = measure(args)
    publish(report(args, res, [start_load, load_average()], rllib_version), args.out)


if __name__ == "__main__":
    main()
