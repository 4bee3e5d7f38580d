"""The command line's overrides, checked before Hydra starts a run (train.py calls `precheck_command_line`).

Hydra refuses a key the composed config lacks with "To append to your config use +key=value" (and `+key` is then
refused by the schema), and checks nothing in the free-form `module` and `buffer` nodes until the run has started.
This step composes the config as Hydra will (the config dir, --config-dir, --config-name, the group choices,
hydra.searchpath; each combination of swept groups) and looks at each `key=value` override:

- `module.<arg>` / `buffer.<arg>`: an argument of the node's `_target_` class (a null module `_target_` is the
  algorithm's default module) is taken also when the YAML does not list it: the override is handed to Hydra as
  `++module.<arg>=...`, so nobody types `+`. Its value is checked against the constructor's annotation; a key
  the class does not take, or one rlhydra passes itself, is refused.
- any other key the composed config lacks is refused, with the closest existing keys ("did you mean") and, for
  RLlib's and Stable-Baselines3's names, ours (`algorithm.ent_coef` -> `algorithm.entropy_coeff`); a key inside
  a free-form mapping (`env.kwargs.<name>`) is taken as `++` too.
- an int key given an integral float (`total_steps=1e5`) gets the int; a value of the wrong type is refused.

Group choices, `~key`, `+key`, `++key`, sweeps (`-m a=1,2`, `range(...)`, `choice(...)`, Optuna's
`interval(...)`), `hydra.*` and --config-dir YAML pass as Hydra reads them; what cannot be composed here (a
misspelt group option, a malformed override) is left to Hydra, which reports it itself.
"""
from __future__ import annotations

import argparse
import importlib.util
import itertools
import os
import shutil
import sys
import warnings
from dataclasses import dataclass, is_dataclass
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple

from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra._internal.utils import create_config_search_path, get_args_parser
from hydra.core.config_search_path import SearchPathQuery
from hydra.core.object_type import ObjectType
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, Glob, Override, OverrideType, ValueType
from hydra.types import RunMode
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import ValidationError
from omegaconf.nodes import AnyNode, BooleanNode, EnumNode, FloatNode, IntegerNode, StringNode, ValueNode

from rlhydra.config.help import TARGET_NODES, help_text
from rlhydra.config.names import foreign_name, scored_matches
from rlhydra.config.registry import get_algorithm_spec
from rlhydra.config.schema import ConfigError, OffPolicyTrainingConfig, declared_checks, training_aliases
from rlhydra.config.tuned import AUTO, TUNED, apply_tuned, run_tuned_dirs
from rlhydra.config.targets import (
    BUFFER_BASE,
    CONNECTOR_BASE,
    DEFAULT_BUFFER,
    MODULE_BASE,
    SUPPLIED_FROM,
    argument_problems,
    check_target,
    constructor_arguments,
    import_class,
    module_class_path,
    unknown_argument,
    value_problem,
)
from rlhydra.config.types import fit
from rlhydra.config.validate import accelerator_problems

PROG = "python train.py"
MAX_COMBINATIONS = 16  # swept group choices composed and checked (a sweep over more checks its first ones)
BASES = {"module": MODULE_BASE, "buffer": BUFFER_BASE}
CONNECTOR_KEYS = ("env_runners.env_to_module_connectors", "env_runners.module_to_env_connectors")
# Flags after which Hydra does something other than compose and run: the command line is left to Hydra.
PASS_THROUGH = ("--version", "--hydra-help", "--shell-completion", "-sc", "--info", "-i", "--experimental-rerun",
                "--config-path", "-cp")


class OverrideError(ConfigError):
    """Overrides refused before Hydra starts a run; `problems` has one line per mistake, each naming its key."""

    def __init__(self, problems: List[str]) -> None:
        self.problems = problems
        super().__init__(problems[0] if len(problems) == 1 else
                         "the command line has mistakes; nothing was started:\n  - " + "\n  - ".join(problems))


