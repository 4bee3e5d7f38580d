"""Metric loggers behind one interface; `build_loggers` picks them from the `logger` config."""
from __future__ import annotations

import os
from typing import List

from rlhydra.config.algorithm_config import AlgorithmConfig
from rlhydra.loggers.base import Logger
from rlhydra.loggers.console import ConsoleLogger
from rlhydra.loggers.jsonl import JsonlLogger


def build_loggers(config: AlgorithmConfig, run_dir: str) -> List[Logger]:
    """The loggers the `logger` group switches on, writing under `run_dir`."""
    loggers: List[Logger] = []
    if config.logger.console:
        loggers.append(ConsoleLogger(config.reporting.print_interval_s))
    if config.logger.jsonl:
        loggers.append(JsonlLogger(os.path.join(run_dir, "metrics.jsonl")))
    return loggers


__all__ = ["ConsoleLogger", "JsonlLogger", "Logger", "build_loggers"]
