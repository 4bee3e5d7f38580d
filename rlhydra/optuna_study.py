"""An Optuna trial inside a training job: the rlhydra_optuna sweeper (hydra_plugins/rlhydra_optuna_sweeper) asks the
study for a trial and launches a job with `+optuna.trial=<number>`; the job opens the same study from its storage
file, reports each evaluation return at its env-step count and stops when the pruner says so.

The storage is a file in the sweep folder (Optuna's JournalStorage; an RDB URL such as sqlite:///x.db also works),
so jobs in other processes (joblib, submitit) reach the study, and a sweep started again continues it.
"""
from __future__ import annotations

import os
from typing import Any, Dict, Optional

from omegaconf import DictConfig, OmegaConf, open_dict

from rlhydra.config.schema import ConfigError
from rlhydra.core.algorithm import EVAL_RETURN

TRIAL_KEY = "optuna"  # the job's `+optuna.trial=<number>` override, added by the sweeper; not part of the run's config
JOURNAL_FILE = "optuna.journal"  # the study's default storage, in the sweep folder


class TrialPruned(Exception):
    """Optuna's pruner stopped this trial after an evaluation; the job ends calmly with status `pruned`."""

    def __init__(self, trial: int, value: float, env_steps: int, pruner: str) -> None:
        self.reason = f"by {pruner} at {env_steps:,} env steps (eval return {value:.2f})"
        super().__init__(f"trial {trial} pruned {self.reason}")
        self.trial, self.value, self.env_steps = trial, value, env_steps


def storage_location(storage: Optional[str], sweep_dir: str, cwd: str) -> str:
    """Where the study lives: `storage` (an RDB URL with '://', or a journal file path) or <sweep dir>/optuna.journal;
    a relative path is taken from `cwd`, the folder the sweep was started in."""
    if storage and "://" in storage:
        return storage
    path = storage or os.path.join(sweep_dir, JOURNAL_FILE)
    return os.path.normpath(os.path.join(cwd, path))


def open_storage(location: str) -> Any:
    """An Optuna storage for `storage_location`'s answer: an RDB URL as given, else a journal file (made here)."""
    if "://" in location:
        return location
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    os.makedirs(os.path.dirname(location), exist_ok=True)
    return JournalStorage(JournalFileBackend(location))


def pop_trial(cfg: DictConfig) -> Optional[int]:
    """Remove the sweeper's `optuna` node from the job's config; its trial number, or None outside an Optuna sweep."""
    if TRIAL_KEY not in cfg:
        return None
    with open_dict(cfg):
        node = cfg.pop(TRIAL_KEY)
    trial = node.get("trial") if isinstance(node, DictConfig) else None
    if not isinstance(trial, int) or isinstance(trial, bool):
        raise ConfigError(f"{TRIAL_KEY}={OmegaConf.to_container(node) if isinstance(node, DictConfig) else node}: "
                          "the rlhydra_optuna sweeper sets +optuna.trial=<trial number> for each job; "
                          "drop the override (an Optuna sweep: hydra/sweeper=rlhydra_optuna, see sweeps/)")
    return trial


class TrialReporter:
    """A logger for Algorithm.learn: reports each evaluation return to the trial (step: env steps) and raises
    TrialPruned when the study's pruner says the trial should stop."""

    def __init__(self, trial_number: int, sweeper: DictConfig, sweep_dir: str, cwd: str) -> None:
        import optuna
        from hydra.utils import instantiate

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        if "study_name" not in sweeper:
            raise ConfigError(f"+{TRIAL_KEY}.trial={trial_number}: this job was not launched by the rlhydra_optuna "
                              "sweeper (hydra/sweeper=rlhydra_optuna), which owns the study it reports to")
        pruner = instantiate(sweeper.pruner) if sweeper.get("pruner") else optuna.pruners.NopPruner()
        storage = open_storage(storage_location(sweeper.get("storage"), sweep_dir, cwd))
        self.study = optuna.load_study(study_name=sweeper.study_name, storage=storage, pruner=pruner)
        trial_id = self.study._storage.get_trial_id_from_study_id_trial_number(self.study._study_id, trial_number)
        self.trial = optuna.trial.Trial(self.study, trial_id)
        self.number = trial_number
        self.pruner_name = type(pruner).__name__

    def log(self, result: Dict[str, Any]) -> None:
        value = result.get(EVAL_RETURN)
        if value is None:
            return
        steps = int(result["env_steps"])
        self.trial.report(float(value), step=steps)
        if self.trial.should_prune():
            raise TrialPruned(self.number, float(value), steps, self.pruner_name)

    def mark_pruned(self) -> None:
        """Record the trial as PRUNED in the study (its value: the last reported return)."""
        import optuna

        self.study.tell(self.number, state=optuna.trial.TrialState.PRUNED)

    def close(self) -> None:
        pass
