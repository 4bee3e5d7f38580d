"""DQN: the shared off-policy loop with DQN's learner; `algorithm.dueling` reaches the default module."""
from __future__ import annotations

from typing import Any, Dict

from rlhydra.algorithms.dqn.learner import DQNLearner
from rlhydra.config.algorithm_config import AlgorithmConfig
from rlhydra.core.multi_agent_off_policy import MultiAgentOffPolicyAlgorithm
from rlhydra.core.off_policy import OffPolicyAlgorithm


class DQN(OffPolicyAlgorithm):
    """Deep Q-Network (Mnih et al., 2015) with double Q, dueling, n-step and prioritized replay switches."""

    learner_class = DQNLearner

    @classmethod
    def extra_module_kwargs(cls, config: AlgorithmConfig) -> Dict[str, Any]:
        return {"dueling": config.algorithm.dueling}


class MultiAgentDQN(MultiAgentOffPolicyAlgorithm):
    """DQN on a PettingZoo env: a DQN learner and a replay buffer per trainable module (env.api=pettingzoo)."""

    learner_class = DQNLearner

    def _build(self, config: AlgorithmConfig, fabric: Any) -> None:
        super()._build(config, fabric)
        for mid in self.learner.raw_module:  # a module left out of policies_to_train acts as a finished policy
            set_epsilon = getattr(self.learner.raw_module[mid], "set_epsilon", None)
            if mid not in self.learner.learners and set_epsilon is not None:
                set_epsilon(config.algorithm.exploration_final_eps)
        self.sync_weights()

    @classmethod
    def extra_module_kwargs(cls, config: AlgorithmConfig) -> Dict[str, Any]:
        return DQN.extra_module_kwargs(config)
