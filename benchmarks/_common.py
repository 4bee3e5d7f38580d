"""Shared helpers of the benchmark scripts: timed child processes, machine facts, markdown tables (stdlib only)."""
from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

REPO = Path(__file__).resolve().parents[1]
RESULT_TAG = "BENCH_RESULT "


@dataclass
class ChildRun:
    """One finished child process: wall time from just before Popen to exit, and its tagged JSON result."""

    wall_s: float
    start_time: float  # time.time() just before Popen
    result: Dict[str, Any] = field(default_factory=dict)


def emit(result: Dict[str, Any]) -> None:
    """Print a child's result as one tagged JSON line on stdout (read back by run_child)."""
    print(RESULT_TAG + json.dumps(result), flush=True)


def run_child(args: Sequence[str], env: Optional[Dict[str, str]] = None, timeout_s: float = 900) -> ChildRun:
    """Run `python *args` from the repo root with the repo on PYTHONPATH; raise with its stderr if it fails."""
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    child_env = {**os.environ, "PYTHONPATH": path, **(env or {})}
    cmd = [sys.executable, *args]
    start_time, start = time.time(), time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, env=child_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate(timeout=timeout_s)
    wall_s = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited with {proc.returncode}:\n{err[-4000:]}")
    tagged = [line[len(RESULT_TAG):] for line in out.splitlines() if line.startswith(RESULT_TAG)]
    return ChildRun(wall_s, start_time, json.loads(tagged[-1]) if tagged else {})


def read_jsonl(path: Path) -> List[Dict[str, Any]]:
    """The rows of a metrics.jsonl file."""
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (platform.processor() elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def version(package: str) -> str:
    """The installed version of a distribution, without importing it."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def load_average() -> Tuple[float, float, float]:
    """The 1/5/15-minute load averages (zeros where the OS has none), to see whether other work shared the machine."""
    return os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)


def load_line(start: Tuple[float, float, float], end: Tuple[float, float, float]) -> str:
    """Markdown bullet with the load averages before and after a run."""
    def fmt(load: Tuple[float, float, float]) -> str:
        return ", ".join(f"{x:.2f}" for x in load)

    return f"- load average (1/5/15 min): {fmt(start)} before, {fmt(end)} after"


def machine_lines() -> List[str]:
    """Markdown bullet lines: date, machine and library versions."""
    libs = ", ".join(f"{p} {version(p)}" for p in ("rlhydra", "stable-baselines3", "torch", "gymnasium", "numpy"))
    return [
        f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"- machine: {os.cpu_count()} cores (os.cpu_count()), {cpu_model()}, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}",
        f"- libraries: {libs}",
    ]


def md_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def log(message: str) -> None:
    """Progress on stderr, so stdout holds only the report."""
    print(message, file=sys.stderr, flush=True)


def child_command(script: str, kind: str, **options: Any) -> List[str]:
    """Arguments that run `script` as a child of `kind`: `--key value` per option, `--key` for True, None/False
    left out."""
    args = [script, "--child", kind]
    for key, value in options.items():
        if value is True:
            args.append(f"--{key.replace('_', '-')}")
        elif value is not None and value is not False:
            args += [f"--{key.replace('_', '-')}", str(value)]
    return args


def publish(text: str, out: str) -> None:
    """Print a report and write it to `out` (relative to the repo unless absolute)."""
    print(text)
    path = Path(out) if os.path.isabs(out) else REPO / out
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    log(f"[bench] wrote {path}")
