"""The `logger` group: several at once, W&B offline (what it wrote), the no-key fallback, TensorBoard."""
from __future__ import annotations

import glob
import json
import os
import struct
import subprocess
import sys
from typing import Dict, Iterator, List

import pytest

from rlhydra.config.schema import ConfigError, WandbConfig
from rlhydra.core.preflight import check_hydra_config
from rlhydra.loggers import check_logger_overrides
from rlhydra.loggers.base import scalar_metrics
from rlhydra.loggers.wandb_logger import choose_mode, has_credentials
from rlhydra.sweep_summary import read_job_results
from tests.conftest import ROOT, compose_cfg


@pytest.fixture
def no_wandb_credentials(monkeypatch, tmp_path):
    """No API key, no netrc, W&B's side folders in tmp (it must never reach for the network)."""
    for var in ("WANDB_API_KEY", "WANDB_IDENTITY_TOKEN_FILE", "WANDB_MODE", "WANDB_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    for var, sub in (("WANDB_DATA_DIR", "data"), ("WANDB_CACHE_DIR", "cache"), ("WANDB_CONFIG_DIR", "config")):
        monkeypatch.setenv(var, str(tmp_path / "wandb-home" / sub))
    return tmp_path


# ---- composing the group ---------------------------------------------------------------------
@pytest.mark.parametrize("choice, expected", [  # (console, jsonl, wandb, tensorboard)
    ("default", (True, True, False, False)),
    ("console", (True, False, False, False)),
    ("jsonl", (False, True, False, False)),
    ("wandb", (True, True, True, False)),
    ("tensorboard", (True, True, False, True)),
    ("[jsonl,wandb]", (False, True, True, False)),
    ("[wandb,console]", (True, False, True, False)),
    ("[jsonl,tensorboard,wandb]", (False, True, True, True)),
])
def test_logger_choices_compose_to_the_right_switches(choice, expected):
    logger = compose_cfg([f"logger={choice}"]).logger
    assert (logger.console, logger.jsonl, logger.wandb.enabled, logger.tensorboard) == expected


def test_two_base_logger_choices_in_one_list_are_rejected():
    check_logger_overrides(["logger=[jsonl,wandb]", "seed=1"])  # fine
    with pytest.raises(ConfigError, match=r"logger=\[console,jsonl\]: pick one of default, console, jsonl"):
        check_logger_overrides(["logger=[console,jsonl]"])


def test_logger_list_builds_those_loggers(tmp_path):
    pytest.importorskip("tensorboard")
    from rlhydra.loggers import JsonlLogger, build_loggers
    from rlhydra.loggers.tensorboard_logger import TensorBoardLogger

    config = check_hydra_config(compose_cfg(["logger=[jsonl,tensorboard]"]))
    loggers = build_loggers(config, str(tmp_path))
    try:
        assert [type(lg) for lg in loggers] == [JsonlLogger, TensorBoardLogger]
        assert loggers[1].log_dir == str(tmp_path / "tensorboard")
    finally:
        for logger in loggers:
            logger.close()


def test_scalar_metrics_keeps_finite_numbers_only():
    import numpy as np
    import torch

    out = scalar_metrics({"a": 1, "b": 2.5, "c": float("nan"), "d": None, "checkpoint": "/x",
                          "e": np.float32(3.0), "f": torch.tensor(4.0)})
    assert out == {"a": 1, "b": 2.5, "e": 3.0, "f": 4.0}


# ---- W&B mode choice -------------------------------------------------------------------------
def test_online_without_credentials_falls_back_to_offline(no_wandb_credentials):
    assert not has_credentials()
    mode, reason = choose_mode("online")
    assert mode == "offline" and "no API key" in reason
    assert choose_mode("disabled") == ("disabled", None)


def test_credentials_from_env_or_netrc_keep_online(no_wandb_credentials, monkeypatch):
    netrc = no_wandb_credentials / "netrc"
    netrc.write_text("machine api.wandb.ai\n  login user\n  password " + "k" * 40 + "\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    assert choose_mode("online") == ("online", None)
    monkeypatch.setenv("NETRC", str(no_wandb_credentials / "no-netrc"))
    monkeypatch.setenv("WANDB_API_KEY", "k" * 40)
    assert choose_mode("online") == ("online", None)
    monkeypatch.setenv("WANDB_MODE", "offline")
    assert choose_mode("online")[0] == "offline"


# ---- W&B end to end, offline -----------------------------------------------------------------
def wandb_records(path: str) -> Iterator[object]:
    """Records of a .wandb file (LevelDB-log framing: 7-byte header, 32 KiB blocks, crc32|len16|type8 records)."""
    from wandb.proto import wandb_internal_pb2 as pb

    with open(path, "rb") as f:
        data = f.read()
    pos, buf = 7, b""
    while pos + 7 <= len(data):
        left = 32768 - pos % 32768
        if left < 7:
            pos += left
            continue
        _, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        pos += 7
        if length == 0 and kind == 0:
            pos += left - 7
            continue
        buf += data[pos:pos + length]
        pos += length
        if kind in (1, 4):  # FULL or LAST fragment
            record = pb.Record()
            record.ParseFromString(buf)
            buf = b""
            yield record


def read_wandb_run(path: str) -> Dict[str, object]:
    """The run record's id/group/name/config, the history keys, step metrics and artifacts of one .wandb file."""
    out: Dict[str, object] = {"history_keys": set(), "step_metrics": {}, "artifacts": [], "env_steps": []}
    for record in wandb_records(path):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run = record.run
            out.update(id=run.run_id, group=run.run_group, name=run.display_name,
                       config={i.key: json.loads(i.value_json) for i in run.config.update})
        elif kind == "history":
            for item in record.history.item:
                key = item.key or "/".join(item.nested_key)
                out["history_keys"].add(key)
                if key == "env_steps":
                    out["env_steps"].append(json.loads(item.value_json))
        elif kind == "metric":
            out["step_metrics"][record.metric.name or record.metric.glob_name] = record.metric.step_metric
        elif kind == "artifact":
            out["artifacts"].append((record.artifact.type, sorted(record.artifact.aliases)))
    return out


@pytest.mark.slow
def test_multirun_jobs_are_separate_offline_wandb_runs_in_one_group(no_wandb_credentials):
    sweep_dir = no_wandb_credentials / "sweep"
    proc = subprocess.run(
        [sys.executable, "train.py", "-m", "logger=[jsonl,wandb]", "logger.wandb.log_checkpoints=true",
         "seed=0,1", "total_steps=512", "evaluation.episodes=2", f"hydra.sweep.dir={sweep_dir}"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, env=dict(os.environ, WANDB_SILENT="true"),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("rlhydra: W&B logging offline: no API key") == 2  # mode online, no key: one notice per job
    runs: List[Dict[str, object]] = []
    for job in read_job_results(str(sweep_dir)):  # folders named after the config (rlhydra/multirun.py)
        files = glob.glob(os.path.join(job["run_dir"], "wandb", "offline-run-*", "run-*.wandb"))
        assert len(files) == 1, files
        runs.append(read_wandb_run(files[0]))
    assert runs[0]["id"] != runs[1]["id"]  # each job its own run, never the previous one
    assert runs[0]["group"] == runs[1]["group"] == str(sweep_dir)
    for job, run in enumerate(runs):
        assert f"seed={job}" in run["name"]
        config = run["config"]
        assert config["seed"] == job and config["total_steps"] == 512  # the resolved config of this job
        assert config["env"]["id"] == "CartPole-v1" and config["algorithm"]["name"] == "ppo"
        assert {"env_steps", "train/episode_return_mean", "eval/episode_return_mean", "iteration"} <= run["history_keys"]
        assert run["env_steps"] == [256, 512]
        assert run["step_metrics"]["*"] == "env_steps"
        assert run["artifacts"] == [("model", ["final", "latest"])]


def test_disabled_wandb_logger_runs_without_files(no_wandb_credentials):
    from rlhydra.loggers.wandb_logger import WandbLogger

    run_dir = no_wandb_credentials / "run"
    logger = WandbLogger(WandbConfig(enabled=True, mode="disabled"), str(run_dir), {"seed": 0}, name="x")
    logger.log({"env_steps": 1, "train/episode_return_mean": 2.0, "checkpoint": "nowhere"})
    logger.close()
    logger.close()  # idempotent
    assert logger.mode == "disabled"
    assert not (run_dir / "wandb").exists()


# ---- TensorBoard -----------------------------------------------------------------------------
def test_tensorboard_logger_writes_scalars_against_env_steps(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from rlhydra.loggers.tensorboard_logger import TensorBoardLogger

    logger = TensorBoardLogger(str(tmp_path / "tb"))
    for i in (1, 2, 3):
        logger.log({"env_steps": 256 * i, "iteration": i, "train/episode_return_mean": 10.0 * i,
                    "checkpoint": "/somewhere"})
    logger.close()
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    assert set(events.Tags()["scalars"]) == {"iteration", "train/episode_return_mean"}
    points = [(s.step, s.value) for s in events.Scalars("train/episode_return_mean")]
    assert points == [(256, 10.0), (512, 20.0), (768, 30.0)]
