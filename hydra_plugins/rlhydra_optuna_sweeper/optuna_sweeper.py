"""`hydra/sweeper=rlhydra_optuna`: an Optuna study (optuna >= 4) driven by ask-and-tell, its trials run as Hydra jobs.

Each batch of `n_jobs` trials is asked from the study and launched with the trial's parameters and
`+optuna.trial=<number>`; the job (rlhydra/optuna_study.py) opens the same study from its storage file, reports each
evaluation return at its env-step count and ends early, marked PRUNED, when the pruner says so. The sweeper tells
the study each finished job's return value (FAIL for a job that raised).

The study lives in a storage file (default <sweep dir>/optuna.journal), which jobs in other processes reach. Run the
same command with the same `hydra.sweep.dir` and the study continues: `n_trials` counts every trial in it, and a
trial that a crash left RUNNING is marked FAIL and asked again with its parameters (its job folder, named after its
config, then resumes from the job's last checkpoint).

Search space, in `hydra.sweeper.params` or on the command line: `interval(a, b)` (float; ints give an int),
`tag(log, interval(a, b))`, `choice(x, y, ...)`, `range(a, b, step=s)` (as Hydra's range: b excluded). Other values
are fixed overrides passed to every trial.
"""
from __future__ import annotations

import math
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, Override, RangeSweep
from hydra.core.plugins import Plugins
from hydra.errors import CompactHydraException
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

RESULTS_FILE = "optimization_results.yaml"  # best parameters and value, in the sweep folder
RERUN_ATTR = "rerun_as_new_trial"  # set on a trial a crash left RUNNING; it does not count toward n_trials


class SweepError(CompactHydraException):
    """A sweep config the sweeper cannot run; the message names the key and the fix (printed without a traceback)."""


def distribution(override: Override) -> Any:
    """The Optuna distribution of a sweep override, or None for a fixed value."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if not override.is_sweep_override():
        return None
    value = override.value()
    if isinstance(value, ChoiceSweep):
        return CategoricalDistribution(list(value.list))
    if isinstance(value, RangeSweep):
        start, stop, step = value.start, value.stop, value.step
        if value.shuffle or any(isinstance(v, float) for v in (start, stop, step)):
            return CategoricalDistribution(list(override.sweep_iterator()))
        count = max(1, math.ceil((stop - start) / step))
        return IntDistribution(int(start), int(start + (count - 1) * step), step=int(step))
    if isinstance(value, IntervalSweep):
        log = "log" in value.tags
        if isinstance(value.start, int) and isinstance(value.end, int):
            return IntDistribution(value.start, value.end, log=log)
        return FloatDistribution(float(value.start), float(value.end), log=log)
    raise SweepError(f"{override.input_line}: the rlhydra_optuna sweeper takes interval(a, b), tag(log, interval(a, b)), "
                     "choice(...) or range(a, b, step=s)")


def search_space(params: Optional[DictConfig], arguments: Sequence[str]) -> Tuple[Dict[str, Any], List[str]]:
    """(key -> distribution, fixed overrides) from `hydra.sweeper.params` and the command line (which wins)."""
    lines = [f"{key}={value}" for key, value in (params or {}).items()]
    parser = OverridesParser.create()
    space: Dict[str, Any] = {}
    fixed: Dict[str, str] = {}
    for override in parser.parse_overrides(lines) + parser.parse_overrides(list(arguments)):
        key = override.get_key_element()
        space.pop(key, None)
        fixed.pop(key, None)
        dist = distribution(override)
        if dist is None:
            fixed[key] = override.input_line
        else:
            space[key] = dist
    return space, list(fixed.values())


def as_override(key: str, value: Any) -> str:
    """`key=value` in Hydra's override syntax (a string with special characters quoted)."""
    if isinstance(value, str) and not value.replace(".", "").replace("_", "").replace("-", "").isalnum():
        value = "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    elif value is None:
        value = "null"
    elif isinstance(value, bool):
        value = str(value).lower()
    return f"{key}={value}"


