"""Config values against Python annotations: the one type check shared by the schema sections (the Python builder's
door), the `_target_` nodes (module, buffer, connectors: their constructor's annotations) and the command line.

`fit(value, annotation)` understands int, float, bool, str, Optional/Union, Literal, List/Sequence/Tuple and
Dict/Mapping; any other annotation (a class such as `gym.Space`, `Any`, none at all) is not checked. A float with
an integral value fits an int and comes back as that int (`1e5` -> 100000), also inside a list.
"""
from __future__ import annotations

import collections.abc
import inspect
import math
import types
import typing
from typing import Any, Optional, Tuple

_SEQUENCES = (list, tuple, collections.abc.Sequence, collections.abc.MutableSequence)
_MAPPINGS = (dict, collections.abc.Mapping, collections.abc.MutableMapping)
_UNCHECKED = "(not checked)"


def fit(value: Any, annotation: Any) -> Tuple[Optional[str], Any]:
    """(None, the value as the annotation wants it) when the value fits; else (what was expected, the value).

    ``fit(1e5, int) == (None, 100000)``; ``fit(128, Sequence[int]) == ("a list of integers, e.g. [64, 64]", 128)``.
    """
    ok, converted = _fit(value, annotation)
    if ok:
        return None, converted
    return describe(annotation), value


def describe(annotation: Any) -> str:
    """What a value of this annotation looks like, for messages and `--help` ("an integer", "true or false" ...)."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if _is_union(annotation):
        parts = [describe(a) for a in args if a is not type(None)]
        return " or ".join(parts) + (" or null" if type(None) in args else "")
    if origin is typing.Literal:
        return "one of " + ", ".join(map(str, args))
    if annotation is bool:
        return "true or false"
    if annotation is int:
        return "an integer"
    if annotation is float:
        return "a number"
    if annotation is str:
        return "a string"
    if annotation in _SEQUENCES or origin in _SEQUENCES:
        if origin is tuple and args and args[-1] is not Ellipsis:
            return f"a list of {len(args)} values ({', '.join(describe(a) for a in args)})"
        if args and args[0] is int:
            return "a list of integers, e.g. [64, 64]"
        if args and args[0] is float:
            return "a list of numbers, e.g. [0.5, 1.0]"
        return "a list, e.g. [a, b]"
    if annotation in _MAPPINGS or origin in _MAPPINGS:
        return "a mapping, e.g. {a: 1}"
    return _UNCHECKED


def type_name(annotation: Any) -> str:
    """A short readable name of an annotation for `--help`: int, float, bool, str, list[int], int | None ..."""
    if annotation is inspect.Parameter.empty:
        return "any"
    if _is_union(annotation):
        return " | ".join("None" if a is type(None) else type_name(a) for a in typing.get_args(annotation))
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return "{" + ", ".join(map(str, args)) + "}"
    if origin in _SEQUENCES and args:
        return f"list[{type_name(args[0])}]"
    if origin in _MAPPINGS and args:
        return f"dict[{', '.join(type_name(a) for a in args)}]"
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def is_checked(annotation: Any) -> bool:
    """Whether `fit` checks every value of this annotation (no part of it is a class it cannot look into)."""
    return _UNCHECKED not in describe(annotation)


def config_can_hold(annotation: Any) -> bool:
    """Whether a config value can be of this annotation: int, float, bool, str, lists, mappings, Literal, or a
    Union with one of them (`str | torch.device`); not a bare class such as `gym.Space` or `nn.Module`."""
    return describe(annotation) != _UNCHECKED


def _is_union(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


def _fit(value: Any, annotation: Any) -> Tuple[bool, Any]:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if _is_union(annotation):
        if value is None:
            return type(None) in args, value
        members = [a for a in args if a is not type(None)]
        for member in members:
            ok, converted = _fit(value, member)
            if ok:
                return True, converted
        return any(not is_checked(m) for m in members), value  # a member we cannot check may take it
    if origin is typing.Literal:
        return any(value == a and type(value) is type(a) for a in args), value
    if annotation is bool:
        return isinstance(value, bool), value
    if annotation is int:
        if isinstance(value, bool):
            return False, value
        if isinstance(value, int):
            return True, value
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            return True, int(value)
        return False, value
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool), value
    if annotation is str:
        return isinstance(value, str), value
    if annotation in _SEQUENCES or origin in _SEQUENCES:
        return _fit_sequence(value, origin, args)
    if annotation in _MAPPINGS or origin in _MAPPINGS:
        return isinstance(value, collections.abc.Mapping), value
    return True, value  # Any, a class, no annotation: not checked here


def _fit_sequence(value: Any, origin: Any, args: Tuple[Any, ...]) -> Tuple[bool, Any]:
    if isinstance(value, (str, bytes)) or not isinstance(value, collections.abc.Sequence):
        return False, value
    items = list(value)
    if origin is tuple and args and args[-1] is not Ellipsis:
        if len(items) != len(args):
            return False, value
        element_types = list(args)
    else:
        element_types = [args[0] if args else Any] * len(items)
    converted = []
    for item, element_type in zip(items, element_types):
        ok, item = _fit(item, element_type)
        if not ok:
            return False, value
        converted.append(item)
    return True, converted
