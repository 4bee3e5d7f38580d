"""rlhydra's own env wrappers: the Atari training conventions Gymnasium lacks (episodic life, rewards clipped to
their sign), and the wrapper lists `env.preprocessing` and `env.frame_stack` stand for."""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, SupportsFloat, Tuple

import gymnasium as gym
import numpy as np
from gymnasium.wrappers import AtariPreprocessing, FrameStackObservation

from rlhydra.config.schema import ConfigError

Wrap = Callable[[gym.Env], gym.Env]

# The Atari conventions of DQN's Nature paper as rl-baselines3-zoo runs them (SB3's AtariWrapper), less FireReset
ATARI_NOOP_MAX = 30
ATARI_FRAME_SKIP = 4
ATARI_SCREEN_SIZE = 84


class EpisodicLife(gym.Wrapper):
    """Ends the episode when a life is lost (`info['lives']` drops); reset() resets the game only once it is over,
    else continues it with one no-op step."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.lives = 0
        self.game_over = True

    def step(self, action: Any) -> Tuple[Any, SupportsFloat, bool, bool, Dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.game_over = bool(terminated or truncated)
        lives = int(info.get("lives", 0))
        if 0 < lives < self.lives:
            terminated = True
        self.lives = lives
        return obs, reward, terminated, truncated, info

    def reset(self, *, seed: Optional[int] = None,
              options: Optional[Dict[str, Any]] = None) -> Tuple[Any, Dict[str, Any]]:
        if self.game_over or seed is not None:  # a seeded reset always starts a new game
            obs, info = self.env.reset(seed=seed, options=options)
        else:
            obs, _, terminated, truncated, info = self.env.step(0)
            if terminated or truncated:
                obs, info = self.env.reset(options=options)
        self.game_over = False
        self.lives = int(info.get("lives", 0))
        return obs, info


class ClipRewardSign(gym.RewardWrapper):
    """Each reward becomes its sign: -1, 0 or +1."""

    def reward(self, reward: SupportsFloat) -> float:
        return float(np.sign(reward))


def atari_preprocessing(env: gym.Env) -> gym.Env:
    """Noop reset (up to 30), frame skip 4 with the last 2 frames max-pooled, 84x84 grayscale uint8."""
    return AtariPreprocessing(env, noop_max=ATARI_NOOP_MAX, frame_skip=ATARI_FRAME_SKIP,
                              screen_size=ATARI_SCREEN_SIZE, terminal_on_life_loss=False, grayscale_obs=True,
                              scale_obs=False)


def frame_stack(env: gym.Env, stack_size: int) -> gym.Env:
    """The last `stack_size` observations: on a new first axis ((4, 84, 84) from 84x84 frames, (4, 8) from 8-vectors);
    images with channels stack along their channel axis as SB3's VecFrameStack does ((96, 96, 12) from four
    (96, 96, 3) frames, (12, 64, 64) from four (3, 64, 64)), so they stay images for the CNN."""
    if not isinstance(env.observation_space, gym.spaces.Box):
        raise ConfigError(f"env.frame_stack={stack_size}: stacks Box observations, and this env's are "
                          f"{env.observation_space}; set env.frame_stack=1")
    stacked = FrameStackObservation(env, stack_size)
    if len(env.observation_space.shape) == 3:
        return MergeStackedChannels(stacked)
    return stacked


class MergeStackedChannels(gym.ObservationWrapper):
    """(k, *image) stacked images -> one image with k times the channels (channels-first or -last, as the frames)."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        k, a, _, c = env.observation_space.shape
        self.channels_last = not a < c  # the catalog's rule: channels-first when the first axis is the smaller
        self.observation_space = gym.spaces.Box(self._merge(env.observation_space.low),
                                                self._merge(env.observation_space.high),
                                                dtype=env.observation_space.dtype)

    def _merge(self, x: np.ndarray) -> np.ndarray:
        k, a, b, c = x.shape
        if self.channels_last:  # (k, H, W, C) -> (H, W, k * C), frame by frame along the channels
            return np.ascontiguousarray(np.moveaxis(x, 0, 2)).reshape(a, b, k * c)
        return x.reshape(k * a, b, c)  # (k, C, H, W) -> (k * C, H, W)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        return self._merge(np.asarray(observation))


def preprocessing_wrappers(preprocessing: Optional[str], *, training: bool) -> List[Wrap]:
    """The wrappers `env.preprocessing` stands for; episodic life and reward clipping only when `training`."""
    if preprocessing is None:
        return []
    if preprocessing == "atari":
        return [atari_preprocessing, EpisodicLife, ClipRewardSign] if training else [atari_preprocessing]
    raise ConfigError(f"env.preprocessing={preprocessing}: unknown; use atari or null")
