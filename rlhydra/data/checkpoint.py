"""Checkpoint directories: metadata.json + tensors loaded with weights_only=True, written atomically.

Layout of a checkpoint directory:
    metadata.json    format_version, rlhydra_version, algorithm, created, counters, spaces (env observation
                     and action space, as JSON), config (every setting)
    module.pt        the RLModule's weights                        } with metadata.json, all that
    connectors.pt    env->module and module->env connector state   } RLModule.from_checkpoint reads
                     (e.g. observation normalisation statistics)
    algorithm.pt     learner (optimizers), env runner (current observations, each env's state), replay
                     buffer, counters, recent episode stats, RNG states

Writing: everything goes into a temporary sibling directory, is fsynced, and is renamed into place. Replacing
an existing checkpoint takes two renames (old one aside, new one in); a crash between them leaves the old one
under `.<name>.old-*/ckpt`, and the next read of `<name>` puts it back.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import shutil
from typing import Any, Dict, List, Tuple

import torch

from rlhydra.config.schema import ConfigError
from rlhydra.version import __version__
from rlhydra.data.spaces_json import space_from_json, space_to_json


FORMAT_VERSION = 1
FILES = ("metadata.json", "module.pt", "connectors.pt", "algorithm.pt")


def save_checkpoint(algo: Any, path: str) -> str:
    """Write `algo` (an Algorithm) to directory `path` via a temporary sibling and a rename; an existing checkpoint is replaced."""
    path = os.path.abspath(path)
    if os.path.exists(path) and not _is_checkpoint(path):
        raise FileExistsError(f"{path} exists and is not an rlhydra checkpoint; refusing to overwrite it")
    state = algo.get_state()
    problems = [f"connector {pipeline} '{key}': {problem}" for pipeline, states in state["connectors"].items()
                for key, connector_state in states.items() for problem in unloadable(connector_state)]
    problems += [f"{part}: {problem}" for part, value in state.items() if part != "connectors"
                 for problem in unloadable(value)]
    if problems:
        raise ConfigError(
            f"cannot save checkpoint '{path}': " + "; ".join(problems) + ". get_state() must return tensors and plain "
            "data (dict, list, tuple, str, int, float, bool, None), which checkpoints load without running code "
            "(torch.load(weights_only=True)): e.g. torch.as_tensor(array) for a numpy array. Nothing was written."
        )
    metadata = {
        "format_version": FORMAT_VERSION,
        "rlhydra_version": __version__,
        "algorithm": algo.config.algorithm.name,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "counters": state["counters"],
        "observation_space": str(algo.env_observation_space),
        "action_space": str(algo.action_space),
        "spaces": {"observation": space_to_json(algo.env_observation_space),
                   "action": space_to_json(algo.action_space)},
        "config": algo.config.to_dict(),
    }
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    _remove_leftovers(path)
    tmp = _new_dir(parent, f".{os.path.basename(path)}.tmp-")
    try:
        with open(os.path.join(tmp, "metadata.json"), "w") as f:
            json.dump(metadata, f, indent=2)
        torch.save(state["learner"]["module"], os.path.join(tmp, "module.pt"))
        torch.save(state["connectors"], os.path.join(tmp, "connectors.pt"))
        rest = {k: v for k, v in state.items() if k != "connectors"}
        rest["learner"] = {k: v for k, v in state["learner"].items() if k != "module"}
        torch.save(rest, os.path.join(tmp, "algorithm.pt"))
        _fsync_files(tmp)
        if os.path.exists(path):
            old = _new_dir(parent, f".{os.path.basename(path)}.old-")
            os.rename(path, os.path.join(old, "ckpt"))
            os.rename(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, path)
        _fsync(parent)  # the rename itself survives a power cut
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def _new_dir(parent: str, prefix: str) -> str:
    """A new uniquely named folder in `parent` with the mode the umask gives (tempfile.mkdtemp's is always 0700)."""
    while True:
        path = os.path.join(parent, prefix + secrets.token_hex(4))
        try:
            os.mkdir(path)
            return path
        except FileExistsError:
            continue


PLAIN = (str, int, float, bool, type(None), torch.Tensor)


def unloadable(value: Any, where: str = "") -> List[str]:
    """What in `value` a weights-only load would refuse, as 'key path is a <type>'; empty when it is all plain."""
    if isinstance(value, PLAIN):
        return []
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in unloadable(v, f"{where}[{k!r}]")]
    if isinstance(value, (list, tuple, set)):
        return [p for i, v in enumerate(value) for p in unloadable(v, f"{where}[{i}]")]
    return [f"{where or 'its state'} is a {type(value).__module__}.{type(value).__qualname__}"]


