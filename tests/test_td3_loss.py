"""TD3's critic target, losses, delayed actor and targets, polyak and exploration against plain-torch references."""
from __future__ import annotations

import math
from typing import Any, List

import gymnasium as gym
import numpy as np
import pytest
import torch

from rlhydra.algorithms.td3 import TD3, TD3Config
from rlhydra.algorithms.td3.learner import TD3Learner
from rlhydra.algorithms.td3.module import TD3Module
from rlhydra.data import columns as C
from tests.off_policy_helpers import (ACT_DIM, B, OBS_DIM, SEED, StepSpy, assert_grads_close, double_copy, grads_of,
                                      make_batch, q12, run_update)
from rlhydra.core.torch_settings import TorchSettings

LR, GAMMA = 1e-3, 0.8  # gamma != every per-sample discount, so using it instead shows
NOISE, CLIP = 0.6, 0.3  # target smoothing: std and clip chosen so the clip (and the [-1, 1] clamp) is often active
F64 = dict(rtol=1e-5, atol=1e-6)  # float32 library vs float64 plain-torch reference


# ---- helpers ----------------------------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _torch_settings():
    """The learner's defaults (1 thread, subnormals flushed), and a fixed torch seed whatever the test order."""
    torch.manual_seed(0)
    with TorchSettings(threads=1, flush_denormal=True):
        yield


def make_module(**kwargs: Any) -> TD3Module:
    torch.manual_seed(0)
    return TD3Module(gym.spaces.Box(-np.inf, np.inf, (OBS_DIM,), np.float32),
                     gym.spaces.Box(-1.0, 1.0, (ACT_DIM,), np.float32), hidden_sizes=(16, 16), **kwargs)


def make_learner(**training: Any) -> TD3Learner:
    """A TD3 learner on a 3-d observation, 2-d action module; its targets differ from the online networks, and the
    target actor's actions sit near the bounds (so the [-1, 1] clamp of the smoothed actions matters)."""
    training = {"lr": LR, "gamma": GAMMA, "target_policy_noise": NOISE, "target_noise_clip": CLIP, **training}
    config = TD3Config().environment("Pendulum-v1").training(**training).to_config()
    module = make_module()
    with torch.no_grad():
        for p in [*module.critic_target.parameters(), *module.actor_target.parameters()]:
            p.add_(0.2 * torch.randn_like(p))
        module.actor_target[-1].bias.copy_(torch.tensor([2.0, 0.0]))  # near the bound, mid-range
        for q in (module.critic_target.q1, module.critic_target.q2):  # target Qs that clearly depend on the action
            q[0].weight[:, OBS_DIM:] *= 5.0
    return TD3Learner(config, module)


def noise(seed: int = SEED) -> torch.Tensor:
    """The one standard-normal draw of an update: the target smoothing noise."""
    torch.manual_seed(seed)
    return torch.randn(B, ACT_DIM).double()


def ref_target(ref: TD3Module, batch, eps, *, std=NOISE, clip=CLIP, actor=None, critic=None, use_min=True,
               clip_noise=True, clamp=True, mask=True, discounts=None):
    """r + discount * (1 - terminated) * min(Q1', Q2')(s', clamp(pi'(s') + clip(std * eps))); keywords: wrong ones."""
    b = {k: v.double() for k, v in batch.items()}
    actions = torch.tanh((actor or ref.actor_target)(b[C.NEXT_OBS]))
    smoothing = std * eps
    if clip_noise:
        smoothing = smoothing.clamp(-clip, clip)
    actions = actions + smoothing
    if clamp:
        actions = actions.clamp(-1.0, 1.0)
    q1, q2 = q12(critic or ref.critic_target, b[C.NEXT_OBS], actions)
    v = torch.min(q1, q2) if use_min else torch.max(q1, q2)
    disc = b["discounts"] if discounts is None else discounts
    return (b[C.REWARDS] + disc * ((1.0 - b[C.TERMINATED]) if mask else 1.0) * v).detach()


def ref_critic_loss(ref: TD3Module, batch, target: torch.Tensor):
    b = {k: v.double() for k, v in batch.items()}
    q1, q2 = q12(ref.critic, b[C.OBS], b[C.ACTIONS])
    td1, td2 = q1 - target, q2 - target
    return (b["weights"] * (td1 ** 2 + td2 ** 2)).mean(), td1, td2, q1


