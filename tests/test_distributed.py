"""Data-parallel learners on Lightning Fabric: two CPU processes (DDP over gloo) keep identical weights."""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from rlhydra import ConfigError, PPOConfig
from rlhydra.core.distributed import finish_rank, launch
from tests.conftest import ROOT


def _train_and_compare(fabric, config):
    """Runs on every rank: a few PPO iterations, then elementwise max == min across ranks means equal everywhere."""
    algo = config.build(fabric=fabric)
    results = [algo.train() for _ in range(3)]
    flat = torch.cat([p.detach().flatten() for p in algo.get_module().parameters()])
    obs = torch.as_tensor(algo.env_runner._obs).flatten().clone()
    algo.stop()
    del algo  # DDP must be freed before the process group goes (see finish_rank)
    same = [bool(torch.equal(fabric.all_reduce(x.clone(), reduce_op="max"), fabric.all_reduce(x.clone(), reduce_op="min")))
            for x in (flat, obs)]
    finish_rank(fabric)
    # Small plain values only: the launcher returns rank 0's value through a pipe that it drains after join().
    return {"weights_equal": same[0], "same_obs": same[1], "env_steps": [r["env_steps"] for r in results],
            "world": fabric.world_size}


def test_two_cpu_learners_keep_identical_weights_and_sample_different_envs():
    config = (PPOConfig().environment("CartPole-v1").learners(num_learners=2)
              .training(train_batch_size=256, minibatch_size=64, num_epochs=2)
              .env_runners(num_envs_per_env_runner=4).evaluation(interval=0).to_config())
    out = launch(config, _train_and_compare, config)
    assert out["world"] == 2
    assert out["weights_equal"], "ranks diverged: gradients were not averaged"
    assert not out["same_obs"], "both ranks sampled the same envs"
    assert out["env_steps"] == [256, 512, 768]  # global steps, split over ranks


def test_multi_device_off_policy_is_refused_with_the_fix():
    from rlhydra import DQNConfig

    with pytest.raises(ConfigError, match=r"learner.devices=2.*dqn learns on one device.*learner.devices=1"):
        DQNConfig().environment("CartPole-v1").learners(num_learners=2).build()


def test_building_a_multi_device_algorithm_directly_points_to_the_launcher():
    with pytest.raises(ConfigError, match="started by train.py"):
        PPOConfig().environment("CartPole-v1").learners(num_learners=2).build()


def test_multirun_with_two_learners_runs_each_job_once(tmp_path):
    proc = subprocess.run(
        [sys.executable, "train.py", "-m", "learner.devices=2", "seed=0,1", "total_steps=512",
         "evaluation.interval=0", f"hydra.sweep.dir={tmp_path}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("rlhydra: ppo on CartPole-v1") == 2, proc.stdout  # the sweep was not re-run
    for job in ("0", "1"):
        lines = (tmp_path / job / "metrics.jsonl").read_text().splitlines()
        assert len(lines) == 2  # 512 steps / 256 per iteration, logged by rank 0 only