class OptunaSweeper(Sweeper):
    """Hydra sweeper: an Optuna study in a storage file, trials as jobs that report evaluations and can be pruned."""

    def __init__(self, direction: str, study_name: str, storage: Optional[str], n_trials: int, n_jobs: int,
                 max_failure_rate: float, sampler: Any, pruner: Any, params: Optional[DictConfig]) -> None:
        if direction not in ("maximize", "minimize"):
            raise SweepError(f"hydra.sweeper.direction={direction}: use maximize or minimize")
        if n_trials < 1 or n_jobs < 1:
            raise SweepError(f"hydra.sweeper.n_trials={n_trials} and n_jobs={n_jobs} must be at least 1")
        self.direction, self.study_name, self.storage = direction, study_name, storage
        self.n_trials, self.n_jobs, self.max_failure_rate = n_trials, n_jobs, max_failure_rate
        self.sampler, self.pruner, self.params = sampler, pruner, params
        self.config: Optional[DictConfig] = None
        self.launcher: Any = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config, self.hydra_context = config, hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments: List[str]) -> None:
        import optuna
        from optuna.trial import TrialState

        from rlhydra.optuna_study import TRIAL_KEY, open_storage, storage_location  # not at plugin discovery

        assert self.config is not None
        sweep_dir = str(self.config.hydra.sweep.dir)
        os.makedirs(sweep_dir, exist_ok=True)
        OmegaConf.save(self.config, os.path.join(sweep_dir, "multirun.yaml"))
        space, fixed = search_space(self.params, arguments)
        if not space:
            raise SweepError("hydra.sweeper.params is empty: declare at least one key to search, e.g. "
                             "algorithm.lr: tag(log, interval(1e-4, 1e-2))")
        location = storage_location(self.storage, sweep_dir, os.getcwd())
        try:
            study = optuna.create_study(study_name=self.study_name, storage=open_storage(location),
                                        sampler=self.sampler, pruner=self.pruner, direction=self.direction,
                                        load_if_exists=True)
        except ValueError as exc:  # e.g. the stored study was made with the other direction
            raise SweepError(f"hydra.sweeper: the study '{self.study_name}' in {location} cannot be continued: "
                             f"{exc}; choose another hydra.sweeper.study_name or hydra.sweep.dir") from None
        rerun = self._requeue_interrupted(study)
        done = self._finished(study)
        print(f"[rlhydra_optuna] study '{self.study_name}' in {location}: {done} of {self.n_trials} trials done"
              + (f", {rerun} interrupted one(s) asked again" if rerun else ""), flush=True)
        while done < self.n_trials:
            trials = [study.ask(space) for _ in range(min(self.n_jobs, self.n_trials - done))]
            batch = [tuple(fixed + [as_override(k, v) for k, v in t.params.items()] + [f"+{TRIAL_KEY}.trial={t.number}"])
                     for t in trials]
            self.validate_batch_is_legal(batch)
            returns = self.launcher.launch(batch, initial_job_idx=trials[0].number)
            for trial, ret in zip(trials, returns):
                self._tell(study, trial, ret)
            done = self._finished(study)
            failed = sum(t.state == TrialState.FAIL and not t.user_attrs.get(RERUN_ATTR)
                         for t in study.get_trials(deepcopy=False))
            if done and failed / done > self.max_failure_rate:
                raise SweepError(f"{failed} of {done} trials failed, over hydra.sweeper.max_failure_rate="
                                 f"{self.max_failure_rate}; see <sweep dir>/summary.md")
        self._write_results(study, sweep_dir)

    def _tell(self, study: Any, trial: Any, ret: Any) -> None:
        """Tell the study how a job ended, unless the job already did (a pruned trial marks itself)."""
        from hydra.core.utils import JobStatus
        from optuna.trial import TrialState

        if study._storage.get_trial(trial._trial_id).state.is_finished():
            return
        value = ret.return_value if ret.status == JobStatus.COMPLETED else None
        if isinstance(value, (int, float)) and math.isfinite(value):
            study.tell(trial, float(value))
        else:
            study.tell(trial, state=TrialState.FAIL)

    def _requeue_interrupted(self, study: Any) -> int:
        """Trials a crashed sweep left RUNNING: marked FAIL (not counted) and asked again with the same parameters."""
        from optuna.trial import TrialState

        stale = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        for trial in stale:
            study._storage.set_trial_user_attr(trial._trial_id, RERUN_ATTR, True)
            study.tell(trial.number, state=TrialState.FAIL)
            study.enqueue_trial(trial.params, skip_if_exists=False)
        return len(stale)

    def _finished(self, study: Any) -> int:
        from optuna.trial import TrialState

        return sum(t.state.is_finished() and not t.user_attrs.get(RERUN_ATTR)
                   for t in study.get_trials(deepcopy=False) if t.state != TrialState.WAITING)

    def _write_results(self, study: Any, sweep_dir: str) -> None:
        from optuna.trial import TrialState

        states = [t.state for t in study.get_trials(deepcopy=False) if not t.user_attrs.get(RERUN_ATTR)]
        counts = {s.name.lower(): states.count(s) for s in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)}
        results: Dict[str, Any] = {"name": "rlhydra_optuna", "study_name": self.study_name, "trials": counts}
        if counts["complete"]:
            best = study.best_trial
            results.update(best_params=best.params, best_value=best.value, best_trial=best.number)
            print(f"[rlhydra_optuna] best trial {best.number}: value {best.value:.2f}, parameters {best.params}",
                  flush=True)
        print(f"[rlhydra_optuna] trials: {counts['complete']} complete, {counts['pruned']} pruned, "
              f"{counts['fail']} failed", flush=True)
        OmegaConf.save(OmegaConf.create(results), os.path.join(sweep_dir, RESULTS_FILE))

