"""PPO's loss, stats, schedules and update loop against hand-computed numbers and a plain-torch reference."""
from __future__ import annotations

import copy
import math
from typing import Dict, List

import numpy as np
import pytest
import torch

from rlhydra import PPOConfig
from rlhydra.algorithms.ppo.config import PPOTrainingConfig
from rlhydra.core.on_policy import explained_variance
from rlhydra.data import columns as C
from tests.actor_critic_helpers import torch_entropy, torch_logp
from rlhydra.data.rollout import Rollout
from rlhydra.models.distributions import Categorical, DiagGaussian


pytestmark = pytest.mark.usefixtures("one_torch_thread")


# Every test states the switches it relies on; these defaults switch the optional terms off.
BASE = dict(train_batch_size=16, minibatch_size=16, num_epochs=1, normalize_advantages=False, entropy_coeff=0.0,
            vf_clip_param=None, grad_clip=None, clip_param=0.2, vf_coeff=0.5, lr=1e-2)


def build(env: str = "CartPole-v1", **training):
    """A tiny PPO on `env` (seed 0) with BASE's hyperparameters overridden by `training`."""
    return (PPOConfig().environment(env).training(**{**BASE, **training})
            .env_runners(num_envs_per_env_runner=2).evaluation(interval=0).debugging(seed=0).build())


def obs_batch(n: int, dim: int = 4, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(seed))


def minibatch(module, ratios, advantages, *, value_offsets=None, target_offsets=None,
              seed=0) -> Dict[str, torch.Tensor]:
    """A hand-made minibatch whose probability ratios (new/old) are exactly `ratios` under the module's weights.

    Old value predictions are V(obs) - value_offsets and value targets V(obs) + target_offsets, so the value loss
    depends only on the offsets (and vf_clip_param).
    """
    n = len(ratios)
    obs = obs_batch(n, module.pi[0].in_features, seed)
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        if module.discrete:
            actions = torch.randint(0, module.pi[-1].out_features, (n,), generator=gen)
        else:
            actions = torch.randn(n, module.pi[-1].out_features, generator=gen)
        logp = torch_logp(module, obs, actions)
        values = module.vf(obs).squeeze(-1)
    d = torch.zeros(n) if value_offsets is None else torch.tensor(value_offsets, dtype=torch.float32)
    e = torch.zeros(n) if target_offsets is None else torch.tensor(target_offsets, dtype=torch.float32)
    return {
        C.OBS: obs, C.ACTIONS: actions,
        C.ACTION_LOGP: logp - torch.log(torch.tensor(ratios, dtype=torch.float32)),
        C.ADVANTAGES: torch.tensor(advantages, dtype=torch.float32),
        C.VF_PREDS: values - d, C.VALUE_TARGETS: values + e,
    }


def reference_loss(module, mb, clip, hp):
    """PPO's loss in plain torch (SB3 conventions): returns (total, policy, value, entropy) as tensors."""
    logp = torch_logp(module, mb[C.OBS], mb[C.ACTIONS])
    ratio = torch.exp(logp - mb[C.ACTION_LOGP])
    adv = mb[C.ADVANTAGES]
    if hp["normalize_advantages"] and len(adv) > 1:
        adv = (adv - adv.mean()) / (adv.std(unbiased=True) + 1e-8)
    surrogate = torch.minimum(ratio * adv, torch.clamp(ratio, 1 - clip, 1 + clip) * adv)
    policy = -surrogate.mean()
    values = module.vf(mb[C.OBS]).squeeze(-1)
    err = (values - mb[C.VALUE_TARGETS]) ** 2
    if hp["vf_clip_param"] is not None:
        old = mb[C.VF_PREDS]
        v_clipped = old + torch.clamp(values - old, -hp["vf_clip_param"], hp["vf_clip_param"])
        err = torch.maximum(err, (v_clipped - mb[C.VALUE_TARGETS]) ** 2)
    vf = err.mean()
    entropy = torch_entropy(module, mb[C.OBS]).mean()
    total = policy + hp["vf_coeff"] * vf - hp["entropy_coeff"] * entropy
    return total, policy, vf, entropy


def stats_of(stats: torch.Tensor) -> Dict[str, float]:
    return dict(zip(("policy_loss", "vf_loss", "entropy", "approx_kl", "clip_fraction"), stats.tolist()))


def grads(module) -> List[torch.Tensor]:
    return [torch.zeros_like(p) if p.grad is None else p.grad.clone() for p in module.parameters()]


# ---------------------------------------------------------------- clipped surrogate


