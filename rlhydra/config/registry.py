"""Registry of algorithms, open by name: a folder under rlhydra/algorithms/, or a package's entry point.

An algorithm `<name>` is found, with no list to extend, as

- the subpackage `rlhydra.algorithms.<name>` (its YAML: rlhydra/conf/algorithm/<name>.yaml), or
- an installed package's entry point `<name>` in the group `rlhydra.algorithms`, whose value is a module
  (`reinforce = "rlhydra_reinforce"` under `[project.entry-points."rlhydra.algorithms"]` in pyproject.toml).
  Its Hydra node `algorithm/<name>` is its training-config dataclass, so it needs no YAML.

Either way, importing the module registers the algorithm: it calls `register_algorithm(AlgorithmSpec(...))`.
A folder wins over an entry point of the same name.
"""
from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import sys
import warnings
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Dict, List, Optional, Tuple, Type

from hydra.core.config_store import ConfigStore

from rlhydra.config.schema import ConfigError, TrainingConfig

ENTRY_POINT_GROUP = "rlhydra.algorithms"
BUILTIN_PACKAGE = "rlhydra.algorithms"


@dataclass(frozen=True)
class AlgorithmSpec:
    """What the framework needs to know about one algorithm."""

    name: str
    training_config: Type[TrainingConfig]
    algorithm_class: type  # a subclass of rlhydra.core.algorithm.Algorithm
    default_module: str  # import path of the default RLModule class
    action_spaces: Tuple[str, ...]  # "discrete" and/or "continuous"
    module_apis: Tuple[type, ...] = ()  # what its learner calls on the module (rlhydra.models.apis); checked
    recurrent_module: Optional[str] = None  # import path of the RLModule `module.use_lstm=true` picks; None: refused
    multi_agent_class: Optional[type] = None  # its Algorithm for env.api=pettingzoo (several modules); None: none


_REGISTRY: Dict[str, AlgorithmSpec] = {}


def register_algorithm(spec: AlgorithmSpec) -> None:
    """Make an algorithm known to the builder, the CLI (Hydra's ConfigStore) and checkpoint loading."""
    _REGISTRY[spec.name] = spec
    _store(spec, with_node=not _is_folder(spec.name))


def get_algorithm_spec(name: str) -> AlgorithmSpec:
    """Look an algorithm up by name, importing its folder or entry point; the error lists every valid name."""
    if name not in _REGISTRY:
        if _is_folder(name):
            importlib.import_module(f"{BUILTIN_PACKAGE}.{name}")
            if name not in _REGISTRY:
                raise ConfigError(
                    f"rlhydra/algorithms/{name}/ registered no algorithm: every subpackage of {BUILTIN_PACKAGE} is "
                    f"an algorithm, and its __init__.py must call register_algorithm(AlgorithmSpec(name='{name}', "
                    "...)). Shared helpers belong outside rlhydra/algorithms/."
                )
        elif name in _entry_points():
            _load_entry_point(_entry_points()[name])
    if name not in _REGISTRY:
        raise ConfigError(
            f"algorithm.name: unknown algorithm '{name}'. Available: {', '.join(available_algorithms())}. "
            f"An algorithm is a folder rlhydra/algorithms/<name>/ or an installed package's entry point <name> "
            f"in the group '{ENTRY_POINT_GROUP}'."
        )
    return _REGISTRY[name]


def _store(spec: AlgorithmSpec, with_node: bool) -> None:
    """Store `algorithm/base_<name>` in Hydra's ConfigStore (the schema its YAML extends) and, `with_node`, the
    option `algorithm/<name>` itself: the training-config dataclass, for algorithms that ship no YAML."""
    cs = ConfigStore.instance()
    cs.store(group="algorithm", name=f"base_{spec.name}", node=spec.training_config)
    if with_node:
        cs.store(group="algorithm", name=spec.name, node=spec.training_config)


def registered_algorithms() -> Dict[str, AlgorithmSpec]:
    """Every algorithm by name: the built-in folders, installed entry points and any registered in code.

    Imports them all. An entry point that fails is skipped with a warning (one broken package must not break
    `import rlhydra`); get_algorithm_spec(name) raises its error.
    """
    for name in available_algorithms():
        if name in _REGISTRY:
            continue
        if _is_folder(name):
            get_algorithm_spec(name)
        else:
            try:
                _load_entry_point(_entry_points()[name])
            except (ImportError, ConfigError) as exc:
                warnings.warn(str(exc), stacklevel=2)
    return dict(_REGISTRY)


def no_multi_agent_version(name: str) -> str:
    """The error for env.api=pettingzoo with an algorithm that has no multi-agent version, naming those that do."""
    *others, last = [n for n, spec in sorted(registered_algorithms().items()) if spec.multi_agent_class is not None]
    return (f"env.api=pettingzoo: algorithm={name} has no multi-agent version; use algorithm="
            f"{', '.join(others) + ' or ' if others else ''}{last}")


def available_algorithms() -> List[str]:
    """The names of every algorithm that can be used, sorted, without importing any."""
    return sorted(set(_folders()) | set(_entry_points()) | set(_REGISTRY))


def _folders() -> List[str]:
    package = importlib.import_module(BUILTIN_PACKAGE)
    return [info.name for info in pkgutil.iter_modules(package.__path__) if info.ispkg]


def _is_folder(name: str) -> bool:
    if not name.isidentifier():
        return False
    spec = importlib.util.find_spec(f"{BUILTIN_PACKAGE}.{name}")
    return spec is not None and spec.submodule_search_locations is not None  # a subpackage, not a module


def _entry_points() -> Dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def _load_entry_point(ep: EntryPoint) -> None:
    """Import the entry point's module; it registers the algorithm."""
    package = _distribution(ep)
    try:
        ep.load()
    except Exception as exc:
        raise ImportError(
            f"algorithm '{ep.name}': the entry point '{ep.name} = {ep.value}' (group '{ENTRY_POINT_GROUP}'"
            f"{package}) failed to import: {type(exc).__name__}: {exc}. Fix that package or uninstall it."
        ) from exc
    if ep.name not in _REGISTRY and not _initializing(ep.module):
        raise ConfigError(
            f"algorithm '{ep.name}': importing '{ep.value}' (the entry point '{ep.name}' of group "
            f"'{ENTRY_POINT_GROUP}'{package}) registered no algorithm named '{ep.name}'. The module must call "
            f"register_algorithm(AlgorithmSpec(name='{ep.name}', ...)), and the names must match."
        )


def _distribution(ep: EntryPoint) -> str:
    return f", package {ep.dist.name}" if ep.dist is not None else ""


def _initializing(module: str) -> bool:
    """Whether `module` is still being imported: the package imported rlhydra, which is discovering it.

    It registers its algorithm when its own import finishes.
    """
    loaded = sys.modules.get(module)
    return loaded is not None and getattr(getattr(loaded, "__spec__", None), "_initializing", False)
