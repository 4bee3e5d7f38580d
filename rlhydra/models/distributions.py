"""Lightweight action distributions built from a module's `action_dist_inputs` (no arg validation on the hot path)."""
from __future__ import annotations

import math
from typing import Dict, Sequence, Tuple

import torch
from torch import Tensor


class Distribution:
    """Interface: built from the module's output tensor."""

    @classmethod
    def from_inputs(cls, inputs: Tensor) -> "Distribution":
        raise NotImplementedError

    def sample(self) -> Tensor:
        raise NotImplementedError

    def sample_and_logp(self) -> tuple[Tensor, Tensor]:
        """A sample and its log-prob (subclasses may do both in one pass)."""
        actions = self.sample()
        return actions, self.logp(actions)

    def logp(self, actions: Tensor) -> Tensor:
        raise NotImplementedError

    def entropy(self) -> Tensor:
        raise NotImplementedError

    def deterministic_sample(self) -> Tensor:
        raise NotImplementedError


class Categorical(Distribution):
    """Categorical over the last axis of `logits`."""

    def __init__(self, logits: Tensor) -> None:
        self.logits = logits - logits.logsumexp(dim=-1, keepdim=True)

    @classmethod
    def from_inputs(cls, inputs: Tensor) -> "Categorical":
        return cls(inputs)

    def sample(self) -> Tensor:
        # Gumbel-max: one uniform draw per logit, no normalisation pass.
        u = torch.rand_like(self.logits).clamp_(1e-10, 1.0)
        return torch.argmax(self.logits - torch.log(-torch.log(u)), dim=-1)

    def logp(self, actions: Tensor) -> Tensor:
        return self.logits.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)

    def entropy(self) -> Tensor:
        return -(self.logits.exp() * self.logits).sum(-1)

    def deterministic_sample(self) -> Tensor:
        return torch.argmax(self.logits, dim=-1)


class MultiCategorical(Distribution):
    """Independent categoricals, one per MultiDiscrete component: logits [B, sum(nvec)], actions int64 [B, k].

    `from_inputs` needs the component sizes: use the class `MultiCategorical.with_nvec(nvec)` returns (the modules'
    `action_dist_cls()` does); log-probs and entropies are summed over the components."""

    nvec: Tuple[int, ...] = ()

    def __init__(self, logits: Tensor, nvec: Sequence[int] = ()) -> None:
        self.components = [Categorical(part) for part in logits.split(list(nvec or self.nvec), dim=-1)]

    @classmethod
    def from_inputs(cls, inputs: Tensor) -> "MultiCategorical":
        return cls(inputs)

    @classmethod
    def with_nvec(cls, nvec: Sequence[int]) -> type:
        """The MultiCategorical class for these component sizes (one class per nvec)."""
        key = tuple(int(n) for n in nvec)
        if key not in _MULTI_CATEGORICALS:
            _MULTI_CATEGORICALS[key] = type(f"MultiCategorical{list(key)}", (MultiCategorical,), {"nvec": key})
        return _MULTI_CATEGORICALS[key]

    def sample(self) -> Tensor:
        return torch.stack([c.sample() for c in self.components], dim=-1)

    def logp(self, actions: Tensor) -> Tensor:
        return torch.stack([c.logp(actions[..., i]) for i, c in enumerate(self.components)], dim=-1).sum(-1)

    def entropy(self) -> Tensor:
        return torch.stack([c.entropy() for c in self.components], dim=-1).sum(-1)

    def deterministic_sample(self) -> Tensor:
        return torch.stack([c.deterministic_sample() for c in self.components], dim=-1)


_MULTI_CATEGORICALS: Dict[Tuple[int, ...], type] = {}


class DiagGaussian(Distribution):
    """Diagonal Gaussian; inputs are [mean, log_std] concatenated on the last axis."""

    def __init__(self, mean: Tensor, log_std: Tensor) -> None:
        self.mean, self.log_std = mean, log_std

    @classmethod
    def from_inputs(cls, inputs: Tensor) -> "DiagGaussian":
        mean, log_std = inputs.chunk(2, dim=-1)
        return cls(mean, log_std)

    def sample(self) -> Tensor:
        return self.mean + self.log_std.exp() * torch.randn_like(self.mean)

    def logp(self, actions: Tensor) -> Tensor:
        z = (actions - self.mean) * torch.exp(-self.log_std)
        return (-0.5 * z.pow(2) - self.log_std - 0.5 * math.log(2 * math.pi)).sum(-1)

    def entropy(self) -> Tensor:
        return (self.log_std + 0.5 * (1.0 + math.log(2 * math.pi))).sum(-1)

    def deterministic_sample(self) -> Tensor:
        return self.mean