@pytest.mark.parametrize("ratio, adv, expected", [
    (1.1, 2.0, -2.2),   # inside [0.8, 1.2]: -ratio * adv
    (0.9, -2.0, 1.8),   # inside, negative advantage
    (1.5, 2.0, -2.4),   # above, adv > 0: the clipped 1.2 * adv is the smaller objective
    (1.5, -2.0, 3.0),   # above, adv < 0: the unclipped 1.5 * adv is the smaller (pessimistic) one
    (0.5, 2.0, -1.0),   # below, adv > 0: unclipped 0.5 * adv
    (0.5, -2.0, 1.6),   # below, adv < 0: clipped 0.8 * adv
])
def test_single_sample_surrogate_is_the_pessimistic_min_of_clipped_and_unclipped(ratio, adv, expected):
    with build(clip_param=0.2, vf_coeff=0.0) as algo:
        mb = minibatch(algo.learner.raw_module, [ratio], [adv])
        loss, stats = algo.learner.loss(mb, 0.2)
    assert stats_of(stats)["policy_loss"] == pytest.approx(expected, abs=1e-5), (
        f"ratio {ratio}, advantage {adv}: policy loss should be -min(r*A, clip(r, 0.8, 1.2)*A) = {expected}")
    assert loss.item() == pytest.approx(expected, abs=1e-5)  # no value or entropy term with these coefficients


def test_ratios_outside_the_clip_range_are_clipped_pessimistically_in_a_batch():
    ratios = [0.5, 0.9, 1.0, 1.1, 1.5, 0.5, 1.5, 1.3]
    advs = [1.0, -1.0, 3.0, 2.0, 2.0, -2.0, -1.0, 0.5]
    # -min(r*A, clip(r)*A) per sample, by hand with clip 0.2
    per_sample = [-0.5, 0.9, -3.0, -2.2, -2.4, 1.6, 1.5, -0.6]
    with build(clip_param=0.2) as algo:
        mb = minibatch(algo.learner.raw_module, ratios, advs)
        _, stats = algo.learner.loss(mb, 0.2)
    assert stats_of(stats)["policy_loss"] == pytest.approx(np.mean(per_sample), abs=1e-5)


def test_loss_uses_the_clip_it_is_given_not_the_configured_one():
    # configured 0.3, passed 0.05 (as a clip schedule would): ratio 1.1 with adv > 0 is clipped at 1.05
    with build(clip_param=0.3) as algo:
        mb = minibatch(algo.learner.raw_module, [1.1, 0.9, 1.02, 0.5], [1.0, -1.0, 1.0, 1.0])
        _, stats = algo.learner.loss(mb, 0.05)
    s = stats_of(stats)
    assert s["policy_loss"] == pytest.approx(-(1.05 - 0.95 + 1.02 + 0.5) / 4, abs=1e-5)
    assert s["clip_fraction"] == pytest.approx(3 / 4), "ratios 1.1, 0.9 and 0.5 are outside 1 +- 0.05"


def test_clipped_samples_give_no_policy_gradient_and_unclipped_ones_do():
    with build(clip_param=0.2, vf_coeff=0.0) as algo:
        module = algo.learner.raw_module
        for ratio, adv, has_grad in [(1.5, 1.0, False), (0.5, -1.0, False), (1.5, -1.0, True), (1.1, 1.0, True)]:
            module.zero_grad(set_to_none=True)
            loss, _ = algo.learner.loss(minibatch(module, [ratio], [adv]), 0.2)
            loss.backward()
            norm = torch.cat([g.flatten() for g in grads(module.pi)]).norm().item()
            assert (norm > 1e-6) == has_grad, f"ratio {ratio}, adv {adv}: policy grad norm {norm}"


# ---------------------------------------------------------------- advantage normalisation


def test_advantages_are_not_normalised_when_switched_off():
    ratios, advs = [0.9, 1.0, 1.1, 1.15], [1.0, 2.0, 3.0, 4.0]
    with build(normalize_advantages=False) as algo:
        _, stats = algo.learner.loss(minibatch(algo.learner.raw_module, ratios, advs), 0.2)
    assert stats_of(stats)["policy_loss"] == pytest.approx(-(0.9 + 2.0 + 3.3 + 4.6) / 4, abs=1e-5)


def test_advantages_are_normalised_with_the_minibatch_mean_and_unbiased_std():
    ratios, advs = [0.9, 1.0, 1.1, 1.15], [1.0, 2.0, 3.0, 4.0]
    std = math.sqrt(5.0 / 3.0)  # unbiased std of 1, 2, 3, 4 (SB3: torch's std + 1e-8)
    normed = [(a - 2.5) / std for a in advs]
    expected = -sum(r * a for r, a in zip(ratios, normed)) / 4  # all ratios inside 1 +- 0.2
    with build(normalize_advantages=True) as algo:
        _, stats = algo.learner.loss(minibatch(algo.learner.raw_module, ratios, advs), 0.2)
    assert stats_of(stats)["policy_loss"] == pytest.approx(expected, abs=1e-5), (
        "normalised advantages should be (A - mean) / (unbiased std + 1e-8)")


