"""The actor-critic RLModule of on-policy algorithms: separate MLP policy and value networks, Discrete or Box actions."""
from __future__ import annotations

from typing import Sequence

import gymnasium as gym
import torch
from torch import Tensor, nn

from rlhydra.data import columns as C
from rlhydra.models.apis import ValueFunctionAPI
from rlhydra.models.rl_module import Batch, TorchRLModule
from rlhydra.models.mlp import flat_dim, mlp


class ActorCriticModule(TorchRLModule, ValueFunctionAPI):
    """Actor-critic MLP; Box actions use a state-independent log-std."""

    def __init__(
        self,
        observation_space: gym.Space,
        action_space: gym.Space,
        *,
        hidden_sizes: Sequence[int] = (64, 64),
        activation: str = "tanh",
        log_std_init: float = 0.0,
        ortho_init: bool = True,
    ) -> None:
        super().__init__(observation_space, action_space)
        in_dim = flat_dim(observation_space)
        self.discrete = isinstance(action_space, gym.spaces.Discrete)
        out_dim = int(action_space.n) if self.discrete else int(action_space.shape[0])
        self.pi = mlp(in_dim, hidden_sizes, out_dim, activation, out_gain=0.01, ortho_init=ortho_init)
        self.vf = mlp(in_dim, hidden_sizes, 1, activation, out_gain=1.0, ortho_init=ortho_init)
        self.log_std = None if self.discrete else nn.Parameter(torch.full((out_dim,), float(log_std_init)))

    def _dist_inputs(self, obs: Tensor) -> Tensor:
        out = self.pi(obs)
        if self.discrete:
            return out
        return torch.cat([out, self.log_std.expand_as(out)], dim=-1)

    def forward_inference(self, batch: Batch) -> Batch:
        return {C.ACTION_DIST_INPUTS: self._dist_inputs(batch[C.OBS])}

    def forward_exploration(self, batch: Batch) -> Batch:
        return {C.ACTION_DIST_INPUTS: self._dist_inputs(batch[C.OBS])}

    def forward_train(self, batch: Batch) -> Batch:
        obs = batch[C.OBS]
        return {C.ACTION_DIST_INPUTS: self._dist_inputs(obs), C.VF_PREDS: self.vf(obs).squeeze(-1)}

    def compute_values(self, obs: Tensor) -> Tensor:
        """V(obs), used by the GAE learner connector."""
        return self.vf(obs).squeeze(-1)
