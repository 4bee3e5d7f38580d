"""`python -m rlhydra.benchmark <suite> [--smoke]`: train every (algorithm, env) pair of a suite over its seeds at its
budgets and write the learning-results table (benchmarks/LEARNING.md) with one learning-curve PNG per env.

A suite is a YAML file (benchmarks/suites/<name>.yaml): seeds, evaluation episodes, checkpoint interval and the pairs,
each with its budget and the rl-zoo's return at its own budget. The jobs run as one Hydra multirun (sweeper
`rlhydra_list`) into a sweep folder whose job folders are named after their config (rlhydra/multirun.py): stop the
command and run it again, and finished jobs are skipped and interrupted ones resume from their last checkpoint.
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import re
import subprocess
import sys
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Dict, List, Optional, Sequence, Tuple

import gymnasium as gym
import numpy as np
import yaml

from rlhydra.benchmark_record import SeedResult, from_run_dir, read_record, record_path, write_record
from rlhydra.config.registry import get_algorithm_spec
from rlhydra.config.schema import OffPolicyTrainingConfig
from rlhydra.config.tuned import CONF_DIR
from rlhydra.env.make import resolve_env_spec
from rlhydra.multirun import job_dir_name
from rlhydra.plot import METRIC_ALIASES, make_curves, plot_curves

SUITES_DIR = os.path.join("benchmarks", "suites")
LEARNING_FILE = os.path.join("benchmarks", "LEARNING.md")
PEER_FILE = os.path.join("benchmarks", "zoo_peer.jsonl")  # rl-zoo retrained here, one line per seed (zoo_peer.py)
PEER_SAME_STARTS = "final_return_table_states"  # a peer line's return on the table's own initial states
PeerLines = Dict[Tuple[str, str, int], Dict[int, Dict[str, float]]]  # (algo, env id, budget) -> {seed: returns}
SMOKE_BUDGET = 256  # env steps per pair with --smoke: every path runs, nothing is learned
SMOKE_EVAL_EPISODES = 2
EVAL_KEY = METRIC_ALIASES["eval"]
NO_RESULT = ("not finished", "skipped (below)")  # a row's result cell without seeds: unfinished, skipped


class BenchmarkError(ValueError):
    """A suite or command-line problem; the message names the file or key and the fix."""


@dataclass(frozen=True)
class Pair:
    """One row of a suite: an algorithm on an env id, trained `budget` env steps per seed."""

    algorithm: str
    env_id: str
    budget: int
    zoo: Optional[Dict[str, Any]] = field(default=None, hash=False, compare=False)  # {return, budget, env_id}
    overrides: Tuple[str, ...] = ()  # key=value for this pair's jobs only, e.g. a schedule tied to its budget


@dataclass
class Suite:
    """A benchmark suite as its YAML file declares it."""

    name: str
    seeds: List[int]
    eval_episodes: int
    checkpoint_interval: int
    zoo_source: str
    pairs: List[Pair] = field(default_factory=list)


@dataclass
class Row:
    """A pair's results over the seeds that finished."""

    pair: Pair
    returns: List[float]
    wall_s: List[float]
    steps_per_s: List[float]
    runs: List[SeedResult]  # each finished seed: from its run folder, else from the suite's record
    skipped: Optional[str] = None  # why the pair did not run (its env cannot be made here)
    unfinished: int = 0  # seeds that did not finish
    peer: List[float] = field(default_factory=list)  # rl-zoo retrained here at this budget (benchmarks/zoo_peer.py)
    peer_same_starts: bool = False  # the peer's returns are on the table's initial states (else on the zoo's own)
    env_steps: List[int] = field(default_factory=list)  # what each seed ran: whole iterations, so >= the budget
    carried: Optional[str] = None  # with no seed here: the row's line in the table as it was, kept rather than lost