def test_clipping_sees_the_sign_of_the_normalised_advantage():
    # all raw advantages are positive; after normalisation the first two are negative
    ratios, advs = [1.5, 0.5, 1.5, 0.5], [1.0, 2.0, 3.0, 4.0]
    std = math.sqrt(5.0 / 3.0)
    a = [(x - 2.5) / std for x in advs]
    expected = -np.mean([1.5 * a[0], 0.8 * a[1], 1.2 * a[2], 0.5 * a[3]])
    with build(normalize_advantages=True) as algo:
        _, stats = algo.learner.loss(minibatch(algo.learner.raw_module, ratios, advs), 0.2)
    assert stats_of(stats)["policy_loss"] == pytest.approx(expected, abs=1e-5)


def test_normalising_equal_advantages_gives_zero_not_nan():
    with build(normalize_advantages=True) as algo:
        loss, stats = algo.learner.loss(minibatch(algo.learner.raw_module, [0.9, 1.1, 1.0], [3.0, 3.0, 3.0]), 0.2)
    assert stats_of(stats)["policy_loss"] == 0.0 and torch.isfinite(loss), "std 0: the 1e-8 keeps it finite"


def test_a_single_sample_minibatch_is_not_normalised():
    with build(normalize_advantages=True) as algo:
        loss, stats = algo.learner.loss(minibatch(algo.learner.raw_module, [1.1], [2.0]), 0.2)
    assert torch.isfinite(loss), "the std of one sample is undefined; normalisation must be skipped"
    assert stats_of(stats)["policy_loss"] == pytest.approx(-2.2, abs=1e-5)


# ---------------------------------------------------------------- value loss and clipping

# old prediction = V - d, target = V + e, vf_clip_param 0.2: the clipped prediction is V - d + clamp(d, -0.2, 0.2)
VF_D = [0.1, 1.0, 1.0, -1.0]
VF_E = [0.5, 0.5, -0.5, -0.5]
# per sample: max(e^2, (clamp(d) - d - e)^2) = max(.25, .25), max(.25, 1.69), max(.25, .09), max(.25, 1.69)
VF_CLIPPED = [0.25, 1.69, 0.25, 1.69]


def test_value_loss_without_clipping_is_the_mean_squared_error():
    with build(vf_clip_param=None) as algo:
        mb = minibatch(algo.learner.raw_module, [1.0] * 4, [0.0] * 4, value_offsets=VF_D, target_offsets=VF_E)
        _, stats = algo.learner.loss(mb, 0.2)
    assert stats_of(stats)["vf_loss"] == pytest.approx(0.25, abs=1e-5), (
        "vf_clip_param=None: (V - target)^2 only, whatever the old predictions")


def test_value_clipping_takes_the_max_of_clipped_and_unclipped_errors_around_the_old_prediction():
    # the policy's clip (configured 0.1, passed 0.05) must not leak into the value clipping
    with build(vf_clip_param=0.2, clip_param=0.1) as algo:
        module = algo.learner.raw_module
        for d, e, expected in zip(VF_D, VF_E, VF_CLIPPED):
            mb = minibatch(module, [1.0], [0.0], value_offsets=[d], target_offsets=[e])
            _, stats = algo.learner.loss(mb, 0.05)
            assert stats_of(stats)["vf_loss"] == pytest.approx(expected, abs=1e-5), (
                f"old = V - {d}, target = V + {e}: expected max(unclipped, clipped) = {expected}")
        mb = minibatch(module, [1.0] * 4, [0.0] * 4, value_offsets=VF_D, target_offsets=VF_E)
        _, stats = algo.learner.loss(mb, 0.05)
    assert stats_of(stats)["vf_loss"] == pytest.approx(np.mean(VF_CLIPPED), abs=1e-5)


def test_value_clipping_blocks_the_gradient_when_the_clipped_error_is_larger():
    with build(vf_clip_param=0.2, vf_coeff=1.0) as algo:
        module = algo.learner.raw_module
        for d, e, has_grad in [(1.0, 0.5, False), (1.0, -0.5, True), (0.1, 0.5, True)]:
            module.zero_grad(set_to_none=True)
            loss, _ = algo.learner.loss(minibatch(module, [1.0], [0.0], value_offsets=[d], target_offsets=[e]), 0.2)
            loss.backward()
            norm = torch.cat([g.flatten() for g in grads(module.vf)]).norm().item()
            assert (norm > 1e-6) == has_grad, f"old = V - {d}, target = V + {e}: value grad norm {norm}"


# ---------------------------------------------------------------- how the terms combine


