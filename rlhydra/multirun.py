"""Multirun jobs addressed by their config: a job's folder is named after a hash of what it learns, so rerunning a
multirun into the same sweep folder skips the jobs that finished and resumes the interrupted ones.

`<sweep dir>/<algorithm>_<env id>_<hash>`: the hash covers the composed config minus RUN_ONLY_KEYS (where and how a
run reports, not what it learns). A job whose folder holds a result.json with status `ok` is done; one whose folder
holds a checkpoint continues from its latest one (the exact resume of `resume=`, in the same folder); otherwise it
starts. The tuned file the run applies (rlhydra/config/tuned.py) is part of the hash: edit it and the jobs it tunes
run again in new folders instead of being skipped or resumed with the old values.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from omegaconf import DictConfig, OmegaConf

from rlhydra.config.tuned import TUNED, find_tuned, run_tuned_dirs
from rlhydra.sweep_summary import JOB_RESULT_FILE

# Keys that do not change what a run learns, left out of the hash. `optuna` is the trial number the Optuna sweeper
# adds (a trial rerun after a crash gets a new number, and must find its folder).
RUN_ONLY_KEYS = (
    "hydra", "logger", "checkpointing", "reporting", "resume", "optuna",
    "evaluation.video", "evaluation.video_format", "evaluation.video_fps", "evaluation.sample_timeout_s",
    "env_runners.sample_timeout_s",
)
HASH_CHARS = 8


def config_hash(cfg: DictConfig) -> str:
    """A short hash of the resolved config without RUN_ONLY_KEYS (equal configs, equal hashes)."""
    data: Dict[str, Any] = {}
    for key in cfg:
        if key not in RUN_ONLY_KEYS:
            value = cfg[key]
            data[key] = OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value
    for key in RUN_ONLY_KEYS:
        section, _, leaf = key.partition(".")
        if leaf and isinstance(data.get(section), dict):
            data[section].pop(leaf, None)
    tuned = tuned_settings(cfg)
    if tuned is not None:
        data[TUNED] = tuned
    text = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:HASH_CHARS]


def tuned_settings(cfg: DictConfig) -> Optional[Dict[str, Any]]:
    """The settings of the tuned file a run of `cfg` applies (the lookup is on and a file is declared for its
    algorithm and env id), or None; read from the folders the run reads (`hydra.runtime`)."""
    runtime = OmegaConf.select(cfg, "hydra.runtime", default=None, throw_on_missing=False)
    dirs = None if runtime is None else run_tuned_dirs(runtime)
    algorithm = OmegaConf.select(cfg, "algorithm.name", default=None, throw_on_missing=False)
    env_id = OmegaConf.select(cfg, "env.id", default=None, throw_on_missing=False)
    if dirs is None or not algorithm or not isinstance(env_id, str):
        return None
    found = find_tuned(algorithm, env_id, dirs)
    return found[1] if found else None


def job_dir_name(*, _root_: DictConfig) -> str:
    """`<algorithm>_<env id>_<hash>`: a multirun job's folder (`hydra.sweep.subdir`, resolver `rlhydra_job_dir`)."""
    algorithm = OmegaConf.select(_root_, "algorithm.name", default="algo", throw_on_missing=False)
    env_id = OmegaConf.select(_root_, "env.id", default="env", throw_on_missing=False)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{algorithm}_{env_id}")
    return f"{name}_{config_hash(_root_)}"


OmegaConf.register_new_resolver("rlhydra_job_dir", job_dir_name, replace=True)


@dataclass(frozen=True)
class PreviousRun:
    """What an earlier attempt left in a job's folder: its result.json when it finished, else its latest
    checkpoint (None when there is nothing to go on from)."""

    result: Optional[Dict[str, Any]]
    checkpoint: Optional[str]
    checkpoint_env_steps: int = 0

    @property
    def finished(self) -> bool:
        return bool(self.result) and self.result.get("status") == "ok"


def previous_run(run_dir: str) -> PreviousRun:
    """Read what an earlier run of this job left in `run_dir` (nothing: a PreviousRun of Nones)."""
    result = None
    try:
        with open(os.path.join(run_dir, JOB_RESULT_FILE), encoding="utf-8") as f:
            result = json.load(f)
    except (OSError, ValueError):
        pass
    checkpoint, steps = latest_checkpoint(os.path.join(run_dir, "checkpoints"))
    return PreviousRun(result, checkpoint, steps)


def latest_checkpoint(checkpoint_dir: str) -> tuple:
    """(path, env steps) of the checkpoint with the most env steps under `checkpoint_dir` (final, iter_*, best),
    or (None, 0). Checkpoints are renamed into place whole, so one with a metadata.json is complete."""
    best, best_steps = None, -1
    try:
        names = sorted(os.listdir(checkpoint_dir))
    except OSError:
        return None, 0
    for name in names:
        path = os.path.join(checkpoint_dir, name)
        try:
            with open(os.path.join(path, "metadata.json"), encoding="utf-8") as f:
                steps = int(json.load(f)["counters"]["env_steps"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if steps > best_steps:
            best, best_steps = path, steps
    return best, max(best_steps, 0)


def truncate_metrics(path: str, env_steps: int) -> int:
    """Drop the rows after `env_steps` from a metrics.jsonl (an interrupted run logged past its last checkpoint;
    the resumed run logs them again); returns how many were dropped."""
    if not os.path.isfile(path):
        return 0
    with open(path, encoding="utf-8") as f:
        lines = f.readlines()
    kept: List[str] = []
    for line in lines:
        try:
            if int(json.loads(line)["env_steps"]) > env_steps:
                continue
        except (ValueError, KeyError, TypeError):
            continue  # a line cut short by the interruption
        kept.append(line)
    if len(kept) != len(lines):
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.writelines(kept)
        os.replace(tmp, path)
    return len(lines) - len(kept)
