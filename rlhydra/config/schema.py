"""The typed schema: one dataclass per config group, shared by the YAML files and the Python builder."""
from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, Dict, Iterator, List, Optional, Tuple

from hydra.errors import CompactHydraException
from omegaconf import MISSING


class ConfigError(ValueError, CompactHydraException):
    """A user-facing configuration error: names the key and the fix (Hydra prints it without a traceback)."""


class Section:
    """Base of every config dataclass: range checks and freezing after ``build()``."""

    def __setattr__(self, name: str, value: Any) -> None:
        if self.__dict__.get("_frozen", False):
            raise AttributeError(
                f"config is frozen after build(): cannot set '{name}'. "
                "Change the config before build(), or use algo.config.copy()."
            )
        super().__setattr__(name, value)

    def freeze(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Section):
                value.freeze()
        object.__setattr__(self, "_frozen", True)

    def checks(self) -> Iterator[Tuple[str, str]]:
        """Yield (key, problem-and-fix) for each invalid value; keys are relative to this section."""
        return iter(())


def _positive(section: Section, *names: str) -> Iterator[Tuple[str, str]]:
    for name in names:
        value = getattr(section, name)
        if value is not None and value <= 0:
            yield name, f"must be > 0, got {value}"


def _in_range(value: float, name: str, low: float, high: float) -> Iterator[Tuple[str, str]]:
    if not low <= value <= high:
        yield name, f"must be in [{low}, {high}], got {value}"


def _one_of(value: Any, name: str, choices: Tuple[Any, ...]) -> Iterator[Tuple[str, str]]:
    if value not in choices:
        yield name, f"must be one of {', '.join(map(str, choices))}; got '{value}'"


@dataclass
class TrainingConfig(Section):
    """Hyperparameters every algorithm has; each algorithm's config subclasses it (group `algorithm`)."""

    name: str = MISSING  # registry name of the algorithm: ppo, sac, dqn ...
    lr: float = 3e-4  # optimizer learning rate
    gamma: float = 0.99  # discount factor
    train_batch_size: int = 4000  # env steps collected per training iteration (all envs together)
    grad_clip: Optional[float] = None  # max global grad norm; null disables clipping

    def checks(self) -> Iterator[Tuple[str, str]]:
        yield from _positive(self, "lr", "train_batch_size", "grad_clip")
        yield from _in_range(self.gamma, "gamma", 0.0, 1.0)


@dataclass
class OffPolicyTrainingConfig(TrainingConfig):
    """What off-policy algorithms (SAC, DQN) share: replay, update cadence, n-step returns."""

    train_batch_size: int = 256  # transitions per gradient step (RLlib's meaning for off-policy algorithms)
    learning_starts: int = 100  # env steps of uniform random actions before the first gradient step
    train_freq: int = 1  # vector steps collected between rounds of gradient steps
    gradient_steps: int = 1  # gradient steps per round; -1: one per env step collected in the round
    steps_per_iteration: int = 1000  # env steps per train() call (one metrics row)
    n_step: int = 1  # n-step returns, computed in the buffer, never across an episode end

    def checks(self) -> Iterator[Tuple[str, str]]:
        yield from super().checks()
        yield from _positive(self, "train_freq", "steps_per_iteration", "n_step")
        if self.learning_starts < 0:
            yield "learning_starts", f"must be >= 0, got {self.learning_starts}"
        if self.gradient_steps == 0 or self.gradient_steps < -1:
            yield "gradient_steps", f"must be >= 1, or -1 for one per env step; got {self.gradient_steps}"


@dataclass
class EnvConfig(Section):
    """The Gymnasium environment (group `env`)."""

    id: str = MISSING  # any registered Gymnasium id, or 'pkg.module:EnvId' to import a package first
    kwargs: Dict[str, Any] = field(default_factory=dict)  # passed to gymnasium.make
    max_episode_steps: Optional[int] = None  # override the registered time limit
    vectorization_mode: str = "sync"  # sync (in-process, best for cheap envs) or async (one process per env)
    wrappers: List[Any] = field(default_factory=list)  # gymnasium wrappers by _target_, applied to each env in order

    def checks(self) -> Iterator[Tuple[str, str]]:
        yield from _positive(self, "max_episode_steps")
        yield from _one_of(self.vectorization_mode, "vectorization_mode", ("sync", "async"))


@dataclass
class EnvRunnersConfig(Section):
    """How experience is sampled: runner processes, envs per runner, env->module connectors."""

    num_env_runners: int = 0  # 0 samples in the main process (fastest for cheap envs)
    num_envs_per_env_runner: int = 8  # envs in each runner's vector env; one batched forward steps them all
    normalize_obs: bool = False  # running mean/std observation normalisation (state is checkpointed)
    normalize_obs_clip: float = 10.0  # clip normalised observations to +-this
    clip_actions: bool = True  # clip sampled Box actions to the action space bounds before env.step
    env_to_module_connectors: List[Any] = field(default_factory=list)  # your Connectors by _target_, run first on raw obs
    module_to_env_connectors: List[Any] = field(default_factory=list)  # your Connectors by _target_, run last on actions
    restart_failed: bool = True  # restart a runner process whose env raises, dies or hangs; false: sampling raises
    sample_timeout_s: Optional[float] = 300.0  # a runner silent this long in one sample() is killed; null: no limit
    start_method: str = "fork"  # runner processes: fork (starts ~50x faster), or spawn/forkserver (fresh interpreter)

    def checks(self) -> Iterator[Tuple[str, str]]:
        import multiprocessing

        if self.num_env_runners < 0:
            yield "num_env_runners", f"must be >= 0, got {self.num_env_runners}"
        yield from _positive(self, "num_envs_per_env_runner", "normalize_obs_clip", "sample_timeout_s")
        yield from _one_of(self.start_method, "start_method", tuple(multiprocessing.get_all_start_methods()))


