"""EnvRunnerGroup: parallel runner processes, restarts after faults, no orphans, one merged normaliser, learning."""
from __future__ import annotations

import math
import os
import select
import signal
import subprocess
import sys
import textwrap
from typing import Any, Dict, List, Optional

import numpy as np
import pytest
import torch

from rlhydra import ConfigError, DQNConfig, PPOConfig, SACConfig
from rlhydra.algorithms.ppo.module import PPOModule
from rlhydra.core.preflight import check_hydra_config
from rlhydra.config.schema import EnvConfig, EnvRunnersConfig
from rlhydra.connectors.env_to_module import NormalizeObservations
from rlhydra.data import columns as C
from rlhydra.env.env_runner_group import EnvRunnerError, EnvRunnerGroup
from rlhydra.env.make import env_spaces
from tests.conftest import ROOT, compose_cfg

FAULT_ENV = "tests.fault_envs:FaultOnStep-v0"  # importable by id, so spawned workers find it too


def make_group(env_id: str = "CartPole-v1", *, num_workers: int = 2, num_envs: int = 2, seed: int = 0,
               env_kwargs: Optional[Dict[str, Any]] = None, **runner_kwargs) -> EnvRunnerGroup:
    env = EnvConfig(id=env_id, kwargs=env_kwargs or {})
    runners = EnvRunnersConfig(num_env_runners=num_workers, num_envs_per_env_runner=num_envs, **runner_kwargs)
    obs_space, act_space = env_spaces(env)
    torch.manual_seed(seed)
    return EnvRunnerGroup(env, runners, PPOModule(obs_space, act_space), num_envs=num_envs, seed=seed)


def small_ppo(env_id: str = "CartPole-v1", **runners) -> PPOConfig:
    return (PPOConfig().environment(env_id).training(train_batch_size=64, minibatch_size=32, num_epochs=1)
            .env_runners(num_env_runners=2, num_envs_per_env_runner=2, **runners)
            .evaluation(interval=0, episodes=2, num_envs=2))


def running(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie, exited but not yet reaped, is not)."""
    try:
        os.kill(pid, 0)
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (ProcessLookupError, FileNotFoundError):
        return False


def exits_within(pid: int, timeout_s: float) -> bool:
    """Wait (on a pidfd, no polling) until `pid` exits; False if it is still running after `timeout_s`."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([fd], [], [], timeout_s)[0])
    finally:
        os.close(fd)


# ---- sampling ------------------------------------------------------------------------------------
def test_workers_sample_whole_rollouts_with_distinct_reproducible_seeds():
    group = make_group(num_workers=2, num_envs=3)
    pids = group.worker_pids
    rollout = group.sample(10)
    assert rollout[C.OBS].shape == (10, 6, 4) and rollout.num_steps == 60 == group.env_steps
    assert len(set(pids)) == 2 and os.getpid() not in pids and all(map(running, pids))
    assert not np.array_equal(rollout[C.OBS][0, :3], rollout[C.OBS][0, 3:])  # each worker its own seeds
    group.stop()
    again = make_group(num_workers=2, num_envs=3)
    for key, value in again.sample(10).data.items():
        np.testing.assert_array_equal(value, rollout[key], err_msg=key)
    again.stop()


def test_set_weights_reach_every_worker_once():
    group = make_group()
    group.sample(2)
    weights = {k: torch.zeros_like(v) for k, v in PPOModule(*env_spaces(EnvConfig(id="CartPole-v1"))).get_state().items()}
    group.set_weights(weights)
    for _ in range(2):  # the second call sends no weights; the workers keep them
        rollout = group.sample(3)
        np.testing.assert_allclose(rollout[C.ACTION_LOGP], math.log(0.5), rtol=1e-6)  # zero logits: uniform
    group.stop()


def test_spawn_start_method_works():
    group = make_group(num_workers=1, start_method="spawn")
    assert group.sample(4).num_steps == 8
    group.stop()


# ---- faults ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("fault", ["raise", "kill"])
def test_failed_worker_is_restarted_and_the_iteration_keeps_its_steps(tmp_path, fault):
    env_kwargs = {"fault": fault, "at": 7, "once_flag": str(tmp_path / "failed")}
    with small_ppo(FAULT_ENV).environment(FAULT_ENV, env_config=env_kwargs).build() as algo:
        result = algo.train()
        assert (tmp_path / "failed").exists()  # the fault did happen
        assert result["env_steps"] == 64 and result["env_runners/num_restarts"] == 1
        assert algo.train()["env_steps"] == 128


