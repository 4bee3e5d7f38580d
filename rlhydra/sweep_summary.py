"""Multirun bookkeeping: each job writes result.json in its folder; the sweep gets one summary table at the end.

The table is written by `SweepSummary`, a Hydra callback (conf/config.yaml, `hydra.callbacks`), whatever the
launcher (basic, joblib, submitit) or sweeper (basic, Optuna). For a sweep that stopped early, print it with
`python -m rlhydra.sweep_summary <sweep folder>`.
"""
from __future__ import annotations

import json
import math
import os
import sys
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

JOB_RESULT_FILE = "result.json"
SUMMARY_FILE = "summary.md"
SUMMARY_JSON = "summary.json"
TRIAL_OVERRIDE = "+optuna.trial="  # added to each job by the rlhydra_optuna sweeper


@dataclass(frozen=True)
class JobContext:
    """What Hydra knows about the running job: its overrides, number and sweep."""

    overrides: List[str]
    override_dirname: str
    num: Optional[int]  # job number in a multirun; None for a single run
    sweep_dir: Optional[str]  # the multirun's folder; None for a single run

    @property
    def sweep_name(self) -> Optional[str]:
        """The sweep folder as configured ('multirun/2026-11-25/09-10-02'), the W&B group of its jobs.

        Taken as written, not resolved against the working directory, so every job of a sweep gets the same
        name wherever its launcher runs it; W&B keeps group names to 128 characters, so the end is kept.
        """
        if self.sweep_dir is None:
            return None
        return os.path.normpath(self.sweep_dir).replace(os.sep, "/")[-128:]


