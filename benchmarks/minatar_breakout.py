"""MinAtar Breakout: rlhydra's tuned PPO and DQN beside Stable-Baselines3 with the same network and hyperparameters.

    rlhydra:  python train.py algorithm=<ppo|dqn> env=minatar total_steps=N seed=S  (+ eval cadence, jsonl logger)
              (tuned/ppo_minatar.yaml and tuned/dqn_minatar.yaml apply by the env id MinAtar/Breakout-v1)
    SB3:      PPO / DQN("CnnPolicy", ...) whose features extractor is the same small CNN as rlhydra's catalog builds
              for conv_filters [[16, 3, 1]] (conv 16x3x3 stride 1, ReLU, flatten, Linear -> 512, ReLU; SB3's NatureCNN
              cannot take 10x10), net_arch [128] with ReLU, every hyperparameter of the tuned file

DQN's epsilon decays over the first 100k env steps (the MinAtar paper's), or the whole budget when it is shorter:
`exploration_fraction = min(1, 100000 / N)` on both sides. Both evaluate the same way: deterministic actions, 10
episodes on 5 separate envs, every N/4 env steps and at the end. Throughput is env steps per second of training
only (rlhydra: the iterations' own time; SB3: learn() less its evaluations), 1 torch thread on both sides.

    python benchmarks/minatar_breakout.py                       # PPO and DQN, 30k env steps each: ~10 min on 2 cores
    python benchmarks/minatar_breakout.py --steps 1000000       # longer: returns that mean something
    python benchmarks/minatar_breakout.py --algos ppo --seed 1  # one pair
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
ENV_ID = "MinAtar/Breakout-v1"
EVAL_EPISODES = 10
EVAL_ENVS = 5  # rlhydra's evaluation.num_envs default; SB3's eval vector env gets as many
EVALS = 4  # evaluations within the budget (plus the final one)
EPSILON_DECAY_STEPS = 100_000  # the MinAtar paper's

# The tuned files' settings (rlhydra/conf/tuned/{ppo,dqn}_minatar.yaml) in SB3's names
PPO = {"n_envs": 8, "n_steps": 128, "batch_size": 256, "n_epochs": 4, "learning_rate": 2.5e-4, "clip_range": 0.1,
       "vf_coef": 0.5, "ent_coef": 0.01, "gamma": 0.99, "gae_lambda": 0.95, "max_grad_norm": 0.5}
DQN = {"n_envs": 1, "learning_rate": 2.5e-4, "buffer_size": 100_000, "learning_starts": 5_000, "batch_size": 32,
       "tau": 1.0, "gamma": 0.99, "train_freq": 1, "gradient_steps": 1, "target_update_interval": 1_000,
       "exploration_initial_eps": 1.0, "exploration_final_eps": 0.1, "max_grad_norm": 10.0}
STEPS_PER_ITERATION = {"ppo": 1024, "dqn": 10_000}  # the tuned files' train_batch_size


def exploration_fraction(steps: int) -> float:
    return min(1.0, EPSILON_DECAY_STEPS / steps)


def eval_every(algo: str, steps: int) -> int:
    """Env steps between evaluations: a whole number of rlhydra iterations, about steps / EVALS."""
    spi = STEPS_PER_ITERATION[algo]
    return max(1, steps // EVALS // spi) * spi


# ---- the SB3 child ------------------------------------------------------------------------------------------
def child_sb3(algo: str, seed: int, steps: int) -> None:
    """SB3 with the tuned file's hyperparameters and the same CNN; emits evaluations and training throughput."""
    import gymnasium as gym
    import minatar.gym
    import torch
    from stable_baselines3 import DQN as SB3DQN, PPO as SB3PPO
    from stable_baselines3.common.callbacks import EvalCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
    from torch import nn

    torch.set_num_threads(1)
    minatar.gym.register_envs()

    class MinAtarCNN(BaseFeaturesExtractor):
        """rlhydra's catalog image encoder for conv_filters [[16, 3, 1]] on channels-last [10, 10, C] bools."""

        def __init__(self, observation_space: gym.spaces.Box, features_dim: int = 512) -> None:
            super().__init__(observation_space, features_dim)
            height, width, channels = observation_space.shape
            self.cnn = nn.Sequential(nn.Conv2d(channels, 16, 3, 1), nn.ReLU(), nn.Flatten())
            self.linear = nn.Sequential(nn.Linear(16 * (height - 2) * (width - 2), features_dim), nn.ReLU())

        def forward(self, obs: torch.Tensor) -> torch.Tensor:
            return self.linear(self.cnn(obs.float().permute(0, 3, 1, 2)))

    class TimedEval(EvalCallback):
        """EvalCallback that adds up the time its evaluations take (left out of the throughput)."""

        seconds = 0.0

        def _on_step(self) -> bool:
            start = time.perf_counter()
            try:
                return super()._on_step()
            finally:
                self.seconds += time.perf_counter() - start

    kwargs = dict(PPO if algo == "ppo" else DQN)
    n_envs = kwargs.pop("n_envs")
    policy_kwargs = {"features_extractor_class": MinAtarCNN, "activation_fn": nn.ReLU, "normalize_images": False,
                     "net_arch": {"pi": [128], "vf": [128]} if algo == "ppo" else [128]}
    env = make_vec_env(ENV_ID, n_envs=n_envs, seed=seed)
    if algo == "ppo":
        initial_lr, initial_clip = kwargs.pop("learning_rate"), kwargs.pop("clip_range")
        model = SB3PPO("CnnPolicy", env, learning_rate=lambda progress: progress * initial_lr,
                       clip_range=lambda progress: progress * initial_clip, policy_kwargs=policy_kwargs, seed=seed,
                       device="cpu", **kwargs)
    else:
        model = SB3DQN("CnnPolicy", env, exploration_fraction=exploration_fraction(steps), policy_kwargs=policy_kwargs,
                       seed=seed, device="cpu", **kwargs)
    eval_env = make_vec_env(ENV_ID, n_envs=EVAL_ENVS, seed=seed + 1_000_000)
    callback = TimedEval(eval_env, n_eval_episodes=EVAL_EPISODES, eval_freq=max(1, eval_every(algo, steps) // n_envs),
                         deterministic=True, log_path=tempfile.mkdtemp(prefix="sb3_eval_"), verbose=0)
    start = time.perf_counter()
    model.learn(total_timesteps=steps, callback=callback)
    train_s = time.perf_counter() - start - callback.seconds
    evals = [[int(s), sum(r) / len(r)] for s, r in zip(callback.evaluations_timesteps, callback.evaluations_results)]
    if not evals or evals[-1][0] != model.num_timesteps:  # the final policy, as rlhydra's evaluation.final
        from stable_baselines3.common.evaluation import evaluate_policy

        mean, _ = evaluate_policy(model, eval_env, n_eval_episodes=EVAL_EPISODES, deterministic=True)
        evals.append([int(model.num_timesteps), float(mean)])
    emit({"evals": evals, "env_steps": int(model.num_timesteps), "train_s": train_s})


# ---- parent -------------------------------------------------------------------------------------------------
def rlhydra_overrides(algo: str, seed: int, steps: int, run_dir: str) -> List[str]:
    """The tuned command line plus the budget, the seed, the evaluation cadence and the jsonl logger."""
    overrides = [f"algorithm={algo}", "env=minatar", f"total_steps={steps}", f"seed={seed}",
                 f"evaluation.interval={eval_every(algo, steps) // STEPS_PER_ITERATION[algo]}",
                 f"evaluation.episodes={EVAL_EPISODES}", f"evaluation.num_envs={EVAL_ENVS}", "evaluation.final=true",
                 "logger=jsonl", f"hydra.run.dir={run_dir}"]
    if algo == "dqn":
        overrides.append(f"algorithm.exploration_fraction={exploration_fraction(steps):g}")
    return overrides


def run_rlhydra(algo: str, seed: int, steps: int) -> Dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="rlhydra_minatar_") as tmp:
        overrides = rlhydra_overrides(algo, seed, steps, tmp)
        log(f"[bench] rlhydra: python train.py {' '.join(overrides[:-1])}")
        run = run_child(["train.py", *overrides], timeout_s=7200)
        metrics = read_jsonl(Path(tmp) / "metrics.jsonl")
    evals = [[m["env_steps"], m["eval/episode_return_mean"]] for m in metrics
             if m.get("eval/episode_return_mean") is not None]
    evals = [e for i, e in enumerate(evals) if i == 0 or e[0] != evals[i - 1][0]]  # interval and final may coincide
    env_steps = max(m["env_steps"] for m in metrics)
    train_s = sum(m["perf/iteration_time_s"] for m in metrics if "perf/iteration_time_s" in m)
    return {"evals": evals, "env_steps": env_steps, "steps_per_s": env_steps / train_s, "wall_s": run.wall_s}


