"""SAC's losses, targets, polyak updates, squashed Gaussian and gSDE against plain-torch references."""
from __future__ import annotations

import copy
import math
from typing import Any, Dict

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch.distributions import Normal

from rlhydra import SACConfig
from rlhydra.algorithms.sac.learner import SACLearner
from rlhydra.algorithms.sac.module import SACModule, SDEActor
from rlhydra.data import columns as C
from tests.off_policy_helpers import (ACT_DIM, B, OBS_DIM, SEED, assert_grads_close, double_copy, grads_of,
                                      make_batch, q12, run_update)
from rlhydra.core.torch_settings import TorchSettings
from rlhydra.models.distributions import SquashedGaussian

LR, ALPHA0, GAMMA = 1e-3, 0.37, 0.8  # alpha != 1 and gamma != every per-sample discount, so each term shows
F64 = dict(rtol=1e-5, atol=1e-6)  # float32 library vs float64 plain-torch reference


# ---- helpers ----------------------------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _torch_settings():
    """The learner's defaults (1 thread, subnormals flushed), as an Algorithm sets them around its compute; a fixed
    torch seed whatever the test order."""
    torch.manual_seed(0)
    with TorchSettings(threads=1, flush_denormal=True):
        yield


def make_module(use_sde: bool = False, **kwargs: Any) -> SACModule:
    torch.manual_seed(0)
    return SACModule(gym.spaces.Box(-np.inf, np.inf, (OBS_DIM,), np.float32),
                     gym.spaces.Box(-1.0, 1.0, (ACT_DIM,), np.float32),
                     hidden_sizes=(16, 16), use_sde=use_sde, **kwargs)


def make_learner(use_sde: bool = False, module_kwargs: Dict[str, Any] | None = None, **training: Any) -> SACLearner:
    """A SAC learner on a 3-d observation, 2-d action module; its target critics differ from the online ones."""
    training = {"lr": LR, "initial_alpha": ALPHA0, "gamma": GAMMA, **training}
    config = SACConfig().environment("Pendulum-v1").training(**training).to_config()
    module = make_module(use_sde, **(module_kwargs or {}))
    with torch.no_grad():  # as after some training: the target must be told apart from the online critic
        for p in module.critic_target.parameters():
            p.add_(0.2 * torch.randn_like(p))
    return SACLearner(config, module)


def ref_dist_inputs(ref: SACModule, obs: torch.Tensor, lo: float = -20.0, hi: float = 2.0):
    """(mean, clamped log_std) from the actor's layers, in plain torch."""
    if isinstance(ref.actor, SDEActor):
        latent = ref.actor.latent(obs)
        mean = torch.nn.functional.hardtanh(ref.actor.mu(latent), -2.0, 2.0)  # SB3's clip_mean=2.0
        log_std = 0.5 * torch.log(latent ** 2 @ torch.exp(ref.actor.log_std) ** 2 + 1e-6)
    else:
        out = ref.actor(obs)
        mean, log_std = out[:, :ACT_DIM], out[:, ACT_DIM:]
    return mean, log_std.clamp(lo, hi)


def ref_squashed(mean: torch.Tensor, log_std: torch.Tensor, eps: torch.Tensor):
    """tanh(u), u = mean + std * eps, and log N(u; mean, std) - sum log(1 - tanh(u)^2)."""
    std = log_std.exp()
    u = mean + std * eps
    logp = Normal(mean, std).log_prob(u).sum(-1) - torch.log(1 - torch.tanh(u) ** 2).sum(-1)
    return torch.tanh(u), logp


def noise(seed: int = SEED):
    """The two standard-normal draws of one update, in the order it makes them: next actions, then fresh actions."""
    torch.manual_seed(seed)
    return torch.randn(B, ACT_DIM).double(), torch.randn(B, ACT_DIM).double()


