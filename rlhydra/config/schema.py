"""The typed schema: one dataclass per config group, shared by the YAML files and the Python builder."""
from __future__ import annotations

import functools
import math
import typing
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, ClassVar, Dict, Iterator, List, Optional, Tuple

from hydra.errors import CompactHydraException
from omegaconf import MISSING

from rlhydra.config.types import fit


class ConfigError(ValueError, CompactHydraException):
    """A user-facing configuration error: names the key and the fix (Hydra prints it without a traceback)."""


class Section:
    """Base of every config dataclass: type and range checks, and freezing after ``build()``.

    An int field given a float with an integral value takes the int (`total_steps=1e5` -> 100000), as on the
    command line; any other value of the wrong type is reported by `checks()`.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if self.__dict__.get("_frozen", False):
            raise AttributeError(
                f"config is frozen after build(): cannot set '{name}'. "
                "Change the config before build(), or use algo.config.copy()."
            )
        if isinstance(value, float) and name in int_fields(type(self)):
            value = fit(value, int)[1]
        super().__setattr__(name, value)

    def freeze(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Section):
                value.freeze()
        object.__setattr__(self, "_frozen", True)

    def checks(self) -> Iterator[Tuple[str, str]]:
        """Yield (key, problem-and-fix) for each invalid value; keys are relative to this section.

        Each value's type against its field's annotation, then the declared ranges and choices (`positive`,
        `between`, `one_of` ... below) are checked here; sections add checks that involve several fields by
        overriding this and yielding from `super().checks()` first.
        """
        hints = field_types(type(self))
        mistyped = set()
        for name, hint in hints.items():
            value = getattr(self, name)
            expected, _ = fit(value, hint)
            if expected is not None:
                mistyped.add(name)
                yield name, f"takes {expected}, got {value!r} ({type(value).__name__})"
        for name, check in declared_checks(type(self)).items():
            if name in mistyped:
                continue
            problem = check.problem(getattr(self, name))
            if problem:
                yield name, problem


@dataclass(frozen=True)
class Range:
    """A declared numeric range of a field; `Section.checks()` enforces it and the schema tests enumerate it."""

    low: Optional[float] = None
    high: Optional[float] = None
    low_open: bool = False  # True: the value must be > low (else >= low)
    high_open: bool = False  # True: the value must be < high (else <= high)

    def problem(self, value: Any) -> Optional[str]:
        """None when `value` is inside (None always is: null switches the setting off), else what is wrong."""
        if value is None:
            return None
        too_low = self.low is not None and (value <= self.low if self.low_open else value < self.low)
        too_high = self.high is not None and (value >= self.high if self.high_open else value > self.high)
        if not (too_low or too_high):
            return None
        if self.low is not None and self.high is not None:
            return f"must be in {self}, got {value}"
        if self.low is not None:
            return f"must be {'>' if self.low_open else '>='} {self.low}, got {value}"
        return f"must be {'<' if self.high_open else '<='} {self.high}, got {value}"

    def __str__(self) -> str:
        low = "-inf" if self.low is None else self.low
        high = "inf" if self.high is None else self.high
        return f"{'(' if self.low_open or self.low is None else '['}{low}, {high}{')' if self.high_open or self.high is None else ']'}"


@dataclass(frozen=True)
class Choice:
    """A declared set of valid values of a field."""

    options: Tuple[Any, ...]

    def problem(self, value: Any) -> Optional[str]:
        if value in self.options:
            return None
        return f"must be one of {', '.join(map(str, self.options))}; got '{value}'"

    def __str__(self) -> str:
        return "{" + ", ".join(map(str, self.options)) + "}"


SCHEDULES = ("constant", "linear")


@dataclass(frozen=True)
class ScheduleChoice(Choice):
    """A scheduled value's schedule: `constant`, `linear` (decay to 0 over total_steps), or RLlib's piecewise
    `[[env_step, value], ...]`: linear between the points by env steps, the first/last value outside them."""

    options: Tuple[Any, ...] = SCHEDULES

    def problem(self, value: Any) -> Optional[str]:
        if isinstance(value, str):
            return super().problem(value)
        return piecewise_problem(value)

    def __str__(self) -> str:
        return super().__str__() + " or [[env_step, value], ...]"


def piecewise_problem(points: Any) -> Optional[str]:
    """None when `points` is a non-empty list of [env_step, value] pairs with non-decreasing steps >= 0, else why not."""
    usage = "must be constant, linear or a list of [env_step, value] pairs, e.g. [[0, 1e-3], [100000, 1e-4]]"
    if not isinstance(points, (list, tuple)) or not points:
        return f"{usage}; got {points!r}"
    last = -math.inf
    for point in points:
        if (not isinstance(point, (list, tuple)) or len(point) != 2
                or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in point)):
            return f"{usage}; got the point {point!r}"
        if point[0] < 0 or point[0] < last:
            return f"{usage} with env steps >= 0 in increasing order; got {[list(p) for p in points]}"
        last = point[0]
    return None


def schedule(default: Any) -> Any:
    """A field holding a ScheduleChoice (`constant`, `linear` or [[env_step, value], ...])."""
    return _declared(default, ScheduleChoice())


def _declared(default: Any, check: Any) -> Any:
    return field(default=default, metadata={"check": check})


def positive(default: Any) -> Any:
    """A field that must be > 0 (null allowed where the type is Optional)."""
    return _declared(default, Range(0, low_open=True))


def at_least(default: Any, low: float) -> Any:
    """A field that must be >= low."""
    return _declared(default, Range(low))


def between(default: Any, low: float, high: float, *, low_open: bool = False, high_open: bool = False) -> Any:
    """A field that must lie in [low, high] (each end open if asked)."""
    return _declared(default, Range(low, high, low_open, high_open))


def one_of(default: Any, options: Tuple[Any, ...]) -> Any:
    """A field whose value must be one of `options`."""
    return _declared(default, Choice(tuple(options)))


@functools.lru_cache(maxsize=None)
def field_types(cls: type) -> Dict[str, Any]:
    """Field name -> its resolved annotation (`Optional[int]`, `Dict[str, Any]` ...) for a config dataclass."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in fields(cls)}


