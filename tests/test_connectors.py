"""Connectors: GAE against a brute-force reference, normalisation state, action clipping."""
from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from rlhydra.connectors.env_to_module import FlattenObservations, NormalizeObservations, default_env_to_module
from rlhydra.connectors.learner import (
    AddValuePredictions,
    FlattenTime,
    GeneralAdvantageEstimation,
    compute_gae,
)
from rlhydra.connectors.module_to_env import ClipActions, SampleActions, UnsquashActions, default_module_to_env
from rlhydra.data import columns as C
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


def test_pipeline_passes_update_false_on_to_the_normaliser():
    pipe = default_env_to_module(gym.spaces.Box(-1, 1, (2,), np.float32), normalize=True)
    pipe({C.OBS: np.array([[0.0, 1.0], [1.0, 0.0]], np.float32)})
    before = {k: torch.as_tensor(v).clone() for state in pipe.get_state().values() for k, v in state.items()}
    pipe({C.OBS: np.full((3, 2), 50.0, np.float32)}, update=False)
    after = {k: torch.as_tensor(v) for state in pipe.get_state().values() for k, v in state.items()}
    assert all(torch.equal(before[k], after[k]) for k in before), "update=False must freeze the statistics"


def test_pipeline_state_covers_normalizer():
    space = gym.spaces.Box(-1, 1, (2, 2), np.float32)
    pipe = default_env_to_module(space, normalize=True)
    out = pipe({C.OBS: np.ones((3, 2, 2), np.float32)})
    assert out[C.OBS].shape == (3, 2, 2) and isinstance(out[C.OBS], torch.Tensor)  # shape kept: no flattening
    assert any("NormalizeObservations" in key for key in pipe.get_state())


def test_observations_keep_their_shape_and_dtype_only_floats_become_float32():
    image = gym.spaces.Box(0, 255, (4, 8, 8), np.uint8)
    space = gym.spaces.Dict({"image": image, "pos": gym.spaces.Box(-1, 1, (2,), np.float64),
                             "mode": gym.spaces.Discrete(3), "pair": gym.spaces.Tuple((gym.spaces.MultiBinary(2),
                                                                                          gym.spaces.Discrete(2)))})
    raw = {"image": np.full((5, 4, 8, 8), 7, np.uint8), "pos": np.zeros((5, 2)), "mode": np.arange(5) % 3,
           "pair": (np.ones((5, 2), np.int8), np.zeros(5, np.int64))}
    out = default_env_to_module(space)({C.OBS: raw})[C.OBS]
    assert out["image"].dtype == torch.uint8 and out["image"].shape == (5, 4, 8, 8)
    assert out["pos"].dtype == torch.float32 and out["mode"].dtype == torch.int64
    assert out["pair"][0].dtype == torch.int8 and out["pair"][1].shape == (5,)
    np.testing.assert_array_equal(out["mode"].numpy(), [0, 1, 2, 0, 1])


def test_discrete_observations_are_one_hot_in_the_flatten_connector():
    flatten = FlattenObservations()
    assert flatten.transform_space(gym.spaces.Discrete(4)).shape == (4,)
    out = flatten({C.OBS: np.array([0, 3])})
    np.testing.assert_array_equal(out[C.OBS], [[1, 0, 0, 0], [0, 0, 0, 1]])


def test_flatten_connector_turns_a_dict_into_the_box_gymnasium_flatten_gives():
    space = gym.spaces.Dict({"b": gym.spaces.Box(-1, 1, (2, 2), np.float32), "a": gym.spaces.Discrete(3),
                             "m": gym.spaces.MultiDiscrete([2, 3])})
    flatten = FlattenObservations()
    flat_space = flatten.transform_space(space)
    samples = [space.sample() for _ in range(4)]
    batch = {key: np.stack([s[key] for s in samples]) for key in space.spaces}
    out = flatten({C.OBS: batch})[C.OBS]
    expected = np.stack([gym.spaces.flatten(space, s) for s in samples]).astype(np.float32)
    np.testing.assert_array_equal(out, expected)
    assert out.shape == (4, flat_space.shape[0]) and out.dtype == np.float32


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


# ---------------------------------------------------------------- observation normalisation


def test_normaliser_output_is_the_clipped_standard_score():
    norm = NormalizeObservations(2, clip=3.0)
    norm.set_state({"mean": torch.tensor([1.0, 2.0], dtype=torch.float64),
                    "var": torch.tensor([4.0, 0.25], dtype=torch.float64), "count": 10.0})
    obs = np.array([[5.0, 2.5], [1.0, -100.0], [100.0, 1.0], [-1.0, 2.0]], np.float32)
    out = norm({C.OBS: obs}, update=False)[C.OBS]
    # (obs - mean) / std with std = [2, 0.5], then clipped to [-3, 3] on both sides
    np.testing.assert_allclose(out, [[2.0, 1.0], [0.0, -3.0], [3.0, -2.0], [-1.0, 0.0]], rtol=1e-6)
    assert out.dtype == np.float32


