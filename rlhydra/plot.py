"""Learning curves from run folders: `python -m rlhydra.plot <run or sweep folder>... [--out curve.png]`.

Each run's metrics.jsonl gives return vs env steps. Runs whose overrides differ only in `seed` are one curve:
their mean, with a band of +-1 standard deviation across seeds. Each env id gets its own panel (returns of
different envs share no scale), with a legend of its algorithms and settings.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from rlhydra.sweep_summary import JOB_RESULT_FILE

METRICS_FILE = "metrics.jsonl"
METRIC_ALIASES = {"eval": "eval/episode_return_mean", "train": "train/episode_return_mean"}
DEFAULT_OUT = "learning_curve.png"


class PlotError(ValueError):
    """A problem with the folders or metric given to the plot command."""


@dataclass
class Run:
    """One run folder: its overrides and the (env steps, value) points of a metric."""

    path: str
    overrides: List[str]
    steps: np.ndarray = field(default_factory=lambda: np.zeros(0))
    values: np.ndarray = field(default_factory=lambda: np.zeros(0))
    env_id: str = ""  # from the run's .hydra/config.yaml; "" when unknown
    algorithm: str = ""


@dataclass
class Curve:
    """A line to draw: mean over the runs that share a label, and their standard deviation."""

    label: str
    steps: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    num_runs: int
    env_id: str = ""  # the panel it is drawn in


def find_runs(folders: Sequence[str]) -> List[str]:
    """Run folders (holding metrics.jsonl) at or below each folder, hidden folders skipped."""
    found: List[str] = []
    for folder in folders:
        if not os.path.isdir(folder):
            raise PlotError(f"{folder}: no such folder")
        before = len(found)
        for root, dirs, files in os.walk(folder):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            if METRICS_FILE in files:
                found.append(root)
        if len(found) == before:
            raise PlotError(f"{folder}: no {METRICS_FILE} in it or below it (is it a run or sweep folder?)")
    return found


def read_overrides(run_dir: str) -> List[str]:
    """The run's command-line overrides (result.json, else .hydra/overrides.yaml); [] when neither exists."""
    result = os.path.join(run_dir, JOB_RESULT_FILE)
    if os.path.isfile(result):
        with open(result, encoding="utf-8") as f:
            return list(json.load(f).get("overrides", []))
    hydra_overrides = os.path.join(run_dir, ".hydra", "overrides.yaml")
    if os.path.isfile(hydra_overrides):
        from omegaconf import OmegaConf

        return [str(o) for o in OmegaConf.load(hydra_overrides)]
    return []