def test_without_restarts_the_error_names_the_worker_and_carries_the_env_exception():
    only_seed = 0 + 10_000 * 2 + 1  # worker 1's second env
    group = make_group(FAULT_ENV, env_kwargs={"fault": "raise", "at": 3, "only_seed": only_seed}, restart_failed=False)
    pids = group.worker_pids
    with pytest.raises(EnvRunnerError, match=r"worker 1 raised an exception .*RuntimeError: FaultOnStepEnv: "
                                             r"injected failure at step 3") as info:
        group.sample(5)
    assert info.value.worker_index == 1 and info.value.exc_type == "RuntimeError"
    assert "fault_envs.py" in info.value.traceback_text and "in step" in info.value.traceback_text
    assert not any(map(running, pids))  # an exception stops the whole group


def test_a_worker_that_keeps_failing_is_not_restarted_forever():
    group = make_group(FAULT_ENV, num_workers=1, env_kwargs={"fault": "raise", "at": 1})
    with pytest.raises(EnvRunnerError, match="worker 0 failed 3 times in a row"):
        group.sample(2)
    assert group.num_restarts == 2


@pytest.mark.parametrize("restart", [True, False])
def test_a_hung_env_is_caught_by_the_sample_timeout(tmp_path, restart):
    env_kwargs = {"fault": "hang", "at": 2, "once_flag": str(tmp_path / "hung")}
    group = make_group(FAULT_ENV, env_kwargs=env_kwargs, sample_timeout_s=1.0, restart_failed=restart)
    pids = group.worker_pids
    if restart:
        assert group.sample(4).num_steps == 16 and group.num_restarts == 1
        group.stop()
    else:
        with pytest.raises(EnvRunnerError, match="sample_timeout_s=1.0"):
            group.sample(4)
    assert not any(map(running, pids))


# ---- no orphans --------------------------------------------------------------------------------------
def test_stop_leaves_no_worker_processes():
    group = make_group()
    pids = group.worker_pids
    assert all(map(running, pids))
    group.stop()
    group.stop()  # idempotent
    assert not any(map(running, pids))
    with pytest.raises(RuntimeError, match="stopped"):
        group.sample(1)


@pytest.mark.parametrize("env_id, env_kwargs, sig", [
    (FAULT_ENV, {"fault": "hang", "at": 1}, signal.SIGINT),  # Ctrl-C while the workers hang: the parent kills them
    ("CartPole-v1", {}, signal.SIGKILL),  # the parent is killed: its workers see their pipes close and exit
], ids=["ctrl_c", "parent_killed"])
@pytest.mark.slow
def test_no_worker_processes_outlive_the_parent(tmp_path, env_id, env_kwargs, sig):
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(f"""
        import signal
        signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal, even if started with it ignored
        from rlhydra import PPOConfig
        algo = (PPOConfig().environment({env_id!r}, env_config={env_kwargs!r})
                .env_runners(num_env_runners=2, num_envs_per_env_runner=1, sample_timeout_s=None).build())
        print(*algo.env_runner.worker_pids, flush=True)
        while True:
            algo.train()
    """))
    # A new session: SIGINT to its process group reaches the script and its workers, as a terminal's Ctrl-C does.
    # stderr goes to a file: the test waits for the processes themselves, not for every holder of a pipe to close it.
    err_path = tmp_path / "stderr.txt"
    with open(err_path, "w") as err:
        proc = subprocess.Popen([sys.executable, str(script)], cwd=ROOT, stdout=subprocess.PIPE, stderr=err,
                                text=True, start_new_session=True, env={**os.environ, "PYTHONPATH": ROOT})
    pids = [int(pid) for pid in proc.stdout.readline().split()]
    assert len(pids) == 2 and all(map(running, pids)), err_path.read_text()
    os.killpg(proc.pid, signal.SIGINT) if sig == signal.SIGINT else proc.kill()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the script did not exit after {sig.name}:\n{process_report([proc.pid, *pids])}\n"
                    f"{err_path.read_text()[-2000:]}")
    finally:
        proc.stdout.close()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert "KeyboardInterrupt" in err_path.read_text() if sig == signal.SIGINT else proc.returncode == -signal.SIGKILL
    assert all(exits_within(pid, 10.0) for pid in pids)


def process_report(pids):
    """Signal masks and states of `pids` (and a py-spy stack where py-spy is installed), for a failure message."""
    lines = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                fields = [line for line in f.read().splitlines() if line.startswith(("State", "Sig", "Threads"))]
            lines.append(f"{pid}: " + " ".join(fields))
        except OSError:
            lines.append(f"{pid}: gone")
            continue
        try:
            lines.append(subprocess.run(["py-spy", "dump", "--pid", str(pid)], capture_output=True, text=True,
                                        timeout=20).stdout)
        except (OSError, subprocess.SubprocessError):
            pass
    return "\n".join(lines)