def test_fresh_normaliser_is_the_identity_until_it_has_seen_data():
    obs = np.array([[0.5, -2.0], [3.0, 1.0]], np.float32)
    np.testing.assert_allclose(NormalizeObservations(2)({C.OBS: obs.copy()}, update=False)[C.OBS], obs, rtol=1e-6)


def test_normaliser_updates_statistics_only_when_asked():
    norm = NormalizeObservations(2)
    norm({C.OBS: np.array([[0.0, 1.0], [2.0, 3.0]])})
    before = {k: torch.as_tensor(v).numpy().copy() for k, v in norm.get_state().items()}
    norm({C.OBS: np.array([[100.0, -100.0]] * 3)}, update=False)  # evaluation: statistics frozen
    for key, value in norm.get_state().items():
        np.testing.assert_array_equal(torch.as_tensor(value).numpy(), before[key],
                                      err_msg=f"{key} changed with update=False")
    norm({C.OBS: np.array([[4.0, 5.0]])})
    assert norm.count == pytest.approx(3.0)
    np.testing.assert_allclose(norm.mean, [2.0, 3.0])
    np.testing.assert_allclose(norm.var, [8 / 3, 8 / 3])  # population variance of 0, 2, 4


def test_normaliser_merge_of_runner_states_matches_statistics_over_all_data():
    rng = np.random.default_rng(4)
    base_data, *runner_data = (rng.normal(loc, scale, (n, 2)) for loc, scale, n in
                               ((0.0, 1.0, 20), (3.0, 0.3, 12), (-4.0, 2.0, 8), (0.0, 1.0, 0)))
    base = NormalizeObservations(2)
    base({C.OBS: base_data})
    states = []
    for data in runner_data:
        runner = NormalizeObservations(2)
        runner.set_state(base.get_state())
        for piece in np.array_split(data, 3):
            if len(piece):
                runner({C.OBS: piece})
        states.append(runner.get_state())
    merged = NormalizeObservations.merge_states(base.get_state(), states)
    everything = np.concatenate([base_data, *runner_data])
    assert merged["count"] == pytest.approx(len(everything)), "each runner's data counted once, base once"
    np.testing.assert_allclose(merged["mean"].numpy(), everything.mean(0), rtol=1e-9)
    np.testing.assert_allclose(merged["var"].numpy(), everything.var(0), rtol=1e-9)


def test_normalisation_is_per_element_of_any_shaped_box_and_refused_for_other_spaces():
    space = gym.spaces.Box(-1, 1, (2, 3), np.float32)
    sample = np.stack([space.sample() for _ in range(4)])
    out = default_env_to_module(space, normalize=True)({C.OBS: sample})[C.OBS]
    expected = (sample - sample.mean(0)) / np.sqrt(sample.var(0) + 1e-8)  # first batch: the batch's own stats
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-3, atol=1e-3)
    for bad in (gym.spaces.Discrete(5), gym.spaces.Box(0, 255, (4, 4), np.uint8)):
        with pytest.raises(ValueError, match="normalize_obs"):
            default_env_to_module(bad, normalize=True)


# ---------------------------------------------------------------- module -> env


def test_clip_actions_clips_each_dimension_to_its_own_bounds():
    space = gym.spaces.Box(np.array([-1.0, 0.0], np.float32), np.array([1.0, 5.0], np.float32), dtype=np.float32)
    actions = np.array([[-3.0, -3.0], [3.0, 7.0], [0.5, 2.0]], np.float32)
    out = ClipActions(space)({C.ACTIONS: actions.copy()})
    np.testing.assert_array_equal(out[C.ENV_ACTIONS], [[-1.0, 0.0], [1.0, 5.0], [0.5, 2.0]])
    np.testing.assert_array_equal(out[C.ACTIONS], actions)


def test_clip_actions_off_passes_box_actions_through_unclipped():
    space = gym.spaces.Box(-2.0, 2.0, (1,), np.float32)
    pipe = default_module_to_env(space, DiagGaussian, deterministic=True, clip_actions=False)
    out = pipe({C.ACTION_DIST_INPUTS: torch.tensor([[5.0, 0.0], [-7.0, 0.0]])})
    np.testing.assert_allclose(out[C.ENV_ACTIONS], [[5.0], [-7.0]])


