"""The recurrent actor-critic RLModule of PPO and A2C (`module.use_lstm=true`): encoder -> one LSTM -> pi / vf heads.

One LSTM feeds both heads, as RLlib's `use_lstm` wraps its default model. Stable-Baselines3's RecurrentPPO runs a
second LSTM for the critic by default; one shared LSTM halves the recurrent compute (the costly part on a CPU)
and leaves one state per env to carry, store and checkpoint.

State API (RLlib's): `get_initial_state()` is a dict of [cell] tensors; the acting passes take `STATE_IN` (each
leaf [B, cell]) with the observations [B, ...] and return `STATE_OUT`; `forward_train` takes [B, T, ...]
sequences that start from `STATE_IN` (zero-padded after their last step, see data/sequences.py) and returns
[B, T] outputs: padding follows the real steps, so it never changes them; the losses mask it out.
"""
from __future__ import annotations

from typing import Dict, Sequence

import gymnasium as gym
import torch
from torch import Tensor, nn

from rlhydra.data import columns as C
from rlhydra.models.apis import ValueFunctionAPI
from rlhydra.models.mlp import flat_dim, mlp
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
    ) -> None:
        super().__init__(observation_space, action_space)
        self.lstm_cell_size, self.max_seq_len = int(lstm_cell_size), int(max_seq_len)
        self.encoder = nn.Flatten(start_dim=1)
        self.lstm = nn.LSTM(flat_dim(observation_space), self.lstm_cell_size, batch_first=True)
        self.discrete = isinstance(action_space, gym.spaces.Discrete)
        out_dim = int(action_space.n) if self.discrete else int(action_space.shape[0])
        self.pi = mlp(self.lstm_cell_size, hidden_sizes, out_dim, activation, out_gain=0.01, ortho_init=ortho_init)
        self.vf = mlp(self.lstm_cell_size, hidden_sizes, 1, activation, out_gain=1.0, ortho_init=ortho_init)
        self.log_std = None if self.discrete else nn.Parameter(torch.full((out_dim,), float(log_std_init)))

    def is_stateful(self) -> bool:
        return True

    def get_initial_state(self) -> State:
        """The state an episode starts from: zeros, one [cell] tensor per LSTM state."""
        zeros = torch.zeros(self.lstm_cell_size)
        return {"h": zeros, "c": zeros.clone()}

    def _features(self, obs: Tensor, state: State) -> tuple[Tensor, State]:
        """[B, T, ...] observations from `state` -> LSTM outputs [B, T, cell] and the state after step T."""
        batch, steps = obs.shape[:2]
        encoded = self.encoder(obs.reshape(batch * steps, *obs.shape[2:]).float()).reshape(batch, steps, -1)
        out, (h, c) = self.lstm(encoded, (state["h"].unsqueeze(0), state["c"].unsqueeze(0)))
        return out, {"h": h.squeeze(0), "c": c.squeeze(0)}

    def _dist_inputs(self, features: Tensor) -> Tensor:
        out = self.pi(features)
        if self.discrete:
            return out
        return torch.cat([out, self.log_std.expand_as(out)], dim=-1)

    def _step(self, batch: Batch) -> Batch:
        features, state_out = self._features(batch[C.OBS].unsqueeze(1), batch[C.STATE_IN])
        return {C.ACTION_DIST_INPUTS: self._dist_inputs(features.squeeze(1)), C.STATE_OUT: state_out}

    def forward_inference(self, batch: Batch) -> Batch:
        return self._step(batch)

    def forward_exploration(self, batch: Batch) -> Batch:
        return self._step(batch)

    def forward_train(self, batch: Batch) -> Batch:
        """[B, T] sequences from STATE_IN -> ACTION_DIST_INPUTS [B, T, ...] and VF_PREDS [B, T]."""
        features, _ = self._features(batch[C.OBS], batch[C.STATE_IN])
        return {C.ACTION_DIST_INPUTS: self._dist_inputs(features), C.VF_PREDS: self.vf(features).squeeze(-1)}

    def compute_values(self, obs: Tensor, state: State | None = None) -> Tensor:
        """V(obs) [B] one step from `state` (each env's initial state if None); GAE replays whole sequences instead
        (see connectors/learner.py)."""
        if state is None:
            state = {k: v.expand(obs.shape[0], -1).to(obs.device) for k, v in self.get_initial_state().items()}
        features, _ = self._features(obs.unsqueeze(1), state)
        return self.vf(features.squeeze(1)).squeeze(-1)