def load_run(run_dir: str, metric: str) -> Run:
    """Read `metric` against env_steps from the run's metrics.jsonl (rows without the metric skipped)."""
    points: List[Tuple[float, float]] = []
    with open(os.path.join(run_dir, METRICS_FILE), encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            row = json.loads(line)
            if row.get(metric) is not None and row.get("env_steps") is not None:
                points.append((float(row["env_steps"]), float(row[metric])))
    steps, values = (np.array(v) for v in zip(*points)) if points else (np.zeros(0), np.zeros(0))
    env_id, algorithm = read_env_and_algorithm(run_dir)
    return Run(run_dir, read_overrides(run_dir), steps, values, env_id, algorithm)


def read_env_and_algorithm(run_dir: str) -> Tuple[str, str]:
    """(env id, algorithm name) from the run's composed config (.hydra/config.yaml); "" for what is unknown."""
    path = os.path.join(run_dir, ".hydra", "config.yaml")
    if not os.path.isfile(path):
        return "", ""
    from omegaconf import OmegaConf

    cfg = OmegaConf.load(path)
    env_id = OmegaConf.select(cfg, "env.id", default="", throw_on_missing=False)
    algorithm = OmegaConf.select(cfg, "algorithm.name", default="", throw_on_missing=False)
    return str(env_id or ""), str(algorithm or "")


# Overrides that name the env or algorithm: shown by the panel's title and the label's first word instead
PANEL_KEYS = ("env=", "env.id=")


def group_runs(runs: Sequence[Run]) -> Dict[Tuple[str, ...], List[Run]]:
    """Runs keyed by env id, algorithm and their overrides without `seed=...` (so seeds of one setting land
    together); the key is (env id, algorithm, override, ...)."""
    groups: Dict[Tuple[str, ...], List[Run]] = {}
    for run in runs:
        setting = [o for o in run.overrides if not o.lstrip("+~").startswith("seed=")]
        if run.env_id:  # the panel says the env
            setting = [o for o in setting if not o.lstrip("+~").startswith(PANEL_KEYS)]
        if run.algorithm:  # the label's first word says the algorithm
            setting = [o for o in setting if not o.lstrip("+~").startswith("algorithm=")]
        groups.setdefault((run.env_id, run.algorithm, *setting), []).append(run)
    return groups


def make_curves(runs: Sequence[Run]) -> List[Curve]:
    """One curve per group: runs interpolated onto their shared env-step range, then mean and std."""
    runs = [r for r in runs if r.steps.size]
    groups = group_runs(runs)
    curves = []
    for (env_id, algorithm, *setting), members in groups.items():
        panel = [key[2:] for key in groups if key[0] == env_id]
        common = set.intersection(*(set(k) for k in panel)) if len(panel) > 1 else set()
        label = " ".join([algorithm] * bool(algorithm) + [o for o in setting if o not in common])
        if not label:
            label = os.path.basename(os.path.normpath(members[0].path)) if len(members) == 1 else "all runs"
        lo = max(r.steps.min() for r in members)
        hi = min(r.steps.max() for r in members)
        grid = np.unique(np.concatenate([r.steps for r in members]))
        grid = grid[(grid >= lo) & (grid <= hi)]
        if grid.size == 0:  # seeds that share no step range (e.g. one stopped early): plot the first alone
            members, grid = members[:1], members[0].steps
        ys = np.stack([np.interp(grid, r.steps, r.values) for r in members])
        if len(members) > 1:
            label += f" ({len(members)} seeds)"
        curves.append(Curve(label, grid, ys.mean(0), ys.std(0), len(members), env_id))
    return sorted(curves, key=lambda c: (c.env_id, c.label))


def plot_curves(curves: Sequence[Curve], metric: str, out: str, title: Optional[str] = None) -> str:
    """Draw the curves into a PNG at `out` (see `draw`); returns its path."""
    fig = draw(curves, metric, title)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    fig.savefig(out, format="png")
    return out


def draw(curves: Sequence[Curve], metric: str, title: Optional[str] = None) -> Any:
    """A matplotlib Figure: one panel per env id, each curve a mean line with a +-std band, a legend per panel."""
    from matplotlib.figure import Figure

    envs = sorted({c.env_id for c in curves})
    cols = min(len(envs), 3)
    rows = -(-len(envs) // cols)
    fig = Figure(figsize=(7 * cols, 4.5 * rows), dpi=100)
    spread = " (mean ± std over seeds)" if any(c.num_runs > 1 for c in curves) else ""
    for i, env_id in enumerate(envs):
        ax = fig.add_subplot(rows, cols, i + 1)
        for curve in (c for c in curves if c.env_id == env_id):
            (line,) = ax.plot(curve.steps, curve.mean, label=curve.label, linewidth=1.8)
            if curve.num_runs > 1:
                ax.fill_between(curve.steps, curve.mean - curve.std, curve.mean + curve.std,
                                color=line.get_color(), alpha=0.2, linewidth=0)
        ax.set_xlabel("env steps")
        ax.set_ylabel(metric)
        ax.set_title(env_id if len(envs) > 1 else title or (f"{env_id}: " if env_id else "") + metric + spread)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small", loc="best")
    if len(envs) > 1:
        fig.suptitle(title or metric + spread)
    fig.tight_layout()
    return fig


def plot_folders(folders: Sequence[str], out: Optional[str] = None, metric: str = "auto") -> str:
    """Find the runs under `folders`, plot `metric` against env steps, write the PNG and return its path."""
    run_dirs = find_runs(folders)
    # auto: evaluation returns when any run evaluated, else the training return
    keys = list(METRIC_ALIASES.values()) if metric == "auto" else [METRIC_ALIASES.get(metric, metric)]
    for key in keys:
        curves = make_curves([load_run(d, key) for d in run_dirs])
        if curves:
            break
    else:
        raise PlotError(f"no run has '{key}' in its {METRICS_FILE}; try --metric train or --metric eval")
    if out is None:
        out = os.path.join(folders[0], DEFAULT_OUT) if len(folders) == 1 else DEFAULT_OUT
    return plot_curves(curves, key, out)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """The command line: parse, plot, print where the PNG went."""
    parser = argparse.ArgumentParser(prog="python -m rlhydra.plot", description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", help="run folders and/or sweep folders (searched for metrics.jsonl)")
    parser.add_argument("--out", help=f"PNG to write (default: <folder>/{DEFAULT_OUT} for one folder, "
                                      f"./{DEFAULT_OUT} for several)")
    parser.add_argument("--metric", default="auto",
                        help="eval, train or any metrics.jsonl key (default: eval when runs evaluated, else train)")
    args = parser.parse_args(argv)
    try:
        path = plot_folders(args.folders, args.out, args.metric)
    except PlotError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
