"""TD3: the shared off-policy loop with TD3's learner; actions are tanh outputs rescaled to the bounds."""
from __future__ import annotations

from typing import Any, Dict

from rlhydra.algorithms.td3.learner import TD3Learner
from rlhydra.config.algorithm_config import AlgorithmConfig
from rlhydra.core.off_policy import OffPolicyAlgorithm


class TD3(OffPolicyAlgorithm):
    """Twin Delayed DDPG (Fujimoto et al., 2018)."""

    learner_class = TD3Learner
    squashed_actions = True

    @classmethod
    def extra_module_kwargs(cls, config: AlgorithmConfig) -> Dict[str, Any]:
        hp = config.algorithm
        return {"exploration_noise": hp.exploration_noise, "exploration_noise_type": hp.exploration_noise_type}
