"""PPO's hyperparameters (group `algorithm`, schema `base_ppo`) and the PPOConfig builder."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Dict, Iterator, Optional, Tuple

from rlhydra.config.builder import AlgorithmConfigBuilder
from rlhydra.config.schema import TrainingConfig, at_least, between, one_of, positive


SCHEDULES = ("constant", "linear")


@dataclass
class PPOTrainingConfig(TrainingConfig):
    """Clipped-surrogate PPO with GAE; defaults follow Stable-Baselines3 (tuned values live in conf/tuned/)."""

    ALIASES: ClassVar[Dict[str, str]] = {  # RLlib's names, accepted by PPOConfig().training(...)
        "lambda_": "gae_lambda", "num_sgd_iter": "num_epochs", "sgd_minibatch_size": "minibatch_size",
        "vf_loss_coeff": "vf_coeff", "entropy_coeff": "entropy_coeff", "train_batch_size_per_learner": "train_batch_size",
    }

    name: str = "ppo"
    lr: float = 3e-4
    train_batch_size: int = 2048  # env steps per iteration, split evenly over all envs
    gae_lambda: float = between(0.95, 0.0, 1.0)  # GAE lambda: 1 is Monte Carlo, 0 is one-step TD
    clip_param: float = positive(0.2)  # surrogate clip range epsilon
    vf_clip_param: Optional[float] = positive(None)  # clip value updates to +-this around the old prediction; null: off
    entropy_coeff: float = at_least(0.0, 0)  # entropy bonus weight
    vf_coeff: float = at_least(0.5, 0)  # value loss weight
    num_epochs: int = positive(10)  # passes over each iteration's batch
    minibatch_size: int = positive(64)  # samples per gradient step
    normalize_advantages: bool = True  # per minibatch, zero mean and unit std
    grad_clip: Optional[float] = 0.5  # max global grad norm
    lr_schedule: str = one_of("constant", SCHEDULES)  # constant, or linear decay to 0 over total_steps
    clip_schedule: str = one_of("constant", SCHEDULES)  # constant, or linear decay of clip_param to 0 over total_steps
    adam_eps: float = positive(1e-5)  # Adam epsilon (1e-5 as in the PPO paper's code)

    def checks(self) -> Iterator[Tuple[str, str]]:
        yield from super().checks()
        if self.minibatch_size > self.train_batch_size:
            yield "minibatch_size", (f"({self.minibatch_size}) must be <= algorithm.train_batch_size "
                                     f"({self.train_batch_size})")


class PPOConfig(AlgorithmConfigBuilder):
    """Builder for PPO: PPOConfig().environment("CartPole-v1").training(lr=3e-4).build()."""

    training_class = PPOTrainingConfig
