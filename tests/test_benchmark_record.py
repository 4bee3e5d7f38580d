"""A suite's record of its finished seeds, and rows kept from the table as it was: the table outlives its run folders."""
from __future__ import annotations

import json
import shutil

import pytest

from rlhydra.benchmark import Pair, Row, Suite, carry_rows, collect, format_table, job_folder, job_overrides, main
from rlhydra.benchmark_record import read_record, record_path, write_record

SUITE_YAML = ("seeds: [0, 1]\neval_episodes: 20\ncheckpoint_interval: 10\nzoo_source: zoo\n"
              "pairs:\n- {algorithm: ppo, env_id: CartPole-v1, budget: 1000, zoo: {return: 500.0, budget: 1000}}\n")


def finished(runs, overrides, final: float, evals=((500, 100.0), (1000, 480.0)), time_s: float = 4.0) -> str:
    """A job folder as a finished run leaves it: result.json and metrics.jsonl (evaluation rows and others)."""
    folder = runs / job_folder(overrides)
    folder.mkdir(parents=True)
    (folder / "result.json").write_text(json.dumps(
        {"overrides": overrides, "status": "ok", "final_return": final, "env_steps": 1000, "time_s": 99.0}))
    rows = [{"env_steps": s, "time_s": time_s * s / 1000, "eval/episode_return_mean": r} for s, r in evals]
    rows.insert(1, {"env_steps": 600, "time_s": 2.5, "train/episode_return_mean": 50.0})  # no evaluation: no point
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(folder)


def test_a_recorded_seed_counts_the_same_once_its_folder_is_gone(tmp_path):
    suite = Suite("t", [0, 1], 20, 10, "zoo", [Pair("ppo", "CartPole-v1", 1000, {"return": 500.0, "budget": 1000})])
    jobs = [job_overrides(suite.pairs[0], seed, suite, smoke=False) for seed in (0, 1)]
    folder = finished(tmp_path / "runs", jobs[0], 480.0)
    (row,) = collect(str(tmp_path / "runs"), suite, False, {})
    (seed,) = row.runs
    # wall time: the last metrics row's time_s (result.json's only when metrics.jsonl has none)
    assert (row.returns, row.wall_s, row.env_steps, row.steps_per_s) == ([480.0], [4.0], [1000], [250.0])
    assert seed.curve == [(500.0, 100.0), (1000.0, 480.0)] and seed.overrides == jobs[0]
    path = str(tmp_path / "learning" / "t_runs.jsonl")
    write_record(path, {}, row.runs)
    shutil.rmtree(folder)
    assert collect(str(tmp_path / "runs"), suite, False, {})[0].returns == []
    (again,) = collect(str(tmp_path / "runs"), suite, False, {}, record=read_record(path))
    assert (again.returns, again.wall_s, again.env_steps, again.steps_per_s, again.unfinished) == \
        ([480.0], [4.0], [1000], [250.0], 1)
    assert again.runs[0] == seed and format_table([again], suite, False) == format_table([row], suite, False)
    run = again.runs[0].as_run()
    assert run.steps.tolist() == [500.0, 1000.0] and run.values.tolist() == [100.0, 480.0]


def test_the_record_adds_up_replaces_a_jobs_line_and_never_counts_a_line_of_another_config(tmp_path):
    suite = Suite("t", [0, 1], 20, 10, "zoo", [Pair("ppo", "CartPole-v1", 1000)])
    jobs = [job_overrides(suite.pairs[0], seed, suite, smoke=False) for seed in (0, 1)]
    runs = tmp_path / "runs"
    finished(runs, jobs[0], 480.0)
    path = str(tmp_path / "t_runs.jsonl")
    write_record(path, {}, collect(str(runs), suite, False, {})[0].runs)
    shutil.rmtree(runs)
    finished(runs, jobs[1], 500.0)  # the other seed, finished elsewhere
    (row,) = collect(str(runs), suite, False, {}, record=read_record(path))
    assert row.returns == [480.0, 500.0]
    stale = read_record(path)[job_folder(jobs[0])]
    stale.job, stale.final_return = "ppo_CartPole-v1_0badc0de", 1.0  # a line left by an earlier config
    write_record(path, read_record(path), [*row.runs, stale])
    lines = open(path).read().splitlines()
    assert len(lines) == 3 and lines == sorted(lines, key=lambda line: json.loads(line)["job"])
    assert collect(str(tmp_path / "none"), suite, False, {}, record=read_record(path))[0].returns == [480.0, 500.0]
    replaced = read_record(path)[job_folder(jobs[1])]
    replaced.final_return = 490.0
    write_record(path, read_record(path), [replaced])  # the same job again: its new line replaces the old
    assert sorted(s.final_return for s in read_record(path).values()) == [1.0, 480.0, 490.0]
    assert not (tmp_path / "t_runs.jsonl.tmp").exists()
    with open(path, "a") as f:
        f.write('{"job": "x", "final_return": "abc"}\n')
    with pytest.raises(ValueError, match=r"t_runs.jsonl, line 4: not a suite's seed result .*fix or delete the line"):
        read_record(path)
    assert record_path("benchmarks/LEARNING.md", "classic") == "benchmarks/learning/classic_runs.jsonl"


