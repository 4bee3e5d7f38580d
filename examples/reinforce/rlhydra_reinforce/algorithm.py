"""The training iteration: sample train_batch_size env steps with the current policy, then learn from them."""
from __future__ import annotations

import math
from typing import Any, Dict

from rlhydra.config.algorithm_config import AlgorithmConfig
from rlhydra.core.algorithm import Algorithm
from rlhydra_reinforce.learner import ReinforceLearner


class Reinforce(Algorithm):
    """REINFORCE with a baseline (Williams, 1992)."""

    learner_class = ReinforceLearner

    def __init__(self, config: AlgorithmConfig, fabric: Any = None) -> None:
        super().__init__(config, fabric)
        # train_batch_size counts all envs of all runners (and all learner ranks): the steps each env takes
        num_envs = config.env_runners.num_envs_per_env_runner * max(1, config.env_runners.num_env_runners)
        self.rollout_length = max(1, math.ceil(config.algorithm.train_batch_size / (num_envs * self.world_size)))

    def training_step(self) -> Dict[str, Any]:
        metrics = self.learner.update(self.sample(self.rollout_length), self.progress)
        self.sync_weights()
        return metrics
