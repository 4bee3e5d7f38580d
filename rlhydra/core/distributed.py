"""Learner processes on Lightning Fabric: one process per device, each running the whole Algorithm (data parallel).

Single node, devices > 1: processes are spawned for a function (`ddp_spawn`), so neither a script nor a Hydra
multirun is re-executed. Several nodes (num_nodes > 1) or strategy=ddp: processes come from the cluster
(torchrun, SLURM) and Fabric's cluster environments; each runs train.py once.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Dict

import torch

from rlhydra.config.algorithm_config import AlgorithmConfig
from rlhydra.config.schema import LearnerConfig


SUMMED_METRICS = ("episodes", "env_runners/num_restarts")  # counts: each rank's own, added up
SAME_ON_EVERY_RANK = ("iteration", "env_steps")  # env_steps already counts every rank's steps


def reduce_metrics(result: Dict[str, Any], all_reduce_sum: Callable[[torch.Tensor], torch.Tensor]) -> Dict[str, Any]:
    """One rank's metrics -> the metrics over all learner ranks, in one collective (`all_reduce_sum` sums a tensor
    over ranks). Counts in SUMMED_METRICS are summed; every other number is the mean over the ranks that report it
    (a rank with no finished episode has no return mean: None or NaN there, and it is left out of that mean)."""
    keys = sorted(k for k, v in result.items()  # sorted: ranks may have met their metrics in different orders
                  if (v is None or isinstance(v, (int, float))) and not isinstance(v, bool) and k not in SAME_ON_EVERY_RANK)
    values = torch.tensor([math.nan if result[k] is None else float(result[k]) for k in keys], dtype=torch.float64)
    present = (~values.isnan()).double()
    totals = all_reduce_sum(torch.stack([values.nan_to_num(), present]))
    reduced = dict(result)
    for key, total, count in zip(keys, totals[0].tolist(), totals[1].tolist()):
        reduced[key] = (int(total) if key in SUMMED_METRICS else total / count) if count else None
    return reduced


def is_distributed(learner: LearnerConfig) -> bool:
    """More than one learner process?"""
    return learner.devices * learner.num_nodes > 1


def launched_rank() -> int:
    """This process's global rank when a cluster launcher (torchrun, SLURM) started it, else 0."""
    import os

    return int(os.environ.get("RANK", os.environ.get("SLURM_PROCID", "0")))


def make_fabric(learner: LearnerConfig, *, spawn: bool = False) -> Any:
    """A Fabric from the `learner` config; `spawn` turns the default DDP into function-spawned processes."""
    from lightning_fabric import Fabric  # imported here: it takes ~1 s and only learners need it

    accelerator = "cuda" if learner.accelerator == "gpu" else learner.accelerator
    strategy = learner.strategy
    if spawn and strategy in ("auto", "ddp"):
        strategy = "ddp_spawn"
    return Fabric(accelerator=accelerator, devices=learner.devices, strategy=strategy,
                  precision=learner.precision, num_nodes=learner.num_nodes)


def launch(config: AlgorithmConfig, function: Callable[..., Any], *args: Any) -> Any:
    """Run `function(fabric, *args)` on every learner rank; returns rank 0's return value."""
    single_node = config.learner.num_nodes == 1 and config.learner.strategy in ("auto", "ddp_spawn")
    fabric = make_fabric(config.learner, spawn=single_node)
    return fabric.launch(function, *args)


def finish_rank(fabric: Any) -> None:
    """Wait for every rank, then tear the process group down, after the caller has dropped its algorithm.

    Order matters with gloo: a DDP reducer freed after destroy_process_group() destroys the group while holding
    the GIL and deadlocks; a group left alive at exit aborts the process. So: free DDP, barrier, destroy.
    """
    import gc

    import torch.distributed as dist

    gc.collect()
    if dist.is_available() and dist.is_initialized():
        fabric.barrier()
        dist.destroy_process_group()


def learn_on_rank(fabric: Any, config: AlgorithmConfig, run_dir: str | None, loggers_factory: Any) -> dict:
    """Build the algorithm on this rank and learn; only rank 0 logs and checkpoints."""
    import os

    algo = config.build(fabric=fabric)
    rank0 = fabric.global_rank == 0
    if config.resume:
        algo.restore(config.resume)
        if rank0:
            print(f"rlhydra: resumed {config.resume} at iteration {algo.iteration} ({algo.env_steps:,} env steps)",
                  flush=True)
    loggers = loggers_factory(config, run_dir) if (rank0 and loggers_factory and run_dir) else []
    try:
        out = (lambda name: os.path.join(run_dir, name)) if (rank0 and run_dir) else (lambda name: None)
        result = algo.learn(loggers=loggers, checkpoint_dir=out("checkpoints"), video_dir=out("videos"),
                            error_log=out("error.log"))
    finally:
        algo.stop()
        for logger in loggers:
            logger.close()
    del algo
    finish_rank(fabric)
    return result
