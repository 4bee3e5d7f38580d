"""The command-line door: a composed Hydra config in, a trained, evaluated and checkpointed run out."""
from __future__ import annotations

import functools
import math
import os
import time
from typing import Any, Dict

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from rlhydra.config.resume import resume_config
from rlhydra.config.validate import check_hydra_config
from rlhydra.core.algorithm import EVAL_RETURN, Algorithm
from rlhydra.core.distributed import is_distributed, launch, launched_rank, learn_on_rank
from rlhydra.loggers import build_loggers, check_logger_overrides
from rlhydra.sweep_summary import JobContext, job_context, write_job_result


def main(cfg: DictConfig) -> float:
    """Validate, build, learn, report; returns the final evaluation return (what sweepers optimise).

    Each run also writes result.json (overrides, final return, env steps, time) for the multirun summary.
    """
    run_dir = HydraConfig.get().runtime.output_dir
    job = job_context()
    start = time.perf_counter()
    try:
        result = _train(cfg, run_dir, job)
    except Exception as exc:
        if launched_rank() != 0:
            raise
        write_job_result(run_dir, job, status="failed", error=f"{type(exc).__name__}: {exc}",
                         time_s=round(time.perf_counter() - start, 2))
        raise
    final = float(result.get(EVAL_RETURN, math.nan))
    if launched_rank() != 0:  # under torchrun/SLURM every rank runs this; rank 0 reports
        return final
    elapsed = time.perf_counter() - start
    write_job_result(run_dir, job, status="ok", final_return=final, env_steps=int(result.get("env_steps", 0)),
                     time_s=round(elapsed, 2), checkpoint=result.get("checkpoint"))
    print(
        f"done in {elapsed:.1f}s: {result.get('env_steps', 0):,} env steps, "
        f"final eval return {final:.2f}\n"
        f"  run folder: {run_dir}\n"
        f"  metrics:    {os.path.join(run_dir, 'metrics.jsonl')}\n"
        f"  checkpoint: {result.get('checkpoint', '(none)')}",
        flush=True,
    )
    return final


def _train(cfg: DictConfig, run_dir: str, job: JobContext) -> Dict[str, Any]:
    check_logger_overrides(job.overrides)
    config = check_hydra_config(cfg)  # every user error surfaces here, before any env or worker starts
    if config.resume:
        config = resume_config(cfg, job.overrides, HydraConfig.get().runtime.choices.keys())
    if launched_rank() == 0:
        print(f"rlhydra: {config.algorithm.name} on {config.env.id}, seed {config.seed}, "
              f"{config.total_steps:,} env steps -> {run_dir}", flush=True)
    if is_distributed(config.learner):  # one process per learner device; rank 0 logs and checkpoints
        factory = functools.partial(build_loggers, run_name=job.override_dirname or None, group=job.sweep_name)
        return launch(config, learn_on_rank, config, run_dir, factory)
    algo = Algorithm.from_checkpoint(config.resume, config) if config.resume else config.build()
    if config.resume:
        print(f"rlhydra: resumed {config.resume} at iteration {algo.iteration} ({algo.env_steps:,} env steps)",
              flush=True)
    try:
        loggers = build_loggers(config, run_dir, run_name=job.override_dirname or None, group=job.sweep_name)
        try:
            return algo.learn(loggers=loggers, checkpoint_dir=os.path.join(run_dir, "checkpoints"),
                              video_dir=os.path.join(run_dir, "videos"))
        finally:
            for logger in loggers:
                logger.close()
    finally:
        algo.stop()
