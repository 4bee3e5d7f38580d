"""Connectors: GAE against a brute-force reference, normalisation state, action clipping."""
from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch

from rlhydra.connectors.env_to_module import NormalizeObservations, default_env_to_module
from rlhydra.connectors.learner import compute_gae
from rlhydra.connectors.module_to_env import default_module_to_env
from rlhydra.core import columns as C
from rlhydra.models.distributions import Categorical, DiagGaussian


def reference_gae(rewards, values, next_values, terminated, truncated, gamma, lam):
    """Per env, per step, straight from the definition: sum of (gamma*lam)^k deltas until the episode ends."""
    num_t, num_envs = rewards.shape
    adv = np.zeros((num_t, num_envs))
    for i in range(num_envs):
        for t in range(num_t):
            total, factor = 0.0, 1.0
            for k in range(t, num_t):
                bootstrap = 0.0 if terminated[k, i] else next_values[k, i]
                delta = rewards[k, i] + gamma * bootstrap - values[k, i]
                total += factor * delta
                if terminated[k, i] or truncated[k, i]:
                    break
                factor *= gamma * lam
            adv[t, i] = total
    return adv


def test_gae_matches_reference_with_terminations_and_truncations():
    rng = np.random.default_rng(0)
    num_t, num_envs = 40, 5
    rewards = rng.normal(size=(num_t, num_envs)).astype(np.float32)
    values = rng.normal(size=(num_t, num_envs)).astype(np.float32)
    next_values = rng.normal(size=(num_t, num_envs)).astype(np.float32)
    terminated = rng.random((num_t, num_envs)) < 0.1
    truncated = rng.random((num_t, num_envs)) < 0.1  # sometimes both on one step: termination wins
    adv, targets = compute_gae(rewards, values, next_values, terminated, truncated, 0.97, 0.9)
    expected = reference_gae(rewards, values, next_values, terminated, truncated, 0.97, 0.9)
    np.testing.assert_allclose(adv, expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(targets, expected + values, rtol=1e-4, atol=1e-4)
    assert adv.dtype == np.float32


def test_truncation_bootstraps_and_termination_does_not():
    ones = np.ones((1, 2), np.float32)
    terminated = np.array([[True, False]])
    truncated = np.array([[False, True]])
    adv, _ = compute_gae(ones, np.zeros((1, 2), np.float32), 10 * ones, terminated, truncated, 0.5, 1.0)
    np.testing.assert_allclose(adv, [[1.0, 1.0 + 0.5 * 10]])


def test_normalizer_statistics_and_state_round_trip():
    rng = np.random.default_rng(1)
    norm = NormalizeObservations(3)
    data = rng.normal(5.0, 2.0, size=(4000, 3)).astype(np.float32)
    for chunk in np.split(data, 8):
        norm({C.OBS: chunk})
    np.testing.assert_allclose(norm.mean, data.astype(np.float64).mean(0), rtol=1e-5)
    np.testing.assert_allclose(norm.var, data.astype(np.float64).var(0), rtol=1e-4)
    other = NormalizeObservations(3)
    other.set_state(norm.get_state())
    x = {C.OBS: data[:5].copy()}
    np.testing.assert_array_equal(other(dict(x), update=False)[C.OBS], norm(dict(x), update=False)[C.OBS])


def test_pipeline_state_covers_normalizer():
    space = gym.spaces.Box(-1, 1, (2, 2), np.float32)
    pipe = default_env_to_module(space, normalize=True)
    out = pipe({C.OBS: np.ones((3, 2, 2), np.float32)})
    assert out[C.OBS].shape == (3, 4) and isinstance(out[C.OBS], torch.Tensor)
    assert any("NormalizeObservations" in key for key in pipe.get_state())


def test_discrete_observations_are_one_hot():
    pipe = default_env_to_module(gym.spaces.Discrete(4))
    out = pipe({C.OBS: np.array([0, 3])})
    np.testing.assert_array_equal(out[C.OBS].numpy(), [[1, 0, 0, 0], [0, 0, 0, 1]])


def test_box_actions_are_clipped_for_the_env_but_kept_for_the_loss():
    space = gym.spaces.Box(-2.0, 2.0, (1,), np.float32)
    pipe = default_module_to_env(space, DiagGaussian, deterministic=True)
    inputs = torch.tensor([[5.0, 0.0], [-0.5, 0.0]])
    out = pipe({C.ACTION_DIST_INPUTS: inputs})
    np.testing.assert_allclose(out[C.ACTIONS], [[5.0], [-0.5]])
    np.testing.assert_allclose(out[C.ENV_ACTIONS], [[2.0], [-0.5]])


def test_squashed_actions_are_rescaled_to_bounds():
    space = gym.spaces.Box(np.array([0.0], np.float32), np.array([10.0], np.float32), dtype=np.float32)
    pipe = default_module_to_env(space, DiagGaussian, deterministic=True, squashed=True)
    out = pipe({C.ACTION_DIST_INPUTS: torch.tensor([[-1.0, 0.0], [0.0, 0.0], [1.0, 0.0]])})
    np.testing.assert_allclose(out[C.ENV_ACTIONS], [[0.0], [5.0], [10.0]])


def test_categorical_sampling_matches_probabilities():
    torch.manual_seed(0)
    probs = torch.tensor([0.1, 0.6, 0.3])
    dist = Categorical(probs.log().expand(200_000, 3))
    counts = torch.bincount(dist.sample(), minlength=3).float() / 200_000
    assert torch.allclose(counts, probs, atol=0.01)
    assert torch.allclose(dist.logp(torch.tensor([1]))[0], probs[1].log())
