"""DQN: registers itself with the algorithm registry."""
from rlhydra.algorithms.dqn.algorithm import DQN, MultiAgentDQN
from rlhydra.algorithms.dqn.config import DQNConfig, DQNTrainingConfig
from rlhydra.algorithms.dqn.module import DQNModule
from rlhydra.config.registry import AlgorithmSpec, register_algorithm
from rlhydra.models.apis import QNetworkAPI

register_algorithm(AlgorithmSpec(
    name="dqn",
    training_config=DQNTrainingConfig,
    algorithm_class=DQN,
    default_module="rlhydra.algorithms.dqn.module.DQNModule",
    module_apis=(QNetworkAPI,),
    action_spaces=("discrete",),
    multi_agent_class=MultiAgentDQN,
))

__all__ = ["DQN", "DQNConfig", "DQNModule", "DQNTrainingConfig"]