@dataclass
class Checked:
    """What the command line becomes: `argv` for Hydra (overrides rewritten where needed), and the --help page."""

    argv: List[str]
    help: Optional[str] = None


def precheck_command_line(argv: Sequence[str], config_dir: str, config_name: str = "config",
                          prog: str = PROG) -> List[str]:
    """The command line to hand to Hydra. A refused override prints `rlhydra: <message>` on stderr and exits with
    code 2 (nothing started, no traceback); `--help` prints the groups and every key with its help and exits 0."""
    try:
        checked = check_command_line(argv, config_dir, config_name, prog)
    except OverrideError as exc:
        print(f"rlhydra: {exc}", file=sys.stderr)
        sys.exit(2)
    if checked.help is not None:
        print(checked.help)
        sys.exit(0)
    return checked.argv


def check_command_line(argv: Sequence[str], config_dir: str, config_name: str = "config",
                       prog: str = PROG) -> Checked:
    """`precheck_command_line` without printing or exiting: raises OverrideError listing every refused override."""
    argv = list(argv)
    if any(arg.split("=", 1)[0] in PASS_THROUGH for arg in argv):
        return Checked(argv)
    args = _parse_args(argv)
    if args is None or args.shell_completion or args.info or args.hydra_help:
        return Checked(argv)
    try:
        parsed = OverridesParser.create().parse_overrides(list(args.overrides))
    except Exception:  # malformed: Hydra says where
        return Checked(argv)
    launcher = _launcher_problems(parsed) + _plugin_problems(parsed, args.config_name)
    if launcher:
        raise OverrideError(launcher)
    loader = _loader(config_dir, args.config_dir)
    if loader is None:
        return Checked(argv)
    session = _Session(loader, args.config_name or config_name, parsed, args, prog)
    if not session.compose():
        return Checked(argv)
    problems, lines = session.check()
    if problems:
        raise OverrideError(problems)
    new_argv = _replace_overrides(argv, list(args.overrides), lines)
    return Checked(new_argv, session.help(lines) if args.help else None)


