"""`_target_` nodes: import the class a config names, check it is the right kind and takes the given keys, each
with a value of the type its constructor declares.

The constructor's signature is the schema of a `module`, `buffer` or connector node: its keyword arguments are
the valid keys, their annotations the types (int, float, bool, str, Optional, Literal, List/Sequence/Tuple ...,
see `rlhydra.config.types`) and a few argument names have declared choices here (`activation`). Arguments that
rlhydra passes itself (the spaces; the buffer's n_step, gamma, batch size, device and seed) are not config keys.
"""
from __future__ import annotations

import ast
import functools
import importlib
import inspect
import textwrap
import typing
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple, Union

from rlhydra.config.comments import argument_help
from rlhydra.config.names import close_matches
from rlhydra.config.schema import ConfigError
from rlhydra.config.types import describe, fit, type_name

# The classes a node must subclass, by import path (this layer imports none of them; a test checks the paths).
MODULE_BASE = "rlhydra.models.rl_module.RLModule"
BUFFER_BASE = "rlhydra.buffers.base.ReplayBuffer"
CONNECTOR_BASE = "rlhydra.connectors.pipeline.Connector"
DEFAULT_BUFFER = "rlhydra.buffers.ReplayBuffer"  # a null buffer._target_

# Constructor arguments rlhydra passes itself, and where their values come from.
SUPPLIED_FROM = {
    "observation_space": "the env (its observation space after the env->module connectors)",
    "action_space": "the env (its action space)",
    "n_step": "the algorithm config (algorithm.n_step)",
    "gamma": "the algorithm config (algorithm.gamma)",
    "batch_size": "the algorithm config (algorithm.train_batch_size)",
    "seed": "the run config (seed)",
    "device": "the learner config (learner.accelerator)",
}
MODULE_SUPPLIED = ("observation_space", "action_space")
BUFFER_SUPPLIED = ("n_step", "gamma", "device", "seed", "batch_size")

# The activation names rlhydra's MLPs build (rlhydra.models.mlp.ACTIVATIONS; a test keeps the two equal). A
# constructor argument `activation: str` takes one of them; a class that accepts others annotates it otherwise
# (e.g. `Literal["tanh", "mish"]`).
ACTIVATIONS = ("tanh", "relu", "elu", "silu", "gelu")
ARGUMENT_CHOICES: Dict[str, Tuple[str, ...]] = {"activation": ACTIVATIONS}

# Help for the arguments of rlhydra's own modules and buffers, shown by --help where the class's docstring
# (`Args:`) and the argument's line carry none.
ARGUMENT_HELP = {
    "_target_": "the class, package.module.Class; null: the algorithm's default",
    "hidden_sizes": "widths of the hidden layers, e.g. [64, 64]",
    "activation": "activation between hidden layers: " + ", ".join(ACTIVATIONS),
    "ortho_init": "orthogonal weight initialisation (as in SB3's and CleanRL's PPO); false: torch's default",
    "log_std_init": "initial log standard deviation of the Gaussian action noise",
    "log_std_min": "the policy's log standard deviation is clipped to at least this",
    "log_std_max": "the policy's log standard deviation is clipped to at most this",
    "use_sde": "gSDE exploration: state-dependent noise drawn once per sampling round (as SB3's use_sde; PPO/A2C: "
               "also every module.sde_sample_freq steps)",
    "lstm_cell_size": "size of the LSTM's hidden and cell state (RLlib's lstm_cell_size); needs module.use_lstm=true",
    "max_seq_len": "the learner trains on sequences of at most this many steps (RLlib's max_seq_len)",
    "dueling": "value and advantage heads (also set by algorithm.dueling)",
    "exploration_noise": "std (Ornstein-Uhlenbeck: sigma) of the noise on actions in [-1, 1] while sampling (also "
                         "set by algorithm.exploration_noise)",
    "exploration_noise_type": "normal: iid Gaussian; ornstein_uhlenbeck: an OU process per env, restarted at each "
                              "episode start (also set by algorithm.exploration_noise_type)",
    "capacity": "transitions kept (rounded up to a multiple of the env count)",
    "alpha": "how much prioritisation is used (0: uniform)",
    "beta_start": "importance-sampling exponent at the start, annealed linearly to 1.0",
    "beta_anneal_steps": "sample() calls over which beta reaches 1.0",
    "eps": "small constant that keeps every priority (or variance) above zero",
}


