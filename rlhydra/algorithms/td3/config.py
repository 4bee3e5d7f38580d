"""TD3's hyperparameters (group `algorithm`, schema `base_td3`) and the TD3Config builder."""
from __future__ import annotations

from dataclasses import dataclass

from rlhydra.config.builder import AlgorithmConfigBuilder
from rlhydra.config.schema import OffPolicyTrainingConfig, at_least, one_of, positive


@dataclass
class TD3TrainingConfig(OffPolicyTrainingConfig):
    """TD3: twin critics, target policy smoothing, delayed actor and target updates; defaults follow SB3."""

    name: str = "td3"
    lr: float = 1e-3  # Adam learning rate of actor and critics
    tau: float = 0.005  # polyak factor of the target actor and critics (1: hard copy)
    policy_delay: int = positive(2)  # critic updates per actor update and per target update
    target_policy_noise: float = at_least(0.2, 0)  # std of the Gaussian noise added to the target actions
    target_noise_clip: float = at_least(0.5, 0)  # the target-action noise is clipped to +-this
    exploration_noise: float = at_least(0.1, 0)  # std (OU: sigma) of the noise on actions in [-1, 1] while sampling
    exploration_noise_type: str = one_of("normal", ("normal", "ornstein_uhlenbeck"))  # normal: iid Gaussian; ornstein_uhlenbeck: SB3's OU process per env (theta 0.15, dt 0.01), from 0 at each episode start


class TD3Config(AlgorithmConfigBuilder):
    """Builder for TD3: TD3Config().environment("Pendulum-v1").training(policy_delay=2).build()."""

    training_class = TD3TrainingConfig
