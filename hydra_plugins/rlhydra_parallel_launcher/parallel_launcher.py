"""`hydra/launcher=parallel`: run a multirun's jobs `n_jobs` at a time in worker processes on this machine.

Hydra's joblib launcher aborts every worker the moment the launcher process gets Ctrl-C or one job exits: jobs that
were saving their final checkpoint are killed, and the queued ones may still start. This launcher hands a worker a
job only while no stop was asked for. On the first SIGINT/SIGTERM (Ctrl-C reaches the launcher and its workers; so
does `kill -INT -- -<process group>`) it starts no further job, waits while each running job finishes its iteration
and writes its final checkpoint, and exits with 128 + the signal's number (130 for SIGINT). Idle workers ignore the
signals; a job sees them as in a single run (the first asks for a checkpoint, a second stops at once).
"""
# (no `from __future__ import annotations`: Hydra executes plugin modules outside sys.modules, where dataclass
# cannot resolve string annotations)
import logging
import signal
import sys
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, configure_log, filter_overrides, run_job, setup_globals
from hydra.errors import CompactHydraException
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, open_dict

log = logging.getLogger(__name__)
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@dataclass
class RlhydraParallelLauncherConf:
    """Keys of `hydra.launcher` for the parallel launcher."""

    _target_: str = "hydra_plugins.rlhydra_parallel_launcher.parallel_launcher.ParallelLauncher"
    n_jobs: int = 2  # jobs running at once, each in its own process (each learner uses learner.torch_threads)


ConfigStore.instance().store(group="hydra/launcher", name="rlhydra_parallel", node=RlhydraParallelLauncherConf,
                             provider="rlhydra")


@dataclass
class JobStopped:
    """What a worker returns for a job that a signal stopped: its exit code (130 for SIGINT, 143 for SIGTERM)."""

    code: int


class ParallelLauncher(Launcher):
    """Hydra launcher: the jobs in `n_jobs` worker processes (loky); a stop signal lets the running jobs save."""

    def __init__(self, n_jobs: int = 2) -> None:
        if n_jobs < 1:
            raise ValueError(f"hydra.launcher.n_jobs={n_jobs}: give the number of jobs to run at once, 1 or more")
        self.n_jobs = n_jobs
        self.config: Optional[DictConfig] = None
        self.task_function: Optional[TaskFunction] = None
        self.hydra_context: Optional[HydraContext] = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config, self.task_function, self.hydra_context = config, task_function, hydra_context

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from joblib.externals.loky import get_reusable_executor

        assert self.config is not None and self.task_function is not None and self.hydra_context is not None
        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        log.info(f"Launching {len(job_overrides)} jobs, {self.n_jobs} at a time, sweep output dir : {sweep_dir}")
        for idx, overrides in enumerate(job_overrides):
            log.info(f"\t#{initial_job_idx + idx} : {' '.join(filter_overrides(overrides))}")
        executor = get_reusable_executor(max_workers=self.n_jobs, initializer=_ignore_stop_signals)
        state = Singleton.get_state()
        queue = list(enumerate(job_overrides))
        running: Dict[Future, int] = {}
        returns: Dict[int, Union[JobReturn, JobStopped]] = {}
        with StopRequest(running) as stop:
            while queue or running:
                stopped = [r.code for r in returns.values() if isinstance(r, JobStopped)]
                while queue and len(running) < self.n_jobs and stop.signal is None and not stopped:
                    idx, overrides = queue.pop(0)
                    future = executor.submit(run_in_worker, initial_job_idx + idx, list(overrides),
                                             self.hydra_context, self.config, self.task_function, state)
                    running[future] = idx
                if not running:
                    break
                done, _ = wait(list(running), timeout=1.0, return_when=FIRST_COMPLETED)
                for future in done:
                    idx = running.pop(future)
                    try:
                        returns[idx] = future.result()
                    except Exception as exc:  # its config did not load, or the worker process died
                        raise CompactHydraException(
                            f"job #{initial_job_idx + idx} ({' '.join(job_overrides[idx])}) failed in its worker "
                            f"process: {type(exc).__name__}: {exc}\nOnce that is fixed, the same command continues "
                            "the multirun (finished jobs are skipped, the others resume from their last checkpoint)"
                        ) from None
        stopped = [r.code for r in returns.values() if isinstance(r, JobStopped)]
        if stop.signal is not None or stopped:
            print(f"rlhydra: multirun stopped: {len(returns) - len(stopped)} job(s) ended, {len(stopped)} stopped "
                  f"early, {len(queue)} not started; run the same command to continue", flush=True)
            executor.shutdown(wait=True)  # the idle workers end before the exit, not in its cleanup
            sys.exit(128 + stop.signal if stop.signal is not None else stopped[0])
        return [returns[idx] for idx in range(len(job_overrides))]  # type: ignore[misc]


class StopRequest:
    """Context manager for the launcher process: SIGINT/SIGTERM set `signal` (no exception) and say what follows."""

    def __init__(self, running: Dict[Future, int]) -> None:
        self.running = running
        self.signal: Optional[int] = None
        self._previous: Dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signal is None:
            print(f"\nrlhydra: {signal.Signals(signum).name} received; no further job starts, the {len(self.running)} "
                  "running one(s) save a checkpoint and stop", flush=True)
        self.signal = self.signal or signum

    def __enter__(self) -> "StopRequest":
        for sig in STOP_SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def _ignore_stop_signals() -> None:
    """A worker between jobs ignores the signals (else Ctrl-C kills it, and loky then kills the busy ones)."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def run_in_worker(idx: int, overrides: List[str], hydra_context: HydraContext, config: DictConfig,
                  task_function: TaskFunction, singleton_state: Dict[Any, Any]) -> Union[JobReturn, JobStopped]:
    """One job in a worker process, as Hydra's launchers run it; a job stopped by a signal returns JobStopped."""
    for sig in STOP_SIGNALS:  # during the job a signal interrupts as in a single run (training handles its own)
        signal.signal(sig, _interrupt)
    try:
        setup_globals()
        Singleton.set_state(singleton_state)
        sweep_config = hydra_context.config_loader.load_sweep_config(config, overrides)
        with open_dict(sweep_config):
            sweep_config.hydra.job.id = f"{sweep_config.hydra.job.name}_{idx}"
            sweep_config.hydra.job.num = idx
        HydraConfig.instance().set_config(sweep_config)
        return run_job(hydra_context=hydra_context, config=sweep_config, task_function=task_function,
                       job_dir_key="hydra.sweep.dir", job_subdir_key="hydra.sweep.subdir")
    except SystemExit as exc:  # rlhydra's job exits with 130/143 after saving its checkpoint
        return JobStopped(exc.code if isinstance(exc.code, int) else 1)
    except KeyboardInterrupt:  # a signal before the job's training began
        return JobStopped(130)
    finally:
        _ignore_stop_signals()
