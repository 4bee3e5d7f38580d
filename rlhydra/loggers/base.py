"""The logger interface: one call per training iteration with the flat result dict."""
from __future__ import annotations

from typing import Any, Dict


class Logger:
    """Receives each iteration's result; `close()` flushes and releases files or runs."""

    def log(self, result: Dict[str, Any]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass
