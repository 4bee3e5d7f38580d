"""Every constructor argument of every shipped module, buffer, connector and learner is reachable from the config
(TorchRL's test_configs habit: an argument with no config key is silently unreachable through Hydra).

Each argument is set on the command line as a user would, `module.<arg>=<its default>` without `+`, passed
through the pre-check and Hydra's compose, and must land in the composed config and pass the class's check.
What rlhydra passes itself is listed here with the config key it comes from; a new constructor argument that is
neither reachable nor listed fails the test.
"""
from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from typing import Any, Dict, Iterator, List, Tuple

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.override_parser.types import Override
from omegaconf import OmegaConf

import rlhydra
from rlhydra.config import targets
from rlhydra.config.overrides import check_command_line
from rlhydra.config.registry import registered_algorithms
from rlhydra.config.targets import check_target, constructor_arguments
from rlhydra.config.types import config_can_hold, fit
from tests.conftest import CONF

# Constructor arguments rlhydra passes itself, and where their values come from (targets.SUPPLIED_FROM says the
# same to users who set them).
MODULE_SUPPLIED = {
    "observation_space": "the env's observation space after the env->module connectors, known at build",
    "action_space": "the env's action space, known at build",
}
BUFFER_SUPPLIED = {
    "n_step": "algorithm.n_step (an algorithm hyperparameter: the learner discounts with it too)",
    "gamma": "algorithm.gamma",
    "batch_size": "algorithm.train_batch_size (the learner's batch)",
    "device": "learner.accelerator: the learner's device",
    "seed": "seed: each buffer's generator is seeded from the run's seed",
}
CONNECTOR_SUPPLIED = {  # (class, argument): what rlhydra gives it when it builds that connector
    ("CastObservations", "observation_space"): "the observation space after the user's env->module connectors",
    ("NormalizeObservations", "shape"): "the observation space's shape (env_runners.normalize_obs switches it)",
    ("ClipActions", "action_space"): "the env's action space (env_runners.clip_actions switches it)",
    ("UnsquashActions", "action_space"): "the env's action space (for modules whose actions are tanh-squashed)",
    ("SampleActions", "dist_cls"): "the module's action_dist_cls()",
    ("AddValuePredictions", "module"): "the learner's module",
    ("ToDevice", "device"): "the learner's device (learner.accelerator)",
    ("ConnectorPipeline", "connectors"): "the connectors of a pipeline: name them in env_runners.*_connectors",
}
LEARNER_SUPPLIED = {
    "config": "the composed AlgorithmConfig itself: a learner reads algorithm.* from it",
    "module": "the RLModule built from module.*",
    "fabric": "the launched Lightning Fabric (learner.* settings), or None",
}


def _import_all(package: str) -> None:
    module = importlib.import_module(package)
    for info in pkgutil.walk_packages(module.__path__, f"{package}."):
        importlib.import_module(info.name)


def _subclasses(base: type) -> List[type]:
    found, todo = [], list(base.__subclasses__())
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        if cls.__module__.startswith("rlhydra.") and cls not in found:
            found.append(cls)
    return sorted(found, key=lambda c: f"{c.__module__}.{c.__qualname__}")


def _path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


for _package in ("rlhydra.models", "rlhydra.algorithms", "rlhydra.buffers", "rlhydra.connectors"):
    _import_all(_package)
SPECS = registered_algorithms()
MODULES = _subclasses(rlhydra.TorchRLModule)
BUFFERS = [targets.import_object(targets.BUFFER_BASE)] + _subclasses(targets.import_object(targets.BUFFER_BASE))
CONNECTORS = _subclasses(targets.import_object(targets.CONNECTOR_BASE))


def _sample(argument: targets.Argument) -> Any:
    """The value to set: the default where the command line can write it, else one of the declared type; empty
    when the argument's annotation is none a config can hold (a class, no annotation)."""
    if not config_can_hold(argument.annotation):
        return inspect.Parameter.empty
    default = argument.default
    if isinstance(default, tuple):
        default = list(default)
    if default is not None and _writable(default) and fit(default, argument.annotation)[0] is None:
        return default
    for value in (4, 0.5, True, "cpu", [4, 4], [[4, 4, 1]], {"key": {"size": 4}}):
        if fit(value, argument.annotation)[0] is None and targets.value_problem(argument, value) is None:
            return value
    return inspect.Parameter.empty


def _writable(value: Any) -> bool:
    if isinstance(value, (list, tuple)):
        return all(_writable(v) for v in value)
    return value is None or isinstance(value, (bool, int, float, str))


def _compose(argv: List[str]):
    """The config as `python train.py <argv>` composes it, through the pre-check."""
    lines = check_command_line(argv, CONF).argv
    with initialize_config_dir(version_base="1.3", config_dir=CONF):
        return compose("config", overrides=lines)


def _arguments(cls: type, supplied: Dict[str, str]) -> Iterator[Tuple[str, targets.Argument]]:
    arguments, _ = constructor_arguments(cls)
    for name, argument in arguments.items():
        if name not in supplied:
            yield name, argument


def test_discovery_finds_what_rlhydra_ships():
    assert {c.__name__ for c in MODULES} >= {"ActorCriticModule", "PPOModule", "SACModule", "TD3Module", "DQNModule"}
    assert {_path(c) for c in MODULES} >= {spec.default_module for spec in SPECS.values()}
    assert {c.__name__ for c in BUFFERS} == {"ReplayBuffer", "PrioritizedReplayBuffer"}
    assert {"NormalizeObservations", "SampleActions", "GeneralAdvantageEstimation"} <= {c.__name__ for c in CONNECTORS}


def _owner_algorithm(cls: type) -> str:
    return next((name for name, spec in sorted(SPECS.items()) if spec.default_module == _path(cls)), "ppo")


