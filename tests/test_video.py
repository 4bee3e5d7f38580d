"""Evaluation videos: recording an episode, writing GIF/MP4 atomically, support checks, config, W&B."""
from __future__ import annotations

import glob
import sys

import numpy as np
import pytest

from rlhydra.config.schema import EnvConfig, EvaluationConfig, WandbConfig
from rlhydra.env.video import check_video_support, record_episode, write_video
from tests import test_loggers

CARTPOLE = EnvConfig(id="CartPole-v1")
no_wandb_credentials = test_loggers.no_wandb_credentials  # the same isolated W&B home as tests/test_loggers.py


def always_left(obs: np.ndarray) -> np.ndarray:
    """Action 0 for every observation of the batch."""
    return np.zeros(len(obs), dtype=np.int64)


@pytest.fixture(scope="module")
def cartpole_frames():
    return record_episode(CARTPOLE, always_left, seed=0)


def test_record_episode_renders_every_step(cartpole_frames):
    frames, episode_return = cartpole_frames
    steps = len(frames) - 1  # one frame after reset, one after each step
    assert steps > 0 and episode_return == steps  # CartPole pays 1 per step
    assert all(f.shape == (400, 600, 3) and f.dtype == np.uint8 for f in frames)
    assert not np.array_equal(frames[0], frames[-1])


def test_record_episode_stops_at_max_frames():
    frames, episode_return = record_episode(CARTPOLE, always_left, seed=0, max_frames=3)
    assert len(frames) == 3 and episode_return == 2


def test_record_episode_passes_a_batch_of_one_raw_observation():
    seen = []

    def act(obs: np.ndarray) -> np.ndarray:
        seen.append(obs.shape)
        return always_left(obs)

    record_episode(CARTPOLE, act, seed=0, max_frames=4)
    assert seen == [(1, 4)] * 3


def test_write_gif_has_every_frame_and_no_temp_file(cartpole_frames, tmp_path):
    from PIL import Image, ImageSequence

    frames, _ = cartpole_frames
    path = tmp_path / "videos" / "eval.gif"
    assert write_video(frames, str(path), fps=30) == str(path)
    changes = sum(not np.array_equal(a, b) for a, b in zip(frames, frames[1:]))
    with Image.open(path) as gif:
        assert gif.size == (600, 400)
        assert gif.n_frames == 1 + changes  # Pillow shows a repeated frame once, for longer
        total_ms = sum(frame.info["duration"] for frame in ImageSequence.Iterator(gif))
    assert total_ms == round(len(frames) * 100 / 30) * 10  # plays for len(frames) / fps seconds
    assert [p.name for p in path.parent.iterdir()] == ["eval.gif"]


def test_write_mp4_without_ffmpeg_names_the_install_and_leaves_nothing(cartpole_frames, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # import fails whether or not it is installed
    with pytest.raises(ImportError, match=r"pip install 'imageio\[ffmpeg\]'"):
        write_video(cartpole_frames[0], str(tmp_path / "eval.mp4"), fps=30)
    assert list(tmp_path.iterdir()) == []


def test_check_video_support(monkeypatch):
    assert check_video_support(CARTPOLE, "gif") is None
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)
    message = check_video_support(CARTPOLE, "mp4")
    assert message.startswith("evaluation.video_format=mp4 needs imageio-ffmpeg: pip install 'imageio[ffmpeg]'")
    assert "evaluation.video_format=gif" in message


@pytest.mark.filterwarnings("ignore:.*render_mode")
def test_check_video_support_names_an_env_that_cannot_render():
    message = check_video_support(EnvConfig(id="NaNObs-v0"), "gif")
    assert message.startswith("evaluation.video=true: env 'NaNObs-v0' cannot render rgb_array frames (")
    assert message.endswith("or set evaluation.video=false")


@pytest.mark.parametrize("kwargs, message", [
    ({"video_format": "avi"}, ("video_format", "must be one of gif, mp4; got 'avi'")),
    ({"video_fps": 0}, ("video_fps", "must be > 0, got 0")),
])
def test_evaluation_video_settings_are_checked(kwargs, message):
    assert list(EvaluationConfig().checks()) == []
    assert message in list(EvaluationConfig(**kwargs).checks())


