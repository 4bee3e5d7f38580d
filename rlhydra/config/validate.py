"""Checks of the config alone (no env, no class imported): ranges, choices, unknown keys, devices, combinations.

What needs the env or the named classes (the module, connectors, buffer, env id and spaces) is checked on top of
these by `rlhydra.core.preflight`, before any env or worker starts.
"""
from __future__ import annotations

from dataclasses import fields, is_dataclass
from typing import Any, List

import torch
from omegaconf import DictConfig

from rlhydra.config.algorithm_config import AlgorithmConfig, from_hydra
from rlhydra.config.schema import ConfigError, OffPolicyTrainingConfig, iter_sections


def unknown_keys(cfg: DictConfig, obj: Any, prefix: str = "") -> List[str]:
    """Keys in a composed config that the dataclass does not declare (Hydra's `+key=...` lets them in)."""
    found = []
    names = {f.name for f in fields(obj)}
    for key in cfg.keys():
        if key not in names:
            found.append(f"{prefix}{key}")
        elif is_dataclass(getattr(obj, key)) and isinstance(cfg[key], DictConfig):
            found.extend(unknown_keys(cfg[key], getattr(obj, key), f"{prefix}{key}."))
    return found


def config_from_hydra(cfg: DictConfig) -> AlgorithmConfig:
    """Composed Hydra config -> AlgorithmConfig, or a ConfigError naming the bad or unknown keys."""
    try:
        config = from_hydra(cfg)
    except ConfigError:
        raise
    except Exception as exc:  # OmegaConf reports missing values and type errors with the full key
        raise ConfigError(f"invalid config: {exc}") from None
    extra = unknown_keys(cfg, config)
    if extra:
        raise ConfigError(
            "unknown config key(s): "
            + ", ".join(extra)
            + ". They are not in the schema (a '+key=value' override adds keys the schema does not know); "
            "check the spelling or remove them. See `python train.py --help` (or `rlhydra --help`) for every valid key with its help."
        )
    return config


def config_problems(config: AlgorithmConfig) -> List[str]:
    """Every problem of the config alone as 'key: what is wrong and the fix'; empty when it is sound."""
    errors: List[str] = []
    for prefix, section in iter_sections(config):
        errors.extend(f"{prefix}{key}: {problem}" for key, problem in section.checks())
    errors.extend(_runtime_problems(config))
    return errors


def raise_problems(problems: List[str]) -> None:
    """One ConfigError listing every problem, each with its key and fix (nothing when there are none)."""
    if problems:
        raise ConfigError("invalid config:\n  - " + "\n  - ".join(problems))


def _runtime_problems(config: AlgorithmConfig) -> List[str]:
    errors = []
    if config.env_runners.num_env_runners > 0 and config.env.vectorization_mode == "async":
        errors.append(
            f"env.vectorization_mode=async with env_runners.num_env_runners={config.env_runners.num_env_runners}: "
            "runner processes are daemonic and cannot start env processes of their own. Use "
            "env.vectorization_mode=sync (the runners already sample in parallel) or env_runners.num_env_runners=0."
        )
    if config.evaluation.num_env_runners > 0 and config.env.vectorization_mode == "async":
        errors.append(
            f"env.vectorization_mode=async with evaluation.num_env_runners={config.evaluation.num_env_runners}: "
            "evaluation workers are daemonic and cannot start env processes of their own. Use "
            "env.vectorization_mode=sync or evaluation.num_env_runners=0."
        )
    learner = config.learner
    errors.extend(accelerator_problems(learner.accelerator, learner.devices))
    if learner.devices * learner.num_nodes > 1 and isinstance(config.algorithm, OffPolicyTrainingConfig):
        errors.append(
            f"learner.devices={learner.devices}, learner.num_nodes={learner.num_nodes}: {config.algorithm.name} "
            "learns on one device for now (data-parallel learners exist for on-policy algorithms such as PPO); "
            "use learner.devices=1 learner.num_nodes=1."
        )
    return errors


def accelerator_problems(accelerator: str, devices: int) -> List[str]:
    """Can this machine run the learner on `accelerator` (cuda/gpu: a visible CUDA GPU per device; mps: Apple's
    Metal backend, macOS only)? One 'key=value: why, and the fix' line per problem (also the command line's check)."""
    errors = []
    if accelerator in ("cuda", "gpu"):
        if not torch.cuda.is_available():
            errors.append(
                f"learner.accelerator={accelerator}: no CUDA GPU is available on this machine. "
                "Use learner.accelerator=cpu (Python: .learners(num_gpus_per_learner=0))."
            )
        elif devices > torch.cuda.device_count():
            errors.append(
                f"learner.devices={devices}: only {torch.cuda.device_count()} GPU(s) visible. "
                f"Use learner.devices={torch.cuda.device_count()} or fewer."
            )
    elif accelerator == "mps" and not torch.backends.mps.is_available():
        errors.append(
            "learner.accelerator=mps: Apple's MPS backend is not available on this machine (it exists only on "
            "macOS with Apple silicon). Use learner.accelerator=cpu, or cuda on a machine with an NVIDIA GPU."
        )
    return errors
