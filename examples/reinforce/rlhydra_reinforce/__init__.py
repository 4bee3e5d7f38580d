"""REINFORCE with a baseline; importing this package registers it as the rlhydra algorithm `reinforce`."""
from rlhydra.config.registry import AlgorithmSpec, register_algorithm
from rlhydra.models.apis import ValueFunctionAPI
from rlhydra_reinforce.algorithm import Reinforce
from rlhydra_reinforce.config import ReinforceConfig, ReinforceTrainingConfig
from rlhydra_reinforce.module import ActorCritic

register_algorithm(AlgorithmSpec(
    name="reinforce",  # the entry point's name in pyproject.toml, and `algorithm=reinforce` on the command line
    training_config=ReinforceTrainingConfig,  # its defaults are the `algorithm` node: no YAML needed
    algorithm_class=Reinforce,
    default_module="rlhydra_reinforce.module.ActorCritic",
    action_spaces=("discrete", "continuous"),
    module_apis=(ValueFunctionAPI,),  # what the learner calls on the module: V(obs) for the baseline
))

__all__ = ["ActorCritic", "Reinforce", "ReinforceConfig", "ReinforceTrainingConfig"]
