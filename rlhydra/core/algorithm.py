"""Algorithm: owns the env runners and the learner; `train()` runs one iteration, `learn()` runs many."""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import inspect
import math
import os
import shutil
import sys
import time
import traceback
import warnings
from collections import deque
from typing import Any, Callable, Deque, Dict, Iterable, List, Optional, Tuple, Type, Union

import numpy as np
import torch

from rlhydra.config.algorithm_config import AlgorithmConfig
from rlhydra.config.registry import get_algorithm_spec
from rlhydra.config.schema import ConfigError
from rlhydra.config.targets import import_class, module_target_and_kwargs
from rlhydra.connectors.runner_pipelines import module_observation_space
from rlhydra.core.distributed import reduce_metrics
from rlhydra.core.interrupt import StopSignals, TrainingInterrupted
from rlhydra.core.learner import Learner
from rlhydra.core.preflight import space_problems, validate
from rlhydra.core.torch_settings import TorchSettings
from rlhydra.data import tree
from rlhydra.data.checkpoint import check_spaces, load_checkpoint, read_metadata, save_checkpoint
from rlhydra.data.result import Result
from rlhydra.data.rng import rng_state, seed_everything, set_rng_state
from rlhydra.data.rollout import Rollout
from rlhydra.models.rl_module import TorchRLModule, as_batch, torch_inference
from rlhydra.env.env_runner import EnvRunner, EnvStepError
from rlhydra.env.env_runner_group import MAX_FAILURES_PER_CALL, EnvRunnerError, EnvRunnerGroup
from rlhydra.env.make import env_spaces
from rlhydra.env.video import record_episode, write_video
from rlhydra.loggers.progress import ProgressBar

EVAL_RETURN = "eval/episode_return_mean"
EVAL_FAILED_ROUNDS = "eval/failed_rounds"  # in every evaluation's result; a failed round has no EVAL_RETURN
ENV_FAILURES = (EnvStepError, EnvRunnerError)  # the user's env failed, in this process or in a runner worker
EVAL_SEED_OFFSET = 1_000_000  # evaluation envs reset with seed + this: episodes the training envs never see


