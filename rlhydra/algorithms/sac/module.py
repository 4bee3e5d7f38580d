"""SAC's default RLModule: a tanh-squashed Gaussian actor, twin Q critics and their targets, the actor and the
critics each on an encoder of their own (models/catalog.py)."""
from __future__ import annotations

import itertools
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import gymnasium as gym
import torch
from torch import Tensor, nn

from rlhydra.data import columns as C
from rlhydra.models.apis import SquashedGaussianActorAPI
from rlhydra.models.rl_module import Batch, TorchRLModule, bounded_box_problem
from rlhydra.models.catalog import build_encoder
from rlhydra.models.target_networks import target_copy
from rlhydra.models.distributions import SquashedGaussian, sde_log_std, sde_noise_matrices
from rlhydra.models.mlp import activation_class, mlp
from rlhydra.models.q_networks import TwinQ


class SDEActor(nn.Module):
    """gSDE actor (Raffin et al., 2022): exploration noise is `latent @ noise`, with the matrix `noise` drawn from
    N(0, exp(log_std)^2) by `reset_noise()`, so between draws it is a smooth function of the state (consistent
    pushes rather than per-step jitter). Its distribution: mean mu(latent) clipped to [-clip_mean, clip_mean] (0: not
    clipped), std sqrt(latent^2 @ exp(log_std)^2), which trains the latent features too (as SB3's SAC)."""

    def __init__(self, obs_dim: int, act_dim: int, hidden_sizes: Sequence[int], activation: str,
                 log_std_init: float, clip_mean: float = 2.0) -> None:
        super().__init__()
        self.clip_mean = float(clip_mean)
        *trunk, latent_dim = hidden_sizes
        self.latent = nn.Sequential(mlp(obs_dim, trunk, latent_dim, activation, ortho_init=False),
                                    activation_class(activation)())
        self.mu = nn.Linear(latent_dim, act_dim)
        self.log_std = nn.Parameter(torch.full((latent_dim, act_dim), float(log_std_init)))
        self.register_buffer("noise", torch.zeros(latent_dim, act_dim), persistent=False)

    def forward(self, obs: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """(mean, per-sample log std, latent features)."""
        latent = self.latent(obs)
        mean = self.mu(latent)
        if self.clip_mean > 0:  # a bounded pre-tanh mean: no drift into tanh's flat tails
            mean = mean.clamp(-self.clip_mean, self.clip_mean)
        return mean, sde_log_std(latent, self.log_std.exp(), learn_features=True), latent

    @torch.no_grad()
    def reset_noise(self) -> None:
        self.noise.copy_(sde_noise_matrices(self.log_std.exp()))


class SACModule(TorchRLModule, SquashedGaussianActorAPI):
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
        use_sde: bool = False,
        log_std_init: float = -3.0,
        clip_mean: float = 2.0,  # gSDE: the Gaussian's mean is clipped to [-clip_mean, clip_mean] (SB3's); 0: not
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
        self.use_sde = use_sde  # gSDE exploration: noise redrawn once per sampling round (SB3's sde_sample_freq=-1)
        self.actor: nn.Module = (
            SDEActor(obs_dim, act_dim, hidden_sizes, activation, log_std_init, clip_mean) if use_sde
            else mlp(obs_dim, hidden_sizes, 2 * act_dim, activation, ortho_init=False))
        self.critic = TwinQ(obs_dim, act_dim, hidden_sizes, activation,
                            encoder=build_encoder(observation_space, **encoder_kwargs))
        self.critic_target = target_copy(self.critic)
        self.log_std_min, self.log_std_max = log_std_min, log_std_max

    def action_dist_cls(self) -> type:
        return SquashedGaussian

    def dist_inputs(self, obs: Any) -> Tensor:
        features = self.actor_encoder(obs)
        if self.use_sde:
            mean, log_std, _ = self.actor(features)
        else:
            mean, log_std = self.actor(features).chunk(2, dim=-1)
        return torch.cat([mean, log_std.clamp(self.log_std_min, self.log_std_max)], dim=-1)

    def forward_inference(self, batch: Batch) -> Batch:
        return {C.ACTION_DIST_INPUTS: self.dist_inputs(batch[C.OBS])}

    def forward_exploration(self, batch: Batch) -> Batch:
        if not self.use_sde:
            return {C.ACTION_DIST_INPUTS: self.dist_inputs(batch[C.OBS])}
        mean, _, latent = self.actor(self.actor_encoder(batch[C.OBS]))
        return {C.ACTIONS: torch.tanh(mean + latent @ self.actor.noise)}

    def reset_noise(self) -> None:
        """Draw new gSDE exploration noise (the env runner calls this before each sampling round)."""
        if self.use_sde:
            self.actor.reset_noise()

    def forward_train(self, batch: Batch) -> Batch:
        return {C.ACTION_DIST_INPUTS: self.dist_inputs(batch[C.OBS])}

    def compute_q_values(self, obs: Any, actions: Tensor) -> Tuple[Tensor, Tensor]:
        return self.critic(obs, actions)

    def compute_target_q_values(self, obs: Any, actions: Tensor) -> Tuple[Tensor, Tensor]:
        return self.critic_target(obs, actions)

    def actor_parameters(self) -> Iterable[nn.Parameter]:
        return itertools.chain(self.actor_encoder.parameters(), self.actor.parameters())

    def critic_parameters(self) -> Iterable[nn.Parameter]:
        return self.critic.parameters()

    def target_network_pairs(self) -> List[Tuple[nn.Module, nn.Module]]:
        return [(self.critic, self.critic_target)]

    @classmethod
    def check_spaces(cls, observation_space: gym.Space, action_space: gym.Space) -> Optional[str]:
        return super().check_spaces(observation_space, action_space) or bounded_box_problem(cls.__name__, action_space)
