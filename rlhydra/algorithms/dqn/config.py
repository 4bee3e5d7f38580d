"""DQN's hyperparameters (group `algorithm`, schema `base_dqn`) and the DQNConfig builder."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from rlhydra.config.builder import AlgorithmConfigBuilder
from rlhydra.config.schema import OffPolicyTrainingConfig, between, positive


@dataclass
class DQNTrainingConfig(OffPolicyTrainingConfig):
    """DQN with switches for double Q, dueling heads, n-step and prioritized replay; defaults follow SB3."""

    name: str = "dqn"
    lr: float = 1e-4
    minibatch_size: int = 32
    train_freq: int = 4  # env steps between rounds of gradient steps: one gradient step per 4 env steps, as SB3
    grad_clip: Optional[float] = 10.0
    double_q: bool = False  # pick next actions with the online net, value them with the target net
    dueling: bool = False  # value + advantage heads (passed to the default module)
    target_update_interval: int = positive(2_500)  # gradient steps between target network updates (SB3's 10,000 env steps at 1 gradient step per 4 env steps)
    tau: float = 1.0  # 1: hard copy at each target update; < 1: polyak averaging
    exploration_fraction: float = between(0.1, 0.0, 1.0)  # fraction of total_steps over which epsilon decays
    exploration_initial_eps: float = between(1.0, 0.0, 1.0)  # epsilon at the start
    exploration_final_eps: float = between(0.05, 0.0, 1.0)  # epsilon after the decay


class DQNConfig(AlgorithmConfigBuilder):
    """Builder for DQN: DQNConfig().environment("CartPole-v1").training(double_q=True, n_step=3).build()."""

    training_class = DQNTrainingConfig
