"""A user RLModule for PPO: one shared hidden layer with policy and value heads (Discrete actions)."""
from __future__ import annotations

from typing import Optional

import gymnasium as gym
import torch
from torch import Tensor, nn

from rlhydra import TorchRLModule
from rlhydra.data.columns import ACTION_DIST_INPUTS, OBS, VF_PREDS
from rlhydra.models.rl_module import Batch


class TinyActorCritic(TorchRLModule):
    """Shared tanh layer of `hidden` units; logits head and value head."""

    def __init__(self, observation_space: gym.Space, action_space: gym.Space, *, hidden: int = 32) -> None:
        super().__init__(observation_space, action_space)
        in_dim = int(torch.tensor(observation_space.shape).prod())
        self.trunk = nn.Sequential(nn.Linear(in_dim, hidden), nn.Tanh())
        self.pi = nn.Linear(hidden, int(action_space.n))
        self.vf = nn.Linear(hidden, 1)

    @classmethod
    def check_spaces(cls, observation_space: gym.Space, action_space: gym.Space) -> Optional[str]:
        if not isinstance(action_space, gym.spaces.Discrete):
            return f"TinyActorCritic takes Discrete actions, not {action_space}"
        if not isinstance(observation_space, gym.spaces.Box):
            return f"TinyActorCritic takes Box observations, not {observation_space}"
        return None

    def forward_inference(self, batch: Batch) -> Batch:
        return {ACTION_DIST_INPUTS: self.pi(self.trunk(batch[OBS]))}

    def forward_exploration(self, batch: Batch) -> Batch:
        return self.forward_inference(batch)

    def forward_train(self, batch: Batch) -> Batch:
        h = self.trunk(batch[OBS])
        return {ACTION_DIST_INPUTS: self.pi(h), VF_PREDS: self.vf(h).squeeze(-1)}

    def compute_values(self, obs: Tensor) -> Tensor:
        """V(obs), used by PPO's GAE learner connector."""
        return self.vf(self.trunk(obs)).squeeze(-1)
