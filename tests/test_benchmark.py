"""`python -m rlhydra.benchmark <suite>`: suites, the table beside rl-zoo's, LEARNING.md sections, a smoke run."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from rlhydra.benchmark import (BenchmarkError, Pair, Row, Suite, collect, env_problem, format_table, job_folder,
                               job_overrides, load_suite, plot_envs, read_peer, section, write_learning, zoo_cells)
from rlhydra.benchmark_record import SeedResult
from tests.conftest import ROOT


def test_the_shipped_suites_declare_every_pair_of_the_issue_with_its_zoo_reference():
    classic = load_suite("benchmarks/suites/classic.yaml")
    assert classic.seeds == [0, 1, 2] and classic.eval_episodes >= 20
    discrete = {(a, e) for a in ("ppo", "a2c", "dqn")
                for e in ("CartPole-v1", "Acrobot-v1", "MountainCar-v0", "LunarLander-v3")}
    continuous = {(a, e) for a in ("sac", "td3", "ppo")
                  for e in ("Pendulum-v1", "MountainCarContinuous-v0", "LunarLanderContinuous-v3")}
    assert {(p.algorithm, p.env_id) for p in classic.pairs} == discrete | continuous
    assert all(p.zoo and p.budget <= p.zoo["budget"] for p in classic.pairs)  # compared at the zoo's budget or less
    by_pair = {(p.algorithm, p.env_id): p.zoo["return"] for p in classic.pairs}
    assert by_pair["ppo", "Acrobot-v1"] == -73.506 and by_pair["dqn", "MountainCar-v0"] == -100.849
    mujoco = load_suite("benchmarks/suites/mujoco.yaml")
    assert {(p.algorithm, p.env_id) for p in mujoco.pairs} == {
        (a, e) for a in ("sac", "td3", "ppo") for e in ("Hopper-v5", "HalfCheetah-v5")}
    pixels = load_suite("benchmarks/suites/minatar.yaml")
    games = ("Breakout", "SpaceInvaders", "Asterix", "Freeway", "Seaquest")
    assert {(p.algorithm, p.env_id) for p in pixels.pairs} == {
        (a, f"MinAtar/{g}-v1") for a in ("ppo", "dqn") for g in games}
    for pair in pixels.pairs:  # DQN's epsilon decays over the paper's first 100k env steps, whatever the budget
        assert pair.algorithm == "ppo" or 0.2 * pair.budget == 100_000 and pair.overrides == (
            "algorithm.exploration_fraction=0.2", "checkpointing.interval=5")


def test_a_pairs_own_overrides_reach_only_its_jobs_and_a_bad_list_names_the_pair(tmp_path):
    suite_file = tmp_path / "s.yaml"
    suite_file.write_text("pairs:\n"
                          "  - {algorithm: dqn, env_id: CartPole-v1, budget: 1000, overrides: [algorithm.lr=1e-3]}\n"
                          "  - {algorithm: ppo, env_id: CartPole-v1, budget: 1000}\n")
    suite = load_suite(str(suite_file))
    with_own, without = (job_overrides(p, 0, suite, smoke=False) for p in suite.pairs)
    assert with_own[-1] == "algorithm.lr=1e-3" and not any("lr" in o for o in without)  # after the suite's: it wins
    assert job_folder(with_own) != job_folder(with_own[:-1])  # a pair override is part of the job's config
    suite_file.write_text("pairs:\n  - {algorithm: dqn, env_id: CartPole-v1, budget: 1000, overrides: algorithm.lr}\n")
    with pytest.raises(BenchmarkError, match=r"s.yaml: the dqn / CartPole-v1 pair's overrides must be a list of "
                                             r"key=value strings"):
        load_suite(str(suite_file))


def test_package_namespaced_envs_are_made_and_their_curves_are_files_beside_the_others(tmp_path):
    assert env_problem("MinAtar/Breakout-v1") is None  # minatar registers its ids only when asked
    assert env_problem("MinAtar/NoSuchGame-v1").startswith("ConfigError: env.id=MinAtar/NoSuchGame-v1")
    seed = SeedResult("ppo_MinAtar_Breakout-v1_0123abcd", 2.0, 200, 1.0, curve=[(100, 1.0), (200, 2.0)])
    row = Row(Pair("ppo", "MinAtar/Breakout-v1", 200), [2.0], [1.0], [200.0], [seed])
    pngs = plot_envs([row], str(tmp_path / "learning"), "minatar")
    assert pngs == {"MinAtar/Breakout-v1": str(tmp_path / "learning" / "minatar_MinAtar_Breakout-v1.png")}
    assert (tmp_path / "learning" / "minatar_MinAtar_Breakout-v1.png").stat().st_size > 0


def test_an_unknown_suite_names_the_file_and_the_suites(monkeypatch):
    monkeypatch.chdir(ROOT)
    with pytest.raises(BenchmarkError, match=r"no suite 'classics': benchmarks/suites/classics.yaml does not exist .*"
                                             r"suites: classic, classic_quick, minatar, mujoco"):
        load_suite("classics")


def test_rows_compare_with_the_zoo_at_its_budget_and_say_where_they_fall_short():
    suite = Suite("t", [0, 1], 20, 10, "zoo", [])
    zoo = {"return": -100.0, "budget": 120000}
    meets = Row(Pair("dqn", "MountainCar-v0", 120000, zoo), [-98.0, -100.0], [10.0, 12.0], [100.0, 120.0], [],
                env_steps=[120000, 120000])
    short = Row(Pair("dqn", "MountainCar-v0", 100000, zoo), [-120.0], [10.0], [100.0], [], unfinished=1,
                peer=[-100.0, -120.0], env_steps=[100800])  # an off-policy run ends on a whole iteration
    none = Row(Pair("td3", "Foo-v0", 1000, None), [], [], [], [], skipped="NameNotFound: Environment Foo doesn't exist")
    assert zoo_cells(meets) == ("-100.0 @ 120k", "meets the zoo")
    assert zoo_cells(short) == ("-100.0 @ 120k", "short by 20.0")
    assert zoo_cells(none) == ("n/a", "n/a")
    assert zoo_cells(short, smoke=True) == ("-100.0 @ 120k", "smoke run, not compared")
    lines = format_table([meets, short, none], suite, smoke=False).splitlines()
    assert lines[2] == "| dqn | MountainCar-v0 | 120k | -99.0 ± 1.0 | 2/2 | 11 s | 110 | -100.0 @ 120k | meets the zoo | - |"
    assert lines[3] == "| dqn | MountainCar-v0 | 100k (100,800 run: whole iterations) | -120.0 ± 0.0 | 1/2 | 10 s | 100 | -100.0 @ 120k | short by 20.0 | -110.0 ± 10.0 (2, zoo's starts) |"
    assert lines[4] == "| td3 | Foo-v0 | 1k | skipped (below) | 0 | - | - | n/a | not run | - |"
    assert lines[-1] == "- Foo-v0: NameNotFound: Environment Foo doesn't exist"


def test_a_section_speaks_of_the_zoo_only_where_its_suite_has_a_reference():
    with_zoo = Suite("classic", [0], 20, 10, "zoo benchmark.md", [Pair("ppo", "CartPole-v1", 1000, {"return": 500.0,
                                                                                                     "budget": 1000})])
    without = Suite("minatar", [0], 20, 10, "none: no MinAtar entry",
                    [Pair("dqn", "MinAtar/Breakout-v1", 1000, None, ("algorithm.exploration_fraction=0.2",))])
    text = section(with_zoo, [Row(p, [], [], [], []) for p in with_zoo.pairs], {}, "L.md", "cmd", smoke=False)
    assert "rl-zoo: zoo benchmark.md, one trained agent" in text and "rl-zoo retrained here" in text
    text = section(without, [Row(p, [], [], [], []) for p in without.pairs], {}, "L.md", "cmd", smoke=False)
    assert "No reference to meet: none: no MinAtar entry." in text and "zoo" not in text.split("\n| ")[1]
    assert "retrained" not in text and text.split("\n| ")[2].count("|") == 7  # no rl-zoo columns: 7 cells
    assert "env.id=MinAtar/Breakout-v1 total_steps=1000 seed=0" in text
    assert "algorithm.exploration_fraction=0.2`" in text  # the one-cell command carries the pair's overrides


def test_a_suite_rewrites_only_its_own_section_of_learning_md(tmp_path):
    out = tmp_path / "LEARNING.md"
    write_learning(str(out), "classic", "## classic\nold\n")
    write_learning(str(out), "mujoco", "## mujoco\nkept\n")
    write_learning(str(out), "classic", "## classic\nnew\n")
    text = out.read_text()
    assert text.startswith("# Learning results") and "old" not in text
    assert text.index("## classic\nnew") < text.index("## mujoco\nkept")


def test_smoke_jobs_are_tiny_and_off_policy_ones_learn_within_them():
    suite = load_suite("benchmarks/suites/classic.yaml")
    assert job_overrides(Pair("sac", "Pendulum-v1", 20000), 0, suite, smoke=True)[3:] == [
        "total_steps=256", "seed=0", "evaluation.episodes=2", "evaluation.deterministic=true",
        "checkpointing.interval=20", "checkpointing.keep_last=1", "evaluation.interval=0",
        "algorithm.train_batch_size=128", "algorithm.learning_starts=128"]
    assert job_overrides(Pair("ppo", "Acrobot-v1", 10**6), 2, suite, smoke=False) == [
        "algorithm=ppo", "env=gym", "env.id=Acrobot-v1", "total_steps=1000000", "seed=2", "evaluation.episodes=20",
        "evaluation.deterministic=true", "checkpointing.interval=20", "checkpointing.keep_last=1"]


def test_a_broken_peer_file_names_the_line_and_the_fix(tmp_path):
    (tmp_path / "peer.jsonl").write_text('{"algo": "dqn"}\n')
    with pytest.raises(BenchmarkError, match=r"peer.jsonl, line 1: not a zoo_peer.py result .*fix or delete the line"):
        read_peer(str(tmp_path / "peer.jsonl"))
    assert read_peer(str(tmp_path / "absent.jsonl")) == {}


def test_a_row_counts_only_the_job_folder_of_its_config_as_it_is_now(tmp_path):
    suite = Suite("t", [0, 1], 20, 10, "zoo", [Pair("ppo", "CartPole-v1", 1000, {"return": 500.0, "budget": 1000})])
    jobs = [job_overrides(suite.pairs[0], seed, suite, smoke=False) for seed in (0, 1)]
    assert job_folder(jobs[0]).startswith("ppo_CartPole-v1_") and job_folder(jobs[0]) != job_folder(jobs[1])

    def finished(folder: str, final: float, overrides) -> None:
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "result.json").write_text(json.dumps(
            {"overrides": overrides, "status": "ok", "final_return": final, "env_steps": 1000, "time_s": 2.0}))

    finished(job_folder(jobs[0]), 480.0, jobs[0])
    finished("ppo_CartPole-v1_0badc0de", 20.0, jobs[1])  # the same overrides under an earlier tuned file
    peer_file = tmp_path / "peer.jsonl"
    peer_file.write_text("".join(json.dumps({"algo": "ppo", "env_id": "CartPole-v1", "budget": b, "seed": seed,
                                             "final_return": r}) + "\n"
                                 for b, seed, r in ((1000, 0, 1.0), (1000, 0, 400.0), (1000, 1, 500.0), (2000, 2, 9.0))))
    (row,) = collect(str(tmp_path), suite, smoke=False, skipped={}, peer=read_peer(str(peer_file)))
    assert row.returns == [480.0] and row.unfinished == 1 and row.steps_per_s == [500.0] and row.env_steps == [1000]
    assert row.peer == [400.0, 500.0]  # this budget and the suite's seeds; a seed's later line wins
    assert not row.peer_same_starts
    with peer_file.open("a") as f:  # lines that also carry the return on the table's own initial states
        f.write(json.dumps({"algo": "ppo", "env_id": "CartPole-v1", "budget": 1000, "seed": 1, "final_return": 1.0,
                            "final_return_table_states": 450.0}) + "\n")
    (row,) = collect(str(tmp_path), suite, smoke=False, skipped={}, peer=read_peer(str(peer_file)))
    assert row.peer == [400.0, 1.0] and not row.peer_same_starts  # seed 0 has no same-starts return: none used
    with peer_file.open("a") as f:
        f.write(json.dumps({"algo": "ppo", "env_id": "CartPole-v1", "budget": 1000, "seed": 0, "final_return": 2.0,
                            "final_return_table_states": 420.0}) + "\n")
    (row,) = collect(str(tmp_path), suite, smoke=False, skipped={}, peer=read_peer(str(peer_file)))
    assert row.peer == [420.0, 450.0] and row.peer_same_starts
    assert format_table([row], suite, smoke=False).splitlines()[2].endswith("| 435.0 ± 15.0 (2, same starts) |")
    (row,) = collect(str(tmp_path), suite, smoke=False, skipped={}, extra=["algorithm.lr=1e-3"])
    assert row.returns == [] and row.unfinished == 2  # an override given to every job is part of each config
    with pytest.raises(BenchmarkError, match=r"job `algorithm=nope .*has no config .*fix its pair in the suite file"):
        collect(str(tmp_path), Suite("t", [0], 20, 10, "zoo", [Pair("nope", "CartPole-v1", 1000)]), False, {})


@pytest.mark.slow
def test_the_classic_smoke_run_writes_the_table_and_the_curves(tmp_path):
    runs, out = tmp_path / "runs", tmp_path / "LEARNING.md"
    proc = subprocess.run([sys.executable, "-m", "rlhydra.benchmark", "classic", "--smoke", "--runs", str(runs),
                           "--out", str(out), "logger=jsonl"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    text = out.read_text()
    assert "## classic (smoke: tiny budgets, 1 seed; not a measurement)" in text
    assert ("`python train.py algorithm=ppo env=gym env.id=CartPole-v1 total_steps=256 seed=0 evaluation.episodes=2 "
            "evaluation.deterministic=true checkpointing.interval=20 checkpointing.keep_last=1 "
            "evaluation.interval=0`") in text
    rows = [line for line in text.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert len(rows) == 21
    ran = [r for r in rows if "| 1/1 |" in r]
    assert len(ran) >= 15 and all("not run" in r for r in rows if r not in ran)  # LunarLander needs box2d
    assert all(r.endswith("| smoke run, not compared | - |") for r in ran)  # nor set beside the zoo retrained
    for env_id in ("CartPole-v1", "Acrobot-v1", "MountainCar-v0", "Pendulum-v1", "MountainCarContinuous-v0"):
        assert (tmp_path / "learning" / f"classic_{env_id}.png").stat().st_size > 0
        assert f"![{env_id}](learning/classic_{env_id}.png)" in text


@pytest.mark.slow
def test_ctrl_c_stops_a_parallel_suite_with_a_checkpoint_per_running_job_and_the_table_says_so(tmp_path):
    import os
    import signal

    from tests.conftest import wait_for_jobs_running

    suite, runs, out = tmp_path / "tiny.yaml", tmp_path / "runs", tmp_path / "LEARNING.md"
    suite.write_text("seeds: [0, 1, 2]\neval_episodes: 2\ncheckpoint_interval: 20\nzoo_source: none\n"
                     "pairs:\n- {algorithm: ppo, env_id: CartPole-v1, budget: 40960}\n")
    proc = subprocess.Popen([sys.executable, "-m", "rlhydra.benchmark", str(suite), "hydra/launcher=parallel",
                             "--runs", str(runs), "--out", str(out), "logger=jsonl"], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    wait_for_jobs_running(proc, runs, jobs=2)
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in a terminal: the benchmark, its multirun and the job processes
    stdout, stderr = proc.communicate(timeout=90)
    assert proc.returncode == 1 and "Traceback" not in stderr, stderr[-3000:]
    # the benchmark waited for its multirun, which waited for its jobs, before it wrote the table
    assert stdout.index("rlhydra: multirun stopped: 0 job(s) ended, 2 stopped early, 1 not started") < \
        stdout.index("some jobs did not finish (exit code 130): run the same command to continue")
    assert "| ppo | CartPole-v1 | 40,960 | not finished | 0/3 |" in out.read_text()
    finals = sorted(runs.glob("*/checkpoints/final/metadata.json"))
    assert len(finals) == 2 and len(list(runs.glob("*/metrics.jsonl"))) == 2  # the third job never started
