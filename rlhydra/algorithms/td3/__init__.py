"""TD3: registers itself with the algorithm registry."""
from rlhydra.algorithms.td3.algorithm import TD3
from rlhydra.algorithms.td3.config import TD3Config, TD3TrainingConfig
from rlhydra.algorithms.td3.module import TD3Module
from rlhydra.config.registry import AlgorithmSpec, register_algorithm
from rlhydra.models.apis import DeterministicActorAPI

register_algorithm(AlgorithmSpec(
    name="td3",
    training_config=TD3TrainingConfig,
    algorithm_class=TD3,
    default_module="rlhydra.algorithms.td3.module.TD3Module",
    module_apis=(DeterministicActorAPI,),
    action_spaces=("continuous",),
))

__all__ = ["TD3", "TD3Config", "TD3Module", "TD3TrainingConfig"]
