"""Checkpoints: a crash mid-save loses nothing, and a restored RLModule acts on its own like the Algorithm."""
from __future__ import annotations

import glob
import os
import re
import signal
import subprocess
import sys
import time

import gymnasium as gym
import numpy as np
import pytest

from rlhydra import Algorithm, DQNConfig, PPOConfig, RLModule, SACConfig
from tests.conftest import ROOT, observations

SAVE_TWICE = """
import os, sys, time
import torch
import rlhydra.data.checkpoint as checkpoint
from rlhydra import PPOConfig

path, how, marker = sys.argv[1:]
algo = (PPOConfig().environment("CartPole-v1").training(train_batch_size=64, minibatch_size=64, num_epochs=1)
        .evaluation(interval=0).build())
algo.train()
algo.save(path)  # iteration 1: the checkpoint that must survive
algo.train()
if how == "while-writing":  # die with the new checkpoint half written
    real_save = torch.save
    def save(*args, **kwargs):
        real_save(*args, **kwargs)
        open(marker, "w").close()
        time.sleep(120)
    checkpoint.torch.save = save
else:  # die after the old checkpoint is set aside, before the new one is renamed into place
    real_rename = os.rename
    def rename(src, dst):
        real_rename(src, dst)
        os._exit(3)
    checkpoint.os.rename = rename
algo.save(path)
"""


def run_save_twice(tmp_path, how):
    path, marker = str(tmp_path / "final"), str(tmp_path / "marker")
    proc = subprocess.Popen([sys.executable, "-c", SAVE_TWICE, path, how, marker], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if how == "while-writing":
        deadline = time.monotonic() + 120
        while not os.path.exists(marker):
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=120)
    assert proc.returncode == (-signal.SIGKILL if how == "while-writing" else 3), proc.stderr.read()
    return path


@pytest.mark.slow
def test_a_process_killed_while_writing_a_checkpoint_leaves_the_previous_one(tmp_path):
    path = run_save_twice(tmp_path, "while-writing")
    leftovers = glob.glob(str(tmp_path / ".final.tmp-*"))
    assert len(leftovers) == 1 and os.listdir(leftovers[0])  # it did die with a save half done
    with Algorithm.from_checkpoint(path) as algo:
        assert algo.iteration == 1
        algo.save(path)  # the next save to that name clears what the crash left
    assert not glob.glob(str(tmp_path / ".final.*"))


@pytest.mark.slow
def test_a_crash_between_the_renames_is_recovered_on_the_next_read(tmp_path):
    path = run_save_twice(tmp_path, "between-renames")
    assert not os.path.exists(path) and glob.glob(str(tmp_path / ".final.old-*" / "ckpt"))
    with Algorithm.from_checkpoint(path) as algo:
        assert algo.iteration == 1
    assert os.path.isdir(path) and not glob.glob(str(tmp_path / ".final.old-*"))


