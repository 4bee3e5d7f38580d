"""The loss: -log pi(a|s) * (G - V(s)) for the policy, (V(s) - G)^2 for the baseline; one step per batch."""
from __future__ import annotations

from typing import Dict, List

import torch

from rlhydra.connectors.learner import AddValuePredictions, FlattenTime, GeneralAdvantageEstimation, ToDevice
from rlhydra.connectors.pipeline import ConnectorPipeline
from rlhydra.data import columns as C
from rlhydra.core.learner import Learner
from rlhydra.models.rl_module import TorchRLModule
from rlhydra.data.rollout import Rollout


class ReinforceLearner(Learner):
    """Returns G from the rollout (lambda=1: Monte Carlo, bootstrapped with V only where the rollout cuts an
    episode), advantages G - V(s), then one gradient step on the whole batch."""

    def __init__(self, config, module: TorchRLModule, fabric=None) -> None:
        super().__init__(config, module, fabric)
        self.connector = ConnectorPipeline([
            AddValuePredictions(module), GeneralAdvantageEstimation(config.algorithm.gamma, 1.0),
            FlattenTime(), ToDevice(self.device),
        ])
        self.dist_cls = module.action_dist_cls()

    def configure_optimizers(self, module: TorchRLModule) -> List[torch.optim.Optimizer]:
        return [self.adam(module.parameters(), self.config.algorithm.lr)]

    def update(self, rollout: Rollout, progress: float) -> Dict[str, torch.Tensor]:
        hp = self.config.algorithm
        batch = self.connector(dict(rollout.data))
        out = self.module(batch)
        dist = self.dist_cls.from_inputs(out[C.ACTION_DIST_INPUTS])
        adv = batch[C.ADVANTAGES]
        if hp.normalize_advantages and adv.numel() > 1:
            adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        policy_loss = -(dist.logp(batch[C.ACTIONS]) * adv).mean()
        vf_loss = (out[C.VF_PREDS] - batch[C.VALUE_TARGETS]).pow(2).mean()
        entropy = dist.entropy().mean()
        self.backward_step(policy_loss + hp.vf_coeff * vf_loss - hp.entropy_coeff * entropy,
                           self.optimizers[0], hp.grad_clip)
        self.num_updates += 1
        return {"learner/policy_loss": policy_loss.detach(), "learner/vf_loss": vf_loss.detach(),
                "learner/entropy": entropy.detach()}
