"""A2C: registers itself with the algorithm registry."""
from rlhydra.algorithms.a2c.algorithm import A2C, MultiAgentA2C
from rlhydra.algorithms.a2c.config import A2CConfig, A2CTrainingConfig
from rlhydra.config.registry import AlgorithmSpec, register_algorithm
from rlhydra.models.apis import ValueFunctionAPI

register_algorithm(AlgorithmSpec(
    name="a2c",
    training_config=A2CTrainingConfig,
    algorithm_class=A2C,
    default_module="rlhydra.models.actor_critic.ActorCriticModule",
    module_apis=(ValueFunctionAPI,),
    recurrent_module="rlhydra.models.recurrent.RecurrentActorCriticModule",
    action_spaces=("discrete", "continuous"),
    multi_agent_class=MultiAgentA2C,
))

__all__ = ["A2C", "A2CConfig", "A2CTrainingConfig"]
