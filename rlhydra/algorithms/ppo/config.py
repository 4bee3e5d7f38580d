"""PPO's hyperparameters (group `algorithm`, schema `base_ppo`) and the PPOConfig builder."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Dict, Optional

from rlhydra.config.builder import AlgorithmConfigBuilder
from rlhydra.config.schema import OnPolicyTrainingConfig, positive, schedule


@dataclass
class PPOTrainingConfig(OnPolicyTrainingConfig):
    """Clipped-surrogate PPO with GAE; defaults follow Stable-Baselines3 (tuned values live in rlhydra/conf/tuned/)."""

    ALIASES: ClassVar[Dict[str, str]] = {  # RLlib's and SB3's names, accepted by PPOConfig().training(...) (and the
        # shared ones of OnPolicyTrainingConfig / TrainingConfig)
        "sgd_minibatch_size": "minibatch_size", "train_batch_size_per_learner": "train_batch_size",
        "batch_size": "minibatch_size", "clip_range": "clip_param", "clip_range_vf": "vf_clip_param",
    }
    SCHEDULED: ClassVar[Dict[str, str]] = {"clip_param": "clip_schedule"}  # and lr's, from TrainingConfig

    name: str = "ppo"
    lr: float = 3e-4
    train_batch_size: int = 2048  # env steps per iteration, split evenly over all envs
    grad_clip: Optional[float] = 0.5  # max global grad norm
    clip_param: float = positive(0.2)  # surrogate clip range epsilon
    vf_clip_param: Optional[float] = positive(None)  # clip value updates to +-this around the old prediction; null: off
    clip_schedule: Any = schedule("constant")  # constant (clip_param), linear decay of clip_param to 0 over total_steps, or [[env_step, clip], ...]


class PPOConfig(AlgorithmConfigBuilder):
    """Builder for PPO: PPOConfig().environment("CartPole-v1").training(lr=3e-4).build()."""

    training_class = PPOTrainingConfig
