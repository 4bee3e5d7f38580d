"""PPO: the shared on-policy loop (rlhydra.core.on_policy) with PPO's learner."""
from __future__ import annotations

from rlhydra.algorithms.ppo.learner import PPOLearner
from rlhydra.core.multi_agent import MultiAgentOnPolicyAlgorithm
from rlhydra.core.on_policy import OnPolicyAlgorithm


class PPO(OnPolicyAlgorithm):
    """Proximal Policy Optimization (Schulman et al., 2017)."""

    learner_class = PPOLearner


class MultiAgentPPO(MultiAgentOnPolicyAlgorithm):
    """PPO on a PettingZoo env: one PPO learner per trainable module (env.api=pettingzoo)."""

    learner_class = PPOLearner
