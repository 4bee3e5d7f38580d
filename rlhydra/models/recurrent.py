"""The recurrent actor-critic RLModule of PPO and A2C (`module.use_lstm=true`): the catalog's encoder of the
observation space (models/catalog.py) -> one LSTM -> pi / vf heads; action masking as the actor-critic's.

One LSTM feeds both heads, as RLlib's `use_lstm` wraps its default model. Stable-Baselines3's RecurrentPPO runs a
second LSTM for the critic by default; one shared LSTM halves the recurrent compute (the costly part on a CPU)
and leaves one state per env to carry, store and checkpoint.

State API (RLlib's): `get_initial_state()` is a dict of [cell] tensors; the acting passes take `STATE_IN` (each
leaf [B, cell]) with the observations [B, ...] and return `STATE_OUT`; `forward_train` takes [B, T, ...]
sequences that start from `STATE_IN` (zero-padded after their last step, see data/sequences.py) and returns
[B, T] outputs: padding follows the real steps, so it never changes them; the losses mask it out.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import gymnasium as gym
import torch
from torch import Tensor, nn

from rlhydra.data import columns as C
from rlhydra.data import tree
from rlhydra.models.apis import ValueFunctionAPI
from rlhydra.models.catalog import action_head_dim, build_encoder, mask_logits, split_action_mask
from rlhydra.models.mlp import mlp
from rlhydra.models.rl_module import Batch, TorchRLModule

State = Dict[str, Tensor]


class RecurrentActorCriticModule(TorchRLModule, ValueFunctionAPI):
    """Observation encoder, one LSTM, separate MLP policy and value heads; Box actions use a state-independent
    log-std."""

    def __init__(
        self,
        observation_space: gym.Space,
        action_space: gym.Space,
        *,
        lstm_cell_size: int = 256,
        max_seq_len: int = 20,
        hidden_sizes: Sequence[int] = (64,),
        activation: str = "tanh",
        log_std_init: float = 0.0,
        ortho_init: bool = True,
        conv_filters: Optional[List[List[Any]]] = None,  # images: [[out_channels, kernel, stride], ...]; null: by size
        conv_activation: str = "relu",  # activation of the image encoder's layers
        encoder: Optional[Dict[str, Any]] = None,  # {_target_: pkg.MyEncoder, ...}: replaces the whole encoder
        encoders: Optional[Dict[str, Dict[str, Any]]] = None,  # {<Dict key>: {_target_: ...}}: one entry's encoder
    ) -> None:
        super().__init__(observation_space, action_space)
        self.lstm_cell_size, self.max_seq_len = int(lstm_cell_size), int(max_seq_len)
        self.encoder = build_encoder(observation_space, conv_filters=conv_filters, conv_activation=conv_activation,
                                     encoder=encoder, encoders=encoders, ortho_init=ortho_init)
        self.lstm = nn.LSTM(self.encoder.out_dim, self.lstm_cell_size, batch_first=True)
        self.discrete = isinstance(action_space, (gym.spaces.Discrete, gym.spaces.MultiDiscrete))
        out_dim = action_head_dim(action_space)
        self.pi = mlp(self.lstm_cell_size, hidden_sizes, out_dim, activation, out_gain=0.01, ortho_init=ortho_init)
        self.vf = mlp(self.lstm_cell_size, hidden_sizes, 1, activation, out_gain=1.0, ortho_init=ortho_init)
        self.log_std = None if self.discrete else nn.Parameter(torch.full((out_dim,), float(log_std_init)))

    def is_stateful(self) -> bool:
        return True

    def get_initial_state(self) -> State:
        """The state an episode starts from: zeros, one [cell] tensor per LSTM state."""
        zeros = torch.zeros(self.lstm_cell_size)
        return {"h": zeros, "c": zeros.clone()}

    def _features(self, obs: Any, state: State) -> Tuple[Tensor, Optional[Tensor], State]:
        """[B, T, ...] observation trees from `state` -> LSTM outputs [B, T, cell], the action mask [B, T, n] (or
        None) and the state after step T."""
        obs, mask = split_action_mask(obs)
        batch, steps = tree.first_leaf(obs).shape[:2]
        encoded = self.encoder(tree.reshape_batch(obs, 2, (batch * steps,))).reshape(batch, steps, -1)
        out, (h, c) = self.lstm(encoded, (state["h"].unsqueeze(0), state["c"].unsqueeze(0)))
        return out, mask, {"h": h.squeeze(0), "c": c.squeeze(0)}

    def _dist_inputs(self, features: Tensor, mask: Optional[Tensor]) -> Tensor:
        out = self.pi(features)
        if self.discrete:
            return mask_logits(out, mask)
        return torch.cat([out, self.log_std.expand_as(out)], dim=-1)

    def _step(self, batch: Batch) -> Batch:
        obs = tree.map_tree(lambda x: x.unsqueeze(1), batch[C.OBS])
        features, mask, state_out = self._features(obs, batch[C.STATE_IN])
        mask = None if mask is None else mask.squeeze(1)
        return {C.ACTION_DIST_INPUTS: self._dist_inputs(features.squeeze(1), mask), C.STATE_OUT: state_out}

    def forward_inference(self, batch: Batch) -> Batch:
        return self._step(batch)

    def forward_exploration(self, batch: Batch) -> Batch:
        return self._step(batch)

    def forward_train(self, batch: Batch) -> Batch:
        """[B, T] sequences from STATE_IN -> ACTION_DIST_INPUTS [B, T, ...] and VF_PREDS [B, T]."""
        features, mask, _ = self._features(batch[C.OBS], batch[C.STATE_IN])
        return {C.ACTION_DIST_INPUTS: self._dist_inputs(features, mask), C.VF_PREDS: self.vf(features).squeeze(-1)}

    def compute_values(self, obs: Any, state: Optional[State] = None) -> Tensor:
        """V(obs) [B] one step from `state` (each env's initial state if None); GAE replays whole sequences instead
        (see connectors/learner.py)."""
        leaf = tree.first_leaf(obs)
        if state is None:
            state = {k: v.expand(leaf.shape[0], -1).to(leaf.device) for k, v in self.get_initial_state().items()}
        features, _, _ = self._features(tree.map_tree(lambda x: x.unsqueeze(1), obs), state)
        return self.vf(features.squeeze(1)).squeeze(-1)