def params(module: torch.nn.Module) -> List[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


# ---- critic -----------------------------------------------------------------------------------------------------
def test_critic_target_is_the_min_of_the_twin_target_qs_at_smoothed_clipped_target_actions():
    learner = make_learner()
    batch, before, spy, out = run_update(learner)
    eps = noise()
    target = ref_target(before, batch, eps)
    loss, td1, td2, q1 = ref_critic_loss(before, batch, target)
    torch.testing.assert_close(out["critic_loss"].double(), loss, **F64)
    torch.testing.assert_close(spy.calls[0]["loss"].double(), loss, **F64)
    torch.testing.assert_close(out["td_errors"].double(), 0.5 * (td1.abs() + td2.abs()), **F64)
    torch.testing.assert_close(out["q_mean"].double(), q1.mean(), **F64)
    # The batch and module are built so that each wrong target gives clearly different td errors.
    smoothed = NOISE * eps
    assert ((smoothed.abs() > CLIP).any() and (smoothed.abs() < CLIP).any()), "setup: the noise clip must bite"
    wrong = {
        "max of the twin Qs": dict(use_min=False), "unclipped smoothing noise": dict(clip_noise=False),
        "no [-1, 1] clamp of the smoothed actions": dict(clamp=False), "no smoothing noise": dict(std=0.0),
        "noise std = clip": dict(std=CLIP), "online actor": dict(actor=before.actor),
        "online critics": dict(critic=before.critic), "no terminal mask": dict(mask=False),
        "gamma instead of per-sample discounts": dict(discounts=GAMMA),
    }
    for name, kw in wrong.items():  # checked per sample, as the td errors are
        assert (ref_target(before, batch, eps, **kw) - target).abs().max() > 1e-2, f"batch cannot detect: {name}"


def test_target_smoothing_noise_is_redrawn_each_update_and_scales_with_target_policy_noise():
    learner = make_learner(target_policy_noise=0.0)  # no smoothing: the target does not depend on the seed
    batch = make_batch()
    first = learner.update(batch, 0.0)["td_errors"]
    torch.manual_seed(99)
    learner2 = make_learner(target_policy_noise=0.0)
    torch.testing.assert_close(learner2.update(batch, 0.0)["td_errors"], first)
    noisy = make_learner()
    torch.manual_seed(1)
    a = noisy.update(batch, 0.0)["td_errors"]
    noisy = make_learner()
    torch.manual_seed(2)
    assert not torch.allclose(noisy.update(batch, 0.0)["td_errors"], a), "the smoothing noise must be random"


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


def test_critic_loss_is_the_weighted_mean_of_both_squared_td_errors_and_trains_both_critics():
    learner = make_learner()
    batch, before, spy, out = run_update(learner)
    critic_call = spy.calls[0]
    loss = ref_critic_loss(before, batch, ref_target(before, batch, noise()))[0]
    expected = grads_of(loss, before.critic, "critic")
    assert_grads_close(critic_call["grads"], expected, "critic grad")
    for head in ("q1", "q2"):
        assert any(critic_call["grads"][n].abs().sum() > 0 for n in expected if n.startswith(f"critic.{head}.")), head
    assert critic_call["reached"] == {n for n in expected} == critic_call["stepped"], \
        "the critic loss must reach only the online critics (the target is computed without grad)"
    for name in expected:  # Adam's first step moves each weight by lr * g / (|g| + eps), at the configured lr
        g = critic_call["grads"][name].double()
        prev = dict(before.named_parameters())[name]
        torch.testing.assert_close(critic_call["state"][name].double(), prev - LR * g / (g.abs() + 1e-8),
                                   rtol=1e-4, atol=1e-6, msg=lambda m: f"Adam step of {name}: {m}")


def test_importance_weights_multiply_each_samples_squared_td_errors():
    learner = make_learner()
    batch = make_batch()
    batch["weights"] = torch.tensor([0.0, 0.0, 3.0, 0.0, 0.0, 0.0])  # only sample 2 counts, three times over
    batch, before, spy, out = run_update(learner, batch)
    _, td1, td2, _ = ref_critic_loss(before, batch, ref_target(before, batch, noise()))
    loss = 3.0 * (td1[2] ** 2 + td2[2] ** 2) / B
    torch.testing.assert_close(out["critic_loss"].double(), loss.detach(), **F64)
    assert_grads_close(spy.calls[0]["grads"], grads_of(loss, before.critic, "critic"), "weighted critic grad")
    torch.testing.assert_close(out["td_errors"].double(), 0.5 * (td1.abs() + td2.abs()).detach(), **F64)


def test_targets_start_as_exact_frozen_copies_of_the_online_networks():
    module = make_module()
    for online, target in ((module.actor, module.actor_target), (module.critic, module.critic_target)):
        for (name, a), b in zip(online.named_parameters(), target.parameters()):
            assert torch.equal(a, b) and a is not b, name
            assert not b.requires_grad


# ---- actor ------------------------------------------------------------------------------------------------------
def test_actor_loss_is_minus_the_mean_first_critic_q_of_the_actors_actions_after_the_critic_step():
    learner = make_learner(policy_delay=1)
    batch, before, spy, out = run_update(learner)
    critic_call, actor_call = spy.calls
    after_critic = double_copy(learner.raw_module, critic_call["state"])  # the just-updated critics
    obs = batch[C.OBS].double()
    actions = torch.tanh(before.actor(obs))
    q1, q2 = q12(after_critic.critic, obs, actions)
    loss = -q1.mean()
    torch.testing.assert_close(out["actor_loss"].double(), loss.detach(), **F64)
    torch.testing.assert_close(actor_call["loss"].double(), loss.detach(), **F64)
    for name, other in {"min of the twin Qs": -torch.min(q1, q2).mean(), "Q2": -q2.mean(),
                        "critic before its step": -q12(before.critic, obs, actions)[0].mean()}.items():
        assert abs(other.item() - loss.item()) > 1e-4, f"setup cannot detect: {name}"
    assert_grads_close(actor_call["grads"], grads_of(loss, before.actor, "actor"), "actor grad")
    actor_names = {n for n, _ in learner.raw_module.named_parameters() if n.startswith("actor.")}
    assert actor_call["reached"] == actor_names == actor_call["stepped"], "the actor loss must reach only the actor"
    assert all(p.requires_grad for p in learner.raw_module.critic.parameters()), "critics must get requires_grad back"
    for name, value in actor_call["state"].items():  # the actor step leaves the critics as the critic step left them
        if name.startswith("critic."):
            assert torch.equal(value, critic_call["state"][name]), f"the actor step moved {name}"
    for name, g in actor_call["grads"].items():  # Adam's first step at the configured lr
        g = g.double()
        expected = before.state_dict()[name] - LR * g / (g.abs() + 1e-8)
        torch.testing.assert_close(actor_call["state"][name].double(), expected, rtol=1e-4, atol=1e-6,
                                   msg=lambda m: f"Adam step of {name}: {m}")


@pytest.mark.parametrize("delay", [2, 3])
def test_actor_and_targets_move_only_every_policy_delay_critic_updates(delay):
    tau = 0.3
    learner = make_learner(policy_delay=delay, tau=tau)
    m = learner.raw_module
    batch = make_batch()
    last_actor_loss = None
    for step in range(1, 2 * delay + 2):
        actor, critic = params(m.actor), params(m.critic)
        targets = params(m.actor_target) + params(m.critic_target)
        spy = StepSpy(learner)
        out = learner.update(batch, 0.0)
        due = step % delay == 0
        assert len(spy.calls) == (2 if due else 1), f"update {step}: {len(spy.calls)} optimizer steps"
        assert all(not torch.equal(a, b) for a, b in zip(critic, m.critic.parameters())), f"update {step}: critic"
        moved = [not torch.equal(a, b) for a, b in zip(actor, m.actor.parameters())]
        assert all(moved) if due else not any(moved), f"update {step}: actor moved {moved}, due {due}"
        online = [p.detach() for p in [*m.actor.parameters(), *m.critic.parameters()]]
        for old, new, src in zip(targets, [*m.actor_target.parameters(), *m.critic_target.parameters()], online):
            expected = (1 - tau) * old + tau * src if due else old
            torch.testing.assert_close(new, expected, rtol=0, atol=1e-6, msg=lambda msg: f"update {step}: {msg}")
        if due:
            last_actor_loss = spy.calls[1]["loss"]
        if last_actor_loss is not None:  # between actor steps the last actor loss is reported
            assert torch.equal(out["actor_loss"], last_actor_loss), f"update {step}"
    assert learner.num_updates == 2 * delay + 1


def test_polyak_update_moves_actor_and_critic_targets_tau_of_the_way_to_the_updated_networks():
    tau = 0.3
    learner = make_learner(policy_delay=1, tau=tau)
    m = learner.raw_module
    old = {"actor": params(m.actor_target), "critic": params(m.critic_target)}
    spy = run_update(learner)[2]
    after_steps = spy.calls[-1]["state"]
    for part in ("actor", "critic"):
        online = getattr(m, part)
        target = getattr(m, f"{part}_target")
        for (name, src), prev, new in zip(online.named_parameters(), old[part], target.parameters()):
            assert torch.equal(src.detach(), after_steps[f"{part}.{name}"]), f"the polyak step moved {part}.{name}"
            expected = (1 - tau) * prev + tau * src.detach()
            torch.testing.assert_close(new, expected, rtol=0, atol=1e-6, msg=lambda msg: f"{part} target {name}: {msg}")
            assert not torch.allclose(new, prev), f"{part} target {name} did not move"


def test_grad_clip_bounds_the_norm_of_the_critic_and_actor_gradients():
    clip = 1e-3
    learner = make_learner(grad_clip=clip, policy_delay=1)
    batch, before, spy, _ = run_update(learner)
    critic_loss = ref_critic_loss(before, batch, ref_target(before, batch, noise()))[0]
    after_critic = double_copy(learner.raw_module, spy.calls[0]["state"])
    obs = batch[C.OBS].double()
    actor_loss = -q12(after_critic.critic, obs, torch.tanh(before.actor(obs)))[0].mean()
    for call, raw in ((spy.calls[0], grads_of(critic_loss, before.critic, "critic")),
                      (spy.calls[1], grads_of(actor_loss, before.actor, "actor"))):
        norm = torch.cat([g.flatten() for g in raw.values()]).norm()
        assert norm > clip
        assert_grads_close(call["grads"], {n: g * clip / norm for n, g in raw.items()}, "clipped grad")


# ---- acting -----------------------------------------------------------------------------------------------------
def test_exploration_adds_gaussian_noise_of_the_configured_std_to_the_deterministic_action_clipped_to_bounds():
    std = 0.3
    module = make_module(exploration_noise=std)
    with torch.no_grad():  # the actor's action: atanh-free constants, tanh(0.55) ~ 0.5 and 0
        module.actor[-1].weight.zero_()
        module.actor[-1].bias.copy_(torch.tensor([math.atanh(0.5), 0.0]))
    obs = torch.randn(40_000, OBS_DIM)
    greedy = module.forward_inference({C.OBS: obs})[C.ACTIONS]
    torch.testing.assert_close(greedy, torch.tensor([0.5, 0.0]).expand_as(greedy))
    torch.testing.assert_close(module.forward_train({C.OBS: obs})[C.ACTIONS], greedy)
    actions = module.forward_exploration({C.OBS: obs})[C.ACTIONS]
    assert actions.abs().max() <= 1.0
    assert actions[:, 1].mean().abs() < 0.01 and actions[:, 1].std().item() == pytest.approx(std, rel=0.02)
    # dimension 0: N(0.5, 0.3^2) clipped at 1, so P(a = 1) = P(z >= 0.5 / 0.3)
    p_clip = 0.5 * math.erfc((0.5 / std) / math.sqrt(2))
    assert (actions[:, 0] == 1.0).float().mean().item() == pytest.approx(p_clip, abs=0.005)
    unclipped = actions[:, 0][actions[:, 0] < 1.0]
    assert unclipped.min() < 0.5 - 3 * std + 0.2, "noise below the mean is not clipped"


def test_the_configured_exploration_noise_reaches_the_default_module():
    config = TD3Config().environment("Pendulum-v1").training(exploration_noise=0.25).to_config()
    module = TD3.build_module(config, gym.spaces.Box(-np.inf, np.inf, (3,), np.float32),
                              gym.spaces.Box(-2.0, 2.0, (1,), np.float32))
    assert isinstance(module, TD3Module) and module.exploration_noise == 0.25
    assert TD3.squashed_actions, "actions in [-1, 1] must be rescaled to the env bounds"


@pytest.mark.parametrize("space, message", [
    (gym.spaces.Box(-np.inf, np.inf, (1,), np.float32), "bounded"),
    (gym.spaces.Discrete(3), "Box"),
])
def test_actions_must_be_a_bounded_box(space, message):
    problem = TD3Module.check_spaces(gym.spaces.Box(-1, 1, (3,), np.float32), space)
    assert problem is not None and message in problem
    assert TD3Module.check_spaces(gym.spaces.Box(-1, 1, (3,), np.float32),
                                  gym.spaces.Box(-2, 2, (1,), np.float32)) is None


def test_the_builder_takes_rllibs_off_policy_names_and_sb3s_defaults():
    hp = TD3Config().training(train_batch_size_per_learner=64, num_steps_sampled_before_learning_starts=7).to_config()
    assert (hp.algorithm.minibatch_size, hp.algorithm.learning_starts) == (64, 7)
    defaults = TD3Config().to_config().algorithm
    assert (defaults.lr, defaults.tau, defaults.policy_delay, defaults.target_policy_noise,
            defaults.target_noise_clip, defaults.minibatch_size) == (1e-3, 0.005, 2, 0.2, 0.5, 256)
