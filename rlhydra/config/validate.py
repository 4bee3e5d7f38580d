"""One validation step, run before any env or worker starts: ranges, unknown keys, devices, module, env id."""
from __future__ import annotations

import importlib
import inspect
from dataclasses import fields, is_dataclass
from typing import Any, Dict, List, Tuple

from omegaconf import MISSING, DictConfig

from rlhydra.config.algorithm_config import AlgorithmConfig
from rlhydra.config.registry import get_algorithm_spec
from rlhydra.config.schema import ConfigError, iter_sections


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


def check_hydra_config(cfg: DictConfig) -> AlgorithmConfig:
    """Composed Hydra config -> validated AlgorithmConfig, or ConfigError naming every bad key."""
    from rlhydra.config.algorithm_config import from_hydra

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
            "check the spelling or remove them. See `python train.py --cfg job` for every valid key."
        )
    validate(config)
    return config


def validate(config: AlgorithmConfig) -> None:
    """Raise one ConfigError listing every problem, each with its key and fix."""
    errors = config_problems(config)
    if errors:
        raise ConfigError("invalid config:\n  - " + "\n  - ".join(errors))


def config_problems(config: AlgorithmConfig) -> List[str]:
    """Every problem of a config as 'key: what is wrong and the fix'; empty when it is sound."""
    errors: List[str] = []
    for prefix, section in iter_sections(config):
        errors.extend(f"{prefix}{key}: {problem}" for key, problem in section.checks())
    errors.extend(_check_runtime(config))
    errors.extend(_check_connectors(config))
    errors.extend(_check_module(config))
    if not errors:  # the env is only made once the rest of the config is sound
        errors.extend(_check_env(config))
    else:  # but a misspelt env id is reported with the rest (it costs no env)
        errors.extend(_check_env_id(config))
    errors.extend(_check_buffer(config))
    return errors


def _check_env(config: AlgorithmConfig) -> List[str]:
    """The env id resolves, the env constructs with its kwargs and wrappers, and its spaces suit the algorithm."""
    from rlhydra.env.make import env_spaces

    problems = _check_env_id(config)
    if problems:
        return problems
    try:  # constructs one env object to read its spaces; nothing is reset or stepped
        obs_space, act_space = env_spaces(config.env)
    except ConfigError as exc:
        return [str(exc)]
    except Exception as exc:
        return [f"env: {config.env.id} could not be made with env.kwargs={config.env.kwargs} and "
                f"env.wrappers={config.env.wrappers}: {type(exc).__name__}: {exc}"]
    problems = space_problems(config, obs_space, act_space)
    if config.evaluation.video:
        from rlhydra.env.video import check_video_support

        problem = check_video_support(config.env, config.evaluation.video_format)
        problems += [problem] if problem else []
    return problems


def _check_env_id(config: AlgorithmConfig) -> List[str]:
    """The env id is set and registered (suggesting close ones when it is not)."""
    from rlhydra.env.make import resolve_env_spec

    if config.env.id in (MISSING, "", None):
        return ["env.id: not set. Pick an env group (env=cartpole) or set env.id=<Gymnasium id>."]
    try:
        resolve_env_spec(config.env.id)
    except ConfigError as exc:
        return [str(exc)]
    return []


def space_problems(config: AlgorithmConfig, obs_space: Any, act_space: Any) -> List[str]:
    """Can the algorithm and its module serve these spaces? Each problem names what is needed."""
    import gymnasium as gym

    spec = get_algorithm_spec(config.algorithm.name)
    kind = "discrete" if isinstance(act_space, gym.spaces.Discrete) else "continuous"
    if kind not in spec.action_spaces:
        return [f"algorithm={spec.name} needs {' or '.join(spec.action_spaces)} actions, but env "
                f"'{config.env.id}' has {kind} actions ({act_space}). Pick an algorithm that supports "
                "them or another env."]
    target, _ = module_target_and_kwargs(config.module, spec.default_module)
    try:
        cls = import_object(target)
    except (ImportError, AttributeError, ValueError):
        return []  # reported by the module check
    problem = cls.check_spaces(obs_space, act_space) if hasattr(cls, "check_spaces") else None
    if problem:
        return [f"module: {problem} (env.id={config.env.id}). Pick another env or module._target_."]
    return []


