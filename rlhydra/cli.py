"""The command-line door: a composed Hydra config in, a trained, evaluated and checkpointed run out.

`run` is the command: the `rlhydra` console script, `python -m rlhydra` and the clone's `python train.py` all call
it. Its configs are the package's own (rlhydra/conf, shipped in the wheel); `--config-dir DIR` layers a user's
folder on top.
"""
from __future__ import annotations

import contextlib
import functools
import io
import json
import math
import os
import re
import signal
import sys
import time
from typing import Any, Dict, Iterator, Optional, Union

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import CompactHydraException
from omegaconf import DictConfig, OmegaConf

from rlhydra.config.algorithm_config import AlgorithmConfig
from rlhydra.config.overrides import precheck_command_line
from rlhydra.config.schema import ConfigError
from rlhydra.config.tuned import apply_tuned, run_tuned_dirs
from rlhydra.core.algorithm import ENV_FAILURES, EVAL_RETURN, Algorithm, log_env_failure
from rlhydra.core.interrupt import TrainingInterrupted
from rlhydra.core.distributed import is_distributed, launch, launched_rank, learn_on_rank
from rlhydra.core.preflight import check_hydra_config
from rlhydra.core.resume import resume_config
from rlhydra.env.env_runner import EnvStepError
from rlhydra.env.env_runner_group import EnvRunnerError
from rlhydra.loggers import build_loggers, check_logger_overrides
from rlhydra.multirun import PreviousRun, previous_run, truncate_metrics
from rlhydra.optuna_study import TrialPruned, TrialReporter, pop_trial
from rlhydra.sweep_summary import JobContext, job_context, write_job_result

ERROR_LOG = "error.log"  # in the run folder: the env tracebacks of skipped evaluation rounds and of a fatal env error


class EnvFailedError(RuntimeError, CompactHydraException):
    """Training stopped on an env error it could not recover from; the message says what failed, where, where the
    traceback is and which checkpoint is kept (Hydra prints it without a traceback)."""

    def __init__(self, message: str, headline: str) -> None:
        super().__init__(message)
        self.headline = headline


CONF_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "conf")


def run_name(resume: Optional[str], algorithm: Optional[str], env_id: Optional[str]) -> str:
    """`<algorithm>_<env id>` for the run folder (`hydra.run.dir`): the actual pair, not the group names; a resumed
    run's from its checkpoint's metadata.json. Characters unsafe in a folder name become '-'."""
    if resume:
        try:
            with open(os.path.join(resume, "metadata.json")) as f:
                saved = json.load(f)["config"]
            algorithm, env_id = saved["algorithm"]["name"], saved["env"]["id"]
        except (OSError, ValueError, KeyError, TypeError):
            pass  # resume_config reports an unreadable checkpoint before anything starts
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{algorithm or 'algo'}_{env_id or 'env'}")


OmegaConf.register_new_resolver("rlhydra_run_name", run_name, replace=True)


def run() -> None:
    """`rlhydra [key=value ...]`: the command line is checked first (unknown keys and wrong types are refused with
    exit code 2 before anything starts; `module.<arg>` / `buffer.<arg>` need no '+'; `total_steps=1e5` is 100000;
    `--help` lists every key with its help), then Hydra composes and runs it."""
    sys.argv[1:] = precheck_command_line(sys.argv[1:], CONF_DIR, prog=command_name())
    _run_composed()


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def _run_composed(cfg: DictConfig) -> float:
    """Hydra parses the command line (`--config-dir`, `--cfg job`, `-m`) and composes rlhydra/conf/config.yaml (or
    `--config-name`) with the overrides, then `main` trains."""
    return main(cfg)


def command_name() -> str:
    """How the user started this run, for hints that repeat the command: `python train.py` in the clone, else the
    installed `rlhydra` command (also `python -m rlhydra`)."""
    return "python train.py" if os.path.basename(sys.argv[0]) == "train.py" else "rlhydra"


