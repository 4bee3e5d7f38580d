"""Metric loggers behind one interface; `build_loggers` picks them from the `logger` config."""
from __future__ import annotations

import os
from typing import List, Optional, Sequence

from rlhydra.config.algorithm_config import AlgorithmConfig
from rlhydra.config.schema import ConfigError
from rlhydra.loggers.base import Logger
from rlhydra.loggers.console import ConsoleLogger
from rlhydra.loggers.jsonl import JsonlLogger
from rlhydra.loggers.tensorboard_logger import TensorBoardLogger
from rlhydra.loggers.wandb_logger import WandbLogger

# Options of the `logger` group that set the console/jsonl pair (exclusive), and those that add a backend.
BASE_CHOICES = ("default", "console", "jsonl")
ADDON_CHOICES = ("wandb", "tensorboard")


def build_loggers(
    config: AlgorithmConfig,
    run_dir: str,
    *,
    run_name: Optional[str] = None,
    group: Optional[str] = None,
) -> List[Logger]:
    """The loggers the `logger` group switches on, writing under `run_dir`; W&B gets `run_name` and `group`."""
    loggers: List[Logger] = []
    try:
        if config.logger.console:
            loggers.append(ConsoleLogger(config.reporting.print_interval_s))
        if config.logger.jsonl:
            loggers.append(JsonlLogger(os.path.join(run_dir, "metrics.jsonl")))
        if config.logger.tensorboard:
            loggers.append(TensorBoardLogger(os.path.join(run_dir, "tensorboard")))
        if config.logger.wandb.enabled:
            loggers.append(WandbLogger(config.logger.wandb, run_dir, config.to_dict(), name=run_name, group=group))
    except BaseException:
        for logger in loggers:
            logger.close()
        raise
    return loggers


def check_logger_overrides(overrides: Sequence[str]) -> None:
    """Reject `logger=[...]` naming two of default/console/jsonl: in a list the later one would silently win."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    for override in OverridesParser.create().parse_overrides(list(overrides)):
        choices = override.value()
        if override.key_or_group != "logger" or not isinstance(choices, list):
            continue
        base = [c for c in choices if c in BASE_CHOICES]
        if len(base) > 1:
            raise ConfigError(
                f"logger=[{','.join(choices)}]: pick one of {', '.join(BASE_CHOICES)} (default is console + "
                f"metrics.jsonl) and add {' or '.join(ADDON_CHOICES)} beside it, e.g. logger=[jsonl,wandb]."
            )


__all__ = ["ConsoleLogger", "JsonlLogger", "Logger", "build_loggers", "check_logger_overrides"]