def load_suite(name: str) -> Suite:
    """A suite by name (benchmarks/suites/<name>.yaml) or by path."""
    path = name if name.endswith((".yaml", ".yml")) else os.path.join(SUITES_DIR, f"{name}.yaml")
    if not os.path.isfile(path):
        shipped = sorted(f[:-5] for f in os.listdir(SUITES_DIR)) if os.path.isdir(SUITES_DIR) else []
        raise BenchmarkError(f"no suite '{name}': {path} does not exist (run from the repository root; suites: "
                             f"{', '.join(shipped) or 'none found'})")
    with open(path, encoding="utf-8") as f:
        data = yaml.safe_load(f) or {}
    try:
        pairs = [Pair(p["algorithm"], p["env_id"], int(p["budget"]), p.get("zoo"), pair_overrides(p, path))
                 for p in data["pairs"]]
        return Suite(os.path.splitext(os.path.basename(path))[0], [int(s) for s in data.get("seeds", [0, 1, 2])],
                     int(data.get("eval_episodes", 20)), int(data.get("checkpoint_interval", 20)),
                     str(data.get("zoo_source", "")), pairs)
    except BenchmarkError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise BenchmarkError(f"{path}: each pair needs algorithm, env_id and budget ({type(exc).__name__}: {exc})")


def pair_overrides(pair: Dict[str, Any], path: str) -> Tuple[str, ...]:
    """A pair's own `overrides:` (a list of key=value strings), checked."""
    overrides = pair.get("overrides") or []
    if not isinstance(overrides, list) or not all(isinstance(o, str) and "=" in o for o in overrides):
        raise BenchmarkError(f"{path}: the {pair.get('algorithm')} / {pair.get('env_id')} pair's overrides must be a "
                             f"list of key=value strings, e.g. [algorithm.exploration_fraction=0.2], not {overrides!r}")
    return tuple(overrides)


def env_problem(env_id: str) -> Optional[str]:
    """Why `env_id` cannot be made on this machine (a missing extra, an unknown id), or None."""
    try:
        gym.make(resolve_env_spec(env_id)).close()  # resolve: registers the ALE/ and MinAtar/ namespaces
    except Exception as exc:  # DependencyNotInstalled, NameNotFound, ImportError ...: reported under the table
        return f"{type(exc).__name__}: {' '.join(str(exc).split())}"
    return None


def job_overrides(pair: Pair, seed: int, suite: Suite, smoke: bool) -> List[str]:
    """The command-line overrides of one (pair, seed) job."""
    budget = min(pair.budget, SMOKE_BUDGET) if smoke else pair.budget
    episodes = SMOKE_EVAL_EPISODES if smoke else suite.eval_episodes
    jobs = [f"algorithm={pair.algorithm}", "env=gym", f"env.id={pair.env_id}", f"total_steps={budget}", f"seed={seed}",
            f"evaluation.episodes={episodes}", "evaluation.deterministic=true",
            f"checkpointing.interval={suite.checkpoint_interval}", "checkpointing.keep_last=1", *pair.overrides]
    if smoke:
        jobs.append("evaluation.interval=0")  # the final evaluation only
        if issubclass(get_algorithm_spec(pair.algorithm).training_config, OffPolicyTrainingConfig):
            jobs += [f"algorithm.train_batch_size={budget // 2}", f"algorithm.learning_starts={budget // 2}"]
    return jobs


def write_sweep_config(runs_dir: str, jobs: Sequence[Sequence[str]]) -> Tuple[str, str]:
    """The suite as a Hydra primary config (sweeper rlhydra_list) in <runs dir>/.suite; returns (dir, name)."""
    folder = os.path.join(runs_dir, ".suite")
    os.makedirs(folder, exist_ok=True)
    config = {"defaults": ["config", {"override hydra/sweeper": "rlhydra_list"}, "_self_"],
              "hydra": {"sweep": {"dir": os.path.abspath(runs_dir)}, "sweeper": {"jobs": [list(j) for j in jobs]}}}
    with open(os.path.join(folder, "suite.yaml"), "w", encoding="utf-8") as f:
        f.write("# written by python -m rlhydra.benchmark: the suite's jobs as one multirun\n")
        yaml.safe_dump(config, f, sort_keys=False, width=200)
    return folder, "suite"


