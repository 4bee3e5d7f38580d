"""The recurrent actor-critic RLModule of PPO and A2C (`module.use_lstm=true`): the catalog's encoder of the
observation space (models/catalog.py) -> an actor LSTM -> pi head, and a critic LSTM -> vf head; action masking as
the actor-critic's.

Separate actor and critic LSTMs, as Stable-Baselines3's RecurrentPPO has by default (RLlib's `use_lstm` shares
one): with one shared LSTM the value loss's gradient, tens of times the policy's early on, dominates the global
grad-norm clip and the policy barely moves (StatelessCartPole seed 1 never left the uniform policy in 100k env
steps, rl-zoo's settings). The encoder is shared (it has no weights for vector observations).

State API (RLlib's): `get_initial_state()` is a tree of [cell] tensors ({"actor": {h, c}, "critic": {h, c}}); the
acting passes take `STATE_IN` (each leaf [B, cell]) with the observations [B, ...] and return `STATE_OUT`
(`forward_inference`, which acts without the critic, passes the critic's state through); `forward_train` takes
[B, T, ...]
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
        self.actor_lstm = nn.LSTM(self.encoder.out_dim, self.lstm_cell_size, batch_first=True)
        self.critic_lstm = nn.LSTM(self.encoder.out_dim, self.lstm_cell_size, batch_first=True)
        self.discrete = isinstance(action_space, (gym.spaces.Discrete, gym.spaces.MultiDiscrete))
        out_dim = action_head_dim(action_space)
        self.pi = mlp(self.lstm_cell_size, hidden_sizes, out_dim, activation, out_gain=0.01, ortho_init=ortho_init)
        self.vf = mlp(self.lstm_cell_size, hidden_sizes, 1, activation, out_gain=1.0, ortho_init=ortho_init)
        self.log_std = None if self.discrete else nn.Parameter(torch.full((out_dim,), float(log_std_init)))

    def is_stateful(self) -> bool:
        return True

    def get_initial_state(self) -> State:
        """The state an episode starts from: zeros, a [cell] tensor per state of each LSTM."""
        return {name: {"h": torch.zeros(self.lstm_cell_size), "c": torch.zeros(self.lstm_cell_size)}
                for name in ("actor", "critic")}

    def _encode(self, obs: Any) -> Tuple[Tensor, Optional[Tensor]]:
        """[B, T, ...] observation trees -> encoded [B, T, features] and the action mask [B, T, n] (or None)."""
        obs, mask = split_action_mask(obs)
        batch, steps = tree.first_leaf(obs).shape[:2]
        return self.encoder(tree.reshape_batch(obs, 2, (batch * steps,))).reshape(batch, steps, -1), mask

    @staticmethod
    def _run(lstm: nn.LSTM, encoded: Tensor, state: Dict[str, Tensor]) -> Tuple[Tensor, Dict[str, Tensor]]:
        """One LSTM over [B, T, features] from `state` -> outputs [B, T, cell] and the state after step T."""
        out, (h, c) = lstm(encoded, (state["h"].unsqueeze(0), state["c"].unsqueeze(0)))
        return out, {"h": h.squeeze(0), "c": c.squeeze(0)}

    def _dist_inputs(self, features: Tensor, mask: Optional[Tensor]) -> Tensor:
        out = self.pi(features)
        if self.discrete:
            return mask_logits(out, mask)
        return torch.cat([out, self.log_std.expand_as(out)], dim=-1)

    def _step(self, batch: Batch, *, with_critic: bool) -> Batch:
        encoded, mask = self._encode(tree.map_tree(lambda x: x.unsqueeze(1), batch[C.OBS]))
        state = batch[C.STATE_IN]
        features, actor = self._run(self.actor_lstm, encoded, state["actor"])
        critic = self._run(self.critic_lstm, encoded, state["critic"])[1] if with_critic else state["critic"]
        mask = None if mask is None else mask.squeeze(1)
        return {C.ACTION_DIST_INPUTS: self._dist_inputs(features.squeeze(1), mask),
                C.STATE_OUT: {"actor": actor, "critic": critic}}

    def forward_inference(self, batch: Batch) -> Batch:
        return self._step(batch, with_critic=False)

    def forward_exploration(self, batch: Batch) -> Batch:
        return self._step(batch, with_critic=True)  # the critic's state too: GAE replays sequences from it

    def forward_train(self, batch: Batch) -> Batch:
        """[B, T] sequences from STATE_IN -> ACTION_DIST_INPUTS [B, T, ...] and VF_PREDS [B, T]."""
        encoded, mask = self._encode(batch[C.OBS])
        state = batch[C.STATE_IN]
        actor_features, _ = self._run(self.actor_lstm, encoded, state["actor"])
        critic_features, _ = self._run(self.critic_lstm, encoded, state["critic"])
        return {C.ACTION_DIST_INPUTS: self._dist_inputs(actor_features, mask),
                C.VF_PREDS: self.vf(critic_features).squeeze(-1)}

    def compute_values(self, obs: Any, state: Optional[State] = None) -> Tensor:
        """V(obs) [B] one step from `state` (each env's initial state if None); GAE replays whole sequences instead
        (see connectors/learner.py)."""
        leaf = tree.first_leaf(obs)
        if state is None:
            state = tree.map_tree(lambda v: v.expand(leaf.shape[0], -1).to(leaf.device), self.get_initial_state())
        encoded, _ = self._encode(tree.map_tree(lambda x: x.unsqueeze(1), obs))
        features, _ = self._run(self.critic_lstm, encoded, state["critic"])
        return self.vf(features.squeeze(1)).squeeze(-1)
