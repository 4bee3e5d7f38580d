"""A2C's loss, optimizer and update against hand-worked numbers and a plain-torch reference (SB3's A2C conventions)."""
from __future__ import annotations

import copy
from typing import Dict, List

import numpy as np
import pytest
import torch

from rlhydra.algorithms.a2c import A2CConfig
from rlhydra.algorithms.a2c.config import A2CTrainingConfig
from rlhydra.data import columns as C
from tests.actor_critic_helpers import torch_entropy, torch_logp
from rlhydra.data.rollout import Rollout


pytestmark = pytest.mark.usefixtures("one_torch_thread")


# Every test states the switches it relies on; these defaults switch the optional terms off.
BASE = dict(train_batch_size=10, normalize_advantages=False, entropy_coeff=0.0, grad_clip=None, vf_coeff=0.5, lr=1e-2)


def build(env: str = "CartPole-v1", **training):
    """A tiny A2C on `env` (seed 0, 2 envs) with BASE's hyperparameters overridden by `training`."""
    return (A2CConfig().environment(env).training(**{**BASE, **training})
            .env_runners(num_envs_per_env_runner=2).evaluation(interval=0).debugging(seed=0).build())


ADV = [2.0, -1.0, 0.5, 3.0, -0.25]
TARGET_OFFSETS = [1.0, -2.0, 0.5, 0.0, 3.0]


def minibatch(module, advantages=ADV, target_offsets=TARGET_OFFSETS, seed=0) -> Dict[str, torch.Tensor]:
    """A hand-made minibatch: value targets are V(obs) + target_offsets; stored log-probs are far off (ratio 5).

    The policy's output layer is scaled up first, so that log-probs differ clearly between samples.
    """
    with torch.no_grad():
        module.pi[-1].weight.mul_(100.0)
    n = len(advantages)
    gen = torch.Generator().manual_seed(seed)
    obs = torch.randn(n, module.pi[0].in_features, generator=gen)
    with torch.no_grad():
        if module.discrete:
            actions = torch.randint(0, module.pi[-1].out_features, (n,), generator=gen)
        else:
            actions = torch.randn(n, module.pi[-1].out_features, generator=gen)
        logp = torch_logp(module, obs, actions)
        values = module.vf(obs).squeeze(-1)
    return {
        C.OBS: obs, C.ACTIONS: actions, C.ACTION_LOGP: logp - np.log(5.0),
        C.ADVANTAGES: torch.tensor(advantages, dtype=torch.float32),
        C.VF_PREDS: values - 10.0, C.VALUE_TARGETS: values + torch.tensor(target_offsets, dtype=torch.float32),
    }


def reference_loss(module, mb, hp):
    """A2C's loss in plain torch (SB3): returns (total, policy, value, entropy)."""
    adv = mb[C.ADVANTAGES]
    if hp["normalize_advantages"] and len(adv) > 1:
        adv = (adv - adv.mean()) / (adv.std(unbiased=True) + 1e-8)
    policy = -(torch_logp(module, mb[C.OBS], mb[C.ACTIONS]) * adv).mean()
    vf = torch.nn.functional.mse_loss(module.vf(mb[C.OBS]).squeeze(-1), mb[C.VALUE_TARGETS])
    entropy = torch_entropy(module, mb[C.OBS]).mean()
    return policy + hp["vf_coeff"] * vf - hp["entropy_coeff"] * entropy, policy, vf, entropy


def stats_of(stats: torch.Tensor) -> Dict[str, float]:
    return dict(zip(("policy_loss", "vf_loss", "entropy"), stats.tolist()))


def grads(module) -> List[torch.Tensor]:
    return [torch.zeros_like(p) if p.grad is None else p.grad.clone() for p in module.parameters()]


# ---------------------------------------------------------------- the loss


