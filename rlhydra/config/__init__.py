"""The schema: dataclasses, the builder, validation and ConfigStore registration."""
from rlhydra.config.algorithm_config import AlgorithmConfig, from_hydra
from rlhydra.config.builder import AlgorithmConfigBuilder
from rlhydra.config.registry import AlgorithmSpec, get_algorithm_spec, register_algorithm
from rlhydra.config.schema import ConfigError, TrainingConfig
from rlhydra.config.validate import config_problems

__all__ = [
    "AlgorithmConfig",
    "AlgorithmConfigBuilder",
    "AlgorithmSpec",
    "ConfigError",
    "TrainingConfig",
    "config_problems",
    "from_hydra",
    "get_algorithm_spec",
    "register_algorithm",
]
