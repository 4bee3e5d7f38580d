"""`python train.py --help`: the config groups with their options, and every key of the composed config with its
current value and its one-line help (CleanRL's habit: the help is the comment where the field is declared).

`module.*` and `buffer.*` list the constructor arguments of the node's `_target_` class, with the class's
defaults where the config leaves them null.
"""
from __future__ import annotations

import inspect
from dataclasses import is_dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

from omegaconf import DictConfig, ListConfig, OmegaConf

from rlhydra.config.comments import class_summary, field_help
from rlhydra.config.registry import get_algorithm_spec
from rlhydra.config.schema import ConfigError
from rlhydra.config.targets import (
    BUFFER_SUPPLIED,
    DEFAULT_BUFFER,
    MODULE_SUPPLIED,
    constructor_arguments,
    import_object,
    module_class_path,
)
from rlhydra.config.types import type_name

TARGET_NODES = {"module": MODULE_SUPPLIED, "buffer": BUFFER_SUPPLIED}  # free-form nodes typed by their class


def help_text(cfg: DictConfig, groups: Dict[str, List[str]], choices: Dict[str, Optional[str]], prog: str) -> str:
    """The whole `--help` page for a composed config (`cfg` without its `hydra` node)."""
    chosen = " ".join(f"{g}={choices[g]}" for g in ("algorithm", "env") if choices.get(g))
    lines = [
        "rlhydra: train an agent; the config is composed by Hydra from the groups below and your overrides.",
        "",
        f"Usage: {prog} [group=option ...] [key=value ...]    e.g. {prog} algorithm=sac env=pendulum algorithm.lr=1e-3",
        "  -m / --multirun: a sweep (seed=0,1,2)   --cfg job: print the composed config   --hydra-help: Hydra's flags",
        "",
        "Config groups (group=option, * marks the current choice):",
    ]
    width = max((len(g) for g in groups), default=0) + 2
    for group, options in groups.items():
        current = choices.get(group)
        marked = [f"{o}*" if o == current else o for o in options]
        if current and current not in options:
            marked.append(f"(current: {current}{', no such file: skipped' if group == 'tuned' else ''})")
        lines.append(f"  {group.ljust(width)}{'  '.join(marked) or '(none)'}")
    lines += ["", f"Keys ({chosen}): key, current value, help. Set one with key=value; a module.* or buffer.* value",
              "marked * is the class's default, taken where the config leaves the key null.", ""]
    rows = config_rows(cfg)
    lines += format_rows(rows)
    return "\n".join(lines)


Row = Tuple[str, str, str]  # (key, value, help); a row with an empty value and help is a section heading


def config_rows(cfg: DictConfig) -> List[Row]:
    """Every key of a composed config, section by section."""
    rows: List[Row] = []
    root_type = OmegaConf.get_type(cfg)
    root_help = field_help(root_type) if is_dataclass(root_type) else {}
    plain = []
    for key in cfg.keys():
        if key == "hydra":
            continue
        node = cfg._get_node(key)
        if key in TARGET_NODES and isinstance(node, DictConfig):
            rows.append((f"{key}: {root_help.get(key, '')}", "", ""))
            rows += target_rows(key, node, cfg)
        elif isinstance(node, DictConfig) and is_dataclass(OmegaConf.get_type(node)):
            section_type = OmegaConf.get_type(node)
            rows.append((f"{key}: {class_summary(section_type) or root_help.get(key, '')}", "", ""))
            rows += section_rows(node, f"{key}.")
        else:
            plain.append((key, _value_text(node), root_help.get(key, "")))
    if plain:
        rows.append(("run:", "", ""))
        rows += [(f"  {k}", v, h) for k, v, h in plain]
    return rows


def section_rows(node: DictConfig, prefix: str) -> List[Row]:
    """The keys of a schema section (and of the sections nested in it) with the help of their dataclass fields."""
    helps = field_help(OmegaConf.get_type(node))
    rows: List[Row] = []
    for key in node.keys():
        child = node._get_node(key)
        if isinstance(child, DictConfig) and is_dataclass(OmegaConf.get_type(child)):
            rows += section_rows(child, f"{prefix}{key}.")
        else:
            rows.append((f"  {prefix}{key}", _value_text(child), helps.get(key, "")))
    return rows


def target_rows(key: str, node: DictConfig, cfg: DictConfig) -> List[Row]:
    """A `module`/`buffer` node: its `_target_`, then each constructor argument (the config's value, or the
    class's default where the config leaves it null)."""
    values = OmegaConf.to_container(node, resolve=False)
    assert isinstance(values, dict)
    target = values.get("_target_")
    resolved = target or _default_target(key, cfg)
    rows: List[Row] = [(f"  {key}._target_", _text(target),
                        f"the class, package.module.Class; null: the algorithm's default ({resolved})"
                        if key == "module" else "the class, package.module.Class (a rlhydra.buffers.ReplayBuffer)")]
    try:
        cls = import_object(resolved) if resolved else None
    except (ImportError, AttributeError, ValueError) as exc:
        return rows + [(f"  {key}.<argument>", "", f"cannot import {resolved}: {exc}")]
    arguments, takes_any = constructor_arguments(cls) if isinstance(cls, type) else ({}, True)
    for name, argument in arguments.items():
        if name in TARGET_NODES[key]:
            continue
        value = values.get(name)
        if value is None and argument.default is not inspect.Parameter.empty:
            shown = f"{_text(argument.default)}*"  # the class's default
        else:
            shown = _text(value)
        rows.append((f"  {key}.{name}", shown, _join(argument.help, type_name(argument.annotation))))
    for name, value in values.items():
        if name not in arguments and not (name.startswith("_") and name.endswith("_")):
            note = "" if takes_any else f"not an argument of {resolved}"
            rows.append((f"  {key}.{name}", _text(value), note))
    return rows


def format_rows(rows: Sequence[Row]) -> List[str]:
    """Rows as aligned columns: key, value, help."""
    entries = [r for r in rows if r[1] or r[2]]
    key_width = min(max((len(r[0]) for r in entries), default=0), 44) + 2
    value_width = min(max((len(r[1]) for r in entries), default=0), 24) + 2
    lines = []
    for key, value, text in rows:
        if not value and not text:
            lines.append(key)
            continue
        line = key.ljust(key_width) + (value + "  ").ljust(value_width) + text
        lines.append(line.rstrip())
    return lines


def _default_target(key: str, cfg: DictConfig) -> Optional[str]:
    if key == "buffer":
        return DEFAULT_BUFFER
    name = OmegaConf.select(cfg, "algorithm.name", default=None)
    if not isinstance(name, str):
        return None
    try:
        spec = get_algorithm_spec(name)
        return module_class_path(cfg.module, spec.default_module, spec.recurrent_module)
    except ConfigError:
        return None


def _value_text(node: Any) -> str:
    if isinstance(node, (DictConfig, ListConfig)):
        return _text(OmegaConf.to_container(node, resolve=False))
    return _text(node._value() if hasattr(node, "_value") else node)


def _text(value: Any) -> str:
    """A value as one writes it on the command line: null, true, [64, 64], {a: 1}."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, str):
        return value if value else "''"
    return str(value)


def _join(text: str, type_text: str) -> str:
    return f"{text} ({type_text})" if text else f"({type_text})"
