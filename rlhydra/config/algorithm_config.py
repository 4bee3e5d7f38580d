"""AlgorithmConfig: the root of the schema, the one object both doors (CLI and Python builder) produce."""
from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, Mapping, Optional

from omegaconf import MISSING, DictConfig, OmegaConf

from rlhydra.config.registry import get_algorithm_spec, no_multi_agent_version
from rlhydra.config.schema import (
    CheckpointingConfig,
    ConfigError,
    EnvConfig,
    EnvRunnersConfig,
    EvaluationConfig,
    LearnerConfig,
    LoggerConfig,
    MultiAgentConfig,
    ReportingConfig,
    Section,
    SelfPlayConfig,
    TrainingConfig,
    at_least,
    default_buffer,
    default_module,
    iter_sections,
    positive,
)


@dataclass(eq=False)
class AlgorithmConfig(Section):
    """The whole experiment: the Hydra root config and the object the Python builder fills in."""

    algorithm: TrainingConfig = MISSING  # the algorithm's hyperparameters (group `algorithm`)
    env: EnvConfig = field(default_factory=EnvConfig)  # group `env`
    env_runners: EnvRunnersConfig = field(default_factory=EnvRunnersConfig)  # sampling: runners, envs, connectors
    learner: LearnerConfig = field(default_factory=LearnerConfig)  # group `learner`
    module: Dict[str, Any] = field(default_factory=default_module)  # RLModule by `_target_` (group `module`)
    buffer: Dict[str, Any] = field(default_factory=default_buffer)  # replay buffer by `_target_`; off-policy only
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)  # periodic evaluation on separate envs
    reporting: ReportingConfig = field(default_factory=ReportingConfig)  # metric smoothing, console interval
    checkpointing: CheckpointingConfig = field(default_factory=CheckpointingConfig)  # when and how many to keep
    logger: LoggerConfig = field(default_factory=LoggerConfig)  # group `logger`
    multi_agent: MultiAgentConfig = field(default_factory=MultiAgentConfig)  # modules and policy mapping (env=pettingzoo)
    self_play: SelfPlayConfig = field(default_factory=SelfPlayConfig)  # two-player games against snapshots of itself
    seed: int = at_least(0, 0)  # seeds python, numpy, torch and the envs
    total_steps: int = positive(100_000)  # env steps to train for
    resume: Optional[str] = None  # a checkpoint directory: train.py continues that run (its config, these overrides)

    # ---- equality and conversion -------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        return isinstance(other, AlgorithmConfig) and self.to_dict() == other.to_dict()

    def to_dict(self) -> Dict[str, Any]:
        """A plain, JSON-friendly dict of every setting."""
        return asdict(self)

    def copy(self) -> "AlgorithmConfig":
        """An unfrozen deep copy."""
        new = copy.deepcopy(self)
        for _, section in iter_sections(new):
            object.__setattr__(section, "_frozen", False)
        return new

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "AlgorithmConfig":
        """Rebuild a config from `to_dict()` output (e.g. from a checkpoint), validated by the schema."""
        spec = get_algorithm_spec(data["algorithm"]["name"])
        schema = OmegaConf.structured(AlgorithmConfig)
        schema.algorithm = OmegaConf.structured(spec.training_config)
        return from_hydra(OmegaConf.merge(schema, dict(data)))

    def build(self, fabric: Any = None) -> Any:
        """The Algorithm this config describes (`fabric`: an already launched rank); it validates and freezes a
        copy of the config before any env or worker starts."""
        return algorithm_class_of(self)(self, fabric=fabric)


def algorithm_class_of(config: AlgorithmConfig) -> type:
    """The Algorithm class a config builds: the registered one, or its multi-agent version for env.api=pettingzoo."""
    spec = get_algorithm_spec(config.algorithm.name)
    if config.env.api != "pettingzoo":
        return spec.algorithm_class
    if spec.multi_agent_class is None:
        raise ConfigError(no_multi_agent_version(spec.name))
    return spec.multi_agent_class


def from_hydra(cfg: DictConfig) -> AlgorithmConfig:
    """Turn a composed (and schema-checked) Hydra config into the AlgorithmConfig dataclass."""
    obj = OmegaConf.to_object(cfg)
    if not isinstance(obj, AlgorithmConfig):
        raise ConfigError(f"root config is {type(obj).__name__}, expected AlgorithmConfig (defaults: rlhydra_config)")
    return obj
