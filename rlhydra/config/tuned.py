"""Tuned hyperparameters, looked up by the run's algorithm and actual env id (as rl-baselines3-zoo keys its files).

Each file in `tuned/` (rlhydra/conf/tuned, and a `tuned/` folder in any `--config-dir` / `hydra.searchpath` folder,
which wins) declares the pair it is for and holds keys of the config:

    tuned_for: {algorithm: ppo, env_id: CartPole-v1}   # or a glob (ALE/*-v5) or a list of ids and globs
    algorithm: {lr: 1.0e-3, ...}
    total_steps: 100000

Hydra's defaults list can only interpolate group *choices*, so `env=gym env.id=Acrobot-v1` (or `env.id=...` with the
default env group) could not pick the file by the id. The `tuned` group's default option `auto` marks that the
lookup is on (`~tuned` turns it off); the run (cli.main), `--help` and the tests apply the file matching
(`algorithm.name`, `env.id`) to the composed config, under every key the command line sets itself.
"""
from __future__ import annotations

import fnmatch
import glob
import os
from typing import Any, Dict, Iterable, List, Optional, Sequence, Set, Tuple

from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict

from rlhydra.config.schema import ConfigError

CONF_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "conf")
TUNED = "tuned"  # the group whose option `auto` switches the lookup on, and the folder of the files
AUTO = "auto"
DECLARATION = "tuned_for"


def tuned_dirs(config_dirs: Iterable[str] = ()) -> List[str]:
    """The `tuned/` folders to search, the user's first, rlhydra's own last."""
    dirs = [os.path.join(d, TUNED) for d in config_dirs if d and os.path.abspath(d) != CONF_DIR]
    return [d for d in dirs if os.path.isdir(d)] + [os.path.join(CONF_DIR, TUNED)]


def run_tuned_dirs(runtime: Any) -> Optional[List[str]]:
    """The `tuned/` folders a run searches, from its `hydra.runtime` (the `tuned` choice and the file config
    sources); None when its lookup is off (`~tuned`)."""
    if runtime.choices.get(TUNED) != AUTO:
        return None
    return tuned_dirs(s.path for s in runtime.config_sources if s.schema == "file")


def find_tuned(algorithm: str, env_id: str, dirs: Sequence[str]) -> Optional[Tuple[str, Dict[str, Any]]]:
    """(path, settings) of the first file declaring `tuned_for: {algorithm, env_id}`; None when there is none.

    `env_id` may be a glob (`ALE/*-v5`) or a list of ids and globs; in each folder a file naming the id exactly
    wins over one whose glob matches it."""
    for folder in dirs:
        by_glob = None
        for path in sorted(glob.glob(os.path.join(folder, "*.yaml"))):
            data = OmegaConf.to_container(OmegaConf.load(path))
            declared = data.pop(DECLARATION, None) if isinstance(data, dict) else None
            if not isinstance(declared, dict) or declared.get("algorithm") != algorithm:
                continue
            ids = declared.get("env_id")
            ids = ids if isinstance(ids, list) else [ids]
            if env_id in ids:
                return path, data
            if by_glob is None and any(isinstance(p, str) and fnmatch.fnmatchcase(env_id, p) for p in ids):
                by_glob = path, data
        if by_glob is not None:
            return by_glob
    return None


def _leaves(data: Dict[str, Any], prefix: str = "") -> List[Tuple[str, Any]]:
    out: List[Tuple[str, Any]] = []
    for key, value in data.items():
        if isinstance(value, dict) and value:
            out += _leaves(value, f"{prefix}{key}.")
        else:
            out.append((f"{prefix}{key}", value))
    return out


def _set_keys(overrides: Sequence[str], groups: Set[str]) -> Set[str]:
    """The keys the command line sets itself (`algorithm.lr=..`, `+env.kwargs=..`), not its group choices."""
    keys = set()
    for override in overrides:
        key = override.split("=", 1)[0].lstrip("+~")
        if key in groups or "/" in key or key.startswith("hydra"):
            continue
        keys.add(key)
    return keys


def apply_tuned(cfg: DictConfig, overrides: Sequence[str], groups: Iterable[str],
                dirs: Sequence[str]) -> Optional[str]:
    """Set the tuned file's keys for (`cfg.algorithm.name`, `cfg.env.id`) on `cfg`, except those the command line
    sets (or a key above or below one); returns the file's path, or None when no file is declared for the pair."""
    algorithm, env_id = OmegaConf.select(cfg, "algorithm.name"), OmegaConf.select(cfg, "env.id", default=None)
    if not algorithm or not env_id or OmegaConf.is_missing(cfg.env, "id"):
        return None
    found = find_tuned(algorithm, env_id, dirs)
    if found is None:
        return None
    path, settings = found
    taken = _set_keys(overrides, set(groups))
    with open_dict(cfg):
        for key, value in _leaves(settings):
            if any(key == k or key.startswith(k + ".") or k.startswith(key + ".") for k in taken):
                continue
            try:
                OmegaConf.update(cfg, key, value, merge=False)
            except Exception as exc:  # a key the schema lacks: the file is wrong, say which
                raise ConfigError(f"tuned settings {path}: {key}={value!r} does not fit the config: {exc}") from None
    return path