# ---- composing as Hydra will ------------------------------------------------------------------------------------
class _Session:
    """One command line: its overrides sorted into Hydra's, group choices and values; the composed configs."""

    def __init__(self, loader: ConfigLoaderImpl, config_name: str, parsed: List[Override], args: argparse.Namespace,
                 prog: str) -> None:
        self.loader, self.config_name, self.parsed, self.args, self.prog = loader, config_name, parsed, args, prog
        self.hydra_lines = [o.input_line for o in parsed if o.is_hydra_override() and not o.is_sweep_override()]
        self.configs: List[Tuple[List[str], DictConfig]] = []  # (the swept group choices, composed config)
        self.values: List[Tuple[int, Override]] = []  # key=value overrides, by position
        self.choices: List[List[str]] = []  # the group overrides, each with its swept options
        self._repo: Any = None

    def compose(self) -> bool:
        """Compose each combination of group choices; False when Hydra should report what is wrong itself."""
        if any(o.is_sweep_override() for o in self.parsed) and not self.args.multirun:
            return False
        for index, override in enumerate(self.parsed):
            if override.is_hydra_override():
                continue
            if override.is_delete() or self._is_group(override):
                options = self._options(override)
                if options is None:
                    return False
                self.choices.append(options)
            else:
                self.values.append((index, override))
        for combination in itertools.islice(itertools.product(*self.choices), MAX_COMBINATIONS):
            lines = list(combination)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    cfg = self.loader.load_configuration(self.config_name, self.hydra_lines + lines, RunMode.RUN)
            except Exception:  # a missing option, a bad searchpath ...: Hydra's own message is the right one
                return False
            swept = [line for line, options in zip(lines, self.choices) if len(options) > 1]
            self.configs.append((swept, cfg))
        return True

    def group_options(self, group: str, kind: Optional[ObjectType] = ObjectType.CONFIG) -> List[str]:
        """The options (configs, or with `kind` GROUP the subgroups) of a config group: [] when there is none.

        One config repository serves every question (Hydra's public `get_group_options` builds a new one per call,
        about 50 ms each); it sees --config-dir and the command line's hydra.searchpath.
        """
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Hydra warns of an unavailable search path itself
            if self._repo is None:
                self._repo = self.loader._parse_overrides_and_create_caching_repo(self.config_name,
                                                                                  self.hydra_lines)[1]
            return list(self._repo.get_group_options(group, kind))

    def _is_group(self, override: Override) -> bool:
        if isinstance(override.value(), dict):
            return False
        try:
            return bool(self.group_options(override.key_or_group, None))
        except Exception:
            return False

    def _options(self, override: Override) -> Optional[List[str]]:
        """A group override as the lines of its choices (one unless swept); None when it cannot be expanded."""
        if not override.is_sweep_override():
            return [override.input_line]
        value = override.value()
        if isinstance(value, Glob):
            options = value.filter(self.group_options(override.key_or_group))
        elif isinstance(value, ChoiceSweep):
            options = list(override.sweep_string_iterator())
        else:
            return None
        return [f"{override.get_key_element()}={option}" for option in options]

    # ---- checking -----------------------------------------------------------------------------------------------
    def check(self) -> Tuple[List[str], List[str]]:
        """(problems, the override lines to hand to Hydra)."""
        found: Dict[str, List[str]] = {}  # problem -> the combinations it was found in
        force: Set[int] = set()
        coerced: Dict[int, str] = {}
        for swept, cfg in self.configs:
            label = " ".join(swept)
            checks = _Check(self, cfg, swept)
            problems: List[str] = []
            for index, override in self.values:
                result = checks.override(override)
                problems += result.problems
                if result.force:
                    force.add(index)
                if result.value_text is not None:
                    coerced.setdefault(index, result.value_text)
            problems += checks.nodes()
            for problem in problems:
                found.setdefault(problem, [])
                if label not in found[problem]:
                    found[problem].append(label)
        problems = [p if len(labels) == len(self.configs) or not any(labels) else f"with {' / '.join(labels)}: {p}"
                    for p, labels in found.items()]
        lines = []
        for index, override in enumerate(self.parsed):
            if index not in force and index not in coerced:
                lines.append(override.input_line)
                continue
            key = override.get_key_element()
            if index in force:
                key = "++" + key.lstrip("+")
            lines.append(f"{key}={coerced.get(index, override.input_line.split('=', 1)[1])}")
        return problems, lines

    def help_command(self, swept: List[str]) -> str:
        """The command that lists every key of this config with its help."""
        parts = [self.prog]
        if self.args.config_dir:
            parts.append(f"--config-dir {self.args.config_dir}")
        if self.args.config_name:
            parts.append(f"--config-name {self.args.config_name}")
        parts += [options[0] for options in self.choices if len(options) == 1] + swept
        return " ".join(parts + ["--help"])

    def help(self, lines: List[str]) -> str:
        """The --help page of the first composed config, with the value overrides applied."""
        swept, cfg = self.configs[0]
        plain = [line for line, o in zip(lines, self.parsed) if not o.is_sweep_override() and not o.is_hydra_override()]
        if self.values:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    cfg = self.loader.load_configuration(self.config_name, self.hydra_lines + plain + swept,
                                                         RunMode.RUN)
            except Exception:
                pass  # the composed config without the value overrides
        choices = {k: v for k, v in cfg.hydra.runtime.choices.items() if not k.startswith("hydra")}
        dirs = run_tuned_dirs(cfg.hydra.runtime)
        if dirs is not None:  # the run applies the tuned file for (algorithm, env.id): show its values
            try:
                apply_tuned(cfg, plain + swept, cfg.hydra.runtime.choices.keys(), dirs)
            except ConfigError:
                pass
        groups = {group: [o for o in self.group_options(group) if not o.startswith("base_")]
                  for group in sorted(self.group_options("", ObjectType.GROUP)) if group != "hydra"}
        if TUNED in groups:  # its files are looked up by env.id, not chosen: `auto` (the default) or ~tuned
            groups[TUNED] = [AUTO]
        return help_text(cfg, groups, choices, self.prog)


