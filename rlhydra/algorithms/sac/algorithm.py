"""SAC: the shared off-policy loop with SAC's learner; actions are tanh-squashed and rescaled to the bounds."""
from __future__ import annotations

from rlhydra.algorithms.sac.learner import SACLearner
from rlhydra.core.off_policy import OffPolicyAlgorithm


class SAC(OffPolicyAlgorithm):
    """Soft Actor-Critic (Haarnoja et al., 2018), with automatic entropy tuning."""

    learner_class = SACLearner
    squashed_actions = True
