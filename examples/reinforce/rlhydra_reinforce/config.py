"""REINFORCE's hyperparameters (`algorithm.*` on the command line) and its Python builder."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from rlhydra.config.builder import AlgorithmConfigBuilder
from rlhydra.config.schema import TrainingConfig, at_least, positive


@dataclass
class ReinforceTrainingConfig(TrainingConfig):
    """Monte Carlo policy gradient with a learned state-value baseline; one gradient step per batch."""

    name: str = "reinforce"
    lr: float = positive(3e-3)
    train_batch_size: int = positive(1000)  # env steps per iteration (and per gradient step), all envs together
    vf_coeff: float = at_least(0.5, 0)  # weight of the baseline's squared error in the loss
    entropy_coeff: float = at_least(0.0, 0)  # entropy bonus weight
    normalize_advantages: bool = True  # scale each batch's advantages to zero mean and unit std
    grad_clip: Optional[float] = positive(1.0)  # max global grad norm; null: off


class ReinforceConfig(AlgorithmConfigBuilder):
    """Builder: ReinforceConfig().environment("CartPole-v1").training(lr=3e-3).build()."""

    training_class = ReinforceTrainingConfig
