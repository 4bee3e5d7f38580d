"""FirstStepCartPole-v1: CartPole that writes the wall-clock time of its process's first step() to a file.

Use it as `env.id=benchmarks.first_step_env:FirstStepCartPole-v1` with the file path in $FIRST_STEP_FILE;
benchmarks/ppo_cartpole.py subtracts the time just before it started the process.
"""
from __future__ import annotations

import os
import time
from typing import Any

import gymnasium as gym
from gymnasium.envs.classic_control.cartpole import CartPoleEnv

ENV_ID = "FirstStepCartPole-v1"
FILE_VAR = "FIRST_STEP_FILE"
_recorded = False


def record_first_step() -> None:
    """Write time.time() to $FIRST_STEP_FILE, once per process (no-op when the variable is unset)."""
    global _recorded
    if _recorded:
        return
    _recorded = True
    path = os.environ.get(FILE_VAR)
    if path:
        with open(path, "w", encoding="utf-8") as f:
            f.write(repr(time.time()))


class FirstStepCartPole(CartPoleEnv):
    """CartPole-v1 that records the first step() of the process, then behaves exactly like CartPole."""

    def step(self, action: Any):
        record_first_step()
        return super().step(action)


if ENV_ID not in gym.registry:
    gym.register(
        id=ENV_ID,
        entry_point=f"{__name__}:FirstStepCartPole",
        max_episode_steps=500,
        reward_threshold=475.0,
    )