def _check_runtime(config: AlgorithmConfig) -> List[str]:
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
    if learner.accelerator in ("cuda", "gpu"):
        import torch

        if not torch.cuda.is_available():
            errors.append(
                f"learner.accelerator={learner.accelerator}: no CUDA GPU is available on this machine. "
                "Use learner.accelerator=cpu (Python: .learners(num_gpus_per_learner=0))."
            )
        elif learner.devices > torch.cuda.device_count():
            errors.append(
                f"learner.devices={learner.devices}: only {torch.cuda.device_count()} GPU(s) visible. "
                f"Use learner.devices={torch.cuda.device_count()} or fewer."
            )
    from rlhydra.config.schema import OffPolicyTrainingConfig

    if learner.devices * learner.num_nodes > 1 and isinstance(config.algorithm, OffPolicyTrainingConfig):
        errors.append(
            f"learner.devices={learner.devices}, learner.num_nodes={learner.num_nodes}: {config.algorithm.name} "
            "learns on one device for now (data-parallel learners exist for on-policy algorithms such as PPO); "
            "use learner.devices=1 learner.num_nodes=1."
        )
    return errors


def _check_module(config: AlgorithmConfig) -> List[str]:
    spec = get_algorithm_spec(config.algorithm.name)
    target, kwargs = module_target_and_kwargs(config.module, spec.default_module)
    from rlhydra.core.rl_module import RLModule

    return check_target("module", target, kwargs, ("observation_space", "action_space"), RLModule)


def _check_connectors(config: AlgorithmConfig) -> List[str]:
    from rlhydra.connectors.pipeline import Connector

    errors = []
    for key in ("env_to_module_connectors", "module_to_env_connectors"):
        for i, node in enumerate(getattr(config.env_runners, key)):
            kwargs = {"_target_": node} if isinstance(node, str) else dict(node)
            target = kwargs.pop("_target_", None)
            if not target:
                errors.append(f"env_runners.{key}[{i}]: needs a _target_ (a rlhydra.connectors.Connector class)")
                continue
            errors += check_target(f"env_runners.{key}[{i}]", target, kwargs, (), Connector)
    return errors


def _check_buffer(config: AlgorithmConfig) -> List[str]:
    from rlhydra.config.schema import OffPolicyTrainingConfig

    if not isinstance(config.algorithm, OffPolicyTrainingConfig):
        return []
    target, kwargs = module_target_and_kwargs(config.buffer, "rlhydra.buffers.ReplayBuffer")
    from rlhydra.buffers import ReplayBuffer

    errors = check_target("buffer", target, kwargs, ("n_step", "gamma", "device", "seed", "batch_size"), ReplayBuffer)
    if "capacity" in kwargs and (not isinstance(kwargs["capacity"], int) or kwargs["capacity"] < 1):
        errors.append(f"buffer.capacity: must be a positive integer, got {kwargs['capacity']}")
    return errors


def check_target(key: str, target: str, kwargs: Dict[str, Any], supplied: Tuple[str, ...], base: type) -> List[str]:
    """Problems with a `_target_` node: the class must import, be a `base`, and take every given key."""
    try:
        cls = import_class(target, base, key)
    except ConfigError as exc:
        return [str(exc)]
    except (ImportError, AttributeError, ValueError) as exc:
        return [f"{key}._target_={target}: cannot import it ({exc}). Give 'package.module.ClassName' "
                "and make your package importable (pip install -e . or PYTHONPATH)."]
    params = inspect.signature(cls).parameters
    errors = [f"{key}.{k}: set by rlhydra from the algorithm config (algorithm.n_step, algorithm.gamma, "
              "algorithm.train_batch_size, seed, learner.accelerator); remove it here" for k in kwargs if k in supplied]
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return errors
    valid = [k for k in params if k not in supplied and k != "self"]
    return errors + [f"{key}.{k}: not an argument of {target}. Valid: {', '.join(valid) or '(none)'}."
                     for k in kwargs if k not in params]


def import_class(path: str, base: type, key: str) -> type:
    """The class at `path`, which must subclass `base`: a config (a checkpoint's too) can name rlhydra's kinds of
    objects only, never an arbitrary callable such as a shell command."""
    obj = import_object(path)
    if not (isinstance(obj, type) and issubclass(obj, base)):
        raise ConfigError(f"{key}._target_={path}: is not a {base.__module__}.{base.__qualname__} subclass")
    return obj


def import_object(path: str) -> Any:
    """`package.module.Name` -> the object, importing the module."""
    module_name, _, name = path.rpartition(".")
    if not module_name:
        raise ValueError(f"'{path}' is not a dotted path")
    return getattr(importlib.import_module(module_name), name)


def module_target_and_kwargs(module: Dict[str, Any], default_target: str) -> Tuple[str, Dict[str, Any]]:
    """Resolve the `module` node: the class path (or the algorithm's default) and the non-null kwargs."""
    node = dict(module)
    target = node.pop("_target_", None) or default_target
    node.pop("_convert_", None)
    return target, {k: v for k, v in node.items() if v is not None}
