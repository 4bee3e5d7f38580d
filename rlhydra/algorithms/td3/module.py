"""TD3's default RLModule: a deterministic tanh actor, twin Q critics, and target copies of both, the actor and the
critics each on an encoder of their own (models/catalog.py)."""
from __future__ import annotations

import itertools
from typing import Any, Dict, Iterable, List, Literal, Optional, Sequence, Tuple

import gymnasium as gym
import torch
from torch import Tensor, nn

from rlhydra.data import columns as C
from rlhydra.models.action_noise import ActionNoise, OrnsteinUhlenbeckNoise
from rlhydra.models.apis import DeterministicActorAPI
from rlhydra.models.rl_module import Batch, TorchRLModule, bounded_box_problem
from rlhydra.models.catalog import build_encoder
from rlhydra.models.target_networks import target_copy
from rlhydra.models.mlp import mlp
from rlhydra.models.q_networks import TwinQ


class TD3Module(TorchRLModule, DeterministicActorAPI):
    """Actions tanh(actor(obs)) in [-1, 1], rescaled for the env; exploring adds noise to them, clipped to [-1, 1].

    `exploration_noise_type=normal`: iid Gaussian noise, drawn in `forward_exploration`. `ornstein_uhlenbeck`: a
    per-env OU process (SB3's), which the env runner holds (`make_action_noise`) and restarts at each episode start;
    `forward_exploration` is then greedy, so calls that follow no episodes (compute_actions, predict) act without
    noise, as SB3's predict does.
    """

    def __init__(
        self,
        observation_space: gym.Space,
        action_space: gym.Space,
        *,
        hidden_sizes: Sequence[int] = (256, 256),
        activation: str = "relu",
        exploration_noise: float = 0.1,
        exploration_noise_type: Literal["normal", "ornstein_uhlenbeck"] = "normal",
        conv_filters: Optional[List[List[Any]]] = None,  # images: [[out_channels, kernel, stride], ...]; null: by size
        conv_activation: str = "relu",  # activation of the image encoder's layers
        encoder: Optional[Dict[str, Any]] = None,  # {_target_: pkg.MyEncoder, ...}: replaces the whole encoder
        encoders: Optional[Dict[str, Dict[str, Any]]] = None,  # {<Dict key>: {_target_: ...}}: one entry's encoder
    ) -> None:
        super().__init__(observation_space, action_space)
        encoder_kwargs = dict(conv_filters=conv_filters, conv_activation=conv_activation, encoder=encoder,
                              encoders=encoders)
        self.actor_encoder = build_encoder(observation_space, **encoder_kwargs)
        obs_dim, act_dim = self.actor_encoder.out_dim, int(action_space.shape[0])
        self.actor = mlp(obs_dim, hidden_sizes, act_dim, activation, ortho_init=False)
        self.actor_encoder_target = target_copy(self.actor_encoder)
        self.actor_target = target_copy(self.actor)
        self.critic = TwinQ(obs_dim, act_dim, hidden_sizes, activation,
                            encoder=build_encoder(observation_space, **encoder_kwargs))
        self.critic_target = target_copy(self.critic)
        self.exploration_noise = exploration_noise  # std (OU: sigma), in units of the [-1, 1] action range
        self.exploration_noise_type = exploration_noise_type

    def policy(self, obs: Any) -> Tensor:
        """The deterministic action in [-1, 1]."""
        return torch.tanh(self.actor(self.actor_encoder(obs)))

    def forward_inference(self, batch: Batch) -> Batch:
        return {C.ACTIONS: self.policy(batch[C.OBS])}

    def forward_exploration(self, batch: Batch) -> Batch:
        actions = self.policy(batch[C.OBS])
        if self.exploration_noise_type == "ornstein_uhlenbeck":
            return {C.ACTIONS: actions}  # the env runner adds the noise (make_action_noise)
        return {C.ACTIONS: (actions + self.exploration_noise * torch.randn_like(actions)).clamp(-1.0, 1.0)}

    def make_action_noise(self, num_envs: int) -> Optional[ActionNoise]:
        if self.exploration_noise_type != "ornstein_uhlenbeck":
            return None
        return OrnsteinUhlenbeckNoise(num_envs, int(self.action_space.shape[0]), self.exploration_noise)

    def forward_train(self, batch: Batch) -> Batch:
        return {C.ACTIONS: self.policy(batch[C.OBS])}

    def compute_target_actions(self, obs: Any) -> Tensor:
        return torch.tanh(self.actor_target(self.actor_encoder_target(obs)))

    def compute_q_values(self, obs: Any, actions: Tensor) -> Tuple[Tensor, Tensor]:
        return self.critic(obs, actions)

    def compute_target_q_values(self, obs: Any, actions: Tensor) -> Tuple[Tensor, Tensor]:
        return self.critic_target(obs, actions)

    def compute_actor_q_values(self, obs: Any, actions: Tensor) -> Tensor:
        return self.critic.q1_only(obs, actions)

    def actor_parameters(self) -> Iterable[nn.Parameter]:
        return itertools.chain(self.actor_encoder.parameters(), self.actor.parameters())

    def critic_parameters(self) -> Iterable[nn.Parameter]:
        return self.critic.parameters()

    def target_network_pairs(self) -> List[Tuple[nn.Module, nn.Module]]:
        return [(self.actor_encoder, self.actor_encoder_target), (self.actor, self.actor_target),
                (self.critic, self.critic_target)]

    @classmethod
    def check_spaces(cls, observation_space: gym.Space, action_space: gym.Space) -> Optional[str]:
        return super().check_spaces(observation_space, action_space) or bounded_box_problem(cls.__name__, action_space)
