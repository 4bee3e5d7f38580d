"""The training iteration: sample train_batch_size env steps with the current policy, then learn from them."""
from __future__ import annotations

from rlhydra.connectors.learner import AddValuePredictions, FlattenTime, GeneralAdvantageEstimation, ToDevice
from rlhydra.connectors.pipeline import ConnectorPipeline
from rlhydra.core.on_policy import OnPolicyAlgorithm
from rlhydra_reinforce.learner import ReinforceLearner


class Reinforce(OnPolicyAlgorithm):
    """REINFORCE with a baseline (Williams, 1992): rlhydra's on-policy loop, with Monte Carlo returns."""

    learner_class = ReinforceLearner

    def build_learner_connector(self) -> ConnectorPipeline:
        """Returns G with lambda=1 (Monte Carlo, bootstrapped with V only where the rollout cuts an episode)."""
        return ConnectorPipeline([
            AddValuePredictions(self.learner.raw_module), GeneralAdvantageEstimation(self.config.algorithm.gamma, 1.0),
            FlattenTime(), ToDevice(self.learner.device),
        ])
