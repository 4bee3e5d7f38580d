"""MLP trunks with orthogonal initialisation (as in PPO implementations that learn fast)."""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "elu": nn.ELU, "silu": nn.SiLU, "gelu": nn.GELU}


def activation_class(name: str) -> type:
    """The torch activation for a config name, or a ValueError listing the valid names."""
    if name not in ACTIVATIONS:
        raise ValueError(f"module.activation='{name}' is unknown; use one of {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]


def mlp(
    in_dim: int,
    hidden_sizes: Sequence[int],
    out_dim: int,
    activation: str = "tanh",
    *,
    out_gain: float = 1.0,
    ortho_init: bool = True,
) -> nn.Sequential:
    """in_dim -> hidden layers with `activation` -> out_dim (linear output)."""
    act = activation_class(activation)
    layers: list[nn.Module] = []
    sizes = [in_dim, *hidden_sizes]
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [_linear(a, b, math.sqrt(2) if ortho_init else None), act()]
    layers.append(_linear(sizes[-1], out_dim, out_gain if ortho_init else None))
    return nn.Sequential(*layers)


def _linear(in_dim: int, out_dim: int, gain: float | None) -> nn.Linear:
    layer = nn.Linear(in_dim, out_dim)
    if gain is not None:
        nn.init.orthogonal_(layer.weight, gain)
        nn.init.zeros_(layer.bias)
    return layer


def flat_dim(space) -> int:
    """Size of the flattened observation of a Box or Discrete space."""
    import gymnasium as gym

    if isinstance(space, gym.spaces.Discrete):
        return int(space.n)
    return int(torch.Size(space.shape).numel())