class Algorithm:
    """Base of every algorithm: the loop lives here once; subclasses give `learner_class` and `training_step()`."""

    learner_class: Type[Learner]
    squashed_actions = False  # True when the module's Box actions are in [-1, 1] and are rescaled for the env

    def __init__(self, config: AlgorithmConfig, fabric: Any = None) -> None:
        """Validate a frozen copy of `config` (before any env or worker starts) and build the parts it declares;
        `fabric`: an already launched learner rank."""
        config = config.copy()
        validate(config)
        config.freeze()
        self.config = config
        self.spec = get_algorithm_spec(config.algorithm.name)
        # torch threads and subnormal flushing apply inside rlhydra's own calls only (see TorchSettings)
        self.torch_settings = TorchSettings(config.learner.torch_threads, config.learner.flush_denormal)
        with self.torch_settings:
            self._build(config, fabric)

    def _build(self, config: AlgorithmConfig, fabric: Any) -> None:
        seed_everything(config.seed)
        self.env_observation_space, self.action_space = env_spaces(config.env)
        self.observation_space = module_observation_space(config.env_runners, self.env_observation_space)
        module = self.build_module(config, self.observation_space, self.action_space)
        self.learner = self.learner_class(config, module, fabric)
        # Data parallel: every learner rank samples its own envs with its own seed; rank 0 keeps config.seed.
        self.rank, self.world_size = self.learner.fabric.global_rank, self.learner.fabric.world_size
        self.seed = config.seed + 1_000_003 * self.rank
        if self.rank:
            seed_everything(self.seed)
        lc, rc = config.learner, config.env_runners
        self.env_runner: Union[EnvRunner, EnvRunnerGroup]
        if rc.num_env_runners > 0:  # worker processes, each with its own module copy and envs
            self.env_runner = EnvRunnerGroup(
                config.env, rc, copy.deepcopy(module).to("cpu").float(), num_envs=rc.num_envs_per_env_runner,
                seed=self.seed, squashed_actions=self.squashed_actions, gamma=config.algorithm.gamma,
            )
        else:
            share = self.learner.device.type == "cpu" and lc.precision in ("32-true", "32") and lc.devices == 1
            self.env_runner = EnvRunner(
                config.env, rc, module if share else copy.deepcopy(module).to("cpu").float(),
                num_envs=rc.num_envs_per_env_runner, seed=self.seed,
                squashed_actions=self.squashed_actions, share_module=share, gamma=config.algorithm.gamma,
            )
        self._init_run_state(config)

    def _init_run_state(self, config: AlgorithmConfig) -> None:
        """Counters, evaluation runners (built on first use) and recent episode statistics of a new run."""
        self._eval_runner: Optional[EnvRunner] = None  # evaluation in this process, and compute_actions()
        self._eval_group: Optional[EnvRunnerGroup] = None  # evaluation workers (evaluation.num_env_runners)
        self._predict_runner: Optional[EnvRunner] = None  # predict() acting unlike evaluation (greedy vs sampling)
        self.eval_failed_rounds = 0  # evaluation rounds skipped after their env kept failing
        self.eval_num_restarts = 0  # evaluation envs rebuilt / workers restarted after a fault
        self.error_log: Optional[str] = None  # where the tracebacks of skipped evaluation rounds go (stderr if None)
        self.last_checkpoint: Optional[str] = None  # the latest checkpoint save() wrote
        self.iteration = 0
        self.env_steps = 0
        self.episodes = 0
        self._recent_returns: Deque[float] = deque(maxlen=config.reporting.smoothing_episodes)
        self._recent_lengths: Deque[int] = deque(maxlen=config.reporting.smoothing_episodes)
        self._time_offset = 0.0
        self._start = time.perf_counter()
        self.best_eval_return = -math.inf  # the best evaluation seen by learn(), for checkpoints/best
        self.video_dir: Optional[str] = None  # evaluation videos go here when evaluation.video is on

    # ---- building ------------------------------------------------------------------------------
    @classmethod
    def build_module(cls, config: AlgorithmConfig, observation_space: Any, action_space: Any) -> TorchRLModule:
        """The RLModule from the `module` config (`_target_` or the algorithm's default), checked against the spaces."""
        problems = space_problems(config, observation_space, action_space)
        if problems:
            raise ConfigError("; ".join(problems))
        spec = get_algorithm_spec(config.algorithm.name)
        target, kwargs = module_target_and_kwargs(config.module, spec.default_module, spec.recurrent_module, spec.name)
        module_cls = import_class(target, TorchRLModule, "module")
        params = inspect.signature(module_cls).parameters
        extra = {k: v for k, v in cls.extra_module_kwargs(config).items() if k in params and k not in kwargs}
        return module_cls(observation_space=observation_space, action_space=action_space, **extra, **kwargs)

    @classmethod
    def extra_module_kwargs(cls, config: AlgorithmConfig) -> Dict[str, Any]:
        """Module arguments the algorithm config decides (e.g. DQN's `dueling`), given when the class takes them."""
        return {}

    # ---- one iteration -------------------------------------------------------------------------
    def training_step(self) -> Dict[str, Any]:
        """Sample, learn, sync weights; returns the learner's metrics. Each algorithm implements it."""
        raise NotImplementedError

    def train(self) -> Dict[str, Any]:
        """One training iteration; returns its metrics as a Result: a flat dict (evaluation included when due) that
        RLlib's nested keys read too (`result["env_runners"]["episode_return_mean"]`, see data/result.py)."""
        start, steps_before = time.perf_counter(), self.env_steps
        with self.torch_settings:
            metrics = self.training_step()
        self.iteration += 1
        elapsed = time.perf_counter() - start
        result = {
            "iteration": self.iteration,
            "env_steps": self.env_steps,
            "episodes": self.episodes,
            "time_s": round(self.elapsed_s(), 4),
            "train/episode_return_mean": _mean(self._recent_returns),
            "train/episode_length_mean": _mean(self._recent_lengths),
            "perf/env_steps_per_s": (self.env_steps - steps_before) / max(elapsed, 1e-9),
            "perf/iteration_time_s": elapsed,
            **metrics,
        }
        if isinstance(self.env_runner, EnvRunnerGroup):
            result["env_runners/num_restarts"] = self.env_runner.num_restarts
        if self.world_size > 1:
            result = self._reduce_across_ranks(result)
        interval = self.config.evaluation.interval
        if interval and self.iteration % interval == 0:
            result.update(self.evaluate())
        return Result(result)

    def _reduce_across_ranks(self, result: Dict[str, Any]) -> Dict[str, Any]:
        """Metrics over learner ranks in one collective (see `reduce_metrics`); rank 0 reports them."""
        return reduce_metrics(result, lambda t: self.learner.fabric.all_reduce(t, reduce_op="sum"))

    def sample(self, num_steps_per_env: int, *, random_actions: bool = False) -> Rollout:
        """Collect a rollout from the env runner and update the counters and episode statistics."""
        rollout = self.env_runner.sample(num_steps_per_env, random_actions=random_actions)
        self.env_steps += rollout.num_steps * self.world_size  # every rank samples as many steps
        self.episodes += len(rollout.episode_returns)
        self._recent_returns.extend(rollout.episode_returns)
        self._recent_lengths.extend(rollout.episode_lengths)
        self.learner.set_env_steps(self.env_steps, self.progress)  # lr (and other) schedules follow env steps
        return rollout

    def sync_weights(self) -> None:
        """Send the learner's weights to the env runner (free when the runner shares the learner's module)."""
        if not self.env_runner.shares_module:
            self.env_runner.set_weights(self.learner.get_weights())

    @property
    def progress(self) -> float:
        """Fraction of `total_steps` done, for schedules."""
        return min(1.0, self.env_steps / self.config.total_steps)

    def elapsed_s(self) -> float:
        return self._time_offset + time.perf_counter() - self._start

    # ---- evaluation ----------------------------------------------------------------------------
    def evaluate(self, video_path: Optional[str] = None) -> Dict[str, Any]:
        """`evaluation.episodes` episodes on separate envs with fixed seeds; greedy actions by default.

        With `video_path` (or `evaluation.video` and a `video_dir`, as train.py sets), the first of those episodes
        is also played on a rendering env and saved there as a video (`eval/video` in the result).
        An env that keeps failing (see `evaluation.restart_failed`) makes a failed round: its result has
        `eval/failed_rounds` but no returns, and a warning names the env and where its traceback went.
        """
        ev = self.config.evaluation
        seed = self.config.seed + EVAL_SEED_OFFSET
        try:
            with self.torch_settings:
                out = self._run_evaluation_episodes(ev.episodes, seed)
        except ENV_FAILURES as exc:
            if not ev.restart_failed:
                raise
            return self._failed_evaluation(exc)
        returns, lengths = np.asarray(out["episode_returns"]), np.asarray(out["episode_lengths"])
        result: Dict[str, Any] = Result({
            EVAL_RETURN: float(returns.mean()),
            "eval/episode_return_std": float(returns.std()),
            "eval/episode_length_mean": float(lengths.mean()),
            "eval/episodes": len(returns),
            EVAL_FAILED_ROUNDS: self.eval_failed_rounds,
            "eval/num_restarts": self.eval_num_restarts,
        })
        if video_path is None and ev.video and self.video_dir:
            video_path = os.path.join(self.video_dir, f"eval_iter_{self.iteration:06d}.{ev.video_format}")
        if video_path:
            frames, _ = record_episode(self.config.env, self._episode_policy(), seed)
            result["eval/video"] = write_video(frames, video_path, ev.video_fps)
        return result

    def _run_evaluation_episodes(self, num_episodes: int, seed: int) -> Dict[str, Any]:
        """One round's episodes, in the evaluation workers or in this process. In this process a round whose env
        raises is run again on new envs (as a worker is restarted) while `evaluation.restart_failed`, at most
        MAX_FAILURES_PER_CALL times."""
        ev = self.config.evaluation
        if ev.num_env_runners:
            group = self._evaluation_group()
            try:
                return group.run_episodes(num_episodes, seed)
            except BaseException:
                self._eval_group = None  # it has stopped its workers; the next round starts new ones
                raise
            finally:
                self.eval_num_restarts += group.num_restarts
                group.num_restarts = 0
        tries = 1
        while True:
            try:
                return self._evaluation_runner().run_episodes(num_episodes, seed)
            except EnvStepError:
                self._stop_eval_runner()  # its envs may be broken mid-step: the next try or round makes new ones
                if not ev.restart_failed or tries == MAX_FAILURES_PER_CALL:
                    raise
                tries += 1
                self.eval_num_restarts += 1

    def _failed_evaluation(self, exc: Union[EnvStepError, EnvRunnerError]) -> Dict[str, Any]:
        """Count a skipped evaluation round, log the env's traceback and say so in one line."""
        self.eval_failed_rounds += 1
        where = f"evaluation after iteration {self.iteration}"
        what = exc.summary if isinstance(exc, EnvRunnerError) else (
            f"{MAX_FAILURES_PER_CALL} tries on new envs failed; last: {exc.summary}")
        logged = log_env_failure(self.error_log, f"{where} skipped: {what}", exc)
        print(f"rlhydra: {where} skipped ({EVAL_FAILED_ROUNDS}={self.eval_failed_rounds}), training continues: "
              f"{what.splitlines()[0]}. Traceback: {logged}", flush=True)
        return {EVAL_FAILED_ROUNDS: self.eval_failed_rounds, "eval/num_restarts": self.eval_num_restarts}

    def compute_actions(self, observations: Any, state: Any = None, episode_start: Any = None) -> Any:
        """Env actions for raw env observations, as evaluation acts (greedy unless `evaluation.deterministic=false`),
        through the env runners' connectors and their current state. A batch gives a batch of actions; one
        observation (shaped as the env's observation space) gives one action. A stateful module (module.use_lstm)
        returns `(actions, state_out)` from `state` (None: initial), reset where `episode_start` is true."""
        return self._actions(observations, not self.config.evaluation.deterministic, state, episode_start)

    def compute_single_action(self, observation: Any, state: Any = None) -> Any:
        """RLlib's call: the env action for one raw observation, as `compute_actions` acts; a stateful module takes
        and returns its unbatched state: `(action, state_out)`."""
        if not self.learner.raw_module.is_stateful():
            return self.compute_actions(observation)
        batched = None if state is None else tree.map_tree(lambda x: torch.as_tensor(x).unsqueeze(0), state)
        action, state_out = self.compute_actions(observation, batched)
        return action, tree.map_tree(lambda x: x[0], state_out)

    def _episode_policy(self) -> Callable[[Any], Any]:
        """`compute_actions` for one episode (a video's), carrying a stateful module's state from step to step."""
        if not self.learner.raw_module.is_stateful():
            return self.compute_actions
        carried: List[Any] = [None]

        def act(observations: Any) -> Any:
            actions, carried[0] = self.compute_actions(observations, carried[0])
            return actions
        return act

    def predict(self, observation: Any, state: Any = None, episode_start: Any = None,
                deterministic: bool = True) -> Tuple[Any, Any]:
        """Stable-Baselines3's call: `(action, state)` for one raw observation or a batch (told apart by the env's
        observation space shape). Greedy by default, sampled with `deterministic=False`. A stateful module
        (module.use_lstm) takes the state it last returned (None: initial), reset where `episode_start` is true, as
        RecurrentPPO.predict does; other modules return `state` unchanged."""
        if self.learner.raw_module.is_stateful():
            return self._actions(observation, not deterministic, state, episode_start)
        return self._actions(observation, explore=not deterministic), state

    def _actions(self, observations: Any, explore: bool, state: Any = None, episode_start: Any = None) -> Any:
        batch, single = as_batch(self.env_observation_space, observations)
        runner = self._acting_runner(explore)
        with self.torch_settings:
            if not runner.stateful:
                actions = runner.compute_actions(batch)
                return actions[0] if single else actions
            actions, state_out = runner.compute_actions(batch, state, episode_start)
        return (actions[0] if single else actions), state_out

    def _acting_runner(self, explore: bool) -> EnvRunner:
        """The evaluation runner when it acts as asked (greedy or sampling), else a one-env runner that does."""
        if explore == (not self.config.evaluation.deterministic):
            return self._evaluation_runner()
        if self._predict_runner is None:
            module = torch_inference(copy.deepcopy(self.learner.raw_module).to("cpu").float())
            self._predict_runner = EnvRunner(self.config.env, self.config.env_runners, module, num_envs=1,
                                             seed=self.config.seed, explore=explore,
                                             squashed_actions=self.squashed_actions, training=False)
        self._predict_runner.set_weights(self.learner.get_weights())
        self._predict_runner.set_connector_state(self.env_runner.get_connector_state())
        return self._predict_runner

    def _evaluation_runner(self) -> EnvRunner:
        """The evaluation runner (built on first use) with the learner's weights and the connector state."""
        ev = self.config.evaluation
        if self._eval_runner is None:
            module = torch_inference(copy.deepcopy(self.learner.raw_module).to("cpu").float())
            self._eval_runner = EnvRunner(  # with evaluation workers, this one only serves compute_actions()
                self.config.env, self.config.env_runners, module, num_envs=1 if ev.num_env_runners else ev.num_envs,
                seed=self.config.seed, explore=not ev.deterministic, squashed_actions=self.squashed_actions,
                training=False,
            )
        self._eval_runner.set_weights(self.learner.get_weights())
        self._eval_runner.set_connector_state(self.env_runner.get_connector_state())
        return self._eval_runner

    def _evaluation_group(self) -> EnvRunnerGroup:
        """The evaluation workers (started on first use, and again after a round that stopped them), up to date."""
        ev = self.config.evaluation
        if self._eval_group is None:
            runner_config = dataclasses.replace(self.config.env_runners, num_env_runners=ev.num_env_runners,
                                                restart_failed=ev.restart_failed, sample_timeout_s=ev.sample_timeout_s)
            per_worker = [len(block) for block in np.array_split(np.arange(ev.num_envs), ev.num_env_runners)]
            self._eval_group = EnvRunnerGroup(
                self.config.env, runner_config, copy.deepcopy(self.learner.raw_module).to("cpu").float(),
                num_envs=per_worker, seed=self.config.seed + EVAL_SEED_OFFSET, squashed_actions=self.squashed_actions,
                explore=not ev.deterministic, evaluation=True,
            )
        self._eval_group.set_weights(self.learner.get_weights())
        self._eval_group.set_connector_state(self.env_runner.get_connector_state())
        return self._eval_group

    def _stop_eval_runner(self) -> None:
        runner, self._eval_runner = self._eval_runner, None
        if runner is not None:
            with contextlib.suppress(Exception):  # a failed env may fail to close too
                runner.stop()

    # ---- the whole run -------------------------------------------------------------------------
    def learn(
        self,
        total_timesteps: Optional[int] = None,
        *,
        total_steps: Optional[int] = None,
        progress_bar: bool = False,
        reset_num_timesteps: bool = False,
        loggers: Iterable[Any] = (),
        checkpoint_dir: Optional[str] = None,
        video_dir: Optional[str] = None,
        error_log: Optional[str] = None,
    ) -> Dict[str, Any]:
        """Train (or `evaluation.stop_at_return`); log, checkpoint; returns the last iteration's Result.

        How long, in env steps:
        - `total_timesteps=N` (SB3's name; also the first positional argument): N env steps MORE than this
          algorithm has now. A second call continues where the first stopped (SB3's `reset_num_timesteps=False`).
        - `total_steps=T`: until T env steps in all, counting earlier calls and a restored checkpoint's.
        - neither: until `config.total_steps` in all (what the command line does, also when it resumes).
        Training stops after the first whole iteration that reaches the target, so a call ends on a whole number
        of iterations (b env steps each, b = train_batch_size when the envs divide it): `learn(N)` twice ends at
        ceil((ceil(N / b) * b + N) / b) * b env steps, exactly 2N when b divides N. Schedules that follow progress
        (linear lr / clip, DQN's epsilon) run over `config.total_steps`: set it to the whole budget.

        `progress_bar`: show env steps toward the target (tqdm when installed, else a line per iteration).
        `loggers`: objects with `log(result)` (each gets the flat keys). `video_dir`: where evaluation videos go when
        `evaluation.video` is on. `error_log`: the file the env tracebacks of skipped evaluation rounds are appended
        to (stderr when not given).
        """
        if total_timesteps is not None and total_steps is not None:
            raise ConfigError(f"learn(total_timesteps={total_timesteps}, total_steps={total_steps}): give one: "
                              "total_timesteps is env steps to add, total_steps the env steps to reach in all")
        if reset_num_timesteps:
            raise ConfigError("learn(reset_num_timesteps=True): an Algorithm always continues its own count; "
                              "build a new one (config.build()) to start from zero")
        if total_timesteps is not None:
            total = self.env_steps + int(total_timesteps)
        else:
            total = int(total_steps or self.config.total_steps)
            if total <= self.env_steps:
                warnings.warn(f"learn(): already at {self.env_steps:,} env steps >= the target {total:,} "
                              f"({'total_steps' if total_steps else 'config.total_steps'}), nothing to train; "
                              "learn(total_timesteps=N) trains N more", stacklevel=2)
        self.video_dir = video_dir or self.video_dir
        self.error_log = error_log or self.error_log
        loggers = list(loggers)
        if progress_bar and self.rank == 0:
            loggers.append(ProgressBar(self.env_steps, total))
        try:
            return self._learn(total, loggers, checkpoint_dir)
        finally:
            if progress_bar and self.rank == 0:
                loggers[-1].close()

    def _learn(self, total: int, loggers: List[Any], checkpoint_dir: Optional[str]) -> Dict[str, Any]:
        ev, ck = self.config.evaluation, self.config.checkpointing
        result: Dict[str, Any] = Result()
        # One process only: ranks of a multi-process learner must stop at the same iteration, so they keep
        # the default Ctrl-C behaviour.
        with StopSignals(enabled=self.world_size == 1) as signals:
            while self.env_steps < total:
                result = self.train()
                finished = self.env_steps >= total
                if finished and ev.final and EVAL_FAILED_ROUNDS not in result:  # not evaluated (or failed) yet
                    result.update(self.evaluate())
                reached = ev.stop_at_return is not None and result.get(EVAL_RETURN, -math.inf) >= ev.stop_at_return
                if (finished or reached or signals.requested) and checkpoint_dir and ck.save_final:
                    result["checkpoint"] = self.save(os.path.join(checkpoint_dir, "final"))
                elif checkpoint_dir and ck.interval and self.iteration % ck.interval == 0:
                    result["checkpoint"] = self.save(os.path.join(checkpoint_dir, f"iter_{self.iteration:06d}"))
                    _keep_last(checkpoint_dir, ck.keep_last)
                best = result.get(EVAL_RETURN, -math.inf) > self.best_eval_return
                if best:
                    self.best_eval_return = result[EVAL_RETURN]
                if best and checkpoint_dir and ck.keep_best:
                    result["checkpoint_best"] = self.save(os.path.join(checkpoint_dir, "best"))
                for logger in loggers:
                    logger.log(result)
                if reached or signals.requested:
                    break
        if signals.requested:
            where = result.get("checkpoint") or "not written (no checkpoint_dir, or checkpointing.save_final=false)"
            raise TrainingInterrupted(
                f"training stopped by {signals.requested} after iteration {self.iteration} "
                f"({self.env_steps:,} env steps); final checkpoint: {where}. "
                "Continue from it in Python with Algorithm.from_checkpoint(path).",
                signals.requested, result.get("checkpoint"), self.iteration, self.env_steps,
            )
        return result

    # ---- state and checkpoints -----------------------------------------------------------------
    def get_module(self) -> TorchRLModule:
        """The trained RLModule (the learner's copy)."""
        return self.learner.raw_module

    def get_state(self) -> Dict[str, Any]:
        """Everything needed to continue: learner, connectors, counters, RNG states."""
        runner = self.env_runner.get_state()
        return {
            "learner": self.learner.get_state(),
            "connectors": {"env_to_module": self.env_runner.get_connector_state(),
                           "module_to_env": runner["module_to_env"]},
            "env_runner": runner,
            "counters": {"iteration": self.iteration, "env_steps": self.env_steps, "episodes": self.episodes,
                         "time_s": self.elapsed_s(), "best_eval_return": self.best_eval_return},
            "recent": {"returns": list(self._recent_returns), "lengths": list(self._recent_lengths)},
            "rng": rng_state(),
        }

    def set_state(self, state: Dict[str, Any]) -> None:
        """Continue from `get_state()`: the next `train()` is the one the saved run would have run next."""
        self.learner.set_state(state["learner"])
        self.env_runner.set_connector_state(state["connectors"]["env_to_module"])
        self.sync_weights()
        not_exact = None
        if self.rank == 0:  # a checkpoint holds rank 0's envs and RNG; other ranks keep their own fresh ones
            not_exact = self.env_runner.set_state(state["env_runner"])
            set_rng_state(state["rng"])
        if not_exact:
            print(f"rlhydra: the envs' own state was not saved ({not_exact}); they start new episodes, "
                  "so this resumed run does not repeat the uninterrupted one step for step", flush=True)
        counters = state["counters"]
        self.iteration, self.env_steps, self.episodes = counters["iteration"], counters["env_steps"], counters["episodes"]
        self.best_eval_return = float(counters["best_eval_return"])
        self._time_offset, self._start = float(counters["time_s"]), time.perf_counter()
        self._recent_returns.clear()
        self._recent_returns.extend(state["recent"]["returns"])
        self._recent_lengths.clear()
        self._recent_lengths.extend(state["recent"]["lengths"])

    def save(self, path: str) -> str:
        """Write a checkpoint directory (atomically) and return its path."""
        self.last_checkpoint = save_checkpoint(self, path)
        return self.last_checkpoint

    def restore(self, path: str) -> None:
        """Load a checkpoint written by `save()` into this algorithm (built for the same spaces)."""
        metadata, state = load_checkpoint(path)
        check_spaces(path, metadata, self.env_observation_space, self.action_space, f"env '{self.config.env.id}'")
        self.set_state(state)


    def save_to_path(self, path: str) -> str:
        """RLlib's name of `save`."""
        return self.save(path)

    def restore_from_path(self, path: str) -> None:
        """RLlib's name of `restore`."""
        self.restore(path)

    @classmethod
    def from_checkpoint(cls, path: str, config: Optional[AlgorithmConfig] = None) -> "Algorithm":
        """Rebuild the algorithm from the checkpoint's config (or `config`, e.g. with more total_steps), restored."""
        config = config or AlgorithmConfig.from_dict(read_metadata(path)["config"])
        algo = config.build()
        try:
            algo.restore(path)
        except BaseException:
            algo.stop()
            raise
        return algo

    def stop(self) -> None:
        """Close envs and stop runner processes (idempotent)."""
        for runner in (self.env_runner, self._eval_runner, self._eval_group, self._predict_runner):
            if runner is not None:
                runner.stop()
        self._eval_runner = self._eval_group = self._predict_runner = None

    def __enter__(self) -> "Algorithm":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def log_env_failure(path: Optional[str], headline: str, exc: BaseException) -> str:
    """Append `headline` and `exc`'s traceback (with the env's own, from this process or the worker) to the
    file `path`, or write them to stderr when it is None; returns where they went."""
    text = (f"==== {time.strftime('%Y-%m-%d %H:%M:%S')} {headline}\n"
            f"{''.join(traceback.format_exception(exc))}\n")
    if path is None:
        sys.stderr.write(text)
        return "stderr"
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(text)
    return path


def _mean(values: Deque[float]) -> Optional[float]:
    return float(np.mean(values)) if values else None


def _keep_last(checkpoint_dir: str, keep: int) -> None:
    periodic = sorted(d for d in os.listdir(checkpoint_dir) if d.startswith("iter_"))
    for old in periodic[:-keep]:
        shutil.rmtree(os.path.join(checkpoint_dir, old), ignore_errors=True)