def test_a_row_with_no_seed_here_keeps_its_line_and_only_a_line_with_a_result():
    old = "\n".join([
        "| algorithm | env | budget (env steps) | final eval return, mean ± std (20 det. episodes) | seeds |",
        "|---|---|---:|---:|---:|",
        "| ppo | CartPole-v1 | 100k | 500.0 ± 0.0 | 3/3 | 30 s | 3,000 | 500.0 @ 100k | meets the zoo | - |",
        "| dqn | CartPole-v1 | 50k (50,176 run: whole iterations) | 480.0 ± 5.0 | 3/3 | 60 s | 800 |",
        "| a2c | CartPole-v1 | 500k | not finished | 0/3 | - | - | 500.0 @ 500k | not run | - |",
        "| sac | Pendulum-v1 | 20k | -150.0 ± 9.0 | 3/3 | 100 s | 200 |"])
    rows = [Row(Pair("ppo", "CartPole-v1", 100000), [], [], [], []),
            Row(Pair("dqn", "CartPole-v1", 50000), [], [], [], []),  # the budget cell's note does not hide it
            Row(Pair("a2c", "CartPole-v1", 500000), [], [], [], []),  # was not finished: nothing to keep
            Row(Pair("sac", "Pendulum-v1", 40000), [], [], [], []),  # another budget: another row
            Row(Pair("td3", "Pendulum-v1", 20000), [-140.0], [1.0], [1.0], [], env_steps=[20000])]
    carry_rows(rows, old)
    assert [r.carried for r in rows] == [old.splitlines()[2], old.splitlines()[3], None, None, None]
    rows[4].pair = Pair("sac", "Pendulum-v1", 20000)
    rows[4].carried = None
    carry_rows(rows[4:], old)
    assert rows[4].carried is None  # seeds of its own here: the row is written from them
    table = format_table(rows, Suite("t", [0, 1, 2], 20, 10, "", []), smoke=False).splitlines()
    assert table[2] == old.splitlines()[2] and table[3] == old.splitlines()[3]
    assert table[4].startswith("| a2c | CartPole-v1 | 500k | not finished | 0/3 |")


def test_report_only_keeps_the_table_where_nothing_is_here_then_writes_rows_from_folders_and_the_record(
        tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # no benchmarks/zoo_peer.jsonl here
    (tmp_path / "t.yaml").write_text(SUITE_YAML)
    out, runs = tmp_path / "LEARNING.md", tmp_path / "runs"
    old_line = "| ppo | CartPole-v1 | 1k | 499.0 ± 1.0 | 2/2 | 3.0 s | 333 | 500.0 @ 1k | short by 1.0 | - |"
    out.write_text("# Learning results\n\n<!-- rlhydra.benchmark t: begin -->\n## t\n\n| algorithm | env |\n"
                   f"|---|---|\n{old_line}\n<!-- rlhydra.benchmark t: end -->\n")
    args = ["t.yaml", "--report-only", "--runs", str(runs), "--out", str(out)]
    assert main(args) == 0
    text = out.read_text()
    assert old_line in text and "Kept from the table as it was (1 row(s): ppo CartPole-v1)" in text
    printed = capsys.readouterr().out
    assert "kept 1 row(s) from the table as it was" in printed and "finished seeds into" not in printed
    assert not (tmp_path / "learning" / "t_runs.jsonl").exists()  # nothing finished: no record written
    suite_jobs = [job_overrides(Pair("ppo", "CartPole-v1", 1000), s, Suite("t", [0, 1], 20, 10, "", []), False)
                  for s in (0, 1)]
    finished(runs, suite_jobs[0], 480.0)
    assert main(args) == 0
    assert f"and the finished seeds into {tmp_path / 'learning' / 't_runs.jsonl'}" in capsys.readouterr().out
    text = out.read_text()
    new_line = "| ppo | CartPole-v1 | 1k | 480.0 ± 0.0 | 1/2 | 4.0 s | 250 | 500.0 @ 1k | short by 20.0 | - |"
    assert new_line in text and old_line not in text and "Kept from" not in text
    assert "![CartPole-v1](learning/t_CartPole-v1.png)" in text
    assert len(read_record(str(tmp_path / "learning" / "t_runs.jsonl"))) == 1
    shutil.rmtree(runs)
    (tmp_path / "learning" / "t_CartPole-v1.png").unlink()
    assert main(args) == 0  # a fresh clone: no run folders, the committed record
    assert new_line in out.read_text() and (tmp_path / "learning" / "t_CartPole-v1.png").stat().st_size > 0