@dataclass
class _Result:
    problems: List[str]
    force: bool = False  # hand it to Hydra as ++key=value
    value_text: Optional[str] = None  # the value, rewritten (an integral float given for an int)


class _Check:
    """The checks of one composed config."""

    def __init__(self, session: _Session, cfg: DictConfig, swept: List[str]) -> None:
        self.session, self.cfg, self.swept = session, cfg, swept

    def override(self, override: Override) -> _Result:
        key = override.key_or_group
        if override.package is not None or not key or "[" in key or override.is_delete():
            return _Result([])
        parts = key.split(".")
        if parts[0] in TARGET_NODES and len(parts) >= 2 and isinstance(self.cfg.get(parts[0]), DictConfig):
            return self.target_key(override, parts)
        if key in CONNECTOR_KEYS:
            return _Result(self.connectors(override))
        node, depth = _walk(self.cfg, parts)
        if depth == len(parts):
            if override.type == OverrideType.ADD:
                return _Result([])  # Hydra: "Could not append to config. An item is already at ..."
            return self.value(override, node)
        if isinstance(node, DictConfig) and depth > 0 and OmegaConf.get_type(node) in (dict, None):
            return _Result([], force=override.type == OverrideType.CHANGE)  # a free-form mapping: env.kwargs.<x>
        if isinstance(node, ListConfig) or (depth > 0 and not isinstance(node, DictConfig)):
            return _Result([])  # inside a list or a value: Hydra reports it
        return _Result([self.unknown(override, parts, depth)])

    # -- keys of the schema
    def value(self, override: Override, node: Any) -> _Result:
        """An existing key: an integral float for an int becomes the int; a value of another type is refused."""
        if not isinstance(node, ValueNode) or isinstance(node, AnyNode):
            return _Result([])
        values = _element_values(override)
        if values is None:
            return _Result([])
        problems, converted, changed = [], [], False
        for value in values:
            if isinstance(value, str) and "${" in value:
                converted.append(value)
                continue
            if isinstance(node, IntegerNode) and isinstance(value, float):
                expected, value = fit(value, int)
                changed = changed or expected is None
            else:
                try:
                    node.validate_and_convert(value)
                    expected = None
                except ValidationError:
                    expected = _node_type(node)
            if expected is not None:
                problems.append(f"{override.input_line}: {override.key_or_group} takes {expected}, got {value!r}")
            converted.append(value)
        if not problems:
            problems = self.declared(override, converted)
        text = _values_text(override, converted) if changed and not problems else None
        return _Result(problems, value_text=text)

    def declared(self, override: Override, values: List[Any]) -> List[str]:
        """Each value against the schema field's declared range or choice (schema.py `between`, `one_of` ...),
        and an accelerator against this machine."""
        key = override.key_or_group
        *path, name = key.split(".")
        parent, depth = _walk(self.cfg, path)
        kind = OmegaConf.get_type(parent) if depth == len(path) and isinstance(parent, DictConfig) else None
        check = declared_checks(kind).get(name) if isinstance(kind, type) and is_dataclass(kind) else None
        problems = []
        for value in values:
            if isinstance(value, str) and "${" in value:
                continue
            problem = check.problem(value) if check is not None else None
            if problem:
                problems.append(f"{override.input_line}: {key} {problem}")
            elif key == "learner.accelerator" and isinstance(value, str):
                devices = OmegaConf.select(self.cfg, "learner.devices", default=1)
                problems += [f"{override.input_line}: {p.split(': ', 1)[1]}"
                             for p in accelerator_problems(value, devices if isinstance(devices, int) else 1)]
        return problems

    def unknown(self, override: Override, parts: List[str], depth: int) -> str:
        """A key the composed config lacks: what is there instead."""
        node = self.cfg
        for part in parts[:depth]:
            node = node._get_node(part)
        bad = parts[depth]
        prefix, rest = parts[:depth], parts[depth + 1:]
        siblings = [k for k in node.keys() if k != "hydra"] if isinstance(node, DictConfig) else []
        scored = [(score + 0.02, ".".join(prefix + [m] + rest)) for score, m in scored_matches(bad, siblings)]
        leaves = _all_keys(self.cfg)
        by_leaf: Dict[str, List[str]] = {}
        for key in leaves:
            by_leaf.setdefault(key.rsplit(".", 1)[-1], []).append(key)
        scored += [(score + (0.01 if score == 1.0 else 0.0), key) for score, leaf in scored_matches(parts[-1], by_leaf)
                   for key in by_leaf[leaf] if key != ".".join(parts)]
        exists = {g for _, g in scored if _walk(self.cfg, g.split("."))[1] == len(g.split("."))}
        guesses: List[str] = []
        for _, guess in sorted(scored, key=lambda item: (-item[0], item[1] not in exists, item[1])):
            if guess not in guesses:
                guesses.append(guess)
        where = (f"algorithm={self.cfg.algorithm.name}" if prefix == ["algorithm"] and "algorithm" in self.cfg else
                 ".".join(prefix) or "the config")
        message = f"{override.input_line}: {where} has no key '{bad}'"
        note = foreign_name(parts[-1], self._aliases())
        if note:
            message += f"; {note}."
        elif guesses:
            message += f"; did you mean {' or '.join(guesses[:3])}?"
        else:
            message += "."
        return f"{message} Every key with its help: {self.session.help_command(self.swept)}"

    def _aliases(self) -> Dict[str, str]:
        algorithm = self.cfg.get("algorithm")
        kind = OmegaConf.get_type(algorithm) if isinstance(algorithm, DictConfig) else None
        return training_aliases(kind) if isinstance(kind, type) else {}

    # -- module.* and buffer.*
    def target(self, node_key: str) -> Tuple[Optional[str], Optional[type], List[str]]:
        """(class path, class, problems importing it) of a `module`/`buffer` node, the command line's
        `_target_` included."""
        target = self.cfg[node_key].get("_target_")
        for _, override in self.session.values:
            if override.key_or_group == f"{node_key}._target_" and not override.is_sweep_override():
                target = override.value()
            elif override.key_or_group == node_key and isinstance(override.value(), dict):
                target = override.value().get("_target_", target)
        if not target:
            target = DEFAULT_BUFFER if node_key == "buffer" else self._default_module()
        if not isinstance(target, str):
            return None, None, []
        try:
            return target, import_class(target, BASES[node_key], node_key), []
        except ConfigError as exc:
            return target, None, [str(exc)]
        except (ImportError, AttributeError, ValueError):
            return target, None, check_target(node_key, target, {}, (), BASES[node_key])

    def _default_module(self) -> Optional[str]:
        name = OmegaConf.select(self.cfg, "algorithm.name", default=None)
        try:
            spec = get_algorithm_spec(name) if isinstance(name, str) else None
        except ConfigError:
            return None
        if spec is None:
            return None
        return module_class_path({"use_lstm": self._use_lstm()}, spec.default_module, spec.recurrent_module)

    def _use_lstm(self) -> bool:
        """module.use_lstm, the command line's included (it picks the module class whose arguments are checked)."""
        value = self.cfg.module.get("use_lstm")
        for _, override in self.session.values:
            if override.key_or_group == "module.use_lstm" and not override.is_sweep_override():
                value = override.value()
        return value is True

    def target_key(self, override: Override, parts: List[str]) -> _Result:
        """`module.<arg>=...`: an argument of the class (taken, its value checked), or refused."""
        node_key, name = parts[0], parts[1]
        present = name in self.cfg[node_key].keys()
        force = (override.type == OverrideType.CHANGE and not present) or (
            override.type == OverrideType.ADD and present)
        if name.startswith("_") and name.endswith("_"):
            return _Result([], force=force)
        if node_key == "module" and name == "use_lstm":  # picks the class rather than being one's argument
            bad = [v for v in (_element_values(override) or []) if not isinstance(v, bool)]
            return _Result([f"{override.input_line}: module.use_lstm takes true or false"] if bad else [], force=force)
        target, cls, _ = self.target(node_key)
        if cls is None:
            return _Result([], force=force)  # the import problem is reported by nodes()
        arguments, takes_any = constructor_arguments(cls)
        supplied = TARGET_NODES[node_key]
        if name in supplied:
            return _Result([f"{override.input_line}: {node_key}.{name} is set by rlhydra from "
                            f"{SUPPLIED_FROM.get(name, 'the run')}; remove it"])
        if name not in arguments:
            if takes_any:
                return _Result([], force=force)
            note = foreign_name(name, {})
            message = unknown_argument(node_key, name, target, [a for a in arguments if a not in supplied])
            return _Result([f"{override.input_line}: {node_key}.{name} is {message}" + (f" ({note})" if note else "")])
        values = _element_values(override)
        if len(parts) > 2 or values is None:
            return _Result([], force=force)
        problems, converted, changed = [], [], False
        for value in values:
            if value is None:  # null: the class's default
                converted.append(value)
                continue
            expected, fitted = fit(value, arguments[name].annotation)
            problem = value_problem(arguments[name], value if expected else fitted)
            if problem:
                problems.append(f"{override.input_line}: {node_key}.{name} {problem}")
                continue
            changed = changed or repr(fitted) != repr(value)
            converted.append(fitted)
        text = _values_text(override, converted) if changed and not problems else None
        return _Result(problems, force=force, value_text=text)

    def nodes(self) -> List[str]:
        """The `module` and `buffer` nodes as composed (their YAML): the class imports and takes their keys."""
        problems = []
        overridden = {o.key_or_group for _, o in self.session.values}
        for node_key, supplied in TARGET_NODES.items():
            node = self.cfg.get(node_key)
            if not isinstance(node, DictConfig):
                continue
            if node_key == "buffer" and not _off_policy(self.cfg):
                continue  # on-policy algorithms build no buffer
            target, cls, import_problems = self.target(node_key)
            problems += import_problems
            if cls is None:
                continue
            values = OmegaConf.to_container(node, resolve=False)
            assert isinstance(values, dict)
            kwargs = {k: v for k, v in values.items()
                      if v is not None and f"{node_key}.{k}" not in overridden and not k.startswith("_")
                      and f"{node_key}.{k}" != "module.use_lstm"}  # it picks the class (module_class_path)
            problems += argument_problems(node_key, cls, target, kwargs, supplied)
        return problems

    def connectors(self, override: Override) -> List[str]:
        """`env_runners.*_connectors=[{_target_: ..., kwarg: ...}]`: each class imports and takes its keys."""
        values = _element_values(override)
        problems = []
        for value in values or []:
            if not isinstance(value, list):
                continue
            for i, node in enumerate(value):
                kwargs = {"_target_": node} if isinstance(node, str) else dict(node) if isinstance(node, dict) else {}
                target = kwargs.pop("_target_", None)
                if isinstance(target, str) and target:
                    problems += [f"{override.input_line}: {p}" for p in check_target(
                        f"{override.key_or_group}[{i}]", target, kwargs, (), CONNECTOR_BASE)]
        return problems


