"""gSDE in PPO's actor-critic module (module.use_sde): the state-dependent Gaussian's log-prob and entropy against
torch.distributions, exploring actions, when the noise is redrawn, PPO's ratio of exactly 1 on the first
minibatch of every update, and the tuned files that use it."""
from __future__ import annotations

from typing import Any, Dict, List

import gymnasium as gym
import pytest
import torch

from rlhydra import A2CConfig, ConfigError, PPOConfig
from rlhydra.core.preflight import check_hydra_config
from rlhydra.data import columns as C
from rlhydra.algorithms.ppo.module import PPOModule
from rlhydra.models.distributions import DiagGaussian
from tests.conftest import compose_cfg

pytestmark = pytest.mark.usefixtures("one_torch_thread")

OBS_DIM, ACT_DIM = 3, 2


def make_module(**kwargs: Any) -> PPOModule:
    torch.manual_seed(0)
    return PPOModule(gym.spaces.Box(-1, 1, (OBS_DIM,)), gym.spaces.Box(-2, 2, (ACT_DIM,)), hidden_sizes=(16, 8),
                     use_sde=True, **kwargs)


def reference_normal(module: PPOModule, obs: torch.Tensor, *, use_expln: bool = False) -> torch.distributions.Normal:
    """N(mean, latent^2 @ std^2 + 1e-6) per action dimension, written out with torch.distributions."""
    latent = obs
    for layer in list(module.pi)[:-1]:
        latent = layer(latent)
    log_std = module.log_std.expand(latent.shape[-1], ACT_DIM)
    std = torch.where(log_std > 0, torch.log1p(log_std) + 1.0, torch.exp(log_std)) if use_expln else log_std.exp()
    variance = (latent.unsqueeze(-1).pow(2) * std.pow(2)).sum(-2)  # sum_i latent_i^2 std_ij^2
    return torch.distributions.Normal(module.pi(obs), (variance + 1e-6).sqrt())


def sde_pendulum(algorithm: Any = PPOConfig, **module: Any) -> Any:
    """A small PPO (or A2C) with gSDE on Pendulum-v1: 4 envs x 16 steps, two minibatches, two epochs."""
    training = dict(num_epochs=2, minibatch_size=32) if algorithm is PPOConfig else {}
    return (algorithm().environment("Pendulum-v1").training(train_batch_size=64, **training)
            .rl_module(model_config={"use_sde": True, "hidden_sizes": [16, 16], **module})
            .env_runners(num_envs_per_env_runner=4).evaluation(interval=0).debugging(seed=0))


def noises_per_step(module: PPOModule) -> List[torch.Tensor]:
    """The noise matrices every exploring step of `module` uses, recorded from now on."""
    held, seen = module._held_noise, []

    def record(num_envs: int) -> torch.Tensor:
        seen.append(held(num_envs).clone())
        return seen[-1]

    module._held_noise = record
    return seen


# ---- the state-dependent Gaussian ----------------------------------------------------------------------------
@pytest.mark.parametrize("full_std, use_expln", [(True, False), (False, False), (True, True)])
def test_logp_and_entropy_are_the_normals_with_variance_latent_squared_times_std_squared(full_std, use_expln):
    module = make_module(full_std=full_std, use_expln=use_expln)
    with torch.no_grad():  # log stds on both sides of 0, so that expln's two branches are both used
        module.log_std.copy_(torch.linspace(-1.5, 1.5, module.log_std.numel()).reshape(module.log_std.shape))
    assert module.log_std.shape == (8, ACT_DIM if full_std else 1)
    obs, actions = torch.randn(32, OBS_DIM), torch.randn(32, ACT_DIM)
    dist = DiagGaussian.from_inputs(module.forward_train({C.OBS: obs})[C.ACTION_DIST_INPUTS])
    reference = reference_normal(module, obs, use_expln=use_expln)
    torch.testing.assert_close(dist.logp(actions), reference.log_prob(actions).sum(-1))
    torch.testing.assert_close(dist.entropy(), reference.entropy().sum(-1))


def test_the_std_trains_log_std_and_not_the_policy_features():
    module = make_module()
    out = module.forward_train({C.OBS: torch.randn(16, OBS_DIM)})
    out[C.ACTION_DIST_INPUTS][:, ACT_DIM:].sum().backward()  # the log-std half only
    assert module.log_std.grad is not None and module.log_std.grad.abs().sum() > 0
    assert not any(p.grad.any() for p in module.pi.parameters()), "the std's gradient reached the policy MLP"


def test_an_exploring_action_is_mean_plus_latent_times_its_envs_noise_with_that_gaussians_logp():
    module = make_module(log_std_init=-1.0)
    obs = torch.randn(4, OBS_DIM)
    module.reset_noise()
    torch.manual_seed(3)
    out = module.forward_exploration({C.OBS: obs})
    torch.manual_seed(3)
    expected_noise = torch.randn(4, 8, ACT_DIM) * torch.exp(torch.tensor(-1.0))  # N(0, exp(log_std)^2) per env
    torch.testing.assert_close(module.sde_noise, expected_noise)
    with torch.no_grad():
        reference = reference_normal(module, obs)
        latent = module.pi[:-1](obs)
    pushes = torch.stack([latent[i] @ expected_noise[i] for i in range(4)])
    torch.testing.assert_close(out[C.ACTIONS], reference.mean + pushes)
    torch.testing.assert_close(out[C.ACTION_LOGP], reference.log_prob(out[C.ACTIONS]).sum(-1))
    assert not torch.equal(module.sde_noise[0], module.sde_noise[1]), "each env should have a noise matrix of its own"


