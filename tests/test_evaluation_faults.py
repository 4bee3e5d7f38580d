"""Evaluation survives env faults as sampling does; an env error that cannot be recovered ends train.py cleanly."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from rlhydra import ConfigError, PPOConfig
from rlhydra.core.preflight import check_hydra_config
from rlhydra.core.algorithm import EVAL_FAILED_ROUNDS, EVAL_RETURN, EVAL_SEED_OFFSET
from rlhydra.env.env_runner import EnvStepError
from rlhydra.env.env_runner_group import EnvRunnerError
from tests.conftest import ROOT, compose_cfg

FAULT_ENV = "tests.fault_envs:FaultOnStep-v0"  # importable by id, so workers and train.py find it too
RANDOM_FAULT_ENV = "tests.fault_envs:RandomFault-v0"
EVAL_ENV_0 = 0 + EVAL_SEED_OFFSET  # the first evaluation env's seed (seed=0): a fault only there spares sampling


def ppo(env_id: str = FAULT_ENV, env_config: dict | None = None, **evaluation) -> PPOConfig:
    evaluation = {"interval": 1, "episodes": 2, "num_envs": 2, **evaluation}
    return (PPOConfig().environment(env_id, env_config=env_config or {})
            .training(train_batch_size=64, minibatch_size=32, num_epochs=1)
            .env_runners(num_envs_per_env_runner=2).evaluation(**evaluation))


def counters_removed(result: dict) -> dict:
    return {k: v for k, v in result.items() if k not in ("eval/num_restarts", EVAL_FAILED_ROUNDS)}


# ---- evaluation workers -----------------------------------------------------------------------------------------
def test_evaluation_in_workers_gives_the_results_of_evaluation_in_process():
    def evaluations(num_env_runners: int) -> list:
        config = (PPOConfig().environment("Pendulum-v1", max_episode_steps=50)
                  .training(train_batch_size=64, minibatch_size=32, num_epochs=1)
                  .env_runners(num_envs_per_env_runner=2, normalize_obs=True)
                  .evaluation(interval=0, episodes=4, num_envs=3, num_env_runners=num_env_runners))
        with config.build() as algo:
            algo.train()  # weights and observation statistics that are not the initial ones
            return [algo.evaluate(), algo.evaluate()]

    in_process = evaluations(0)
    assert in_process[0] == in_process[1] and in_process[0]["eval/episodes"] == 4
    assert evaluations(1) == in_process  # the same seeds, weights and statistics: bit for bit
    # Two workers step 2 + 1 of the 3 envs; a forward over fewer rows may round differently in the last bits.
    for split, whole in zip(evaluations(2), in_process):
        assert split == pytest.approx(whole, rel=1e-9)


@pytest.mark.parametrize("num_env_runners", [0, 1], ids=["in_process", "worker"])
def test_a_round_retried_after_a_transient_fault_gives_the_unfaulted_result(tmp_path, num_env_runners):
    fault = {"at": 3, "only_seed": EVAL_ENV_0, "once_flag": str(tmp_path / "failed")}
    with ppo(env_config=fault, num_env_runners=num_env_runners).build() as algo:
        faulted = algo.train()
    assert (tmp_path / "failed").exists()
    assert faulted["eval/num_restarts"] == 1 and faulted[EVAL_FAILED_ROUNDS] == 0
    with ppo(env_config={"at": 10**9}, num_env_runners=num_env_runners).build() as algo:
        clean = algo.train()
    assert clean["eval/num_restarts"] == 0
    assert counters_removed(faulted).keys() == counters_removed(clean).keys()
    for key in ("env_steps", EVAL_RETURN, "eval/episode_length_mean", "eval/episodes"):
        assert faulted[key] == clean[key], key


@pytest.mark.parametrize("num_env_runners", [0, 1], ids=["in_process", "worker"])
def test_an_eval_env_that_keeps_failing_skips_its_rounds_and_training_goes_on(tmp_path, capsys, num_env_runners):
    config = ppo(env_config={"at": 3, "only_seed": EVAL_ENV_0}, num_env_runners=num_env_runners, stop_at_return=0.0)
    error_log = tmp_path / "error.log"
    with config.build() as algo:
        result = algo.learn(128, checkpoint_dir=str(tmp_path / "checkpoints"), error_log=str(error_log))
    assert result["env_steps"] == 128 and result["iteration"] == 2  # stop_at_return=0 saw no result
    assert EVAL_RETURN not in result and result[EVAL_FAILED_ROUNDS] == 2
    assert result["eval/num_restarts"] == 4  # each round: 3 tries, 2 restarts
    assert not (tmp_path / "checkpoints" / "best").exists() and (tmp_path / "checkpoints" / "final").is_dir()
    out = capsys.readouterr().out.splitlines()
    warnings = [line for line in out if line.startswith("rlhydra: evaluation after iteration")]
    assert len(warnings) == 2, out
    assert warnings[0].startswith("rlhydra: evaluation after iteration 1 skipped (eval/failed_rounds=1), "
                                  "training continues: ")
    for part in (f"env '{FAULT_ENV}'", "RuntimeError: FaultOnStepEnv: injected failure at step 3",
                 f"Traceback: {error_log}"):
        assert part in warnings[0], warnings[0]
    text = error_log.read_text()
    assert text.count("skipped") == 2 and "fault_envs.py" in text and "in step" in text


@pytest.mark.parametrize("num_env_runners, error", [(0, EnvStepError), (1, EnvRunnerError)],
                         ids=["in_process", "worker"])
def test_without_restarts_an_eval_env_error_stops_training(num_env_runners, error):
    config = ppo(env_config={"at": 3, "only_seed": EVAL_ENV_0}, num_env_runners=num_env_runners, restart_failed=False)
    with config.build() as algo:
        with pytest.raises(error, match=r"RuntimeError.*FaultOnStepEnv: injected failure at step 3") as info:
            algo.train()
        assert info.value.phase == "evaluation" and info.value.env_id == FAULT_ENV
        assert "fault_envs.py" in info.value.traceback_text
        assert algo.eval_num_restarts == 0 and algo.eval_failed_rounds == 0


def test_a_hung_eval_env_in_a_worker_is_caught_by_the_evaluation_timeout(tmp_path):
    fault = {"fault": "hang", "at": 3, "only_seed": EVAL_ENV_0, "once_flag": str(tmp_path / "hung")}
    with ppo(env_config=fault, num_env_runners=1, sample_timeout_s=1.0).build() as algo:
        result = algo.train()
    assert (tmp_path / "hung").exists()
    assert result["eval/num_restarts"] == 1 and result[EVAL_RETURN] == 20.0  # episodes of 20 steps


@pytest.mark.parametrize("overrides, message", [
    (["evaluation.num_env_runners=3", "evaluation.num_envs=2"],
     "evaluation.num_env_runners: 3 workers for evaluation.num_envs=2 envs"),
    (["evaluation.sample_timeout_s=0"], "evaluation.sample_timeout_s: must be > 0"),
])
def test_bad_evaluation_worker_settings_are_rejected(overrides, message):
    with pytest.raises(ConfigError, match=message):
        check_hydra_config(compose_cfg(["algorithm=ppo", "env=cartpole", *overrides]))


def test_evaluation_workers_refuse_async_envs():
    config = ppo("CartPole-v1", num_env_runners=1).environment("CartPole-v1", vectorization_mode="async")
    with pytest.raises(ConfigError, match="evaluation.num_env_runners=1: evaluation workers are daemonic"):
        config.build()


# ---- the acceptance run ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("num_env_runners", [0, 1], ids=["eval_in_process", "eval_worker"])
def test_a_run_whose_env_raises_at_random_steps_completes_its_total_steps(tmp_path, num_env_runners):
    env_config = {"p": 0.002, "fault_seed": 3, "generation_dir": str(tmp_path), "episode_length": 25}
    config = (ppo(RANDOM_FAULT_ENV, env_config, num_env_runners=num_env_runners, episodes=4)
              .env_runners(num_env_runners=2, num_envs_per_env_runner=2))
    with config.build() as algo:
        result = algo.learn(1280, error_log=str(tmp_path / "error.log"))
        assert algo.iteration == 20
    assert result["env_steps"] == 1280
    assert result["env_runners/num_restarts"] > 0  # sampling met faults ...
    assert result["eval/num_restarts"] + result[EVAL_FAILED_ROUNDS] > 0  # ... and so did evaluation


# ---- train.py ----------------------------------------------------------------------------------------------------
CLI_BASE = ["algorithm=ppo", "env=cartpole", f"env.id={FAULT_ENV}", "env_runners.num_envs_per_env_runner=2",
            "algorithm.train_batch_size=64", "algorithm.minibatch_size=64", "algorithm.num_epochs=1",
            "total_steps=100000", "logger=jsonl"]


@pytest.mark.parametrize("overrides, where, why, checkpoint", [
    (["+env.kwargs={at:100}", "checkpointing.interval=1", "evaluation.interval=0"],
     "while sampling iteration 4 (192 env steps done), after 198 env steps of its runner",
     "env_runners.num_env_runners=0 runs the envs in this process", "iter_000003"),
    ([f"+env.kwargs={{at:3,only_seed:{EVAL_ENV_0}}}", "evaluation.interval=2", "evaluation.num_envs=2",
      "evaluation.num_env_runners=1", "evaluation.restart_failed=false"],
     "in the evaluation after iteration 2 (128 env steps done), in evaluation worker 0, after 4 env steps of its "
     "evaluation round", "evaluation worker 0 raised an exception (evaluation.restart_failed=false)", None),
    pytest.param(  # worker 1's second env fails on its third step, in every restart
        ["+env.kwargs={at:3,only_seed:20001}", "env_runners.num_env_runners=2", "evaluation.interval=0"],
        "while sampling iteration 1 (0 env steps done), in env runner worker 1, after 4 env steps of its runner",
        "env runner worker 1 failed 3 times in a row; last: raised an exception", None, marks=pytest.mark.slow),
], ids=["in_process_sampling", "eval_worker_no_restart", "sampling_worker_restarts_spent"])
@pytest.mark.slow
def test_an_unrecoverable_env_error_ends_train_py_with_a_clean_message(tmp_path, overrides, where, why, checkpoint):
    run_dir = tmp_path / "run"
    proc = subprocess.run([sys.executable, "train.py", *CLI_BASE, *overrides, f"hydra.run.dir={run_dir}"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, env=dict(os.environ, PYTHONPATH=ROOT))
    assert proc.returncode != 0
    err = proc.stderr
    assert "Traceback" not in err, err
    headline = f"env '{FAULT_ENV}' failed {where}: RuntimeError: FaultOnStepEnv: injected failure at step "
    assert f"rlhydra: training stopped: {headline}" in err, err
    assert f"\n  not recovered: {why}" in err, err
    error_log = run_dir / "error.log"
    assert f"\n  traceback: {error_log}\n" in err
    if checkpoint:
        kept = run_dir / "checkpoints" / checkpoint
        assert f"\n  last good checkpoint: {kept} (continue: python train.py resume={kept})" in err
        assert (kept / "metadata.json").is_file()
    else:
        assert "\n  no checkpoint was written before the failure" in err
    log = error_log.read_text()
    assert f"training stopped: {headline}" in log
    assert 'fault_envs.py", line' in log and "in step" in log  # the env's own traceback
    result = json.loads((run_dir / "result.json").read_text())
    assert result["status"] == "failed" and result["error"].startswith(headline)
