"""The actor-critic RLModule of on-policy algorithms: an encoder picked from the observation space (models/catalog.py)
feeding separate MLP policy and value heads; Discrete, MultiDiscrete or Box actions (optionally with gSDE
exploration); action masking."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import gymnasium as gym
import torch
from torch import Tensor, nn

from rlhydra.config.schema import ConfigError
from rlhydra.data import columns as C
from rlhydra.models.apis import ValueFunctionAPI
from rlhydra.models.catalog import action_head_dim, build_encoder, mask_logits, split_action_mask
from rlhydra.models.distributions import DiagGaussian, sde_log_std, sde_noise_matrices, sde_std
from rlhydra.models.rl_module import Batch, TorchRLModule
from rlhydra.models.mlp import mlp


class ActorCriticModule(TorchRLModule, ValueFunctionAPI):
    """Actor-critic MLP heads on one encoder; Box actions use a state-independent log-std, or gSDE.

    Flat vector observations have a parameter-free encoder, so the policy and value MLPs are fully separate (as
    before the catalog). Images and other encoders with weights are shared by both heads, as SB3's CnnPolicy shares
    its features extractor. With an `action_mask` observation key, illegal actions' logits are masked in every
    forward pass, so sampling, greedy actions, log-probs, entropy and the loss see only legal actions.

    gSDE (`use_sde`, Box actions; SB3's StateDependentNoiseDistribution): an exploring action is
    mean + latent @ noise, `latent` the policy MLP's last hidden layer and `noise` a matrix per env, drawn from
    N(0, std^2) (`log_std` is [latent, actions], or [latent, 1] without `full_std`) at each rollout's first step
    and then every `sde_sample_freq` steps. Log-probs and entropies are those of the actions' distribution given
    the state, the diagonal Gaussian N(mean, latent^2 @ std^2). It does not depend on the noise drawn, so the
    learner's log-prob of a stored action equals the runner's under the same weights (PPO's ratio starts at 1).
    """

    def __init__(
        self,
        observation_space: gym.Space,
        action_space: gym.Space,
        *,
        hidden_sizes: Sequence[int] = (64, 64),
        activation: str = "tanh",
        log_std_init: float = 0.0,
        ortho_init: bool = True,
        use_sde: bool = False,  # gSDE exploration (Box actions): state-dependent noise, a matrix per env, redrawn every sde_sample_freq steps (SB3's use_sde)
        sde_sample_freq: int = -1,  # gSDE: new noise matrices every this many steps of a rollout; -1: only at each rollout's start
        full_std: bool = True,  # gSDE: a log std per (latent feature, action) pair; false: one per latent feature
        use_expln: bool = False,  # gSDE: the noise std is log1p(log_std) + 1 above log_std 0 (slow growth), exp(log_std) below
        conv_filters: Optional[List[List[Any]]] = None,  # images: [[out_channels, kernel, stride], ...]; null: by size
        conv_activation: str = "relu",  # activation of the image encoder's layers
        encoder: Optional[Dict[str, Any]] = None,  # {_target_: pkg.MyEncoder, ...}: replaces the whole encoder
        encoders: Optional[Dict[str, Dict[str, Any]]] = None,  # {<Dict key>: {_target_: ...}}: one entry's encoder
    ) -> None:
        super().__init__(observation_space, action_space)
        self.encoder = build_encoder(observation_space, conv_filters=conv_filters, conv_activation=conv_activation,
                                     encoder=encoder, encoders=encoders, ortho_init=ortho_init)
        in_dim = self.encoder.out_dim
        self.discrete = isinstance(action_space, (gym.spaces.Discrete, gym.spaces.MultiDiscrete))
        out_dim = action_head_dim(action_space)
        self.pi = mlp(in_dim, hidden_sizes, out_dim, activation, out_gain=0.01, ortho_init=ortho_init)
        self.vf = mlp(in_dim, hidden_sizes, 1, activation, out_gain=1.0, ortho_init=ortho_init)
        if use_sde and self.discrete:
            raise ConfigError(f"module.use_sde=true: gSDE explores in continuous (Box) actions, not {action_space}")
        if sde_sample_freq == 0 or sde_sample_freq < -1:
            raise ConfigError(f"module.sde_sample_freq={sde_sample_freq}: use a number of steps >= 1, or -1 for "
                              "new noise only at each rollout's start")
        self.use_sde, self.sde_sample_freq, self.use_expln = bool(use_sde), int(sde_sample_freq), bool(use_expln)
        if self.discrete:
            self.log_std = None
        elif self.use_sde:
            latent_dim = self.pi[-1].in_features
            self.log_std = nn.Parameter(torch.full((latent_dim, out_dim if full_std else 1), float(log_std_init)))
            # one noise matrix per env; empty: drawn at the next exploring step (see reset_noise)
            self.register_buffer("sde_noise", torch.zeros(0, latent_dim, out_dim), persistent=False)
            self.sde_step = 0  # exploring steps since reset_noise
        else:
            self.log_std = nn.Parameter(torch.full((out_dim,), float(log_std_init)))

    def _dist_inputs(self, features: Tensor, mask: Optional[Tensor]) -> Tensor:
        if self.use_sde:
            return torch.cat(self._sde_gaussian(features)[:2], dim=-1)
        out = self.pi(features)
        if self.discrete:
            return mask_logits(out, mask)
        return torch.cat([out, self.log_std.expand_as(out)], dim=-1)

    def noise_std(self) -> Tensor:
        """gSDE: the std of each noise-matrix entry, [latent, actions]."""
        return sde_std(self.log_std, use_expln=self.use_expln).expand(self.pi[-1].in_features,
                                                                      self.pi[-1].out_features)

    def _sde_gaussian(self, features: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """(mean, per-sample log std, latent): the policy MLP's output and its last hidden layer."""
        latent = self.pi[:-1](features)
        return self.pi[-1](latent), sde_log_std(latent, self.noise_std()), latent

    def reset_noise(self) -> None:
        """gSDE: new noise matrices at the next exploring step (the env runner calls this before each rollout)."""
        if self.use_sde:
            self.sde_noise, self.sde_step = self.sde_noise[:0], 0

    @torch.no_grad()
    def _held_noise(self, num_envs: int) -> Tensor:
        """The noise matrices of this exploring step: redrawn after reset_noise (or for another env count) and
        every sde_sample_freq steps."""
        due = self.sde_sample_freq > 0 and self.sde_step % self.sde_sample_freq == 0
        if due or len(self.sde_noise) != num_envs:
            self.sde_noise = sde_noise_matrices(self.noise_std(), (num_envs,))
        self.sde_step += 1
        return self.sde_noise

    def forward_inference(self, batch: Batch) -> Batch:
        obs, mask = split_action_mask(batch[C.OBS])
        return {C.ACTION_DIST_INPUTS: self._dist_inputs(self.encoder(obs), mask)}

    def forward_exploration(self, batch: Batch) -> Batch:
        if not self.use_sde:
            return self.forward_inference(batch)
        obs, _ = split_action_mask(batch[C.OBS])
        mean, log_std, latent = self._sde_gaussian(self.encoder(obs))
        noise = self._held_noise(len(latent))
        actions = mean + torch.bmm(latent.detach().unsqueeze(1), noise).squeeze(1)
        return {C.ACTION_DIST_INPUTS: torch.cat([mean, log_std], dim=-1), C.ACTIONS: actions,
                C.ACTION_LOGP: DiagGaussian(mean, log_std).logp(actions)}

    def forward_train(self, batch: Batch) -> Batch:
        obs, mask = split_action_mask(batch[C.OBS])
        features = self.encoder(obs)
        return {C.ACTION_DIST_INPUTS: self._dist_inputs(features, mask), C.VF_PREDS: self.vf(features).squeeze(-1)}

    def compute_values(self, obs: Any) -> Tensor:
        """V(obs), used by the GAE learner connector."""
        return self.vf(self.encoder(split_action_mask(obs)[0])).squeeze(-1)