@dataclass(frozen=True)
class Argument:
    """One keyword argument of a `_target_` class's constructor."""

    name: str
    annotation: Any  # resolved; inspect.Parameter.empty when none
    default: Any  # inspect.Parameter.empty when required
    help: str
    owner: str  # the class that declares it


def check_target(key: str, target: str, kwargs: Dict[str, Any], supplied: Tuple[str, ...],
                 base: Union[type, str]) -> List[str]:
    """Problems with a `_target_` node: the class must import, be a `base` (a class or its import path), take
    every given key, each with a value of the declared type, and not be given what rlhydra passes itself."""
    try:
        cls = import_class(target, base, key)
    except ConfigError as exc:
        return [str(exc)]
    except (ImportError, AttributeError, ValueError) as exc:
        return [f"{key}._target_={target}: cannot import it ({exc}). Give 'package.module.ClassName' "
                "and make your package importable (pip install -e . or PYTHONPATH)."]
    return argument_problems(key, cls, target, kwargs, supplied)


def argument_problems(key: str, cls: type, target: str, kwargs: Dict[str, Any],
                      supplied: Tuple[str, ...]) -> List[str]:
    """Each given key of a node against `cls`'s constructor: known, not supplied by rlhydra, of the right type."""
    arguments, takes_any = constructor_arguments(cls)
    valid = [name for name in arguments if name not in supplied]
    errors = []
    for name, value in kwargs.items():
        if name.startswith("_") and name.endswith("_"):
            continue  # Hydra's _target_, _convert_, _recursive_ ...
        if name in supplied:
            errors.append(f"{key}.{name}: set by rlhydra from {SUPPLIED_FROM.get(name, 'the run')}; remove it here")
        elif name in arguments:
            problem = value_problem(arguments[name], value)
            if problem:
                errors.append(f"{key}.{name}: {problem}")
        elif not takes_any:
            errors.append(f"{key}.{name}: {unknown_argument(key, name, target, valid)}")
    return errors


def unknown_argument(key: str, name: str, target: str, valid: List[str]) -> str:
    """'not an argument of <target>; did you mean <key>.<closest>? Valid: ...'."""
    matches = close_matches(name, valid)
    guess = f"; did you mean {' or '.join(f'{key}.{m}' for m in matches)}?" if matches else "."
    return f"not an argument of {target}{guess} Valid: {', '.join(valid) or '(none)'}."


def value_problem(argument: Argument, value: Any) -> Optional[str]:
    """What is wrong with `value` for this argument (its type, or its declared choices), or None."""
    if isinstance(value, str) and "${" in value:
        return None  # an interpolation, resolved by Hydra
    expected, fitted = fit(value, argument.annotation)
    if expected is None and repr(fitted) != repr(value):  # 8.0 for an int: the class would get the float
        expected = f"{describe(argument.annotation)} (write {fitted!r})"
    if expected is not None:
        return (f"takes {expected} ({argument.owner} declares {argument.name}: {type_name(argument.annotation)}), "
                f"got {value!r}")
    choices = ARGUMENT_CHOICES.get(argument.name) if argument.annotation is str else None
    if choices and value not in choices:
        return f"must be one of {', '.join(choices)}; got {value!r}"
    return None


def constructor_arguments(cls: type) -> Tuple[Dict[str, Argument], bool]:
    """(name -> Argument, whether it takes other keyword arguments too) for `cls(...)`.

    A `**kwargs` the constructor hands on with `super().__init__(..., **kwargs)` stands for the base class's
    arguments (PrioritizedReplayBuffer takes ReplayBuffer's); one it keeps to itself means any key is taken.
    """
    return _constructor_arguments(cls)


