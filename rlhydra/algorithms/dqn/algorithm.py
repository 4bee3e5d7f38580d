"""DQN: the shared off-policy loop with DQN's learner; `algorithm.dueling` reaches the default module."""
from __future__ import annotations

from typing import Any, Dict

from rlhydra.algorithms.dqn.learner import DQNLearner
from rlhydra.core.off_policy import OffPolicyAlgorithm


class DQN(OffPolicyAlgorithm):
    """Deep Q-Network (Mnih et al., 2015) with double Q, dueling, n-step and prioritized replay switches."""

    learner_class = DQNLearner

    def extra_module_kwargs(self) -> Dict[str, Any]:
        return {"dueling": self.config.algorithm.dueling}
