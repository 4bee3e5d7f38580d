"""torch's process-wide knobs that rlhydra's compute wants, set only around that compute and put back after."""
from __future__ import annotations

from typing import Any, List, Tuple

import torch


def flush_denormal_enabled() -> bool:
    """Whether this thread reads subnormal floats as zero (torch has no getter: a subnormal times one reads 0)."""
    return bool(torch.tensor([1e-40]).mul(1.0).item() == 0.0)


class TorchSettings:
    """Context manager: torch's intra-op thread count and subnormal flushing for rlhydra's own compute.

    Both are process-wide (flushing: per thread) in torch, so an Algorithm sets them on entry to its public
    methods (build, train, evaluate, learn, compute_actions) and restores the caller's values on exit: code
    around rlhydra keeps the settings it had. Entries nest.
    """

    def __init__(self, threads: int, flush_denormal: bool) -> None:
        self.threads, self.flush_denormal = threads, flush_denormal
        self._saved: List[Tuple[int, bool]] = []

    def __enter__(self) -> "TorchSettings":
        threads, flush = torch.get_num_threads(), flush_denormal_enabled()
        self._saved.append((threads, flush))
        if threads != self.threads:
            torch.set_num_threads(self.threads)
        if flush != self.flush_denormal:
            torch.set_flush_denormal(self.flush_denormal)
        return self

    def __exit__(self, *exc: Any) -> None:
        threads, flush = self._saved.pop()
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        if flush != self.flush_denormal:
            torch.set_flush_denormal(flush)
