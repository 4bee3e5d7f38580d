"""The logger interface: one call per training iteration with the flat result dict."""
from __future__ import annotations

import math
import numbers
from typing import Any, Dict


class Logger:
    """Receives each iteration's result; `close()` flushes and releases files or runs."""

    def log(self, result: Dict[str, Any]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass


def scalar_metrics(result: Dict[str, Any]) -> Dict[str, float]:
    """The finite numeric entries of a result (tensors and numpy scalars unwrapped); paths and None dropped."""
    out: Dict[str, float] = {}
    for key, value in result.items():
        if hasattr(value, "item") and not isinstance(value, numbers.Number):
            value = value.item()
        if isinstance(value, numbers.Real) and math.isfinite(value):
            out[key] = value
    return out