@functools.lru_cache(maxsize=None)
def int_fields(cls: type) -> frozenset:
    """The fields of a config dataclass declared `int` or `Optional[int]`."""
    return frozenset(name for name, hint in field_types(cls).items()
                     if hint is int or (typing.get_origin(hint) is typing.Union and int in typing.get_args(hint)))


def training_aliases(cls: type) -> Dict[str, str]:
    """Foreign name -> field of a training config: the `ALIASES` of the class and of its bases (RLlib's and
    Stable-Baselines3's names, accepted by the builders' `.training(...)` and suggested on the command line)."""
    found: Dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        found.update(klass.__dict__.get("ALIASES", {}))
    return found


def scheduled_fields(cls: type) -> Dict[str, str]:
    """Value field -> its schedule field for a training config (the `SCHEDULED` of the class and of its bases)."""
    found: Dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        found.update(klass.__dict__.get("SCHEDULED", {}))
    return found


def declared_checks(cls: type) -> Dict[str, Any]:
    """Field name -> its declared Range or Choice. A subclass that only changes a default keeps its base's check."""
    found: Dict[str, Any] = {}
    for f in fields(cls):
        for klass in cls.__mro__:
            declared = getattr(klass, "__dataclass_fields__", {}).get(f.name)
            if declared is not None and "check" in declared.metadata:
                found[f.name] = declared.metadata["check"]
                break
    return found


@dataclass
class TrainingConfig(Section):
    """Hyperparameters every algorithm has; each algorithm's config subclasses it (group `algorithm`)."""

    # Other libraries' names of these fields (merged with the subclasses' own, see training_aliases)
    ALIASES: ClassVar[Dict[str, str]] = {"learning_rate": "lr", "max_grad_norm": "grad_clip"}
    # A value field -> its schedule field: the builders' `.training(lr=[[0, 1e-3], [100000, 1e-4]])` sets the schedule
    SCHEDULED: ClassVar[Dict[str, str]] = {"lr": "lr_schedule"}

    name: str = MISSING  # registry name of the algorithm: ppo, sac, dqn ...
    lr: float = positive(3e-4)  # optimizer learning rate
    gamma: float = between(0.99, 0.0, 1.0)  # discount factor
    train_batch_size: int = positive(4000)  # env steps collected per training iteration (all envs together)
    grad_clip: Optional[float] = positive(None)  # max global grad norm; null disables clipping
    lr_schedule: Any = schedule("constant")  # constant (lr), linear decay of lr to 0 over total_steps, or [[env_step, lr], ...] piecewise-linear in env steps (then lr is unused)


