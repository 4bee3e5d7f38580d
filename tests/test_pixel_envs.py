"""Pixel envs: the Atari wrapper stack (training vs evaluation), frame stacking and its checkpointed state, MinAtar."""
from __future__ import annotations

import io

import gymnasium as gym
import numpy as np
import pytest
import torch

from rlhydra import ConfigError
from rlhydra.config.schema import EnvConfig
from rlhydra.env import env_state
from rlhydra.env.make import build_wrappers, env_spaces, make_vector_env
from rlhydra.env.wrappers import ClipRewardSign, EpisodicLife
from tests.conftest import compose_cfg

ale_py = pytest.importorskip("ale_py")
ATARI = EnvConfig(id="ALE/Breakout-v5", preprocessing="atari", frame_stack=4)


def through_disk(state):
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


def make_single(config: EnvConfig, *, training: bool, seed: int = 0) -> gym.Env:
    env = make_vector_env(config, 1, training=training).envs[0]
    env.reset(seed=seed)
    return env


class Lives(gym.Env):
    """A fake game: 3 lives, one lost every 5 steps, reward 7 per step; the game is over with the last life."""

    observation_space = gym.spaces.Box(0, 255, (2, 2), np.uint8)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        self.t, self.lives, self.resets = 0, 3, getattr(self, "resets", 0) + 1
        return np.zeros((2, 2), np.uint8), {"lives": self.lives}

    def step(self, action):
        self.t += 1
        if self.t % 5 == 0:
            self.lives -= 1
        return np.full((2, 2), self.t, np.uint8), 7.0, self.lives == 0, False, {"lives": self.lives}


def test_atari_observations_are_four_stacked_84x84_uint8_frames_channels_first():
    obs_space, act_space = env_spaces(ATARI)
    assert obs_space.shape == (4, 84, 84) and obs_space.dtype == np.uint8
    assert isinstance(act_space, gym.spaces.Discrete)
    env = make_vector_env(ATARI, 2, training=False)
    try:
        obs, _ = env.reset(seed=0)
        assert obs.shape == (2, 4, 84, 84) and obs.dtype == np.uint8
    finally:
        env.close()


def test_training_and_evaluation_differ_exactly_in_episodic_life_and_reward_clipping():
    def layers(training):
        env = make_single(ATARI, training=training)
        names = []
        while isinstance(env, gym.Wrapper):
            names.append(type(env).__name__)
            env = env.env
        return names

    training, evaluation = layers(True), layers(False)
    assert [n for n in training if n not in evaluation] == ["ClipRewardSign", "EpisodicLife"]
    assert [n for n in training if n in evaluation] == evaluation
    assert training[0] == "FrameStackObservation" and "AtariPreprocessing" in evaluation


def test_episodic_life_ends_an_episode_per_life_and_clipping_keeps_the_sign():
    raw = Lives()
    env = ClipRewardSign(EpisodicLife(raw))
    env.reset(seed=0)
    rewards, steps = [], 0
    while True:
        _, reward, terminated, _, info = env.step(0)
        rewards.append(reward)
        steps += 1
        if terminated:
            break
    assert steps == 5 and info["lives"] == 2 and set(rewards) == {1.0}
    env.reset()  # a lost life, not the game: the game goes on
    assert raw.resets == 1 and raw.lives == 2 and raw.t == 6
    for _ in range(4 + 5):
        terminated = env.step(0)[2]
    assert terminated and raw.lives == 0
    env.reset()  # the game is over: a real reset
    assert raw.resets == 2 and raw.lives == 3


def test_breakout_training_rewards_are_clipped_and_a_lost_life_ends_only_a_training_episode():
    def play(training):
        env = make_single(ATARI, training=training, seed=3)
        rewards, lives = [], []
        rng = np.random.default_rng(0)
        for _ in range(600):
            _, reward, terminated, truncated, info = env.step(int(rng.integers(4)))
            rewards.append(reward)
            lives.append(info["lives"])
            if terminated or truncated:
                break
        return rewards, lives

    rewards, lives = play(training=True)
    assert set(rewards) <= {-1.0, 0.0, 1.0} and lives[-1] == 4  # 5 lives at the start: the first loss ends it
    rewards, lives = play(training=False)
    assert lives[-1] < 4  # the evaluation episode went on past the first lost life
    assert len(rewards) > 0


@pytest.mark.parametrize("env_id", ["CartPole-v1", "tests.structured_envs:PixelSideEnv"])
def test_a_frame_stack_continues_exactly_after_a_restore(env_id):
    config = EnvConfig(id=env_id, frame_stack=4)
    saved, fresh = make_single(config, training=True, seed=1), make_single(config, training=True, seed=99)
    for _ in range(7):
        saved.step(saved.action_space.sample())
    state, not_exact = env_state.capture(saved)
    assert not_exact is None
    env_state.restore(fresh, through_disk(state))
    for action in [saved.action_space.sample() for _ in range(60)]:
        a, b = saved.step(action), fresh.step(action)
        np.testing.assert_array_equal(a[0], b[0])
        assert a[1:4] == b[1:4]
        if a[2] or a[3]:
            np.testing.assert_array_equal(saved.reset()[0], fresh.reset()[0])


def test_an_atari_training_env_continues_exactly_after_a_restore():
    saved, fresh = make_single(ATARI, training=True, seed=1), make_single(ATARI, training=True, seed=99)
    rng = np.random.default_rng(0)
    for _ in range(150):
        if any(saved.step(int(rng.integers(4)))[2:4]):
            saved.reset()
    state, not_exact = env_state.capture(saved)
    assert not_exact is None
    env_state.restore(fresh, through_disk(state))
    for _ in range(300):  # across lost lives: EpisodicLife's lives and game-over flag were restored with the game
        action = int(rng.integers(4))
        a, b = saved.step(action), fresh.step(action)
        np.testing.assert_array_equal(a[0], b[0])
        assert a[1:] == b[1:]
        if a[2] or a[3]:
            np.testing.assert_array_equal(saved.reset()[0], fresh.reset()[0])


