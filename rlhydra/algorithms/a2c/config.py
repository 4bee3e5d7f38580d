"""A2C's hyperparameters (group `algorithm`, schema `base_a2c`) and the A2CConfig builder."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Dict, Optional

from rlhydra.config.builder import AlgorithmConfigBuilder
from rlhydra.config.schema import OnPolicyTrainingConfig, between, positive


@dataclass
class A2CTrainingConfig(OnPolicyTrainingConfig):
    """Synchronous advantage actor-critic; defaults follow Stable-Baselines3's A2C (tuned values: rlhydra/conf/tuned/)."""

    ALIASES: ClassVar[Dict[str, str]] = {  # RLlib's names, accepted by A2CConfig().training() (and the shared ones of
        # OnPolicyTrainingConfig / TrainingConfig: lambda_, ent_coef, vf_coef, learning_rate, max_grad_norm ...)
        "train_batch_size_per_learner": "train_batch_size",
    }

    name: str = "a2c"
    lr: float = 7e-4
    train_batch_size: int = 40  # env steps per iteration, split over all envs: 8 envs x SB3's n_steps=5
    grad_clip: Optional[float] = 0.5  # max global grad norm
    gae_lambda: float = 1.0  # GAE lambda; 1: discounted n-step returns bootstrapped from V at the rollout's end
    normalize_advantages: bool = False  # zero mean and unit std per minibatch; off as in SB3 (the A2C paper does not)
    num_epochs: int = 1  # passes over each rollout; 1 with minibatch_size null: one gradient step per rollout
    minibatch_size: Optional[int] = None  # samples per gradient step; null: the whole rollout in one step
    use_rms_prop: bool = True  # RMSprop as in the A2C paper and SB3; false: Adam with adam_eps
    rms_prop_alpha: float = between(0.99, 0.0, 1.0, high_open=True)  # RMSprop decay of its squared-gradient average
    rms_prop_eps: float = positive(1e-5)  # RMSprop epsilon (SB3's default; torch's is 1e-8)


class A2CConfig(AlgorithmConfigBuilder):
    """Builder for A2C: A2CConfig().environment("CartPole-v1").training(lr=7e-4).build()."""

    training_class = A2CTrainingConfig
