"""Registry of algorithms: each algorithm package registers its config, its Algorithm class and its module."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Tuple, Type

from rlhydra.config.schema import ConfigError, TrainingConfig


@dataclass(frozen=True)
class AlgorithmSpec:
    """What the framework needs to know about one algorithm."""

    name: str
    training_config: Type[TrainingConfig]
    algorithm_class: type  # a subclass of rlhydra.core.algorithm.Algorithm
    default_module: str  # import path of the default RLModule class
    action_spaces: Tuple[str, ...]  # "discrete" and/or "continuous"


_REGISTRY: Dict[str, AlgorithmSpec] = {}


def register_algorithm(spec: AlgorithmSpec) -> None:
    """Make an algorithm known to the builder, the CLI and checkpoint loading."""
    _REGISTRY[spec.name] = spec


def get_algorithm_spec(name: str) -> AlgorithmSpec:
    """Look an algorithm up by name, with the valid names in the error."""
    if name not in _REGISTRY:
        raise ConfigError(
            f"algorithm.name: unknown algorithm '{name}'. Registered: {', '.join(sorted(_REGISTRY))}."
        )
    return _REGISTRY[name]


def registered_algorithms() -> Dict[str, AlgorithmSpec]:
    """All registered algorithms by name."""
    return dict(_REGISTRY)
