"""SAC's losses and update: clipped double-Q critic, reparameterised actor, entropy temperature, polyak targets."""
from __future__ import annotations

import math
from typing import Any, Dict, List

import torch
from torch import nn

from rlhydra.data import columns as C
from rlhydra.core.learner import Learner
from rlhydra.models.apis import SquashedGaussianActorAPI
from rlhydra.models.target_networks import frozen, pair_parameters, polyak_update


class SACLearner(Learner):
    """One gradient step per `update(batch)`: critics, then actor, then alpha, then targets.

    The entropy temperature log(alpha) is the learner's own parameter (as in SB3 and RLlib), not the module's.
    """

    def __init__(self, config, module: SquashedGaussianActorAPI, fabric=None) -> None:
        super().__init__(config, module, fabric)
        hp = config.algorithm
        act_dim = module.action_space.shape[0]
        self.target_entropy = float(-act_dim if hp.target_entropy is None else hp.target_entropy)
        self.dist_cls = module.action_dist_cls()
        self.critic_params = list(module.critic_parameters())
        self.online_params, self.target_params = pair_parameters(module.target_network_pairs())

    def configure_optimizers(self, module: SquashedGaussianActorAPI) -> List[torch.optim.Optimizer]:
        hp = self.config.algorithm
        self.log_alpha = nn.Parameter(torch.full((), math.log(hp.initial_alpha), device=self.fabric.device))
        return [self.adam(module.actor_parameters(), hp.lr), self.adam(module.critic_parameters(), hp.lr),
                self.adam([self.log_alpha], hp.lr)]

    def update(self, batch: Dict[str, torch.Tensor], progress: float) -> Dict[str, torch.Tensor]:
        hp = self.config.algorithm
        m = self.raw_module
        actor_opt, critic_opt, alpha_opt = self.optimizers
        obs, actions, next_obs = batch[C.OBS], batch[C.ACTIONS], batch[C.NEXT_OBS]
        alpha = self.log_alpha.detach().exp()

        with torch.no_grad():
            next_inputs = m.forward_train({C.OBS: next_obs})[C.ACTION_DIST_INPUTS]
            next_actions, next_logp = self.dist_cls.from_inputs(next_inputs).rsample_and_logp()
            q1_next, q2_next = m.compute_target_q_values(next_obs, next_actions)
            soft_value = torch.min(q1_next, q2_next) - alpha * next_logp
            target = batch[C.REWARDS] + batch[C.DISCOUNTS] * (1.0 - batch[C.TERMINATED]) * soft_value
        q1, q2 = m.compute_q_values(obs, actions)
        td1, td2 = q1 - target, q2 - target
        critic_loss = 0.5 * (batch[C.WEIGHTS] * (td1.pow(2) + td2.pow(2))).mean()
        self.backward_step(critic_loss, critic_opt, hp.grad_clip)

        with frozen(self.critic_params):  # the actor loss needs Q's gradient w.r.t. actions, not w.r.t. Q's weights
            dist_inputs = self.module({C.OBS: obs})[C.ACTION_DIST_INPUTS]
            new_actions, logp = self.dist_cls.from_inputs(dist_inputs).rsample_and_logp()
            q1_pi, q2_pi = m.compute_q_values(obs, new_actions)
            actor_loss = (alpha * logp - torch.min(q1_pi, q2_pi)).mean()
            self.backward_step(actor_loss, actor_opt, hp.grad_clip)

        if hp.autotune_alpha:
            alpha_loss = -(self.log_alpha * (logp.detach() + self.target_entropy)).mean()
            self.backward_step(alpha_loss, alpha_opt)

        self.num_updates += 1
        if self.num_updates % hp.target_update_interval == 0:
            polyak_update(self.target_params, self.online_params, hp.tau)
        return {
            "critic_loss": critic_loss.detach(), "actor_loss": actor_loss.detach(), "alpha": alpha,
            "q_mean": q1.detach().mean(), "entropy": -logp.detach().mean(),
            C.TD_ERRORS: 0.5 * (td1.detach().abs() + td2.detach().abs()),
        }

    def get_state(self) -> Dict[str, Any]:
        return {**super().get_state(), "log_alpha": self.log_alpha.detach().cpu().clone()}

    def set_state(self, state: Dict[str, Any]) -> None:
        super().set_state(state)
        with torch.no_grad():
            self.log_alpha.copy_(state["log_alpha"])