@pytest.mark.parametrize("vf_coeff, entropy_coeff", [(0.5, 0.0), (0.5, 0.3), (0.0, 0.3), (2.0, 0.01)])
def test_total_loss_is_policy_plus_weighted_value_minus_weighted_entropy(vf_coeff, entropy_coeff):
    ratios, advs = [0.5, 1.0, 1.5, 1.1], [1.0, -2.0, 1.0, 2.0]
    policy = np.mean([-0.5, 2.0, -1.2, -2.2])
    with build(vf_coeff=vf_coeff, entropy_coeff=entropy_coeff) as algo:
        module = algo.learner.raw_module
        mb = minibatch(module, ratios, advs, target_offsets=[0.5, -1.0, 2.0, 0.0])
        loss, stats = algo.learner.loss(mb, 0.2)
        with torch.no_grad():
            entropy = torch_entropy(module, mb[C.OBS]).mean().item()
    vf = (0.25 + 1.0 + 4.0 + 0.0) / 4
    s = stats_of(stats)
    assert s["entropy"] == pytest.approx(entropy, rel=1e-5)
    assert s["vf_loss"] == pytest.approx(vf, abs=1e-5) and s["policy_loss"] == pytest.approx(policy, abs=1e-5)
    assert loss.item() == pytest.approx(policy + vf_coeff * vf - entropy_coeff * entropy, abs=1e-5)


def test_entropy_bonus_lowers_the_loss_by_coeff_times_entropy():
    losses = {}
    for coeff in (0.0, 0.5):
        with build(entropy_coeff=coeff) as algo:
            module = algo.learner.raw_module
            mb = minibatch(module, [0.9, 1.2, 1.0], [1.0, -1.0, 0.5])
            losses[coeff] = algo.learner.loss(mb, 0.2)[0].item()
            with torch.no_grad():
                entropy = torch_entropy(module, mb[C.OBS]).mean().item()
    assert entropy > 0.5  # near-uniform over 2 actions: about log 2
    assert losses[0.5] - losses[0.0] == pytest.approx(-0.5 * entropy, abs=1e-5), (
        "a positive entropy_coeff must subtract coeff * entropy (a bonus), not add it")


def test_loss_and_gradients_match_the_plain_torch_reference_with_every_switch_on():
    hp = dict(normalize_advantages=True, vf_clip_param=0.3, entropy_coeff=0.05, vf_coeff=0.7, clip_param=0.2)
    with build(**hp) as algo:
        module = algo.learner.raw_module
        mb = minibatch(module, [0.5, 0.9, 1.0, 1.1, 1.5, 0.7, 1.3, 1.05], [1.0, -1.0, 3.0, 2.0, -2.0, -0.5, 0.3, 1.5],
                       value_offsets=[0.1, 0.5, -0.5, 1.0, 0.0, -0.2, 0.4, 2.0],
                       target_offsets=[0.3, -0.4, 0.6, 1.0, -1.0, 0.0, 0.2, -0.8])
        module.zero_grad(set_to_none=True)
        loss, stats = algo.learner.loss(mb, 0.2)
        loss.backward()
        got = grads(module)
        module.zero_grad(set_to_none=True)
        ref_total, ref_policy, ref_vf, ref_ent = reference_loss(module, mb, 0.2, hp)
        ref_total.backward()
        want = grads(module)
    s = stats_of(stats)
    assert loss.item() == pytest.approx(ref_total.item(), abs=1e-5)
    assert (s["policy_loss"], s["vf_loss"], s["entropy"]) == pytest.approx(
        (ref_policy.item(), ref_vf.item(), ref_ent.item()), abs=1e-5)
    for (name, _), g, w in zip(module.named_parameters(), got, want):
        assert torch.allclose(g, w, rtol=1e-4, atol=1e-7), f"gradient of {name} differs from the reference"
    assert all(g.abs().sum() > 0 for g in got), "every parameter (policy and value heads) should get a gradient"


def test_value_loss_trains_only_the_value_net_and_policy_terms_only_the_policy_net():
    with build(vf_coeff=1.0, entropy_coeff=0.1) as algo:
        module = algo.learner.raw_module
        mb = minibatch(module, [1.0, 1.1], [0.0, 0.0], target_offsets=[1.0, -1.0])  # zero advantage: no policy loss
        loss, _ = algo.learner.loss(mb, 0.2)
        loss.backward()
        vf_norm = torch.cat([g.flatten() for g in grads(module.vf)]).norm().item()
        module.zero_grad(set_to_none=True)
        mb = minibatch(module, [1.0, 1.1], [1.0, -1.0])  # targets equal V: no value loss
        loss, _ = algo.learner.loss(mb, 0.2)
        loss.backward()
        vf_norm_policy_only = torch.cat([g.flatten() for g in grads(module.vf)]).norm().item()
        pi_norm = torch.cat([g.flatten() for g in grads(module.pi)]).norm().item()
    assert vf_norm > 1e-3, "vf_coeff * vf_loss must reach the value network"
    assert vf_norm_policy_only == pytest.approx(0.0, abs=1e-8) and pi_norm > 1e-4


# ---------------------------------------------------------------- continuous actions (DiagGaussian)


