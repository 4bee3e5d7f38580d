"""Weights & Biases: the resolved config as the run config, one row per iteration against env_steps.

Without an API key (or when the server cannot be reached) the run is written offline, with a one-line
notice, instead of prompting for a login or waiting on the network; upload it later with `wandb sync <dir>`.
"""
from __future__ import annotations

import netrc
import os
from typing import Any, Dict, Optional
from urllib.parse import urlsplit

from rlhydra.config.schema import WandbConfig
from rlhydra.loggers.base import Logger, scalar_metrics

INIT_TIMEOUT_S = 10.0  # seconds wandb.init waits for the server before we fall back (WANDB_INIT_TIMEOUT wins)
STEP_METRIC = "env_steps"
VIDEO_KEY = "eval/video"  # a result entry holding the path of an evaluation episode's video
_KNOWN_HOSTS = ("api.wandb.ai", "api.forge.coreweave.com")


def has_credentials() -> bool:
    """True when W&B could authenticate without prompting: WANDB_API_KEY or a netrc entry for its host."""
    if os.environ.get("WANDB_API_KEY") or os.environ.get("WANDB_IDENTITY_TOKEN_FILE"):
        return True
    hosts = set(_KNOWN_HOSTS)
    if os.environ.get("WANDB_BASE_URL"):
        hosts.add(urlsplit(os.environ["WANDB_BASE_URL"]).netloc)
    path = os.environ.get("NETRC") or os.path.join(os.path.expanduser("~"), ".netrc")
    try:
        entries = netrc.netrc(path).hosts
    except (OSError, netrc.NetrcParseError):
        return False
    return any(host in entries for host in hosts)


def choose_mode(requested: str) -> tuple[str, Optional[str]]:
    """The mode to start in and, when it differs from `requested`, the one-line reason."""
    env_mode = os.environ.get("WANDB_MODE", "").lower()
    if requested == "online" and env_mode in ("offline", "dryrun", "disabled"):
        mode = "offline" if env_mode == "dryrun" else env_mode
        return mode, f"WANDB_MODE={env_mode} is set"
    if requested == "online" and not has_credentials():
        return "offline", "no API key (set WANDB_API_KEY or run `wandb login`)"
    return requested, None


class WandbLogger(Logger):
    """One W&B run per training run; finished (never reused) in `close()`."""

    def __init__(
        self,
        cfg: WandbConfig,
        run_dir: str,
        run_config: Dict[str, Any],
        *,
        name: Optional[str] = None,
        group: Optional[str] = None,
    ) -> None:
        import wandb

        self.log_checkpoints = cfg.log_checkpoints
        self._last_checkpoint: Optional[str] = None
        mode, reason = choose_mode(cfg.mode)
        init_kwargs = dict(
            project=cfg.project, entity=cfg.entity, group=cfg.group or group, name=name, job_type="train",
            config=run_config, dir=run_dir, reinit="finish_previous",
            settings=wandb.Settings() if os.environ.get("WANDB_INIT_TIMEOUT")
            else wandb.Settings(init_timeout=INIT_TIMEOUT_S),
        )
        try:
            self.run = wandb.init(mode=mode, **init_kwargs)
        except wandb.errors.CommError as exc:  # network down, timeout, or a key the server refuses
            if mode != "online":
                raise
            reason = f"cannot use the W&B server ({str(exc).splitlines()[0]})"
            mode = "offline"
            self.run = wandb.init(mode=mode, **init_kwargs)
        if reason:
            where = os.path.dirname(self.run.dir) if mode == "offline" else ""
            hint = f"; upload later with `wandb sync {where}`" if where else ""
            print(f"rlhydra: W&B logging {mode}: {reason}{hint}", flush=True)
        self.mode = mode
        self.run.define_metric(STEP_METRIC)
        self.run.define_metric("*", step_metric=STEP_METRIC)

    def log(self, result: Dict[str, Any]) -> None:
        if result.get("checkpoint"):
            self._last_checkpoint = result["checkpoint"]
        metrics: Dict[str, Any] = dict(scalar_metrics(result))
        video = result.get(VIDEO_KEY)
        if isinstance(video, str) and os.path.isfile(video):
            import wandb

            metrics[VIDEO_KEY] = wandb.Video(video, format=os.path.splitext(video)[1].lstrip(".").lower())
        self.run.log(metrics)

    def close(self) -> None:
        if self.run is None:
            return
        run, self.run = self.run, None
        try:
            if self.log_checkpoints and self._last_checkpoint and os.path.isdir(self._last_checkpoint):
                self._log_checkpoint(run, self._last_checkpoint)
        finally:
            run.finish()

    @staticmethod
    def _log_checkpoint(run: Any, path: str) -> None:
        import wandb

        artifact = wandb.Artifact(f"checkpoint-{run.id}", type="model",
                                  metadata={"path": os.path.abspath(path)})
        artifact.add_dir(path)
        run.log_artifact(artifact, aliases=["latest", os.path.basename(os.path.normpath(path))])
