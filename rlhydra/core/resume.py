"""`python train.py resume=<checkpoint dir>`: the checkpoint's config, with the command line's key=value overrides."""
from __future__ import annotations

import os
from typing import Iterable, List, Sequence

from omegaconf import DictConfig, ListConfig, OmegaConf

from rlhydra.config.algorithm_config import AlgorithmConfig
from rlhydra.config.schema import ConfigError
from rlhydra.core.preflight import validate
from rlhydra.data.checkpoint import check_spaces, read_metadata
from rlhydra.env.make import env_spaces

RUN_GROUPS = ("logger",)  # groups a resumed run may choose anew: where it reports, not what it trains


def resume_config(cfg: DictConfig, overrides: Sequence[str], groups: Iterable[str]) -> AlgorithmConfig:
    """The config to continue `cfg.resume` with: the checkpoint's, plus each `key=value` override of the command line.

    A config group override other than `logger` (e.g. `env=pendulum`) is refused: it would replace a whole
    section of the checkpoint's config (`algorithm=<the run's own>` is a no-op, which lets keys only that
    algorithm has be overridden: `algorithm=sac algorithm.tau=0.01`). An override that changes the env's
    spaces, which the checkpoint's module was built for, is refused too.
    """
    path = os.path.abspath(cfg.resume)
    metadata = read_metadata(path)
    config = OmegaConf.create(metadata["config"])
    groups = set(groups)
    applied: List[str] = []
    for override in overrides:
        key = override.split("=", 1)[0].lstrip("+~")
        if key == "resume" or key.startswith("hydra"):
            continue
        if key == "algorithm" and override.split("=", 1)[1] == config.algorithm.name:
            continue  # naming the run's own algorithm lets its own keys be overridden (algorithm.tau=...)
        if key in RUN_GROUPS:
            config[key] = OmegaConf.to_container(cfg[key])
        elif key in groups or "/" in key:
            raise ConfigError(
                f"resume: '{override}' chooses a config group, but a resumed run takes its config from the "
                f"checkpoint ({os.path.join(path, 'metadata.json')}); only {', '.join(RUN_GROUPS)} may be chosen "
                "anew. Override single keys instead (e.g. env_runners.num_env_runners=2, learner.accelerator=cuda, "
                "total_steps=200000), or start a new run without resume=."
            )
        elif override.startswith("~"):
            raise ConfigError(f"resume: '{override}' deletes a key; a resumed run keeps every key of its checkpoint")
        else:
            value = OmegaConf.select(cfg, key)
            if isinstance(value, (DictConfig, ListConfig)):
                value = OmegaConf.to_container(value)
            OmegaConf.update(config, key, value, merge=False)
        applied.append(override)
    config.resume = path
    resumed = AlgorithmConfig.from_dict(OmegaConf.to_container(config))
    validate(resumed)
    observation_space, action_space = env_spaces(resumed.env)
    try:
        check_spaces(path, metadata, observation_space, action_space, f"env '{resumed.env.id}'")
    except ConfigError as exc:
        suspects = [o for o in applied if o.lstrip("+").startswith(("env.", "env_runners.env_to_module"))] or applied
        raise ConfigError(
            f"resume: the override(s) {' '.join(suspects) or '(none)'} change the env's spaces, which a resumed run "
            f"must keep (drop them, or start a new run without resume=). {exc}"
        ) from None
    steps = metadata["counters"]["env_steps"]
    if steps >= resumed.total_steps:
        raise ConfigError(
            f"resume: checkpoint '{path}' is at {steps:,} env steps, which already reaches total_steps="
            f"{resumed.total_steps}; pass a larger total_steps (e.g. total_steps={2 * resumed.total_steps}) to go on"
        )
    return resumed
