"""Multi-agent runs (env.api=pettingzoo) sampling in env runner workers: the same steps as in-process runners, one
normaliser merged per module, self-play's mapping in the workers, exact resume, restarts after faults."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

pytest.importorskip("pettingzoo")

from rlhydra import PPOConfig  # noqa: E402
from rlhydra.core.self_play import MAIN  # noqa: E402
from rlhydra.data import tree  # noqa: E402
from rlhydra.data.multi_agent_rollout import MultiAgentRollout  # noqa: E402
from rlhydra.env.env_runner_group import WORKER_SEED_STRIDE, EnvRunnerError, EnvRunnerGroup  # noqa: E402
from rlhydra.env.multi_agent_runner import MultiAgentEnvRunner  # noqa: E402
from tests.conftest import resumes_exactly  # noqa: E402
from tests.fault_agent_envs import FAULTY_CARTPOLES, everyone_to_cartpole_1  # noqa: E402

CARTPOLE = "rlhydra.env.examples:multi_cartpole"
TICTACTOE = "pettingzoo.classic.tictactoe_v3:env"


def ma_workers(env_id: str = CARTPOLE, mapping: str = "independent", *, self_play: bool = False, **runners):
    """PPO on two workers with two env copies each, tiny batches."""
    config = (PPOConfig().environment(env_id).multi_agent(policy_mapping_fn=mapping)
              .env_runners(num_env_runners=2, num_envs_per_env_runner=2, **runners)
              .training(train_batch_size=64, minibatch_size=32, num_epochs=2)
              .evaluation(interval=0, episodes=2, num_envs=2).debugging(seed=3))
    if self_play:
        config.config.self_play.enabled = True
        config.config.self_play.snapshot_interval = 1
    return config


def assert_rollouts_equal(got: MultiAgentRollout, expected: MultiAgentRollout) -> None:
    assert got.batches.keys() == expected.batches.keys()
    for mid, batch in expected.batches.items():
        assert got.batches[mid].keys() == batch.keys()
        for key, column in batch.items():
            for a, b in zip(tree.leaves(got.batches[mid][key]), tree.leaves(column)):
                np.testing.assert_array_equal(a, b, err_msg=f"{mid}/{key}")
    assert (got.num_steps, got.episode_returns, got.episode_lengths) == \
        (expected.num_steps, expected.episode_returns, expected.episode_lengths)
    assert (got.agent_returns, got.module_returns) == (expected.agent_returns, expected.module_returns)


# ---- sampling ------------------------------------------------------------------------------------
def test_workers_sample_what_in_process_runners_with_their_seeds_sample():
    with ma_workers().build() as algo:
        group = algo.env_runner
        assert isinstance(group, EnvRunnerGroup) and len(set(group.worker_pids)) == 2
        got = [group.sample(30) for _ in range(2)]
        expected = []
        for i in range(2):  # each worker on its own, in this process, with its seed and a copy of the module
            seed = algo.seed + WORKER_SEED_STRIDE * (i + 1)
            torch.manual_seed(seed)
            runner = MultiAgentEnvRunner(algo.config.env, algo.config.env_runners,
                                         copy.deepcopy(algo.learner.raw_module), algo.mapping, algo.module_spaces,
                                         num_envs=2, seed=seed)
            expected.append([runner.sample(30) for _ in range(2)])
            runner.stop()
    for call, rollout in enumerate(got):
        assert_rollouts_equal(rollout, MultiAgentRollout.concat([expected[0][call], expected[1][call]]))
    assert got[0].num_steps == 2 * 2 * 30 and got[0].episode_returns  # both workers' steps, episodes finished


def test_workers_share_one_normaliser_per_module():
    with ma_workers(normalize_obs=True).build() as algo:
        group = algo.env_runner
        key = "1_NormalizeObservations"
        first = group.sample(40)
        counts = {mid: state[key]["count"] for mid, state in group.get_connector_state().items()}
        # every agent step of a module was normalised by that module's statistics: both workers' steps, per module
        assert counts == {mid: pytest.approx(first.agent_steps(mid)) for mid in ("cartpole_0", "cartpole_1")}
        assert counts["cartpole_0"] != counts["cartpole_1"]  # the poles fall at different times
        second = group.sample(40)
        # counts only add up like this if each worker continued from the merged statistics
        for mid, state in group.get_connector_state().items():
            assert state[key]["count"] == pytest.approx(first.agent_steps(mid) + second.agent_steps(mid))


# ---- self-play -------------------------------------------------------------------------------------
def test_self_play_snapshot_changes_the_mapping_in_the_workers():
    config = ma_workers(TICTACTOE, "shared", self_play=True)
    config.config.self_play.latest_prob = 1.0  # every opponent is the latest snapshot
    config.config.self_play.random_opponent_prob = 0.0
    with config.build() as algo:
        first = algo.train()  # then snapshot_1 is taken: the latest from now on
        second = algo.train()
    assert first["train/snapshot_0/agent_steps"] > 0 and first["train/snapshot_1/agent_steps"] == 0
    assert second["train/snapshot_1/agent_steps"] > 0
    assert second["train/main/agent_steps"] > 0


def test_a_restarted_worker_gets_the_mapping_that_was_set(tmp_path):
    config = ma_workers(FAULTY_CARTPOLES).environment(FAULTY_CARTPOLES, env_config={"at": 7, "once_flag":
                                                                                        str(tmp_path / "failed")})
    with config.build() as algo:
        group = algo.env_runner
        group.mapping = everyone_to_cartpole_1  # before the first episode: every episode maps with it
        rollout = group.sample(12)
        assert (tmp_path / "failed").exists() and group.num_restarts == 1
    assert rollout.num_steps == 2 * 2 * 12
    assert list(rollout.batches) == ["cartpole_1"]  # the restarted worker's agents too


# ---- checkpoints -----------------------------------------------------------------------------------
@pytest.mark.parametrize("env_id, mapping, self_play", [(CARTPOLE, "independent", False), (TICTACTOE, "shared", True)],
                         ids=["multi_cartpole", "tictactoe_self_play"])
def test_exact_resume_with_workers(tmp_path, env_id, mapping, self_play):
    def restored(algo):
        assert isinstance(algo.env_runner, EnvRunnerGroup)

    last, again = resumes_exactly(ma_workers(env_id, mapping, self_play=self_play), tmp_path, restored)
    # every module acted as often (with self-play: the workers drew opponents from the restored pool, not a new one)
    steps = {k: v for k, v in last.items() if k.endswith("/agent_steps")}
    assert steps and {k: again[k] for k in steps} == steps
    if self_play:
        assert again["self_play/pool_size"] == last["self_play/pool_size"] > 1


# ---- faults ------------------------------------------------------------------------------------------
def test_a_worker_whose_pettingzoo_env_raises_is_restarted_and_the_iteration_keeps_its_steps(tmp_path):
    config = ma_workers(FAULTY_CARTPOLES).environment(FAULTY_CARTPOLES, env_config={"at": 5, "once_flag":
                                                                                        str(tmp_path / "failed")})
    with config.build() as algo:
        result = algo.train()
        assert (tmp_path / "failed").exists()  # the fault did happen
        assert result["env_steps"] == 64 and result["env_runners/num_restarts"] == 1
        assert algo.train()["env_steps"] == 128


def test_without_restarts_the_error_names_the_worker_and_the_pettingzoo_env_exception():
    only_seed = 3 + WORKER_SEED_STRIDE * 2 + 1  # worker 1's second env copy
    config = ma_workers(FAULTY_CARTPOLES, restart_failed=False).environment(
        FAULTY_CARTPOLES, env_config={"at": 3, "only_seed": only_seed})
    with config.build() as algo:
        pids = algo.env_runner.worker_pids
        with pytest.raises(EnvRunnerError, match=r"env runner worker 1 raised an exception.*\(env_runners\.restart_"
                                                 r"failed=false\): RuntimeError: FaultyCartPoles: injected failure "
                                                 r"at step 3") as info:
            algo.train()
    assert info.value.worker_index == 1 and info.value.env_id == FAULTY_CARTPOLES
    assert "fault_agent_envs.py" in info.value.traceback_text
    assert all(pid is None for pid in algo.env_runner.worker_pids) and pids[1] is not None


@pytest.mark.slow
def test_spawned_workers_play_self_play():
    config = ma_workers(TICTACTOE, "shared", self_play=True, start_method="spawn")
    with config.build() as algo:
        results = [algo.train() for _ in range(2)]
    assert results[-1]["env_steps"] == 128 and results[-1]["train/main/agent_steps"] > 0
    assert MAIN in algo.learner.learners
