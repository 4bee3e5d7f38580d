"""Piecewise schedules ([[env_step, value], ...], RLlib's): the value each learner's optimizer actually has after
train(), at a point, between points and beyond the last, for every registered algorithm; and from the CLI."""
from __future__ import annotations

import numpy as np
import pytest

from rlhydra import ConfigError
from rlhydra.config.registry import registered_algorithms
from rlhydra.config.schema import ScheduleChoice
from rlhydra.core.learner import scheduled_value
from tests.conftest import compose_cfg

POINTS = [[0, 1e-3], [32, 5e-4], [96, 1e-4]]  # train() collects 32 env steps: ends at 32, 64, 96, 128


def build(name: str, **training):
    from rlhydra import A2CConfig, DQNConfig, PPOConfig, SACConfig, TD3Config

    builders = {"ppo": PPOConfig, "a2c": A2CConfig, "dqn": DQNConfig, "sac": SACConfig, "td3": TD3Config}
    env = "CartPole-v1" if name in ("ppo", "a2c", "dqn") else "Pendulum-v1"
    extra = dict(minibatch_size=16, num_epochs=1) if name in ("ppo", "a2c") else dict(minibatch_size=16,
                                                                                       learning_starts=0)
    return (builders[name]().environment(env).training(train_batch_size=32, **extra, **training)
            .env_runners(num_envs_per_env_runner=4).evaluation(interval=0, final=False)
            .rl_module(hidden_sizes=[8]).build_algo())


@pytest.mark.parametrize("name", ["ppo", "a2c", "dqn", "sac", "td3"])
def test_a_piecewise_lr_is_interpolated_in_env_steps_in_every_optimizer(name):
    assert name in registered_algorithms()
    with build(name, lr=POINTS) as algo:
        assert algo.config.algorithm.lr_schedule == POINTS and algo.config.algorithm.lr == 1e-3
        seen = []
        for _ in range(4):
            algo.train()
            lrs = {group["lr"] for opt in algo.learner.optimizers for group in opt.param_groups}
            assert len(lrs) == 1, f"{name}: optimizers disagree on lr: {lrs}"
            seen.append((algo.env_steps, lrs.pop()))
    # at a point (32), between points (64: halfway from 5e-4 to 1e-4), at the last (96), beyond it (128)
    assert [s for s, _ in seen] == [32, 64, 96, 128]
    assert [lr for _, lr in seen] == pytest.approx([5e-4, 3e-4, 1e-4, 1e-4])


def test_ppo_clip_param_takes_a_piecewise_schedule_and_reports_it():
    with build("ppo", clip_param=[[0, 0.3], [64, 0.1]]) as algo:
        first = algo.train()
        second = algo.train()
    assert first["learner/clip_param"] == pytest.approx(0.2)  # 32 steps: halfway from 0.3 to 0.1
    assert second["learner/clip_param"] == pytest.approx(0.1)
    assert second["learner/lr"] == pytest.approx(3e-4)  # lr untouched


def test_scheduled_value_formula():
    points = [[10, 1.0], [20, 3.0]]
    assert [scheduled_value(9.0, points, s, 0.0) for s in (0, 10, 15, 20, 1000)] == [1.0, 1.0, 2.0, 3.0, 3.0]
    assert scheduled_value(2.0, "linear", 123, 0.25) == 1.5
    assert scheduled_value(2.0, "constant", 123, 0.25) == 2.0


@pytest.mark.parametrize("bad, message", [
    ([[10, 1.0], [5, 2.0]], "increasing order"),
    ([[0, 1.0, 2.0]], "got the point [0, 1.0, 2.0]"),
    ([], "must be constant, linear or a list"),
    ([[-1, 1.0]], "env steps >= 0"),
])
def test_a_malformed_schedule_is_refused_with_its_method_and_argument(bad, message):
    from rlhydra import PPOConfig

    with pytest.raises(ConfigError) as info:
        PPOConfig().training(lr=bad)
    assert "PPOConfig().training(lr=...)" in str(info.value) and message in str(info.value)
    assert ScheduleChoice().problem(bad) is not None


def test_the_command_line_takes_a_piecewise_lr_schedule():
    from rlhydra.config.algorithm_config import from_hydra
    from rlhydra.core.preflight import check_hydra_config

    cfg = compose_cfg(["algorithm=ppo", "algorithm.lr_schedule=[[0,1e-3],[1000,1e-4]]"])
    check_hydra_config(cfg)
    assert from_hydra(cfg).algorithm.lr_schedule == [[0, 1e-3], [1000, 1e-4]]
    with pytest.raises(ConfigError) as info:
        check_hydra_config(compose_cfg(["algorithm=ppo", "algorithm.lr_schedule=[[1000,1e-3],[0,1e-4]]"]))
    assert "algorithm.lr_schedule: must be constant, linear or a list" in str(info.value)
