"""Target networks of the off-policy learners: frozen copies, polyak updates, and critics frozen for an actor step."""
from __future__ import annotations

import copy
from contextlib import contextmanager
from typing import Iterator, List, Sequence, Tuple

import torch
from torch import nn


def target_copy(network: nn.Module) -> nn.Module:
    """An exact copy of `network` that takes no gradients (it moves only by `polyak_update`)."""
    return copy.deepcopy(network).requires_grad_(False)


def polyak_update(targets: Sequence[torch.Tensor], sources: Sequence[torch.Tensor], tau: float) -> None:
    """target <- (1 - tau) * target + tau * source for each pair, in one fused call; tau = 1 copies."""
    with torch.no_grad():
        torch._foreach_lerp_(targets, sources, tau)


def pair_parameters(pairs: Sequence[Tuple[nn.Module, nn.Module]]) -> Tuple[List[nn.Parameter], List[nn.Parameter]]:
    """(online parameters, target parameters) of (online, target) network pairs, in matching order."""
    return ([p for online, _ in pairs for p in online.parameters()],
            [p for _, target in pairs for p in target.parameters()])


@contextmanager
def frozen(parameters: List[nn.Parameter]) -> Iterator[None]:
    """Inside: the parameters take no gradients (e.g. an actor loss through the critics reaches only the actor)."""
    for p in parameters:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in parameters:
            p.requires_grad_(True)