def job_folder(overrides: Sequence[str]) -> str:
    """The folder name a multirun job with these overrides gets (rlhydra/multirun.py: config and tuned file hashed)."""
    from hydra import compose, initialize_config_dir

    keep = [o for o in overrides if not o.lstrip("+~").startswith("hydra") or o.startswith("hydra.searchpath")]
    try:
        with initialize_config_dir(version_base="1.3", config_dir=CONF_DIR):
            cfg = compose("config", overrides=keep, return_hydra_config=True)
        return job_dir_name(_root_=cfg)
    except Exception as exc:  # an unknown algorithm or key in the suite file or the command line
        raise BenchmarkError(f"the job `{' '.join(overrides)}` has no config ({type(exc).__name__}: "
                             f"{' '.join(str(exc).split())}); fix its pair in the suite file or the override") from None


def collect(runs_dir: str, suite: Suite, smoke: bool, skipped: Dict[Pair, str], extra: Sequence[str] = (),
            peer: Optional[PeerLines] = None, record: Optional[Dict[str, SeedResult]] = None) -> List[Row]:
    """Each pair's results from its jobs' result.json and metrics.jsonl, else from the suite's record: the job folder
    named after its config as it is now (a folder left by an earlier tuned file or suite setting is not counted)."""
    rows, peer, record = [], peer or {}, record or {}
    for pair in suite.pairs:
        row = Row(pair, [], [], [], [], skipped=skipped.get(pair))
        for seed in [] if row.skipped else seeds_of(suite, smoke):
            name = job_folder([*job_overrides(pair, seed, suite, smoke), *extra])
            result = from_run_dir(os.path.join(runs_dir, name)) or record.get(name)
            if result is None:
                row.unfinished += 1
                continue
            row.returns.append(result.final_return)
            row.wall_s.append(result.wall_s)
            row.env_steps.append(result.env_steps)
            row.steps_per_s.append(result.env_steps / result.wall_s if result.wall_s > 0 else math.nan)
            row.runs.append(result)
        if not smoke:
            found = peer.get((pair.algorithm, pair.env_id, pair.budget), {})
            lines = [found[s] for s in suite.seeds if s in found]
            row.peer_same_starts = bool(lines) and all(PEER_SAME_STARTS in line for line in lines)
            row.peer = [line[PEER_SAME_STARTS if row.peer_same_starts else "final_return"] for line in lines]
        rows.append(row)
    return rows


def seeds_of(suite: Suite, smoke: bool) -> List[int]:
    return suite.seeds[:1] if smoke else suite.seeds


def read_peer(path: str) -> PeerLines:
    """(algo, env id, budget) -> {seed: {"final_return": ..., and PEER_SAME_STARTS where the line has it}} from
    benchmarks/zoo_peer.py's JSON lines (a later line for the same seed wins); empty when the file is absent."""
    peer: PeerLines = {}
    if not os.path.isfile(path):
        return peer
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                r = json.loads(line)
                key = (str(r["algo"]), str(r["env_id"]), int(r["budget"]))
                returns = {"final_return": float(r["final_return"])}
                if PEER_SAME_STARTS in r:
                    returns[PEER_SAME_STARTS] = float(r[PEER_SAME_STARTS])
                peer.setdefault(key, {})[int(r["seed"])] = returns
            except (ValueError, KeyError, TypeError) as exc:
                raise BenchmarkError(f"{path}, line {number}: not a zoo_peer.py result ({type(exc).__name__}: "
                                     f"{exc}); fix or delete the line")
    return peer


def zoo_cells(row: Row, smoke: bool = False) -> Tuple[str, str]:
    """(the zoo's return at its budget, how this row compares) for the table; a smoke run is compared with nothing."""
    zoo = row.pair.zoo
    if not zoo or zoo.get("return") is None:
        return "n/a", "n/a"
    env_note = f", {zoo['env_id']}" if zoo.get("env_id") else ""
    reference = f"{float(zoo['return']):.1f} @ {_steps(int(zoo['budget']))}{env_note}"
    if not row.returns:
        return reference, "not run"
    if smoke:
        return reference, "smoke run, not compared"
    mean = float(np.mean(row.returns))
    if row.pair.budget > int(zoo["budget"]):
        verdict = "budget above the zoo's"
    elif mean >= float(zoo["return"]):
        verdict = "meets the zoo"
    else:
        verdict = f"short by {float(zoo['return']) - mean:.1f}"
    return reference, verdict


