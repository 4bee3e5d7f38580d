"""Multiruns addressed by their config (rlhydra/multirun.py): job folders named after a hash of what they learn; a
rerun into the same sweep folder skips finished jobs and resumes interrupted ones exactly."""
from __future__ import annotations

import json
import os
import shutil

import pytest
from hydra import compose, initialize_config_dir

from rlhydra.multirun import config_hash, latest_checkpoint, truncate_metrics
from rlhydra.sweep_summary import read_job_results
from tests.conftest import CONF
from tests.test_sweeps import run_train



def composed(*overrides: str):
    with initialize_config_dir(version_base="1.3", config_dir=CONF):
        return compose("config", overrides=list(overrides))


def test_the_hash_follows_what_is_learned_not_where_it_is_reported():
    base = config_hash(composed())
    assert base == config_hash(composed("logger=jsonl", "checkpointing.interval=5", "reporting.print_interval_s=0",
                                        "evaluation.video=true", "resume=/somewhere"))
    assert len({base, config_hash(composed("seed=1")), config_hash(composed("algorithm.lr=1e-3")),
                config_hash(composed("total_steps=5000")), config_hash(composed("env=acrobot"))}) == 5


def test_the_hash_covers_the_tuned_file_the_run_applies(tmp_path):
    (tmp_path / "tuned").mkdir()

    def hashed(lr: float, *overrides: str) -> str:
        (tmp_path / "tuned" / "mine.yaml").write_text(
            f"tuned_for: {{algorithm: ppo, env_id: CartPole-v1}}\nalgorithm: {{lr: {lr}}}\n")
        with initialize_config_dir(version_base="1.3", config_dir=CONF):
            return config_hash(compose("config", overrides=[f"hydra.searchpath=[file://{tmp_path}]", *overrides],
                                       return_hydra_config=True))

    assert hashed(1e-3) != hashed(2e-3)  # an edited tuned file: its jobs run again, in new folders
    assert hashed(1e-3, "~tuned") == hashed(2e-3, "~tuned")  # the lookup off: the file does not matter
    assert hashed(1e-3, "env=acrobot") == hashed(2e-3, "env=acrobot")  # a file for another pair does not either


def test_metrics_rows_past_the_checkpoint_are_dropped_and_the_latest_checkpoint_is_found(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(json.dumps({"env_steps": s}) + "\n" for s in (256, 512, 768)) + '{"env_st')
    assert truncate_metrics(str(path), 512) == 2
    assert [json.loads(line)["env_steps"] for line in path.read_text().splitlines()] == [256, 512]
    for name, steps in (("iter_000001", 256), ("iter_000002", 512), ("best", 256)):
        (tmp_path / "ck" / name).mkdir(parents=True)
        (tmp_path / "ck" / name / "metadata.json").write_text(json.dumps({"counters": {"env_steps": steps}}))
    (tmp_path / "ck" / "final.tmp").mkdir()  # a save cut short: no metadata.json
    assert latest_checkpoint(str(tmp_path / "ck")) == (str(tmp_path / "ck" / "iter_000002"), 512)
    assert latest_checkpoint(str(tmp_path / "none")) == (None, 0)


def rows(run_dir) -> list:
    """metrics.jsonl without the clock's columns (time_s, perf/*) and checkpoint_best: a periodic checkpoint holds
    the best eval return from before its own iteration's evaluation (core/algorithm.py saves it first), so a run
    resumed from it may save checkpoints/best one evaluation later than the uninterrupted run did."""
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        return [{k: v for k, v in json.loads(line).items()
                 if k not in ("time_s", "checkpoint_best") and not k.startswith("perf/")} for line in f]