def test_policy_loss_is_minus_the_mean_of_logp_times_advantage():
    with build() as algo:
        module = algo.learner.raw_module
        mb = minibatch(module)
        _, stats = algo.learner.loss(mb)
        with torch.no_grad():
            logp = torch_logp(module, mb[C.OBS], mb[C.ACTIONS])
    expected = -(logp * mb[C.ADVANTAGES]).mean().item()
    assert stats_of(stats)["policy_loss"] == pytest.approx(expected, rel=1e-5)


def test_the_policy_gradient_is_the_advantage_weighted_score_with_no_clipping_or_ratio():
    with build(vf_coeff=0.0) as algo:
        module = algo.learner.raw_module
        mb = minibatch(module)
        loss, _ = algo.learner.loss(mb)
        loss.backward()
        got = grads(module)
        module.zero_grad(set_to_none=True)
        (-(torch_logp(module, mb[C.OBS], mb[C.ACTIONS]) * mb[C.ADVANTAGES]).mean()).backward()
        want = grads(module)
        # the stored log-probs (ratio 5, far outside any clip range) change nothing: A2C has no ratio
        other = dict(mb, **{C.ACTION_LOGP: mb[C.ACTION_LOGP] + 7.0})
        assert algo.learner.loss(other)[0].item() == pytest.approx(loss.item(), rel=1e-6)
    assert any(g.abs().sum() > 0 for g in got)
    for g, w in zip(got, want):
        assert torch.allclose(g, w, rtol=1e-4, atol=1e-7)


def test_value_loss_is_the_unclipped_mean_squared_error_to_the_targets():
    with build() as algo:
        mb = minibatch(algo.learner.raw_module)
        _, stats = algo.learner.loss(mb)
        # the old predictions (10 below V) would clip any value update: they are not used
        _, stats_other_old = algo.learner.loss(dict(mb, **{C.VF_PREDS: mb[C.VF_PREDS] + 20.0}))
    assert stats_of(stats)["vf_loss"] == pytest.approx(np.mean(np.square(TARGET_OFFSETS)), rel=1e-5)
    assert stats_of(stats_other_old)["vf_loss"] == pytest.approx(stats_of(stats)["vf_loss"], rel=1e-6)


@pytest.mark.parametrize("vf_coeff, entropy_coeff", [(0.5, 0.0), (0.25, 0.1), (1.0, 0.01)])
def test_total_loss_is_policy_plus_weighted_value_minus_weighted_entropy(vf_coeff, entropy_coeff):
    with build(vf_coeff=vf_coeff, entropy_coeff=entropy_coeff) as algo:
        mb = minibatch(algo.learner.raw_module)
        loss, stats = algo.learner.loss(mb)
    s = stats_of(stats)
    assert s["entropy"] > 0.1
    expected = s["policy_loss"] + vf_coeff * s["vf_loss"] - entropy_coeff * s["entropy"]
    assert loss.item() == pytest.approx(expected, rel=1e-5, abs=1e-6)


def test_the_entropy_bonus_lowers_the_loss_by_coeff_times_the_mean_entropy():
    losses = {}
    for coeff in (0.0, 0.2):
        with build(entropy_coeff=coeff) as algo:
            module = algo.learner.raw_module
            mb = minibatch(module)
            losses[coeff] = algo.learner.loss(mb)[0].item()
            with torch.no_grad():
                entropy = torch_entropy(module, mb[C.OBS]).mean().item()
    assert losses[0.2] - losses[0.0] == pytest.approx(-0.2 * entropy, rel=1e-4)


@pytest.mark.parametrize("env", ["CartPole-v1", "Pendulum-v1"])
def test_loss_and_gradients_match_the_plain_torch_reference_with_every_switch_on(env):
    hp = dict(normalize_advantages=True, entropy_coeff=0.05, vf_coeff=0.7)
    with build(env, **hp) as algo:
        module = algo.learner.raw_module
        mb = minibatch(module)
        ref_module = copy.deepcopy(module)
        loss, stats = algo.learner.loss(mb)
        loss.backward()
        ref = reference_loss(ref_module, mb, hp)
        ref[0].backward()
    assert loss.item() == pytest.approx(ref[0].item(), rel=1e-5)
    assert stats.tolist() == pytest.approx([r.item() for r in ref[1:]], rel=1e-5)
    for g, w in zip(grads(module), grads(ref_module)):
        assert torch.allclose(g, w, rtol=1e-4, atol=1e-7)


