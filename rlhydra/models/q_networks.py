"""Q networks shared by the off-policy actor-critics (SAC, TD3)."""
from __future__ import annotations

from typing import Any, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from rlhydra.models.mlp import mlp


class TwinQ(nn.Module):
    """Two independent Q(obs, action) MLPs on one encoder (SB3's critic shares its features extractor)."""

    def __init__(self, obs_dim: int, act_dim: int, hidden_sizes: Sequence[int], activation: str,
                 encoder: Optional[nn.Module] = None) -> None:
        super().__init__()
        self.encoder = nn.Identity() if encoder is None else encoder  # obs tree -> [B, obs_dim]
        self.q1 = mlp(obs_dim + act_dim, hidden_sizes, 1, activation, ortho_init=False)
        self.q2 = mlp(obs_dim + act_dim, hidden_sizes, 1, activation, ortho_init=False)

    def forward(self, obs: Any, actions: Tensor) -> Tuple[Tensor, Tensor]:
        x = torch.cat([self.encoder(obs), actions], dim=-1)
        return self.q1(x).squeeze(-1), self.q2(x).squeeze(-1)

    def q1_only(self, obs: Any, actions: Tensor) -> Tensor:
        """Q1(obs, action) alone (TD3's actor loss needs only the first critic)."""
        return self.q1(torch.cat([self.encoder(obs), actions], dim=-1)).squeeze(-1)
