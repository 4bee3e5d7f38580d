"""A2C's loss and optimizer: policy gradient with advantages, value regression, entropy bonus; RMSprop by default."""
from __future__ import annotations

from typing import Dict, List, Tuple

import torch

from rlhydra.data import columns as C
from rlhydra.core.on_policy import OnPolicyLearner
from rlhydra.models.rl_module import TorchRLModule


class A2CLearner(OnPolicyLearner):
    """A2C's loss on the shared GAE update (by default one step on the whole rollout, advantages as they come)."""

    LOSS_STATS = ("policy_loss", "vf_loss", "entropy")

    def configure_optimizers(self, module: TorchRLModule) -> List[torch.optim.Optimizer]:
        hp = self.config.algorithm
        if not hp.use_rms_prop:
            return super().configure_optimizers(module)
        return [torch.optim.RMSprop(module.parameters(), lr=hp.lr, alpha=hp.rms_prop_alpha, eps=hp.rms_prop_eps)]

    def loss(self, mb: Dict[str, torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor]:
        """A2C loss of one minibatch and its (policy, value, entropy) stats as one tensor."""
        hp = self.config.algorithm
        out, mb = self.train_forward(mb)
        dist = self.dist_cls.from_inputs(out[C.ACTION_DIST_INPUTS])
        adv = mb[C.ADVANTAGES]
        if hp.normalize_advantages and adv.numel() > 1:
            adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        policy_loss = -(dist.logp(mb[C.ACTIONS]) * adv).mean()
        vf_loss = (out[C.VF_PREDS] - mb[C.VALUE_TARGETS]).pow(2).mean()
        entropy = dist.entropy().mean()
        loss = policy_loss + hp.vf_coeff * vf_loss - hp.entropy_coeff * entropy
        return loss, torch.stack([policy_loss, vf_loss, entropy]).detach()