def main(cfg: DictConfig) -> float:
    """Validate, build, learn, report; returns the final evaluation return (what sweepers optimise).

    Each run also writes result.json (overrides, final return, env steps, time) for the multirun summary.
    """
    run_dir = HydraConfig.get().runtime.output_dir
    job = job_context()
    # A multirun job's folder is named after its config (rlhydra/multirun.py): an earlier run of it is skipped
    # when it finished, else continued from its latest checkpoint.
    previous = previous_run(run_dir) if job.num is not None else None
    if previous is not None and previous.finished:
        with _train_log(run_dir):
            return _skip_finished(run_dir, previous)
    trial = pop_trial(cfg)  # the Optuna trial this job reports to (hydra/sweeper=rlhydra_optuna), else None
    start = time.perf_counter()
    try:
        with _train_log(run_dir):
            result = _train(cfg, run_dir, job, previous, trial)
    except TrialPruned as exc:
        elapsed = round(time.perf_counter() - start, 2)
        write_job_result(run_dir, job, status="pruned", error=exc.reason, last_eval_return=exc.value,
                         env_steps=exc.env_steps, time_s=elapsed, trial=exc.trial)
        with _train_log(run_dir):
            print(f"rlhydra: {exc}; the sweep goes on\n  run folder: {run_dir}", flush=True)
        return exc.value
    except (TrainingInterrupted, StoppedAtOnce) as exc:
        if launched_rank() != 0:
            raise
        elapsed = round(time.perf_counter() - start, 2)
        write_job_result(run_dir, job, status="stopped", error=f"stopped by {exc.signal_name}", time_s=elapsed,
                         env_steps=exc.env_steps, checkpoint=exc.checkpoint)
        with _train_log(run_dir):
            print(stop_summary(exc, run_dir, elapsed, job.sweep_dir), flush=True)
        sys.exit(128 + int(getattr(signal, exc.signal_name, signal.SIGINT)))  # 130 for SIGINT, 143 for SIGTERM
    except Exception as exc:
        if launched_rank() != 0:
            raise
        error = exc.headline if isinstance(exc, EnvFailedError) else f"{type(exc).__name__}: {exc}"
        write_job_result(run_dir, job, status="failed", error=error,
                         time_s=round(time.perf_counter() - start, 2))
        if isinstance(exc, ConfigError) and job.num is None:  # a single run: the message, no Hydra wrapper lines
            print(f"rlhydra: {exc}", file=sys.stderr, flush=True)
            sys.exit(2)
        raise
    final = float(result.get(EVAL_RETURN, math.nan))
    if launched_rank() != 0:  # under torchrun/SLURM every rank runs this; rank 0 reports
        return final
    elapsed = time.perf_counter() - start
    write_job_result(run_dir, job, status="ok", final_return=final, env_steps=int(result.get("env_steps", 0)),
                     time_s=round(elapsed, 2), checkpoint=result.get("checkpoint"))
    evaluated = f"final eval return {final:.2f}" if not math.isnan(final) else "no evaluation"
    lines = [f"done in {elapsed:.1f}s: {result.get('env_steps', 0):,} env steps, {evaluated}",
             f"  stopped:    {result.get(STOP_REASON, 'total_steps reached')}",
             f"  run folder: {run_dir}"]
    metrics = os.path.join(run_dir, "metrics.jsonl")
    if os.path.isfile(metrics):  # only files that were written
        lines.append(f"  metrics:    {metrics}")
    lines.append(f"  checkpoint: {result.get('checkpoint') or 'none written (checkpointing.save_final=false)'}")
    with _train_log(run_dir):
        print("\n".join(lines), flush=True)
    return final


def _skip_finished(run_dir: str, previous: PreviousRun) -> float:
    """A multirun job that an earlier run of the same config finished: nothing to train."""
    result = previous.result or {}
    final = result.get("final_return")
    final = float(final) if isinstance(final, (int, float)) else math.nan
    print(f"rlhydra: already done, skipped: {run_dir} ({result.get('env_steps', 0):,} env steps, final eval return "
          f"{final:.2f}); delete its result.json to train it again", flush=True)
    return final