def read_metadata(path: str) -> Dict[str, Any]:
    """The checkpoint's metadata, after checking the directory and its format version."""
    _recover(path)
    if not os.path.isdir(path):
        raise ConfigError(f"checkpoint '{path}' does not exist (expected a directory written by algo.save())")
    missing = [name for name in FILES if not os.path.isfile(os.path.join(path, name))]
    if missing:
        raise ConfigError(f"checkpoint '{path}' is incomplete or not an rlhydra checkpoint: missing {', '.join(missing)}")
    try:
        with open(os.path.join(path, "metadata.json")) as f:
            metadata = json.load(f)
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"checkpoint '{path}': metadata.json is unreadable ({exc})") from None
    version = metadata.get("format_version")
    if version != FORMAT_VERSION:
        raise ConfigError(
            f"checkpoint '{path}' has format version {version}; this rlhydra "
            f"reads format version {FORMAT_VERSION}. Load it with the rlhydra version that wrote it "
            f"({metadata.get('rlhydra_version', 'unknown')})."
        )
    return metadata


def load_checkpoint(path: str) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """(metadata, state) of a checkpoint; tensors are loaded with weights_only=True (no code runs)."""
    metadata = read_metadata(path)
    try:
        state = torch.load(os.path.join(path, "algorithm.pt"), weights_only=True)
        state["learner"]["module"] = torch.load(os.path.join(path, "module.pt"), weights_only=True)
        state["connectors"] = torch.load(os.path.join(path, "connectors.pt"), weights_only=True)
    except Exception as exc:
        raise ConfigError(f"checkpoint '{path}' is corrupt: {type(exc).__name__}: {exc}") from None
    return metadata, state


def load_policy_state(path: str) -> Tuple[Dict[str, Any], Dict[str, Any], Dict[str, Any]]:
    """(metadata, module weights, connector state): what a policy needs, without the learner's or runners' state."""
    metadata = read_metadata(path)
    try:
        module_state = torch.load(os.path.join(path, "module.pt"), weights_only=True)
        connector_state = torch.load(os.path.join(path, "connectors.pt"), weights_only=True)
    except Exception as exc:
        raise ConfigError(f"checkpoint '{path}' is corrupt: {type(exc).__name__}: {exc}") from None
    return metadata, module_state, connector_state


def saved_spaces(metadata: Dict[str, Any]) -> Tuple[Any, Any]:
    """(env observation space, action space) the checkpoint was trained on."""
    return space_from_json(metadata["spaces"]["observation"]), space_from_json(metadata["spaces"]["action"])


def check_spaces(path: str, metadata: Dict[str, Any], observation_space: Any, action_space: Any, what: str) -> None:
    """Raise a ConfigError unless `what` has the observation and action spaces the checkpoint was trained on."""
    saved_obs, saved_act = saved_spaces(metadata)
    if saved_obs != observation_space or saved_act != action_space:
        raise ConfigError(
            f"checkpoint '{path}' was trained on observation space {saved_obs} and action space {saved_act}, "
            f"but {what} has observation space {observation_space} and action space {action_space}. Its module "
            "only fits the spaces it was built for: use the checkpoint's env (Algorithm.from_checkpoint(path) "
            "builds it from the checkpoint's config), or start a new run."
        )


def _recover(path: str) -> None:
    """Put back a checkpoint that a crash left set aside in the middle of being replaced."""
    if os.path.exists(path):
        return
    parent, name = os.path.split(os.path.abspath(path))
    if not os.path.isdir(parent):
        return
    for entry in sorted(os.listdir(parent)):
        aside = os.path.join(parent, entry, "ckpt")
        if entry.startswith(f".{name}.old-") and _is_checkpoint(aside):
            os.rename(aside, path)
            shutil.rmtree(os.path.join(parent, entry), ignore_errors=True)
            return


def _remove_leftovers(path: str) -> None:
    """Temporary directories of earlier saves to `path` that a crash left behind (after recovering any)."""
    _recover(path)
    parent, name = os.path.split(path)
    for entry in os.listdir(parent):
        if entry.startswith((f".{name}.tmp-", f".{name}.old-")):
            shutil.rmtree(os.path.join(parent, entry), ignore_errors=True)


def _is_checkpoint(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "metadata.json"))


def _fsync_files(path: str) -> None:
    for name in os.listdir(path):
        _fsync(os.path.join(path, name))
    _fsync(path)


def _fsync(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