@pytest.mark.slow
def test_a_rerun_multirun_skips_finished_jobs_resumes_the_interrupted_one_and_runs_the_rest(tmp_path):
    sweep_dir = tmp_path / "sweep"
    common = ["total_steps=768", "evaluation.episodes=2", "evaluation.interval=1", "logger=jsonl",
              "checkpointing.interval=1", f"hydra.sweep.dir={sweep_dir}"]
    first = run_train("-m", "seed=0,1", *common)
    assert first.returncode == 0, first.stderr[-3000:]
    by_seed = {r["overrides"][0]: r["run_dir"] for r in read_job_results(str(sweep_dir))}
    done, cut = by_seed["seed=0"], by_seed["seed=1"]
    assert os.path.basename(done).startswith("ppo_CartPole-v1_") and done != cut
    done_metrics = open(os.path.join(done, "metrics.jsonl")).read()
    uninterrupted = rows(cut)
    # job 2 "killed" after its first checkpoint: no result.json, later checkpoints gone, its metrics run past it
    os.remove(os.path.join(cut, "result.json"))
    for name in ("final", "best", "iter_000002", "iter_000003"):
        shutil.rmtree(os.path.join(cut, "checkpoints", name), ignore_errors=True)

    second = run_train("-m", "seed=0,1,2", *common)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "already done, skipped: " + done in second.stdout
    assert open(os.path.join(done, "metrics.jsonl")).read() == done_metrics  # no new training
    assert f"continuing from {cut}/checkpoints/iter_000001 (2 metrics rows after it dropped)" in second.stdout
    assert rows(cut) == uninterrupted  # env steps go on from 256, bit for bit as the uninterrupted run
    results = {r["overrides"][0]: r for r in read_job_results(str(sweep_dir))}
    assert sorted(results) == ["seed=0", "seed=1", "seed=2"]
    assert all(r["status"] == "ok" and r["env_steps"] == 768 for r in results.values())
    assert results["seed=1"]["final_return"] == pytest.approx(uninterrupted[-1]["eval/episode_return_mean"])
    assert len(rows(results["seed=2"]["run_dir"])) == 3


@pytest.mark.slow
def test_ctrl_c_in_a_multirun_says_how_to_continue_and_the_same_command_resumes_the_job(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import ROOT

    sweep_dir = tmp_path / "sweep"
    command = [sys.executable, "train.py", "-m", "seed=0,1", "total_steps=5120", "evaluation.interval=0",
               "logger=jsonl", f"hydra.sweep.dir={sweep_dir}"]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        metrics = list(sweep_dir.glob("*/metrics.jsonl"))
        if metrics and len(metrics[0].read_text().splitlines()) >= 3:
            break
        assert proc.poll() is None, proc.communicate()[1]
        time.sleep(0.05)  # polling for the job's progress, not synchronising with a fixed delay
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in err
    (job_dir,) = [p.parent for p in sweep_dir.glob("*/metrics.jsonl")]
    assert (f"  continue:   the same multirun command with hydra.sweep.dir={sweep_dir} (finished jobs are skipped, "
            "this one resumes)") in out
    stopped = json.loads((job_dir / "result.json").read_text())
    assert stopped["status"] == "stopped" and stopped["env_steps"] < 5120

    again = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"continuing from {job_dir}/checkpoints/final" in again.stdout
    steps = [row["env_steps"] for row in rows(job_dir)]
    assert steps == list(range(256, 5121, 256))  # its env steps continue where the stop left them
    assert [r["status"] for r in read_job_results(str(sweep_dir))] == ["ok", "ok"]


@pytest.mark.slow
def test_ctrl_c_in_a_parallel_multirun_lets_every_running_job_save_and_starts_no_new_one(tmp_path):
    import signal
    import subprocess
    import sys

    from tests.conftest import ROOT, wait_for_jobs_running

    sweep_dir = tmp_path / "sweep"
    command = [sys.executable, "train.py", "-m", "hydra/launcher=parallel", "hydra.launcher.n_jobs=2", "seed=0,1,2",
               "total_steps=20480", "evaluation.interval=0", "logger=jsonl", f"hydra.sweep.dir={sweep_dir}"]
    # its own process group, as a terminal's foreground job: Ctrl-C reaches the launcher and every job process
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    wait_for_jobs_running(proc, sweep_dir, jobs=2)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=90)
    assert proc.returncode == 130 and "Traceback" not in err and "leaked" not in err, err[-3000:]
    results = read_job_results(str(sweep_dir))
    assert sorted(o for r in results for o in r["overrides"] if o.startswith("seed=")) == ["seed=0", "seed=1"]
    for r in results:  # each running job finished its iteration and wrote its final checkpoint
        assert r["status"] == "stopped" and 0 < r["env_steps"] < 20480, r
        assert r["checkpoint"] == os.path.join(r["run_dir"], "checkpoints", "final")
        assert os.path.isfile(os.path.join(r["checkpoint"], "metadata.json"))
    assert len(list(sweep_dir.glob("*/metrics.jsonl"))) == 2  # seed=2 never started

    again = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    for r in results:
        assert f"continuing from {r['checkpoint']}" in again.stdout
    finished = read_job_results(str(sweep_dir))
    assert len(finished) == 3 and all(r["status"] == "ok" and r["env_steps"] == 20480 for r in finished)
