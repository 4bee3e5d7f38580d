"""DQN's loss and update: Huber TD loss on (n-step) targets, double Q, target network, epsilon schedule."""
from __future__ import annotations

from typing import Dict, List

import torch
import torch.nn.functional as F

from rlhydra.data import columns as C
from rlhydra.core.learner import Learner
from rlhydra.models.apis import QNetworkAPI
from rlhydra.models.target_networks import pair_parameters, polyak_update


class DQNLearner(Learner):
    """One gradient step per `update(batch)`; the target network follows gradient steps, epsilon env steps."""

    def __init__(self, config, module: QNetworkAPI, fabric=None) -> None:
        super().__init__(config, module, fabric)
        self.on_env_steps(0, 0.0)

    def configure_optimizers(self, module: QNetworkAPI) -> List[torch.optim.Optimizer]:
        self.online_params, self.target_params = pair_parameters(module.target_network_pairs())
        return [self.adam(self.online_params, self.config.algorithm.lr)]

    def epsilon(self, progress: float) -> float:
        """Linear decay from the initial to the final epsilon over `exploration_fraction` of training."""
        hp = self.config.algorithm
        frac = 1.0 if hp.exploration_fraction == 0 else min(1.0, progress / hp.exploration_fraction)
        return hp.exploration_initial_eps + frac * (hp.exploration_final_eps - hp.exploration_initial_eps)

    def on_env_steps(self, env_steps: int, progress: float) -> None:
        self.raw_module.set_epsilon(self.epsilon(progress))

    def update(self, batch: Dict[str, torch.Tensor], progress: float) -> Dict[str, torch.Tensor]:
        hp = self.config.algorithm
        m = self.raw_module
        next_obs = batch[C.NEXT_OBS]
        with torch.no_grad():
            next_q_target = m.compute_target_q_values(next_obs)
            if hp.double_q:
                next_actions = m.compute_q_values(next_obs).argmax(dim=-1, keepdim=True)
                next_q = next_q_target.gather(-1, next_actions).squeeze(-1)
            else:
                next_q = next_q_target.max(dim=-1).values
            target = batch[C.REWARDS] + batch[C.DISCOUNTS] * (1.0 - batch[C.TERMINATED]) * next_q
        q = self.module(batch)[C.Q_VALUES].gather(-1, batch[C.ACTIONS].long().unsqueeze(-1)).squeeze(-1)
        loss = (batch[C.WEIGHTS] * F.smooth_l1_loss(q, target, reduction="none")).mean()
        self.backward_step(loss, self.optimizers[0], hp.grad_clip)
        self.num_updates += 1
        if self.num_updates % hp.target_update_interval == 0:
            polyak_update(self.target_params, self.online_params, hp.tau)
        return {"loss": loss.detach(), "q_mean": q.detach().mean(), "epsilon": self.epsilon(progress),
                C.TD_ERRORS: (q - target).detach()}
