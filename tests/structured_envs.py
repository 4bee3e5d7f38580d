"""Small envs with structured observations for the data-path tests (importable by runner processes)."""
from __future__ import annotations

from typing import Any, Dict, Tuple

import gymnasium as gym
import numpy as np


class DictImageEnv(gym.Env):
    """Dict obs (uint8 image, float64 vector, Discrete, Tuple); each episode lasts 3 steps, obs encode (episode, step)."""

    def __init__(self, episode_length: int = 3) -> None:
        self.observation_space = gym.spaces.Dict({
            "image": gym.spaces.Box(0, 255, (2, 5, 5), np.uint8),
            "vec": gym.spaces.Box(-np.inf, np.inf, (3,), np.float64),
            "mode": gym.spaces.Discrete(4),
            "pair": gym.spaces.Tuple((gym.spaces.MultiBinary(2), gym.spaces.Discrete(3))),
        })
        self.action_space = gym.spaces.Discrete(2)
        self.episode_length = episode_length
        self.episode, self.t = -1, 0

    def _obs(self) -> Dict[str, Any]:
        code = self.episode * 10 + self.t
        return {"image": np.full((2, 5, 5), code % 256, np.uint8), "vec": np.full(3, code, np.float64),
                "mode": self.t % 4, "pair": (np.array([self.t % 2, 1], np.int8), self.episode % 3)}

    def reset(self, *, seed: int | None = None, options: Any = None) -> Tuple[Dict[str, Any], Dict[str, Any]]:
        super().reset(seed=seed)
        self.episode, self.t = self.episode + 1, 0
        return self._obs(), {}

    def step(self, action: int) -> Tuple[Dict[str, Any], float, bool, bool, Dict[str, Any]]:
        self.t += 1
        return self._obs(), float(action), self.t >= self.episode_length, False, {}


class DictChoiceEnv(gym.Env):
    """Dict task: the rewarded action is (target + (x > 0)) % 3 — it needs both the Discrete and the Box entry."""

    def __init__(self, length: int = 8) -> None:
        self.observation_space = gym.spaces.Dict({"target": gym.spaces.Discrete(3),
                                                  "x": gym.spaces.Box(-1.0, 1.0, (2,), np.float32)})
        self.action_space = gym.spaces.Discrete(3)
        self.length, self.t = length, 0

    def _draw(self) -> Dict[str, Any]:
        self.obs = {"target": int(self.np_random.integers(3)),
                    "x": self.np_random.uniform(-1, 1, 2).astype(np.float32)}
        return self.obs

    def reset(self, *, seed: int | None = None, options: Any = None) -> Tuple[Dict[str, Any], Dict[str, Any]]:
        super().reset(seed=seed)
        self.t = 0
        return self._draw(), {}

    def step(self, action: int) -> Tuple[Dict[str, Any], float, bool, bool, Dict[str, Any]]:
        best = (self.obs["target"] + int(self.obs["x"][0] > 0)) % 3
        self.t += 1
        return self._draw(), float(action == best), False, self.t >= self.length, {}


class PixelSideEnv(gym.Env):
    """Pixel task: a 12x12 uint8 image (channels last) with a bright 2x2 patch in its left or right half; action 0
    for left, 1 for right earns 1."""

    def __init__(self, length: int = 8, channels_last: bool = True) -> None:
        shape = (12, 12, 1) if channels_last else (1, 12, 12)
        self.observation_space = gym.spaces.Box(0, 255, shape, np.uint8)
        self.action_space = gym.spaces.Discrete(2)
        self.channels_last, self.length, self.t = channels_last, length, 0

    def _draw(self) -> np.ndarray:
        self.side = int(self.np_random.integers(2))
        image = np.zeros((12, 12), np.uint8)
        row, col = self.np_random.integers(0, 11), self.np_random.integers(0, 5) + 6 * self.side
        image[row : row + 2, col : col + 2] = 255
        return image[..., None] if self.channels_last else image[None]

    def reset(self, *, seed: int | None = None, options: Any = None) -> Tuple[np.ndarray, Dict[str, Any]]:
        super().reset(seed=seed)
        self.t = 0
        return self._draw(), {}

    def step(self, action: int) -> Tuple[np.ndarray, float, bool, bool, Dict[str, Any]]:
        reward = float(action == self.side)
        self.t += 1
        return self._draw(), reward, False, self.t >= self.length, {}


class RecallEnv(gym.Env):
    """Memory task: a cue (one of 2) is shown at the first step only, then `delay` blank steps; the action at the
    last step earns 1 if it names the cue. Without memory the best policy earns 0.5 per episode."""

    def __init__(self, delay: int = 4) -> None:
        self.observation_space = gym.spaces.Box(0.0, 1.0, (3,), np.float32)  # [cue 0, cue 1, "answer now"]
        self.action_space = gym.spaces.Discrete(2)
        self.delay, self.t, self.cue = delay, 0, 0

    def _obs(self) -> np.ndarray:
        obs = np.zeros(3, np.float32)
        if self.t == 0:
            obs[self.cue] = 1.0
        if self.t == self.delay:
            obs[2] = 1.0
        return obs

    def reset(self, *, seed: int | None = None, options: Any = None) -> Tuple[np.ndarray, Dict[str, Any]]:
        super().reset(seed=seed)
        self.t, self.cue = 0, int(self.np_random.integers(2))
        return self._obs(), {}

    def step(self, action: int) -> Tuple[np.ndarray, float, bool, bool, Dict[str, Any]]:
        done = self.t == self.delay
        reward = float(action == self.cue) if done else 0.0
        self.t += 1
        return self._obs(), reward, done, False, {}


class MaskedChoiceEnv(gym.Env):
    """Action-masked task: 4 actions, 2 of them illegal each step (in `action_mask`); an illegal action costs -1
    and ends the episode (and is counted in `illegal_actions`); the legal action named by `target` earns 1."""

    illegal_actions = 0  # over every instance in this process

    def __init__(self, length: int = 10) -> None:
        self.observation_space = gym.spaces.Dict({
            "action_mask": gym.spaces.MultiBinary(4),
            "observation": gym.spaces.Box(0.0, 1.0, (4,), np.float32),
        })
        self.action_space = gym.spaces.Discrete(4)
        self.length, self.t = length, 0

    def _draw(self) -> Dict[str, Any]:
        legal = self.np_random.permutation(4)[:2]
        self.mask = np.zeros(4, np.int8)
        self.mask[legal] = 1
        self.target = int(legal[0])
        hint = np.zeros(4, np.float32)
        hint[self.target] = 1.0
        return {"action_mask": self.mask.copy(), "observation": hint}

    def reset(self, *, seed: int | None = None, options: Any = None) -> Tuple[Dict[str, Any], Dict[str, Any]]:
        super().reset(seed=seed)
        self.t = 0
        return self._draw(), {}

    def step(self, action: int) -> Tuple[Dict[str, Any], float, bool, bool, Dict[str, Any]]:
        self.t += 1
        if not self.mask[action]:
            MaskedChoiceEnv.illegal_actions += 1
            return self._draw(), -1.0, True, False, {}
        reward = float(action == self.target)
        return self._draw(), reward, False, self.t >= self.length, {}