# ---- helpers ---------------------------------------------------------------------------------------------------
SLURM_LAUNCHERS = ("slurm", "submitit_slurm")  # rlhydra/conf/hydra/launcher/slurm.yaml and the plugin's own
LOCAL_LAUNCHERS = ("hydra/launcher=parallel (several jobs at once on this machine), hydra/launcher="
                   "submitit_local (submitit's path, as local processes), or no hydra/launcher (one job after another)")


def _launcher_problems(parsed: List[Override]) -> List[str]:
    """A SLURM launcher off a cluster: submitit submits with `sbatch`, which this machine lacks."""
    problems = []
    for override in parsed:
        if override.key_or_group != "hydra/launcher" or override.is_delete():
            continue
        value = override.value()
        if isinstance(value, str) and value in SLURM_LAUNCHERS and shutil.which("sbatch") is None:
            problems.append(f"{override.input_line}: SLURM is not available on this machine (no sbatch on PATH); run "
                            f"it on your cluster's login node. Here use {LOCAL_LAUNCHERS}.")
    return problems


# Hydra plugins the shipped sweep and launcher configs use: (what asks for it, its module, what to install)
SWEEPS_EXTRA = 'pip install "rlhydra[sweeps]"'
PLUGINS = {
    "rlhydra_optuna": ("optuna", SWEEPS_EXTRA),  # rlhydra's own sweeper (hydra_plugins/rlhydra_optuna_sweeper)
    "optuna": ("hydra_plugins.hydra_optuna_sweeper",
               "pip install hydra-optuna-sweeper (it pins optuna<3; rlhydra's own sweeper needs no plugin: "
               "hydra/sweeper=rlhydra_optuna, see sweeps/)"),
    "parallel": ("joblib", SWEEPS_EXTRA),  # rlhydra's own launcher (hydra_plugins/rlhydra_parallel_launcher)
    "joblib": ("hydra_plugins.hydra_joblib_launcher", SWEEPS_EXTRA),
    "submitit_local": ("hydra_plugins.hydra_submitit_launcher", SWEEPS_EXTRA),
    "submitit_slurm": ("hydra_plugins.hydra_submitit_launcher", SWEEPS_EXTRA),
    "slurm": ("hydra_plugins.hydra_submitit_launcher", SWEEPS_EXTRA),
    "ray_cluster": ("hydra_plugins.hydra_ray_launcher", "pip install hydra-ray-launcher"),
}
OPTUNA_CONFIGS = ("tpe", "random")  # --config-name choices whose sweeper is rlhydra_optuna