@pytest.mark.parametrize("cls", MODULES, ids=[c.__name__ for c in MODULES])
def test_every_module_argument_is_reachable_as_module_arg_without_plus(cls):
    values = {name: _sample(argument) for name, argument in _arguments(cls, MODULE_SUPPLIED)}
    unreachable = [name for name, value in values.items() if value is inspect.Parameter.empty]
    assert not unreachable, f"{_path(cls)}: arguments with no config value: {unreachable}; give them a config " \
                            "type, or list them in MODULE_SUPPLIED with where rlhydra takes them from"
    argv = [f"algorithm={_owner_algorithm(cls)}", f"module._target_={_path(cls)}"]
    argv += [f"module.{name}={Override._get_value_element_as_str(value)}" for name, value in values.items()]
    node = OmegaConf.to_container(_compose(argv).module)
    for name, value in values.items():
        assert node.get(name) == value, f"module.{name}={value!r} did not reach the composed config"
    kwargs = {k: v for k, v in node.items() if k != "_target_" and v is not None}
    assert check_target("module", _path(cls), kwargs, tuple(MODULE_SUPPLIED), targets.MODULE_BASE) == []
    assert set(constructor_arguments(cls)[0]) - set(values) == set(MODULE_SUPPLIED)


@pytest.mark.parametrize("cls", BUFFERS, ids=[c.__name__ for c in BUFFERS])
def test_every_buffer_argument_is_reachable_as_buffer_arg_without_plus(cls):
    values = {name: _sample(argument) for name, argument in _arguments(cls, BUFFER_SUPPLIED)}
    assert inspect.Parameter.empty not in values.values()
    argv = ["algorithm=dqn", f"buffer._target_={_path(cls)}"]
    argv += [f"buffer.{name}={Override._get_value_element_as_str(value)}" for name, value in values.items()]
    node = OmegaConf.to_container(_compose(argv).buffer)
    for name, value in values.items():
        assert node.get(name) == value, f"buffer.{name}={value!r} did not reach the composed config"
    kwargs = {k: v for k, v in node.items() if k != "_target_"}
    assert check_target("buffer", _path(cls), kwargs, tuple(BUFFER_SUPPLIED), targets.BUFFER_BASE) == []
    assert set(constructor_arguments(cls)[0]) - set(values) == set(BUFFER_SUPPLIED)
    assert set(BUFFER_SUPPLIED) == set(targets.BUFFER_SUPPLIED) and set(MODULE_SUPPLIED) == set(targets.MODULE_SUPPLIED)


@pytest.mark.parametrize("cls", CONNECTORS, ids=[c.__name__ for c in CONNECTORS])
def test_every_connector_argument_is_reachable_in_env_runners_connectors_or_supplied(cls):
    arguments, _ = constructor_arguments(cls)
    supplied = {name for (owner, name) in CONNECTOR_SUPPLIED if owner == cls.__name__}
    values = {name: _sample(argument) for name, argument in arguments.items() if name not in supplied}
    unreachable = [name for name, value in values.items() if value is inspect.Parameter.empty]
    assert not unreachable, f"{_path(cls)}: arguments with no config value: {unreachable}; give them a config " \
                            "type, or list them in CONNECTOR_SUPPLIED with what rlhydra passes"
    if supplied & {n for n, a in arguments.items() if a.default is inspect.Parameter.empty}:
        return  # rlhydra builds it with what only it has (a space, the module); its other arguments have defaults
    node = {"_target_": _path(cls), **values}
    override = f"env_runners.env_to_module_connectors=[{Override._get_value_element_as_str(node)}]"
    composed = OmegaConf.to_container(_compose([override]).env_runners.env_to_module_connectors)
    assert composed == [node]
    kwargs = {k: v for k, v in node.items() if k != "_target_"}
    assert check_target("env_runners.env_to_module_connectors[0]", _path(cls), kwargs, (),
                        targets.CONNECTOR_BASE) == []


def test_an_argument_no_config_can_hold_is_unreachable():
    """The check above fails for a module argument that is a class (or unannotated) and not listed as supplied."""
    from torch import nn

    class Planted(rlhydra.TorchRLModule):
        def __init__(self, observation_space: Any, action_space: Any, *, net: nn.Module = None, width=3,
                     depth: int = 2) -> None:
            super().__init__(observation_space, action_space)

    samples = {name: _sample(argument) for name, argument in _arguments(Planted, MODULE_SUPPLIED)}
    assert samples == {"net": inspect.Parameter.empty, "width": inspect.Parameter.empty, "depth": 2}


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_learner_takes_only_what_rlhydra_passes_and_reads_only_declared_hyperparameters(name):
    spec = SPECS[name]
    learner = spec.algorithm_class.learner_class
    parameters = list(inspect.signature(learner.__init__).parameters)[1:]
    assert set(parameters) <= set(LEARNER_SUPPLIED), f"{learner.__name__}({parameters}): an argument that no " \
                                                     "config key reaches; read it from config.algorithm instead"
    fields = {f for f in OmegaConf.structured(spec.training_config).keys()}
    read = set()
    for cls in [*learner.__mro__, *spec.algorithm_class.__mro__]:
        if not cls.__module__.startswith("rlhydra"):
            continue
        source = inspect.getsource(cls)
        read |= set(re.findall(r"\bhp\.([a-z_]+)\b", source))
        read |= set(re.findall(r"\bconfig\.algorithm\.([a-z_]+)\b", source))
    unknown = read - fields - {"name"}
    assert not unknown, f"{name}: the learner/algorithm read algorithm.{sorted(unknown)}, which " \
                        f"{spec.training_config.__name__} does not declare"
