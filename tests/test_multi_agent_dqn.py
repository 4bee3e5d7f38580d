"""Multi-agent DQN (env.api=pettingzoo, algorithm=dqn): per-module replay of each agent's streams, n-step windows
that never join two streams, legal warm-up actions, the off-policy update accounting, exact resume, learning."""
from __future__ import annotations

import time
from typing import Any, Dict, List

import gymnasium as gym
import numpy as np
import pytest
import torch

pytest.importorskip("pettingzoo")

from rlhydra import DQNConfig, SACConfig  # noqa: E402
from rlhydra.algorithms.dqn.algorithm import MultiAgentDQN  # noqa: E402
from rlhydra.buffers import ReplayBuffer  # noqa: E402
from rlhydra.core.multi_agent_off_policy import add_streams  # noqa: E402
from rlhydra.config.schema import ConfigError  # noqa: E402
from rlhydra.core.preflight import problems  # noqa: E402
from rlhydra.data import columns as C  # noqa: E402
from rlhydra.data.multi_agent_rollout import STREAM_END  # noqa: E402
from tests.conftest import resumes_exactly  # noqa: E402

CARTPOLE = "rlhydra.env.examples:multi_cartpole"
TICTACTOE = "pettingzoo.classic.tictactoe_v3:env"
AGENTS = ("cartpole_0", "cartpole_1")


def ma_dqn(env_id: str = CARTPOLE, mapping="independent", buffer: str = "ReplayBuffer", **training) -> DQNConfig:
    hp = dict(train_batch_size=64, learning_starts=32, minibatch_size=16, target_update_interval=20, n_step=3)
    hp.update(training)
    config = (DQNConfig().environment(env_id).multi_agent(policy_mapping_fn=mapping)
              .env_runners(num_envs_per_env_runner=2).training(**hp).rl_module(model_config={"hidden_sizes": [16]})
              .evaluation(interval=0, episodes=2, num_envs=2).debugging(seed=3))
    config.config.buffer = {"_target_": f"rlhydra.buffers.{buffer}", "capacity": 2_000}
    return config


def first_agent_alone(agent_id, episode):
    return "solo" if agent_id == "cartpole_0" else "pair"


# ---- n-step windows per stream -----------------------------------------------------------------
GAMMA, N_STEP = 0.9, 3
# (length, how it ends): a stream still running at the rollout's end, a terminated one, a truncated one
STREAMS = [(5, "running"), (4, "terminated"), (2, "truncated")]


def hand_rollout_columns():
    """One module's columns as a MultiAgentRollout ships them: the streams one after another, STREAM_END on each
    stream's last step; every observation distinct, so a next obs taken from the wrong stream shows."""
    rng = np.random.default_rng(0)
    cols = {C.OBS: [], C.NEXT_OBS: [], C.ACTIONS: [], C.REWARDS: [], C.TERMINATED: [], C.TRUNCATED: [], STREAM_END: []}
    for s, (length, end) in enumerate(STREAMS):
        obs = 10.0 * (s + 1) + np.arange(length + 1, dtype=np.float32)  # obs[t + 1] is step t's next obs
        last = np.arange(length) == length - 1
        cols[C.OBS].append(obs[:-1, None])
        cols[C.NEXT_OBS].append(obs[1:, None])
        cols[C.ACTIONS].append(rng.integers(0, 2, length))
        cols[C.REWARDS].append(rng.normal(size=length).astype(np.float32))
        cols[C.TERMINATED].append(last & (end == "terminated"))
        cols[C.TRUNCATED].append(last & (end == "truncated"))
        cols[STREAM_END].append(last)
    return {k: np.concatenate(v) for k, v in cols.items()}


def naive_targets(cols):
    """Per stream, each step's n-step (reward, discount, next obs, terminated), windows cut at the stream's end."""
    out = []
    start = 0
    for length, _ in STREAMS:
        part = slice(start, start + length)
        rewards, next_obs, terminated = cols[C.REWARDS][part], cols[C.NEXT_OBS][part], cols[C.TERMINATED][part]
        for t in range(length):
            last = min(t + N_STEP, length) - 1
            ret = sum(GAMMA ** (j - t) * rewards[j] for j in range(t, last + 1))
            out.append((ret, GAMMA ** (last - t + 1), next_obs[last, 0], terminated[last]))
        start += length
    return [np.array(x, np.float64) for x in zip(*out)]


