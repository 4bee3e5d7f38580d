"""metrics.jsonl: one JSON object per iteration, flushed as written."""
from __future__ import annotations

import json
import math
import os
from typing import Any, Dict

from rlhydra.loggers.base import Logger


class JsonlLogger(Logger):
    """Appends each result as one line of JSON (NaN/inf become null)."""

    def __init__(self, path: str) -> None:
        self.path = path
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self._file = open(path, "a", encoding="utf-8")

    def log(self, result: Dict[str, Any]) -> None:
        row = {k: _clean(v) for k, v in result.items()}
        self._file.write(json.dumps(row) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item"):
        return _clean(value.item())
    return value