def _plugin_problems(parsed: List[Override], config_name: Optional[str]) -> List[str]:
    """A sweeper or launcher whose Hydra plugin is not installed, with what to install (Hydra would only say that
    it "could not find" the config)."""
    wanted = [(f"--config-name {config_name}", "rlhydra_optuna")] if config_name in OPTUNA_CONFIGS else []
    for override in parsed:
        value = override.value() if override.key_or_group in ("hydra/sweeper", "hydra/launcher") else None
        if isinstance(value, str) and not override.is_delete():
            wanted.append((override.input_line, value))
    problems = []
    for asked, name in wanted:
        module, install = PLUGINS.get(name, (None, None))
        if module is not None and importlib.util.find_spec(module) is None:
            what = (f"the Hydra plugin {module.split('.')[1].replace('_', '-')}" if module.startswith("hydra_plugins.")
                    else f"the package {module}")
            problems.append(f"{asked}: needs {what}, which is not installed: {install}")
    return problems


def _parse_args(argv: List[str]) -> Optional[argparse.Namespace]:
    """Hydra's own argument parser on the command line; None where it would stop with an error."""
    parser = get_args_parser()

    def fail(message: str) -> None:
        raise ValueError(message)

    parser.error = fail  # type: ignore[method-assign]  # Hydra prints it when it parses the same line
    try:
        return parser.parse_args(argv)
    except (ValueError, SystemExit):
        return None


