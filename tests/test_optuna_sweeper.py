"""rlhydra's Optuna sweeper (hydra_plugins/rlhydra_optuna_sweeper, `hydra/sweeper=rlhydra_optuna`): the search
space syntax, the sweep files in sweeps/, trials that report evaluations and get pruned, a study that continues."""
from __future__ import annotations

import os

import optuna
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from hydra_plugins.rlhydra_optuna_sweeper.optuna_sweeper import as_override, search_space
from rlhydra.sweep_summary import read_job_results
from tests.conftest import CONF, ROOT
from tests.test_sweeps import run_train, table_rows

SWEEPS = os.path.join(ROOT, "sweeps")


def test_the_search_space_reads_hydra_optuna_sweepers_syntax_and_the_command_line_wins():
    params = {"algorithm.lr": "tag(log, interval(1e-4, 1e-2))", "algorithm.gamma": "interval(0.9, 0.99)",
              "algorithm.num_epochs": "range(4, 20, step=4)", "algorithm.clip_param": "choice(0.1, 0.2)",
              "total_steps": "50000", "seed": "choice(0, 1)"}
    space, fixed = search_space(params, ["total_steps=2048", "seed=3", "algorithm.gae_lambda=interval(0.8, 0.9)"])
    assert space == {
        "algorithm.lr": FloatDistribution(1e-4, 1e-2, log=True),
        "algorithm.gamma": FloatDistribution(0.9, 0.99),
        "algorithm.num_epochs": IntDistribution(4, 16, step=4),  # Hydra's range: the stop value is left out
        "algorithm.clip_param": CategoricalDistribution([0.1, 0.2]),
        "algorithm.gae_lambda": FloatDistribution(0.8, 0.9),
    }
    assert fixed == ["total_steps=2048", "seed=3"]
    assert as_override("env.id", "my_pkg.envs:Corridor-v0") == "env.id='my_pkg.envs:Corridor-v0'"
    assert as_override("algorithm.double_q", True) == "algorithm.double_q=true"


def test_a_sweep_without_a_search_space_says_what_to_declare(tmp_path):
    proc = run_train("--config-dir", SWEEPS, "--config-name", "ppo_cartpole_tpe_median", "-m",
                     "hydra.sweeper.params=null", f"hydra.sweep.dir={tmp_path}")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "hydra.sweeper.params is empty: declare at least one key to search" in proc.stderr


@pytest.mark.parametrize("name, sampler, pruner", [
    ("ppo_cartpole_tpe_median", optuna.samplers.TPESampler, optuna.pruners.MedianPruner),
    ("ppo_cartpole_cmaes_hyperband", optuna.samplers.CmaEsSampler, optuna.pruners.HyperbandPruner),
])
def test_the_sweep_files_build_their_sampler_and_pruner(name, sampler, pruner):
    from hydra.utils import instantiate

    with initialize_config_dir(version_base="1.3", config_dir=SWEEPS):  # its `config` default: rlhydra/conf
        cfg = compose(name, overrides=[f"hydra.searchpath=[file://{CONF}]"], return_hydra_config=True)
    assert cfg.hydra.sweeper._target_.endswith("rlhydra_optuna_sweeper.optuna_sweeper.OptunaSweeper")
    assert isinstance(instantiate(cfg.hydra.sweeper.sampler), sampler)
    assert isinstance(instantiate(cfg.hydra.sweeper.pruner), pruner)
    assert cfg.hydra.sweep.dir == f"multirun/sweeps/{name}"  # no timestamp: the same command continues the study
    space, fixed = search_space(cfg.hydra.sweeper.params, [])
    assert {"algorithm.lr", "algorithm.gamma"} <= set(space) and "total_steps=50000" in fixed


def trials(sweep_dir) -> list:
    storage = JournalStorage(JournalFileBackend(str(sweep_dir / "optuna.journal")))
    return optuna.load_study(study_name="ppo_cartpole_tpe_median", storage=storage).get_trials()


SMALL = ["total_steps=3072", "evaluation.episodes=3", "logger=jsonl", "hydra.sweeper.sampler.n_startup_trials=2",
         "hydra.sweeper.pruner.n_startup_trials=2", "hydra.sweeper.pruner.n_warmup_steps=1000"]


@pytest.mark.slow
def test_a_pruned_sweep_reports_evaluations_prunes_calmly_and_continues_its_study(tmp_path):
    sweep_dir = tmp_path / "sweep"
    command = ["--config-dir", SWEEPS, "--config-name", "ppo_cartpole_tpe_median", "-m", *SMALL,
               f"hydra.sweep.dir={sweep_dir}"]
    proc = run_train(*command, "hydra.sweeper.n_trials=5")
    assert proc.returncode == 0 and "Traceback" not in proc.stdout + proc.stderr, proc.stderr[-3000:]
    study = trials(sweep_dir)
    assert len(study) == 5 and all(t.state.is_finished() for t in study)
    pruned = [t for t in study if t.state == TrialState.PRUNED]
    assert pruned, [t.state for t in study]
    for trial in study:  # reported after each evaluation (every 4 iterations of 256 env steps), at env steps
        assert trial.intermediate_values and set(trial.intermediate_values) <= {1024, 2048, 3072}
    jobs = {j["job"]: j for j in read_job_results(str(sweep_dir))}
    assert sorted(jobs) == [0, 1, 2, 3, 4]
    for trial in pruned:
        job = jobs[trial.number]
        last = max(trial.intermediate_values)
        assert job["status"] == "pruned" and job["env_steps"] == last < 3072
        assert f"trial {trial.number} pruned by MedianPruner at {last:,} env steps" in proc.stdout
    summary = (sweep_dir / "summary.md").read_text()
    assert f"{len(pruned)} trial(s) pruned (stopped early by the Optuna pruner)" in summary
    assert [r[5].split(":")[0] for r in table_rows(summary)] == [
        "pruned" if t.state == TrialState.PRUNED else "ok" for t in study]
    assert "+optuna.trial" not in summary
    results = OmegaConf.load(sweep_dir / "optimization_results.yaml")
    assert results.trials == {"complete": 5 - len(pruned), "pruned": len(pruned), "fail": 0}

    again = run_train(*command, "hydra.sweeper.n_trials=6")  # the same study, one trial more
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"study 'ppo_cartpole_tpe_median' in {sweep_dir}/optuna.journal: 5 of 6 trials done" in again.stdout
    assert again.stdout.count("rlhydra: ppo on CartPole-v1") == 1
    assert len(trials(sweep_dir)) == 6


@pytest.mark.slow
def test_trials_in_joblib_worker_processes_report_to_the_study_file(tmp_path):
    sweep_dir = tmp_path / "sweep"
    proc = run_train("--config-dir", SWEEPS, "--config-name", "ppo_cartpole_tpe_median", "-m", *SMALL,
                     "hydra.sweeper.n_trials=4", "hydra.sweeper.n_jobs=2", "hydra/launcher=parallel",
                     f"hydra.sweep.dir={sweep_dir}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    study = trials(sweep_dir)
    assert len(study) == 4 and all(t.state.is_finished() and t.intermediate_values for t in study)
    jobs = read_job_results(str(sweep_dir))
    assert {j["status"] for j in jobs} <= {"ok", "pruned"} and len(jobs) == 4
    assert len({j["run_dir"] for j in jobs}) == 4
