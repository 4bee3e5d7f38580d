"""Model building blocks: action distributions against torch.distributions, MLP initialisation, flat_dim."""
from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import distributions as D

from rlhydra.models.distributions import Categorical, DiagGaussian, SquashedGaussian
from rlhydra.models.mlp import flat_dim, mlp


def gaussian_inputs(batch: int = 6, dim: int = 3, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Means and log-stds with clearly different scales per dimension (float64 for tight tolerances)."""
    gen = torch.Generator().manual_seed(seed)
    mean = torch.randn(batch, dim, generator=gen, dtype=torch.float64)
    log_std = torch.linspace(-1.5, 1.0, dim, dtype=torch.float64).expand(batch, dim) + 0.1 * torch.randn(
        batch, dim, generator=gen, dtype=torch.float64)
    return mean, log_std


def torch_squashed(mean: torch.Tensor, log_std: torch.Tensor) -> D.Distribution:
    """tanh(Normal) from torch.distributions, the reference for SquashedGaussian."""
    base = D.Independent(D.Normal(mean, log_std.exp()), 1)
    return D.TransformedDistribution(base, [D.TanhTransform()])


# ---------------------------------------------------------------- Categorical


def test_categorical_logp_and_entropy_match_torch_for_unnormalised_logits():
    gen = torch.Generator().manual_seed(0)
    logits = 3.0 * torch.randn(5, 4, generator=gen) + 7.0  # far from log-probabilities
    ours, ref = Categorical.from_inputs(logits), D.Categorical(logits=logits)
    for action in range(4):
        actions = torch.full((5,), action)
        torch.testing.assert_close(ours.logp(actions), ref.log_prob(actions), msg=f"logp of action {action}")
    torch.testing.assert_close(ours.entropy(), ref.entropy())
    assert torch.all(ours.entropy() > 0), "entropy of a non-degenerate categorical is positive"


def test_categorical_deterministic_sample_is_the_most_likely_action():
    logits = torch.tensor([[0.0, 2.0, -1.0], [5.0, 1.0, 4.9], [-3.0, -2.0, -1.0]])
    np.testing.assert_array_equal(Categorical(logits).deterministic_sample().numpy(), [1, 0, 2])


def test_categorical_sample_and_logp_agree():
    torch.manual_seed(0)
    dist = Categorical(torch.tensor([[0.3, -1.0, 2.0]]).expand(64, 3))
    actions, logp = dist.sample_and_logp()
    torch.testing.assert_close(logp, D.Categorical(logits=dist.logits).log_prob(actions))


# ---------------------------------------------------------------- DiagGaussian


def test_diag_gaussian_logp_and_entropy_match_torch_normal():
    mean, log_std = gaussian_inputs()
    ours = DiagGaussian.from_inputs(torch.cat([mean, log_std], dim=-1))
    ref = D.Independent(D.Normal(mean, log_std.exp()), 1)
    actions = mean + 1.7 * torch.randn(mean.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    torch.testing.assert_close(ours.logp(actions), ref.log_prob(actions))
    torch.testing.assert_close(ours.entropy(), ref.entropy())
    torch.testing.assert_close(ours.deterministic_sample(), mean)


def test_diag_gaussian_samples_have_the_requested_mean_and_std():
    torch.manual_seed(0)
    mean = torch.tensor([1.0, -2.0]).expand(200_000, 2)
    std = torch.tensor([0.5, 3.0])
    samples = DiagGaussian(mean, std.log().expand(200_000, 2)).sample()
    np.testing.assert_allclose(samples.mean(0).numpy(), [1.0, -2.0], atol=0.03)
    np.testing.assert_allclose(samples.std(0).numpy(), std.numpy(), rtol=0.02)


def test_diag_gaussian_sample_and_logp_agree():
    torch.manual_seed(0)
    mean, log_std = gaussian_inputs()
    dist = DiagGaussian(mean, log_std)
    actions, logp = dist.sample_and_logp()
    torch.testing.assert_close(logp, D.Independent(D.Normal(mean, log_std.exp()), 1).log_prob(actions))


# ---------------------------------------------------------------- SquashedGaussian


def test_squashed_gaussian_logp_matches_torch_tanh_transform():
    mean, log_std = gaussian_inputs()
    ours = SquashedGaussian.from_inputs(torch.cat([mean, log_std], dim=-1))
    actions = torch.tensor([-0.9, -0.2, 0.0, 0.3, 0.75, 0.95], dtype=torch.float64)[:, None].expand(6, 3)
    torch.testing.assert_close(ours.logp(actions), torch_squashed(mean, log_std).log_prob(actions))


def test_squashed_gaussian_rsample_is_tanh_of_a_gaussian_with_its_log_prob():
    torch.manual_seed(0)
    mean, log_std = gaussian_inputs(batch=4000, dim=2)
    log_std = log_std.clamp(max=0.0)  # keeps |u| small enough for atanh to invert tanh precisely
    dist = SquashedGaussian(mean, log_std)
    actions, logp = dist.rsample_and_logp()
    assert actions.abs().max() < 1.0, "squashed actions lie in (-1, 1)"
    torch.testing.assert_close(logp, torch_squashed(mean, log_std).log_prob(actions), rtol=1e-6, atol=1e-6)
    z = (torch.atanh(actions) - mean) / log_std.exp()  # the underlying Gaussian noise, standardised
    assert abs(z.mean().item()) < 0.05 and abs(z.std().item() - 1.0) < 0.05, "pre-tanh noise is N(mean, std)"
    assert dist.sample_and_logp()[0].abs().max() < 1.0


def test_squashed_gaussian_rsample_is_differentiable_in_mean_and_log_std():
    mean = torch.zeros(3, 2, requires_grad=True)
    log_std = torch.full((3, 2), -0.5, requires_grad=True)
    actions, logp = SquashedGaussian(mean, log_std).rsample_and_logp()
    (actions.sum() + logp.sum()).backward()
    assert mean.grad is not None and log_std.grad is not None and mean.grad.abs().sum() > 0


def test_squashed_gaussian_sample_and_deterministic_sample_are_squashed():
    torch.manual_seed(0)
    mean = torch.tensor([[-3.0, 0.0, 2.0]])
    dist = SquashedGaussian(mean, torch.full((1, 3), 0.5))
    torch.testing.assert_close(dist.deterministic_sample(), torch.tanh(mean))
    samples = SquashedGaussian(mean.expand(1000, 3), torch.full((1000, 3), 1.0)).sample()
    assert samples.abs().max() <= 1.0 and samples.abs().max() > 0.9, "tanh of wide Gaussians reaches near +-1"


def test_squashed_gaussian_logp_is_finite_at_the_bounds():
    dist = SquashedGaussian(torch.zeros(2, 1), torch.zeros(2, 1))
    logp = dist.logp(torch.tensor([[-1.0], [1.0]]))
    assert torch.isfinite(logp).all(), f"logp at exactly +-1 must be finite (actions are clamped), got {logp}"


def test_squashed_gaussian_has_no_closed_form_entropy():
    with pytest.raises(NotImplementedError):
        SquashedGaussian(torch.zeros(1, 1), torch.zeros(1, 1)).entropy()


# ---------------------------------------------------------------- MLP and flat_dim


def singular_values(layer: torch.nn.Linear) -> np.ndarray:
    return torch.linalg.svdvals(layer.weight.detach()).numpy()


def test_mlp_orthogonal_init_uses_sqrt2_for_hidden_layers_and_out_gain_for_the_output():
    torch.manual_seed(0)
    net = mlp(5, (8, 6), 3, "tanh", out_gain=0.01)
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(5, 8), (8, 6), (6, 3)]
    assert [type(m) for m in net] == [torch.nn.Linear, torch.nn.Tanh, torch.nn.Linear, torch.nn.Tanh,
                                      torch.nn.Linear], "no activation after the output layer"
    for layer, gain in zip(linears, (math.sqrt(2), math.sqrt(2), 0.01)):
        # An orthogonal matrix scaled by `gain` has every singular value equal to `gain`.
        np.testing.assert_allclose(singular_values(layer), gain, rtol=1e-5, err_msg=f"gain of {layer}")
        assert torch.all(layer.bias == 0), "ortho init zeroes the biases"


def test_mlp_without_ortho_init_keeps_torch_default_init():
    torch.manual_seed(0)
    net = mlp(16, (32,), 4, "relu", out_gain=0.01, ortho_init=False)
    out = [m for m in net if isinstance(m, torch.nn.Linear)][-1]
    assert out.bias.abs().sum() > 0 and singular_values(out).max() > 0.1, "default (uniform) init, not ortho"


def test_flat_dim_counts_every_element_of_a_box_and_n_of_a_discrete():
    assert flat_dim(gym.spaces.Box(-1, 1, (2, 3, 4))) == 24
    assert flat_dim(gym.spaces.Box(-1, 1, (5,))) == 5
    assert flat_dim(gym.spaces.Discrete(7)) == 7
