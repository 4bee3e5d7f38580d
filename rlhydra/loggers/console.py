"""Compact progress lines on stdout: at most one per interval, and every evaluation."""
from __future__ import annotations

import time
from typing import Any, Dict, Optional

from rlhydra.loggers.base import Logger


class ConsoleLogger(Logger):
    """Prints `time | iter | env steps | train return | eval return | steps/s`."""

    def __init__(self, interval_s: float = 2.0) -> None:
        self.interval_s = interval_s
        self._last_print = -float("inf")
        self._last_steps = 0
        self._last_time = 0.0

    def log(self, result: Dict[str, Any]) -> None:
        now = time.perf_counter()
        has_eval = "eval/episode_return_mean" in result
        if not has_eval and now - self._last_print < self.interval_s:
            return
        steps, t = result["env_steps"], result["time_s"]
        fps = (steps - self._last_steps) / max(t - self._last_time, 1e-9)
        line = (f"[{t:7.1f}s] iter {result['iteration']:5d} | steps {steps:>10,} | "
                f"return {_fmt(result.get('train/episode_return_mean'))}")
        if has_eval:
            line += f" | eval {_fmt(result['eval/episode_return_mean'])}"
        line += f" | {fps:,.0f} steps/s"
        print(line, flush=True)
        self._last_print, self._last_steps, self._last_time = now, steps, t


def _fmt(value: Optional[float]) -> str:
    return "      --" if value is None else f"{value:8.2f}"
