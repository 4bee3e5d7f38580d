"""User extensions without editing rlhydra: examples/user_package through train.py, and any Gymnasium id."""
from __future__ import annotations

import pytest
import json
import os
import subprocess
import sys

import torch

from rlhydra.core.preflight import check_hydra_config
from tests.conftest import ROOT, compose_cfg

EXAMPLE = os.path.join(ROOT, "examples", "user_package")
EXAMPLE_CONF = os.path.join(EXAMPLE, "myrl", "conf")
CORRIDOR_OPTIMUM = 1.0 - 0.01 * 6  # length 8: six -0.01 steps, then +1 at the goal


def run_with_example(*overrides: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([EXAMPLE, os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "train.py", *overrides], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env=env)


@pytest.mark.slow
def test_user_env_module_and_connector_train_via_config_dir(tmp_path):
    proc = run_with_example("--config-dir", EXAMPLE_CONF, "+experiment=corridor", "logger=jsonl",
                            f"hydra.run.dir={tmp_path}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    result = json.loads((tmp_path / "result.json").read_text())
    assert rows[0]["train/episode_return_mean"] < 0.8  # a random walk down the corridor
    assert result["final_return"] >= CORRIDOR_OPTIMUM - 1e-6, result  # the greedy policy walks straight to the goal
    ckpt = tmp_path / "checkpoints" / "final"
    config = json.loads((ckpt / "metadata.json").read_text())["config"]
    assert config["module"]["_target_"] == "myrl.modules.TinyActorCritic"
    assert config["env"]["id"] == "myrl.envs:Corridor-v0"
    weights = torch.load(ckpt / "module.pt", weights_only=True)
    assert weights["trunk.0.weight"].shape == (32, 8)  # the user connector one-hot encodes 1 position into 8
    assert "0_OneHotPosition" in torch.load(ckpt / "connectors.pt", weights_only=True)["env_to_module"]


@pytest.mark.slow
def test_user_package_conf_found_through_hydra_searchpath(tmp_path):
    proc = run_with_example("hydra.searchpath=[pkg://myrl.conf]", "env=corridor", "module=tiny", "module.hidden=16",
                            "env_runners.env_to_module_connectors=[{_target_: myrl.connectors.OneHotPosition, "
                            "length: 8}]", "total_steps=512", "algorithm.train_batch_size=256", "evaluation.episodes=2", "logger=jsonl",
                            f"hydra.run.dir={tmp_path}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    weights = torch.load(tmp_path / "checkpoints" / "final" / "module.pt", weights_only=True)
    assert weights["trunk.0.weight"].shape == (16, 8)
    assert json.loads((tmp_path / "result.json").read_text())["env_steps"] == 512


def test_any_gym_id_with_env_kwargs_and_wrappers():
    cfg = compose_cfg([
        "env=gym", "env.id=Acrobot-v1", "+env.kwargs={max_episode_steps: 40, render_mode: rgb_array}",
        "env.wrappers=[{_target_: gymnasium.wrappers.TimeAwareObservation},"
        " {_target_: gymnasium.wrappers.ClipReward, min_reward: -0.5, max_reward: 0.5}]",
        "total_steps=512", "algorithm.train_batch_size=256", "env_runners.num_envs_per_env_runner=4",
        "evaluation.episodes=2", "evaluation.num_envs=2",
    ])
    algo = check_hydra_config(cfg).build()
    try:
        assert algo.observation_space.shape == (7,)  # Acrobot's 6 + TimeAwareObservation's time
        assert algo.observation_space.high[-1] == 40  # the time limit came from env.kwargs
        assert algo.env_runner.env.envs[0].render_mode == "rgb_array"
        result = algo.learn()
    finally:
        algo.stop()
    # -1 per step clipped to -0.5 by the wrapper; 40-step episodes (an untrained policy never swings up)
    assert result["train/episode_length_mean"] == 40
    assert result["train/episode_return_mean"] == -20.0
    assert result["eval/episode_return_mean"] == -20.0
