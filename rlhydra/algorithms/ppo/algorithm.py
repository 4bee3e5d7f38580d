"""PPO's training iteration: an on-policy rollout of train_batch_size steps, then the learner's update."""
from __future__ import annotations

import math
import time
from typing import Any, Dict

from rlhydra.algorithms.ppo.learner import PPOLearner
from rlhydra.config.algorithm_config import AlgorithmConfig
from rlhydra.core.algorithm import Algorithm


class PPO(Algorithm):
    """Proximal Policy Optimization (Schulman et al., 2017)."""

    learner_class = PPOLearner

    def __init__(self, config: AlgorithmConfig, fabric: Any = None) -> None:
        super().__init__(config, fabric)
        # train_batch_size is global: split over every env of every runner of every learner rank
        num_envs = config.env_runners.num_envs_per_env_runner * max(1, config.env_runners.num_env_runners)
        self.rollout_length = max(1, math.ceil(config.algorithm.train_batch_size / (num_envs * self.world_size)))

    def training_step(self) -> Dict[str, Any]:
        start = time.perf_counter()
        rollout = self.sample(self.rollout_length)
        sampled = time.perf_counter()
        metrics = self.learner.update(rollout, self.progress)
        self.sync_weights()
        metrics["perf/sample_time_s"] = sampled - start
        metrics["perf/learn_time_s"] = time.perf_counter() - sampled
        return metrics
