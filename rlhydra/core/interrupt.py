"""Graceful stops: the first Ctrl-C/SIGTERM lets the current iteration finish, then training checkpoints and ends."""
from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any, Dict, Optional

from hydra.errors import CompactHydraException


class TrainingInterrupted(CompactHydraException):
    """Training stopped on a signal after writing a final checkpoint (Hydra prints this without a traceback).

    `signal_name`, `checkpoint` (None when none was written), `iteration` and `env_steps` let the command line
    print its own summary with the resume command.
    """

    def __init__(self, message: str, signal_name: str = "SIGINT", checkpoint: Optional[str] = None,
                 iteration: int = 0, env_steps: int = 0) -> None:
        super().__init__(message)
        self.signal_name, self.checkpoint, self.iteration, self.env_steps = signal_name, checkpoint, iteration, env_steps


class StopSignals:
    """Context manager: SIGINT/SIGTERM set `requested`; a second signal interrupts at once. Main thread only."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self.requested: Optional[str] = None
        self._previous: Dict[int, Any] = {}

    def _handle(self, signum: int, frame: Optional[FrameType]) -> None:
        if self.requested:  # the second signal: stop now
            raise KeyboardInterrupt
        self.requested = signal.Signals(signum).name
        print(f"\nrlhydra: {self.requested} received; finishing this iteration, then saving a checkpoint "
              "(send it again to stop at once)", flush=True)

    def __enter__(self) -> "StopSignals":
        if self.enabled:
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
