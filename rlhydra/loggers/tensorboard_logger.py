"""TensorBoard event files under <run dir>/tensorboard, every metric against env_steps."""
from __future__ import annotations

from typing import Any, Dict

from rlhydra.config.schema import ConfigError
from rlhydra.loggers.base import Logger, scalar_metrics


class TensorBoardLogger(Logger):
    """Writes each iteration's scalars with env_steps as the global step (view: `tensorboard --logdir <dir>`)."""

    def __init__(self, log_dir: str) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ConfigError(
                "logger=tensorboard needs the tensorboard package: pip install 'rlhydra[tensorboard]' "
                "(or pip install tensorboard)."
            ) from None
        self.log_dir = log_dir
        self._writer = SummaryWriter(log_dir=log_dir)

    def log(self, result: Dict[str, Any]) -> None:
        step = int(result["env_steps"])
        for key, value in scalar_metrics(result).items():
            if key != "env_steps":
                self._writer.add_scalar(key, value, global_step=step)
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()