def format_table(rows: Sequence[Row], suite: Suite, smoke: bool) -> str:
    """The suite's Markdown table: one line per pair; the rl-zoo columns only where a pair has a zoo reference."""
    episodes = SMOKE_EVAL_EPISODES if smoke else suite.eval_episodes
    has_zoo = any(row.pair.zoo for row in rows)
    lines = [f"| algorithm | env | budget (env steps) | final eval return, mean ± std ({episodes} det. episodes) "
             "| seeds | wall time / seed | env steps/s |"
             + (" rl-zoo (its budget) | vs rl-zoo | rl-zoo retrained here |" if has_zoo else ""),
             "|---|---|---:|---:|---:|---:|---:|" + ("---:|---|---:|" if has_zoo else "")]
    for row in rows:
        if row.carried:
            lines.append(row.carried)
            continue
        budget = min(row.pair.budget, SMOKE_BUDGET) if smoke else row.pair.budget
        reference, verdict = zoo_cells(row, smoke)
        if row.skipped:
            result, seeds, wall, speed, verdict = NO_RESULT[1], "0", "-", "-", "not run"
        elif not row.returns:
            result, seeds, wall, speed = NO_RESULT[0], f"0/{len(seeds_of(suite, smoke))}", "-", "-"
        else:
            result = _mean_std(row.returns)
            seeds = f"{len(row.returns)}/{len(row.returns) + row.unfinished}"
            wall = f"{np.mean(row.wall_s):.1f} s" if np.mean(row.wall_s) < 10 else f"{np.mean(row.wall_s):,.0f} s"
            speed = f"{np.nanmean(row.steps_per_s):,.0f}"
        starts = "same starts" if row.peer_same_starts else "zoo's starts"
        peer = f"{_mean_std(row.peer)} ({len(row.peer)}, {starts})" if row.peer else "-"
        ran = max(row.env_steps, default=budget)
        budget_cell = _steps(budget) + (f" ({ran:,} run: whole iterations)" if ran > budget else "")
        lines.append(f"| {row.pair.algorithm} | {row.pair.env_id} | {budget_cell} | {result} | {seeds} | {wall} "
                     f"| {speed} |" + (f" {reference} | {verdict} | {peer} |" if has_zoo else ""))
    skipped = {r.pair.env_id: r.skipped for r in rows if r.skipped}
    if skipped:
        lines += ["", "Skipped, their env cannot be made on this machine:"]
        lines += [f"- {env_id}: {why}" for env_id, why in skipped.items()]
    return "\n".join(lines)


def plot_envs(rows: Sequence[Row], folder: str, suite: str) -> Dict[str, str]:
    """One PNG per env id: a line per algorithm (mean over seeds, a band of one std); env id -> path. An env with a
    carried row keeps the PNG it has (its runs are not here to draw it again)."""
    written = {}
    for env_id in dict.fromkeys(r.pair.env_id for r in rows):
        path = os.path.join(folder, f"{suite}_{re.sub(r'[^A-Za-z0-9._-]', '_', env_id)}.png")  # MinAtar/x-v1
        if any(r.carried for r in rows if r.pair.env_id == env_id) and os.path.isfile(path):
            written[env_id] = path
            continue
        curves = make_curves([seed.as_run() for r in rows if r.pair.env_id == env_id for seed in r.runs])
        if curves:
            written[env_id] = plot_curves(curves, EVAL_KEY, path, title=f"{env_id} ({suite} suite)")
    return written


def carry_rows(rows: Sequence[Row], old_section: str) -> None:
    """Give each row with no finished seed here its line from the table as it was, where that line has a result: a
    report written where the run folders and the record lack a row keeps the row rather than blanking it."""
    old = {}
    for line in old_section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) > 4 and cells[3] not in NO_RESULT:
            old[(cells[0], cells[1], cells[2].split(" (")[0])] = line
    for row in rows:
        if not row.returns and not row.skipped:
            row.carried = old.get((row.pair.algorithm, row.pair.env_id, _steps(row.pair.budget)))


