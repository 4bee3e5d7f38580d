"""The actor-critic RLModule of on-policy algorithms: an encoder picked from the observation space (models/catalog.py)
feeding separate MLP policy and value heads; Discrete, MultiDiscrete or Box actions; action masking."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

import gymnasium as gym
import torch
from torch import Tensor, nn

from rlhydra.data import columns as C
from rlhydra.models.apis import ValueFunctionAPI
from rlhydra.models.catalog import action_head_dim, build_encoder, mask_logits, split_action_mask
from rlhydra.models.rl_module import Batch, TorchRLModule
from rlhydra.models.mlp import mlp


class ActorCriticModule(TorchRLModule, ValueFunctionAPI):
    """Actor-critic MLP heads on one encoder; Box actions use a state-independent log-std.

    Flat vector observations have a parameter-free encoder, so the policy and value MLPs are fully separate (as
    before the catalog). Images and other encoders with weights are shared by both heads, as SB3's CnnPolicy shares
    its features extractor. With an `action_mask` observation key, illegal actions' logits are masked in every
    forward pass, so sampling, greedy actions, log-probs, entropy and the loss see only legal actions.
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
        self.log_std = None if self.discrete else nn.Parameter(torch.full((out_dim,), float(log_std_init)))

    def _dist_inputs(self, features: Tensor, mask: Optional[Tensor]) -> Tensor:
        out = self.pi(features)
        if self.discrete:
            return mask_logits(out, mask)
        return torch.cat([out, self.log_std.expand_as(out)], dim=-1)

    def forward_inference(self, batch: Batch) -> Batch:
        obs, mask = split_action_mask(batch[C.OBS])
        return {C.ACTION_DIST_INPUTS: self._dist_inputs(self.encoder(obs), mask)}

    def forward_exploration(self, batch: Batch) -> Batch:
        return self.forward_inference(batch)

    def forward_train(self, batch: Batch) -> Batch:
        obs, mask = split_action_mask(batch[C.OBS])
        features = self.encoder(obs)
        return {C.ACTION_DIST_INPUTS: self._dist_inputs(features, mask), C.VF_PREDS: self.vf(features).squeeze(-1)}

    def compute_values(self, obs: Any) -> Tensor:
        """V(obs), used by the GAE learner connector."""
        return self.vf(self.encoder(split_action_mask(obs)[0])).squeeze(-1)