def _train(cfg: DictConfig, run_dir: str, job: JobContext, previous: Optional[PreviousRun] = None,
           trial: Optional[int] = None) -> Dict[str, Any]:
    check_logger_overrides(job.overrides)
    tuned = _apply_tuned(cfg, job)
    config = check_hydra_config(cfg)  # every user error surfaces here, before any env or worker starts
    if config.resume:
        config = resume_config(cfg, job.overrides, HydraConfig.get().runtime.choices.keys())
    elif previous is not None and previous.checkpoint:
        # the same config (the folder's hash) as the checkpoint's: resume exactly, in this folder
        if previous.checkpoint_env_steps >= config.total_steps:
            return _evaluate_checkpoint(config, previous.checkpoint)
        dropped = truncate_metrics(os.path.join(run_dir, "metrics.jsonl"), previous.checkpoint_env_steps)
        print(f"rlhydra: this job stopped earlier at {previous.checkpoint_env_steps:,} env steps; continuing from "
              f"{previous.checkpoint}" + (f" ({dropped} metrics rows after it dropped)" if dropped else ""),
              flush=True)
        config.resume = previous.checkpoint
    if launched_rank() == 0:
        print(f"rlhydra: {config.algorithm.name} on {config.env.id}, seed {config.seed}, "
              f"{config.total_steps:,} env steps -> {run_dir}", flush=True)
        if tuned:
            print(f"rlhydra: tuned settings for {config.algorithm.name} on {config.env.id}: {tuned} "
                  "(command-line keys win; ~tuned leaves them out)", flush=True)
    if is_distributed(config.learner):  # one process per learner device; rank 0 logs and checkpoints
        factory = functools.partial(build_loggers, run_name=job.override_dirname or None, group=job.sweep_name)
        return launch(config, learn_on_rank, config, run_dir, factory)
    algo: Optional[Algorithm] = None
    reporter: Optional[TrialReporter] = None
    error_log = os.path.join(run_dir, ERROR_LOG)
    try:
        algo = Algorithm.from_checkpoint(config.resume, config) if config.resume else config.build()
        if config.resume:
            print(f"rlhydra: resumed {config.resume} at iteration {algo.iteration} ({algo.env_steps:,} env steps)",
                  flush=True)
        loggers = build_loggers(config, run_dir, run_name=job.override_dirname or None, group=job.sweep_name)
        if trial is not None:  # last: every other logger has the row when the pruner stops the run
            hc = HydraConfig.get()
            reporter = TrialReporter(trial, hc.sweeper, str(hc.sweep.dir), hc.runtime.cwd)
            loggers.append(reporter)
        _say_how_progress_comes(config)
        try:
            result = algo.learn(loggers=loggers, checkpoint_dir=os.path.join(run_dir, "checkpoints"),
                                video_dir=os.path.join(run_dir, "videos"), error_log=error_log)
            result[STOP_REASON] = _stop_reason(config, result)
            return result
        finally:
            for logger in loggers:
                logger.close()
    except TrialPruned:
        if reporter is not None:
            reporter.mark_pruned()
        raise
    except ENV_FAILURES as exc:
        raise env_failed(exc, algo, config, error_log) from exc
    except KeyboardInterrupt:  # a second Ctrl-C/SIGTERM (or one before training began): stop now, quietly
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)  # a further one must not interrupt the cleanup below
        raise StoppedAtOnce(algo) from None
    finally:
        if algo is not None:
            algo.stop()


STOP_REASON = "stop_reason"  # why learn() returned, stated in the summary


def _evaluate_checkpoint(config: AlgorithmConfig, checkpoint: str) -> Dict[str, Any]:
    """A multirun job whose run trained to the end but stopped before writing result.json: evaluate its checkpoint
    (the same seeds as the run's own final evaluation)."""
    print(f"rlhydra: this job's checkpoint {checkpoint} already reaches total_steps={config.total_steps:,}; "
          "evaluating it", flush=True)
    algo = Algorithm.from_checkpoint(checkpoint, config)
    try:
        return {**algo.evaluate(), "env_steps": algo.env_steps, "checkpoint": checkpoint, STOP_REASON: "resumed done"}
    finally:
        algo.stop()


class _Tee(io.TextIOBase):
    """A stream that also appends what it is given to a file (the run's train.log)."""

    def __init__(self, stream: Any, file: Any) -> None:
        self.stream, self.file = stream, file

    def write(self, text: str) -> int:
        self.stream.write(text)
        self.file.write(text)
        return len(text)

    def flush(self) -> None:
        self.stream.flush()
        self.file.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()

    def fileno(self) -> int:
        return self.stream.fileno()


@contextlib.contextmanager
def _train_log(run_dir: str) -> Iterator[None]:
    """What the run prints (progress, summary, warnings) goes to the screen and to <run folder>/train.log."""
    if launched_rank() != 0 or isinstance(sys.stdout, _Tee):
        yield
        return
    os.makedirs(run_dir, exist_ok=True)
    with open(os.path.join(run_dir, "train.log"), "a", encoding="utf-8", buffering=1) as log:
        out, err = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = _Tee(out, log), _Tee(err, log)
        try:
            yield
        finally:
            sys.stdout, sys.stderr = out, err


def _say_how_progress_comes(config: AlgorithmConfig) -> None:
    """One line before the first iteration: how many env steps it takes, and a warm-up of random actions."""
    algorithm = config.algorithm
    warmup = getattr(algorithm, "learning_starts", 0) or 0
    line = (f"rlhydra: progress after each iteration of {algorithm.train_batch_size:,} env steps, at most every "
            f"{config.reporting.print_interval_s:g}s (reporting.print_interval_s)")
    if warmup:
        line += f"; the first {warmup:,} env steps take random actions (algorithm.learning_starts)"
    print(line, flush=True)


def _stop_reason(config: AlgorithmConfig, result: Dict[str, Any]) -> str:
    target = config.evaluation.stop_at_return
    value = result.get(EVAL_RETURN)
    if target is not None and value is not None and value >= target:
        return f"eval return {value:.2f} reached evaluation.stop_at_return={target}"
    return f"total_steps={config.total_steps:,} reached"


