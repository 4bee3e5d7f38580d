"""Off-policy: SAC on Pendulum-v1 and DQN on CartPole-v1, rlhydra vs Stable-Baselines3 (rl-zoo settings), one run.

Measures training throughput (env steps/s and gradient updates/s over a fixed number of env steps after a warm-up),
wall time from process start to a deterministic eval mean return threshold (SAC >= -200, DQN >= 475), and the cost
of one SAC gradient step: rlhydra's learner, bare PyTorch (plain and fused Adam) and SB3. Prints a markdown report
and writes it to --out.

    python benchmarks/offpolicy.py                 # full run, ~8 min on 2 cores
    python benchmarks/offpolicy.py --quick         # smoke run, ~1 min (tiny budgets, thresholds always met)
    python benchmarks/offpolicy.py --seeds 0 1 2   # wall time to threshold over three seeds

Every measurement runs in its own fresh child process (this script with --child), one after another, each with
`torch.set_num_threads(1)`. Only the standard library is imported at the top, so children pay for exactly the
imports they need.
"""
from __future__ import annotations

import argparse
import math
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
EVAL_EPISODES = 10
EVAL_ENVS = 5  # rlhydra's evaluation.num_envs default; SB3's eval vector env gets as many
BATCH = 256  # SAC batch of the update microbenchmark

# Per algorithm: env, rlhydra steps per train() (tuned file), wall-time settings (tuned files / rl-zoo).
SETTINGS: Dict[str, Dict[str, Any]] = {
    "sac": {"env": "Pendulum-v1", "cli_env": "pendulum", "spi": 1000, "total": 20_000, "eval_every": 2000,
            "threshold": -200.0},
    "dqn": {"env": "CartPole-v1", "cli_env": "cartpole", "spi": 1024, "total": 100_000, "eval_every": 2048,
            "threshold": 475.0},
}
HYPERPARAMETERS = {
    "sac": "lr 1e-3 (actor, critics, alpha), 256x256 ReLU actor and twin critics, 1 env, batch 256, buffer 1e6, "
           "tau 0.005, gamma 0.99, learning_starts 100 (uniform random actions before), train_freq 1, "
           "gradient_steps 1, automatic entropy tuning (initial alpha 1, target entropy -dim(A))",
    "dqn": "lr 2.3e-3, 256x256 ReLU, 1 env, batch 64, buffer 1e5, learning_starts 1000, gamma 0.99, "
           "target_update_interval 10 env steps (rlhydra: 128 gradient steps, the same cadence), train_freq 256, gradient_steps 128, exploration_fraction 0.16, "
           "final eps 0.04, Huber loss, grad clip 10",
}


# ---- children: each runs in its own process and emits one JSON result ---------------------------------------
def rlhydra_builder(algo: str, seed: int, train_batch_size: int, total_steps: int) -> Any:
    """rlhydra's builder with the same hyperparameters as SB3's (what rlhydra/conf/tuned/<algo>_<env>.yaml sets)."""
    from rlhydra import DQNConfig, SACConfig

    if algo == "sac":
        builder = SACConfig().training(lr=1e-3, minibatch_size=256, learning_starts=100, gamma=0.99, tau=0.005,
                                       train_freq=1, gradient_steps=1, train_batch_size=train_batch_size)
        buffer_capacity = 1_000_000
    else:
        builder = DQNConfig().training(lr=2.3e-3, minibatch_size=64, learning_starts=1000, gamma=0.99,
                                       target_update_interval=128, train_freq=256, gradient_steps=128,
                                       exploration_fraction=0.16, exploration_final_eps=0.04,
                                       train_batch_size=train_batch_size)
        buffer_capacity = 100_000
    builder = (builder.environment(SETTINGS[algo]["env"]).debugging(seed=seed)
               .env_runners(num_envs_per_env_runner=1)
               .rl_module(model_config={"hidden_sizes": [256, 256], "activation": "relu"})
               .learners(torch_threads=1).evaluation(interval=0, final=False).stopping(total_steps=total_steps))
    builder.config.buffer["capacity"] = buffer_capacity  # the builder has no buffer() setter
    return builder


def sb3_model(algo: str, env: Any, seed: int, use_sde: bool = False) -> Any:
    """SB3's SAC / DQN with rl-zoo's hyperparameters (SAC: gSDE only with use_sde)."""
    if algo == "sac":
        from stable_baselines3 import SAC

        return SAC("MlpPolicy", env, learning_rate=1e-3, buffer_size=1_000_000, learning_starts=100, batch_size=256,
                   tau=0.005, gamma=0.99, train_freq=1, gradient_steps=1, ent_coef="auto", use_sde=use_sde,
                   policy_kwargs={"net_arch": [256, 256]}, device="cpu", seed=seed, verbose=0)
    from stable_baselines3 import DQN

    return DQN("MlpPolicy", env, learning_rate=2.3e-3, batch_size=64, buffer_size=100_000, learning_starts=1000,
               gamma=0.99, target_update_interval=10, train_freq=256, gradient_steps=128, exploration_fraction=0.16,
               exploration_final_eps=0.04, policy_kwargs={"net_arch": [256, 256]}, device="cpu", seed=seed,
               verbose=0)


