"""Multirun and the declared sweeps (rlhydra/conf/{tpe,random,grid}.yaml): the per-job result files, the summary
table, an Optuna sweep end to end."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from rlhydra.sweep_summary import format_summary, main as summary_main, read_job_results
from tests.conftest import CONF, ROOT


def run_train(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "train.py", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def table_rows(summary: str) -> list:
    """The data rows of the Markdown table, as lists of stripped cells."""
    lines = [line for line in summary.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[1:]]


@pytest.mark.slow
def test_multirun_summary_lists_every_job_with_its_final_return(tmp_path):
    sweep_dir = tmp_path / "sweep"
    proc = run_train("-m", "seed=0,1", "algorithm.lr=1e-3,3e-4", "total_steps=256", "evaluation.episodes=2",
                     "logger=jsonl", f"hydra.sweep.dir={sweep_dir}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = (sweep_dir / "summary.md").read_text()
    assert summary in proc.stdout  # printed and written
    assert "All 4 jobs: evaluation.episodes=2 logger=jsonl total_steps=256" in summary
    rows = table_rows(summary)
    assert [r[1] for r in rows] == ["seed=0 algorithm.lr=0.001", "seed=0 algorithm.lr=0.0003",
                                    "seed=1 algorithm.lr=0.001", "seed=1 algorithm.lr=0.0003"]
    results = read_job_results(str(sweep_dir))
    for job, (row, result) in enumerate(zip(rows, results)):
        job_dir = sweep_dir / row[6]  # <algorithm>_<env id>_<hash of the config> (rlhydra/multirun.py)
        assert row[6].startswith("ppo_CartPole-v1_") and result["run_dir"] == str(job_dir)
        last = json.loads((job_dir / "metrics.jsonl").read_text().splitlines()[-1])
        assert result["status"] == "ok" and result["env_steps"] == 256 == last["env_steps"]
        assert result["final_return"] == pytest.approx(last["eval/episode_return_mean"])
        assert row[0] == str(job) and row[2] == f"{result['final_return']:.2f}" and row[3] == "256"
        assert row[5] == "ok"
    assert len({r[6] for r in rows}) == 4
    by_lr = {}
    for r in json.loads((sweep_dir / "summary.json").read_text()):
        by_lr.setdefault(r["overrides"][1], []).append(r["final_return"])
    lr, values = max(by_lr.items(), key=lambda item: sum(item[1]) / 2)
    assert f"Best: {lr}: mean final return {sum(values) / 2:.2f} over 2 seeds" in summary


@pytest.mark.slow
def test_optuna_tpe_sweep_survives_failed_trials(tmp_path):
    """tpe.yaml with 3 short trials; gamma > 1 makes (seeded) trials 1 and 2 fail, and the sweep goes on."""
    sweep_dir = tmp_path / "tpe"
    proc = run_train("--config-name", "tpe", "-m", "hydra.sweeper.n_trials=3",
                     "total_steps=512", "evaluation.episodes=2", "logger=jsonl",
                     "algorithm.gamma=interval(0.6, 1.2)", f"hydra.sweep.dir={sweep_dir}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = OmegaConf.load(sweep_dir / "optimization_results.yaml")
    assert set(results.best_params) == {"algorithm.lr", "algorithm.gamma", "algorithm.gae_lambda",
                                        "algorithm.num_epochs", "algorithm.clip_param"}
    jobs = read_job_results(str(sweep_dir))
    assert [j["job"] for j in jobs] == [0, 1, 2]
    ok = [j for j in jobs if j["status"] == "ok"]
    failed = [j for j in jobs if j["status"] == "failed"]
    assert ok and failed and len(ok) + len(failed) == 3
    assert all("algorithm.gamma: must be in [0.0, 1.0]" in j["error"] for j in failed)
    best = max(ok, key=lambda j: j["final_return"])
    assert results.best_value == pytest.approx(best["final_return"])
    assert f"algorithm.gamma={results.best_params['algorithm.gamma']}" in best["overrides"]
    rows = table_rows((sweep_dir / "summary.md").read_text())
    assert [r[5].split(":")[0] for r in rows] == [j["status"] for j in jobs]
    assert "Best: " in proc.stdout and "summary written to" in proc.stdout


def compose_sweep(name: str, overrides: list = ()):
    """Compose rlhydra/conf/<name>.yaml as `train.py --config-name <name>` (`rlhydra --config-name <name>`) does."""
    with initialize_config_dir(version_base="1.3", config_dir=CONF):
        return compose(name, overrides=list(overrides), return_hydra_config=True)


@pytest.mark.parametrize("name, sweeper, sampler", [
    ("tpe", "rlhydra_optuna_sweeper.optuna_sweeper.OptunaSweeper", "optuna.samplers.TPESampler"),
    ("random", "rlhydra_optuna_sweeper.optuna_sweeper.OptunaSweeper", "optuna.samplers.RandomSampler"),
    ("grid", "BasicSweeper", None),
])
def test_sweep_files_compose_with_their_sweeper(name, sweeper, sampler):
    cfg = compose_sweep(name)
    assert cfg.hydra.sweeper._target_.endswith(sweeper)
    assert cfg.hydra.sweep.dir.endswith(f"_{name}")
    assert cfg.env.id == "CartPole-v1"  # the base config
    # sized by the sweep file as an override of every job, which wins over the tuned file (ppo_cartpole: 100000)
    assert cfg.hydra.sweeper.params.total_steps == "50000"
    if sampler:
        assert cfg.hydra.sweeper.sampler._target_ == sampler
        assert cfg.hydra.sweeper.direction == "maximize"
        assert cfg.hydra.sweeper.storage is None  # <sweep dir>/optuna.journal
        assert cfg.hydra.sweeper.max_failure_rate == 1.0
    else:
        assert set(cfg.hydra.sweeper.params) == {"total_steps", "algorithm.lr", "algorithm.num_epochs", "seed"}


@pytest.mark.parametrize("launcher, target", [
    ("parallel", "ParallelLauncher"),
    ("slurm", "SlurmLauncher"),
])
def test_launcher_files_compose(launcher, target):
    for primary in ("config", "grid"):  # a plain multirun and a declared sweep
        cfg = compose_sweep(primary, [f"hydra/launcher={launcher}"])
        assert cfg.hydra.launcher._target_.endswith(target)


def test_the_parallel_launcher_takes_its_job_count_from_the_config_and_refuses_none():
    from hydra.utils import instantiate

    cfg = compose_sweep("config", ["hydra/launcher=parallel", "hydra.launcher.n_jobs=3"])
    assert instantiate(cfg.hydra.launcher).n_jobs == 3
    with pytest.raises(Exception, match=r"hydra.launcher.n_jobs=0: give the number of jobs to run at once, 1 or more"):
        instantiate(cfg.hydra.launcher, n_jobs=0)


def test_summary_marks_failures_and_picks_the_best():
    rows = [
        {"job": 0, "overrides": ["env=cartpole", "seed=0"], "status": "ok", "final_return": 10.0,
         "env_steps": 512, "time_s": 1.0, "run_dir": "/s/0"},
        {"job": 1, "overrides": ["env=cartpole", "seed=1"], "status": "failed",
         "error": "ConfigError: invalid config:\n  - algorithm.gamma: must be in [0.0, 1.0]", "run_dir": "/s/1"},
        {"job": 2, "overrides": ["env=cartpole", "seed=2"], "status": "ok", "final_return": 30.5,
         "env_steps": 512, "time_s": 1.0, "run_dir": "/s/2"},
    ]
    text = format_summary(rows, "/s")
    assert "All 3 jobs: env=cartpole" in text
    assert table_rows(text)[1] == ["1", "seed=1", "-", "-", "-",
                                   "failed: ConfigError: invalid config: algorithm.gamma: must be in [0.0, 1.0]",
                                   "1"]
    assert "1. (all jobs): 20.25 ± 10.25 over 2 seeds" in text
    assert "Best: (all jobs): mean final return 20.25 over 2 seeds" in text
    assert ("1 job(s) did not finish:\n- job 1 (seed=1): failed: ConfigError: invalid config: algorithm.gamma: must "
            "be in [0.0, 1.0]") in text


@pytest.mark.slow
def test_a_multirun_with_a_failing_job_still_writes_its_summary_ranked_by_mean_over_seeds(tmp_path):
    """One swept setting's env raises at run time (tests/fault_envs.py); the other's two seeds are ranked."""
    sweep_dir = tmp_path / "sweep"
    proc = run_train("-m", "env.id=CartPole-v1,tests.fault_envs:FaultOnStep-v0", "seed=0,1", "total_steps=256",
                     "evaluation.episodes=1", "logger=console", f"hydra.sweep.dir={sweep_dir}")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    summary = (sweep_dir / "summary.md").read_text()
    ok = [r["final_return"] for r in read_job_results(str(sweep_dir)) if r["status"] == "ok"]
    assert len(ok) == 2
    mean, std = sum(ok) / 2, abs(ok[0] - ok[1]) / 2
    assert f"1. env.id=CartPole-v1: {mean:.2f} ± {std:.2f} over 2 seeds" in summary
    assert f"Best: env.id=CartPole-v1: mean final return {mean:.2f} over 2 seeds" in summary
    failure = ("failed: env 'tests.fault_envs:FaultOnStep-v0' failed while sampling iteration 1 (0 env steps done), "
               "after 32 env steps of its runner: RuntimeError: FaultOnStepEnv: injected failure at step 5")
    assert f"- job 2 (env.id=tests.fault_envs\\:FaultOnStep-v0 seed=0): {failure}" in summary
    assert f"- job 3 (env.id=tests.fault_envs\\:FaultOnStep-v0 seed=1): {failure}" in summary


def test_summary_command_rewrites_a_sweep_folder(tmp_path, capsys):
    job_dir = tmp_path / "3"
    job_dir.mkdir()
    (job_dir / "result.json").write_text(json.dumps(
        {"job": 3, "overrides": ["seed=3"], "status": "ok", "final_return": 1.0, "env_steps": 8, "run_dir": str(job_dir)}))
    (tmp_path / ".submitit").mkdir()
    (tmp_path / ".submitit" / "result.json").write_text("not json: hidden folders are skipped")
    (tmp_path / "4").mkdir()
    (tmp_path / "4" / "result.json").write_text("{cut short")
    assert summary_main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| 3   | seed=3" in out
    assert "| -   | (none)    | -            | -         | -        | unreadable:" in out
    assert (tmp_path / "summary.md").is_file()
    assert summary_main([str(tmp_path / "missing")]) == 2
