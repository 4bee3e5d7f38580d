"""The local EnvRunner: one batched forward per vector step, correct next observations at episode ends."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from rlhydra.algorithms.ppo.module import PPOModule
from rlhydra.config.schema import EnvConfig, EnvRunnersConfig
from rlhydra.connectors.runner_pipelines import module_observation_space
from rlhydra.data import columns as C
from rlhydra.env.env_runner import EnvRunner
from rlhydra.env.make import env_spaces


def make_runner(env: EnvConfig, num_envs: int = 4, runner_config: EnvRunnersConfig | None = None,
                **kwargs) -> EnvRunner:
    runner_config = runner_config or EnvRunnersConfig()
    obs_space, act_space = env_spaces(env)
    module = PPOModule(module_observation_space(runner_config, obs_space), act_space)
    return EnvRunner(env, runner_config, module, num_envs=num_envs, seed=0, **kwargs)


def test_one_batched_forward_per_vector_step():
    runner = make_runner(EnvConfig(id="CartPole-v1"), num_envs=4)
    calls = []
    forward = runner._forward

    def counting(batch):
        calls.append(batch[C.OBS].shape)
        return forward(batch)

    runner._forward = counting
    rollout = runner.sample(10)
    assert calls == [(4, 4)] * 10
    assert rollout.num_steps == 40
    assert rollout[C.OBS].shape == (10, 4, 4) and rollout[C.ACTIONS].shape == (10, 4)
    assert rollout[C.ACTION_LOGP].shape == (10, 4)
    runner.stop()


def test_next_obs_is_the_real_final_observation_at_truncation():
    runner = make_runner(EnvConfig(id="CartPole-v1", max_episode_steps=5), num_envs=3)
    rollout = runner.sample(12)
    obs, next_obs = rollout[C.OBS], rollout[C.NEXT_OBS]
    done = rollout[C.TERMINATED] | rollout[C.TRUNCATED]
    assert rollout[C.TRUNCATED][4].all()  # every env hits the 5-step limit at t=4
    for t in range(11):
        for i in range(3):
            if done[t, i]:
                assert not np.array_equal(next_obs[t, i], obs[t + 1, i])
                assert np.abs(obs[t + 1, i]).max() <= 0.05  # reset obs: CartPole starts in [-0.05, 0.05]
            else:
                np.testing.assert_array_equal(next_obs[t, i], obs[t + 1, i])
    assert rollout.episode_lengths[:3] == [5, 5, 5]
    runner.stop()


def test_final_observations_go_through_the_connectors_like_every_other():
    config = EnvRunnersConfig(env_to_module_connectors=["rlhydra.connectors.env_to_module.FlattenObservations"])
    runner = make_runner(EnvConfig(id="FrozenLake-v1", max_episode_steps=3), num_envs=2, runner_config=config)
    rollout = runner.sample(7)
    obs, next_obs = rollout[C.OBS], rollout[C.NEXT_OBS]
    assert rollout[C.TRUNCATED].any() or rollout[C.TERMINATED].any()
    for name, x in ((C.OBS, obs), (C.NEXT_OBS, next_obs)):  # the final obs went through the one-hot too
        assert x.shape == (7, 2, 16) and set(np.unique(x)) <= {0.0, 1.0}, name
        np.testing.assert_array_equal(x.sum(-1), 1.0, err_msg=f"every {name} row is a one-hot state")
    runner.stop()


def test_episodes_continue_across_sample_calls():
    runner = make_runner(EnvConfig(id="CartPole-v1"), num_envs=2)
    first, second = runner.sample(5), runner.sample(5)
    np.testing.assert_array_equal(first[C.NEXT_OBS][-1], second[C.OBS][0])
    runner.stop()


def test_evaluation_runs_exactly_the_requested_episodes_reproducibly():
    runner = make_runner(EnvConfig(id="CartPole-v1"), num_envs=3, explore=False)
    first = runner.run_episodes(7, seed=123)
    again = runner.run_episodes(7, seed=123)
    assert len(first["episode_returns"]) == 7
    assert first == again
    runner.stop()


def test_nan_observation_names_the_env():
    runner = make_runner(EnvConfig(id="NaNObs-v0"), num_envs=2)
    with pytest.raises(FloatingPointError, match="NaNObs-v0.*NaN/inf"):
        runner.sample(10)
    runner.stop()


def reference_episode_stats(rollouts) -> tuple[list[float], list[int]]:
    """Returns and lengths of the episodes that end in these consecutive rollouts, in (step, env) order."""
    rewards = np.concatenate([r[C.REWARDS] for r in rollouts]).astype(np.float64)
    done = np.concatenate([r[C.TERMINATED] | r[C.TRUNCATED] for r in rollouts])
    running, length = np.zeros(rewards.shape[1]), np.zeros(rewards.shape[1], np.int64)
    returns, lengths = [], []
    for t in range(len(rewards)):
        running += rewards[t]
        length += 1
        for i in np.flatnonzero(done[t]):
            returns.append(running[i])
            lengths.append(int(length[i]))
            running[i], length[i] = 0.0, 0
    return returns, lengths


def test_episode_returns_and_lengths_restart_at_every_episode_end():
    runner = make_runner(EnvConfig(id="Pendulum-v1", max_episode_steps=4), num_envs=3)  # rewards vary per step
    rollouts = [runner.sample(6), runner.sample(7)]  # episodes span sample() calls
    returns, lengths = reference_episode_stats(rollouts)
    assert lengths == [4] * 9
    assert rollouts[0].episode_lengths + rollouts[1].episode_lengths == lengths
    np.testing.assert_allclose(rollouts[0].episode_returns + rollouts[1].episode_returns, returns, rtol=1e-6)
    runner.stop()


def test_restored_runner_continues_episode_returns_and_lengths():
    env = EnvConfig(id="Pendulum-v1", max_episode_steps=5)
    first = make_runner(env, num_envs=2)
    head = first.sample(3)
    second = make_runner(env, num_envs=2)
    assert second.set_state(first.get_state()) is None
    tail = second.sample(4)
    assert tail.episode_lengths == [5, 5], "the 3 steps before the checkpoint count towards the episode"
    expected = head[C.REWARDS].sum(0).astype(np.float64) + tail[C.REWARDS][:2].sum(0)
    np.testing.assert_allclose(tail.episode_returns, expected, rtol=1e-6)
    first.stop()
    second.stop()


def normaliser_state(runner: EnvRunner) -> dict:
    (state,) = [v for k, v in runner.get_connector_state().items() if k.endswith("NormalizeObservations")]
    return {k: torch.as_tensor(v).clone() for k, v in state.items()}


def test_normaliser_counts_reset_and_step_observations_but_not_final_ones():
    env = EnvConfig(id="Pendulum-v1", max_episode_steps=3)
    obs_space, act_space = env_spaces(env)
    runner = EnvRunner(env, EnvRunnersConfig(normalize_obs=True), PPOModule(obs_space, act_space),
                       num_envs=2, seed=0)
    rollout = runner.sample(7)
    assert (rollout[C.TRUNCATED]).sum() == 4
    # the reset observations and one per step and env; final observations at episode ends are not counted
    assert normaliser_state(runner)["count"] == pytest.approx(2 * (1 + 7))
    runner.stop()


def test_evaluation_and_compute_actions_leave_the_normaliser_unchanged():
    env = EnvConfig(id="CartPole-v1", max_episode_steps=5)
    obs_space, act_space = env_spaces(env)
    runner = EnvRunner(env, EnvRunnersConfig(normalize_obs=True), PPOModule(obs_space, act_space),
                       num_envs=2, seed=0, explore=False)
    runner.sample(3)
    before = normaliser_state(runner)
    result = runner.run_episodes(5, seed=7)
    runner.compute_actions(np.ones((4, 4), np.float32))
    after = normaliser_state(runner)
    for key in before:
        assert torch.equal(before[key], after[key]), f"evaluation changed the normaliser's {key}"
    # CartPole pays 1 per step, and each episode's sums restart: every episode runs into the 5-step limit
    assert result["episode_lengths"] == [5] * 5 and result["episode_returns"] == [5.0] * 5
    runner.stop()


@pytest.mark.parametrize("squashed", [False, True])
def test_random_warmup_actions_cover_the_whole_action_range(squashed):
    torch.manual_seed(0)
    runner = make_runner(EnvConfig(id="Pendulum-v1"), num_envs=4, squashed_actions=squashed)
    actions = runner.sample(50, random_actions=True)[C.ACTIONS]
    bound = 1.0 if squashed else 2.0  # Pendulum's torque is in [-2, 2]; squashed modules act in [-1, 1]
    assert actions.min() >= -bound and actions.max() <= bound
    assert actions.min() < -0.8 * bound and actions.max() > 0.8 * bound, (actions.min(), actions.max())
    runner.stop()
