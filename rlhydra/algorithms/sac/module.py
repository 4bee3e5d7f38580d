"""SAC's default RLModule: a tanh-squashed Gaussian actor, twin Q critics and their targets."""
from __future__ import annotations

import copy
from typing import Optional, Sequence, Tuple

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor, nn

from rlhydra.core import columns as C
from rlhydra.core.rl_module import Batch, TorchRLModule
from rlhydra.models.distributions import SquashedGaussian
from rlhydra.models.mlp import flat_dim, mlp


class TwinQ(nn.Module):
    """Two independent Q(obs, action) MLPs."""

    def __init__(self, obs_dim: int, act_dim: int, hidden_sizes: Sequence[int], activation: str) -> None:
        super().__init__()
        self.q1 = mlp(obs_dim + act_dim, hidden_sizes, 1, activation, ortho_init=False)
        self.q2 = mlp(obs_dim + act_dim, hidden_sizes, 1, activation, ortho_init=False)

    def forward(self, obs: Tensor, actions: Tensor) -> Tuple[Tensor, Tensor]:
        x = torch.cat([obs, actions], dim=-1)
        return self.q1(x).squeeze(-1), self.q2(x).squeeze(-1)


class SACModule(TorchRLModule):
    """Actor outputs [mean, log_std] of a Gaussian squashed by tanh into [-1, 1]; actions are rescaled for the env."""

    def __init__(
        self,
        observation_space: gym.Space,
        action_space: gym.Space,
        *,
        hidden_sizes: Sequence[int] = (256, 256),
        activation: str = "relu",
        log_std_min: float = -20.0,
        log_std_max: float = 2.0,
    ) -> None:
        super().__init__(observation_space, action_space)
        obs_dim, act_dim = flat_dim(observation_space), int(action_space.shape[0])
        self.actor = mlp(obs_dim, hidden_sizes, 2 * act_dim, activation, ortho_init=False)
        self.critic = TwinQ(obs_dim, act_dim, hidden_sizes, activation)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.log_alpha = nn.Parameter(torch.zeros(()))
        self.log_std_min, self.log_std_max = log_std_min, log_std_max

    def action_dist_cls(self) -> type:
        return SquashedGaussian

    def dist_inputs(self, obs: Tensor) -> Tensor:
        mean, log_std = self.actor(obs).chunk(2, dim=-1)
        return torch.cat([mean, log_std.clamp(self.log_std_min, self.log_std_max)], dim=-1)

    def forward_inference(self, batch: Batch) -> Batch:
        return {C.ACTION_DIST_INPUTS: self.dist_inputs(batch[C.OBS])}

    def forward_exploration(self, batch: Batch) -> Batch:
        return {C.ACTION_DIST_INPUTS: self.dist_inputs(batch[C.OBS])}

    def forward_train(self, batch: Batch) -> Batch:
        return {C.ACTION_DIST_INPUTS: self.dist_inputs(batch[C.OBS])}

    @classmethod
    def check_spaces(cls, observation_space: gym.Space, action_space: gym.Space) -> Optional[str]:
        problem = super().check_spaces(observation_space, action_space)
        if problem is None and not isinstance(action_space, gym.spaces.Box):
            return f"{cls.__name__} needs continuous (Box) actions, not {action_space}"
        bounded = problem is None and np.isfinite(action_space.low).all() and np.isfinite(action_space.high).all()
        if problem is None and not bounded:
            return f"{cls.__name__} needs bounded Box actions to rescale tanh outputs, got {action_space}"
        return problem