def ref_target(ref: SACModule, batch, eps_next, alpha: float, *, critic=None, use_min=True, entropy=True,
               mask=True, discounts=None):
    """The soft TD target; keywords give the wrong variants (to show the batch tells them apart)."""
    b = {k: v.double() for k, v in batch.items()}
    mean, log_std = ref_dist_inputs(ref, b[C.NEXT_OBS])
    next_a, next_logp = ref_squashed(mean, log_std, eps_next)
    q1, q2 = q12(critic or ref.critic_target, b[C.NEXT_OBS], next_a)
    v = (torch.min(q1, q2) if use_min else torch.max(q1, q2)) - (alpha * next_logp if entropy else 0.0)
    disc = b["discounts"] if discounts is None else discounts
    return (b[C.REWARDS] + disc * ((1.0 - b[C.TERMINATED]) if mask else 1.0) * v).detach()


def ref_critic_loss(ref: SACModule, batch, target: torch.Tensor):
    b = {k: v.double() for k, v in batch.items()}
    q1, q2 = q12(ref.critic, b[C.OBS], b[C.ACTIONS])
    td1, td2 = q1 - target, q2 - target
    return 0.5 * (b["weights"] * (td1 ** 2 + td2 ** 2)).mean(), td1, td2, q1


# ---- critic -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("use_sde", [False, True])
def test_critic_target_takes_the_min_of_the_twin_target_qs_minus_alpha_logp(use_sde):
    learner = make_learner(use_sde)
    batch, before, spy, out = run_update(learner)
    eps_next, _ = noise()
    alpha = math.exp(before.log_alpha.item())
    assert alpha == pytest.approx(ALPHA0) and out["alpha"].item() == pytest.approx(ALPHA0)
    target = ref_target(before, batch, eps_next, alpha)
    loss, td1, td2, q1 = ref_critic_loss(before, batch, target)
    torch.testing.assert_close(out["critic_loss"].double(), loss, **F64)
    torch.testing.assert_close(spy.calls[0]["loss"].double(), loss, **F64)
    torch.testing.assert_close(out["td_errors"].double(), 0.5 * (td1.abs() + td2.abs()), **F64)
    torch.testing.assert_close(out["q_mean"].double(), q1.mean(), **F64)
    # The batch is built so that each wrong target gives a clearly different loss (else this test proves little).
    wrong = {
        "max of the twin Qs": dict(use_min=False), "no -alpha*logp": dict(entropy=False),
        "online critic": dict(critic=before.critic), "no terminal mask": dict(mask=False),
        "gamma instead of per-sample discounts": dict(discounts=GAMMA), "+alpha*logp": dict(alpha=-alpha),
    }
    for name, kw in wrong.items():
        kw = {"alpha": alpha, **kw}
        other = ref_critic_loss(before, batch, ref_target(before, batch, eps_next, **kw))[0]
        assert abs(other.item() - loss.item()) > 1e-3 * max(1.0, abs(loss.item())), f"batch cannot detect: {name}"


def test_critic_target_uses_the_n_step_discounts_and_zero_bootstrap_on_termination():
    learner = make_learner()
    batch = make_batch()
    # Terminal transitions, or a zero discount, leave the bare reward; then |td| tells the target exactly.
    batch[C.TERMINATED] = torch.tensor([1.0, 1.0, 1.0, 0.0, 0.0, 0.0])
    batch["discounts"] = torch.tensor([0.99, 0.5, 0.9, 0.0, 0.0, 0.0])
    q1, q2 = q12(learner.raw_module.critic, batch[C.OBS], batch[C.ACTIONS])
    out = learner.update(batch, 0.0)
    expected = 0.5 * ((q1 - batch[C.REWARDS]).abs() + (q2 - batch[C.REWARDS]).abs())
    torch.testing.assert_close(out["td_errors"], expected.detach(), msg="target != reward when nothing bootstraps")


