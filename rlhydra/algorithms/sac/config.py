"""SAC's hyperparameters (group `algorithm`, schema `base_sac`) and the SACConfig builder."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from rlhydra.config.builder import AlgorithmConfigBuilder
from rlhydra.config.schema import OffPolicyTrainingConfig, positive


@dataclass
class SACTrainingConfig(OffPolicyTrainingConfig):
    """Soft Actor-Critic with twin Q, polyak targets and automatic entropy tuning; defaults follow SB3."""

    name: str = "sac"
    lr: float = 3e-4  # Adam learning rate of actor, critics and alpha
    tau: float = 0.005  # polyak factor of the target critics (1: hard copy)
    initial_alpha: float = positive(1.0)  # entropy coefficient at the start
    autotune_alpha: bool = True  # learn alpha so the policy entropy tracks target_entropy
    target_entropy: Optional[float] = None  # null: -dim(action space)
    target_update_interval: int = positive(1)  # gradient steps between target updates


class SACConfig(AlgorithmConfigBuilder):
    """Builder for SAC: SACConfig().environment("Pendulum-v1").training(lr=1e-3).build()."""

    training_class = SACTrainingConfig