def test_gaussian_policy_loss_and_entropy_match_torch_normal():
    hp = dict(normalize_advantages=True, vf_clip_param=None, entropy_coeff=0.1, vf_coeff=0.5, clip_param=0.2)
    with build("Pendulum-v1", **hp) as algo:
        module = algo.learner.raw_module
        with torch.no_grad():
            module.log_std.fill_(0.4)  # log_std != 0 so its terms in logp and entropy matter
        mb = minibatch(module, [0.7, 1.0, 1.1, 1.4], [1.0, -1.0, 2.0, -0.5], target_offsets=[0.2, 0.1, 0.0, -0.3])
        loss, stats = algo.learner.loss(mb, 0.2)
        ref_total, ref_policy, ref_vf, ref_ent = reference_loss(module, mb, 0.2, hp)
    s = stats_of(stats)
    assert s["entropy"] == pytest.approx(0.4 + 0.5 * (1 + math.log(2 * math.pi)), abs=1e-5)
    assert (s["policy_loss"], s["vf_loss"], loss.item()) == pytest.approx(
        (ref_policy.item(), ref_vf.item(), ref_total.item()), abs=1e-5)


def test_distributions_match_torch_distributions():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 3, generator=gen) * 2 + 5.0  # unnormalised on purpose
    actions = torch.tensor([0, 1, 2, 2, 1, 0])
    ref = torch.distributions.Categorical(logits=logits)
    cat = Categorical.from_inputs(logits)
    assert torch.allclose(cat.logp(actions), ref.log_prob(actions), atol=1e-5)
    assert torch.allclose(cat.entropy(), ref.entropy(), atol=1e-5)
    assert torch.equal(cat.deterministic_sample(), logits.argmax(-1))

    mean, log_std = torch.randn(6, 3, generator=gen), torch.randn(6, 3, generator=gen) * 0.5
    acts = torch.randn(6, 3, generator=gen)
    normal = torch.distributions.Normal(mean, log_std.exp())
    gauss = DiagGaussian.from_inputs(torch.cat([mean, log_std], -1))
    assert torch.allclose(gauss.logp(acts), normal.log_prob(acts).sum(-1), atol=1e-5)
    assert torch.allclose(gauss.entropy(), normal.entropy().sum(-1), atol=1e-5)
    assert torch.equal(gauss.deterministic_sample(), mean)


def test_gaussian_samples_have_the_distribution_mean_and_std():
    torch.manual_seed(0)
    mean, log_std = torch.tensor([1.0, -2.0]), torch.tensor([0.5, -1.0])
    dist = DiagGaussian.from_inputs(torch.cat([mean, log_std]).expand(20000, 4))
    samples, logp = dist.sample_and_logp()
    assert torch.allclose(samples.mean(0), mean, atol=0.05)
    assert torch.allclose(samples.std(0), log_std.exp(), rtol=0.03)
    assert torch.allclose(logp, dist.logp(samples))


# ---------------------------------------------------------------- stats


def test_approx_kl_and_clip_fraction_formulas():
    ratios = [0.5, 0.9, 1.0, 1.1, 1.7]  # mean(ratio - 1) != 0, so k3 differs from the naive -mean(log ratio)
    kl = np.mean([r - 1 - math.log(r) for r in ratios])  # the low-variance k3 estimator of KL(old || new)
    with build(clip_param=0.2) as algo:
        mb = minibatch(algo.learner.raw_module, ratios, [1.0, -1.0, 1.0, -1.0, 1.0])
        s = stats_of(algo.learner.loss(mb, 0.2)[1])
        s_wide = stats_of(algo.learner.loss(mb, 0.75)[1])
    assert s["approx_kl"] == pytest.approx(kl, abs=1e-6)
    assert s["clip_fraction"] == pytest.approx(2 / 5), "ratios 0.5 and 1.7 are outside 1 +- 0.2"
    assert s_wide["clip_fraction"] == 0.0


def test_explained_variance_formula():
    target = torch.tensor([1.0, 2.0, 3.0, 4.0])
    assert explained_variance(target.clone(), target) == pytest.approx(1.0)
    assert explained_variance(torch.full((4,), 2.5), target) == pytest.approx(0.0, abs=1e-6)
    # residual (0, 0, 0, 1): var 0.25 against var(target) 5/3
    assert explained_variance(torch.tensor([1.0, 2.0, 3.0, 3.0]), target) == pytest.approx(1 - 0.25 / (5 / 3))
    # a prediction with more spread than the target is worse than predicting the mean
    assert explained_variance(torch.tensor([4.0, 3.0, 2.0, 1.0]), target) == pytest.approx(1 - (20 / 3) / (5 / 3))
    assert math.isnan(explained_variance(torch.ones(4), torch.full((4,), 2.0)))


# ---------------------------------------------------------------- update(): pipeline, schedules, steps, grad clipping