def test_critic_loss_is_half_the_weighted_mean_of_both_squared_td_errors_and_trains_both_critics():
    learner = make_learner()
    batch, before, spy, out = run_update(learner)
    critic_call = spy.calls[0]
    target = ref_target(before, batch, noise()[0], ALPHA0)
    loss = ref_critic_loss(before, batch, target)[0]
    expected = grads_of(loss, before.critic, "critic")
    assert_grads_close(critic_call["grads"], expected, "critic grad")
    for head in ("q1", "q2"):
        assert any(critic_call["grads"][n].abs().sum() > 0 for n in expected if n.startswith(f"critic.{head}.")), head
    # Adam's first step moves each weight by lr * g / (|g| + eps), at the configured lr.
    for name in expected:
        g = critic_call["grads"][name].double()
        prev = dict(before.named_parameters())[name]
        torch.testing.assert_close(critic_call["state"][name].double(), prev - LR * g / (g.abs() + 1e-8),
                                   rtol=1e-4, atol=1e-6, msg=lambda m: f"Adam step of {name}: {m}")


def test_importance_weights_multiply_each_samples_squared_td_errors():
    learner = make_learner()
    batch = make_batch()
    batch["weights"] = torch.tensor([0.0, 0.0, 3.0, 0.0, 0.0, 0.0])  # only sample 2 counts, three times over
    batch, before, spy, out = run_update(learner, batch)
    target = ref_target(before, batch, noise()[0], ALPHA0)
    _, td1, td2, _ = ref_critic_loss(before, batch, target)
    loss = 0.5 * 3.0 * (td1[2] ** 2 + td2[2] ** 2) / B
    torch.testing.assert_close(out["critic_loss"].double(), loss.detach(), **F64)
    assert_grads_close(spy.calls[0]["grads"], grads_of(loss, before.critic, "critic"), "weighted critic grad")
    # the td errors (new priorities) do not depend on the weights
    torch.testing.assert_close(out["td_errors"].double(), 0.5 * (td1.abs() + td2.abs()).detach(), **F64)


def test_critic_loss_reaches_only_the_online_critics_and_the_actor_loss_only_the_actor():
    learner = make_learner()
    spy = run_update(learner)[2]
    critic_names = {n for n, _ in learner.raw_module.named_parameters() if n.startswith("critic.")}
    actor_names = {n for n, _ in learner.raw_module.named_parameters() if n.startswith("actor.")}
    critic_call, actor_call, alpha_call = spy.calls
    assert critic_call["reached"] == critic_names == critic_call["stepped"], \
        "the critic loss must not backprop into the actor or alpha (the target is computed without grad)"
    assert actor_call["reached"] == actor_names == actor_call["stepped"], \
        "the actor loss must reach only the actor (critics frozen, alpha detached)"
    assert alpha_call["reached"] == {"log_alpha"} == alpha_call["stepped"], "the alpha loss must use logp.detach()"
    assert all(not p.requires_grad for p in learner.raw_module.critic_target.parameters())
    assert all(p.requires_grad for p in learner.raw_module.critic.parameters()), "critics must get requires_grad back"
    learner.update(make_batch(), 0.0)  # and a second update still trains the critics


def test_a_second_update_starts_from_fresh_gradients_and_the_updated_weights():
    learner = make_learner()
    run_update(learner, seed=1)
    batch, before, spy, out = run_update(learner)
    target = ref_target(before, batch, noise()[0], math.exp(before.log_alpha.item()))
    loss = ref_critic_loss(before, batch, target)[0]
    torch.testing.assert_close(out["critic_loss"].double(), loss, **F64)
    assert_grads_close(spy.calls[0]["grads"], grads_of(loss, before.critic, "critic"), "second critic grad")


def test_target_critics_start_as_an_exact_copy_of_the_online_critics():
    module = make_module()
    for (name, a), b in zip(module.critic.named_parameters(), module.critic_target.parameters()):
        assert torch.equal(a, b) and a is not b, name
        assert not b.requires_grad


