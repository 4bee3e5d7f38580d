"""PPO's loss and update: clipped surrogate, optional value clipping, entropy bonus, minibatch epochs."""
from __future__ import annotations

from typing import Dict, List

import torch

from rlhydra.connectors.learner import AddValuePredictions, FlattenTime, GeneralAdvantageEstimation, ToDevice
from rlhydra.connectors.pipeline import ConnectorPipeline
from rlhydra.core import columns as C
from rlhydra.core.learner import Learner
from rlhydra.core.rl_module import TorchRLModule
from rlhydra.core.rollout import Rollout

TRAIN_COLUMNS = (C.OBS, C.ACTIONS, C.ACTION_LOGP, C.ADVANTAGES, C.VALUE_TARGETS, C.VF_PREDS)
STAT_NAMES = ("policy_loss", "vf_loss", "entropy", "approx_kl", "clip_fraction", "grad_norm")


class PPOLearner(Learner):
    """Runs `num_epochs` passes of minibatch SGD on each iteration's batch; metrics leave the device once."""

    def __init__(self, config, module: TorchRLModule, fabric=None) -> None:
        super().__init__(config, module, fabric)
        hp = config.algorithm
        self.connector = ConnectorPipeline([
            AddValuePredictions(module), GeneralAdvantageEstimation(hp.gamma, hp.gae_lambda),
            FlattenTime(), ToDevice(self.device),
        ])
        self.dist_cls = module.action_dist_cls()

    def configure_optimizers(self, module: TorchRLModule) -> List[torch.optim.Optimizer]:
        hp = self.config.algorithm
        return [self.adam(module.parameters(), hp.lr, hp.adam_eps)]

    def update(self, rollout: Rollout, progress: float) -> Dict[str, float]:
        hp = self.config.algorithm
        batch = self.connector(dict(rollout.data))
        batch = {k: batch[k] for k in TRAIN_COLUMNS}
        lr = hp.lr * (1.0 - progress) if hp.lr_schedule == "linear" else hp.lr
        clip = hp.clip_param * (1.0 - progress) if hp.clip_schedule == "linear" else hp.clip_param
        clip = max(clip, 1e-8)
        optimizer = self.optimizers[0]
        for group in optimizer.param_groups:
            group["lr"] = lr

        size = batch[C.OBS].shape[0]
        mb = min(max(1, hp.minibatch_size // self.fabric.world_size), size)  # minibatch_size is global
        stats = torch.zeros(len(STAT_NAMES), device=self.device)
        steps = 0
        for _ in range(hp.num_epochs):
            perm = torch.randperm(size, device=self.device) if mb < size else None  # one minibatch: no shuffle needed
            for start in range(0, size, mb):
                minibatch = batch if perm is None else {k: v[perm[start : start + mb]] for k, v in batch.items()}
                loss, step_stats = self.loss(minibatch, clip)
                grad_norm = self.backward_step(loss, optimizer, hp.grad_clip)
                if grad_norm is None:
                    grad_norm = torch.zeros((), device=self.device)
                stats += torch.cat([step_stats, grad_norm.reshape(1).to(stats.dtype)])
                steps += 1
        self.num_updates += steps

        values = (stats / steps).tolist()  # the one host sync of the update
        metrics = {f"learner/{name}": v for name, v in zip(STAT_NAMES, values)}
        metrics["learner/lr"] = lr
        metrics["learner/clip_param"] = clip
        metrics["learner/explained_variance"] = explained_variance(batch[C.VF_PREDS], batch[C.VALUE_TARGETS])
        return metrics

    def loss(self, mb: Dict[str, torch.Tensor], clip: float):
        """PPO loss of one minibatch and its (policy, value, entropy, kl, clip-fraction) stats as one tensor."""
        hp = self.config.algorithm
        out = self.module(mb)
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


def explained_variance(pred: torch.Tensor, target: torch.Tensor) -> float:
    """1 - Var[target - pred] / Var[target]: how much of the return variance the value function explains."""
    var = target.var()
    return float("nan") if var == 0 else float(1.0 - (target - pred).var() / var)