@dataclass
class OffPolicyTrainingConfig(TrainingConfig):
    """What off-policy algorithms (SAC, DQN ...) share: replay, update cadence, n-step returns, target networks."""

    # RLlib's names, accepted by the builders' .training(...)
    ALIASES: ClassVar[Dict[str, str]] = {"train_batch_size_per_learner": "minibatch_size", "batch_size": "minibatch_size",
                                         "num_steps_sampled_before_learning_starts": "learning_starts"}

    learning_starts: int = at_least(100, 0)  # env steps of uniform random actions before the first gradient step
    train_freq: int = positive(1)  # env steps (all envs together) collected between rounds of gradient steps; with N envs a round is ceil(train_freq / N) vector steps
    gradient_steps: int = 1  # gradient steps per train_freq env steps, whatever the env count (update-to-data ratio gradient_steps / train_freq); -1: one per env step
    train_batch_size: int = positive(1000)  # env steps collected per iteration (one train() call, one metrics row)
    minibatch_size: int = positive(256)  # transitions sampled from the replay buffer per gradient step
    n_step: int = positive(1)  # n-step returns, computed in the buffer, never across an episode end
    tau: float = between(0.005, 0.0, 1.0, low_open=True)  # polyak factor of the target networks (1: hard copy)

    def checks(self) -> Iterator[Tuple[str, str]]:
        yield from super().checks()
        if self.gradient_steps == 0 or self.gradient_steps < -1:
            yield "gradient_steps", f"must be >= 1, or -1 for one per env step; got {self.gradient_steps}"


@dataclass
class OnPolicyTrainingConfig(TrainingConfig):
    """What on-policy algorithms (PPO, A2C) share: GAE, the loss weights, the epochs and minibatches of an update."""

    ALIASES: ClassVar[Dict[str, str]] = {  # RLlib's and Stable-Baselines3's names
        "lambda_": "gae_lambda", "vf_loss_coeff": "vf_coeff", "num_sgd_iter": "num_epochs",
        "ent_coef": "entropy_coeff", "vf_coef": "vf_coeff", "n_epochs": "num_epochs",
        "normalize_advantage": "normalize_advantages",
    }

    gae_lambda: float = between(0.95, 0.0, 1.0)  # GAE lambda: 1 is Monte Carlo, 0 is one-step TD
    entropy_coeff: float = at_least(0.0, 0)  # entropy bonus weight
    vf_coeff: float = at_least(0.5, 0)  # value loss weight
    num_epochs: int = positive(10)  # passes over each iteration's batch
    minibatch_size: Optional[int] = positive(64)  # samples per gradient step; null: the whole batch in one step
    normalize_advantages: bool = True  # per minibatch, zero mean and unit std
    adam_eps: float = positive(1e-5)  # Adam epsilon (1e-5 as in the PPO paper's code and SB3)

    def checks(self) -> Iterator[Tuple[str, str]]:
        yield from super().checks()
        if self.minibatch_size is not None and self.minibatch_size > self.train_batch_size:
            yield "minibatch_size", (f"({self.minibatch_size}) must be <= algorithm.train_batch_size "
                                     f"({self.train_batch_size})")


@dataclass
class EnvConfig(Section):
    """The Gymnasium environment (group `env`)."""

    id: str = MISSING  # any registered Gymnasium id, or 'pkg.module:EnvId' to import a package first
    kwargs: Dict[str, Any] = field(default_factory=dict)  # passed to gymnasium.make
    max_episode_steps: Optional[int] = positive(None)  # override the registered time limit
    vectorization_mode: str = one_of("sync", ("sync", "async"))  # sync (in-process, best for cheap envs) or async (one process per env)
    wrappers: List[Any] = field(default_factory=list)  # gymnasium wrappers by _target_, applied to each env in order
    preprocessing: Optional[str] = one_of(None, (None, "atari"))  # atari: noop reset, frame skip 4 (max-pooled), 84x84 grayscale; training envs also end episodes on a lost life and clip rewards to their sign
    frame_stack: int = positive(1)  # k > 1: each observation is the last k stacked on a new first axis (Box observations; after env.wrappers)
    api: str = one_of("gymnasium", ("gymnasium", "pettingzoo"))  # gymnasium; pettingzoo: env.id is 'pkg.module:fn', fn(**env.kwargs) returns a PettingZoo ParallelEnv or AEC env (multi-agent)