def _loader(config_dir: str, extra_dir: Optional[str]) -> Optional[ConfigLoaderImpl]:
    """Hydra's config loader with the search path of `@hydra.main(config_path=config_dir)` and --config-dir."""
    primary = config_dir if "://" in config_dir else f"file://{os.path.abspath(config_dir)}"
    search_path = create_config_search_path(primary)
    if extra_dir:
        path = os.path.abspath(extra_dir)
        if not os.path.isdir(path):
            return None  # Hydra: "Additional config directory ... not found"
        search_path.prepend(provider="command-line", path=f"file://{path}", anchor=SearchPathQuery(provider="schema"))
    return ConfigLoaderImpl(config_search_path=search_path)


def _replace_overrides(argv: List[str], old: List[str], new: List[str]) -> List[str]:
    """`argv` with the run of override arguments `old` replaced by `new` (Hydra takes them as one run)."""
    if old == new:
        return argv
    for start in range(len(argv) - len(old) + 1):
        if argv[start:start + len(old)] == old:
            return argv[:start] + new + argv[start + len(old):]
    flags = [a for a in argv if a not in old]
    return flags + new


def _walk(cfg: DictConfig, parts: List[str]) -> Tuple[Any, int]:
    """(the deepest existing node along `parts`, how many parts exist)."""
    node: Any = cfg
    for depth, part in enumerate(parts):
        if not isinstance(node, DictConfig) or part not in node.keys():
            return node, depth
        node = node._get_node(part)
    return node, len(parts)