def test_the_greedy_action_is_the_mean():
    module = make_module(log_std_init=0.5)
    obs = torch.randn(8, OBS_DIM)
    with torch.no_grad():
        greedy = DiagGaussian.from_inputs(module.forward_inference({C.OBS: obs})[C.ACTION_DIST_INPUTS])
        torch.testing.assert_close(greedy.deterministic_sample(), module.pi(obs), rtol=0, atol=0)
        assert not torch.allclose(module.forward_exploration({C.OBS: obs})[C.ACTIONS], module.pi(obs))


# ---- when the noise is redrawn -------------------------------------------------------------------------------
def test_with_sample_freq_minus_1_the_noise_is_held_for_a_rollout_and_redrawn_for_the_next():
    with sde_pendulum(sde_sample_freq=-1).build() as algo:
        seen = noises_per_step(algo.env_runner.module)
        for _ in range(3):
            algo.env_runner.sample(5)
    rounds = [seen[i : i + 5] for i in range(0, 15, 5)]
    for r, steps in enumerate(rounds):
        assert all(torch.equal(noise, steps[0]) for noise in steps), f"the noise changed within rollout {r}"
    for r in (1, 2):
        assert not torch.equal(rounds[r][0], rounds[r - 1][0]), f"rollout {r} reused the noise of rollout {r - 1}"


def test_with_sample_freq_n_the_noise_is_redrawn_every_n_steps_counted_from_each_rollouts_start():
    with sde_pendulum(sde_sample_freq=4).build() as algo:
        seen = noises_per_step(algo.env_runner.module)
        algo.env_runner.sample(10)
        algo.env_runner.sample(10)
    changed = [t for t in range(1, 20) if not torch.equal(seen[t], seen[t - 1])]
    assert changed == [4, 8, 10, 14, 18], "new noise at steps 0, 4, 8 of each 10-step rollout"


# ---- PPO's ratio -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("sde_sample_freq, num_env_runners", [(-1, 0), (4, 0), (4, 1)])
def test_the_ratio_is_exactly_1_on_the_first_minibatch_of_every_update(sde_sample_freq, num_env_runners):
    """The runner's recorded log-prob and the learner's, of the same action under the same weights, agree: the
    Gaussian does not depend on the noise drawn, so redrawing it (or another process drawing it) changes nothing."""
    builder = sde_pendulum(sde_sample_freq=sde_sample_freq, log_std_init=-1.0)
    builder.env_runners(num_env_runners=num_env_runners)
    with builder.build() as algo:
        learner, logps, minibatches = algo.learner, [], []

        class Recording(DiagGaussian):
            def logp(self, actions: torch.Tensor) -> torch.Tensor:
                logp = super().logp(actions)
                logps.append(logp.detach())
                return logp

        loss = learner.loss

        def recording_loss(mb: Dict[str, torch.Tensor], *args: float):
            minibatches.append(mb)
            return loss(mb, *args)

        learner.dist_cls, learner.loss = Recording, recording_loss
        for iteration in range(3):
            logps.clear(), minibatches.clear()
            algo.train()
            ratio = torch.exp(logps[0] - minibatches[0][C.ACTION_LOGP])
            assert torch.equal(ratio, torch.ones_like(ratio)), (
                f"update {iteration}: first-minibatch ratio should be exactly 1, max |ratio - 1| = "
                f"{(ratio - 1).abs().max():.3g}")
            assert not torch.equal(logps[-1], minibatches[-1][C.ACTION_LOGP])  # the weights did move


def test_a2c_explores_with_gsde_too():
    with sde_pendulum(A2CConfig, sde_sample_freq=2).build() as algo:
        result = algo.train()
        assert algo.learner.raw_module.use_sde and torch.isfinite(torch.tensor(result["learner/policy_loss"]))


# ---- config --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("env, module, message", [
    ("CartPole-v1", {"use_sde": True}, "module.use_sde=true: gSDE explores in continuous (Box) actions, not Discrete(2)"),
    ("Pendulum-v1", {"use_sde": True, "sde_sample_freq": 0}, "module.sde_sample_freq=0: use a number of steps >= 1"),
])
def test_bad_gsde_settings_are_config_errors(env, module, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        PPOConfig().environment(env).rl_module(model_config=module).evaluation(interval=0).build()


@pytest.mark.parametrize("env, expected", [
    ("pendulum", {"use_sde": True, "sde_sample_freq": 4}),
    ("mountain_car_continuous", {"use_sde": True, "log_std_init": -3.29, "ortho_init": False}),
])
def test_ppo_tuned_files_for_pendulum_and_mountain_car_continuous_use_gsde(env, expected):
    config = check_hydra_config(compose_cfg(["algorithm=ppo", f"env={env}"]))
    assert {key: config.module[key] for key in expected} == expected
    if env == "mountain_car_continuous":
        hp = config.algorithm
        assert (hp.train_batch_size, hp.minibatch_size, hp.lr, hp.vf_coeff, hp.grad_clip) == (8, 8, 7.77e-5, 0.19, 5.0)
        assert config.env_runners.normalize_obs and config.total_steps == 20000
