"""Shared tests over the algorithm registry: every registered algorithm gets them by being registered.

Each algorithm in `registered_algorithms()` is built from its spec alone (its training-config dataclass, a
generic builder over it, an env it can serve by `spec.action_spaces`) with a tiny budget, and checked for: a
smoke run, same-seed determinism, save -> `from_checkpoint` acting identically, exact N+M resume, and bad configs
refused before anything starts. The example package `examples/reinforce` is not installed in the test venv, so it
is left out here; tests/test_registry.py installs and runs it in a subprocess.
"""
from __future__ import annotations

import math
import os
from dataclasses import fields

import gymnasium as gym
import numpy as np
import pytest
import torch

import rlhydra
from rlhydra import Algorithm, ConfigError, RLModule
from rlhydra.config.builder import AlgorithmConfigBuilder
from rlhydra.config.registry import registered_algorithms
from rlhydra.config.schema import OffPolicyTrainingConfig
from tests.conftest import observations

SPECS = registered_algorithms()
NAMES = sorted(SPECS)
ENVS = {"discrete": "CartPole-v1", "continuous": "Pendulum-v1"}


def comparable(result):
    """A result without what depends on the clock."""
    return {k: v for k, v in result.items() if not k.startswith("perf/") and k != "time_s"}


def env_for(spec):
    return ENVS["discrete" if "discrete" in spec.action_spaces else "continuous"]


def tiny(name, seed=5, env=None):
    """A tiny builder for the registered algorithm `name`, from its spec alone."""
    spec = SPECS[name]
    builder = type(f"{name}Builder", (AlgorithmConfigBuilder,), {"training_class": spec.training_config})()
    have = {f.name for f in fields(spec.training_config)}
    if issubclass(spec.training_config, OffPolicyTrainingConfig):
        budget = {"train_batch_size": 64, "learning_starts": 32, "minibatch_size": 16}
    else:
        budget = {"train_batch_size": 64, "minibatch_size": 32, "num_epochs": 1}
    builder.training(**{k: v for k, v in budget.items() if k in have})
    return (builder.environment(env or env_for(spec)).rl_module(model_config={"hidden_sizes": [16, 16]})
            .env_runners(num_envs_per_env_runner=2).evaluation(interval=0, episodes=2, num_envs=2)
            .debugging(seed=seed))


def weights(algo):
    return {k: v.clone() for k, v in algo.get_module().state_dict().items()}


def assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key




def test_every_algorithm_folder_is_covered():
    folders = sorted(e.name for e in os.scandir(os.path.join(os.path.dirname(rlhydra.__file__), "algorithms"))
                     if e.is_dir() and not e.name.startswith(("_", ".")))
    assert folders and set(folders) <= set(NAMES)
    assert {"ppo", "a2c", "sac", "td3", "dqn"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_smoke(name):
    with tiny(name).build() as algo:
        results = [algo.train() for _ in range(2)]
    assert 0 < results[0]["env_steps"] < results[1]["env_steps"]
    learner = [k for k in results[1] if k.startswith("learner/")]
    assert learner, sorted(results[1])
    for key in learner:
        value = results[1][key]
        if isinstance(value, (int, float)):
            assert math.isfinite(value), (key, value)


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_metrics_another_seed_differs(name):
    runs = []
    for seed in (7, 7, 8):
        with tiny(name, seed=seed).build() as algo:
            runs.append([comparable(algo.train()) for _ in range(2)])
    assert runs[0] == runs[1]
    assert runs[2] != runs[0]


@pytest.mark.parametrize("name", NAMES)
def test_from_checkpoint_acts_identically(name, tmp_path):
    obs = observations(env_for(SPECS[name]))
    with tiny(name).build() as algo:
        algo.train()
        path = algo.save(str(tmp_path / "ckpt"))
        expected_weights = weights(algo)
        expected = algo.compute_actions(obs)
    with Algorithm.from_checkpoint(path) as algo:
        assert_same_weights(weights(algo), expected_weights)
        np.testing.assert_array_equal(algo.compute_actions(obs), expected)
    np.testing.assert_array_equal(RLModule.from_checkpoint(path).compute_actions(obs), expected)


@pytest.mark.parametrize("name", NAMES)
def test_n_then_m_iterations_after_a_restore_equal_n_plus_m(name, tmp_path):
    n, m = 2, 2
    with tiny(name).build() as algo:
        straight = [comparable(algo.train()) for _ in range(n + m)]
        straight_weights = weights(algo)
    with tiny(name).build() as algo:
        first = [comparable(algo.train()) for _ in range(n)]
        path = algo.save(str(tmp_path / "ckpt"))
    with Algorithm.from_checkpoint(path) as algo:
        rest = [comparable(algo.train()) for _ in range(m)]
        resumed_weights = weights(algo)
    assert first + rest == straight
    assert_same_weights(resumed_weights, straight_weights)


@pytest.mark.parametrize("name", NAMES)
def test_a_bad_gamma_is_refused_with_its_key(name, monkeypatch):
    for make in ("make", "make_vec"):
        monkeypatch.setattr(gym, make, lambda *a, **k: pytest.fail("an env was made before the config was checked"))
    with pytest.raises(ConfigError, match=r"algorithm\.gamma"):
        tiny(name).training(gamma=1.5).build()


@pytest.mark.parametrize("name", [n for n in NAMES if len(SPECS[n].action_spaces) == 1])
def test_an_action_space_it_cannot_serve_is_refused(name):
    other = ENVS["continuous" if SPECS[name].action_spaces == ("discrete",) else "discrete"]
    with pytest.raises(ConfigError, match=name):
        tiny(name, env=other).build()
