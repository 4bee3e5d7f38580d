"""A2C: the shared on-policy loop (rlhydra.core.on_policy) with A2C's learner."""
from __future__ import annotations

from rlhydra.algorithms.a2c.learner import A2CLearner
from rlhydra.core.multi_agent import MultiAgentOnPolicyAlgorithm
from rlhydra.core.on_policy import OnPolicyAlgorithm


class A2C(OnPolicyAlgorithm):
    """Advantage Actor-Critic, synchronous (Mnih et al., 2016): a short rollout, then one gradient step."""

    learner_class = A2CLearner


class MultiAgentA2C(MultiAgentOnPolicyAlgorithm):
    """A2C on a PettingZoo env: one A2C learner per trainable module (env.api=pettingzoo)."""

    learner_class = A2CLearner
