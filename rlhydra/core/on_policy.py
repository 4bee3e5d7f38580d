"""The on-policy loop, once for PPO, A2C and friends: roll out train_batch_size steps, update on them, sync weights.

OnPolicyAlgorithm samples and turns the rollout into the learner's batch with its learner connector (value
predictions, GAE, flatten, to device); OnPolicyLearner runs `num_epochs` passes of minibatch gradient steps on the
algorithm's `loss()` over that batch.
"""
from __future__ import annotations

import abc
import math
import time
from typing import Any, Dict, List, Tuple

import torch

from rlhydra.config.algorithm_config import AlgorithmConfig
from rlhydra.connectors.learner import AddValuePredictions, FlattenTime, GeneralAdvantageEstimation, ToDevice
from rlhydra.connectors.pipeline import ConnectorPipeline
from rlhydra.data import columns as C
from rlhydra.data import tree
from rlhydra.core.algorithm import Algorithm
from rlhydra.core.learner import Learner
from rlhydra.data.rollout import Rollout
from rlhydra.models.apis import ValueFunctionAPI
from rlhydra.models.rl_module import TorchRLModule

TRAIN_COLUMNS = (C.OBS, C.ACTIONS, C.ACTION_LOGP, C.ADVANTAGES, C.VALUE_TARGETS, C.VF_PREDS)


class OnPolicyAlgorithm(Algorithm):
    """One iteration: a rollout of train_batch_size env steps, the learner connector on it, the learner's update on
    the resulting batch, then the weight sync."""

    def __init__(self, config: AlgorithmConfig, fabric: Any = None) -> None:
        super().__init__(config, fabric)
        # train_batch_size is global: split over every env of every runner of every learner rank
        num_envs = config.env_runners.num_envs_per_env_runner * max(1, config.env_runners.num_env_runners)
        self.rollout_length = max(1, math.ceil(config.algorithm.train_batch_size / (num_envs * self.world_size)))
        self.learner_connector = self.build_learner_connector()

    def build_learner_connector(self) -> ConnectorPipeline:
        """Rollout -> learner batch: V(obs) and V(next obs), GAE with the config's gamma and gae_lambda, [T, N] ->
        [T * N], tensors on the learner's device."""
        hp = self.config.algorithm
        return ConnectorPipeline([
            AddValuePredictions(self.learner.raw_module), GeneralAdvantageEstimation(hp.gamma, hp.gae_lambda),
            FlattenTime(), ToDevice(self.learner.device),
        ])

    def learner_batch(self, rollout: Rollout) -> Dict[str, torch.Tensor]:
        """The batch `learner.update` takes: the learner connector applied to the rollout's columns."""
        return self.learner_connector(dict(rollout.data))

    def training_step(self) -> Dict[str, Any]:
        start = time.perf_counter()
        rollout = self.sample(self.rollout_length)
        sampled = time.perf_counter()
        metrics = self.learner.update(self.learner_batch(rollout), self.progress)
        self.sync_weights()
        metrics["perf/sample_time_s"] = sampled - start
        metrics["perf/learn_time_s"] = time.perf_counter() - sampled
        return metrics


class OnPolicyLearner(Learner):
    """`num_epochs` passes of minibatch steps on `loss()` over a batch with advantages; metrics leave the device once.

    Subclasses give `loss()` and its `LOSS_STATS`; `scheduled()` adds values that follow a schedule (besides lr).
    """

    LOSS_STATS: Tuple[str, ...] = ()  # names of the stats loss() returns, in their order

    def __init__(self, config: AlgorithmConfig, module: ValueFunctionAPI, fabric: Any = None) -> None:
        super().__init__(config, module, fabric)
        self.dist_cls = module.action_dist_cls()
        # grad_norm is measured by the clipping; without clipping there is none to report (rather than a false 0)
        self.stat_names = (*self.LOSS_STATS, *(("grad_norm",) if config.algorithm.grad_clip is not None else ()))

    def configure_optimizers(self, module: TorchRLModule) -> List[torch.optim.Optimizer]:
        hp = self.config.algorithm
        return [self.adam(module.parameters(), hp.lr, hp.adam_eps)]

    @abc.abstractmethod
    def loss(self, mb: Dict[str, torch.Tensor], *scheduled: float) -> Tuple[torch.Tensor, torch.Tensor]:
        """The loss of one minibatch and its LOSS_STATS as one detached tensor; `scheduled` as from scheduled()."""

    def scheduled(self, progress: float) -> Dict[str, float]:
        """This update's scheduled loss arguments by name (given to loss() in order, reported as learner/<name>)."""
        return {}

    def update(self, batch: Dict[str, torch.Tensor], progress: float) -> Dict[str, float]:
        hp = self.config.algorithm
        batch = {k: batch[k] for k in TRAIN_COLUMNS}
        lr = self.scheduled_lr(progress)
        scheduled = self.scheduled(progress)
        args = tuple(scheduled.values())
        optimizer = self.optimizers[0]
        for group in optimizer.param_groups:
            group["lr"] = lr

        size = batch[C.ADVANTAGES].shape[0]
        mb = size if hp.minibatch_size is None else min(max(1, hp.minibatch_size // self.fabric.world_size), size)
        stats = torch.zeros(len(self.stat_names), device=self.device)
        steps = 0
        for _ in range(hp.num_epochs):
            perm = torch.randperm(size, device=self.device) if mb < size else None  # one minibatch: no shuffle needed
            for start in range(0, size, mb):
                minibatch = batch if perm is None else {k: tree.index(v, perm[start : start + mb])
                                                        for k, v in batch.items()}
                loss, step_stats = self.loss(minibatch, *args)
                grad_norm = self.backward_step(loss, optimizer, hp.grad_clip)
                if grad_norm is not None:
                    step_stats = torch.cat([step_stats, grad_norm.reshape(1).to(step_stats.dtype)])
                stats += step_stats
                steps += 1
        self.num_updates += steps

        values = (stats / steps).tolist()  # the one host sync of the update
        metrics = {f"learner/{name}": v for name, v in zip(self.stat_names, values)}
        metrics["learner/lr"] = lr
        metrics.update({f"learner/{name}": v for name, v in scheduled.items()})
        metrics["learner/explained_variance"] = explained_variance(batch[C.VF_PREDS], batch[C.VALUE_TARGETS])
        return metrics


def explained_variance(pred: torch.Tensor, target: torch.Tensor) -> float:
    """1 - Var[target - pred] / Var[target]: how much of the return variance the value function explains."""
    var = target.var()
    return float("nan") if var == 0 else float(1.0 - (target - pred).var() / var)