def section(suite: Suite, rows: Sequence[Row], pngs: Dict[str, str], out: str, command: str, smoke: bool) -> str:
    """The suite's part of LEARNING.md: how it was made, the table, the curves."""
    versions = ", ".join(f"{p} {_version(p)}" for p in ("torch", "gymnasium", "rlhydra"))
    about = (f"`{command}` on {datetime.date.today().isoformat()}: {platform.platform()}, {os.cpu_count()} CPUs, "
             f"{versions}. Each seed's final evaluation is the mean of "
             f"{SMOKE_EVAL_EPISODES if smoke else suite.eval_episodes} deterministic episodes; the table gives the "
             "mean ± std of those over seeds. Wall time and env steps/s are per seed run, training and evaluations "
             "(jobs one at a time unless the command names a parallel launcher).")
    if any(row.pair.zoo for row in rows):
        about += (f" rl-zoo: {suite.zoo_source or 'n/a'}, one trained agent at its own budget; 'n/a' where the zoo "
                  "lists no such pair. rl-zoo retrained here: the zoo's own training (rl_zoo3.train, its "
                  "hyperparameters) at this row's budget on seeds of this table, its final model evaluated over 20 "
                  "deterministic episodes, mean ± std (number of seeds, starts), by `benchmarks/zoo_peer.py` into "
                  f"{PEER_FILE}: 'same starts' on this table's initial states (5 envs seeded seed + 1,000,000), "
                  "'zoo's starts' on one env seeded 10,000 + seed (the lines written before zoo_peer.py recorded "
                  "both); '-' where it was not run.")
    else:
        about += f" No reference to meet: {suite.zoo_source or 'the suite gives none'}."
    lines = [f"## {suite.name}{' (smoke: tiny budgets, 1 seed; not a measurement)' if smoke else ''}", "", about, ""]
    if rows:
        cell = job_overrides(rows[0].pair, seeds_of(suite, smoke)[0], suite, smoke)
        lines += [f"One cell, one seed, alone (the same numbers on CPU): `python train.py {' '.join(cell)}` (each row: "
                  "its algorithm, env.id, budget and the pair's own overrides in the suite file; seed="
                  + ", ".join(map(str, seeds_of(suite, smoke))) + ").", ""]
    lines += [format_table(rows, suite, smoke), ""]
    carried = [f"{r.pair.algorithm} {r.pair.env_id}" for r in rows if r.carried]
    if carried:
        lines += [f"Kept from the table as it was ({len(carried)} row(s): {', '.join(carried)}): their run folders "
                  "are not in the sweep folder and their seeds not in the suite's record "
                  f"(learning/{suite.name}_runs.jsonl); an env's curves PNG stays as it was where one of its rows is "
                  "kept.", ""]
    if pngs:
        folder = os.path.dirname(os.path.abspath(out))
        lines += ["Learning curves (evaluation return against env steps, mean ± std over seeds):", ""]
        lines += [f"![{env_id}]({os.path.relpath(path, folder)})" for env_id, path in pngs.items()]
    return "\n".join(lines) + "\n"


def section_markers(suite: str) -> Tuple[str, str]:
    """The lines around a suite's section in LEARNING.md."""
    return f"<!-- rlhydra.benchmark {suite}: begin -->", f"<!-- rlhydra.benchmark {suite}: end -->"


def read_section(out: str, suite: str) -> str:
    """The suite's section of `out` as it is now; "" when there is none."""
    begin, end = section_markers(suite)
    text = open(out, encoding="utf-8").read() if os.path.isfile(out) else ""
    return text[text.index(begin):text.index(end)] if begin in text and end in text else ""