# ---------------------------------------------------------------- advantage normalisation


def test_advantages_are_used_as_they_come_by_default():
    assert A2CTrainingConfig().normalize_advantages is False
    with build(normalize_advantages=A2CTrainingConfig().normalize_advantages) as algo:
        module = algo.learner.raw_module
        mb = minibatch(module)
        _, stats = algo.learner.loss(mb)
        ref = reference_loss(module, mb, dict(normalize_advantages=False, vf_coeff=0.5, entropy_coeff=0.0))
    assert stats_of(stats)["policy_loss"] == pytest.approx(ref[1].item(), rel=1e-5)


def test_advantages_are_normalised_with_the_minibatch_mean_and_unbiased_std_when_switched_on():
    with build(normalize_advantages=True) as algo:
        module = algo.learner.raw_module
        mb = minibatch(module)
        _, stats = algo.learner.loss(mb)
        with torch.no_grad():
            logp = torch_logp(module, mb[C.OBS], mb[C.ACTIONS]).numpy()
    adv = np.array(ADV)
    norm = (adv - adv.mean()) / (adv.std(ddof=1) + 1e-8)
    assert stats_of(stats)["policy_loss"] == pytest.approx(-np.mean(logp * norm), rel=1e-5)
    assert stats_of(stats)["policy_loss"] != pytest.approx(-np.mean(logp * adv), rel=1e-3)


# ---------------------------------------------------------------- update(): returns, one step, RMSprop


def make_rollout(rewards: np.ndarray, terminated=None, truncated=None) -> Rollout:
    """A [T, N] CartPole-shaped rollout with random observations and actions."""
    num_t, num_envs = rewards.shape
    gen = torch.Generator().manual_seed(3)
    obs = torch.randn(num_t + 1, num_envs, 4, generator=gen)
    actions = torch.randint(0, 2, (num_t, num_envs), generator=gen)
    no = np.zeros((num_t, num_envs), bool)
    return Rollout({
        C.OBS: obs[:-1].numpy(), C.NEXT_OBS: obs[1:].numpy(), C.ACTIONS: actions.numpy(),
        C.ACTION_LOGP: np.zeros((num_t, num_envs), np.float32), C.REWARDS: rewards.astype(np.float32),
        C.TERMINATED: no if terminated is None else terminated, C.TRUNCATED: no if truncated is None else truncated,
    })


def n_step_returns(module, rollout: Rollout, gamma: float) -> np.ndarray:
    """R_t = r_t + gamma r_t+1 + ... up to the episode's or the rollout's end, then gamma^k V(that next obs);
    nothing after a termination. Written as explicit sums, not as a recursion: flat [T*N]."""
    d = rollout.data
    with torch.no_grad():
        nv = module.vf(torch.from_numpy(d[C.NEXT_OBS])).squeeze(-1).numpy().astype(np.float64)
    num_t, num_envs = d[C.REWARDS].shape
    returns = np.zeros((num_t, num_envs))
    for n in range(num_envs):
        for t in range(num_t):
            total, k = 0.0, t
            while True:
                total += gamma ** (k - t) * d[C.REWARDS][k, n]
                if d[C.TERMINATED][k, n]:
                    break
                if d[C.TRUNCATED][k, n] or k == num_t - 1:
                    total += gamma ** (k - t + 1) * nv[k, n]
                    break
                k += 1
            returns[t, n] = total
    return returns.reshape(-1)


REWARDS = np.array([[1.0, -0.5], [0.3, 2.0], [-1.0, 0.7], [0.5, 1.5], [2.0, -1.0]], np.float32)


