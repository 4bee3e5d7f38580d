"""DQN's default RLModule: a Q network (optionally dueling), its target copy, and epsilon-greedy acting."""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import gymnasium as gym
import torch
from torch import Tensor, nn

from rlhydra.data import columns as C
from rlhydra.models.apis import QNetworkAPI
from rlhydra.models.rl_module import Batch, TorchRLModule
from rlhydra.models.target_networks import target_copy
from rlhydra.models.mlp import activation_class, flat_dim, mlp

class QNetwork(nn.Module):
    """MLP Q-values; with `dueling`, Q = V + A - mean(A) from two heads on a shared trunk."""

    def __init__(self, obs_dim: int, num_actions: int, hidden_sizes: Sequence[int], activation: str,
                 dueling: bool) -> None:
        super().__init__()
        self.dueling = dueling
        if not dueling:
            self.net = mlp(obs_dim, hidden_sizes, num_actions, activation, ortho_init=False)
            return
        *trunk, last = hidden_sizes
        self.net = nn.Sequential(mlp(obs_dim, trunk, last, activation, ortho_init=False) if trunk
                                 else nn.Linear(obs_dim, last), activation_class(activation)())
        self.value = nn.Linear(last, 1)
        self.advantage = nn.Linear(last, num_actions)

    def forward(self, obs: Tensor) -> Tensor:
        x = self.net(obs)
        if not self.dueling:
            return x
        adv = self.advantage(x)
        return self.value(x) + adv - adv.mean(dim=-1, keepdim=True)


class DQNModule(TorchRLModule, QNetworkAPI):
    """Greedy actions for inference, epsilon-greedy for exploration (epsilon is state, synced with the weights)."""

    def __init__(
        self,
        observation_space: gym.Space,
        action_space: gym.Space,
        *,
        hidden_sizes: Sequence[int] = (64, 64),
        activation: str = "relu",
        dueling: bool = False,
    ) -> None:
        super().__init__(observation_space, action_space)
        self.num_actions = int(action_space.n)
        self.q = QNetwork(flat_dim(observation_space), self.num_actions, hidden_sizes, activation, dueling)
        self.q_target = target_copy(self.q)
        self.register_buffer("epsilon", torch.tensor(1.0))

    def forward_inference(self, batch: Batch) -> Batch:
        return {C.ACTIONS: self.q(batch[C.OBS]).argmax(dim=-1)}

    def forward_exploration(self, batch: Batch) -> Batch:
        obs = batch[C.OBS]
        greedy = self.q(obs).argmax(dim=-1)
        random = torch.randint(0, self.num_actions, greedy.shape, device=obs.device)
        explore = torch.rand(greedy.shape, device=obs.device) < self.epsilon
        return {C.ACTIONS: torch.where(explore, random, greedy)}

    def forward_train(self, batch: Batch) -> Batch:
        return {C.Q_VALUES: self.q(batch[C.OBS])}

    def compute_q_values(self, obs: Tensor) -> Tensor:
        return self.q(obs)

    def compute_target_q_values(self, obs: Tensor) -> Tensor:
        return self.q_target(obs)

    def set_epsilon(self, epsilon: float) -> None:
        self.epsilon.fill_(epsilon)

    def target_network_pairs(self) -> List[Tuple[nn.Module, nn.Module]]:
        return [(self.q, self.q_target)]

    @classmethod
    def check_spaces(cls, observation_space: gym.Space, action_space: gym.Space) -> Optional[str]:
        problem = super().check_spaces(observation_space, action_space)
        if problem is None and not isinstance(action_space, gym.spaces.Discrete):
            return f"{cls.__name__} needs Discrete actions, not {action_space}"
        return problem