def make_rollout(module, ratios: np.ndarray, rewards: np.ndarray, terminated=None, truncated=None) -> Rollout:
    """A [T, N] CartPole-shaped rollout whose stored log-probs give `ratios` under the module's current weights."""
    num_t, num_envs = rewards.shape
    gen = torch.Generator().manual_seed(3)
    obs = torch.randn(num_t + 1, num_envs, 4, generator=gen)
    actions = torch.randint(0, 2, (num_t, num_envs), generator=gen)
    with torch.no_grad():
        logp = torch_logp(module, obs[:-1], actions) - torch.log(torch.as_tensor(ratios, dtype=torch.float32))
    no = np.zeros((num_t, num_envs), bool)
    return Rollout({
        C.OBS: obs[:-1].numpy(), C.NEXT_OBS: obs[1:].numpy(), C.ACTIONS: actions.numpy(),
        C.ACTION_LOGP: logp.numpy(), C.REWARDS: rewards.astype(np.float32),
        C.TERMINATED: no if terminated is None else terminated, C.TRUNCATED: no if truncated is None else truncated,
    })


def reference_advantages(module, rollout: Rollout, gamma: float, lam: float):
    """GAE in a few lines (terminated: no bootstrap; either end stops the recursion); flat [T*N] adv and V(obs)."""
    d = rollout.data
    with torch.no_grad():
        v = module.vf(torch.from_numpy(d[C.OBS])).squeeze(-1).numpy()
        nv = module.vf(torch.from_numpy(d[C.NEXT_OBS])).squeeze(-1).numpy()
    adv, last = np.zeros_like(v), np.zeros_like(v[0])
    for t in reversed(range(len(v))):
        term, done = d[C.TERMINATED][t], d[C.TERMINATED][t] | d[C.TRUNCATED][t]
        delta = d[C.REWARDS][t] + gamma * (1 - term) * nv[t] - v[t]
        last = delta + gamma * lam * (1 - done) * last
        adv[t] = last
    return adv.reshape(-1), v.reshape(-1)


RATIOS = np.array([[1.1, 0.85], [1.18, 0.95], [0.82, 1.3], [1.0, 0.7]], np.float32)
REWARDS = np.array([[1.0, -0.5], [0.3, 2.0], [-1.0, 0.7], [0.5, 1.5]], np.float32)


def surrogate_loss(ratios, adv, clip):
    r = ratios.reshape(-1).astype(np.float64)
    return -np.mean(np.minimum(r * adv, np.clip(r, 1 - clip, 1 + clip) * adv))


def test_update_uses_the_configured_gamma_and_gae_lambda_and_reports_explained_variance():
    terminated = np.zeros((4, 2), bool)
    truncated = np.zeros((4, 2), bool)
    terminated[1, 0], truncated[2, 1] = True, True
    with build(gamma=0.9, gae_lambda=0.5, train_batch_size=8, minibatch_size=8, entropy_coeff=0.0) as algo:
        module = algo.learner.raw_module
        rollout = make_rollout(module, np.ones((4, 2), np.float32), REWARDS, terminated, truncated)
        adv, v = reference_advantages(module, rollout, 0.9, 0.5)
        metrics = algo.learner.update(algo.learner_batch(rollout), 0.0)
    # one step: its stats are taken before the weights move; ratio 1 and V = old prediction
    assert metrics["learner/policy_loss"] == pytest.approx(-adv.mean(), abs=1e-5), "advantages are not GAE(0.9, 0.5)"
    assert metrics["learner/vf_loss"] == pytest.approx(np.mean(adv ** 2), abs=1e-5), "targets should be A + V"
    ev = 1 - np.var(adv, ddof=1) / np.var(adv + v, ddof=1)
    assert metrics["learner/explained_variance"] == pytest.approx(ev, abs=1e-5)
    assert metrics["learner/approx_kl"] == pytest.approx(0.0, abs=1e-6)
    assert metrics["learner/clip_fraction"] == 0.0


