"""Data-parallel learners on Lightning Fabric: two CPU processes (DDP over gloo) keep identical weights."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from rlhydra import ConfigError, PPOConfig
from rlhydra.core.distributed import finish_rank, launch, reduce_metrics
from rlhydra.sweep_summary import read_job_results
from tests.conftest import ROOT

# Known per-rank metrics: rank r reports these, and the reduction over 2 ranks must give REDUCED.
PER_RANK = [
    {"iteration": 3, "env_steps": 768, "episodes": 4, "env_runners/num_restarts": 0, "learner/loss": 1.0,
     "train/episode_return_mean": None, "perf/env_steps_per_s": 100.0, "checkpoint": "kept as is"},
    {"iteration": 3, "env_steps": 768, "episodes": 6, "env_runners/num_restarts": 2, "learner/loss": 4.0,
     "train/episode_return_mean": 30.0, "perf/env_steps_per_s": 300.0, "checkpoint": "kept as is"},
]
REDUCED = {"iteration": 3, "env_steps": 768, "episodes": 10, "env_runners/num_restarts": 2, "learner/loss": 2.5,
           "train/episode_return_mean": 30.0, "perf/env_steps_per_s": 200.0, "checkpoint": "kept as is"}


def test_metrics_over_ranks_average_means_sum_counts_and_skip_ranks_without_a_value():
    sent = []
    for metrics in PER_RANK:  # what each rank puts into the collective
        reduce_metrics(metrics, lambda t: sent.append(t) or t)
    total = sent[0] + sent[1]  # an all-reduce with op sum gives every rank this
    for metrics in PER_RANK:
        assert reduce_metrics(metrics, lambda t: total) == REDUCED


def test_metrics_over_ranks_match_by_name_whatever_order_each_rank_met_them_in():
    ranks = [PER_RANK[0], dict(reversed(list(PER_RANK[1].items())))]  # multi-agent ranks meet agents in any order
    sent = []
    for metrics in ranks:
        reduce_metrics(metrics, lambda t: sent.append(t) or t)
    total = sent[0] + sent[1]
    for metrics in ranks:
        assert reduce_metrics(metrics, lambda t: total) == REDUCED


def _train_and_compare(fabric, config):
    """Runs on every rank: a few PPO iterations, then elementwise max == min across ranks means equal everywhere."""
    algo = config.build(fabric=fabric)
    results = [algo.train() for _ in range(3)]
    reduced = algo._reduce_across_ranks(dict(PER_RANK[fabric.global_rank]))
    flat = torch.cat([p.detach().flatten() for p in algo.get_module().parameters()])
    obs = torch.as_tensor(algo.env_runner._obs).flatten().clone()
    algo.stop()
    del algo  # DDP must be freed before the process group goes (see finish_rank)
    same = [bool(torch.equal(fabric.all_reduce(x.clone(), reduce_op="max"), fabric.all_reduce(x.clone(), reduce_op="min")))
            for x in (flat, obs)]
    finish_rank(fabric)
    # Small plain values only: the launcher returns rank 0's value through a pipe that it drains after join().
    return {"weights_equal": same[0], "same_obs": same[1], "env_steps": [r["env_steps"] for r in results],
            "world": fabric.world_size, "reduced": reduced}


@pytest.mark.slow
def test_two_cpu_learners_keep_identical_weights_and_sample_different_envs():
    config = (PPOConfig().environment("CartPole-v1").learners(num_learners=2)
              .training(train_batch_size=256, minibatch_size=64, num_epochs=2)
              .env_runners(num_envs_per_env_runner=4).evaluation(interval=0).to_config())
    out = launch(config, _train_and_compare, config)
    assert out["world"] == 2
    assert out["weights_equal"], "ranks diverged: gradients were not averaged"
    assert not out["same_obs"], "both ranks sampled the same envs"
    assert out["env_steps"] == [256, 512, 768]  # global steps, split over ranks
    assert out["reduced"] == REDUCED, "known per-rank metrics were not reduced as means, sums and global counts"


def test_multi_device_off_policy_is_refused_with_the_fix():
    from rlhydra import DQNConfig

    with pytest.raises(ConfigError, match=r"learner.devices=2.*dqn learns on one device.*learner.devices=1"):
        DQNConfig().environment("CartPole-v1").learners(num_learners=2).build()


def test_building_a_multi_device_algorithm_directly_points_to_the_launcher():
    with pytest.raises(ConfigError, match="started by train.py"):
        PPOConfig().environment("CartPole-v1").learners(num_learners=2).build()


@pytest.mark.slow
def test_multirun_with_two_learners_runs_each_job_once(tmp_path):
    proc = subprocess.run(
        [sys.executable, "train.py", "-m", "learner.devices=2", "seed=0,1", "total_steps=512",
         "evaluation.interval=0", f"hydra.sweep.dir={tmp_path}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("rlhydra: ppo on CartPole-v1") == 2, proc.stdout  # the sweep was not re-run
    for job in read_job_results(str(tmp_path)):  # folders named after the config (rlhydra/multirun.py)
        lines = open(os.path.join(job["run_dir"], "metrics.jsonl")).read().splitlines()
        assert len(lines) == 2  # 512 steps / 256 per iteration, logged by rank 0 only
