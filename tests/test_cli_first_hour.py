"""The first hour at the command line (issue 13): what a run prints, where it goes and how it ends, as a user meets it."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

TRAIN = os.path.join(ROOT, "train.py")


def train(*overrides: str, cwd=ROOT, timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, TRAIN, *overrides], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)


def only_run_folder(tmp_path):
    (day,) = os.listdir(tmp_path / "outputs")
    (name,) = os.listdir(tmp_path / "outputs" / day)
    return tmp_path / "outputs" / day / name


# ---- item 2: tuned settings by env id, run folders named after the actual pair ---------------------------------
@pytest.mark.slow
def test_env_id_override_gets_its_own_tuned_settings_and_run_folder(tmp_path):
    proc = train("env.id=Acrobot-v1", "total_steps=100", "evaluation.interval=0", "evaluation.episodes=1",
                 "logger=console", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    run_dir = only_run_folder(tmp_path)
    assert run_dir.name.endswith("_ppo_Acrobot-v1")
    assert ("rlhydra: tuned settings for ppo on Acrobot-v1: rlhydra/conf/tuned/ppo_acrobot.yaml (command-line keys "
            "win; ~tuned leaves them out)") in proc.stdout
    assert "steps      4,096" in proc.stdout  # ppo_acrobot's 16 envs x 256 steps, not ppo_cartpole's 256


@pytest.mark.slow
def test_a_resumed_run_is_named_after_its_checkpoint(tmp_path):
    first = tmp_path / "first"
    proc = train("algorithm=a2c", "env=pendulum", "total_steps=100", "evaluation.interval=0",
                 "evaluation.episodes=1", "logger=console", f"hydra.run.dir={first}")
    assert proc.returncode == 0, proc.stderr
    proc = train(f"resume={first / 'checkpoints' / 'final'}", "total_steps=300", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert only_run_folder(tmp_path).name.endswith("_a2c_Pendulum-v1")


# ---- item 3: Ctrl-C / SIGTERM end calmly -----------------------------------------------------------------------
@pytest.mark.slow
def test_a_second_ctrl_c_stops_at_once_without_a_traceback(tmp_path):
    import signal

    run_dir = tmp_path / "run"
    proc = subprocess.Popen(  # long iterations: the second signal arrives inside the one the first lets finish
        [sys.executable, TRAIN, "total_steps=100000000", "evaluation.interval=0", "algorithm.num_epochs=400",
         "checkpointing.interval=1", "logger=console", f"hydra.run.dir={run_dir}"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=ROOT))
    out = []
    for line in proc.stdout:  # the first progress line: an iteration (and its checkpoint) is done
        out.append(line)
        if "steps/s" in line:
            proc.send_signal(signal.SIGINT)
        if "SIGINT received" in line:
            proc.send_signal(signal.SIGINT)
            break
    rest, err = proc.communicate(timeout=60)
    out = "".join(out) + rest
    assert proc.returncode == 130
    assert "rlhydra: stopped at once by a second signal after " in out
    checkpoint = run_dir / "checkpoints" / "iter_000001"
    assert f"  checkpoint: {checkpoint}\n  continue:   python train.py resume={checkpoint}" in out
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err


# ---- item 7: a run says what happened, on screen and in train.log ----------------------------------------------
@pytest.mark.slow
def test_a_run_without_evaluation_or_metrics_file_says_so_and_logs_to_train_log(tmp_path):
    proc = train("total_steps=256", "evaluation.interval=0", "evaluation.final=false", "logger=console",
                 f"hydra.run.dir={tmp_path}")
    assert proc.returncode == 0, proc.stderr
    assert "done in " in proc.stdout and ": 256 env steps, no evaluation\n  stopped:    total_steps=256 reached\n" \
        in proc.stdout
    assert "nan" not in proc.stdout and "metrics.jsonl" not in proc.stdout  # logger=console writes none
    assert "rlhydra: progress after each iteration of 256 env steps" in proc.stdout
    log = (tmp_path / "train.log").read_text()
    assert "iter     1 | steps        256" in log and "no evaluation" in log


@pytest.mark.slow
def test_a_run_stopped_by_stop_at_return_says_why(tmp_path):
    proc = train("total_steps=100000", "evaluation.interval=1", "evaluation.stop_at_return=5", "logger=jsonl",
                 f"hydra.run.dir={tmp_path}")
    assert proc.returncode == 0, proc.stderr
    assert "reached evaluation.stop_at_return=5.0\n" in proc.stdout
    assert f"  metrics:    {tmp_path / 'metrics.jsonl'}" in proc.stdout


# ---- item 6: value mistakes in any group or root key end before the run, with a clean message ------------------
MPS = ("rlhydra: learner.accelerator=mps: Apple's MPS backend is not available on this machine (it exists only on "
       "macOS with Apple silicon). Use learner.accelerator=cpu, or cuda on a machine with an NVIDIA GPU.")
SLURM = ("rlhydra: hydra/launcher=slurm: SLURM is not available on this machine (no sbatch on PATH); run it on your "
         "cluster's login node. Here use hydra/launcher=parallel (several jobs at once on this machine), "
         "hydra/launcher=submitit_local (submitit's path, as local processes), or no hydra/launcher (one job after "
         "another).")


@pytest.mark.slow
def test_value_mistakes_outside_the_algorithm_stop_before_hydra_starts(tmp_path):
    import torch

    cases = [
        (["seed=-1"], "rlhydra: seed=-1: seed must be >= 0, got -1"),
        (["-m", "seed=0,-1"], "rlhydra: seed=0,-1: seed must be >= 0, got -1"),
        (["learner.strategy=deepspeed"],
         "rlhydra: learner.strategy=deepspeed: learner.strategy must be one of auto, ddp, ddp_spawn; got 'deepspeed'"),
        (["evaluation.video_format=avi"],
         "rlhydra: evaluation.video_format=avi: evaluation.video_format must be one of gif, mp4; got 'avi'"),
    ]
    if not torch.backends.mps.is_available():
        cases.append((["learner.accelerator=mps"], MPS))
    for overrides, message in cases:
        proc = train(*overrides, f"hydra.run.dir={tmp_path / 'run'}", f"hydra.sweep.dir={tmp_path / 'sweep'}")
        assert (proc.returncode, proc.stderr.strip(), proc.stdout) == (2, message, ""), overrides
    assert not os.listdir(tmp_path)  # nothing created


def test_slurm_launcher_off_a_cluster_names_the_local_launchers(tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT, PATH=os.path.dirname(sys.executable))  # no sbatch on PATH
    proc = subprocess.run([sys.executable, TRAIN, "-m", "hydra/launcher=slurm", "seed=0,1",
                           f"hydra.sweep.dir={tmp_path / 'sweep'}"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env=env)
    assert (proc.returncode, proc.stderr.strip()) == (2, SLURM)
    assert not os.listdir(tmp_path)


# ---- item 9: run folders honour the umask; a headless video run prints no SDL noise -----------------------------
@pytest.mark.slow
def test_checkpoints_and_videos_honour_the_umask_and_video_prints_no_sdl_warning(tmp_path):
    import stat

    env = {k: v for k, v in os.environ.items() if k not in ("XDG_RUNTIME_DIR", "SDL_VIDEODRIVER", "DISPLAY")}
    env["PYTHONPATH"] = ROOT
    proc = subprocess.run([sys.executable, TRAIN, "total_steps=256", "evaluation.interval=1", "evaluation.episodes=1",
                           "evaluation.video=true", "logger=console", f"hydra.run.dir={tmp_path / 'run'}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, env=env,
                          preexec_fn=lambda: os.umask(0o027))
    assert proc.returncode == 0, proc.stderr
    assert "XDG_RUNTIME_DIR" not in proc.stdout + proc.stderr
    mode = lambda p: stat.S_IMODE(p.stat().st_mode)  # noqa: E731
    run_dir = tmp_path / "run"
    assert mode(run_dir / "checkpoints" / "final") == 0o750
    assert mode(run_dir / "checkpoints" / "final" / "module.pt") == 0o640
    (video,) = (run_dir / "videos").iterdir()
    assert mode(video) == 0o640
