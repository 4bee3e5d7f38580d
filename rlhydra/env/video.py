"""Video of one evaluation episode: rgb_array frames from an env built as in training, saved as GIF or MP4."""
from __future__ import annotations

import contextlib
import importlib
import os
import re
import secrets
from typing import Callable, Iterator, List, Optional, Sequence, Tuple

import gymnasium as gym
import numpy as np

from rlhydra.config.schema import EnvConfig
from rlhydra.env.make import _make_kwargs, build_wrappers, resolve_env_spec

VIDEO_FORMATS = ("gif", "mp4")
_MP4_HINT = "pip install 'imageio[ffmpeg]'"


def record_episode(
    env_config: EnvConfig,
    act: Callable[[np.ndarray], np.ndarray],
    seed: int,
    *,
    max_frames: int = 1000,
) -> Tuple[List[np.ndarray], float]:
    """Play one episode with `act` (batch of 1 in, batch of env actions out); its frames and return."""
    with _offscreen_sdl():
        env = _make_render_env(env_config)
        try:
            obs, _ = env.reset(seed=seed)
            frames = [_render(env)]
            episode_return = 0.0
            done = False
            while not done and len(frames) < max_frames:
                action = act(np.asarray(obs)[None])[0]
                obs, reward, terminated, truncated, _ = env.step(action)
                episode_return += float(reward)
                frames.append(_render(env))
                done = terminated or truncated
            return frames, episode_return
        finally:
            env.close()


@contextlib.contextmanager
def _offscreen_sdl() -> Iterator[None]:
    """SDL's dummy video driver while frames are drawn off screen, then the environment as it was.

    Gymnasium's classic-control envs draw rgb_array frames with pygame, whose display init looks for a desktop
    session and prints "error: XDG_RUNTIME_DIR is invalid or not set" on a headless machine at each new env; an
    off-screen frame needs no display. A driver the user chose (SDL_VIDEODRIVER set) is kept.
    """
    if "SDL_VIDEODRIVER" in os.environ:
        yield
        return
    os.environ["SDL_VIDEODRIVER"] = "dummy"
    try:
        yield
    finally:
        os.environ.pop("SDL_VIDEODRIVER", None)


def write_video(frames: Sequence[np.ndarray], path: str, fps: int) -> str:
    """Write `frames` to `path` (.gif with Pillow, .mp4 with imageio-ffmpeg) atomically; returns `path`."""
    ext = os.path.splitext(path)[1].lower().lstrip(".")
    if ext not in VIDEO_FORMATS:
        raise ValueError(f"write_video: {path} must end with .gif or .mp4")
    if not frames:
        raise ValueError("write_video: no frames to write")
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{secrets.token_hex(4)}.{ext}")  # the umask's mode, not
    # tempfile.mkstemp's 0600
    try:
        if ext == "gif":
            _write_gif(frames, tmp, fps)
        else:
            _write_mp4(frames, tmp, fps)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def check_video_support(env_config: EnvConfig, video_format: str) -> Optional[str]:
    """None when a video can be recorded in `video_format`, else a one-line message with the key and fix."""
    if video_format == "mp4" and not _has_ffmpeg():
        return (f"evaluation.video_format=mp4 needs imageio-ffmpeg: {_MP4_HINT}, "
                "or use evaluation.video_format=gif")
    spec = resolve_env_spec(env_config.id)  # an unknown id is reported as such, not as a rendering problem
    try:
        with _offscreen_sdl():
            env = _make_render_env(env_config)
            try:
                env.reset(seed=0)
                _render(env)
            finally:
                env.close()
    except Exception as exc:  # DependencyNotInstalled, no display, no rgb_array mode: all mean no video
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return f"evaluation.video=true: env '{env_config.id}' cannot render rgb_array frames ({reason}); " + (
            _render_fix(str(spec.entry_point), exc))
    return None


def _render_fix(entry_point: str, exc: Exception) -> str:
    """What to do when an env cannot draw frames: MuJoCo envs (and any env failing in OpenGL) need an off-screen GL
    backend (MUJOCO_GL=egl, or osmesa without a GPU); others their rendering extra."""
    text = f"{entry_point} {type(exc).__module__} {exc}".lower()
    if "mujoco" in text or re.search(r"\b(egl|glfw|osmesa|opengl)\b|gl[a-z]*error|gladloadgl", text):
        return ("MuJoCo renders off screen with MUJOCO_GL=egl (a GPU's EGL; MUJOCO_GL=osmesa without a GPU, "
                "apt install libosmesa6): run as MUJOCO_GL=egl <your command>, or set evaluation.video=false")
    return "install its rendering extra (e.g. pip install 'gymnasium[classic-control]') or set evaluation.video=false"


def _make_render_env(env_config: EnvConfig) -> gym.Env:
    spec = resolve_env_spec(env_config.id)
    env = gym.make(spec.id, **{**_make_kwargs(env_config), "render_mode": "rgb_array"})
    for wrap in build_wrappers(env_config):
        env = wrap(env)
    return env


def _render(env: gym.Env) -> np.ndarray:
    frame = env.render()
    if not isinstance(frame, np.ndarray) or frame.ndim != 3:
        raise RuntimeError(f"render() returned {type(frame).__name__}, not an HxWxC image")
    return np.array(frame)  # a copy: some envs reuse one buffer for every frame


def _write_gif(frames: Sequence[np.ndarray], path: str, fps: int) -> None:
    from PIL import Image

    images = [Image.fromarray(np.asarray(frame, dtype=np.uint8)) for frame in frames]
    # GIF delays are whole centiseconds: spread the rounding so the total length stays len(frames) / fps
    ends_cs = np.round(np.arange(len(frames) + 1) * 100 / fps)
    durations = [int(d) * 10 for d in np.diff(ends_cs)]
    images[0].save(path, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0)


def _write_mp4(frames: Sequence[np.ndarray], path: str, fps: int) -> None:
    if not _has_ffmpeg():
        raise ImportError(f"writing .mp4 videos needs imageio and imageio-ffmpeg: {_MP4_HINT} "
                          "(or write a .gif, which needs only Pillow)")
    import imageio

    # blocks of 2 (what yuv420p needs) keep 600x400 as it is, where the default 16 resizes it with a warning
    imageio.mimwrite(path, [np.asarray(frame, dtype=np.uint8) for frame in frames], fps=fps, macro_block_size=2)


def _has_ffmpeg() -> bool:
    try:
        for name in ("imageio", "imageio_ffmpeg"):
            importlib.import_module(name)
    except ImportError:
        return False
    return True
