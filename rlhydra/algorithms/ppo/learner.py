"""PPO's loss: clipped surrogate, optional value clipping, entropy bonus; the update loop is OnPolicyLearner's."""
from __future__ import annotations

from typing import Dict, Tuple

import torch

from rlhydra.data import columns as C
from rlhydra.core.learner import scheduled_value
from rlhydra.core.on_policy import OnPolicyLearner


class PPOLearner(OnPolicyLearner):
    """PPO's clipped-surrogate loss on the shared GAE and minibatch-epoch update; the clip range can decay."""

    LOSS_STATS = ("policy_loss", "vf_loss", "entropy", "approx_kl", "clip_fraction")

    def scheduled(self, progress: float) -> Dict[str, float]:
        hp = self.config.algorithm
        clip = scheduled_value(hp.clip_param, hp.clip_schedule, self.env_steps, progress)
        return {"clip_param": max(clip, 1e-8)}

    def loss(self, mb: Dict[str, torch.Tensor], clip: float) -> Tuple[torch.Tensor, torch.Tensor]:
        """PPO loss of one minibatch and its (policy, value, entropy, kl, clip-fraction) stats as one tensor."""
        hp = self.config.algorithm
        out, mb = self.train_forward(mb)
        dist = self.dist_cls.from_inputs(out[C.ACTION_DIST_INPUTS])
        logp = dist.logp(mb[C.ACTIONS])
        log_ratio = logp - mb[C.ACTION_LOGP]
        ratio = log_ratio.exp()
        adv = mb[C.ADVANTAGES]
        if hp.normalize_advantages and adv.numel() > 1:
            adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        policy_loss = -torch.min(ratio * adv, ratio.clamp(1.0 - clip, 1.0 + clip) * adv).mean()

        values, targets = out[C.VF_PREDS], mb[C.VALUE_TARGETS]
        vf_loss = (values - targets).pow(2)
        if hp.vf_clip_param is not None:
            old = mb[C.VF_PREDS]
            clipped = old + (values - old).clamp(-hp.vf_clip_param, hp.vf_clip_param)
            vf_loss = torch.max(vf_loss, (clipped - targets).pow(2))
        vf_loss = vf_loss.mean()
        entropy = dist.entropy().mean()
        loss = policy_loss + hp.vf_coeff * vf_loss - hp.entropy_coeff * entropy
        with torch.no_grad():
            approx_kl = ((ratio - 1.0) - log_ratio).mean()
            clip_fraction = ((ratio - 1.0).abs() > clip).float().mean()
            stats = torch.stack([policy_loss, vf_loss, entropy, approx_kl, clip_fraction]).detach()
        return loss, stats