def job_context() -> JobContext:
    """The current Hydra job's context (call inside the task function)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hc = HydraConfig.get()
    multirun = hc.mode == RunMode.MULTIRUN
    return JobContext(
        overrides=list(hc.overrides.task),
        override_dirname=hc.job.override_dirname,
        num=int(hc.job.num) if multirun else None,
        sweep_dir=str(hc.sweep.dir) if multirun else None,
    )


def write_job_result(run_dir: str, job: JobContext, **fields: Any) -> str:
    """Write <run_dir>/result.json: the job's overrides plus `fields` (status, final_return, env_steps ...)."""
    record = {"job": job.num, "overrides": job.overrides, "run_dir": run_dir, **fields}
    path = os.path.join(run_dir, JOB_RESULT_FILE)
    os.makedirs(run_dir, exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(_json_safe(record), f, indent=1)
    os.replace(tmp, path)
    return path


def read_job_results(sweep_dir: str) -> List[Dict[str, Any]]:
    """Every result.json under `sweep_dir` (hidden folders such as .submitit skipped), in job order."""
    rows = []
    for root, dirs, files in os.walk(sweep_dir):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        if JOB_RESULT_FILE in files:
            path = os.path.join(root, JOB_RESULT_FILE)
            try:
                with open(path, encoding="utf-8") as f:
                    rows.append(json.load(f))
            except (OSError, json.JSONDecodeError) as exc:
                rows.append({"run_dir": root, "status": "unreadable", "error": f"{path}: {exc}"})
    return sorted(rows, key=lambda r: (r.get("job") is None, r.get("job") or 0, r.get("run_dir", "")))


def common_overrides(rows: Sequence[Dict[str, Any]]) -> List[str]:
    """Overrides every job of several shares (shown once above the table instead of in each row)."""
    sets = [set(r.get("overrides", [])) for r in rows]
    return sorted(set.intersection(*sets)) if len(sets) > 1 else []


def format_summary(rows: Sequence[Dict[str, Any]], sweep_dir: str = "") -> str:
    """A Markdown table: job | overrides | final return | env steps | time | status | run dir, then the best job."""
    common = common_overrides(rows)
    lines = [f"# Sweep summary: {sweep_dir}" if sweep_dir else "# Sweep summary", ""]
    if common:
        lines += [f"All {len(rows)} jobs: {' '.join(common)}", ""]
    header = ["job", "overrides", "final return", "env steps", "time (s)", "status", "run dir"]
    table = [header]
    for r in rows:
        table.append([
            "-" if r.get("job") is None else str(r["job"]),
            _own_overrides(r, common),
            _fmt_float(r.get("final_return")),
            f"{r['env_steps']:,}" if isinstance(r.get("env_steps"), int) else "-",
            _fmt_float(r.get("time_s"), 1),
            _status(r),
            _relative(r.get("run_dir", ""), sweep_dir),
        ])
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for i, row in enumerate(table):
        lines.append("| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths)) + " |")
        if i == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    ranked = rank_settings(rows)
    if ranked:
        lines += ["", "Settings ranked by mean final return over seeds (failed jobs left out):", ""]
        for i, (setting, values) in enumerate(ranked):
            text = " ".join(_short(o) for o in setting if o not in common) or "(all jobs)"
            mean, std = float(np.mean(values)), float(np.std(values))
            lines.append(f"{i + 1}. {text}: {mean:.2f} ± {std:.2f} over {len(values)} seed{'s' * (len(values) > 1)}")
        setting, values = ranked[0]
        text = " ".join(_short(o) for o in setting if o not in common) or "(all jobs)"
        lines += ["", f"Best: {text}: mean final return {float(np.mean(values)):.2f} over {len(values)} "
                      f"seed{'s' * (len(values) > 1)}"]
    pruned = [r for r in rows if r.get("status") == "pruned"]
    if pruned:
        lines += ["", f"{len(pruned)} trial(s) pruned (stopped early by the Optuna pruner): job(s) "
                      + ", ".join(str(r.get("job")) for r in pruned)]
    failed = [r for r in rows if r.get("status") not in ("ok", "pruned", None)]
    if failed:
        lines += ["", f"{len(failed)} job(s) did not finish:"]
        lines += [f"- job {r.get('job')} ({_own_overrides(r, common)}): {r.get('status')}: {_first_line(r.get('error'))}"
                  for r in failed]
    if not rows:
        lines.append("(no job wrote a result.json yet)")
    return "\n".join(lines) + "\n"


def rank_settings(rows: Sequence[Dict[str, Any]]) -> List[Tuple[Tuple[str, ...], List[float]]]:
    """(setting, final returns of its seeds) for each setting (overrides without `seed=`) with a finished job,
    best mean first."""
    groups: Dict[Tuple[str, ...], List[float]] = {}
    for r in rows:
        if _is_number(r.get("final_return")):
            key = tuple(o for o in r.get("overrides", [])
                        if not o.lstrip("+~").startswith("seed=") and not o.startswith(TRIAL_OVERRIDE))
            groups.setdefault(key, []).append(float(r["final_return"]))
    return sorted(groups.items(), key=lambda item: -float(np.mean(item[1])))


def _first_line(error: Any) -> str:
    """The first line of an error that says something (ConfigError's 'invalid config:' is followed by its items)."""
    lines = [line.strip(" -") for line in str(error or "").splitlines() if line.strip(" -")]
    if not lines:
        return "no error recorded"
    return lines[0] + (f" {lines[1]}" if lines[0].endswith(":") and len(lines) > 1 else "")


def best_job(rows: Sequence[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """The finished job with the highest final return, or None."""
    done = [r for r in rows if _is_number(r.get("final_return"))]
    return max(done, key=lambda r: r["final_return"]) if done else None


def write_summary(sweep_dir: str) -> str:
    """Write summary.md and summary.json into `sweep_dir`; returns the table text."""
    rows = read_job_results(sweep_dir)
    text = format_summary(rows, sweep_dir)
    os.makedirs(sweep_dir, exist_ok=True)
    with open(os.path.join(sweep_dir, SUMMARY_FILE), "w", encoding="utf-8") as f:
        f.write(text)
    with open(os.path.join(sweep_dir, SUMMARY_JSON), "w", encoding="utf-8") as f:
        json.dump(_json_safe(rows), f, indent=1)
    return text


class SweepSummary(Callback):
    """Hydra callback: at the end of a multirun, print the summary table and write it to the sweep folder. It is
    also rewritten after each job, so a sweep that a failed job ends (Hydra's basic sweeper stops at the first
    failure) still leaves its summary."""

    def on_job_end(self, config: DictConfig, job_return: Any = None, **kwargs: Any) -> None:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        try:
            multirun = HydraConfig.get().mode == RunMode.MULTIRUN
        except ValueError:
            return
        if multirun:
            write_summary(str(config.hydra.sweep.dir))

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = str(config.hydra.sweep.dir)
        text = write_summary(sweep_dir)
        print("\n" + text + f"\nsummary written to {os.path.join(sweep_dir, SUMMARY_FILE)}", flush=True)


def _own_overrides(row: Dict[str, Any], common: Sequence[str]) -> str:
    """The job's overrides not shared by every job, long floats shortened for reading (the Optuna sweeper's
    `+optuna.trial=N` left out: N is the job number)."""
    own = [_short(o) for o in row.get("overrides", []) if o not in common and not o.startswith(TRIAL_OVERRIDE)]
    return " ".join(own) or "(none)"


def _short(override: str) -> str:
    key, sep, value = override.partition("=")
    try:
        number = float(value)
    except ValueError:
        return override
    return f"{key}{sep}{number:.4g}" if len(value) > 8 and "." in value else override


def _status(row: Dict[str, Any]) -> str:
    status = str(row.get("status", "?"))
    if row.get("error"):
        error = _first_line(row["error"])
        status += f": {error[:90]}..." if len(error) > 90 else f": {error}"
    return status


def _fmt_float(value: Any, digits: int = 2) -> str:
    return f"{value:.{digits}f}" if _is_number(value) else "-"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _relative(path: str, base: str) -> str:
    if base and path and os.path.abspath(path).startswith(os.path.abspath(base) + os.sep):
        return os.path.relpath(path, base)
    return path


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def main(argv: Optional[Sequence[str]] = None) -> int:
    """`python -m rlhydra.sweep_summary <sweep folder>...`: (re)write and print each sweep's summary."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or any(a in ("-h", "--help") for a in args):
        print("usage: python -m rlhydra.sweep_summary <sweep folder> [<sweep folder> ...]")
        return 0 if args else 2
    for sweep_dir in args:
        if not os.path.isdir(sweep_dir):
            print(f"error: {sweep_dir} is not a folder", file=sys.stderr)
            return 2
        print(write_summary(sweep_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