@functools.lru_cache(maxsize=None)
def _constructor_arguments(cls: type) -> Tuple[Dict[str, Argument], bool]:
    found: Dict[str, Argument] = {}
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        if klass is object:
            return found, False
        try:
            signature = inspect.signature(init)
        except (TypeError, ValueError):
            return found, True
        hints = _type_hints(init)
        helps = argument_help(init, klass)
        forwarded = None
        for i, (name, parameter) in enumerate(signature.parameters.items()):
            if i == 0 or parameter.kind is parameter.VAR_POSITIONAL:
                continue  # self, *args
            if parameter.kind is parameter.VAR_KEYWORD:
                forwarded = name
                continue
            if name not in found:
                annotation = hints.get(name, parameter.annotation)
                if isinstance(annotation, str):
                    annotation = inspect.Parameter.empty  # could not be resolved: not checked
                found[name] = Argument(name, annotation, parameter.default,
                                       helps.get(name) or ARGUMENT_HELP.get(name, ""), klass.__name__)
        if forwarded is None:
            return found, False
        if not _hands_on(init, forwarded):
            return found, True
    return found, False


def _type_hints(func: Any) -> Dict[str, Any]:
    """The resolved annotations of a function; one that cannot be resolved (it names something imported only for
    type checkers, or a local name) is left out, so that argument is not checked."""
    try:
        return typing.get_type_hints(func)
    except Exception:
        pass
    found = {}
    for name, annotation in getattr(func, "__annotations__", {}).items():
        def one() -> None:
            pass

        one.__annotations__ = {name: annotation}
        try:
            found.update(typing.get_type_hints(one, globalns=getattr(func, "__globals__", None)))
        except Exception:
            continue
    return found


def _hands_on(init: Any, kwargs_name: str) -> bool:
    """Whether `init` calls `super().__init__(..., **<kwargs_name>)`."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(init)))
    except (OSError, TypeError, SyntaxError):
        return False
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "__init__"
                and isinstance(node.func.value, ast.Call) and isinstance(node.func.value.func, ast.Name)
                and node.func.value.func.id == "super"):
            if any(k.arg is None and isinstance(k.value, ast.Name) and k.value.id == kwargs_name
                   for k in node.keywords):
                return True
    return False


def import_class(path: str, base: Union[type, str], key: str) -> type:
    """The class at `path`, which must subclass `base` (a class, or its import path): a config (a checkpoint's too)
    can name rlhydra's kinds of objects only, never an arbitrary callable such as a shell command."""
    obj = import_object(path)
    if not (isinstance(obj, type) and _is_subclass(obj, base)):
        raise ConfigError(f"{key}._target_={path}: is not a {_name(base)} subclass")
    return obj


def _is_subclass(cls: type, base: Union[type, str]) -> bool:
    if isinstance(base, type):
        return issubclass(cls, base)
    return any(_name(klass) == base for klass in cls.__mro__)


def _name(cls: Union[type, str]) -> str:
    return cls if isinstance(cls, str) else f"{cls.__module__}.{cls.__qualname__}"


def import_object(path: str) -> Any:
    """`package.module.Name` -> the object, importing the module."""
    module_name, _, name = path.rpartition(".")
    if not module_name:
        raise ValueError(f"'{path}' is not a dotted path")
    return getattr(importlib.import_module(module_name), name)


def module_target_and_kwargs(module: Dict[str, Any], default_target: str, recurrent_target: Optional[str] = None,
                             algorithm: str = "this algorithm") -> Tuple[str, Dict[str, Any]]:
    """Resolve the `module` node: the class path (see module_class_path) and the non-null kwargs. `use_lstm` only
    picks the class (RLlib's name), unless the node names a class of its own, which then takes it as an argument."""
    node = dict(module)
    explicit = node.pop("_target_", None)
    node.pop("_convert_", None)
    use_lstm = node.pop("use_lstm", None)
    if use_lstm and not explicit and recurrent_target is None:
        raise ConfigError(f"module.use_lstm=true: {algorithm} has no recurrent module (ppo and a2c have one); set "
                          "module.use_lstm=false, or give module._target_ a recurrent module of your own")
    if use_lstm and explicit:
        node["use_lstm"] = use_lstm
    return module_class_path(module, default_target, recurrent_target), {k: v for k, v in node.items()
                                                                          if v is not None}


def module_class_path(module: Dict[str, Any], default_target: str, recurrent_target: Optional[str] = None) -> str:
    """The class a `module` node builds: its `_target_`; else with `use_lstm: true` the algorithm's recurrent
    module (PPO and A2C: rlhydra.models.recurrent.RecurrentActorCriticModule); else the algorithm's default."""
    if module.get("_target_"):
        return module["_target_"]
    if module.get("use_lstm") and recurrent_target:
        return recurrent_target
    return default_target