def test_unsquash_maps_the_unit_interval_onto_asymmetric_bounds_and_clips_outside():
    space = gym.spaces.Box(np.array([-3.0, 2.0], np.float32), np.array([1.0, 10.0], np.float32), dtype=np.float32)
    actions = np.array([[-1.0, -1.0], [1.0, 1.0], [0.0, 0.5], [-5.0, 1.5]], np.float32)
    out = UnsquashActions(space)({C.ACTIONS: actions})
    # low + (a + 1) / 2 * (high - low), with a clipped to [-1, 1] first
    np.testing.assert_allclose(out[C.ENV_ACTIONS], [[-3.0, 2.0], [1.0, 10.0], [-1.0, 8.0], [-3.0, 10.0]])


def test_sample_actions_keeps_actions_already_given():
    actions = torch.tensor([[0.25], [-0.5]])
    out = SampleActions(DiagGaussian)({C.ACTIONS: actions})  # e.g. random warm-up actions: no dist inputs
    assert out[C.ACTIONS] is actions and C.ACTION_LOGP not in out


def test_exploration_samples_actions_with_their_log_probs():
    torch.manual_seed(0)
    inputs = torch.tensor([[0.0, 1.0, -1.0, 0.5]]).expand(20_000, 4)
    out = SampleActions(DiagGaussian)({C.ACTION_DIST_INPUTS: inputs})
    dist = DiagGaussian.from_inputs(inputs)
    torch.testing.assert_close(out[C.ACTION_LOGP], dist.logp(out[C.ACTIONS]))
    np.testing.assert_allclose(out[C.ACTIONS].std(0).numpy(), np.exp([-1.0, 0.5]), rtol=0.03)


# ---------------------------------------------------------------- learner connectors


class LinearValue(torch.nn.Module):
    """V(obs) = 10 * obs[0] + obs[1], so each value identifies the observation it came from."""

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor([10.0, 1.0]))

    def compute_values(self, obs: torch.Tensor) -> torch.Tensor:
        return obs @ self.w


def test_value_predictions_are_for_obs_and_next_obs_at_the_same_step_and_env():
    num_t, num_envs = 3, 2
    t, env = np.meshgrid(np.arange(num_t), np.arange(num_envs), indexing="ij")
    obs = np.stack([t, env], -1).astype(np.float32)
    next_obs = obs + np.array([0.5, 0.0], np.float32)
    out = AddValuePredictions(LinearValue())({C.OBS: obs, C.NEXT_OBS: next_obs})
    np.testing.assert_allclose(out[C.VF_PREDS], 10 * t + env)
    np.testing.assert_allclose(out[C.NEXT_VF_PREDS], 10 * t + 5 + env)


def test_gae_connector_passes_terminations_and_truncations_in_their_places():
    ones = np.ones((1, 2), np.float32)
    batch = {C.REWARDS: ones, C.VF_PREDS: np.zeros((1, 2), np.float32), C.NEXT_VF_PREDS: 10 * ones,
             C.TERMINATED: np.array([[True, False]]), C.TRUNCATED: np.array([[False, True]])}
    out = GeneralAdvantageEstimation(gamma=0.5, lam=0.9)(batch)
    np.testing.assert_allclose(out[C.ADVANTAGES], [[1.0, 6.0]])
    np.testing.assert_allclose(out[C.VALUE_TARGETS], [[1.0, 6.0]])


def test_gae_lambda_zero_is_the_one_step_td_error_and_lambda_one_the_discounted_return():
    rewards = np.array([[1.0], [2.0], [3.0]], np.float32)
    values = np.array([[0.5], [1.0], [-1.0]], np.float32)
    next_values = np.array([[1.0], [-1.0], [4.0]], np.float32)
    no_end = np.zeros((3, 1), bool)
    td, _ = compute_gae(rewards, values, next_values, no_end, no_end, 0.9, 0.0)
    np.testing.assert_allclose(td, rewards + 0.9 * next_values - values, rtol=1e-6)
    mc, targets = compute_gae(rewards, values, next_values, no_end, no_end, 0.9, 1.0)
    returns = [1 + 0.9 * 2 + 0.81 * 3 + 0.729 * 4, 2 + 0.9 * 3 + 0.81 * 4, 3 + 0.9 * 4]
    np.testing.assert_allclose(targets[:, 0], returns, rtol=1e-6)
    np.testing.assert_allclose(mc, targets - values, rtol=1e-6)


def test_flatten_time_keeps_rows_of_all_columns_aligned():
    num_t, num_envs = 3, 4
    index = np.arange(num_t * num_envs).reshape(num_t, num_envs)
    batch = {C.OBS: np.stack([index, -index], -1).astype(np.float32), C.REWARDS: index.astype(np.float32),
             C.TERMINATED: index % 2 == 0}
    out = FlattenTime()(batch)
    assert out[C.OBS].shape == (12, 2) and out[C.REWARDS].shape == (12,) and out[C.TERMINATED].shape == (12,)
    np.testing.assert_array_equal(out[C.OBS][:, 0], out[C.REWARDS])
    np.testing.assert_array_equal(out[C.TERMINATED], out[C.REWARDS] % 2 == 0)