@pytest.mark.parametrize("lr_schedule, clip_schedule, progress, lr, clip", [
    ("constant", "constant", 0.5, 1e-2, 0.2),
    ("linear", "constant", 0.25, 0.75e-2, 0.2),
    ("constant", "linear", 0.5, 1e-2, 0.1),
    ("linear", "linear", 0.75, 0.25e-2, 0.05),
])
def test_lr_and_clip_schedules_decay_linearly_with_progress_and_are_used(lr_schedule, clip_schedule, progress, lr,
                                                                         clip):
    with build(lr=1e-2, clip_param=0.2, lr_schedule=lr_schedule, clip_schedule=clip_schedule, gamma=0.9,
               gae_lambda=0.8, train_batch_size=8, minibatch_size=8) as algo:
        module = algo.learner.raw_module
        rollout = make_rollout(module, RATIOS, REWARDS)
        adv, _ = reference_advantages(module, rollout, 0.9, 0.8)
        before = [p.detach().clone() for p in module.parameters()]
        metrics = algo.learner.update(algo.learner_batch(rollout), progress)
        step = max((p.detach() - b).abs().max().item() for p, b in zip(module.parameters(), before))
        opt_lr = algo.learner.optimizers[0].param_groups[0]["lr"]
    assert metrics["learner/lr"] == pytest.approx(lr) and opt_lr == pytest.approx(lr)
    assert metrics["learner/clip_param"] == pytest.approx(clip)
    # Adam's first step moves each weight by lr * g / (|g| + eps): the largest move is the lr actually used
    assert step == pytest.approx(lr, rel=0.02), f"largest weight change {step}, expected about lr={lr}"
    outside = np.mean(np.abs(RATIOS - 1) > clip)
    assert metrics["learner/clip_fraction"] == pytest.approx(outside), f"clip fraction should use clip {clip}"
    assert metrics["learner/policy_loss"] == pytest.approx(surrogate_loss(RATIOS, adv, clip), abs=1e-5), (
        f"the surrogate should be clipped at the scheduled 1 +- {clip}")


def test_adam_epsilon_and_learning_rate_reach_the_optimizer():
    with build(adam_eps=1e-3, lr=7e-4) as algo:
        group = algo.learner.optimizers[0].param_groups[0]
    assert group["eps"] == 1e-3 and group["lr"] == 7e-4


def _update_with_grad_clip(grad_clip):
    """(metrics, reference grad norm, grad norm left in .grad after the step, largest weight change) of one step."""
    hp = dict(normalize_advantages=True, vf_clip_param=None, entropy_coeff=0.01, vf_coeff=0.5)
    with build(grad_clip=grad_clip, gamma=0.9, gae_lambda=0.8, lr=1e-2, train_batch_size=8, minibatch_size=8,
               **hp) as algo:
        module = algo.learner.raw_module
        rollout = make_rollout(module, RATIOS, REWARDS)
        adv, v = reference_advantages(module, rollout, 0.9, 0.8)
        obs = torch.from_numpy(rollout.data[C.OBS]).reshape(8, 4)
        mb = {C.OBS: obs, C.ACTIONS: torch.from_numpy(rollout.data[C.ACTIONS]).reshape(8),
              C.ACTION_LOGP: torch.from_numpy(rollout.data[C.ACTION_LOGP]).reshape(8),
              C.ADVANTAGES: torch.from_numpy(adv), C.VALUE_TARGETS: torch.from_numpy(adv + v),
              C.VF_PREDS: torch.from_numpy(v)}
        ref_module = copy.deepcopy(module)
        reference_loss(ref_module, mb, 0.2, hp)[0].backward()
        ref_norm = torch.cat([g.flatten() for g in grads(ref_module)]).norm().item()
        before = [p.detach().clone() for p in module.parameters()]
        metrics = algo.learner.update(algo.learner_batch(rollout), 0.0)
        left = torch.cat([g.flatten() for g in grads(module)]).norm().item()
        step = max((p.detach() - b).abs().max().item() for p, b in zip(module.parameters(), before))
    return metrics, ref_norm, left, step


def test_grad_clip_reports_the_unclipped_norm_and_clips_before_the_step():
    metrics, ref_norm, left, step = _update_with_grad_clip(1e-7)
    assert ref_norm > 1e-3
    assert metrics["learner/grad_norm"] == pytest.approx(ref_norm, rel=1e-4), "grad_norm: the norm before clipping"
    assert left == pytest.approx(1e-7, rel=0.02), "gradients should be rescaled to norm grad_clip"
    # clipped to 1e-7, every gradient entry is far below Adam's eps 1e-5, so the step is far below lr
    assert step < 0.02 * 1e-2, f"the optimizer step should use the clipped gradients (largest change {step})"


def test_grad_clip_above_the_norm_and_none_leave_gradients_alone():
    metrics, ref_norm, left, step = _update_with_grad_clip(1e3)
    assert metrics["learner/grad_norm"] == pytest.approx(ref_norm, rel=1e-4)
    assert left == pytest.approx(ref_norm, rel=1e-4) and step == pytest.approx(1e-2, rel=0.02)
    metrics, ref_norm, left, step = _update_with_grad_clip(None)
    assert "learner/grad_norm" not in metrics, "no clipping, no measured norm: none reported (not a false 0)"
    assert left == pytest.approx(ref_norm, rel=1e-4), "grad_clip=None must not clip"
    assert step == pytest.approx(1e-2, rel=0.02)


