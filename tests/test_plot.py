"""python -m rlhydra.plot: runs grouped by overrides-minus-seed, mean and spread, a PNG on disk."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from rlhydra.plot import find_runs, load_run, main, make_curves
from tests.conftest import ROOT

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def write_run(path, overrides, evals, train=None):
    """A run folder as train.py leaves it: metrics.jsonl (eval every other row) and result.json."""
    path.mkdir(parents=True)
    with open(path / "metrics.jsonl", "w") as f:
        for i, value in enumerate(evals):
            f.write(json.dumps({"env_steps": 100 * (i + 1), "train/episode_return_mean": (train or evals)[i]}) + "\n")
            row = {"env_steps": 100 * (i + 1) + 50, "eval/episode_return_mean": value}
            f.write(json.dumps(row) + "\n")
    (path / "result.json").write_text(json.dumps({"job": 0, "overrides": overrides, "status": "ok"}))


@pytest.fixture
def sweep(tmp_path):
    """Two settings x three seeds, plus hidden clutter that must be ignored."""
    sweep_dir = tmp_path / "sweep"
    for job, (lr, seed) in enumerate([(lr, s) for lr in ("0.1", "0.2") for s in range(3)]):
        base = 10.0 if lr == "0.1" else 100.0
        write_run(sweep_dir / str(job), [f"algorithm.lr={lr}", f"seed={seed}", "env=cartpole"],
                  [base + seed, base + 2 * seed, base + 3 * seed])
    (sweep_dir / ".submitit").mkdir()
    (sweep_dir / ".submitit" / "metrics.jsonl").write_text("{}\n")
    return sweep_dir


def test_runs_of_one_setting_become_one_curve_with_mean_and_std(sweep):
    runs = [load_run(d, "eval/episode_return_mean") for d in find_runs([str(sweep)])]
    assert len(runs) == 6
    curves = {c.label: c for c in make_curves(runs)}
    assert set(curves) == {"algorithm.lr=0.1 (3 seeds)", "algorithm.lr=0.2 (3 seeds)"}
    low = curves["algorithm.lr=0.1 (3 seeds)"]
    np.testing.assert_array_equal(low.steps, [150, 250, 350])
    np.testing.assert_allclose(low.mean, [11.0, 12.0, 13.0])  # seeds 0, 1, 2 add seed * k
    np.testing.assert_allclose(low.std, np.std([[0, 0, 0], [1, 2, 3], [2, 4, 6]], axis=0))
    assert low.num_runs == 3


def test_plot_command_writes_a_png_and_says_where(sweep, tmp_path, capsys):
    out = tmp_path / "curves" / "c.png"
    assert main([str(sweep), "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {out}"
    assert out.read_bytes()[:8] == PNG_MAGIC and out.stat().st_size > 10_000


def test_single_run_defaults_to_a_png_in_its_folder_and_train_metric(tmp_path, capsys):
    run = tmp_path / "run"
    write_run(run, [], [1.0, 2.0], train=[5.0, 6.0])
    assert main([str(run), "--metric", "train"]) == 0
    assert (run / "learning_curve.png").read_bytes()[:8] == PNG_MAGIC
    curve, = make_curves([load_run(str(run), "train/episode_return_mean")])
    assert curve.label == "run" and list(curve.mean) == [5.0, 6.0]


def test_bad_folders_and_metrics_exit_2_with_a_message(tmp_path, capsys):
    assert main([str(tmp_path / "nope")]) == 2
    assert "no such folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main([str(tmp_path / "empty")]) == 2
    assert "no metrics.jsonl" in capsys.readouterr().err
    write_run(tmp_path / "run", [], [1.0])
    assert main([str(tmp_path / "run"), "--metric", "learner/nothing"]) == 2
    assert "no run has 'learner/nothing'" in capsys.readouterr().err


def test_module_runs_from_the_command_line(sweep, tmp_path):
    out = tmp_path / "cli.png"
    proc = subprocess.run([sys.executable, "-m", "rlhydra.plot", str(sweep), "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"wrote {out}" and out.is_file()


def test_runs_of_several_envs_get_one_panel_each_with_a_legend_per_algorithm(tmp_path):
    """A day folder of single runs (no overrides): the env and algorithm come from each run's .hydra/config.yaml."""
    from rlhydra.plot import draw

    day = tmp_path / "outputs" / "2026-12-01"
    runs = [("CartPole-v1", "ppo", 0), ("CartPole-v1", "ppo", 1), ("CartPole-v1", "dqn", 0),
            ("Pendulum-v1", "sac", 0), ("Pendulum-v1", "td3", 0)]
    for i, (env_id, algorithm, seed) in enumerate(runs):
        run = day / f"10-00-0{i}_{algorithm}_{env_id}"
        write_run(run, [f"seed={seed}"] if seed else [], [float(i), float(i + 1)])
        (run / ".hydra").mkdir()
        (run / ".hydra" / "config.yaml").write_text(f"algorithm:\n  name: {algorithm}\nenv:\n  id: {env_id}\n")
    curves = make_curves([load_run(d, "eval/episode_return_mean") for d in find_runs([str(day)])])
    fig = draw(curves, "eval/episode_return_mean")
    panels = {ax.get_title(): sorted(t.get_text() for t in ax.get_legend().get_texts()) for ax in fig.axes}
    assert panels == {"CartPole-v1": ["dqn", "ppo (2 seeds)"], "Pendulum-v1": ["sac", "td3"]}
    assert main([str(day)]) == 0 and (day / "learning_curve.png").read_bytes()[:8] == PNG_MAGIC
