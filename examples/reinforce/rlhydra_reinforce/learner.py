"""The loss: -log pi(a|s) * (G - V(s)) for the policy, (V(s) - G)^2 for the baseline; one step per batch."""
from __future__ import annotations

from typing import Dict, List

import torch

from rlhydra.core.learner import Learner
from rlhydra.data import columns as C
from rlhydra.models.apis import ValueFunctionAPI


class ReinforceLearner(Learner):
    """One gradient step on the whole batch, whose ADVANTAGES are G - V(s) and VALUE_TARGETS are G."""

    def __init__(self, config, module: ValueFunctionAPI, fabric=None) -> None:
        super().__init__(config, module, fabric)
        self.dist_cls = module.action_dist_cls()

    def configure_optimizers(self, module: ValueFunctionAPI) -> List[torch.optim.Optimizer]:
        return [self.adam(module.parameters(), self.config.algorithm.lr)]

    def update(self, batch: Dict[str, torch.Tensor], progress: float) -> Dict[str, torch.Tensor]:
        hp = self.config.algorithm
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
