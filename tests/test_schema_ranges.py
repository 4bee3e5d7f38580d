"""Every range and choice declared in the schema is enforced, with tests generated from the schema itself.

Each declared range gets a value just outside each bound (refused, its key named) and its closed bounds (accepted);
each declared choice gets an unknown value (refused) and every option (accepted). A pinned table of the declared
ranges makes a widened or deleted declaration fail too.
"""
from __future__ import annotations

import math
import typing
from typing import Any, Iterator, List, Tuple

import pytest

from rlhydra import ConfigError
from rlhydra.config.algorithm_config import AlgorithmConfig
from rlhydra.config.registry import registered_algorithms
from rlhydra.config.schema import Choice, EnvConfig, Range, declared_checks, iter_sections
from rlhydra.core.preflight import problems as config_problems, validate

# What each declared check must be. A change here is a change of what users may set: make it on purpose.
PINNED = {
    "seed": "[0, inf)", "total_steps": "(0, inf)",
    "algorithm.lr": "(0, inf)", "algorithm.gamma": "[0.0, 1.0]", "algorithm.train_batch_size": "(0, inf)",
    "algorithm.grad_clip": "(0, inf)", "algorithm.lr_schedule": "{constant, linear} or [[env_step, value], ...]",
    "ppo:algorithm.gae_lambda": "[0.0, 1.0]", "ppo:algorithm.clip_param": "(0, inf)",
    "ppo:algorithm.vf_clip_param": "(0, inf)", "ppo:algorithm.entropy_coeff": "[0, inf)",
    "ppo:algorithm.vf_coeff": "[0, inf)", "ppo:algorithm.num_epochs": "(0, inf)",
    "ppo:algorithm.minibatch_size": "(0, inf)", "ppo:algorithm.clip_schedule": "{constant, linear} or [[env_step, value], ...]",
    "ppo:algorithm.adam_eps": "(0, inf)",
    "a2c:algorithm.gae_lambda": "[0.0, 1.0]", "a2c:algorithm.entropy_coeff": "[0, inf)",
    "a2c:algorithm.vf_coeff": "[0, inf)", "a2c:algorithm.num_epochs": "(0, inf)",
    "a2c:algorithm.minibatch_size": "(0, inf)",
    "a2c:algorithm.adam_eps": "(0, inf)", "a2c:algorithm.rms_prop_alpha": "[0.0, 1.0)",
    "a2c:algorithm.rms_prop_eps": "(0, inf)",
    "dqn:algorithm.learning_starts": "[0, inf)", "sac:algorithm.learning_starts": "[0, inf)",
    "dqn:algorithm.train_freq": "(0, inf)", "sac:algorithm.train_freq": "(0, inf)",
    "dqn:algorithm.train_batch_size": "(0, inf)", "sac:algorithm.train_batch_size": "(0, inf)",
    "dqn:algorithm.minibatch_size": "(0, inf)", "sac:algorithm.minibatch_size": "(0, inf)",
    "td3:algorithm.minibatch_size": "(0, inf)",
    "dqn:algorithm.n_step": "(0, inf)", "sac:algorithm.n_step": "(0, inf)",
    "dqn:algorithm.target_update_interval": "(0, inf)", "dqn:algorithm.tau": "(0.0, 1.0]",
    "dqn:algorithm.exploration_fraction": "[0.0, 1.0]", "dqn:algorithm.exploration_initial_eps": "[0.0, 1.0]",
    "dqn:algorithm.exploration_final_eps": "[0.0, 1.0]",
    "sac:algorithm.tau": "(0.0, 1.0]", "sac:algorithm.initial_alpha": "(0, inf)",
    "sac:algorithm.target_update_interval": "(0, inf)",
    "td3:algorithm.learning_starts": "[0, inf)", "td3:algorithm.train_freq": "(0, inf)",
    "td3:algorithm.train_batch_size": "(0, inf)", "td3:algorithm.n_step": "(0, inf)",
    "td3:algorithm.tau": "(0.0, 1.0]", "td3:algorithm.policy_delay": "(0, inf)",
    "td3:algorithm.target_policy_noise": "[0, inf)", "td3:algorithm.target_noise_clip": "[0, inf)",
    "td3:algorithm.exploration_noise": "[0, inf)",
    "td3:algorithm.exploration_noise_type": "{normal, ornstein_uhlenbeck}",
    "env.max_episode_steps": "(0, inf)", "env.vectorization_mode": "{sync, async}",
    "env.preprocessing": "{None, atari}", "env.frame_stack": "(0, inf)", "env.api": "{gymnasium, pettingzoo}",
    "self_play.snapshot_interval": "(0, inf)", "self_play.pool_size": "(0, inf)",
    "self_play.latest_prob": "[0.0, 1.0]", "self_play.random_opponent_prob": "[0.0, 1.0]",
    "self_play.eval_games": "(0, inf)",
    "env_runners.num_env_runners": "[0, inf)", "env_runners.num_envs_per_env_runner": "(0, inf)",
    "env_runners.normalize_obs_clip": "(0, inf)", "env_runners.sample_timeout_s": "(0, inf)",
    "env_runners.start_method": "{fork, spawn, forkserver}",
    "learner.accelerator": "{cpu, cuda, gpu, mps, auto}", "learner.devices": "(0, inf)",
    "learner.strategy": "{auto, ddp, ddp_spawn}",
    "learner.precision": "{32-true, 32, 64-true, 64, bf16-mixed, bf16-true, 16-mixed, 16-true}",
    "learner.num_nodes": "(0, inf)", "learner.torch_threads": "(0, inf)",
    "evaluation.interval": "[0, inf)", "evaluation.episodes": "(0, inf)", "evaluation.num_envs": "(0, inf)",
    "evaluation.video_format": "{gif, mp4}", "evaluation.video_fps": "(0, inf)",
    "evaluation.num_env_runners": "[0, inf)", "evaluation.sample_timeout_s": "(0, inf)",
    "reporting.smoothing_episodes": "(0, inf)", "reporting.print_interval_s": "[0, inf)",
    "checkpointing.interval": "[0, inf)", "checkpointing.keep_last": "(0, inf)",
    "logger.wandb.mode": "{online, offline, disabled}",
}