# ---- observation normalisation -------------------------------------------------------------------------
def test_merge_states_equals_statistics_over_all_observations():
    rng = np.random.default_rng(0)
    data = [rng.normal(loc, scale, (n, 3)) for loc, scale, n in ((1.0, 2.0, 50), (-3.0, 0.5, 70), (5.0, 1.0, 30))]
    base = NormalizeObservations(3)
    base._update(data[0])
    states = []
    for worker_data in data[1:]:  # each worker starts at base and adds its own data, batch by batch
        worker = NormalizeObservations(3)
        worker.set_state(base.get_state())
        for batch in np.array_split(worker_data, 4):
            worker._update(batch)
        states.append(worker.get_state())
    merged = NormalizeObservations.merge_states(base.get_state(), states)
    everything = np.concatenate(data)
    np.testing.assert_allclose(merged["mean"].numpy(), everything.mean(0), rtol=1e-10)
    np.testing.assert_allclose(merged["var"].numpy(), everything.var(0), rtol=1e-8)
    assert merged["count"] == pytest.approx(150)


def test_workers_share_one_merged_normaliser():
    group = make_group(num_workers=2, num_envs=2, normalize_obs=True)
    key = next(k for k in group.get_connector_state() if k.endswith("NormalizeObservations"))
    group.sample(5)
    # each worker normalised its reset obs and 5 steps of 2 envs
    assert group.get_connector_state()[key]["count"] == pytest.approx(2 * 2 * 6)
    group.sample(5)
    # counts only add up like this if both workers continued from the merged state
    assert group.get_connector_state()[key]["count"] == pytest.approx(2 * 2 * 6 + 2 * 2 * 5)
    group.stop()


def test_evaluation_uses_the_merged_normaliser():
    with small_ppo().env_runners(normalize_obs=True).build() as algo:
        algo.train()
        algo.evaluate()
        merged, evaluated = algo.env_runner.get_connector_state(), algo._eval_runner.get_connector_state()
        for key, state in merged.items():
            for name, value in state.items():
                np.testing.assert_array_equal(np.asarray(evaluated[key][name]), np.asarray(value))


def test_checkpoint_restores_the_merged_normaliser_into_new_workers(tmp_path):
    from rlhydra import Algorithm

    with small_ppo().env_runners(normalize_obs=True).build() as algo:
        algo.train()
        path = algo.save(str(tmp_path / "ckpt"))
        saved = algo.env_runner.get_connector_state()
    with Algorithm.from_checkpoint(path) as restored:
        key = next(k for k in saved if k.endswith("NormalizeObservations"))
        assert restored.env_runner.get_connector_state()[key]["count"] == saved[key]["count"]
        # New workers continue the saved workers' episodes from the restored statistics: 64 step observations,
        # no reset ones.
        restored.train()
        assert restored.env_runner.get_connector_state()[key]["count"] == pytest.approx(saved[key]["count"] + 64)


# ---- algorithms -----------------------------------------------------------------------------------------------
def test_same_seed_same_metrics_with_workers():
    def run() -> List[Dict]:
        with small_ppo().env_runners(normalize_obs=True).build() as algo:
            rows = [algo.train() for _ in range(3)]
        return [{k: v for k, v in row.items() if not k.startswith("perf/") and k != "time_s"} for row in rows]

    assert run() == run()


@pytest.mark.parametrize("config", [
    SACConfig().environment("Pendulum-v1").rl_module(model_config={"hidden_sizes": [16, 16]}),
    DQNConfig().environment("CartPole-v1").rl_module(model_config={"hidden_sizes": [16, 16]})
    .training(target_update_interval=50),
], ids=["sac", "dqn"])
def test_off_policy_algorithms_train_with_two_runners(config):
    config = (config.training(train_batch_size=64, learning_starts=32, minibatch_size=16, train_freq=2)
              .env_runners(num_env_runners=2, num_envs_per_env_runner=2).evaluation(interval=1, episodes=2, num_envs=2))
    with config.build() as algo:
        for expected_steps in (64, 128):
            result = algo.train()
            assert result["env_steps"] == expected_steps and result["env_runners/num_restarts"] == 0
        assert result["buffer/size"] > 0 and np.isfinite(result["eval/episode_return_mean"])


def test_resources_group_sets_runner_and_learner_counts():
    config = check_hydra_config(compose_cfg(["algorithm=ppo", "env=cartpole", "resources=cpu_workers"]))
    assert config.env_runners.num_env_runners == 2 and config.learner.devices == 1
    for name, devices in (("gpu", 1), ("multi_gpu", 2)):
        cfg = compose_cfg(["algorithm=ppo", "env=cartpole", f"resources={name}"])
        assert cfg.learner.accelerator == "cuda" and cfg.learner.devices == devices


@pytest.mark.parametrize("override, message", [
    ("env_runners.start_method=thread", "env_runners.start_method: must be one of"),
    ("env_runners.sample_timeout_s=0", "env_runners.sample_timeout_s: must be > 0"),
    ("env.vectorization_mode=async", "runner processes are daemonic"),
])
def test_bad_runner_settings_are_rejected(override, message):
    with pytest.raises(ConfigError, match=message):
        check_hydra_config(compose_cfg(["algorithm=ppo", "env=cartpole", "resources=cpu_workers", override]))