def test_wandb_logs_the_eval_video_offline(no_wandb_credentials, cartpole_frames):
    import wandb

    from rlhydra.loggers.wandb_logger import WandbLogger

    run_dir = no_wandb_credentials / "run"
    video = write_video(cartpole_frames[0][:5], str(run_dir / "videos" / "eval.gif"), fps=30)
    logger = WandbLogger(WandbConfig(enabled=True, mode="offline"), str(run_dir), {"seed": 0}, name="video")
    logger.log({"env_steps": 256, "eval/episode_return_mean": 9.0, "eval/video": video})
    logger.log({"env_steps": 512, "eval/video": str(run_dir / "videos" / "missing.gif")})  # skipped, no error
    logger.close()
    wandb.teardown()  # the W&B service writes the .wandb file on its own; this waits until it has finished
    files = glob.glob(str(run_dir / "wandb" / "offline-run-*" / "run-*.wandb"))
    assert len(files) == 1, files
    keys = test_loggers.read_wandb_run(files[0])["history_keys"]
    assert {"eval/video/_type", "eval/episode_return_mean"} <= keys  # a media entry, not a scalar
    assert glob.glob(str(run_dir / "wandb" / "offline-run-*" / "files" / "media" / "videos" / "eval" / "*.gif"))


# ---- from the command line ------------------------------------------------------------------------------------
@pytest.mark.slow
def test_train_py_writes_an_eval_video_per_evaluation(tmp_path):
    import json

    from PIL import Image

    from tests.test_cli import run_train

    proc = run_train("total_steps=1024", "algorithm.train_batch_size=256", "algorithm.minibatch_size=256",
                     "evaluation.interval=2", "evaluation.episodes=2", "evaluation.video=true",
                     "evaluation.video_fps=50", f"hydra.run.dir={tmp_path}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    videos = sorted(p.name for p in (tmp_path / "videos").iterdir())
    assert videos == ["eval_iter_000002.gif", "eval_iter_000004.gif"]  # iteration 4 is the last: no extra final one
    with open(tmp_path / "metrics.jsonl") as f:
        rows = [json.loads(line) for line in f]
    assert rows[1]["eval/video"] == str(tmp_path / "videos" / "eval_iter_000002.gif")
    with Image.open(tmp_path / "videos" / "eval_iter_000004.gif") as gif:
        assert gif.size == (600, 400) and gif.n_frames > 1


def test_train_py_refuses_a_video_the_env_cannot_render():
    from tests.test_cli import run_train

    proc = run_train("env.id=tests.fault_envs:NaNObs-v0", "evaluation.video=true")
    assert proc.returncode == 2  # a config error: rlhydra's message, exit code 2
    assert "evaluation.video=true: env 'tests.fault_envs:NaNObs-v0' cannot render rgb_array frames" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_mujoco_env_that_cannot_render_is_told_about_mujoco_gl(monkeypatch):
    import rlhydra.env.video as video

    def no_gl(env_config):
        raise RuntimeError("gladLoadGL error")  # what MuJoCo raises without an off-screen GL context

    monkeypatch.setattr(video, "_make_render_env", no_gl)
    message = check_video_support(EnvConfig(id="HalfCheetah-v5"), "gif")
    assert message == ("evaluation.video=true: env 'HalfCheetah-v5' cannot render rgb_array frames (gladLoadGL "
                       "error); MuJoCo renders off screen with MUJOCO_GL=egl (a GPU's EGL; MUJOCO_GL=osmesa without "
                       "a GPU, apt install libosmesa6): run as MUJOCO_GL=egl <your command>, or set "
                       "evaluation.video=false")


def test_recording_leaves_the_sdl_driver_as_it_was(monkeypatch):
    import os

    monkeypatch.delenv("SDL_VIDEODRIVER", raising=False)
    record_episode(CARTPOLE, always_left, seed=0, max_frames=2)
    assert "SDL_VIDEODRIVER" not in os.environ
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")  # the user's choice is kept, not popped
    assert check_video_support(CARTPOLE, "gif") is None
    assert os.environ["SDL_VIDEODRIVER"] == "dummy"
