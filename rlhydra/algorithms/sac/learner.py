"""SAC's losses and update: clipped double-Q critic, reparameterised actor, entropy temperature, polyak targets."""
from __future__ import annotations

import math
from typing import Dict, List

import torch

from rlhydra.data import columns as C
from rlhydra.core.learner import Learner
from rlhydra.models.rl_module import TorchRLModule
from rlhydra.models.target_networks import frozen, polyak_update
from rlhydra.models.distributions import SquashedGaussian


class SACLearner(Learner):
    """One gradient step per `update(batch)`: critics, then actor, then alpha, then targets."""

    def __init__(self, config, module: TorchRLModule, fabric=None) -> None:
        super().__init__(config, module, fabric)
        hp = config.algorithm
        with torch.no_grad():
            self.raw_module.log_alpha.fill_(math.log(hp.initial_alpha))
        act_dim = module.action_space.shape[0]
        self.target_entropy = float(-act_dim if hp.target_entropy is None else hp.target_entropy)
        self.critic_params = list(self.raw_module.critic.parameters())
        self.target_params = list(self.raw_module.critic_target.parameters())

    def configure_optimizers(self, module: TorchRLModule) -> List[torch.optim.Optimizer]:
        lr = self.config.algorithm.lr
        return [self.adam(module.actor.parameters(), lr), self.adam(module.critic.parameters(), lr),
                self.adam([module.log_alpha], lr)]

    def update(self, batch: Dict[str, torch.Tensor], progress: float) -> Dict[str, torch.Tensor]:
        hp = self.config.algorithm
        m = self.raw_module
        actor_opt, critic_opt, alpha_opt = self.optimizers
        obs, actions, next_obs = batch[C.OBS], batch[C.ACTIONS], batch[C.NEXT_OBS]
        alpha = m.log_alpha.detach().exp()

        with torch.no_grad():
            next_actions, next_logp = SquashedGaussian.from_inputs(m.dist_inputs(next_obs)).rsample_and_logp()
            q1_next, q2_next = m.critic_target(next_obs, next_actions)
            soft_value = torch.min(q1_next, q2_next) - alpha * next_logp
            target = batch[C.REWARDS] + batch["discounts"] * (1.0 - batch[C.TERMINATED]) * soft_value
        q1, q2 = m.critic(obs, actions)
        td1, td2 = q1 - target, q2 - target
        critic_loss = 0.5 * (batch["weights"] * (td1.pow(2) + td2.pow(2))).mean()
        self.backward_step(critic_loss, critic_opt, hp.grad_clip)

        with frozen(self.critic_params):  # the actor loss needs Q's gradient w.r.t. actions, not w.r.t. Q's weights
            dist_inputs = self.module({C.OBS: obs})[C.ACTION_DIST_INPUTS]
            new_actions, logp = SquashedGaussian.from_inputs(dist_inputs).rsample_and_logp()
            q1_pi, q2_pi = m.critic(obs, new_actions)
            actor_loss = (alpha * logp - torch.min(q1_pi, q2_pi)).mean()
            self.backward_step(actor_loss, actor_opt, hp.grad_clip)

        if hp.autotune_alpha:
            alpha_loss = -(m.log_alpha * (logp.detach() + self.target_entropy)).mean()
            self.backward_step(alpha_loss, alpha_opt)

        self.num_updates += 1
        if self.num_updates % hp.target_update_interval == 0:
            polyak_update(self.target_params, self.critic_params, hp.tau)
        return {
            "critic_loss": critic_loss.detach(), "actor_loss": actor_loss.detach(), "alpha": alpha,
            "q_mean": q1.detach().mean(), "entropy": -logp.detach().mean(),
            "td_errors": 0.5 * (td1.detach().abs() + td2.detach().abs()),
        }
