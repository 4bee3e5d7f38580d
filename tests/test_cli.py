"""train.py as a user meets it: a run folder with config, metrics and checkpoint; clean errors for bad input."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT


def run_train(*overrides: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "train.py", *overrides], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def read_metrics(run_dir) -> list:
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


@pytest.mark.slow
def test_train_leaves_config_metrics_and_checkpoint(tmp_path):
    run_dir = tmp_path / "run"
    proc = run_train("algorithm=ppo", "env=cartpole", "total_steps=3000", "evaluation.interval=5",
                     f"hydra.run.dir={run_dir}")
    assert proc.returncode == 0, proc.stderr
    assert "steps/s" in proc.stdout and "run folder" in proc.stdout
    assert (run_dir / ".hydra" / "config.yaml").is_file()
    rows = read_metrics(run_dir)
    assert len(rows) == 12  # ceil(3000 / 256) iterations, one row each
    for key in ("env_steps", "time_s", "train/episode_return_mean", "perf/env_steps_per_s"):
        assert key in rows[-1]
    assert [r["env_steps"] for r in rows] == [256 * (i + 1) for i in range(12)]
    assert "eval/episode_return_mean" in rows[4] and "eval/episode_return_mean" in rows[-1]
    assert (run_dir / "checkpoints" / "final" / "metadata.json").is_file()
    evals = [r for r in rows if "eval/episode_return_mean" in r]
    best = max(evals, key=lambda r: r["eval/episode_return_mean"])
    assert best["checkpoint_best"] == str(run_dir / "checkpoints" / "best")
    meta = json.loads((run_dir / "checkpoints" / "best" / "metadata.json").read_text())
    assert meta["counters"]["iteration"] == best["iteration"]  # the best evaluation's iteration, kept apart


@pytest.mark.slow
def test_same_seed_same_metrics_from_the_command_line(tmp_path):
    runs = []
    for name in ("a", "b"):
        proc = run_train("total_steps=1024", "seed=5", "evaluation.interval=2", "logger=jsonl",
                         f"hydra.run.dir={tmp_path / name}")
        assert proc.returncode == 0, proc.stderr
        runs.append([{k: v for k, v in r.items() if not k.startswith(("perf/", "checkpoint")) and k != "time_s"}
                     for r in read_metrics(tmp_path / name)])
    assert runs[0] == runs[1]


@pytest.mark.parametrize("override, expected", [
    ("algorithm.lrr=1e-3", "algorithm.lrr"),
    ("algorithm.lr=abc", "algorithm.lr"),
    ("+algorithm.foo=1", "algorithm.foo"),
    ("algorithm.gamma=1.5", "algorithm.gamma"),
    ("env_runners.num_envs_per_env_runner=0", "env_runners.num_envs_per_env_runner"),
    ("env=cartpol", "Available options in 'env'"),
    ("env.id=TupleAction-v0", "PPOModule takes Box or Discrete actions"),
    ("env.id=NoSuchEnv-v0", "env.id=NoSuchEnv-v0: no such Gymnasium environment"),  # found inside the Hydra job
])
@pytest.mark.slow
def test_bad_input_exits_nonzero_with_a_clean_message(override, expected, tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT)
    extra = ["env.id=tests.fault_envs:TupleAction-v0"] if "TupleAction" in override else [override]
    proc = subprocess.run([sys.executable, "train.py", *extra, f"hydra.run.dir={tmp_path}"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode != 0
    assert expected in proc.stderr
    assert "Traceback" not in proc.stderr
    if override != "env=cartpol":  # a misspelt group option is Hydra's own message
        assert proc.returncode == 2
        assert "Error executing job" not in proc.stderr and "HYDRA_FULL_ERROR" not in proc.stderr


@pytest.mark.slow
@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGTERM"])
def test_ctrl_c_finishes_the_iteration_writes_a_checkpoint_and_exits_nonzero(signal_name, tmp_path):
    import signal
    import time

    from rlhydra import Algorithm

    run_dir = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "train.py", "total_steps=100000000", "evaluation.interval=0", "logger=jsonl",
         f"hydra.run.dir={run_dir}"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    metrics = run_dir / "metrics.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not metrics.exists() or len(metrics.read_text().splitlines()) < 3):
        assert proc.poll() is None, proc.communicate()[1]
        time.sleep(0.05)  # polling for the run's progress, not synchronising with a fixed delay
    proc.send_signal(getattr(signal, signal_name))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert f"{signal_name} received" in out
    checkpoint = run_dir / "checkpoints" / "final"
    assert proc.returncode == {"SIGINT": 130, "SIGTERM": 143}[signal_name]
    assert f"rlhydra: stopped by {signal_name} after " in out
    assert f"  run folder: {run_dir}\n  checkpoint: {checkpoint}\n  continue:   python train.py resume={checkpoint}" in out
    assert "Traceback" not in err and "Error executing job" not in err and "HYDRA_FULL_ERROR" not in err
    last = read_metrics(run_dir)[-1]
    assert last["checkpoint"] == str(checkpoint)
    algo = Algorithm.from_checkpoint(str(checkpoint))
    try:
        assert algo.env_steps == last["env_steps"] and algo.iteration == last["iteration"]
    finally:
        algo.stop()