@dataclass
class EnvRunnersConfig(Section):
    """How experience is sampled: runner processes, envs per runner, env->module connectors."""

    num_env_runners: int = at_least(0, 0)  # 0 samples in the main process (fastest for cheap envs)
    num_envs_per_env_runner: int = positive(8)  # envs in each runner's vector env; one batched forward steps them all
    normalize_obs: bool = False  # running mean/std observation normalisation (state is checkpointed)
    normalize_obs_clip: float = positive(10.0)  # clip normalised observations to +-this
    normalize_rewards: bool = False  # rewards for learning / running std of each env's discounted return (algorithm.gamma), clipped to +-10, as SB3's VecNormalize; statistics merged across runners, checkpointed; episode returns in metrics stay raw; single-agent only
    clip_actions: bool = True  # clip sampled Box actions to the action space bounds before env.step
    env_to_module_connectors: List[Any] = field(default_factory=list)  # your Connectors by _target_, run first on raw obs
    module_to_env_connectors: List[Any] = field(default_factory=list)  # your Connectors by _target_, run last on actions
    restart_failed: bool = True  # restart a runner process whose env raises, dies or hangs; false: sampling raises
    sample_timeout_s: Optional[float] = positive(300.0)  # a runner silent this long in one sample() is killed; null: no limit
    start_method: str = one_of("fork", ("fork", "spawn", "forkserver"))  # runner processes: fork (starts ~50x faster), or spawn/forkserver (fresh interpreter)

    def checks(self) -> Iterator[Tuple[str, str]]:
        import multiprocessing

        yield from super().checks()
        if self.start_method in declared_checks(EnvRunnersConfig)["start_method"].options:
            available = tuple(multiprocessing.get_all_start_methods())
            if self.start_method not in available:
                yield "start_method", f"'{self.start_method}' is not available on this platform; use one of {', '.join(available)}"


# The Fabric strategies rlhydra's learners run under (tested); others (fsdp, deepspeed ...) are refused
STRATEGIES = ("auto", "ddp", "ddp_spawn")
PRECISIONS = ("32-true", "32", "64-true", "64", "bf16-mixed", "bf16-true", "16-mixed", "16-true")


@dataclass
class LearnerConfig(Section):
    """Where and how the update step runs: Lightning Fabric settings (group `learner`)."""

    accelerator: str = one_of("cpu", ("cpu", "cuda", "gpu", "mps", "auto"))  # cpu, cuda/gpu, mps, auto
    devices: int = positive(1)  # learner processes (DDP when > 1)
    strategy: str = one_of("auto", STRATEGIES)  # Fabric strategy: auto (ddp_spawn when devices > 1 on one node), ddp (processes started by torchrun/SLURM) or ddp_spawn
    precision: str = one_of("32-true", PRECISIONS)  # Fabric precision: 32-true, bf16-mixed, 16-mixed, 64-true ...
    num_nodes: int = positive(1)  # machines in a multi-node run (torchrun / SLURM)
    torch_threads: int = positive(1)  # torch intra-op threads of the learner; small MLPs are fastest with 1
    flush_denormal: bool = True  # subnormal CPU floats read as 0 during rlhydra's own compute: ~7x faster Adam in DQN


@dataclass
class EvaluationConfig(Section):
    """Periodic evaluation on separate envs."""

    interval: int = at_least(10, 0)  # evaluate every this many training iterations; 0 disables periodic evaluation
    episodes: int = positive(10)  # episodes per evaluation
    num_envs: int = positive(5)  # envs in the evaluation vector env
    deterministic: bool = True  # greedy / mean actions
    final: bool = True  # evaluate once more when training ends
    stop_at_return: Optional[float] = None  # stop training once an evaluation reaches this mean return
    video: bool = False  # record one evaluation episode as a video at each evaluation (<run dir>/videos, W&B)
    video_format: str = one_of("gif", ("gif", "mp4"))  # gif (Pillow, no extra dependency) or mp4 (needs pip install 'imageio[ffmpeg]')
    video_fps: int = positive(30)  # frames per second of the video
    num_env_runners: int = at_least(0, 0)  # 0 evaluates in the main process (fastest); N: in N worker processes sharing num_envs (same results; hangs are caught)
    restart_failed: bool = True  # rebuild a failed eval env/worker and rerun the round; still failing: skip it (eval/failed_rounds); false: training stops
    sample_timeout_s: Optional[float] = positive(300.0)  # an evaluation worker silent this long in a round is killed (no timeout in-process); null: no limit

    def checks(self) -> Iterator[Tuple[str, str]]:
        yield from super().checks()
        if self.num_env_runners > self.num_envs:
            yield "num_env_runners", (f"{self.num_env_runners} workers for evaluation.num_envs={self.num_envs} envs: each "
                                      "worker steps at least one env; lower num_env_runners or raise num_envs")