# ---- actor ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("use_sde", [False, True])
def test_actor_loss_is_alpha_logp_minus_min_q_of_fresh_reparameterised_actions(use_sde):
    learner = make_learner(use_sde)
    batch, before, spy, out = run_update(learner)
    critic_call, actor_call = spy.calls[0], spy.calls[1]
    _, eps_pi = noise()
    after_critic = double_copy(learner.raw_module, critic_call["state"])  # the just-updated critics
    obs = batch[C.OBS].double()
    mean, log_std = ref_dist_inputs(before, obs)  # the actor before its step
    actions, logp = ref_squashed(mean, log_std, eps_pi)
    q1, q2 = q12(after_critic.critic, obs, actions)
    loss = (ALPHA0 * logp - torch.min(q1, q2)).mean()
    torch.testing.assert_close(out["actor_loss"].double(), loss.detach(), **F64)
    torch.testing.assert_close(out["entropy"].double(), -logp.mean().detach(), **F64)
    assert_grads_close(actor_call["grads"], grads_of(loss, before.actor, "actor"), "actor grad")
    if use_sde:
        assert actor_call["grads"]["actor.log_std"].abs().sum() > 0, "gSDE's exploration scale gets no gradient"
    # the actor step changes the actor but leaves the critics exactly as the critic step left them
    for name, value in actor_call["state"].items():
        if name.startswith("critic."):
            assert torch.equal(value, critic_call["state"][name]), f"the actor step moved {name}"
    for name, g in actor_call["grads"].items():  # Adam's first step at the configured lr
        g = g.double()
        expected = before.state_dict()[name] - LR * g / (g.abs() + 1e-8)
        torch.testing.assert_close(actor_call["state"][name].double(), expected, rtol=1e-4, atol=1e-6,
                                   msg=lambda m: f"Adam step of {name}: {m}")
    for name, value in critic_call["state"].items():
        if name.startswith("actor.") or name == "log_alpha":
            assert torch.equal(value, before.state_dict()[name].float()), f"the critic step moved {name}"


# ---- alpha ------------------------------------------------------------------------------------------------------
def test_alpha_gradient_is_minus_mean_logp_plus_target_entropy_and_defaults_to_minus_action_dim():
    learner = make_learner()
    assert learner.target_entropy == -ACT_DIM
    assert make_learner(target_entropy=-0.5).target_entropy == -0.5
    batch, before, spy, out = run_update(learner)
    alpha_call = spy.calls[2]
    mean, log_std = ref_dist_inputs(before, batch[C.OBS].double())
    logp = ref_squashed(mean, log_std, noise()[1])[1].detach()
    log_alpha = before.log_alpha.detach().clone().requires_grad_(True)
    alpha_loss = -(log_alpha * (logp + learner.target_entropy)).mean()
    (expected,) = torch.autograd.grad(alpha_loss, [log_alpha])
    torch.testing.assert_close(alpha_call["loss"].double(), alpha_loss.detach(), **F64)
    torch.testing.assert_close(alpha_call["grads"]["log_alpha"].double(), expected, rtol=1e-4, atol=1e-6)
    # Adam's first step: log_alpha moves by lr against the gradient's sign
    new = learner.log_alpha.item()
    assert new == pytest.approx(math.log(ALPHA0) - LR * math.copysign(1.0, expected.item()), abs=1e-6)
    # and the next update uses the new alpha
    assert learner.update(batch, 0.0)["alpha"].item() == pytest.approx(math.exp(new), rel=1e-6)


def test_custom_target_entropy_enters_the_alpha_gradient():
    spy = run_update(make_learner(target_entropy=5.0))[2]
    spy_default = run_update(make_learner())[2]
    diff = spy_default.calls[2]["grads"]["log_alpha"] - spy.calls[2]["grads"]["log_alpha"]
    assert diff.item() == pytest.approx(5.0 - (-ACT_DIM), rel=1e-5), "d(alpha loss)/d(log alpha) = -(logp + target)"


@pytest.mark.parametrize("log_std, rises", [(-5.0, True), (0.0, False)])
def test_alpha_rises_when_entropy_is_below_target_and_falls_above(log_std, rises):
    learner = make_learner()
    last = learner.raw_module.actor[-1]
    with torch.no_grad():  # the actor's output: mean 0, log_std fixed, whatever the observation
        last.weight.zero_()
        last.bias.copy_(torch.tensor([0.0] * ACT_DIM + [log_std] * ACT_DIM))
    out = learner.update(make_batch(), 0.0)
    entropy, alpha = out["entropy"].item(), learner.log_alpha.exp().item()
    assert (entropy < learner.target_entropy) == rises, f"setup: entropy {entropy}"
    assert (alpha > ALPHA0) == rises and alpha != ALPHA0, \
        f"entropy {entropy} vs target {learner.target_entropy}: alpha {ALPHA0} -> {alpha}"