def base_config(algorithm: str) -> AlgorithmConfig:
    """A sound config of one registered algorithm on an env whose actions it supports."""
    spec = registered_algorithms()[algorithm]
    env_id = "CartPole-v1" if "discrete" in spec.action_spaces else "Pendulum-v1"
    return AlgorithmConfig(algorithm=spec.training_config(), env=EnvConfig(id=env_id))


def declared(algorithm: str) -> Iterator[Tuple[str, Any, bool]]:
    """(dotted key, declared check, is the field an int) for every declared check of the algorithm's config."""
    for prefix, section in iter_sections(base_config(algorithm)):
        hints = typing.get_type_hints(type(section))
        for name, check in declared_checks(type(section)).items():
            hint = hints[name]
            yield f"{prefix}{name}", check, hint is int or int in typing.get_args(hint)


def cases() -> List[Tuple[str, str, Any, bool]]:
    return [(algo, key, check, is_int) for algo in sorted(registered_algorithms()) for key, check, is_int in declared(algo)]


def outside(check: Any, is_int: bool) -> List[Any]:
    """Values just outside each bound of a Range, or a value no Choice allows."""
    if isinstance(check, Choice):
        return ["surely-not-an-option"]
    values = []
    if check.low is not None:
        values.append(check.low if check.low_open else (check.low - 1 if is_int else math.nextafter(check.low, -math.inf)))
    if check.high is not None:
        values.append(check.high if check.high_open else (check.high + 1 if is_int else math.nextafter(check.high, math.inf)))
    return values


def inside(check: Any, is_int: bool) -> List[Any]:
    """The closed bounds of a Range (the first value past an open one), or every option of a Choice."""
    if isinstance(check, Choice):
        return list(check.options)
    values = []
    if check.low is not None:
        step = 1 if is_int else (1e-9 if check.high is None else (check.high - check.low) * 1e-6)
        values.append(check.low + step if check.low_open else check.low)
    if check.high is not None:
        values.append(check.high - 1 if check.high_open and is_int else
                      (math.nextafter(check.high, -math.inf) if check.high_open else check.high))
    return values


