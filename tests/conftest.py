"""Shared test helpers: the conf dir, composing configs as the CLI does, fault-injection envs."""
from __future__ import annotations

import os
from typing import List

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, open_dict

import rlhydra  # noqa: F401  (registers the schema in Hydra's ConfigStore)
from rlhydra.config.tuned import apply_tuned, tuned_dirs
import tests.fault_envs  # noqa: F401  (registers the test envs)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONF = os.path.join(ROOT, "rlhydra", "conf")  # shipped inside the package (the wheel's package data)


def compose_cfg(overrides: List[str]) -> DictConfig:
    """Compose rlhydra/conf/config.yaml with overrides, as `python train.py ...` (the `rlhydra` command) does: the
    tuned file declared for (algorithm.name, env.id) applied unless `~tuned`."""
    with initialize_config_dir(version_base="1.3", config_dir=CONF):
        cfg = compose("config", overrides=overrides, return_hydra_config=True)
    choices = dict(cfg.hydra.runtime.choices)
    with open_dict(cfg):
        del cfg["hydra"]
    if choices.get("tuned") == "auto" and not cfg.get("resume"):
        apply_tuned(cfg, overrides, choices.keys(), tuned_dirs())
    return cfg


@pytest.fixture
def small_ppo():
    """A fast PPO builder on CartPole for smoke tests."""
    from rlhydra import PPOConfig

    return (PPOConfig().environment("CartPole-v1")
            .training(train_batch_size=128, minibatch_size=64, num_epochs=2)
            .env_runners(num_envs_per_env_runner=4)
            .evaluation(interval=0, episodes=2, num_envs=2))


def has_mujoco() -> bool:
    """Whether gymnasium[mujoco] works here (it is not a test dependency; the tests that need it are skipped)."""
    import gymnasium as gym

    try:
        gym.make("HalfCheetah-v5").close()
    except Exception:
        return False
    return True


MUJOCO = pytest.mark.skipif(not has_mujoco(), reason="needs gymnasium[mujoco]")


@pytest.fixture
def one_torch_thread():
    """Tiny tensors: one intra-op thread (the learner's default) is fastest and spares the shared CPUs."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def observations(env_id: str, n: int = 32):
    """`n` observations of `env_id` under random actions (seeded), stacked: a batch for compute_actions."""
    import gymnasium as gym
    import numpy as np

    env = gym.make(env_id)
    obs, _ = env.reset(seed=0)
    env.action_space.seed(0)
    batch = []
    for _ in range(n):
        batch.append(obs)
        obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            obs, _ = env.reset()
    env.close()
    return np.stack(batch)


def module_weights(algo) -> dict:
    """Every module's weights of a multi-agent algorithm, by '<module id>.<name>' (copies)."""
    return {f"{m}.{k}": v.clone() for m, s in algo.learner.raw_module.get_state().items() for k, v in s.items()}


def resumes_exactly(config, tmp_path, check_resumed=lambda algo: None):
    """2 iterations, a checkpoint, 2 more; then the checkpoint restored and 2 iterations: every module's weights and
    the team return must be the same. Returns both runs' last results for further checks."""
    from rlhydra import Algorithm

    with config.build() as algo:
        for _ in range(2):
            algo.train()
        path = algo.save(str(tmp_path / "ckpt"))
        last = [algo.train() for _ in range(2)][-1]
        expected = module_weights(algo)
    with Algorithm.from_checkpoint(path) as resumed:
        check_resumed(resumed)
        again = [resumed.train() for _ in range(2)][-1]
        got = module_weights(resumed)
    assert expected.keys() == got.keys()
    assert all(torch.equal(expected[k], got[k]) for k in expected)
    assert again["train/episode_return_mean"] == last["train/episode_return_mean"]
    return last, again


def wait_for_jobs_running(proc, folder, jobs: int, rows: int = 3, timeout: float = 120) -> None:
    """Poll until `jobs` job folders under `folder` each have `rows` metrics rows (the process must not end first)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        metrics = list(folder.glob("*/metrics.jsonl"))
        if len(metrics) == jobs and all(len(m.read_text().splitlines()) >= rows for m in metrics):
            return
        assert proc.poll() is None, proc.communicate()[1]
        time.sleep(0.05)  # polling for the jobs' progress, not synchronising with a fixed delay
    raise AssertionError(f"{jobs} job(s) under {folder} did not reach {rows} metrics rows in {timeout} s")