def _all_keys(cfg: DictConfig, prefix: str = "") -> List[str]:
    keys = []
    for key in cfg.keys():
        if key == "hydra":
            continue
        child = cfg._get_node(key)
        keys.append(f"{prefix}{key}")
        if isinstance(child, DictConfig):
            keys += _all_keys(child, f"{prefix}{key}.")
    return keys


def _off_policy(cfg: DictConfig) -> bool:
    algorithm = cfg.get("algorithm")
    kind = OmegaConf.get_type(algorithm) if isinstance(algorithm, DictConfig) else None
    return isinstance(kind, type) and is_dataclass(kind) and issubclass(kind, OffPolicyTrainingConfig)


def _element_values(override: Override) -> Optional[List[Any]]:
    """The values an override sets (each choice of a sweep); None for what cannot be listed (interval, glob)."""
    if override.value_type == ValueType.ELEMENT:
        return [override.value()]
    if override.value_type in (ValueType.SIMPLE_CHOICE_SWEEP, ValueType.CHOICE_SWEEP):
        return list(override.value().list)
    if override.value_type == ValueType.RANGE_SWEEP:
        return list(itertools.islice(override.sweep_iterator(), 1000))
    return None


def _values_text(override: Override, values: List[Any]) -> Optional[str]:
    """The override's value written again with `values` (None where it cannot be: tags, shuffle, ranges)."""
    write = Override._get_value_element_as_str
    if override.value_type == ValueType.ELEMENT:
        return write(values[0])
    sweep = override.value()
    if isinstance(sweep, ChoiceSweep) and not sweep.tags and not sweep.shuffle:
        joined = ",".join(write(v) for v in values)
        return joined if override.value_type == ValueType.SIMPLE_CHOICE_SWEEP else f"choice({joined})"
    return None


def _node_type(node: ValueNode) -> str:
    if isinstance(node, BooleanNode):
        kind = "true or false"
    elif isinstance(node, IntegerNode):
        kind = "an integer"
    elif isinstance(node, FloatNode):
        kind = "a number"
    elif isinstance(node, EnumNode):
        kind = "one of " + ", ".join(m.name for m in node.enum_type)
    elif isinstance(node, StringNode):
        kind = "a string"
    else:
        kind = "a value"
    return kind + (" or null" if node._is_optional() else "")