class SquashedGaussian(Distribution):
    """tanh(Gaussian): actions in [-1, 1] (the module->env connector rescales them); inputs are [mean, log_std]."""

    def __init__(self, mean: Tensor, log_std: Tensor) -> None:
        self.mean, self.log_std = mean, log_std

    @classmethod
    def from_inputs(cls, inputs: Tensor) -> "SquashedGaussian":
        mean, log_std = inputs.chunk(2, dim=-1)
        return cls(mean, log_std)

    def sample_and_logp(self) -> tuple[Tensor, Tensor]:
        return self.rsample_and_logp()

    def rsample_and_logp(self) -> tuple[Tensor, Tensor]:
        """A reparameterised sample and its log-prob (with the tanh change-of-variables term)."""
        u = self.mean + self.log_std.exp() * torch.randn_like(self.mean)
        z = (u - self.mean) * torch.exp(-self.log_std)
        logp = (-0.5 * z.pow(2) - self.log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        # log(1 - tanh(u)^2) = 2 * (log 2 - u - softplus(-2u)), stable for large |u|
        logp = logp - (2.0 * (math.log(2.0) - u - torch.nn.functional.softplus(-2.0 * u))).sum(-1)
        return torch.tanh(u), logp

    def sample(self) -> Tensor:
        return torch.tanh(self.mean + self.log_std.exp() * torch.randn_like(self.mean))

    def logp(self, actions: Tensor) -> Tensor:
        u = torch.atanh(actions.clamp(-1 + 1e-6, 1 - 1e-6))
        z = (u - self.mean) * torch.exp(-self.log_std)
        logp = (-0.5 * z.pow(2) - self.log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        return logp - (2.0 * (math.log(2.0) - u - torch.nn.functional.softplus(-2.0 * u))).sum(-1)

    def entropy(self) -> Tensor:
        raise NotImplementedError("a squashed Gaussian has no closed-form entropy; use -logp of samples")

    def deterministic_sample(self) -> Tensor:
        return torch.tanh(self.mean)


# ---- gSDE (generalized state-dependent exploration, Raffin et al., 2022), shared by SAC's and PPO's modules ------
# The exploration noise is `latent @ noise`, with a noise matrix drawn from N(0, std^2) now and then, so between
# draws it is a smooth function of the state. Its distribution is a diagonal Gaussian with the per-sample
# log std `sde_log_std`: built by DiagGaussian (SquashedGaussian for SAC) from [mean, sde_log_std].
def sde_std(log_std: Tensor, *, use_expln: bool = False) -> Tensor:
    """Std of the noise matrix's entries: exp(log_std), or with `use_expln` exp below 0 and log1p(x) + 1 above,
    which keeps it positive without exponential growth (SB3's use_expln)."""
    if not use_expln:
        return log_std.exp()
    return torch.where(log_std <= 0, log_std.clamp(max=0).exp(), torch.log1p(log_std.clamp(min=0)) + 1.0)


def sde_log_std(latent: Tensor, std: Tensor, eps: float = 1e-6, *, learn_features: bool = False) -> Tensor:
    """Per-sample log std of each action dimension, 0.5 * log(latent^2 @ std^2 + eps): the std of latent @ noise.
    Unless `learn_features`, the latent is detached, so this std trains `std`'s parameter and not the features
    (SB3: PPO's gSDE detaches, SAC's learns the features through the std too)."""
    variance = (latent if learn_features else latent.detach()).pow(2) @ std.pow(2)
    return 0.5 * torch.log(variance + eps)


def sde_noise_matrices(std: Tensor, batch_shape: Sequence[int] = ()) -> Tensor:
    """Noise matrices with entries from N(0, std^2), shaped as `std`, one per index of `batch_shape`."""
    return torch.randn(*batch_shape, *std.shape, dtype=std.dtype, device=std.device) * std