class StoppedAtOnce(Exception):
    """A second Ctrl-C/SIGTERM stopped training without finishing its iteration (or one came before it began)."""

    def __init__(self, algo: Optional[Algorithm]) -> None:
        super().__init__("stopped at once")
        self.signal_name = "SIGINT"
        self.checkpoint = algo.last_checkpoint if algo is not None else None
        self.iteration = algo.iteration if algo is not None else 0
        self.env_steps = algo.env_steps if algo is not None else 0


def stop_summary(exc: Union[TrainingInterrupted, StoppedAtOnce], run_dir: str, elapsed: float,
                 sweep_dir: Optional[str] = None) -> str:
    """The calm end of a run stopped by a signal: why, where, what was kept and the command that continues it (in a
    multirun: the same command into the same sweep folder)."""
    if not isinstance(exc, StoppedAtOnce):
        why = f"stopped by {exc.signal_name}"
    elif exc.iteration or exc.env_steps:
        why = "stopped at once by a second signal"
    else:
        why = "stopped by a signal before training began"
    lines = [f"rlhydra: {why} after {elapsed:.1f}s: iteration {exc.iteration}, {exc.env_steps:,} env steps",
             f"  run folder: {run_dir}"]
    if exc.checkpoint and os.path.isdir(exc.checkpoint):
        lines.append(f"  checkpoint: {exc.checkpoint}")
        if sweep_dir:
            lines.append(f"  continue:   the same multirun command with hydra.sweep.dir={sweep_dir} (finished jobs "
                         "are skipped, this one resumes)")
        else:
            lines.append(f"  continue:   {command_name()} resume={exc.checkpoint}")
    else:
        lines.append("  checkpoint: none written (checkpointing.save_final=true saves one on a stop, "
                     "checkpointing.interval=N every N iterations)")
    return "\n".join(lines)


def _apply_tuned(cfg: DictConfig, job: JobContext) -> Optional[str]:
    """The tuned file for the run's algorithm and env id, applied to `cfg` (see rlhydra/config/tuned.py); a resumed
    run keeps its checkpoint's values."""
    runtime = HydraConfig.get().runtime
    dirs = run_tuned_dirs(runtime)
    if dirs is None or cfg.get("resume"):
        return None
    path = apply_tuned(cfg, job.overrides, runtime.choices.keys(), dirs)
    if path and path.startswith(CONF_DIR + os.sep):  # rlhydra's own: rlhydra/conf/tuned/<file>
        path = os.path.relpath(path, os.path.dirname(os.path.dirname(CONF_DIR)))
    return path


def env_failed(exc: Union[EnvStepError, EnvRunnerError], algo: Optional[Algorithm], config: AlgorithmConfig,
               error_log: str) -> EnvFailedError:
    """The end of a run whose env failed for good: its traceback appended to `error_log`, and a short message
    naming the env, what it raised, where, why it was not recovered and the last good checkpoint."""
    round_or_runner = "evaluation round" if exc.phase == "evaluation" else "runner"
    if algo is None:
        when = "while the env runners started"
    elif exc.phase == "evaluation":
        when = f"in the evaluation after iteration {algo.iteration} ({algo.env_steps:,} env steps done)"
    else:
        when = f"while sampling iteration {algo.iteration + 1} ({algo.env_steps:,} env steps done)"
    if isinstance(exc, EnvRunnerError):
        when += f", in {exc.worker}"
    if exc.step is not None:
        when += f", after {exc.step:,} env steps of its {round_or_runner}"
    what = f"{exc.exc_type}: {exc.exc_message}" if exc.exc_type else exc.reason
    headline = f"env '{exc.env_id or config.env.id}' failed {when}: {what}"
    if isinstance(exc, EnvRunnerError):
        why = f"{exc.worker} {exc.reason}"
    elif exc.phase == "evaluation":
        why = ("evaluation.restart_failed=false (true retries a failed evaluation round on new envs, then skips it "
               "and counts it in eval/failed_rounds)")
    else:
        why = (f"env_runners.num_env_runners={config.env_runners.num_env_runners} runs the envs in this process, "
               "where a failed env cannot be restarted; with env_runners.num_env_runners>=1 a failed runner process "
               "is restarted (env_runners.restart_failed)")
    checkpoint = algo.last_checkpoint if algo is not None and algo.last_checkpoint else config.resume
    if checkpoint and os.path.isdir(checkpoint):
        kept = f"last good checkpoint: {checkpoint} (continue: {command_name()} resume={checkpoint})"
    else:
        kept = "no checkpoint was written before the failure (checkpointing.interval=N saves every N iterations)"
    logged = log_env_failure(error_log, f"training stopped: {headline}\nnot recovered: {why}", exc)
    message = (f"rlhydra: training stopped: {headline}\n  not recovered: {why}\n  traceback: {logged}\n  {kept}")
    return EnvFailedError(message, headline)