def run_sb3(algo: str, seed: int, steps: int) -> Dict[str, Any]:
    log(f"[bench] SB3: {algo.upper()}('CnnPolicy', '{ENV_ID}', <tuned settings>, seed={seed}).learn({steps})")
    run = run_child(child_command(SCRIPT, "sb3", algo=algo, seed=seed, steps=steps), timeout_s=7200)
    r = run.result
    return {"evals": r["evals"], "env_steps": r["env_steps"], "steps_per_s": r["env_steps"] / r["train_s"],
            "wall_s": run.wall_s}


def report(rows: List[Dict[str, Any]], steps: int, seconds: float, load: str, command: str) -> str:
    header = ["algo", "seed", "env steps (rlhydra / SB3)", "train env steps/s rlhydra", "SB3", "ratio",
              "final eval return rlhydra", "SB3", "ratio", "mean of all evals rlhydra", "SB3", "wall s rlhydra",
              "SB3"]
    table = []
    for r in rows:
        ours, peer = r["rlhydra"], r["sb3"]
        final_ratio = f"{ours['evals'][-1][1] / peer['evals'][-1][1]:.2f}x" if peer["evals"][-1][1] else "n/a"
        table.append([r["algo"].upper(), r["seed"], f"{ours['env_steps']:,} / {peer['env_steps']:,}",
                      f"{ours['steps_per_s']:,.0f}", f"{peer['steps_per_s']:,.0f}",
                      f"{ours['steps_per_s'] / peer['steps_per_s']:.2f}x",
                      f"{ours['evals'][-1][1]:.2f}", f"{peer['evals'][-1][1]:.2f}", final_ratio,
                      f"{statistics.mean(e[1] for e in ours['evals']):.2f}",
                      f"{statistics.mean(e[1] for e in peer['evals']):.2f}",
                      f"{ours['wall_s']:.0f}", f"{peer['wall_s']:.0f}"])
    lines = [f"# MinAtar Breakout ({ENV_ID}): rlhydra vs Stable-Baselines3, {steps:,} env steps", "",
             md_table(header, table), "",
             f"- command: `{command}`",
             "- rlhydra: `python train.py algorithm=<ppo|dqn> env=minatar total_steps=<N> seed=<S>` (tuned files "
             "ppo_minatar.yaml / dqn_minatar.yaml) + evaluation cadence and `logger=jsonl`; DQN "
             f"`algorithm.exploration_fraction={exploration_fraction(steps):g}`",
             "- SB3: PPO/DQN `CnnPolicy` with the catalog's CNN as features extractor (conv 16x3x3, Linear 512), "
             "net_arch [128], ReLU, the tuned files' hyperparameters; 1 torch thread, CPU",
             f"- evaluations: deterministic, {EVAL_EPISODES} episodes on {EVAL_ENVS} envs, every "
             + ", ".join(f"{a.upper()} {eval_every(a, steps):,}" for a in STEPS_PER_ITERATION)
             + " env steps and at the end; throughput leaves evaluation time out",
             "- evals (env steps, mean return): "
             + "; ".join(f"{r['algo'].upper()} rlhydra {r['rlhydra']['evals']}, SB3 {r['sb3']['evals']}" for r in rows),
             *machine_lines(), load, f"- total time: {seconds / 60:.1f} min"]
    return "\n".join(lines) + "\n"


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=30_000, help="env steps per run (both algorithms, both sides)")
    p.add_argument("--seed", type=int, default=0, help="seed of every run")
    p.add_argument("--algos", nargs="+", choices=("ppo", "dqn"), default=["ppo", "dqn"], help="which pairs")
    p.add_argument("--out", default="benchmarks/out/minatar_breakout.md", help="markdown file for the report")
    p.add_argument("--child", choices=("sb3",), help=argparse.SUPPRESS)
    p.add_argument("--algo", choices=("ppo", "dqn"), default="ppo", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    if args.child:
        child_sb3(args.algo, args.seed, args.steps)
        return
    command = "python " + " ".join([SCRIPT, *(argv if argv is not None else sys.argv[1:])])
    start, start_load = time.perf_counter(), load_average()
    rows = []
    for algo in args.algos:
        rows.append({"algo": algo, "seed": args.seed, "rlhydra": run_rlhydra(algo, args.seed, args.steps),
                     "sb3": run_sb3(algo, args.seed, args.steps)})
        log(f"[bench] {algo}: rlhydra {rows[-1]['rlhydra']['evals']}, SB3 {rows[-1]['sb3']['evals']}")
    publish(report(rows, args.steps, time.perf_counter() - start, load_line(start_load, load_average()), command),
            args.out)


if __name__ == "__main__":
    sys.exit(main())