def test_learn_keeps_the_last_k_periodic_checkpoints_the_final_and_the_best(tmp_path):
    with (PPOConfig().environment("CartPole-v1").training(train_batch_size=64, minibatch_size=64, num_epochs=1)
          .checkpointing(interval=1, keep_last=2).evaluation(interval=0).build()) as algo:
        algo.learn(total_steps=64 * 5, checkpoint_dir=str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == ["best", "final", "iter_000003", "iter_000004"]


# ---- RLModule.from_checkpoint: the policy on its own ---------------------------------------------------------


@pytest.mark.parametrize("builder", [
    PPOConfig().environment("Pendulum-v1").env_runners(num_envs_per_env_runner=2, normalize_obs=True)
    .training(train_batch_size=64, minibatch_size=32, num_epochs=1),
    SACConfig().environment("Pendulum-v1").env_runners(num_envs_per_env_runner=2)
    .training(learning_starts=32, train_batch_size=64, minibatch_size=16),
    DQNConfig().environment("CartPole-v1").env_runners(num_envs_per_env_runner=2, normalize_obs=True)
    .training(learning_starts=32, train_batch_size=64, minibatch_size=16, dueling=True),
], ids=["ppo-box-normalized", "sac-squashed", "dqn-dueling-normalized"])
def test_a_module_from_a_checkpoint_acts_like_the_algorithm(builder, tmp_path):
    obs = observations(builder.config.env.id, 64)
    with builder.evaluation(interval=0).build() as algo:
        algo.train()
        algo.train()
        path = algo.save(str(tmp_path / "ckpt"))
        expected = algo.compute_actions(obs)
    policy = RLModule.from_checkpoint(path)
    np.testing.assert_array_equal(policy.compute_actions(obs), expected)
    # one row alone goes through other matrix kernels than 64 rows: equal up to float rounding
    np.testing.assert_allclose(policy.compute_single_action(obs[3]), expected[3], rtol=1e-5, atol=1e-6)
    if builder.config.env_runners.normalize_obs:  # the saved statistics are used, and left as they were
        state = policy.env_to_module.get_state()
        policy.compute_actions(obs)
        assert str(policy.env_to_module.get_state()) == str(state)


def test_a_module_from_a_checkpoint_needs_no_env(tmp_path, monkeypatch):
    with (PPOConfig().environment("CartPole-v1").training(train_batch_size=64, minibatch_size=64)
          .evaluation(interval=0).build()) as algo:
        path = algo.save(str(tmp_path / "ckpt"))
    monkeypatch.setattr(gym, "make", lambda *a, **k: pytest.fail("RLModule.from_checkpoint made an env"))
    assert RLModule.from_checkpoint(path).compute_single_action(np.zeros(4, np.float32)) in (0, 1)


def test_the_readme_inference_script_runs(tmp_path):
    with (PPOConfig().environment("CartPole-v1").training(train_batch_size=64, minibatch_size=64)
          .evaluation(interval=0).build()) as algo:
        path = algo.save(str(tmp_path / "final"))
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = f.read()
    script = re.search(r"<!-- inference -->\s*```python\n(.*?)```", readme, re.S).group(1)
    assert len(script.strip().splitlines()) <= 12
    script = re.sub(r'"outputs/[^"]*/checkpoints/final"', repr(path), script)
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert re.fullmatch(r"episode return \d+\.\d\n", proc.stdout)


def test_compute_actions_without_connectors_says_how_to_get_them(small_ppo):
    with small_ppo.build() as algo:
        with pytest.raises(RuntimeError, match=r"no connectors: load it with RLModule.from_checkpoint\(path\)"):
            algo.get_module().compute_actions(np.zeros((1, 4), np.float32))


@pytest.mark.parametrize("key, node", [
    ("module", {"_target_": "subprocess.Popen", "args": ["touch", "MARKER"]}),
    ("connectors", [{"_target_": "subprocess.Popen", "args": ["touch", "MARKER"]}]),
])
def test_a_checkpoint_naming_a_foreign_callable_is_refused_without_calling_it(key, node, tmp_path):
    import json

    from rlhydra import ConfigError

    with (PPOConfig().environment("CartPole-v1").training(train_batch_size=64, minibatch_size=64)
          .evaluation(interval=0).build()) as algo:
        path = algo.save(str(tmp_path / "ckpt"))
    marker = tmp_path / "ran"
    meta_path = os.path.join(path, "metadata.json")
    with open(meta_path) as f:
        meta = json.load(f)
    node = json.loads(json.dumps(node).replace("MARKER", str(marker)))
    if key == "module":
        meta["config"]["module"] = node
    else:
        meta["config"]["env_runners"]["env_to_module_connectors"] = node
    with open(meta_path, "w") as f:
        json.dump(meta, f)
    for load in (RLModule.from_checkpoint, Algorithm.from_checkpoint):
        with pytest.raises(ConfigError, match="_target_=subprocess.Popen: is not a rlhydra"):
            load(path)
    assert not marker.exists()