def test_with_gae_lambda_1_the_targets_are_discounted_n_step_returns_bootstrapped_from_v():
    assert A2CTrainingConfig().gae_lambda == 1.0
    terminated, truncated = np.zeros((5, 2), bool), np.zeros((5, 2), bool)
    terminated[1, 0], truncated[2, 1] = True, True
    with build(gamma=0.9, gae_lambda=A2CTrainingConfig().gae_lambda) as algo:
        module = algo.learner.raw_module
        rollout = make_rollout(REWARDS, terminated, truncated)
        returns = n_step_returns(module, rollout, 0.9)
        with torch.no_grad():
            obs = torch.from_numpy(rollout.data[C.OBS]).reshape(10, 4)
            v = module.vf(obs).squeeze(-1).numpy()
            logp = torch_logp(module, obs, torch.from_numpy(rollout.data[C.ACTIONS]).reshape(10)).numpy()
        metrics = algo.learner.update(algo.learner_batch(rollout), 0.0)
    adv = returns - v
    # one step: its stats are taken before the weights move
    assert metrics["learner/vf_loss"] == pytest.approx(np.mean(adv ** 2), rel=1e-5), "targets: n-step returns"
    assert metrics["learner/policy_loss"] == pytest.approx(-np.mean(logp * adv), rel=1e-4), "advantages: R - V"


def test_one_gradient_step_on_the_whole_rollout_per_update():
    hp = A2CTrainingConfig()
    assert (hp.num_epochs, hp.minibatch_size) == (1, None)
    with build(num_epochs=hp.num_epochs, minibatch_size=hp.minibatch_size, train_batch_size=80) as algo:
        learner = algo.learner
        sizes = []
        loss_fn = learner.loss

        def spy_loss(mb):
            sizes.append(len(mb[C.OBS]))
            return loss_fn(mb)

        learner.loss = spy_loss
        learner.update(algo.learner_batch(make_rollout(REWARDS)), 0.0)
        assert sizes == [10] and learner.num_updates == 1
        algo.train()  # 80 env steps: 2 envs x 40, more than any minibatch default
        assert sizes == [10, 80] and learner.num_updates == 2 and algo.env_steps == 80


def test_rmsprop_with_sb3s_settings_is_the_default_optimizer():
    hp = A2CTrainingConfig()
    assert (hp.use_rms_prop, hp.rms_prop_alpha, hp.rms_prop_eps) == (True, 0.99, 1e-5)
    with build(lr=7e-4, use_rms_prop=True, rms_prop_alpha=0.99, rms_prop_eps=1e-5) as algo:
        opt = algo.learner.optimizers[0]
    assert isinstance(opt, torch.optim.RMSprop)
    group = opt.param_groups[0]
    assert (group["lr"], group["alpha"], group["eps"]) == (7e-4, 0.99, 1e-5)
    assert (group["momentum"], group["weight_decay"], group["centered"]) == (0, 0, False)


def test_rmsprop_alpha_and_eps_reach_the_optimizer_and_adam_is_the_switch():
    with build(rms_prop_alpha=0.9, rms_prop_eps=1e-3) as algo:
        group = algo.learner.optimizers[0].param_groups[0]
    assert (group["alpha"], group["eps"]) == (0.9, 1e-3)
    with build(use_rms_prop=False, adam_eps=1e-3, lr=5e-4) as algo:
        opt = algo.learner.optimizers[0]
    assert isinstance(opt, torch.optim.Adam)
    assert (opt.param_groups[0]["eps"], opt.param_groups[0]["lr"]) == (1e-3, 5e-4)


