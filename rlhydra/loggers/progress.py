"""`learn(progress_bar=True)`: env steps toward the call's target with the latest return, as SB3's progress bar.

tqdm draws it when installed; otherwise one plain line per iteration.
"""
from __future__ import annotations

import sys
from typing import IO, Any, Dict, Optional

from rlhydra.loggers.base import Logger

try:
    from tqdm import tqdm
except ImportError:  # tqdm is optional: the plain printer below
    tqdm = None


class ProgressBar(Logger):
    """A logger that shows `env_steps` going from `start` to `target` (tqdm, or one line per iteration)."""

    def __init__(self, start: int, target: int, *, file: Optional[IO[str]] = None, use_tqdm: bool = True) -> None:
        self.start, self.target, self.file = start, target, file or sys.stderr
        self.bar = None
        if use_tqdm and tqdm is not None:
            self.bar = tqdm(total=target - start, unit="step", file=self.file, dynamic_ncols=True)
        self.done = 0

    def log(self, result: Dict[str, Any]) -> None:
        steps = int(result.get("env_steps", self.start))
        ret = result.get("train/episode_return_mean")
        ret_text = "n/a" if ret is None else f"{ret:.2f}"
        if self.bar is not None:  # the last iteration may pass the target: the bar stops at it, the text says where
            self.bar.update(min(steps, self.target) - self.start - self.done)
            self.bar.set_postfix_str(f"env_steps={steps:,} return={ret_text}", refresh=False)
        else:
            pct = 100.0 * (steps - self.start) / max(1, self.target - self.start)
            print(f"rlhydra: iteration {result.get('iteration')}: {steps:,}/{self.target:,} env steps ({pct:.0f}%), "
                  f"episode_return_mean={ret_text}", file=self.file, flush=True)
        self.done = min(steps, self.target) - self.start

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
