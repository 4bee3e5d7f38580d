"""TD3's exploration noise: Gaussian in the module, or SB3's Ornstein-Uhlenbeck process per env held by the env
runner; the OU formula, its restart at one env's episode end, exact resume, the config key and the tuned files."""
from __future__ import annotations

import math
import re
from typing import Any, Dict, Tuple

import gymnasium as gym
import numpy as np
import pytest
import torch

from rlhydra import Algorithm, ConfigError
from rlhydra.algorithms.td3 import TD3, TD3Config, TD3Module
from rlhydra.config.overrides import check_command_line
from rlhydra.core.preflight import check_hydra_config
from rlhydra.data import columns as C
from rlhydra.env.env_runner import EnvRunner
from rlhydra.models.action_noise import OrnsteinUhlenbeckNoise
from tests.conftest import CONF, compose_cfg
from tests.test_resume import comparable, weights

THETA, DT = 0.15, 1e-2  # SB3's OrnsteinUhlenbeckActionNoise defaults
SHORT_ENV = "tests.test_td3_noise:RandomLengthEnv"


class RandomLengthEnv(gym.Env):
    """Continuous actions in [-2, 2]; each episode lasts 2 to 7 steps, drawn from the env's seeded generator, so the
    env copies of a vector env end their episodes on different steps."""

    def __init__(self) -> None:
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (3,), np.float32)
        self.action_space = gym.spaces.Box(-2.0, 2.0, (2,), np.float32)
        self.t, self.length = 0, 0

    def _obs(self) -> np.ndarray:
        return self.np_random.normal(size=3).astype(np.float32)

    def reset(self, *, seed: int | None = None, options: Any = None) -> Tuple[np.ndarray, Dict[str, Any]]:
        super().reset(seed=seed)
        self.t, self.length = 0, int(self.np_random.integers(2, 8))
        return self._obs(), {}

    def step(self, action: np.ndarray) -> Tuple[np.ndarray, float, bool, bool, Dict[str, Any]]:
        self.t += 1
        return self._obs(), -float(np.square(action).sum()), self.t >= self.length, False, {}


def td3(noise_type: str = "ornstein_uhlenbeck", sigma: float = 0.5, env_id: str = SHORT_ENV, **runners: Any):
    return (TD3Config().environment(env_id)
            .training(learning_starts=32, train_batch_size=64, minibatch_size=32,
                      exploration_noise_type=noise_type, exploration_noise=sigma)
            .rl_module(model_config={"hidden_sizes": [16, 16]}).env_runners(num_envs_per_env_runner=3, **runners)
            .evaluation(interval=0).debugging(seed=5))


def ou_reference(z: torch.Tensor, sigma: float) -> torch.Tensor:
    """x_1..x_n in closed form from the draws z_0..z_{n-1} [n, ...], x_0 = 0: x_n = sigma sqrt(dt) sum_k a^(n-1-k)
    z_k with a = 1 - theta dt (the recursion x <- x + theta (0 - x) dt + sigma sqrt(dt) z unrolled)."""
    a, n = 1.0 - THETA * DT, len(z)
    powers = a ** torch.arange(n, dtype=torch.float64)
    return torch.stack([sigma * math.sqrt(DT) * (powers[:t + 1].flip(0).reshape(-1, *[1] * (z.dim() - 1))
                                                 * z[:t + 1]).sum(0) for t in range(n)])