def test_update_takes_num_epochs_times_ceil_batch_over_minibatch_steps_over_shuffled_minibatches():
    with build(num_epochs=3, minibatch_size=4, train_batch_size=10, grad_clip=0.5, lr=1e-3) as algo:
        learner = algo.learner
        module = learner.raw_module
        rollout = make_rollout(module, np.ones((5, 2), np.float32), np.arange(10, dtype=np.float32).reshape(5, 2))
        seen, step_stats, norms = [], [], []
        loss_fn, backward_step = learner.loss, learner.backward_step

        def spy_loss(mb, clip):
            seen.append(mb[C.OBS][:, 0].tolist())
            loss, stats = loss_fn(mb, clip)
            step_stats.append(stats)
            return loss, stats

        def spy_step(loss, optimizer, grad_clip=None):
            norms.append(backward_step(loss, optimizer, grad_clip).item())
            return torch.tensor(norms[-1])

        learner.loss, learner.backward_step = spy_loss, spy_step
        torch.manual_seed(0)
        metrics = learner.update(algo.learner_batch(rollout), 0.0)
        first_updates = learner.num_updates
        learner.update(algo.learner_batch(rollout), 0.0)
    assert first_updates == 9 and learner.num_updates == 18, "3 epochs x ceil(10 / 4) minibatches, cumulative"
    assert [len(s) for s in seen[:9]] == [4, 4, 2] * 3, "minibatch_size samples per step, the rest in the last one"
    everything = sorted(rollout.data[C.OBS].reshape(10, 4)[:, 0].tolist())
    epochs = [sum(seen[i : i + 3], []) for i in (0, 3, 6)]
    for epoch in epochs:
        assert sorted(epoch) == pytest.approx(everything), "each epoch should visit every sample exactly once"
    assert not epochs[0] == epochs[1] == epochs[2], "minibatches should be reshuffled every epoch"
    mean_stats = stats_of(torch.stack(step_stats[:9]).mean(0))
    for name, value in mean_stats.items():
        assert metrics[f"learner/{name}"] == pytest.approx(value, abs=1e-6), f"{name}: mean over the 9 steps"
    assert metrics["learner/grad_norm"] == pytest.approx(np.mean(norms[:9]), rel=1e-5)


def test_each_step_uses_only_its_own_gradient():
    hp = dict(normalize_advantages=True, vf_clip_param=None, entropy_coeff=0.01, vf_coeff=0.5)
    with build(num_epochs=2, minibatch_size=8, train_batch_size=8, gamma=0.9, gae_lambda=0.8, **hp) as algo:
        learner, module = algo.learner, algo.learner.raw_module
        rollout = make_rollout(module, RATIOS, REWARDS)
        calls = []
        loss_fn = learner.loss

        def spy_loss(mb, clip):
            calls.append((copy.deepcopy(module), {k: v.clone() for k, v in mb.items()}))
            return loss_fn(mb, clip)

        learner.loss = spy_loss
        learner.update(algo.learner_batch(rollout), 0.0)
        left = grads(module)
    assert len(calls) == 2
    last_module, last_mb = calls[-1]
    last_module.zero_grad(set_to_none=True)
    reference_loss(last_module, last_mb, 0.2, hp)[0].backward()
    for g, w in zip(left, grads(last_module)):
        assert torch.allclose(g, w, rtol=1e-4, atol=1e-7), "the second step's gradient should not include the first's"


def test_defaults_follow_stable_baselines3_and_rllib_names_map():
    hp = PPOTrainingConfig()
    assert (hp.lr, hp.gamma, hp.gae_lambda, hp.clip_param, hp.vf_clip_param) == (3e-4, 0.99, 0.95, 0.2, None)
    assert (hp.entropy_coeff, hp.vf_coeff, hp.num_epochs, hp.minibatch_size) == (0.0, 0.5, 10, 64)
    assert (hp.normalize_advantages, hp.grad_clip, hp.adam_eps, hp.train_batch_size) == (True, 0.5, 1e-5, 2048)
    assert (hp.lr_schedule, hp.clip_schedule) == ("constant", "constant")
    built = PPOConfig().training(vf_loss_coeff=0.7, entropy_coeff=0.1, lambda_=0.9).to_config().algorithm
    assert (built.vf_coeff, built.entropy_coeff, built.gae_lambda) == (0.7, 0.1, 0.9)


def test_train_drives_the_schedules_with_the_fraction_of_total_steps_done():
    with (PPOConfig().environment("CartPole-v1")
          .training(**{**BASE, "train_batch_size": 8, "minibatch_size": 8, "lr_schedule": "linear",
                       "clip_schedule": "linear"})
          .env_runners(num_envs_per_env_runner=2).evaluation(interval=0).debugging(seed=0)
          .stopping(total_steps=32).build()) as algo:
        results = [algo.train() for _ in range(2)]
    for result, done in zip(results, (8, 16)):  # progress counts the iteration's own rollout, as SB3 does
        assert result["env_steps"] == done
        assert result["learner/lr"] == pytest.approx(1e-2 * (1 - done / 32))
        assert result["learner/clip_param"] == pytest.approx(0.2 * (1 - done / 32))
