"""env_runners.normalize_rewards: SB3 VecNormalize's reward scaling, checked against a numpy re-implementation."""
from __future__ import annotations

import numpy as np
import pytest

from rlhydra.algorithms.ppo.module import PPOModule
from rlhydra.config.schema import EnvConfig, EnvRunnersConfig
from rlhydra.connectors.rewards import STATE_KEY, NormalizeRewards
from rlhydra.data import columns as C
from rlhydra.env.env_runner import EnvRunner
from rlhydra.env.make import env_spaces


def reference(rewards: np.ndarray, dones: np.ndarray, gamma: float, clip: float = 10.0) -> np.ndarray:
    """VecNormalize(norm_reward=True) step by step: ret, RunningMeanStd(epsilon=1e-4), divide, clip, reset ret."""
    ret = np.zeros(rewards.shape[1])
    mean, var, count = 0.0, 1.0, 1e-4
    out = np.empty_like(rewards, dtype=np.float64)
    for t in range(len(rewards)):
        ret = ret * gamma + rewards[t]
        b_mean, b_var, n = ret.mean(), ret.var(), len(ret)
        delta, total = b_mean - mean, count + n
        mean, var = mean + delta * n / total, (var * count + b_var * n + delta**2 * count * n / total) / total
        count = total
        out[t] = np.clip(rewards[t] / np.sqrt(var + 1e-8), -clip, clip)
        ret[dones[t]] = 0.0
    return out


def test_hand_made_rewards_with_an_episode_end_match_the_formula():
    rewards = np.array([[1.0, -2.0], [0.5, 3.0], [2.0, 0.0], [-1.0, 4.0], [30.0, 1.0]])
    dones = np.zeros_like(rewards, bool)
    dones[1, 0] = True  # env 0's episode ends at step 1: its return restarts at step 2
    norm = NormalizeRewards(num_envs=2, gamma=0.9)
    got = np.stack([norm(r, d) for r, d in zip(rewards, dones)])
    np.testing.assert_allclose(got, reference(rewards, dones, 0.9), rtol=1e-12)
    assert norm.count == pytest.approx(1e-4 + 2 * len(rewards))
    # without the reset the result differs: the reset is what is being checked
    assert not np.allclose(got, reference(rewards, np.zeros_like(dones), 0.9))


def test_runner_trains_on_normalised_rewards_and_reports_raw_returns():
    env = EnvConfig(id="CartPole-v1", max_episode_steps=6)
    obs_space, act_space = env_spaces(env)
    runner = EnvRunner(env, EnvRunnersConfig(normalize_rewards=True), PPOModule(obs_space, act_space),
                       num_envs=3, seed=0, gamma=0.95)
    rollout = runner.sample(20)
    dones = rollout[C.TERMINATED] | rollout[C.TRUNCATED]
    assert dones[:, 0].any()
    expected = reference(np.ones(dones.shape), dones, 0.95).astype(np.float32)  # CartPole pays 1 per step
    np.testing.assert_array_equal(rollout[C.REWARDS], expected)
    assert rollout.episode_returns == [float(n) for n in rollout.episode_lengths]  # raw: 1 per step
    assert runner.get_connector_state()[STATE_KEY]["count"] == pytest.approx(1e-4 + 3 * 20)
    assert runner.run_episodes(2, seed=1)["episode_returns"] == [float(n) for n in
                                                                 runner.run_episodes(2, seed=1)["episode_lengths"]]
    runner.stop()


def test_off_by_default_rewards_stay_raw():
    env = EnvConfig(id="CartPole-v1", max_episode_steps=6)
    obs_space, act_space = env_spaces(env)
    runner = EnvRunner(env, EnvRunnersConfig(), PPOModule(obs_space, act_space), num_envs=2, seed=0)
    assert (runner.sample(5)[C.REWARDS] == 1.0).all() and STATE_KEY not in runner.get_connector_state()
    runner.stop()


def test_workers_statistics_merge_by_counts():
    base = NormalizeRewards(2, 0.99).get_state()
    a, b = NormalizeRewards(2, 0.99), NormalizeRewards(2, 0.99)
    whole = NormalizeRewards(4, 0.99)
    for r in ([1.0, 2.0, 5.0, -1.0], [0.0, 3.0, 2.0, 2.0]):
        a(np.array(r[:2]), np.zeros(2, bool))
        b(np.array(r[2:]), np.zeros(2, bool))
        whole(np.array(r), np.zeros(4, bool))
    merged = NormalizeRewards.merge_states(base, [a.get_state(), b.get_state()])
    # the merge pools both workers' returns: the same as one runner's over all 4 envs
    assert float(merged["count"]) == pytest.approx(whole.count)
    np.testing.assert_allclose(np.asarray(merged["var"]), whole.var, rtol=1e-9)


def test_a_checkpoint_trained_with_normalized_rewards_loads_as_a_policy(tmp_path):
    from rlhydra import PPOConfig, RLModule

    config = (PPOConfig().environment("CartPole-v1").env_runners(num_envs_per_env_runner=2, normalize_rewards=True)
              .training(train_batch_size=64, minibatch_size=32, num_epochs=1).evaluation(interval=0))
    with config.build() as algo:
        algo.train()
        path = algo.save(str(tmp_path / "ckpt"))
    module = RLModule.from_checkpoint(path)
    assert module.compute_single_action(np.zeros(4, np.float32)) in (0, 1)