def sampled_targets(add):
    """The n-step targets of every step of the hand rollout after `add(buffer, columns)`, read through sample()."""
    cols = hand_rollout_columns()
    buffer = ReplayBuffer(64, n_step=N_STEP, gamma=GAMMA, seed=0)
    buffer.setup(gym.spaces.Box(-np.inf, np.inf, (1,), np.float32), gym.spaces.Discrete(2), num_envs=1)
    add(buffer, cols)
    filler = {k: v[:N_STEP - 1] for k, v in cols.items()}  # makes the hand rollout's newest rows sampleable
    filler[STREAM_END] = filler[STREAM_END] | (np.arange(N_STEP - 1) == N_STEP - 2)
    add(buffer, filler)
    steps = len(cols[C.REWARDS])
    assert len(buffer) == steps
    buffer._sample_indices = lambda n: (np.arange(n), np.ones(n, np.float32))  # every step once, in order
    batch = buffer.sample(steps)
    return [batch[C.REWARDS].double().numpy(), batch[C.DISCOUNTS].double().numpy(),
            batch[C.NEXT_OBS][:, 0].double().numpy(), batch[C.TERMINATED].double().numpy()], cols


def test_n_step_targets_never_join_two_streams():
    got, cols = sampled_targets(add_streams)
    expected = naive_targets(cols)
    for name, g, e in zip(("reward", "discount", "next obs", "terminated"), got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-6, err_msg=name)
    # the first stream's last step, cut at the rollout's end, bootstraps from its own next obs with gamma ** 1
    assert got[1][STREAMS[0][0] - 1] == pytest.approx(GAMMA) and got[3][STREAMS[0][0] - 1] == 0.0


def test_the_naive_check_catches_streams_joined_in_the_buffer():
    def joined(buffer, cols):  # as if STREAM_END were ignored: a running stream's last step runs into the next
        buffer.add({k: v[:, None] for k, v in cols.items() if k != STREAM_END})

    got, cols = sampled_targets(joined)
    expected = naive_targets(cols)
    assert not np.allclose(got[0], expected[0]) and not np.allclose(got[2], expected[2])


# ---- warm-up actions ---------------------------------------------------------------------------
def test_every_warm_up_action_in_tictactoe_is_legal():
    algo = ma_dqn(TICTACTOE, "shared", train_batch_size=200, learning_starts=400).build()
    try:
        result = algo.train()
        buffer = algo.buffers["shared"]
    finally:
        algo.stop()
    assert result["learner/shared/updates"] == 0  # all 200 env steps were warm-up
    stored = result["train/shared/agent_steps"]  # the buffer's rows 0 .. stored - 1 (it holds 2,000)
    masks = buffer.obs[C.ACTION_MASK][:stored, 0]
    actions = buffer.columns[C.ACTIONS][:stored, 0]
    assert stored > 150 and masks[np.arange(stored), actions].all()
    assert len(np.unique(actions)) == 9  # uniform over the legal moves, not one fixed move


# ---- the loop ----------------------------------------------------------------------------------
@pytest.mark.parametrize("mapping, modules", [
    ("independent", list(AGENTS)), ("shared", ["shared"]), (first_agent_alone, ["pair", "solo"]),
])
def test_each_trainable_module_takes_the_owed_gradient_steps_on_its_own_buffer(mapping, modules):
    # 2 envs, train_freq 3: rounds of 2 vector steps (4 env steps); learning from env step 10: the rounds ending at
    # 12, 16, ..., 40 owe 8 * 4 * 2 / 3 = 21 gradient steps with 1/3 carried over, as OffPolicyAlgorithm's
    algo = ma_dqn(mapping=mapping, train_batch_size=40, learning_starts=10, train_freq=3, gradient_steps=2,
                  dueling=True).build()
    try:
        result = algo.train()
        assert isinstance(algo, MultiAgentDQN) and sorted(algo.buffers) == modules
        assert algo.update_credit == 1
        for mid in modules:
            module = algo.learner.raw_module[mid]
            assert result[f"learner/{mid}/updates"] == 21 and np.isfinite(result[f"learner/{mid}/loss"])
            assert module.q.dueling  # algorithm.dueling reaches each module
            assert module.epsilon.item() == pytest.approx(algo.learner.learners[mid].epsilon(algo.progress))
            # every agent step of the module, once; the newest n_step - 1 not sampleable yet
            assert len(algo.buffers[mid]) == result[f"train/{mid}/agent_steps"] - 2
    finally:
        algo.stop()


def test_with_env_runner_workers_a_round_counts_every_workers_env_copies():
    # 2 workers x 2 envs, train_freq 8: a round is 2 vector steps of 4 env copies (8 env steps); learning from env
    # step 12, the rounds ending at 16, 24, 32 owe one gradient step each (rounds of 16 would owe 2 + 2)
    algo = ma_dqn(train_batch_size=32, learning_starts=12, train_freq=8, gradient_steps=1).env_runners(
        num_env_runners=2).build()
    try:
        result = algo.train()
        assert algo.env_steps == 32
        assert result["learner/cartpole_0/updates"] == 3
    finally:
        algo.stop()