def test_fixed_alpha_stays_at_initial_alpha_and_is_used_in_the_losses():
    learner = make_learner(autotune_alpha=False, initial_alpha=0.2)
    batch, before, spy, out = run_update(learner)
    assert len(spy.calls) == 2, "without autotune there is no alpha step"
    assert learner.log_alpha.exp().item() == pytest.approx(0.2)
    assert out["alpha"].item() == pytest.approx(0.2)
    loss = ref_critic_loss(before, batch, ref_target(before, batch, noise()[0], 0.2))[0]
    torch.testing.assert_close(out["critic_loss"].double(), loss, **F64)
    out2 = learner.update(batch, 0.0)
    assert out2["alpha"].item() == pytest.approx(0.2)
    assert learner.log_alpha.exp().item() == pytest.approx(0.2)


# ---- polyak targets ---------------------------------------------------------------------------------------------
def test_polyak_update_moves_every_target_weight_tau_of_the_way_to_the_updated_critic():
    tau = 0.3
    learner = make_learner(tau=tau)
    m = learner.raw_module
    old_target = [p.detach().clone() for p in m.critic_target.parameters()]
    spy = run_update(learner)[2]
    after_steps = spy.calls[-1]["state"]
    for (name, online), old, new in zip(m.critic.named_parameters(), old_target, m.critic_target.parameters()):
        assert torch.equal(online.detach(), after_steps[f"critic.{name}"]), f"the polyak step moved the online {name}"
        expected = (1 - tau) * old + tau * online.detach()
        torch.testing.assert_close(new, expected, rtol=0, atol=1e-6, msg=lambda msg: f"target {name}: {msg}")
        assert not torch.allclose(new, old), f"target {name} did not move"


def test_target_update_interval_updates_targets_only_every_kth_gradient_step():
    tau, k = 0.3, 2
    learner = make_learner(tau=tau, target_update_interval=k)
    m = learner.raw_module
    batch = make_batch()
    for step in range(1, 5):
        old = [p.detach().clone() for p in m.critic_target.parameters()]
        learner.update(batch, 0.0)
        for old_p, new_p, online in zip(old, m.critic_target.parameters(), m.critic.parameters()):
            expected = (1 - tau) * old_p + tau * online.detach() if step % k == 0 else old_p
            torch.testing.assert_close(new_p, expected, rtol=0, atol=1e-6, msg=lambda msg: f"step {step}: {msg}")
    assert learner.num_updates == 4


def test_grad_clip_bounds_the_norm_of_the_critic_and_actor_gradients():
    clip = 1e-3
    learner, free = make_learner(grad_clip=clip), make_learner()
    clipped_spy, free_spy = run_update(learner)[2], run_update(free)[2]
    for i, what in enumerate(("critic", "actor")):
        raw, got = free_spy.calls[i]["grads"], clipped_spy.calls[i]["grads"]
        raw_flat = torch.cat([g.flatten() for g in raw.values()])
        got_flat = torch.cat([got[name].flatten() for name in raw])
        assert raw_flat.norm() > 10 * clip, "setup: the raw gradient must be larger than the clip"
        assert got_flat.norm().item() == pytest.approx(clip, rel=1e-4), f"{what} grad norm is not clipped"
        cosine = torch.dot(raw_flat, got_flat) / (raw_flat.norm() * got_flat.norm())
        assert cosine > 0.999, f"clipping changed the {what} gradient's direction"
    # the critic step sees the same inputs in both runs: exactly the rescaled gradient
    raw_norm = torch.cat([g.flatten() for g in free_spy.calls[0]["grads"].values()]).norm()
    for name, g in free_spy.calls[0]["grads"].items():
        torch.testing.assert_close(clipped_spy.calls[0]["grads"][name], g * clip / (raw_norm + 1e-6), rtol=1e-4,
                                   atol=1e-9, msg=lambda msg: f"critic {name}: {msg}")