def write_learning(out: str, suite: str, text: str) -> None:
    """Put `text` in `out` between this suite's markers; other suites' sections stay as they are."""
    begin, end = section_markers(suite)
    old = open(out, encoding="utf-8").read() if os.path.isfile(out) else (
        "# Learning results\n\nWritten by `python -m rlhydra.benchmark <suite>` (suites: benchmarks/suites/); "
        "each suite's section is rewritten by its own run.\n")
    block = f"{begin}\n{text}{end}"
    if begin in old and end in old:
        new = old[:old.index(begin)] + block + old[old.index(end) + len(end):]
    else:
        new = old.rstrip("\n") + "\n\n" + block + "\n"
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    tmp = out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(new)
    os.replace(tmp, out)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """The command line: run the suite's multirun, then write the table and the curves."""
    parser = argparse.ArgumentParser(prog="python -m rlhydra.benchmark", description=__doc__.splitlines()[0])
    parser.add_argument("suite", help="a suite name (benchmarks/suites/<name>.yaml) or a suite file")
    parser.add_argument("overrides", nargs="*", help="key=value added to every job, e.g. hydra/launcher=parallel")
    parser.add_argument("--smoke", action="store_true",
                        help=f"{SMOKE_BUDGET} env steps per pair, 1 seed, {SMOKE_EVAL_EPISODES} eval episodes")
    parser.add_argument("--runs", help="the sweep folder (default benchmarks/out/<suite>[_smoke]); the same folder "
                                       "continues a stopped suite")
    parser.add_argument("--out", help=f"the table's file (default {LEARNING_FILE}; with --smoke <runs>/LEARNING.md)")
    parser.add_argument("--report-only", action="store_true", help="write the table from the runs there, train nothing")
    args = parser.parse_intermixed_args(argv)
    try:
        suite = load_suite(args.suite)
    except BenchmarkError as exc:
        print(f"rlhydra.benchmark: {exc}", file=sys.stderr)
        return 2
    runs_dir = args.runs or os.path.join("benchmarks", "out", suite.name + ("_smoke" if args.smoke else ""))
    out = args.out or (os.path.join(runs_dir, "LEARNING.md") if args.smoke else LEARNING_FILE)
    skipped = {p: problem for p in suite.pairs if (problem := env_problem(p.env_id))}
    jobs = [job_overrides(p, s, suite, args.smoke) for p in suite.pairs if p not in skipped
            for s in seeds_of(suite, args.smoke)]
    for pair, problem in skipped.items():
        print(f"rlhydra.benchmark: skipping {pair.algorithm} on {pair.env_id}: {problem}", flush=True)
    code = 0
    if jobs and not args.report_only:
        folder, name = write_sweep_config(runs_dir, jobs)
        cmd = [sys.executable, "-m", "rlhydra", "--config-dir", folder, "--config-name", name, "-m", *args.overrides]
        print(f"rlhydra.benchmark: {len(jobs)} jobs into {runs_dir} (run the same command again to continue)",
              flush=True)
        code = _wait_for(subprocess.Popen(cmd))
    try:
        peer = read_peer(PEER_FILE)
        record_file = record_path(out, suite.name)
        record = read_record(record_file)
        rows = collect(runs_dir, suite, args.smoke, skipped, args.overrides, peer, record)
    except ValueError as exc:  # BenchmarkError, or a broken line of the record
        print(f"rlhydra.benchmark: {exc}", file=sys.stderr)
        return 2
    found = [seed for row in rows for seed in row.runs]
    if found:
        write_record(record_file, record, found)
    if not args.smoke:
        carry_rows(rows, read_section(out, suite.name))
    pngs = plot_envs(rows, os.path.join(os.path.dirname(os.path.abspath(out)), "learning"), suite.name)
    command = " ".join(["python -m rlhydra.benchmark", args.suite, *(["--smoke"] if args.smoke else []),
                        *args.overrides])
    write_learning(out, suite.name, section(suite, rows, pngs, out, command, args.smoke))
    print(format_table(rows, suite, args.smoke))
    kept = sum(bool(row.carried) for row in rows)
    print(f"\nrlhydra.benchmark: wrote {out}, {len(pngs)} learning-curve PNG(s)"
          + (f" and the finished seeds into {record_file}" if found else "")
          + (f"; kept {kept} row(s) from the table as it was (no run of theirs here)" if kept else "")
          + ("" if code == 0 else f"; some jobs did not finish (exit code {code}): run the same command to continue"))
    return 0 if code == 0 else 1


def _wait_for(proc: subprocess.Popen) -> int:
    """The multirun's exit code. Ctrl-C reaches it too: its jobs save a checkpoint and stop, so wait for them rather
    than kill them (as subprocess.run would)."""
    while True:
        try:
            return proc.wait()
        except KeyboardInterrupt:
            continue


def _mean_std(values: Sequence[float]) -> str:
    return f"{np.mean(values):.1f} ± {np.std(values):.1f}"


def _steps(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 and n % 1_000_000 == 0 else (
        f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else f"{n:,}")


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "?"


if __name__ == "__main__":
    sys.exit(main())
