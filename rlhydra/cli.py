"""The command-line door: a composed Hydra config in, a trained, evaluated and checkpointed run out."""
from __future__ import annotations

import math
import os
import time

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from rlhydra.config.validate import check_hydra_config
from rlhydra.core.algorithm import EVAL_RETURN
from rlhydra.loggers import build_loggers


def main(cfg: DictConfig) -> float:
    """Validate, build, learn, report; returns the final evaluation return (what sweepers optimise)."""
    config = check_hydra_config(cfg)  # every user error surfaces here, before any env or worker starts
    run_dir = HydraConfig.get().runtime.output_dir
    print(f"rlhydra: {config.algorithm.name} on {config.env.id}, seed {config.seed}, "
          f"{config.total_steps:,} env steps -> {run_dir}", flush=True)
    start = time.perf_counter()
    algo = config.build()
    loggers = build_loggers(config, run_dir)
    try:
        result = algo.learn(loggers=loggers, checkpoint_dir=os.path.join(run_dir, "checkpoints"))
    finally:
        algo.stop()
        for logger in loggers:
            logger.close()
    final = result.get(EVAL_RETURN, math.nan)
    print(
        f"done in {time.perf_counter() - start:.1f}s: {result.get('env_steps', 0):,} env steps, "
        f"final eval return {final:.2f}\n"
        f"  run folder: {run_dir}\n"
        f"  metrics:    {os.path.join(run_dir, 'metrics.jsonl')}\n"
        f"  checkpoint: {result.get('checkpoint', '(none)')}",
        flush=True,
    )
    return float(final)
