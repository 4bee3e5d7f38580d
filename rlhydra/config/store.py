"""Registers the schema in Hydra's ConfigStore so every YAML file is validated against it."""
from __future__ import annotations

from hydra.core.config_store import ConfigStore

from rlhydra.config.algorithm_config import AlgorithmConfig
from rlhydra.config.registry import registered_algorithms
from rlhydra.config.schema import EnvConfig, LearnerConfig, LoggerConfig


def register_configs() -> None:
    """Store the root schema, one `base_<name>` schema per group option (YAML: `defaults: [base_x, _self_]`), and
    every algorithm found (folders and entry points), so that `algorithm=<name>` composes."""
    cs = ConfigStore.instance()
    cs.store(name="rlhydra_config", node=AlgorithmConfig)
    cs.store(group="env", name="base_env", node=EnvConfig)
    cs.store(group="learner", name="base_learner", node=LearnerConfig)
    cs.store(group="logger", name="base_logger", node=LoggerConfig)
    registered_algorithms()  # each algorithm stores its own nodes when it registers