def test_policies_to_train_get_a_buffer_and_the_others_stay_frozen():
    algo = ma_dqn().multi_agent(policies_to_train=["cartpole_0"]).build()
    try:
        frozen = {k: v.clone() for k, v in algo.learner.raw_module["cartpole_1"].state_dict().items()}
        # not trained, it acts as a finished policy: epsilon at its final value (not the initial 1.0: random)
        assert frozen["epsilon"].item() == pytest.approx(algo.config.algorithm.exploration_final_eps)
        result = algo.train()
        assert list(algo.buffers) == ["cartpole_0"] and result["learner/cartpole_0/updates"] > 0
        after = algo.learner.raw_module["cartpole_1"].state_dict()
        assert all(torch.equal(v, after[k]) for k, v in frozen.items())
    finally:
        algo.stop()


def test_preflight_names_the_algorithms_that_have_a_multi_agent_version():
    config = SACConfig().environment(CARTPOLE).multi_agent(policy_mapping_fn="shared").to_config()
    assert ("env.api=pettingzoo: algorithm=sac has no multi-agent version; use algorithm=a2c, dqn or ppo"
            in problems(config))
    with pytest.raises(ConfigError, match="has no multi-agent version; use algorithm=a2c, dqn or ppo"):
        SACConfig().environment(CARTPOLE).multi_agent(policy_mapping_fn="shared").build()


def test_preflight_checks_the_buffer_of_a_multi_agent_run():
    config = ma_dqn().to_config()
    config.buffer["capacity"] = 0
    assert "buffer.capacity: must be a positive integer, got 0" in problems(config)


# ---- checkpoints -------------------------------------------------------------------------------
@pytest.mark.parametrize("buffer", ["ReplayBuffer", "PrioritizedReplayBuffer"])
def test_exact_resume(tmp_path, buffer):
    # the first iteration crosses learning_starts: warm-up actions, then gradient steps
    def restored(algo):
        assert algo.update_credit == 1 and len(algo.buffers["cartpole_1"]) > 0

    resumes_exactly(ma_dqn(buffer=buffer, train_freq=3), tmp_path, restored)


# ---- learning ----------------------------------------------------------------------------------
class AgentEvals:
    """A logger that keeps each evaluation's per-agent mean returns."""

    def __init__(self) -> None:
        self.evals: List[Dict[str, float]] = []

    def log(self, result: Dict[str, Any]) -> None:
        if f"eval/agent/{AGENTS[0]}/episode_return_mean" in result:
            self.evals.append({a: result[f"eval/agent/{a}/episode_return_mean"] for a in AGENTS})


@pytest.mark.slow
def test_dqn_learns_two_cartpoles_in_one_multi_agent_env(one_torch_thread):
    # rl-zoo's CartPole DQN (tuned/dqn_cartpole.yaml) with a smaller net, 3-step double Q and a linearly decaying lr:
    # without the decay the greedy policy of one agent or the other keeps falling from 500 to ~150 late in training
    # (seeds 0-3 at 40k env steps: the mean of the last 3 evaluations >= 496 for every agent with it, 106-500 without)
    config = (DQNConfig().environment(CARTPOLE).multi_agent(policy_mapping_fn="independent")
              .env_runners(num_envs_per_env_runner=1)
              .training(lr=2.3e-3, lr_schedule="linear", minibatch_size=64, learning_starts=1000, gamma=0.99,
                        target_update_interval=128, train_freq=256, gradient_steps=128, n_step=3, double_q=True,
                        exploration_fraction=0.16, exploration_final_eps=0.04, train_batch_size=1024)
              .rl_module(model_config={"hidden_sizes": [64, 64]})
              .evaluation(interval=4, episodes=10, num_envs=5).debugging(seed=0).stopping(total_steps=40_000))
    config.config.buffer = {"_target_": "rlhydra.buffers.ReplayBuffer", "capacity": 100_000}
    evals = AgentEvals()
    start = time.perf_counter()
    with config.build() as algo:
        algo.learn(loggers=[evals])
    elapsed = time.perf_counter() - start
    for agent in AGENTS:
        got = float(np.mean([e[agent] for e in evals.evals[-3:]]))
        assert got >= 450, (f"{agent}: the last 3 evaluations' mean return is {got:.1f}, expected >= 450 after 40k "
                            f"env steps ({elapsed:.0f} s; every evaluation: {[round(e[agent]) for e in evals.evals]})")
