"""Fault-injection and odd-space envs for tests: NaN observations, Tuple actions, a short corridor, an env that
raises, hangs or kills its process on a chosen step, an env that raises at random steps."""
from __future__ import annotations

import os
import signal
import threading
from typing import Optional

import gymnasium as gym
import numpy as np


class NaNObsEnv(gym.Env):
    """Returns a NaN observation on step `nan_at`."""

    def __init__(self, nan_at: int = 5) -> None:
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.nan_at, self.t = nan_at, 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(3, np.float32), {}

    def step(self, action):
        self.t += 1
        obs = np.full(3, np.nan if self.t == self.nan_at else 0.0, np.float32)
        return obs, 1.0, False, self.t % 20 == 0, {}


class TupleActionEnv(gym.Env):
    """An env whose action space the default modules cannot serve."""

    def __init__(self) -> None:
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.action_space = gym.spaces.Tuple((gym.spaces.Discrete(2), gym.spaces.Discrete(3)))

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(2, np.float32), {}

    def step(self, action):
        return np.zeros(2, np.float32), 0.0, True, False, {}


for _id, _cls in (("NaNObs-v0", NaNObsEnv), ("TupleAction-v0", TupleActionEnv)):
    if _id not in gym.registry:
        gym.register(id=_id, entry_point=_cls, max_episode_steps=100)


class FaultOnStepEnv(gym.Env):
    """CartPole-shaped env that fails on its step `at`: `fault` is "raise", "hang" (blocks forever) or "kill" (SIGKILLs
    its own process). With `once_flag` (a file path) only the first env to get there fails; with `only_seed`, only
    the env first reset with that seed (one sub-env of one runner: worker i's envs get seed + 10_000 * (i + 1) + j)."""

    def __init__(self, fault: str = "raise", at: int = 5, once_flag: str | None = None,
                 only_seed: int | None = None) -> None:
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.fault, self.at, self.once_flag, self.only_seed = fault, at, once_flag, only_seed
        self.first_seed: int | None = None
        self.t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        if self.first_seed is None:
            self.first_seed = seed
        return np.zeros(4, np.float32), {}

    def step(self, action):
        self.t += 1
        if self.t == self.at and self._fails_here():
            if self.fault == "raise":
                raise RuntimeError(f"FaultOnStepEnv: injected failure at step {self.t}")
            if self.fault == "hang":
                threading.Event().wait()
            os.kill(os.getpid(), signal.SIGKILL)
        return np.zeros(4, np.float32), 1.0, False, self.t % 20 == 0, {}

    def _fails_here(self) -> bool:
        return fails_here(self.first_seed, self.only_seed, self.once_flag)


def fails_here(first_seed: Optional[int], only_seed: Optional[int], once_flag: Optional[str]) -> bool:
    """Whether an env whose first reset had `first_seed` fails now: only the env of `only_seed` (if given), and with
    `once_flag` only the first env anywhere to get here (it creates the flag file)."""
    if only_seed is not None and first_seed != only_seed:
        return False
    if once_flag is None:
        return True
    try:  # O_EXCL: exactly one env, in whichever process, creates the flag and fails
        os.close(os.open(once_flag, os.O_CREAT | os.O_EXCL))
    except FileExistsError:
        return False
    return True


if "FaultOnStep-v0" not in gym.registry:
    gym.register(id="FaultOnStep-v0", entry_point=FaultOnStepEnv, max_episode_steps=100)


class RandomFaultEnv(gym.Env):
    """CartPole-shaped env with `episode_length`-step episodes that raises with probability `p` on each step. The
    faults come from its own RNG, seeded with `fault_seed`, its first reset seed and, with `generation_dir`, how
    many envs first reset with that seed were made before it: a rebuilt env (a restarted runner) draws new faults,
    as a flaky simulator would, and a rerun of a test draws the same ones."""

    def __init__(self, p: float = 0.01, fault_seed: int = 0, generation_dir: str | None = None,
                 episode_length: int = 20) -> None:
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.p, self.fault_seed, self.generation_dir = p, fault_seed, generation_dir
        self.episode_length = episode_length
        self.faults: np.random.Generator | None = None
        self.t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        if self.faults is None:
            first_seed = seed or 0
            generation = self._claim_generation(first_seed) if self.generation_dir else 0
            self.faults = np.random.default_rng([self.fault_seed, first_seed, generation])
        self.t = 0
        return np.zeros(4, np.float32), {}

    def step(self, action):
        self.t += 1
        if self.faults.random() < self.p:
            raise RuntimeError(f"RandomFaultEnv: injected failure at step {self.t} of its episode")
        return np.zeros(4, np.float32), 1.0, False, self.t >= self.episode_length, {}

    def _claim_generation(self, seed: int) -> int:
        generation = 0
        while True:  # O_EXCL: each env, in whichever process, claims its own number
            try:
                os.close(os.open(os.path.join(self.generation_dir, f"{seed}_{generation}"), os.O_CREAT | os.O_EXCL))
                return generation
            except FileExistsError:
                generation += 1


if "RandomFault-v0" not in gym.registry:
    gym.register(id="RandomFault-v0", entry_point=RandomFaultEnv, max_episode_steps=1000)
