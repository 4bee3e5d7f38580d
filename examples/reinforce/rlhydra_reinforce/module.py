"""The default RLModule: an MLP policy and an MLP state-value baseline."""
from __future__ import annotations

from typing import Sequence

import gymnasium as gym
import torch
from torch import Tensor, nn

from rlhydra.data import columns as C
from rlhydra.models.apis import ValueFunctionAPI
from rlhydra.models.rl_module import Batch, TorchRLModule
from rlhydra.models.mlp import flat_dim, mlp


class ActorCritic(TorchRLModule, ValueFunctionAPI):
    """Policy logits (Discrete) or Gaussian means with a learned log-std (Box), and V(obs)."""

    def __init__(self, observation_space: gym.Space, action_space: gym.Space, *,
                 hidden_sizes: Sequence[int] = (64, 64), activation: str = "tanh") -> None:
        super().__init__(observation_space, action_space)
        in_dim = flat_dim(observation_space)
        self.discrete = isinstance(action_space, gym.spaces.Discrete)
        out_dim = int(action_space.n) if self.discrete else int(action_space.shape[0])
        self.pi = mlp(in_dim, hidden_sizes, out_dim, activation, out_gain=0.01)
        self.vf = mlp(in_dim, hidden_sizes, 1, activation)
        self.log_std = None if self.discrete else nn.Parameter(torch.zeros(out_dim))

    def _dist_inputs(self, obs: Tensor) -> Tensor:
        out = self.pi(obs)
        return out if self.discrete else torch.cat([out, self.log_std.expand_as(out)], dim=-1)

    def forward_inference(self, batch: Batch) -> Batch:
        return {C.ACTION_DIST_INPUTS: self._dist_inputs(batch[C.OBS])}

    def forward_exploration(self, batch: Batch) -> Batch:
        return {C.ACTION_DIST_INPUTS: self._dist_inputs(batch[C.OBS])}

    def forward_train(self, batch: Batch) -> Batch:
        return {C.ACTION_DIST_INPUTS: self._dist_inputs(batch[C.OBS]), C.VF_PREDS: self.compute_values(batch[C.OBS])}

    def compute_values(self, obs: Tensor) -> Tensor:
        """V(obs): the baseline (the learner connector AddValuePredictions calls it)."""
        return self.vf(obs).squeeze(-1)