# ---- squashed Gaussian ------------------------------------------------------------------------------------------
def test_squashed_gaussian_sample_and_logp_match_plain_torch_with_the_tanh_correction():
    mean = torch.tensor([[0.3, -1.2, 2.0], [-0.5, 0.0, 4.0], [1.0, -3.0, 0.1]], dtype=torch.float64,
                        requires_grad=True)
    log_std = torch.tensor([[-1.0, 0.5, 0.0], [0.2, -2.0, 1.0], [-0.3, 0.7, 1.5]], dtype=torch.float64,
                           requires_grad=True)
    dist = SquashedGaussian.from_inputs(torch.cat([mean, log_std], -1))
    torch.manual_seed(SEED)
    actions, logp = dist.rsample_and_logp()
    torch.manual_seed(SEED)
    eps = torch.randn(3, 3, dtype=torch.float64)
    ref_actions, ref_logp = ref_squashed(mean, log_std, eps)
    torch.testing.assert_close(actions, ref_actions, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(logp, ref_logp, rtol=1e-9, atol=1e-9)
    # reparameterised: gradients of actions and logp reach mean and log_std as in the plain-torch graph
    got = torch.autograd.grad((actions.sum() + logp.sum()), [mean, log_std])
    want = torch.autograd.grad((ref_actions.sum() + ref_logp.sum()), [mean, log_std])
    for g, w, name in zip(got, want, ("mean", "log_std")):
        torch.testing.assert_close(g, w, rtol=1e-8, atol=1e-8, msg=lambda m: f"d/d{name}: {m}")
    # the same actions' logp from logp(actions) (inverse tanh) and from sample_and_logp
    torch.testing.assert_close(dist.logp(actions.detach()), ref_logp.detach(), rtol=1e-5, atol=1e-5)
    torch.manual_seed(SEED)
    torch.testing.assert_close(dist.sample_and_logp()[1], ref_logp, rtol=1e-9, atol=1e-9)
    torch.manual_seed(SEED)
    torch.testing.assert_close(dist.sample(), ref_actions.detach(), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(dist.deterministic_sample(), torch.tanh(mean))


def test_squashed_gaussian_logp_stays_finite_and_exact_far_in_the_tails():
    mean = torch.tensor([[9.0, -9.0, 30.0, -30.0]])
    log_std = torch.full((1, 4), -3.0)
    torch.manual_seed(0)
    _, logp = SquashedGaussian(mean, log_std).rsample_and_logp()
    torch.manual_seed(0)
    u = (mean + log_std.exp() * torch.randn(1, 4)).double()
    # log(1 - tanh(u)^2) = -2 log cosh(u) = -2 (|u| + log(1 + exp(-2|u|)) - log 2)
    log_jac = -2.0 * (u.abs() + torch.log1p(torch.exp(-2 * u.abs())) - math.log(2.0))
    expected = Normal(mean.double(), log_std.exp().double()).log_prob(u).sum(-1) - log_jac.sum(-1)
    assert torch.isfinite(logp).all()
    torch.testing.assert_close(logp.double(), expected, rtol=1e-5, atol=1e-3)


def test_log_std_is_clamped_to_the_modules_bounds():
    for kwargs, lo, hi in (({}, -20.0, 2.0), ({"log_std_min": -5.0, "log_std_max": 0.5}, -5.0, 0.5)):
        module = make_module(**kwargs)
        with torch.no_grad():
            module.actor[-1].weight.zero_()
            module.actor[-1].bias.copy_(torch.tensor([0.1, -0.2, 10.0, -30.0]))
        inputs = module.forward_train({C.OBS: torch.randn(4, OBS_DIM)})[C.ACTION_DIST_INPUTS]
        expected = torch.tensor([0.1, -0.2, hi, lo]).expand(4, 4)
        torch.testing.assert_close(inputs, expected, msg=f"bounds [{lo}, {hi}]")
        for forward in (module.forward_inference, module.forward_exploration):
            torch.testing.assert_close(forward({C.OBS: torch.randn(4, OBS_DIM)})[C.ACTION_DIST_INPUTS], expected)
    sde = make_module(use_sde=True, log_std_init=5.0, log_std_max=1.0)
    log_std = sde.dist_inputs(torch.randn(8, OBS_DIM))[:, ACT_DIM:]
    assert torch.all(log_std == 1.0), "gSDE's log std is clamped too"


# ---- gSDE -------------------------------------------------------------------------------------------------------
def test_gsde_noise_is_drawn_with_std_exp_log_std_and_acts_as_tanh_of_mean_plus_latent_noise():
    module = make_module(use_sde=True)
    actor = module.actor
    with torch.no_grad():
        actor.log_std.copy_(torch.linspace(-2.0, 0.5, actor.log_std.numel()).view_as(actor.log_std))
    torch.manual_seed(SEED)
    module.reset_noise()
    torch.manual_seed(SEED)
    expected_noise = torch.randn(actor.log_std.shape) * actor.log_std.detach().exp()
    torch.testing.assert_close(actor.noise, expected_noise, msg="gSDE noise ~ N(0, exp(log_std)^2)")
    obs = torch.randn(5, OBS_DIM)
    with torch.no_grad():
        latent = actor.latent(obs)
        expected = torch.tanh(actor.mu(latent).clamp(-2.0, 2.0) + latent @ expected_noise)
        actions = module.forward_exploration({C.OBS: obs})[C.ACTIONS]
    torch.testing.assert_close(actions, expected)
    # the noise is held until reset_noise, whatever else runs
    module.forward_inference({C.OBS: obs})
    module.forward_train({C.OBS: obs})
    torch.randn(10)
    assert torch.equal(actor.noise, expected_noise)
    module.reset_noise()
    assert not torch.equal(actor.noise, expected_noise), "reset_noise did not redraw the noise"
    # the module's distribution: mean mu(latent), std sqrt(latent^2 @ exp(log_std)^2), for a tiny std too
    for value in (-1.0, -10.0):
        with torch.no_grad():
            actor.log_std.fill_(value)
        mean, log_std = module.dist_inputs(obs).chunk(2, -1)
        ref_mean, ref_log_std = ref_dist_inputs(module, obs)
        torch.testing.assert_close(mean, ref_mean)
        torch.testing.assert_close(log_std, ref_log_std, rtol=1e-5, atol=1e-5, msg=lambda m: f"log_std={value}: {m}")


def test_gsde_std_trains_log_std_and_the_latent_features_as_sb3s_sac():
    module = make_module(use_sde=True)
    mean, log_std = module.dist_inputs(torch.randn(5, OBS_DIM)).chunk(2, -1)
    trunk = list(module.actor.latent.parameters())
    std_grads = torch.autograd.grad(log_std.sum(), trunk + [module.actor.log_std], allow_unused=True,
                                    retain_graph=True)
    assert all(g is not None and g.abs().sum() > 0 for g in std_grads), "SAC's gSDE std trains the features too"
    mean_grads = torch.autograd.grad(mean.sum(), trunk, allow_unused=True)
    assert any(g is not None and g.abs().sum() > 0 for g in mean_grads)


@pytest.mark.parametrize("clip_mean, expected", [(2.0, [2.0, -2.0]), (3.0, [3.0, -2.5]), (0.0, [5.0, -2.5])])
def test_gsde_mean_is_clipped_to_clip_mean_in_every_forward(clip_mean, expected):
    module = make_module(use_sde=True, clip_mean=clip_mean)
    actor = module.actor
    with torch.no_grad():
        actor.mu.weight.zero_()
        actor.mu.bias.copy_(torch.tensor([5.0, -2.5]))
        actor.noise.zero_()
    obs = torch.randn(4, OBS_DIM)
    mean = module.dist_inputs(obs)[:, :ACT_DIM]
    torch.testing.assert_close(mean, torch.tensor(expected).expand(4, ACT_DIM))
    torch.testing.assert_close(module.forward_exploration({C.OBS: obs})[C.ACTIONS], torch.tanh(mean))


def test_without_gsde_exploration_samples_the_squashed_gaussian_and_reset_noise_is_a_no_op():
    module = make_module(use_sde=False)
    assert not isinstance(module.actor, SDEActor)
    obs = torch.randn(4, OBS_DIM)
    out = module.forward_exploration({C.OBS: obs})
    assert C.ACTIONS not in out, "without gSDE the actions are sampled from the distribution inputs"
    torch.testing.assert_close(out[C.ACTION_DIST_INPUTS], module.forward_inference({C.OBS: obs})[C.ACTION_DIST_INPUTS])
    state = copy.deepcopy(module.state_dict())
    module.reset_noise()
    assert all(torch.equal(v, module.state_dict()[k]) for k, v in state.items())


# ---- wiring through the algorithm ------------------------------------------------------------------------------
def tiny_sac() -> SACConfig:
    return (SACConfig().environment("Pendulum-v1").training(train_batch_size=64, learning_starts=32,
                                                               minibatch_size=16)
            .rl_module(model_config={"hidden_sizes": [16, 16]}).env_runners(num_envs_per_env_runner=2)
            .evaluation(interval=0, episodes=1, num_envs=1))


def test_sac_rescales_squashed_actions_to_the_env_bounds():
    with tiny_sac().debugging(seed=3).build() as algo:
        module = algo.get_module()
        obs = torch.randn(64, 3) * 3
        with torch.no_grad():
            mean = module.dist_inputs(obs)[:, :1]
        # greedy (evaluation) actions: tanh(mean), rescaled from [-1, 1] to Pendulum's [-2, 2]
        np.testing.assert_allclose(algo.compute_actions(obs.numpy()), 2.0 * torch.tanh(mean).numpy(), rtol=1e-5,
                                   atol=1e-6)
        out = algo.env_runner._act(obs)  # exploring: sampled in [-1, 1], the env gets them rescaled
        assert np.all(np.abs(out[C.ACTIONS]) <= 1.0) and C.ACTION_LOGP in out
        np.testing.assert_allclose(out[C.ENV_ACTIONS], 2.0 * out[C.ACTIONS], rtol=1e-6)
        assert np.abs(out[C.ENV_ACTIONS]).max() > 1.0, "env actions must span [-2, 2], not stay in [-1, 1]"
        rand = [algo.env_runner._random_act() for _ in range(20)]  # warm-up: uniform in [-1, 1], rescaled alike
        actions = np.concatenate([np.asarray(r[C.ACTIONS]) for r in rand])
        np.testing.assert_allclose(np.concatenate([r[C.ENV_ACTIONS] for r in rand]), 2.0 * actions, rtol=1e-6)
        assert actions.min() < -0.5 and actions.max() > 0.5 and np.abs(actions).max() <= 1.0, "not uniform in [-1, 1]"


def test_sac_model_config_switches_reach_the_module():
    config = tiny_sac().rl_module(model_config={"use_sde": True, "log_std_init": -1.5, "log_std_max": 0.25})
    with config.build() as algo:
        module = algo.get_module()
        assert module.use_sde and isinstance(module.actor, SDEActor)
        assert torch.all(module.actor.log_std == -1.5) and module.log_std_max == 0.25
        obs = torch.randn(8, 3)
        algo.env_runner.sample(1)  # draws the noise for the round
        out = algo.env_runner._act(obs)
        with torch.no_grad():
            latent = module.actor.latent(obs)
            expected = torch.tanh(module.actor.mu(latent) + latent @ module.actor.noise)
        assert module.actor.noise.abs().sum() > 0
        np.testing.assert_allclose(out[C.ACTIONS], expected.numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(out[C.ENV_ACTIONS], 2.0 * expected.numpy(), rtol=1e-5, atol=1e-6)