@dataclass
class LearnerConfig(Section):
    """Where and how the update step runs: Lightning Fabric settings (group `learner`)."""

    accelerator: str = "cpu"  # cpu, cuda/gpu, mps, auto
    devices: int = 1  # learner processes (DDP when > 1)
    strategy: str = "auto"  # Fabric strategy: auto, ddp, ...
    precision: str = "32-true"  # Fabric precision: 32-true, bf16-mixed, 16-mixed, 64-true ...
    num_nodes: int = 1  # machines in a multi-node run (torchrun / SLURM)
    torch_threads: int = 1  # torch intra-op threads of the learner; small MLPs are fastest with 1
    flush_denormal: bool = True  # subnormal CPU floats read as 0 (process-wide): ~7x faster Adam steps in DQN

    def checks(self) -> Iterator[Tuple[str, str]]:
        yield from _positive(self, "devices", "num_nodes", "torch_threads")
        yield from _one_of(self.accelerator, "accelerator", ("cpu", "cuda", "gpu", "mps", "auto"))
        precisions = ("32-true", "32", "64-true", "64", "bf16-mixed", "bf16-true", "16-mixed", "16-true")
        yield from _one_of(self.precision, "precision", precisions)


@dataclass
class EvaluationConfig(Section):
    """Periodic evaluation on separate envs."""

    interval: int = 10  # evaluate every this many training iterations; 0 disables periodic evaluation
    episodes: int = 10  # episodes per evaluation
    num_envs: int = 5  # envs in the evaluation vector env
    deterministic: bool = True  # greedy / mean actions
    final: bool = True  # evaluate once more when training ends
    stop_at_return: Optional[float] = None  # stop training once an evaluation reaches this mean return
    video: bool = False  # record one evaluation episode as a video at each evaluation (<run dir>/videos, W&B)
    video_format: str = "gif"  # gif (Pillow, no extra dependency) or mp4 (needs pip install 'imageio[ffmpeg]')
    video_fps: int = 30  # frames per second of the video

    def checks(self) -> Iterator[Tuple[str, str]]:
        if self.interval < 0:
            yield "interval", f"must be >= 0 (0 disables), got {self.interval}"
        yield from _positive(self, "episodes", "num_envs", "video_fps")
        if self.video_format not in ("gif", "mp4"):
            yield "video_format", f"must be gif or mp4, got '{self.video_format}'"


@dataclass
class ReportingConfig(Section):
    """What is reported, and how often it is printed."""

    smoothing_episodes: int = 100  # train/episode_return_mean is over this many recent episodes
    print_interval_s: float = 2.0  # console progress line at most this often

    def checks(self) -> Iterator[Tuple[str, str]]:
        yield from _positive(self, "smoothing_episodes")
        if self.print_interval_s < 0:
            yield "print_interval_s", f"must be >= 0, got {self.print_interval_s}"


@dataclass
class CheckpointingConfig(Section):
    """When checkpoints are written under <run dir>/checkpoints."""

    interval: int = 0  # save every this many iterations; 0 saves only at the end
    keep_last: int = 3  # periodic checkpoints kept; older ones are deleted
    save_final: bool = True  # save when training ends
    keep_best: bool = True  # also keep checkpoints/best: the iteration with the highest eval return so far

    def checks(self) -> Iterator[Tuple[str, str]]:
        if self.interval < 0:
            yield "interval", f"must be >= 0 (0 saves only at the end), got {self.interval}"
        yield from _positive(self, "keep_last")


@dataclass
class WandbConfig(Section):
    """Weights & Biases tracking (off unless `logger=wandb`)."""

    enabled: bool = False  # log to W&B
    project: str = "rlhydra"  # W&B project
    entity: Optional[str] = None  # W&B team or user; null: your default
    mode: str = "online"  # online, offline or disabled; online falls back to offline without a key
    group: Optional[str] = None  # run group; null: the sweep's name in a multirun
    log_checkpoints: bool = False  # upload the final checkpoint as an artifact

    def checks(self) -> Iterator[Tuple[str, str]]:
        yield from _one_of(self.mode, "mode", ("online", "offline", "disabled"))


@dataclass
class LoggerConfig(Section):
    """Where metrics go (group `logger`); the default needs no account."""

    console: bool = True  # progress lines on stdout
    jsonl: bool = True  # metrics.jsonl in the run folder, one row per iteration
    tensorboard: bool = False  # TensorBoard event files under <run dir>/tensorboard (needs `tensorboard`)
    wandb: WandbConfig = field(default_factory=WandbConfig)  # off unless logger=wandb


def default_buffer() -> Dict[str, Any]:
    """The `buffer` node of conf/buffer/uniform.yaml (used by off-policy algorithms only)."""
    return {"_target_": "rlhydra.buffers.ReplayBuffer", "capacity": 1_000_000}


def default_module() -> Dict[str, Any]:
    """The `module` node of conf/module/mlp.yaml: nulls mean 'the algorithm's default'."""
    return {"_target_": None, "hidden_sizes": None, "activation": None}


def iter_sections(obj: Any, prefix: str = "") -> Iterator[Tuple[str, Section]]:
    """Yield (dotted key, section) for a config dataclass and every nested one."""
    if isinstance(obj, Section):
        yield prefix, obj
        for f in fields(obj):
            value = getattr(obj, f.name)
            if is_dataclass(value):
                yield from iter_sections(value, f"{prefix}{f.name}.")


def field_names(obj: Any) -> List[str]:
    """The dataclass field names of a config section."""
    return [f.name for f in fields(obj)]