def test_frame_stack_needs_box_observations():
    with pytest.raises(ConfigError, match="env.frame_stack=2: stacks Box observations"):
        env_spaces(EnvConfig(id="FrozenLake-v1", frame_stack=2))


def test_atari_preprocessing_needs_an_atari_env():
    with pytest.raises(ConfigError, match="env.preprocessing=atari: env.id=CartPole-v1 is not an Atari"):
        env_spaces(EnvConfig(id="CartPole-v1", preprocessing="atari"))


def test_minatar_makes_through_its_env_group():
    pytest.importorskip("minatar")
    from rlhydra.config.algorithm_config import from_hydra

    config = from_hydra(compose_cfg(["env=minatar", "~tuned"]))
    assert config.env.id == "MinAtar/Breakout-v1"
    obs_space, act_space = env_spaces(config.env)
    assert obs_space.shape == (10, 10, 4) and obs_space.dtype == bool and act_space.n == 3
    env = make_vector_env(config.env, 2)
    try:
        assert env.reset(seed=0)[0].shape == (2, 10, 10, 4)
    finally:
        env.close()


def test_the_atari_group_composes_with_its_preprocessing():
    from rlhydra.config.algorithm_config import from_hydra

    config = from_hydra(compose_cfg(["env=atari", "env.id=ALE/Pong-v5", "~tuned"]))
    assert (config.env.id, config.env.preprocessing, config.env.frame_stack) == ("ALE/Pong-v5", "atari", 4)


def test_a_typo_in_env_preprocessing_is_a_config_error_naming_the_key():
    from rlhydra.core.preflight import check_hydra_config

    with pytest.raises(ConfigError) as info:
        check_hydra_config(compose_cfg(["env=atari", "env.preprocessing=atary"]))
    assert "env.preprocessing: must be one of" in str(info.value) and "atari" in str(info.value)


def test_user_wrappers_come_between_preprocessing_and_the_frame_stack():
    config = EnvConfig(id="CartPole-v1", frame_stack=2, wrappers=["gymnasium.wrappers.TimeAwareObservation"])
    env = gym.make("CartPole-v1")
    for wrap in build_wrappers(config, training=True):
        env = wrap(env)
    assert type(env).__name__ == "FrameStackObservation" and env.observation_space.shape == (2, 5)


def test_a_minatar_env_continues_exactly_after_a_restore():
    pytest.importorskip("minatar")
    config = EnvConfig(id="MinAtar/Breakout-v1")
    saved, fresh = make_single(config, training=True, seed=1), make_single(config, training=True, seed=99)
    rng = np.random.default_rng(0)
    for _ in range(40):
        if any(saved.step(int(rng.integers(3)))[2:4]):
            saved.reset()
    state, not_exact = env_state.capture(saved)
    assert not_exact is None
    env_state.restore(fresh, through_disk(state))
    for _ in range(300):  # sticky actions and new balls draw from the restored RandomState
        action = int(rng.integers(3))
        a, b = saved.step(action), fresh.step(action)
        np.testing.assert_array_equal(a[0], b[0])
        assert a[1:4] == b[1:4]
        if a[2] or a[3]:
            np.testing.assert_array_equal(saved.reset()[0], fresh.reset()[0])


def test_the_algorithms_evaluation_envs_leave_out_the_training_only_wrappers(monkeypatch):
    import rlhydra.env.env_runner as env_runner_module
    from rlhydra import PPOConfig

    seen = []
    make = env_runner_module.make_vector_env

    def recording(env, num_envs, *, training=True):
        seen.append(training)
        return make(env, num_envs, training=training)

    monkeypatch.setattr(env_runner_module, "make_vector_env", recording)
    builder = (PPOConfig().environment("CartPole-v1").training(train_batch_size=64, minibatch_size=64, num_epochs=1)
               .evaluation(interval=1, episodes=1, num_envs=1).debugging(seed=0))
    with builder.build() as algo:
        algo.train()
    assert seen == [True, False]  # the training runner, then the evaluation runner


@pytest.mark.parametrize("shape, stacked", [((6, 5, 3), (6, 5, 12)), ((3, 6, 5), (12, 6, 5)), ((6, 5), (4, 6, 5)),
                                            ((7,), (4, 7))])
def test_frame_stack_keeps_images_images_stacking_along_their_channels(shape, stacked):
    from rlhydra.env.wrappers import frame_stack

    class Counting(gym.Env):
        observation_space = gym.spaces.Box(0, 255, shape, np.uint8)
        action_space = gym.spaces.Discrete(2)

        def reset(self, *, seed=None, options=None):
            self.t = 0
            return self._obs(), {}

        def _obs(self):
            return np.full(shape, self.t, np.uint8)

        def step(self, action):
            self.t += 1
            return self._obs(), 0.0, False, False, {}

    env = frame_stack(Counting(), 4)
    assert env.observation_space.shape == stacked
    env.reset()
    for _ in range(5):
        obs, *_ = env.step(0)
    assert obs.shape == stacked and env.observation_space.contains(obs)
    if len(shape) == 3 and shape[-1] == 3:  # channels last: frame f fills channels 3f..3f+2, oldest first
        np.testing.assert_array_equal(obs[0, 0], [2, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5, 5])
    else:  # on the first axis, oldest first
        np.testing.assert_array_equal(obs.reshape(4, -1)[:, 0], [2, 3, 4, 5])