def with_value(algorithm: str, key: str, value: Any) -> AlgorithmConfig:
    config = base_config(algorithm)
    *path, name = key.split(".")
    section = config
    for part in path:
        section = getattr(section, part)
    setattr(section, name, value if value is None or isinstance(value, str) else type(value)(value))
    return config


CASES = cases()


@pytest.mark.parametrize("algorithm, key, check, is_int", CASES, ids=[f"{a}-{k}" for a, k, _, _ in CASES])
def test_a_value_outside_a_declared_range_is_refused_naming_its_key(algorithm, key, check, is_int):
    for value in outside(check, is_int):
        with pytest.raises(ConfigError) as info:
            validate(with_value(algorithm, key, value))
        assert f"{key}: must be" in str(info.value), f"{key}={value!r} (declared {check}) was refused without naming it"


@pytest.mark.parametrize("algorithm, key, check, is_int", CASES, ids=[f"{a}-{k}" for a, k, _, _ in CASES])
def test_the_ends_of_a_declared_range_are_accepted(algorithm, key, check, is_int):
    for value in inside(check, is_int):
        problems = [p for p in config_problems(with_value(algorithm, key, value)) if p.startswith(f"{key}:")]
        assert not problems, f"{key}={value!r} is inside the declared {check} but was refused: {problems}"


def pinned(algorithm: str) -> dict:
    """The pinned table as seen by one algorithm: the shared keys plus its own `<algorithm>:` keys."""
    table = {k: v for k, v in PINNED.items() if ":" not in k}
    table.update({k.partition(":")[2]: v for k, v in PINNED.items() if k.startswith(f"{algorithm}:")})
    return table


@pytest.mark.parametrize("algorithm", sorted(registered_algorithms()))
def test_the_declared_ranges_are_the_pinned_ones(algorithm):
    found = {key: str(check) for key, check, _ in declared(algorithm)}
    expected = pinned(algorithm)
    changed = {k: (expected.get(k), found.get(k)) for k in set(found) | set(expected) if found.get(k) != expected.get(k)}
    assert not changed, f"{algorithm}: declared checks differ from the pinned table as (pinned, declared): {changed}"


def test_every_registered_algorithm_declares_the_shared_ranges():
    for algorithm in registered_algorithms():
        keys = {key for key, _, _ in declared(algorithm)}
        assert {"algorithm.lr", "algorithm.gamma", "algorithm.train_batch_size"} <= keys, algorithm


def test_a_subclass_that_changes_a_default_keeps_the_base_range():
    from rlhydra.algorithms.dqn.config import DQNTrainingConfig

    assert DQNTrainingConfig().lr != 3e-4  # DQN redeclares lr with its own default ...
    assert str(declared_checks(DQNTrainingConfig)["lr"]) == "(0, inf)"  # ... and keeps the check


def test_a_range_names_its_bounds_in_the_message():
    assert Range(0, 1).problem(1.5) == "must be in [0, 1], got 1.5"
    assert Range(0, 1, low_open=True).problem(0) == "must be in (0, 1], got 0"
    assert Range(0, low_open=True).problem(0) == "must be > 0, got 0"
    assert Range(0).problem(-1) == "must be >= 0, got -1"
    assert Range(0).problem(None) is None  # null switches an optional setting off
    assert Choice(("a", "b")).problem("c") == "must be one of a, b; got 'c'"


@pytest.mark.parametrize("override, message", [
    ("algorithm.gae_lambda=1.01", "algorithm.gae_lambda: must be in [0.0, 1.0], got 1.01"),
    ("algorithm.clip_param=0", "algorithm.clip_param: must be > 0, got 0"),
    ("seed=-1", "seed: must be >= 0, got -1"),
])
def test_the_command_line_reports_a_range_with_its_key(override, message):
    from rlhydra.core.preflight import check_hydra_config
    from tests.conftest import compose_cfg

    with pytest.raises(ConfigError) as info:
        check_hydra_config(compose_cfg([override]))
    assert message in str(info.value)