# ---- the process --------------------------------------------------------------------------------------------------
def test_the_ou_process_from_a_known_rng_follows_the_closed_form():
    sigma, steps = 0.5, 6
    noise = OrnsteinUhlenbeckNoise(num_envs=2, action_dim=3, sigma=sigma)
    torch.manual_seed(7)
    got = torch.stack([noise.sample().clone() for _ in range(steps)]).double()
    torch.manual_seed(7)
    z = torch.stack([torch.randn(2, 3) for _ in range(steps)]).double()  # one standard-normal draw per step
    torch.testing.assert_close(got, ou_reference(z, sigma), rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(got[0], sigma * math.sqrt(DT) * z[0], rtol=1e-6, atol=1e-7)  # from x_0 = 0


def test_a_reset_restarts_only_the_envs_whose_episode_ended():
    sigma = 0.3
    noise = OrnsteinUhlenbeckNoise(num_envs=3, action_dim=2, sigma=sigma)
    torch.manual_seed(1)
    for _ in range(4):
        noise.sample()
    before = noise.x.clone()
    noise.reset(np.array([False, True, False]))
    assert torch.equal(noise.x[1], torch.zeros(2))
    assert torch.equal(noise.x[[0, 2]], before[[0, 2]])
    torch.manual_seed(2)
    after = noise.sample().clone()
    torch.manual_seed(2)
    z = torch.randn(3, 2)
    torch.testing.assert_close(after[1], sigma * math.sqrt(DT) * z[1])  # env 1 starts again from 0
    torch.testing.assert_close(after[[0, 2]], before[[0, 2]] * (1 - THETA * DT) + sigma * math.sqrt(DT) * z[[0, 2]])


def test_noisy_actions_are_clipped_to_the_unit_range():
    noise = OrnsteinUhlenbeckNoise(num_envs=1, action_dim=2, sigma=50.0)
    torch.manual_seed(0)
    actions = torch.stack([noise(torch.tensor([[0.9, -0.9]])) for _ in range(50)])
    assert actions.abs().max() == 1.0 and (actions.abs() == 1.0).any()


# ---- in the env runner ------------------------------------------------------------------------------------------
def make_runner(noise_type: str, sigma: float = 0.5) -> EnvRunner:
    config = td3(noise_type, sigma).to_config()
    env = RandomLengthEnv()
    module = TD3.build_module(config, env.observation_space, env.action_space)
    return EnvRunner(config.env, config.env_runners, module, num_envs=3, seed=11, squashed_actions=True)


def test_the_runner_adds_ou_noise_per_env_and_restarts_it_at_that_envs_episode_end_only():
    sigma, steps = 0.5, 24
    runner = make_runner("ornstein_uhlenbeck", sigma)
    try:
        torch.manual_seed(3)
        rollout = runner.sample(steps)
        torch.manual_seed(3)  # the runner's only torch draws: one [envs, action_dim] normal per step for the noise
        z = torch.stack([torch.randn(3, 2) for _ in range(steps)]).double()
        data = rollout.data
        done = data[C.TERMINATED] | data[C.TRUNCATED]
        assert (done.any(1) & ~done.all(1)).any(), "no step where one env's episode ends and another's goes on"
        with torch.no_grad():
            greedy = runner.module.forward_inference({C.OBS: torch.as_tensor(data[C.OBS])})[C.ACTIONS].double()
        x, expected = torch.zeros(3, 2, dtype=torch.float64), []
        for t in range(steps):
            x = x + THETA * (0.0 - x) * DT + sigma * math.sqrt(DT) * z[t]
            expected.append((greedy[t] + x).clamp(-1.0, 1.0))
            x[torch.as_tensor(done[t])] = 0.0  # the next step of an env whose episode ended starts from 0
        torch.testing.assert_close(torch.as_tensor(data[C.ACTIONS]).double(), torch.stack(expected),
                                   rtol=1e-5, atol=1e-6)
        assert torch.equal(runner.action_noise.x[torch.as_tensor(done[-1])], torch.zeros(int(done[-1].sum()), 2))
    finally:
        runner.stop()


def test_warm_up_actions_get_no_noise_and_the_noise_still_restarts_at_episode_ends():
    runner = make_runner("ornstein_uhlenbeck")
    try:
        runner.sample(1, random_actions=True)  # the first sample resets the envs, and the noise with them
        runner.action_noise.x = torch.ones(3, 2)
        expected, mixed = torch.ones(3, 2), False
        for _ in range(12):
            torch.manual_seed(0)
            data = runner.sample(1, random_actions=True).data
            torch.manual_seed(0)
            assert np.array_equal(data[C.ACTIONS][0], (torch.rand(3, 2) * 2.0 - 1.0).numpy())  # uniform, no noise
            done = torch.as_tensor(data[C.TERMINATED][0] | data[C.TRUNCATED][0])
            mixed |= bool(done.any() and not done.all())
            expected[done] = 0.0
            assert torch.equal(runner.action_noise.x, expected)  # never drawn, restarted where an episode ended
        assert mixed and expected.abs().sum() == 0
    finally:
        runner.stop()


def test_gaussian_noise_is_still_drawn_in_the_module_and_the_runner_holds_none():
    runner = make_runner("normal", sigma=0.2)
    try:
        assert runner.action_noise is None and runner.module.make_action_noise(3) is None
        obs = torch.randn(5, 3)
        torch.manual_seed(4)
        actions = runner.module.forward_exploration({C.OBS: obs})[C.ACTIONS]
        with torch.no_grad():
            greedy = runner.module.policy(obs)
        torch.manual_seed(4)
        assert torch.equal(actions, (greedy + 0.2 * torch.randn_like(greedy)).clamp(-1.0, 1.0))
    finally:
        runner.stop()


def test_with_ou_noise_the_modules_own_exploration_is_greedy():
    runner = make_runner("ornstein_uhlenbeck")
    try:
        obs = torch.randn(5, 3)
        module = runner.module
        assert torch.equal(module.forward_exploration({C.OBS: obs})[C.ACTIONS],
                           module.forward_inference({C.OBS: obs})[C.ACTIONS])
        assert isinstance(module.make_action_noise(4), OrnsteinUhlenbeckNoise)
    finally:
        runner.stop()


# ---- exact resume -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("runners", [{}, {"num_env_runners": 2}], ids=["in-process", "2-runner-processes"])
def test_n_then_m_iterations_with_ou_noise_after_a_restore_equal_n_plus_m(runners, tmp_path):
    n, m = 3, 3
    with td3(**runners).build() as algo:
        straight = [comparable(algo.train()) for _ in range(n + m)]
        straight_weights = weights(algo)
    with td3(**runners).build() as algo:
        first = [comparable(algo.train()) for _ in range(n)]
        saved = algo.env_runner.get_state()
        path = algo.save(str(tmp_path / "ckpt"))
    noise_states = [w["runner"]["action_noise"] for w in saved["workers"]] if runners else [saved["action_noise"]]
    assert all(state["x"].abs().sum() > 0 for state in noise_states)  # the save caught the process mid-episode
    with Algorithm.from_checkpoint(path) as algo:
        rest = [comparable(algo.train()) for _ in range(m)]
        resumed_weights = weights(algo)
    assert first + rest == straight
    for key in straight_weights:
        assert torch.equal(resumed_weights[key], straight_weights[key]), key


def test_a_greedy_policy_loads_from_an_ou_checkpoint(tmp_path):
    from rlhydra.models.rl_module import RLModule

    with td3().build() as algo:
        algo.train()
        path = algo.save(str(tmp_path / "ckpt"))
        expected = algo.compute_actions(np.zeros((2, 3), np.float32))
    module = RLModule.from_checkpoint(path)
    np.testing.assert_array_equal(module.compute_actions(np.zeros((2, 3), np.float32)), expected)


# ---- config -----------------------------------------------------------------------------------------------------
def test_the_configured_noise_type_reaches_the_default_module():
    config = td3("ornstein_uhlenbeck", 0.4).to_config()
    module = TD3.build_module(config, gym.spaces.Box(-np.inf, np.inf, (3,), np.float32),
                              gym.spaces.Box(-2.0, 2.0, (2,), np.float32))
    assert isinstance(module, TD3Module) and module.exploration_noise_type == "ornstein_uhlenbeck"
    noise = module.make_action_noise(5)
    assert isinstance(noise, OrnsteinUhlenbeckNoise) and noise.sigma == 0.4 and noise.x.shape == (5, 2)
    assert (noise.theta, noise.dt, noise.mu) == (THETA, DT, 0.0)
    assert TD3Config().to_config().algorithm.exploration_noise_type == "normal"


def test_an_unknown_noise_type_is_refused_naming_the_key_and_the_options():
    with pytest.raises(ConfigError) as info:
        check_hydra_config(compose_cfg(["algorithm=td3", "env=pendulum", "algorithm.exploration_noise_type=ou"]))
    assert "algorithm.exploration_noise_type: must be one of normal, ornstein_uhlenbeck; got 'ou'" in str(info.value)


def test_help_shows_the_noise_type_with_its_options():
    text = check_command_line(["algorithm=td3", "env=pendulum", "--help"], CONF).help
    lines = {line.split()[0]: line for line in text.splitlines() if line.startswith("  ") and line.split()}
    assert re.match(r"  algorithm\.exploration_noise_type +normal +normal: iid Gaussian; ornstein_uhlenbeck: ",
                    lines["algorithm.exploration_noise_type"])
    assert lines["module.exploration_noise_type"].endswith("({normal, ornstein_uhlenbeck})")


@pytest.mark.parametrize("env, expected", [
    ("mountain_car_continuous", {"exploration_noise_type": "ornstein_uhlenbeck", "exploration_noise": 0.5,
                                 "learning_starts": 100, "total_steps": 300_000}),
    ("lunar_lander_continuous", {"exploration_noise_type": "normal", "exploration_noise": 0.1, "gamma": 0.98,
                                 "learning_starts": 10_000, "total_steps": 300_000}),
])
def test_the_zoos_td3_files_choose_their_noise(env, expected):
    config = compose_cfg(["algorithm=td3", f"env={env}"])
    got = {key: config.algorithm[key] for key in expected if key != "total_steps"}
    got["total_steps"] = config.total_steps
    assert got == expected and list(config.module.hidden_sizes) == [400, 300]


def test_the_zoos_sac_lunar_lander_continuous_file_decays_lr_linearly():
    config = compose_cfg(["algorithm=sac", "env=lunar_lander_continuous"])
    hp = config.algorithm
    assert (hp.lr, hp.lr_schedule, hp.tau, hp.learning_starts, config.total_steps) == (7.3e-4, "linear", 0.01,
                                                                                       10_000, 500_000)
