"""Shared helpers of the on-policy loss tests (PPO, A2C): the actor-critic module's distribution rebuilt with
torch.distributions, independent of rlhydra's."""
from __future__ import annotations

import torch


def torch_dist(module, obs: torch.Tensor):
    """The module's action distribution rebuilt with torch.distributions (independent of rlhydra's)."""
    if module.discrete:
        return torch.distributions.Categorical(logits=module.pi(obs))
    return torch.distributions.Normal(module.pi(obs), module.log_std.exp())


def torch_logp(module, obs, actions):
    """log pi(actions | obs), summed over the action dims of a Gaussian."""
    dist = torch_dist(module, obs)
    return dist.log_prob(actions) if module.discrete else dist.log_prob(actions).sum(-1)


def torch_entropy(module, obs):
    """The policy entropy per sample, summed over the action dims of a Gaussian."""
    ent = torch_dist(module, obs).entropy()
    return ent if module.discrete else ent.sum(-1)