@dataclass
class ReportingConfig(Section):
    """What is reported, and how often it is printed."""

    smoothing_episodes: int = positive(100)  # train/episode_return_mean is over this many recent episodes
    print_interval_s: float = at_least(2.0, 0)  # console progress line at most this often


@dataclass
class CheckpointingConfig(Section):
    """When checkpoints are written under <run dir>/checkpoints."""

    interval: int = at_least(0, 0)  # save every this many iterations; 0 saves only at the end
    keep_last: int = positive(3)  # periodic checkpoints kept; older ones are deleted
    save_final: bool = True  # save when training ends
    keep_best: bool = True  # also keep checkpoints/best: the iteration with the highest eval return so far


@dataclass
class WandbConfig(Section):
    """Weights & Biases tracking (off unless `logger=wandb`)."""

    enabled: bool = False  # log to W&B
    project: str = "rlhydra"  # W&B project
    entity: Optional[str] = None  # W&B team or user; null: your default
    mode: str = one_of("online", ("online", "offline", "disabled"))  # online, offline or disabled; online falls back to offline without a key
    group: Optional[str] = None  # run group; null: the sweep's name in a multirun
    log_checkpoints: bool = False  # upload the final checkpoint as an artifact


MAPPINGS = ("shared", "independent")


@dataclass
class MultiAgentConfig(Section):
    """Multi-agent runs (env=pettingzoo): the modules, which agent each one acts for, and which of them learn."""

    policies: Dict[str, Any] = field(default_factory=dict)  # module id -> overrides of the `module` group's keys ({} for none); empty: the ids policy_mapping gives
    policy_mapping: Any = "shared"  # shared (module 'shared' acts for every agent), independent (a module per agent, named after it), or {_target_: pkg.fn}: fn(agent_id, episode) -> module id
    policies_to_train: Optional[List[str]] = None  # module ids that learn; null: all of them; the others act with frozen weights

    def checks(self) -> Iterator[Tuple[str, str]]:
        yield from super().checks()
        mapping = self.policy_mapping
        if isinstance(mapping, str) and mapping not in MAPPINGS:
            yield "policy_mapping", (f"must be one of {', '.join(MAPPINGS)} or {{_target_: pkg.module.fn}} "
                                     f"(fn(agent_id, episode) -> module id); got '{mapping}'")
        elif not isinstance(mapping, str) and not (isinstance(mapping, dict) and mapping.get("_target_")):
            yield "policy_mapping", f"needs a _target_ (pkg.module.fn), or shared / independent; got {mapping!r}"
        for module_id, overrides in self.policies.items():
            if overrides is not None and not isinstance(overrides, dict):
                yield f"policies.{module_id}", f"takes a dict of module keys ({{}} for none), got {overrides!r}"
        unknown = [m for m in self.policies_to_train or () if self.policies and m not in self.policies]
        if unknown:
            yield "policies_to_train", (f"{', '.join(unknown)} not in multi_agent.policies "
                                        f"({', '.join(self.policies)})")


@dataclass
class SelfPlayConfig(Section):
    """Self-play for two-player zero-sum games: the learning module against frozen snapshots of itself."""

    enabled: bool = False  # the learning module (id 'main') plays one seat (chosen per game), an opponent the other
    snapshot_interval: int = positive(10)  # iterations between snapshots of 'main' added to the opponent pool
    pool_size: int = positive(5)  # snapshots kept (the oldest is dropped); each is a frozen module snapshot_<k>
    latest_prob: float = between(0.5, 0.0, 1.0)  # chance the opponent of a game is the latest snapshot; else one drawn uniformly from the pool
    random_opponent_prob: float = between(0.0, 0.0, 1.0)  # chance the opponent is a uniform-random player (legal actions only) instead
    eval_games: int = positive(100)  # games per evaluation against each of random and the latest snapshot, half in each seat


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
    return {"_target_": None, "hidden_sizes": None, "activation": None, "conv_filters": None, "conv_activation": None,
            "encoder": None, "encoders": None, "use_lstm": False, "lstm_cell_size": None, "max_seq_len": None}


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