def child_rlhydra_throughput(algo: str, warmup: int, steps: int, seed: int) -> None:
    """rlhydra through the Python API, no evaluation: `warmup` env steps untimed, then `steps` env steps timed."""
    start = time.perf_counter()
    import torch

    torch.set_num_threads(1)
    import rlhydra  # noqa: F401

    imported = time.perf_counter()
    spi = math.gcd(warmup, steps, SETTINGS[algo]["spi"])
    algo_obj = rlhydra_builder(algo, seed, spi, warmup + steps).build()
    built = time.perf_counter()
    result: Dict[str, Any] = {}
    for _ in range(warmup // spi):
        result = algo_obj.train()
    steps0, updates0 = algo_obj.env_steps, result.get("learner/updates", 0)
    update_s = 0.0
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(steps // spi):
        result = algo_obj.train()
        update_s += result["perf/learn_time_s"]
    t1, c1 = time.perf_counter(), time.process_time()
    algo_obj.stop()
    emit({"import_s": imported - start, "build_s": built - imported, "time_s": t1 - t0, "cpu_s": c1 - c0,
          "env_steps": algo_obj.env_steps - steps0, "updates": result["learner/updates"] - updates0,
          "update_s": update_s, "threads": torch.get_num_threads(), "train_batch_size": spi})


def child_sb3_throughput(algo: str, warmup: int, steps: int, seed: int) -> None:
    """SB3 `learn(warmup + steps)`; a callback marks the clock at env step `warmup`; no evaluation."""
    start = time.perf_counter()
    import torch

    torch.set_num_threads(1)
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env

    imported = time.perf_counter()
    model = sb3_model(algo, make_vec_env(SETTINGS[algo]["env"], n_envs=1, seed=seed), seed)
    update_s = [0.0]
    train = model.train

    def timed_train(*args: Any, **kwargs: Any) -> None:  # SB3's update phase (replay sampling + gradient steps)
        t = time.perf_counter()
        train(*args, **kwargs)
        update_s[0] += time.perf_counter() - t

    model.train = timed_train

    class Mark(BaseCallback):
        """Records clocks and counters at the env step after the warm-up, i.e. after the warm-up's last update."""

        mark: Dict[str, float] = {}

        def _on_step(self) -> bool:
            if self.num_timesteps == warmup + 1:
                self.mark = {"t": time.perf_counter(), "c": time.process_time(), "updates": self.model._n_updates,
                             "update_s": update_s[0], "steps": self.num_timesteps}
            return True

    mark = Mark()
    built = time.perf_counter()
    model.learn(total_timesteps=warmup + steps, callback=mark)
    t1, c1 = time.perf_counter(), time.process_time()
    m = mark.mark
    emit({"import_s": imported - start, "build_s": built - imported, "time_s": t1 - m["t"], "cpu_s": c1 - m["c"],
          "env_steps": model.num_timesteps - m["steps"], "updates": model._n_updates - m["updates"],
          "update_s": update_s[0] - m["update_s"], "threads": torch.get_num_threads()})


def child_sb3_time_to_return(algo: str, seed: int, use_sde: bool, total: int, eval_every: int,
                             threshold: float) -> None:
    """SB3 + rl-zoo settings + EvalCallback / StopTrainingOnRewardThreshold, as the zoo trains."""
    import torch

    torch.set_num_threads(1)
    from stable_baselines3.common.callbacks import EvalCallback, StopTrainingOnRewardThreshold
    from stable_baselines3.common.env_util import make_vec_env

    env_id = SETTINGS[algo]["env"]
    model = sb3_model(algo, make_vec_env(env_id, n_envs=1, seed=seed), seed, use_sde=use_sde)
    eval_env = make_vec_env(env_id, n_envs=EVAL_ENVS, seed=seed + 1_000_000)
    callback = EvalCallback(
        eval_env, n_eval_episodes=EVAL_EPISODES, eval_freq=eval_every, deterministic=True,
        callback_on_new_best=StopTrainingOnRewardThreshold(reward_threshold=threshold, verbose=0), verbose=0,
    )
    model.learn(total_timesteps=total, callback=callback)
    emit({"env_steps": int(model.num_timesteps), "best_eval_return": float(callback.best_mean_reward),
          "threads": torch.get_num_threads()})


def child_update(updates: int, reps: int, warmup: int, seed: int) -> None:
    """ms per SAC gradient step, batch 256, 1 thread: rlhydra, bare PyTorch (plain / fused Adam), SB3; interleaved."""
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    from stable_baselines3.common.env_util import make_vec_env

    # (a) rlhydra's learner on a batch from its replay buffer (filled with random-action transitions).
    algo = rlhydra_builder("sac", seed, 1000, 100_000).build()
    algo.buffer.add(algo.sample(1000, random_actions=True).data)
    batch = algo.buffer.sample(BATCH)
    learner = algo.learner

    def rlhydra_update(n: int) -> None:
        for _ in range(n):
            learner.update(batch, 0.0)

    # (b), (c) bare PyTorch on the same batch.
    bare_plain, bare_fused = _bare_sac(batch, fused=False), _bare_sac(batch, fused=True)

    # (d) SB3: fill the buffer with random actions (learning_starts beyond the budget), then train() directly.
    sb3 = sb3_model("sac", make_vec_env("Pendulum-v1", n_envs=1, seed=seed), seed)
    sb3.learning_starts = 10**9
    sb3.learn(total_timesteps=1000)

    def sb3_update(n: int) -> None:
        sb3.train(gradient_steps=n, batch_size=BATCH)

    variants: Dict[str, Callable[[int], None]] = {
        "rlhydra": rlhydra_update, "bare_plain": bare_plain, "bare_fused": bare_fused, "sb3": sb3_update,
    }
    for fn in variants.values():
        fn(warmup)
    ms: Dict[str, List[float]] = {name: [] for name in variants}
    for _ in range(reps):  # interleaved, so a burst of other load hits every variant alike
        for name, fn in variants.items():
            t = time.perf_counter()
            fn(updates)
            ms[name].append((time.perf_counter() - t) / updates * 1e3)

    def per_call_ms(fn: Callable[[], Any], n: int = 2000) -> float:
        t = time.perf_counter()
        for _ in range(n):
            fn()
        return (time.perf_counter() - t) / n * 1e3

    sample_ms = {"rlhydra": per_call_ms(lambda: algo.buffer.sample(BATCH)),
                 "sb3": per_call_ms(lambda: sb3.replay_buffer.sample(BATCH, env=sb3._vec_normalize_env))}
    algo.stop()
    emit({"ms": ms, "sample_ms": sample_ms, "threads": torch.get_num_threads(),
          "fused_adam": [bool(opt.defaults.get("fused")) for opt in learner.optimizers]})


def _bare_sac(batch: Dict[str, Any], fused: bool, lr: float = 1e-3, gamma: float = 0.99,
              tau: float = 0.005) -> Callable[[int], None]:
    """A plain-PyTorch SAC update (nn.Sequential nets, one Adam per part), the same work as rlhydra's per step."""
    import copy

    import torch
    import torch.nn.functional as F
    from torch import nn

    obs, actions, rewards = batch["obs"], batch["actions"], batch["rewards"]
    next_obs, not_done = batch["next_obs"], 1.0 - batch["terminated"].float()
    obs_dim, act_dim = obs.shape[-1], actions.shape[-1]

    def mlp(n_in: int, n_out: int) -> nn.Sequential:
        return nn.Sequential(nn.Linear(n_in, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, n_out))

    actor, q1, q2 = mlp(obs_dim, 2 * act_dim), mlp(obs_dim + act_dim, 1), mlp(obs_dim + act_dim, 1)
    q1_target, q2_target = copy.deepcopy(q1), copy.deepcopy(q2)
    critic_params = [*q1.parameters(), *q2.parameters()]
    target_params = [*q1_target.parameters(), *q2_target.parameters()]
    log_alpha = torch.zeros((), requires_grad=True)
    actor_opt = torch.optim.Adam(actor.parameters(), lr=lr, fused=fused)
    critic_opt = torch.optim.Adam(critic_params, lr=lr, fused=fused)
    alpha_opt = torch.optim.Adam([log_alpha], lr=lr, fused=fused)
    target_entropy = -float(act_dim)
    half_log_2pi, log2 = 0.5 * math.log(2 * math.pi), math.log(2.0)

    def policy(o: torch.Tensor) -> Any:
        mean, log_std = actor(o).chunk(2, dim=-1)
        log_std = log_std.clamp(-20.0, 2.0)
        eps = torch.randn_like(mean)
        u = mean + log_std.exp() * eps
        logp = (-0.5 * eps.pow(2) - log_std - half_log_2pi).sum(-1)
        logp = logp - (2.0 * (log2 - u - F.softplus(-2.0 * u))).sum(-1)  # tanh correction
        return torch.tanh(u), logp

    def update() -> None:
        alpha = log_alpha.detach().exp()
        with torch.no_grad():
            next_a, next_logp = policy(next_obs)
            x = torch.cat([next_obs, next_a], -1)
            soft_q = torch.min(q1_target(x), q2_target(x)).squeeze(-1) - alpha * next_logp
            target = rewards + gamma * not_done * soft_q
        x = torch.cat([obs, actions], -1)
        critic_loss = 0.5 * (F.mse_loss(q1(x).squeeze(-1), target) + F.mse_loss(q2(x).squeeze(-1), target))
        critic_opt.zero_grad(set_to_none=True)
        critic_loss.backward()
        critic_opt.step()

        for p in critic_params:  # no gradients into the critics' weights from the actor loss
            p.requires_grad_(False)
        a, logp = policy(obs)
        x = torch.cat([obs, a], -1)
        actor_loss = (alpha * logp - torch.min(q1(x), q2(x)).squeeze(-1)).mean()
        actor_opt.zero_grad(set_to_none=True)
        actor_loss.backward()
        actor_opt.step()
        for p in critic_params:
            p.requires_grad_(True)

        alpha_loss = -(log_alpha * (logp.detach() + target_entropy)).mean()
        alpha_opt.zero_grad(set_to_none=True)
        alpha_loss.backward()
        alpha_opt.step()
        with torch.no_grad():
            torch._foreach_lerp_(target_params, critic_params, tau)

    def run(n: int) -> None:
        for _ in range(n):
            update()

    return run


# ---- measurements (parent) --------------------------------------------------------------------------------
def measure_update(args: argparse.Namespace) -> Dict[str, Any]:
    """The SAC update microbenchmark, one child process."""
    log(f"[bench] SAC update: {args.update_reps} x {args.updates} updates per variant, interleaved")
    r = run_child(child_command(SCRIPT, "update", updates=args.updates, reps=args.update_reps,
                                warmup=args.update_warmup, seed=args.seeds[0])).result
    r["median_ms"] = {k: statistics.median(v) for k, v in r["ms"].items()}
    r["min_ms"] = {k: min(v) for k, v in r["ms"].items()}
    return r


def measure_throughput(algo: str, warmup: int, steps: int, seed: int, repeats: int) -> Dict[str, Dict[str, Any]]:
    """Training throughput, median run of `repeats` interleaved runs per side."""
    results: Dict[str, List[Dict[str, Any]]] = {"rlhydra": [], "sb3": []}
    for i in range(repeats):
        for side in results:
            log(f"[bench] {algo.upper()} throughput {side}: {warmup:,} warm-up + {steps:,} timed env steps "
                f"(run {i + 1}/{repeats})")
            r = run_child(child_command(SCRIPT, f"tp-{side}", algo=algo, warmup=warmup, steps=steps, seed=seed)).result
            results[side].append({**r, "steps_per_s": r["env_steps"] / r["time_s"]})
    return {side: sorted(rs, key=lambda r: r["steps_per_s"])[len(rs) // 2] for side, rs in results.items()}


def time_to_return_settings(algo: str, quick: bool) -> Dict[str, Any]:
    """Budget, eval cadence and threshold; --quick shrinks them to a smoke run whose threshold is always met."""
    s = dict(SETTINGS[algo])
    s["extra"] = []
    if quick:
        if algo == "sac":
            s.update(total=500, eval_every=500, threshold=-10_000.0,
                     extra=["total_steps=500", "algorithm.train_batch_size=500", "evaluation.interval=1"])
        else:
            s.update(total=2048, eval_every=1024, threshold=0.0, extra=["total_steps=2048", "evaluation.interval=1"])
    return s


def rlhydra_cli_overrides(algo: str, seed: int, s: Dict[str, Any], run_dir: str) -> List[str]:
    """train.py overrides of the time-to-threshold run: tuned defaults, as a user would type them."""
    budget = [f"total_steps={s['total']}"] if algo == "dqn" and not s["extra"] else []
    return [f"algorithm={algo}", f"env={s['cli_env']}", f"seed={seed}", *budget,
            f"evaluation.stop_at_return={s['threshold']:g}", *s["extra"], "logger=jsonl", f"hydra.run.dir={run_dir}"]


def measure_time_to_return(algo: str, seeds: List[int], quick: bool, with_sde: bool) -> List[Dict[str, Any]]:
    """Per seed: wall time from just before Popen to exit and env steps at the threshold, rlhydra CLI vs SB3."""
    s = time_to_return_settings(algo, quick)
    thr = s["threshold"]
    sb3_runs = {"sb3": False, "sb3_sde": True} if algo == "sac" and with_sde else {"sb3": False}
    rows = []
    for seed in seeds:
        with tempfile.TemporaryDirectory(prefix="rlhydra_bench_") as tmp:
            log(f"[bench] {algo.upper()} time to {thr:g}, seed {seed}: rlhydra (train.py)")
            run = run_child(["train.py", *rlhydra_cli_overrides(algo, seed, s, tmp)])
            metrics = read_jsonl(Path(tmp) / "metrics.jsonl")
        evals = [m for m in metrics if m.get("eval/episode_return_mean") is not None]
        hit = next((m for m in evals if m["eval/episode_return_mean"] >= thr), None)
        row: Dict[str, Any] = {"seed": seed, "rlhydra_wall_s": run.wall_s, "rlhydra_reached": hit is not None,
                               "rlhydra_steps": (hit or metrics[-1])["env_steps"],
                               "rlhydra_eval_every": evals[0]["env_steps"] if evals else None}
        for name, sde in sb3_runs.items():
            log(f"[bench] {algo.upper()} time to {thr:g}, seed {seed}: SB3 {'+ gSDE ' if sde else ''}(EvalCallback)")
            r = run_child(child_command(SCRIPT, "ttr-sb3", algo=algo, seed=seed, sde=sde, total=s["total"],
                                        eval_every=s["eval_every"], threshold_child=thr))
            row.update({f"{name}_wall_s": r.wall_s, f"{name}_steps": r.result["env_steps"],
                        f"{name}_reached": r.result["best_eval_return"] >= thr})
        rows.append(row)
    return rows


# ---- the report -------------------------------------------------------------------------------------------
def verdict(ok: bool) -> str:
    """Target verdict cell."""
    return "met" if ok else "**NOT met**"


def ratio(a: float, b: float) -> str:
    """a / b as '1.23x'."""
    return f"{a / b:.2f}x" if b else "n/a"


def mean_of(rows: List[Dict[str, Any]], key: str) -> float:
    """Mean of a column over the seeds."""
    return statistics.mean(r[key] for r in rows)


def targets_table(args: argparse.Namespace, sac_tp: Dict[str, Any], dqn_tp: Dict[str, Any], upd: Dict[str, Any],
                  sac_ttr: List[Dict[str, Any]], dqn_ttr: List[Dict[str, Any]]) -> str:
    """One row per target of the issue: the result, the ratio and whether it is met."""
    seeds = f"seed {args.seeds[0]}" if len(args.seeds) == 1 else f"mean of seeds {' '.join(map(str, args.seeds))}"
    sac_speed = sac_tp["rlhydra"]["steps_per_s"] / sac_tp["sb3"]["steps_per_s"]
    dqn_speed = dqn_tp["rlhydra"]["steps_per_s"] / dqn_tp["sb3"]["steps_per_s"]
    med = upd["median_ms"]
    bare_name = "fused" if med["bare_fused"] <= med["bare_plain"] else "plain"
    bare = min(med["bare_fused"], med["bare_plain"])
    rows = [
        ["SAC env steps/s >= 1.3x SB3 (same hyperparameters)",
         f"{sac_tp['rlhydra']['steps_per_s']:,.0f} vs {sac_tp['sb3']['steps_per_s']:,.0f} env steps/s",
         f"{sac_speed:.2f}x", verdict(sac_speed >= 1.3)],
        [f"SAC update within 10% of bare PyTorch (the faster bare variant: {bare_name} Adam)",
         f"{med['rlhydra']:.2f} ms vs {bare:.2f} ms", f"{med['rlhydra'] / bare:.2f}x",
         verdict(med["rlhydra"] <= 1.1 * bare)],
    ]
    thr = time_to_return_settings("sac", args.quick)["threshold"]
    rl = mean_of(sac_ttr, "rlhydra_wall_s")
    reached = all(r["rlhydra_reached"] for r in sac_ttr)
    for key, label in (("sb3", "SB3 (same hyperparameters, no gSDE)"), ("sb3_sde", "SB3+zoo (gSDE, zoo's exact)")):
        if f"{key}_wall_s" in sac_ttr[0]:
            sb = mean_of(sac_ttr, f"{key}_wall_s")
            rows.append([f"SAC wall time to eval >= {thr:g} <= 0.75x {label} ({seeds})", f"{rl:.1f} s vs {sb:.1f} s",
                         f"{rl / sb:.2f}x", verdict(reached and rl <= 0.75 * sb)])
    thr = time_to_return_settings("dqn", args.quick)["threshold"]
    rl, sb = mean_of(dqn_ttr, "rlhydra_wall_s"), mean_of(dqn_ttr, "sb3_wall_s")
    rows += [
        [f"DQN wall time to eval >= {thr:g} <= 0.75x SB3+zoo ({seeds})", f"{rl:.1f} s vs {sb:.1f} s",
         f"{rl / sb:.2f}x", verdict(all(r["rlhydra_reached"] for r in dqn_ttr) and rl <= 0.75 * sb)],
        ["DQN env steps/s >= 1.5x SB3 (same hyperparameters)",
         f"{dqn_tp['rlhydra']['steps_per_s']:,.0f} vs {dqn_tp['sb3']['steps_per_s']:,.0f} env steps/s",
         f"{dqn_speed:.2f}x", verdict(dqn_speed >= 1.5)],
    ]
    return md_table(["target", "result (rlhydra vs reference)", "ratio", "verdict"], rows)


def throughput_table(tp: Dict[str, Dict[str, Any]]) -> str:
    """Env steps/s, updates/s and where the time of the timed stretch went."""
    rl, sb = tp["rlhydra"], tp["sb3"]

    def row(label: str, f: Callable[[Dict[str, Any]], float], fmt: str) -> List[str]:
        a, b = f(rl), f(sb)
        return [label, format(a, fmt), format(b, fmt), ratio(a, b)]

    return md_table(["measurement", "rlhydra", "SB3", "rlhydra / SB3"], [
        row("**env steps/s** (training incl. updates)", lambda r: r["env_steps"] / r["time_s"], ",.0f"),
        row("gradient updates/s (wall time of the timed stretch)", lambda r: r["updates"] / r["time_s"], ",.0f"),
        row("env steps per CPU-second (less sensitive to other load)", lambda r: r["env_steps"] / r["cpu_s"], ",.0f"),
        ["env steps / gradient updates in the timed stretch", f"{rl['env_steps']:,} / {rl['updates']:,}",
         f"{sb['env_steps']:,} / {sb['updates']:,}", ""],
        row("ms per gradient step in training (replay sample + update)", lambda r: r["update_s"] / r["updates"] * 1e3,
            ".2f"),
        row("ms per env step outside the updates (acting, env, buffer, loop)",
            lambda r: (r["time_s"] - r["update_s"]) / r["env_steps"] * 1e3, ".3f"),
        row("import time (s)", lambda r: r["import_s"], ".2f"),
        row("build time (s)", lambda r: r["build_s"], ".2f"),
    ])


def update_table(upd: Dict[str, Any]) -> str:
    """ms per SAC gradient step per implementation, and the replay sampling cost."""
    med, low = upd["median_ms"], upd["min_ms"]
    ref = med["bare_fused"]
    labels = {
        "rlhydra": "(a) rlhydra `algo.learner.update(batch, 0.0)` (fused Adam, Fabric)",
        "bare_plain": "(b) bare PyTorch, plain `torch.optim.Adam`",
        "bare_fused": "(c) bare PyTorch, `torch.optim.Adam(..., fused=True)`",
        "sb3": "(d) SB3 `model.train(gradient_steps=N, batch_size=256)` per step (samples its buffer each step)",
    }
    rows = [[label, f"{med[k]:.2f}", f"{low[k]:.2f}", ratio(med[k], ref), ratio(med[k], med["bare_plain"])]
            for k, label in labels.items()]
    s = upd["sample_ms"]
    rows += [["replay sample of 256: rlhydra `buffer.sample(256)` / SB3 `replay_buffer.sample(256)`",
              f"{s['rlhydra']:.3f} / {s['sb3']:.3f}", "", "", ""]]
    return md_table(["implementation", "median ms / update", "min ms", "vs (c) bare fused", "vs (b) bare plain"],
                    rows)


def ttr_table(rows: List[Dict[str, Any]], sb3_keys: Dict[str, str]) -> str:
    """Wall time and env steps to the threshold per seed (and their mean over several seeds)."""
    def steps(n: float, reached: bool) -> str:
        return f"{n:,.0f}" if reached else f"{n:,.0f} (not reached)"

    keys = [k for k in sb3_keys if f"{k}_wall_s" in rows[0]]
    header = ["seed", "rlhydra wall (s)", "rlhydra env steps"]
    for k in keys:
        header += [f"{sb3_keys[k]} wall (s)", f"{sb3_keys[k]} env steps"]
    header += [f"rlhydra / {sb3_keys[k]} wall" for k in keys]
    table = []
    for r in rows:
        line = [r["seed"], f"{r['rlhydra_wall_s']:.1f}", steps(r["rlhydra_steps"], r["rlhydra_reached"])]
        for k in keys:
            line += [f"{r[f'{k}_wall_s']:.1f}", steps(r[f"{k}_steps"], r[f"{k}_reached"])]
        table.append(line + [ratio(r["rlhydra_wall_s"], r[f"{k}_wall_s"]) for k in keys])
    if len(rows) > 1:
        line = ["mean", f"{mean_of(rows, 'rlhydra_wall_s'):.1f}", f"{mean_of(rows, 'rlhydra_steps'):,.0f}"]
        for k in keys:
            line += [f"{mean_of(rows, f'{k}_wall_s'):.1f}", f"{mean_of(rows, f'{k}_steps'):,.0f}"]
        table.append(line + [ratio(mean_of(rows, "rlhydra_wall_s"), mean_of(rows, f"{k}_wall_s")) for k in keys])
    return md_table(header, table)


def method_notes(args: argparse.Namespace, sac_tp: Dict[str, Any], dqn_tp: Dict[str, Any], upd: Dict[str, Any],
                 sac_ttr: List[Dict[str, Any]], dqn_ttr: List[Dict[str, Any]]) -> List[str]:
    """How each number was measured, and the known differences between the two sides."""
    sac_s, dqn_s = time_to_return_settings("sac", args.quick), time_to_return_settings("dqn", args.quick)
    warnings = []
    for algo, rows, s in (("SAC", sac_ttr, sac_s), ("DQN", dqn_ttr, dqn_s)):
        first = {r["rlhydra_eval_every"] for r in rows} - {None}
        if first - {s["eval_every"]}:
            warnings.append(f" **Warning: rlhydra's first {algo} evaluation was at {sorted(first)} env steps, "
                            f"not {s['eval_every']}.**")
    fused = "fused" if all(upd["fused_adam"]) else "NOT all fused"
    return [
        f"- SAC hyperparameters, both sides: {HYPERPARAMETERS['sac']}. SB3's second wall-time row adds "
        "`use_sde=True`, rl-zoo's exact Pendulum-v1 setting (zoo: `learning_rate: 1e-3, use_sde: True`, SB3 "
        "defaults otherwise).",
        f"- DQN hyperparameters, both sides (rl-zoo's CartPole-v1): {HYPERPARAMETERS['dqn']}.",
        "- CPU only; every measurement runs in its own fresh Python process, one after another (nothing in "
        "parallel); `torch.set_num_threads(1)` in every child (rlhydra also sets it from `learner.torch_threads=1`, "
        f"its default; threads seen: rlhydra {sac_tp['rlhydra']['threads']}, SB3 {sac_tp['sb3']['threads']}).",
        f"- Throughput: rlhydra through the Python API (`SACConfig()` / `DQNConfig()` with the values above, "
        "`evaluation(interval=0, final=False)`), SB3 `learn()`; no evaluation, no logging. Each side first runs "
        f"an untimed warm-up (SAC {args.sac_warmup:,}, DQN {args.dqn_warmup:,} env steps, past learning_starts), "
        f"then a timed stretch of SAC {args.sac_steps:,} / DQN {args.dqn_steps:,} env steps with all their updates "
        "(rlhydra: whole `train()` calls of "
        f"{sac_tp['rlhydra']['train_batch_size']:,} / {dqn_tp['rlhydra']['train_batch_size']:,} env steps; "
        "SB3: from a callback at the env step after the warm-up (its updates done) to the end of `learn()`, so the "
        "timed stretch holds one env step fewer; `total_timesteps` = warm-up + timed steps on both sides, so DQN's "
        "epsilon schedule is the same). Updates are counted exactly (learner/updates, "
        "SB3 `_n_updates`); the update phase is rlhydra's `perf/learn_time_s` (replay sample + `learner.update`) and "
        "SB3's `train()` timed from outside (replay sample + update + its logging). "
        f"Median of {args.repeats} interleaved run(s) per side (--repeats). The CPU-second row divides by the "
        "child's `time.process_time()` over the timed stretch.",
        f"- SAC update: one child process; rlhydra SAC built as above, its buffer filled with 1,000 random-action "
        f"transitions, one batch `algo.buffer.sample(256)` reused for (a)-(c). rlhydra's optimizers: {fused} Adam. "
        "(b)/(c): a from-scratch plain-PyTorch SAC step with the same networks (256x256 ReLU actor, two 256x256 "
        "critics, targets) and the same work per step as rlhydra's (critic step, actor step with the critics' "
        "weights frozen, alpha step, `torch._foreach_lerp_` polyak update), no Fabric, no module wrappers. (d) SB3's "
        "SAC with its buffer filled by `learn(1000)` of random actions, then `model.train(gradient_steps=N, "
        "batch_size=256)`, which samples its buffer on every step. "
        f"Each variant warms up with {args.update_warmup} updates, then {args.update_reps} interleaved repetitions "
        f"of {args.updates} updates each; median and min of the repetitions' ms per update.",
        f"- Wall time to threshold: measured by this script from just before `Popen` to process exit (imports, "
        "build, training, evaluations, rlhydra's final checkpoint), 1 torch thread. Both evaluate every "
        f"SAC {sac_s['eval_every']:,} / DQN {dqn_s['eval_every']:,} env steps, {EVAL_EPISODES} deterministic "
        f"episodes on {EVAL_ENVS} separate envs, and stop at the first evaluation with mean return >= the threshold; "
        f"budget SAC {sac_s['total']:,} / DQN {dqn_s['total']:,} env steps. rlhydra: `python train.py "
        f"{' '.join(rlhydra_cli_overrides('sac', 0, sac_s, '<tmp>'))}` and `python train.py "
        f"{' '.join(rlhydra_cli_overrides('dqn', 0, dqn_s, '<tmp>'))}` (tuned defaults from rlhydra/conf/tuned/). SB3: "
        "the model above + `EvalCallback(eval_freq=..., n_eval_episodes=10, deterministic=True, "
        f"callback_on_new_best=StopTrainingOnRewardThreshold(...))`, eval env `make_vec_env(n_envs={EVAL_ENVS})`. "
        "Env steps are those at the stopping evaluation. Caveats: SB3's EvalCallback fires inside the rollout, "
        "before that step's (DQN: that round's 128) gradient steps, rlhydra's after them; SB3's eval env continues "
        f"its RNG across evaluations while rlhydra replays the same seeded episodes.{''.join(warnings)}",
    ]


def report(args: argparse.Namespace, upd: Dict[str, Any], sac_tp: Dict[str, Any], dqn_tp: Dict[str, Any],
           sac_ttr: List[Dict[str, Any]], dqn_ttr: List[Dict[str, Any]], total_s: float, load_md: str) -> str:
    """The markdown report: targets, then the detailed tables, then how it was measured."""
    quick = " (--quick: smoke numbers, not results)" if args.quick else ""
    sac_thr = time_to_return_settings("sac", args.quick)["threshold"]
    dqn_thr = time_to_return_settings("dqn", args.quick)["threshold"]
    return "\n".join([
        "# Off-policy: SAC on Pendulum-v1 and DQN on CartPole-v1, rlhydra vs Stable-Baselines3 (rl-zoo settings)",
        "",
        f"- command: `{shlex.join(['python', *sys.argv])}`",
        *machine_lines(),
        "- torch threads: 1 in every child process (`torch.set_num_threads(1)`)",
        load_md,
        f"- benchmark run took {total_s:.0f} s{quick}",
        "",
        "## Targets",
        "",
        targets_table(args, sac_tp, dqn_tp, upd, sac_ttr, dqn_ttr),
        "",
        f"## SAC on Pendulum-v1: training throughput ({args.sac_steps:,} env steps after a {args.sac_warmup:,}-step "
        "warm-up)",
        "",
        throughput_table(sac_tp),
        "",
        f"## SAC update step (batch {BATCH}, 256x256 actor and twin critics, 1 torch thread)",
        "",
        update_table(upd),
        "",
        f"## SAC: wall time from process start to eval return >= {sac_thr:g}",
        "",
        ttr_table(sac_ttr, {"sb3": "SB3", "sb3_sde": "SB3+zoo gSDE"}),
        "",
        f"## DQN on CartPole-v1: training throughput ({args.dqn_steps:,} env steps after a {args.dqn_warmup:,}-step "
        "warm-up)",
        "",
        throughput_table(dqn_tp),
        "",
        f"## DQN: wall time from process start to eval return >= {dqn_thr:g}",
        "",
        ttr_table(dqn_ttr, {"sb3": "SB3+zoo"}),
        "",
        "## How it was measured",
        "",
        *method_notes(args, sac_tp, dqn_tp, upd, sac_ttr, dqn_ttr),
        "",
    ])


# ---- entry point ------------------------------------------------------------------------------------------
def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Command-line flags; the --child flags are internal."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds of the wall-time runs (first: all others)")
    p.add_argument("--sac-steps", type=int, default=3000, help="timed SAC env steps of each throughput run")
    p.add_argument("--sac-warmup", type=int, default=1000, help="untimed SAC env steps before them")
    p.add_argument("--dqn-steps", type=int, default=20480, help="timed DQN env steps of each throughput run")
    p.add_argument("--dqn-warmup", type=int, default=2048, help="untimed DQN env steps before them")
    p.add_argument("--repeats", type=int, default=1, help="throughput runs per side; the median run is reported")
    p.add_argument("--updates", type=int, default=200, help="SAC updates per variant and repetition")
    p.add_argument("--update-reps", type=int, default=5, help="interleaved repetitions of the update benchmark")
    p.add_argument("--update-warmup", type=int, default=50, help="untimed updates per variant first")
    p.add_argument("--no-sde", action="store_true", help="skip the SB3+gSDE (rl-zoo's exact) SAC wall-time row")
    p.add_argument("--quick", action="store_true", help="smoke run (~1 min): tiny budgets, thresholds always met")
    p.add_argument("--out", default="benchmarks/out/offpolicy.md", help="markdown file for the report")
    # child mode (internal)
    p.add_argument("--child", choices=("tp-rlhydra", "tp-sb3", "ttr-sb3", "update"), help=argparse.SUPPRESS)
    p.add_argument("--algo", choices=("sac", "dqn"), default="sac", help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--warmup", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--steps", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--sde", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--total", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--eval-every", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--threshold-child", dest="child_threshold", type=float, help=argparse.SUPPRESS)
    p.add_argument("--reps", type=int, default=1, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def run_child_mode(args: argparse.Namespace) -> None:
    """Dispatch a --child invocation."""
    if args.child == "tp-rlhydra":
        child_rlhydra_throughput(args.algo, args.warmup, args.steps, args.seed)
    elif args.child == "tp-sb3":
        child_sb3_throughput(args.algo, args.warmup, args.steps, args.seed)
    elif args.child == "ttr-sb3":
        child_sb3_time_to_return(args.algo, args.seed, args.sde, args.total, args.eval_every, args.child_threshold)
    else:
        child_update(args.updates, args.reps, args.warmup, args.seed)


def main(argv: Optional[List[str]] = None) -> None:
    """Run every measurement, print the report and write it to --out."""
    args = parse_args(argv)
    if args.child:
        run_child_mode(args)
        return
    if args.quick:
        args.sac_warmup, args.sac_steps, args.dqn_warmup, args.dqn_steps = 200, 300, 1024, 2048
        args.repeats, args.updates, args.update_reps, args.update_warmup = 1, 20, 2, 5
    if args.sac_warmup < 100 or args.dqn_warmup < 1024 or args.dqn_warmup % 256 or args.dqn_steps % 256:
        raise SystemExit("warm-ups must pass learning_starts (SAC 100, DQN 1000 rounded up to whole 256-step "
                         "rounds) and DQN step counts must be multiples of train_freq 256")
    start, start_load = time.perf_counter(), load_average()
    upd = measure_update(args)
    sac_tp = measure_throughput("sac", args.sac_warmup, args.sac_steps, args.seeds[0], args.repeats)
    dqn_tp = measure_throughput("dqn", args.dqn_warmup, args.dqn_steps, args.seeds[0], args.repeats)
    sac_ttr = measure_time_to_return("sac", args.seeds, args.quick, not args.no_sde)
    dqn_ttr = measure_time_to_return("dqn", args.seeds, args.quick, False)
    text = report(args, upd, sac_tp, dqn_tp, sac_ttr, dqn_ttr, time.perf_counter() - start,
                  load_line(start_load, load_average()))
    publish(text, args.out)


if __name__ == "__main__":
    main()
