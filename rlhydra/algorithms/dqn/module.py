"""DQN's default RLModule: an encoder and Q network (optionally dueling), their target copy, epsilon-greedy acting
and action masking."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import gymnasium as gym
import torch
from torch import Tensor, nn

from rlhydra.data import columns as C
from rlhydra.models.apis import QNetworkAPI
from rlhydra.models.rl_module import Batch, TorchRLModule
from rlhydra.models.catalog import build_encoder, legal_actions, mask_logits, split_action_mask
from rlhydra.models.target_networks import target_copy
from rlhydra.models.mlp import activation_class, mlp

class QNetwork(nn.Module):
    """MLP Q-values on the encoder's features; with `dueling`, Q = V + A - mean(A) from two heads on a shared trunk."""

    def __init__(self, obs_dim: int, num_actions: int, hidden_sizes: Sequence[int], activation: str,
                 dueling: bool, encoder: Optional[nn.Module] = None) -> None:
        super().__init__()
        self.dueling = dueling
        self.encoder = nn.Identity() if encoder is None else encoder  # obs tree -> [B, obs_dim]
        if not dueling:
            self.net = mlp(obs_dim, hidden_sizes, num_actions, activation, ortho_init=False)
            return
        *trunk, last = hidden_sizes
        self.net = nn.Sequential(mlp(obs_dim, trunk, last, activation, ortho_init=False) if trunk
                                 else nn.Linear(obs_dim, last), activation_class(activation)())
        self.value = nn.Linear(last, 1)
        self.advantage = nn.Linear(last, num_actions)

    def forward(self, obs: Any) -> Tensor:
        x = self.net(self.encoder(obs))
        if not self.dueling:
            return x
        adv = self.advantage(x)
        return self.value(x) + adv - adv.mean(dim=-1, keepdim=True)


class DQNModule(TorchRLModule, QNetworkAPI):
    """Greedy actions for inference, epsilon-greedy for exploration (epsilon is state, synced with the weights).

    With an `action_mask` observation key, greedy actions and the Q-values the learner bootstraps from
    (`compute_q_values`, `compute_target_q_values`) cover legal actions only, and random actions are uniform over the
    legal ones; `forward_train` keeps every Q-value, so the taken action's is always its own estimate.
    """

    def __init__(
        self,
        observation_space: gym.Space,
        action_space: gym.Space,
        *,
        hidden_sizes: Sequence[int] = (64, 64),
        activation: str = "relu",
        dueling: bool = False,
        conv_filters: Optional[List[List[Any]]] = None,  # images: [[out_channels, kernel, stride], ...]; null: by size
        conv_activation: str = "relu",  # activation of the image encoder's layers
        encoder: Optional[Dict[str, Any]] = None,  # {_target_: pkg.MyEncoder, ...}: replaces the whole encoder
        encoders: Optional[Dict[str, Dict[str, Any]]] = None,  # {<Dict key>: {_target_: ...}}: one entry's encoder
    ) -> None:
        super().__init__(observation_space, action_space)
        self.num_actions = int(action_space.n)
        features = build_encoder(observation_space, conv_filters=conv_filters, conv_activation=conv_activation,
                                 encoder=encoder, encoders=encoders)
        self.q = QNetwork(features.out_dim, self.num_actions, hidden_sizes, activation, dueling, encoder=features)
        self.q_target = target_copy(self.q)
        self.register_buffer("epsilon", torch.tensor(1.0))

    def forward_inference(self, batch: Batch) -> Batch:
        return {C.ACTIONS: self.compute_q_values(batch[C.OBS]).argmax(dim=-1)}

    def forward_exploration(self, batch: Batch) -> Batch:
        obs, mask = split_action_mask(batch[C.OBS])
        greedy = mask_logits(self.q(obs), mask).argmax(dim=-1)
        if mask is None:
            random = torch.randint(0, self.num_actions, greedy.shape, device=greedy.device)
        else:  # the argmax of iid uniforms over the legal actions is uniform over them
            random = torch.rand(mask.shape, device=greedy.device).masked_fill(~legal_actions(mask), -1.0).argmax(-1)
        explore = torch.rand(greedy.shape, device=greedy.device) < self.epsilon
        return {C.ACTIONS: torch.where(explore, random, greedy)}

    def forward_train(self, batch: Batch) -> Batch:
        return {C.Q_VALUES: self.q(split_action_mask(batch[C.OBS])[0])}

    def compute_q_values(self, obs: Any) -> Tensor:
        obs, mask = split_action_mask(obs)
        return mask_logits(self.q(obs), mask)

    def compute_target_q_values(self, obs: Any) -> Tensor:
        obs, mask = split_action_mask(obs)
        return mask_logits(self.q_target(obs), mask)

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
