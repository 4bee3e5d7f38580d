"""A suite's finished seeds, one JSON line each, kept beside its table (`<out folder>/learning/<suite>_runs.jsonl`):
the table and its curves can be written again where the run folders are not (a fresh clone, another machine), and a
suite finished over several machines adds up. A line is found by its job folder's name, which carries the hash of
the job's config: a line left by an earlier config is kept in the file but never counted."""
from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from typing import Dict, Iterable, List, Optional, Tuple

import numpy as np

from rlhydra.multirun import previous_run
from rlhydra.plot import METRIC_ALIASES, Run, load_run

EVAL_KEY = METRIC_ALIASES["eval"]


@dataclass
class SeedResult:
    """One finished job of a suite: its final evaluation, how long it ran, and its evaluation curve."""

    job: str  # the job folder's name (rlhydra/multirun.py): algorithm, env id and the hash of the config
    final_return: float
    env_steps: int
    wall_s: float
    overrides: List[str] = field(default_factory=list)
    env_id: str = ""
    algorithm: str = ""
    curve: List[Tuple[float, float]] = field(default_factory=list)  # (env steps, evaluation return)

    def as_run(self) -> Run:
        """The curve as rlhydra.plot draws it."""
        steps, values = (np.array(v, dtype=float) for v in zip(*self.curve)) if self.curve else (np.zeros(0),) * 2
        return Run(self.job, list(self.overrides), steps, values, self.env_id, self.algorithm)


def from_run_dir(run_dir: str) -> Optional[SeedResult]:
    """The job's result where its folder says it finished (result.json status ok, a finite final return), else None."""
    result = previous_run(run_dir).result or {}
    final = result.get("final_return") if result.get("status") == "ok" else None
    if not isinstance(final, (int, float)) or not math.isfinite(final):
        return None
    run = load_run(run_dir, EVAL_KEY) if os.path.isfile(os.path.join(run_dir, "metrics.jsonl")) else None
    wall = float(_last_metrics(run_dir).get("time_s") or result.get("time_s") or 0.0)
    return SeedResult(os.path.basename(os.path.normpath(run_dir)), float(final), int(result.get("env_steps") or 0), wall,
                      list(result.get("overrides") or []), run.env_id if run else "", run.algorithm if run else "",
                      list(zip(run.steps.tolist(), run.values.tolist())) if run else [])


def record_path(out: str, suite: str) -> str:
    """Where the suite whose table is `out` keeps its record: beside the table's curves."""
    return os.path.join(os.path.dirname(out), "learning", f"{suite}_runs.jsonl")


def read_record(path: str) -> Dict[str, SeedResult]:
    """Job folder name -> its result, from the record at `path` (a later line wins); empty when there is none."""
    record: Dict[str, SeedResult] = {}
    if not os.path.isfile(path):
        return record
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                seed = SeedResult(str(data["job"]), float(data["final_return"]), int(data["env_steps"]),
                                  float(data["wall_s"]), [str(o) for o in data.get("overrides", [])],
                                  str(data.get("env_id", "")), str(data.get("algorithm", "")),
                                  [(float(s), float(v)) for s, v in data.get("curve", [])])
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}, line {number}: not a suite's seed result ({type(exc).__name__}: {exc}); "
                                 "fix or delete the line (the run folders write it again)") from None
            record[seed.job] = seed
    return record


def write_record(path: str, record: Dict[str, SeedResult], found: Iterable[SeedResult]) -> None:
    """Add what was `found` to the record at `path` (same job: the new line replaces the old); written whole or not
    at all."""
    merged = dict(record)
    merged.update((seed.job, seed) for seed in found)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        for job in sorted(merged):
            f.write(json.dumps(asdict(merged[job])) + "\n")
    os.replace(tmp, path)


def _last_metrics(run_dir: str) -> Dict[str, object]:
    try:
        with open(os.path.join(run_dir, "metrics.jsonl"), encoding="utf-8") as f:
            lines = [line for line in f if line.strip()]
        return json.loads(lines[-1]) if lines else {}
    except (OSError, ValueError):
        return {}