def test_one_update_is_the_reference_loss_clipped_to_max_grad_norm_and_one_rmsprop_step():
    hp = dict(normalize_advantages=False, entropy_coeff=0.01, vf_coeff=0.5)
    with build(grad_clip=0.5, gamma=0.9, lr=7e-4, **hp) as algo:
        module = algo.learner.raw_module
        rollout = make_rollout(REWARDS)
        returns = n_step_returns(module, rollout, 0.9)
        obs = torch.from_numpy(rollout.data[C.OBS]).reshape(10, 4)
        with torch.no_grad():
            v = module.vf(obs).squeeze(-1)
        mb = {C.OBS: obs, C.ACTIONS: torch.from_numpy(rollout.data[C.ACTIONS]).reshape(10),
              C.ADVANTAGES: torch.as_tensor(returns, dtype=torch.float32) - v,
              C.VALUE_TARGETS: torch.as_tensor(returns, dtype=torch.float32)}
        ref = copy.deepcopy(module)
        opt = torch.optim.RMSprop(ref.parameters(), lr=7e-4, alpha=0.99, eps=1e-5)
        reference_loss(ref, mb, hp)[0].backward()
        norm = torch.nn.utils.clip_grad_norm_(list(ref.parameters()), 0.5)
        opt.step()
        metrics = algo.learner.update(algo.learner_batch(rollout), 0.0)
    assert norm > 0.5, "the test needs a gradient that is clipped"
    assert metrics["learner/grad_norm"] == pytest.approx(norm.item(), rel=1e-4)
    for p, r in zip(module.parameters(), ref.parameters()):
        assert torch.allclose(p, r, rtol=1e-5, atol=1e-6)


def test_the_lr_schedule_is_shared_with_ppo():
    with build(lr=1e-2, lr_schedule="linear") as algo:
        metrics = algo.learner.update(algo.learner_batch(make_rollout(REWARDS)), 0.25)
        assert algo.learner.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.75e-2)
    assert metrics["learner/lr"] == pytest.approx(0.75e-2)
    assert {"learner/policy_loss", "learner/vf_loss", "learner/entropy",
            "learner/explained_variance"} <= set(metrics) and "learner/clip_param" not in metrics
    assert "learner/grad_norm" not in metrics, "grad_clip=None: no norm is measured, none is reported"


# ---------------------------------------------------------------- defaults, names, a run


def test_defaults_follow_stable_baselines3_and_rllib_and_sb3_names_map():
    hp = A2CTrainingConfig()
    assert (hp.lr, hp.gamma, hp.gae_lambda, hp.entropy_coeff, hp.vf_coeff, hp.grad_clip) == (7e-4, 0.99, 1.0, 0.0,
                                                                                             0.5, 0.5)
    assert (hp.train_batch_size, hp.lr_schedule) == (40, "constant")  # 8 envs x n_steps 5
    built = A2CConfig().training(vf_coef=0.7, ent_coef=0.1, lambda_=0.9, max_grad_norm=1.0, learning_rate=1e-3,
                                 normalize_advantage=True).to_config().algorithm
    assert (built.vf_coeff, built.entropy_coeff, built.gae_lambda, built.grad_clip, built.lr) == (0.7, 0.1, 0.9,
                                                                                                 1.0, 1e-3)
    assert built.normalize_advantages is True


def test_a2c_runs_on_a_continuous_env_and_round_trips_a_checkpoint(tmp_path):
    config = (A2CConfig().environment("Pendulum-v1").training(train_batch_size=16)
              .env_runners(num_envs_per_env_runner=2).evaluation(interval=0, episodes=1, num_envs=1)
              .debugging(seed=0))
    with config.build() as algo:
        for _ in range(3):
            result = algo.train()
        path = algo.save(str(tmp_path / "ckpt"))
        weights = algo.learner.get_weights()
    assert result["env_steps"] == 48 and np.isfinite(result["learner/vf_loss"])
    with type(algo).from_checkpoint(path) as restored:
        assert restored.env_steps == 48
        for k, v in restored.learner.get_weights().items():
            assert torch.equal(v, weights[k])
        assert isinstance(restored.learner.optimizers[0], torch.optim.RMSprop)
