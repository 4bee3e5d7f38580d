"""PPO: registers itself with the algorithm registry."""
from rlhydra.algorithms.ppo.algorithm import PPO, MultiAgentPPO
from rlhydra.algorithms.ppo.config import PPOConfig, PPOTrainingConfig
from rlhydra.algorithms.ppo.module import PPOModule
from rlhydra.config.registry import AlgorithmSpec, register_algorithm
from rlhydra.models.apis import ValueFunctionAPI

register_algorithm(AlgorithmSpec(
    name="ppo",
    training_config=PPOTrainingConfig,
    algorithm_class=PPO,
    default_module="rlhydra.algorithms.ppo.module.PPOModule",
    module_apis=(ValueFunctionAPI,),
    recurrent_module="rlhydra.models.recurrent.RecurrentActorCriticModule",
    action_spaces=("discrete", "continuous"),
    multi_agent_class=MultiAgentPPO,
))

__all__ = ["PPO", "PPOConfig", "PPOModule", "PPOTrainingConfig"]
