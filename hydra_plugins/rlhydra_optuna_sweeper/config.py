"""The sweeper's config node, `hydra/sweeper=rlhydra_optuna` (every key can be set under `hydra.sweeper.`)."""
# (no `from __future__ import annotations`: Hydra executes plugin modules outside sys.modules, where dataclass
# cannot resolve string annotations)

from dataclasses import dataclass, field
from typing import Any, Dict, Optional

from hydra.core.config_store import ConfigStore


@dataclass
class RlhydraOptunaSweeperConf:
    """Keys of `hydra.sweeper` for the rlhydra_optuna sweeper."""

    _target_: str = "hydra_plugins.rlhydra_optuna_sweeper.optuna_sweeper.OptunaSweeper"
    direction: str = "maximize"  # maximize or minimize the job's return value (rlhydra: the final eval return)
    study_name: str = "rlhydra"  # the study in the storage; the same name and storage continue it
    storage: Optional[str] = None  # null: <sweep dir>/optuna.journal; a journal file path, or an RDB URL (sqlite:///x.db)
    n_trials: int = 20  # trials in the study in all: a rerun runs only those still missing
    n_jobs: int = 1  # trials launched together (match the launcher's parallelism)
    max_failure_rate: float = 1.0  # stop once this fraction of the finished trials failed; 1.0: never
    sampler: Any = field(default_factory=lambda: {"_target_": "optuna.samplers.TPESampler", "seed": 0})
    pruner: Any = None  # e.g. {_target_: optuna.pruners.MedianPruner, n_warmup_steps: 5000}; null: no pruning
    params: Optional[Dict[str, str]] = None  # key: interval(a, b) | tag(log, interval(a, b)) | choice(...) | range(a, b, step=s)


ConfigStore.instance().store(group="hydra/sweeper", name="rlhydra_optuna", node=RlhydraOptunaSweeperConf,
                             provider="rlhydra")
