"""MultiRLModule: RLModules by module id (multi-agent runs); RandomModule: a uniform-random player."""
from __future__ import annotations

from typing import Any, Dict, Iterator, List

import gymnasium as gym
import torch
from torch import nn

from rlhydra.data import columns as C
from rlhydra.models.catalog import split_action_mask
from rlhydra.models.catalog import mask_logits
from rlhydra.models.rl_module import Batch, TorchRLModule

RANDOM_MODULE = "random"  # the module id of the uniform-random player self-play evaluates against


class MultiRLModule(nn.Module):
    """A dict of RLModules keyed by module id; its state is their states by id."""

    def __init__(self, modules: Dict[str, TorchRLModule]) -> None:
        super().__init__()
        self.by_id = nn.ModuleDict(modules)

    def __getitem__(self, module_id: str) -> TorchRLModule:
        return self.by_id[module_id]

    def __contains__(self, module_id: object) -> bool:
        return module_id in self.by_id

    def __iter__(self) -> Iterator[str]:
        return iter(self.by_id.keys())

    def keys(self) -> List[str]:
        return list(self.by_id.keys())

    def get_state(self) -> Dict[str, Dict[str, torch.Tensor]]:
        """module id -> that module's weights (on the CPU)."""
        return {mid: module.get_state() for mid, module in self.by_id.items()}

    def set_state(self, state: Dict[str, Any]) -> None:
        """Load `get_state()` output; modules it does not name keep their weights."""
        for mid, module_state in state.items():
            if mid in self.by_id:
                self.by_id[mid].set_state(module_state)


class RandomModule(TorchRLModule):
    """Uniformly random Discrete actions, among the legal ones when the observation has an `action_mask`; it
    samples in forward_inference too (random noise on the logits), so a greedy evaluation still meets a random
    player."""

    def __init__(self, observation_space: gym.Space, action_space: gym.Space) -> None:
        super().__init__(observation_space, action_space)
        self.num_actions = int(action_space.n)

    def _logits(self, batch: Batch, noise: bool) -> torch.Tensor:
        _, mask = split_action_mask(batch[C.OBS])
        size = next(iter(_leaves(batch[C.OBS]))).shape[0]
        logits = torch.zeros(size, self.num_actions)
        if noise:
            logits = -torch.log(-torch.log(torch.rand(size, self.num_actions).clamp_min(1e-20)))  # Gumbel: argmax samples
        return mask_logits(logits, mask)

    def forward_inference(self, batch: Batch) -> Batch:
        return {C.ACTION_DIST_INPUTS: self._logits(batch, noise=True)}

    def forward_exploration(self, batch: Batch) -> Batch:
        return {C.ACTION_DIST_INPUTS: self._logits(batch, noise=False)}

    def forward_train(self, batch: Batch) -> Batch:
        return {C.ACTION_DIST_INPUTS: self._logits(batch, noise=False)}

    @classmethod
    def check_spaces(cls, observation_space: gym.Space, action_space: gym.Space) -> Any:
        return None if isinstance(action_space, gym.spaces.Discrete) else "RandomModule needs Discrete actions"


def _leaves(obs: Any) -> Iterator[torch.Tensor]:
    if isinstance(obs, dict):
        for value in obs.values():
            yield from _leaves(value)
    elif isinstance(obs, (list, tuple)):
        for value in obs:
            yield from _leaves(value)
    else:
        yield obs
