"""`_target_` nodes: import the class a config names, check it is the right kind and takes the given keys."""
from __future__ import annotations

import importlib
import inspect
from typing import Any, Dict, List, Tuple

from rlhydra.config.schema import ConfigError


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
