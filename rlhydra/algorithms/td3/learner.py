"""TD3's losses and update: clipped double-Q critics on smoothed target actions, delayed actor and polyak targets."""
from __future__ import annotations

from typing import Any, Dict, List

import torch

from rlhydra.data import columns as C
from rlhydra.core.learner import Learner
from rlhydra.models.apis import DeterministicActorAPI
from rlhydra.models.target_networks import frozen, pair_parameters, polyak_update


class TD3Learner(Learner):
    """One critic step per `update(batch)`; every `policy_delay`-th one also steps the actor and moves the targets."""

    def __init__(self, config, module: DeterministicActorAPI, fabric=None) -> None:
        super().__init__(config, module, fabric)
        self.critic_params = list(module.critic_parameters())
        self.online_params, self.target_params = pair_parameters(module.target_network_pairs())
        self.last_actor_loss = torch.zeros((), device=self.device)  # reported between actor steps

    def configure_optimizers(self, module: DeterministicActorAPI) -> List[torch.optim.Optimizer]:
        lr = self.config.algorithm.lr
        return [self.adam(module.actor_parameters(), lr), self.adam(module.critic_parameters(), lr)]

    def get_state(self) -> Dict[str, Any]:
        """The base state plus the actor loss reported until the next actor step (a resumed run reports it too)."""
        return {**super().get_state(), "last_actor_loss": self.last_actor_loss.item()}

    def set_state(self, state: Dict[str, Any]) -> None:
        super().set_state(state)
        self.last_actor_loss = torch.tensor(state.get("last_actor_loss", 0.0), device=self.device)

    def update(self, batch: Dict[str, torch.Tensor], progress: float) -> Dict[str, torch.Tensor]:
        hp = self.config.algorithm
        m = self.raw_module
        actor_opt, critic_opt = self.optimizers
        obs, next_obs = batch[C.OBS], batch[C.NEXT_OBS]

        with torch.no_grad():
            next_actions = m.compute_target_actions(next_obs)
            smoothing = (torch.randn_like(next_actions) * hp.target_policy_noise).clamp(
                -hp.target_noise_clip, hp.target_noise_clip)
            q1_next, q2_next = m.compute_target_q_values(next_obs, (next_actions + smoothing).clamp(-1.0, 1.0))
            target = batch[C.REWARDS] + batch[C.DISCOUNTS] * (1.0 - batch[C.TERMINATED]) * torch.min(q1_next, q2_next)
        q1, q2 = m.compute_q_values(obs, batch[C.ACTIONS])
        td1, td2 = q1 - target, q2 - target
        critic_loss = (batch[C.WEIGHTS] * (td1.pow(2) + td2.pow(2))).mean()
        self.backward_step(critic_loss, critic_opt, hp.grad_clip)

        self.num_updates += 1
        if self.num_updates % hp.policy_delay == 0:
            with frozen(self.critic_params):  # the actor loss needs Q's gradient w.r.t. actions only
                actor_loss = -m.compute_actor_q_values(obs, self.module({C.OBS: obs})[C.ACTIONS]).mean()
                self.backward_step(actor_loss, actor_opt, hp.grad_clip)
            polyak_update(self.target_params, self.online_params, hp.tau)
            self.last_actor_loss = actor_loss.detach()
        return {
            "critic_loss": critic_loss.detach(), "actor_loss": self.last_actor_loss, "q_mean": q1.detach().mean(),
            C.TD_ERRORS: 0.5 * (td1.detach().abs() + td2.detach().abs()),
        }
