"""SAC: registers itself with the algorithm registry."""
from rlhydra.algorithms.sac.algorithm import SAC
from rlhydra.algorithms.sac.config import SACConfig, SACTrainingConfig
from rlhydra.algorithms.sac.module import SACModule
from rlhydra.config.registry import AlgorithmSpec, register_algorithm
from rlhydra.models.apis import SquashedGaussianActorAPI

register_algorithm(AlgorithmSpec(
    name="sac",
    training_config=SACTrainingConfig,
    algorithm_class=SAC,
    default_module="rlhydra.algorithms.sac.module.SACModule",
    module_apis=(SquashedGaussianActorAPI,),
    action_spaces=("continuous",),
))

__all__ = ["SAC", "SACConfig", "SACModule", "SACTrainingConfig"]
