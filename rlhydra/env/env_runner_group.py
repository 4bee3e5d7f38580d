"""EnvRunnerGroup: EnvRunners in worker processes, sampling in parallel and restarted when they fail.

Design, in short:
- Runners: each worker builds its runner from `make_runner(num_envs=, seed=)`, a picklable factory: an EnvRunner by
  default, a MultiAgentEnvRunner for env.api=pettingzoo (`EnvRunnerGroup.multi_agent`). Rollouts are joined with their
  class's `concat` (a Rollout along the env axis, a MultiAgentRollout stream after stream).
- Start method: `env_runners.start_method`, fork by default. Fork starts a worker in ~10 ms (spawn and
  forkserver re-import torch, ~50x slower) and works inside joblib workers, where spawn needs
  `set_start_method("spawn", force=True)`. A forked child inherits the parent's torch thread pool, so each
  worker first sets one torch thread; it never touches CUDA (its module copy is on the CPU).
- Transport: one duplex pipe per worker carrying pickled messages. A worker returns its whole Rollout
  (numpy arrays) per sample() call; weights go out once per `set_weights()`, with the next sample request.
  Tensors cross as numpy arrays: plain pickling of a tensor costs ~1 ms, of an array ~40 us.
- Seeding: worker i seeds its envs and torch with `seed + 10_000 * (i + 1)` (a vector env seeds its envs
  seed, seed + 1, ...), distinct from the local runner's `seed` and evaluation's `seed + 1_000_000`.
  A restarted worker starts again from its own seed.
- Observation normalisation: every request carries the group's merged connector state; each worker returns
  its state after sampling, and `NormalizeObservations.merge_states` folds what each worker added into it
  (module by module for multi-agent runners, whose state is {module_id: {connector_key: state}}).
  Workers, checkpoints and evaluation all see that one merged normaliser.
- Policy mapping (multi-agent): setting `group.mapping` (self-play does when it takes a snapshot and on restore)
  sends the new mapping, pickled, with each worker's next request, as weights go, and again to a restarted worker.
- Checkpoints: get_state()/set_state() carry each worker's runner state (its envs' states and current
  observations, or a multi-agent runner's episode seeds and actions) and RNG states, so a resumed run continues
  every worker's episodes where they were.
- Faults: a worker whose env raises, that dies, or that stays silent for `sample_timeout_s`, is killed and
  restarted (`restart_failed`) with the latest weights and mapping, and the request is sent again, so sample()
  still returns the requested steps. Otherwise EnvRunnerError names the worker and carries the env's exception
  and traceback.
- Evaluation (EnvRunners; multi-agent evaluation runs in the main process): with `evaluation.num_env_runners` >= 1
  the Algorithm runs its evaluation episodes in a second group (`evaluation=True`): an "episodes" request carries
  the weights, the merged connector state, the seed and each env's episode count; the evaluation envs are split
  into contiguous blocks, one per worker, each reset as those envs of one in-process runner would be, so the
  results equal in-process evaluation. The same restarts and timeout apply (`evaluation.restart_failed`,
  `evaluation.sample_timeout_s`): a restarted worker replays the round's episodes from their seed.
- No orphans: workers are daemonic and ignore SIGINT (the parent gets Ctrl-C and stops them); sample()
  stops the group before re-raising any exception; stop(), garbage collection and interpreter exit
  (weakref.finalize) terminate and join them; a worker also exits when its pipe closes.
"""
from __future__ import annotations

import functools
import math
import multiprocessing
import pickle
import signal
import time
import traceback
import weakref
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from rlhydra.config.schema import EnvConfig, EnvRunnersConfig
from rlhydra.connectors.env_to_module import NormalizeObservations
from rlhydra.connectors.rewards import NormalizeRewards
from rlhydra.models.rl_module import TorchRLModule
from rlhydra.data.rng import rng_state, set_rng_state
from rlhydra.data.multi_agent_rollout import MultiAgentRollout
from rlhydra.data.rollout import Rollout
from rlhydra.env.env_runner import EnvRunner, EnvStepError, episode_quotas
from rlhydra.env.multi_agent_runner import MappingFn, MultiAgentEnvRunner
from rlhydra.models.multi_rl_module import MultiRLModule

WORKER_SEED_STRIDE = 10_000  # worker i: seed + 10_000 * (i + 1)
MAX_FAILURES_PER_CALL = 3  # a worker failing this often within one call is not restarted again: the fault is not transient
Request = Tuple[Any, ...]
RunnerFactory = Callable[..., Any]  # (num_envs=, seed=) -> an EnvRunner or MultiAgentEnvRunner; picklable
StateMerge = Callable[[Dict[str, Any], List[Dict[str, Any]]], Dict[str, Any]]
STOP_GRACE_S = 5.0  # stop(): how long idle workers get to close their envs before they are killed
# Waiting for workers wakes this often: a Ctrl-C the kernel hands to another thread of this process (torch's, say)
# does not interrupt the main thread's wait, which would otherwise see it only when a worker answers.
SIGNAL_CHECK_S = 0.5


def merge_connector_states(base: Dict[str, Any], states: List[Dict[str, Any]]) -> Dict[str, Any]:
    """One env->module state from the workers' (all started at `base`): running statistics (observations',
    rewards') merged by counts; any other connector's state is worker 0's."""
    merged = dict(states[0])
    for key in base:
        for cls in (NormalizeObservations, NormalizeRewards):
            if key.endswith("_" + cls.__name__):
                merged[key] = _to_numpy(cls.merge_states(base[key], [s[key] for s in states]))
    return merged


def merge_module_connector_states(base: Dict[str, Any], states: List[Dict[str, Any]]) -> Dict[str, Any]:
    """merge_connector_states module by module: a multi-agent runner's state is {module_id: {connector_key: state}}."""
    return {mid: merge_connector_states(base[mid], [s[mid] for s in states]) for mid in base}


class EnvRunnerError(RuntimeError):
    """A runner process failed; names the worker and carries the env's exception type, message and traceback.

    `phase` is "sampling" or "evaluation"; `step` (when the env raised in reset/step) counts the env steps of the
    worker's runner (sampling) or of the evaluation round before the failing one.
    """

    def __init__(self, worker_index: int, reason: str, exc_type: str = "", exc_message: str = "",
                 traceback_text: str = "", *, env_id: str = "", phase: str = "sampling",
                 step: Optional[int] = None) -> None:
        self.worker_index, self.reason = worker_index, reason
        self.exc_type, self.exc_message, self.traceback_text = exc_type, exc_message, traceback_text
        self.env_id, self.phase, self.step = env_id, phase, step
        self.worker = f"{'evaluation' if phase == 'evaluation' else 'env runner'} worker {worker_index}"
        text = f"{self.worker} {reason}"
        if exc_type:
            text += f": {exc_type}: {exc_message}"
        where = [f"env '{env_id}'"] if env_id else []
        if step is not None:
            where.append(f"after {step:,} env steps of its {'evaluation round' if phase == 'evaluation' else 'runner'}")
        if where:
            text += f" ({', '.join(where)})"
        self.summary = text  # one line (unless the env's message has several), no traceback
        if exc_type:
            text += f"\n\nTraceback in the worker:\n{traceback_text}"
        super().__init__(text)

    def again(self, reason: str) -> "EnvRunnerError":
        """The same failure with another `reason` (why it was not recovered)."""
        return EnvRunnerError(self.worker_index, reason, self.exc_type, self.exc_message, self.traceback_text,
                              env_id=self.env_id, phase=self.phase, step=self.step)


class EnvRunnerGroup:
    """`num_env_runners` EnvRunner processes, used by the Algorithm like one EnvRunner over all their envs."""

    shares_module = False

    def __init__(
        self,
        env_config: EnvConfig,
        runner_config: EnvRunnersConfig,
        module: Optional[TorchRLModule],
        *,
        num_envs: Union[int, Sequence[int]],
        seed: int,
        squashed_actions: bool = False,
        explore: bool = True,
        evaluation: bool = False,
        make_runner: Optional[RunnerFactory] = None,
        merge_states: StateMerge = merge_connector_states,
        gamma: float = 0.99,
    ) -> None:
        """`num_envs`: envs per worker, or each worker's. `evaluation`: an evaluation group (its errors, worker
        names and messages say so; give it the `evaluation` settings in `runner_config`). `make_runner`: builds a
        worker's runner (default: an EnvRunner of `env_config` and `module`); `merge_states` merges the workers'
        env->module connector states (see EnvRunnerGroup.multi_agent)."""
        self.num_workers = runner_config.num_env_runners
        self._num_envs = [num_envs] * self.num_workers if isinstance(num_envs, int) else list(num_envs)
        self.num_envs = sum(self._num_envs)  # all envs of all workers: a rollout's env axis
        self.seed = seed
        self.env_id = env_config.id
        self.phase, self.config_key = ("evaluation", "evaluation") if evaluation else ("sampling", "env_runners")
        self.restart_failed = runner_config.restart_failed
        self.timeout_s = runner_config.sample_timeout_s
        self.num_restarts = 0
        self.env_steps = 0
        self._context = multiprocessing.get_context(runner_config.start_method)
        if make_runner is None:
            make_runner = functools.partial(EnvRunner, env_config, runner_config, module, explore=explore,
                                            squashed_actions=squashed_actions, training=not evaluation, gamma=gamma)
        self._make_runner = make_runner
        self._merge_states = merge_states
        self._processes: List[Optional[BaseProcess]] = [None] * self.num_workers
        self._conns: List[Optional[Connection]] = [None] * self.num_workers
        self._weights: Optional[Dict[str, np.ndarray]] = None  # the latest set_weights(), as numpy
        self._weights_sent = [True] * self.num_workers  # workers start with their module copy's weights
        self._mapping: Optional[MappingFn] = None  # the latest policy mapping set (multi-agent), sent like weights
        self._mapping_sent = [True] * self.num_workers  # workers start with make_runner's mapping
        self._finalizer = weakref.finalize(self, _shutdown, self._processes, self._conns, STOP_GRACE_S)
        try:
            for index in range(self.num_workers):
                self._start(index)
            ready = self._run_all(None, "ready")
        except BaseException:
            self._abort()
            raise
        self._connector_state: Dict[str, Any] = ready[0][1]  # merged state (numpy); all workers start equal
        self._module_to_env_state: Dict[str, Any] = ready[0][2]

    @classmethod
    def multi_agent(cls, env_config: EnvConfig, runner_config: EnvRunnersConfig, module: MultiRLModule,
                    mapping: MappingFn, module_spaces: Dict[str, Tuple[Any, Any]], *, num_envs: int, seed: int,
                    explore: bool = True) -> "EnvRunnerGroup":
        """Workers running MultiAgentEnvRunners (env.api=pettingzoo); `mapping` must pickle (with spawn, and when
        set again with `group.mapping = ...`)."""
        make_runner = functools.partial(MultiAgentEnvRunner, env_config, runner_config, module, mapping, module_spaces,
                                        explore=explore)
        return cls(env_config, runner_config, None, num_envs=num_envs, seed=seed, make_runner=make_runner,
                   merge_states=merge_module_connector_states)

    # ---- the EnvRunner interface ---------------------------------------------------------------
    def sample(self, num_steps_per_env: int, *, random_actions: bool = False) -> Union[Rollout, MultiAgentRollout]:
        """`num_steps_per_env` vector steps of every worker's envs, sampled in parallel, joined by the rollout class's
        `concat` (a Rollout along the env axis, a MultiAgentRollout stream after stream)."""
        replies = self._call(("sample", num_steps_per_env, random_actions), "ok")
        base = self._connector_state
        self._connector_state = self._merge_states(base, [reply[2] for reply in replies])
        rollouts = [reply[1] for reply in replies]
        rollout = type(rollouts[0]).concat(rollouts)
        self.env_steps += rollout.num_steps
        return rollout

    def run_episodes(self, num_episodes: int, seed: int) -> Dict[str, Any]:
        """As EnvRunner.run_episodes on all the workers' envs together: each worker runs its block of the envs
        (EnvRunners only: multi-agent evaluation runs in the main process)."""
        quotas = episode_quotas(num_episodes, self.num_envs)
        starts = np.cumsum([0, *self._num_envs[:-1]])
        requests = [("episodes", quotas[start:start + n].tolist(), seed + int(start))
                    for start, n in zip(starts, self._num_envs)]
        replies = self._call(requests, "episodes")
        return {key: [value for reply in replies for value in reply[1][key]]
                for key in ("episode_returns", "episode_lengths")}

    def set_weights(self, weights: Dict[str, torch.Tensor]) -> None:
        """Keep the weights; each worker gets them with its next request (once per call, however many samples)."""
        self._weights = _to_numpy(weights)
        self._weights_sent = [False] * self.num_workers

    @property
    def mapping(self) -> Optional[MappingFn]:
        """The policy mapping last set (None: each worker's own, from make_runner)."""
        return self._mapping

    @mapping.setter
    def mapping(self, mapping: MappingFn) -> None:
        """Each worker gets `mapping` with its next request (a restarted worker too), as weights go."""
        self._mapping = mapping
        self._mapping_sent = [False] * self.num_workers

    def get_connector_state(self) -> Dict[str, Any]:
        return _to_torch(self._connector_state)

    def set_connector_state(self, state: Dict[str, Any]) -> None:
        self._connector_state = _to_numpy(state)

    def get_state(self) -> Dict[str, Any]:
        """Each worker's EnvRunner state and RNG states, for checkpoints that resume exactly."""
        if not self._finalizer.alive:  # stopped: the envs are gone, a restore starts new episodes
            return {"workers": None, "env_steps": self.env_steps, "module_to_env": self._module_to_env_state}
        workers = [reply[1] for reply in self._run_all(("get_state",), "state")]
        self._module_to_env_state = workers[0]["runner"]["module_to_env"]
        return {"workers": workers, "env_steps": self.env_steps, "module_to_env": self._module_to_env_state}

    def set_state(self, state: Dict[str, Any]) -> Optional[str]:
        """Continue from `get_state()`; returns None, or why the workers' envs start new episodes instead."""
        self.env_steps = int(state["env_steps"])
        workers = state["workers"]
        if workers is None:
            return "the checkpoint was written after its env runner workers had stopped"
        if len(workers) != self.num_workers:
            return f"the checkpoint had {len(workers)} env runner workers, this run has {self.num_workers}"
        replies = self._run_all([("set_state", worker) for worker in workers], "state_set")
        reasons = [reply[1] for reply in replies if reply[1] is not None]
        return reasons[0] if reasons else None

    def stop(self) -> None:
        """Stop every worker: idle ones close their envs, any left after STOP_GRACE_S are killed. Idempotent."""
        self._finalizer()

    @property
    def worker_pids(self) -> List[Optional[int]]:
        """Process ids of the current workers."""
        return [None if p is None else p.pid for p in self._processes]

    # ---- requests and faults -------------------------------------------------------------------
    def _call(self, request: Union[Request, List[Request]], expect: str) -> List[Tuple[Any, ...]]:
        """_run_all() for a request that runs the envs; any exception stops the group first."""
        if not self._finalizer.alive:
            raise RuntimeError("this EnvRunnerGroup is stopped; build a new one (or a new Algorithm)")
        try:
            return self._run_all(request, expect)
        except BaseException:  # an error or Ctrl-C leaves workers mid-request: stop them all
            self._abort()
            raise

    def _run_all(self, request: Union[None, Request, List[Request]], expect: str) -> List[Tuple[Any, ...]]:
        """Send `request` (or request i to worker i) to every worker and wait, in parallel, for each one's reply
        of kind `expect`."""
        replies: List[Optional[Tuple[Any, ...]]] = [None] * self.num_workers
        failures = [0] * self.num_workers
        deadlines = [math.inf] * self.num_workers

        def send(index: int) -> None:
            deadlines[index] = time.monotonic() + (self.timeout_s or math.inf)
            mine = request[index] if isinstance(request, list) else request
            if mine is not None and not self._send_request(index, mine):
                deadlines[index] = -math.inf  # it is gone: _receive() below says how

        for index in range(self.num_workers):
            send(index)
        while any(reply is None for reply in replies):
            pending = [i for i, reply in enumerate(replies) if reply is None]
            owner = {}
            for i in pending:
                owner[self._conns[i]] = owner[self._processes[i].sentinel] = i
            timeout = max(0.0, min(deadlines[i] for i in pending) - time.monotonic())
            ready = {owner[obj] for obj in wait(list(owner), min(timeout, SIGNAL_CHECK_S))}
            for i in pending:
                failure = None
                if i in ready or deadlines[i] == -math.inf:
                    message, failure = self._receive(i)
                    if message is not None and message[0] == expect:
                        replies[i] = message
                elif time.monotonic() >= deadlines[i]:
                    failure = self._error(i, f"sent nothing for {self.config_key}.sample_timeout_s={self.timeout_s} s "
                                             "(a hung env?) and was killed")
                if failure is not None:
                    failures[i] += 1
                    self._restart(i, failure, failures[i])
                    send(i)
        return replies  # type: ignore[return-value]

    def _send_request(self, index: int, request: Tuple[Any, ...]) -> bool:
        """Send `request` (with weights and mapping the worker has not had yet, and the connector state); False if it
        is gone."""
        weights = None if self._weights_sent[index] else self._weights
        mapping = None if self._mapping_sent[index] else self._mapping
        try:
            _send(self._conns[index], (*request, weights, mapping, self._connector_state))
        except OSError:
            return False
        self._weights_sent[index] = self._mapping_sent[index] = True
        return True

    def _receive(self, index: int) -> Tuple[Optional[Tuple[Any, ...]], Optional[EnvRunnerError]]:
        """(message, None) if worker `index` sent one, else (None, the error saying how it failed)."""
        try:
            if self._conns[index].poll():
                message = _recv(self._conns[index])
                if message[0] == "error":
                    _, exc_type, exc_message, text, step = message
                    return None, self._error(index, "raised an exception", exc_type, exc_message, text, step)
                return message, None
        except (EOFError, OSError):
            pass  # its end of the pipe closed: it died
        process = self._processes[index]
        process.join(STOP_GRACE_S)
        return None, self._error(index, f"died (exit code {process.exitcode})")

    def _error(self, index: int, reason: str, exc_type: str = "", exc_message: str = "", traceback_text: str = "",
               step: Optional[int] = None) -> EnvRunnerError:
        return EnvRunnerError(index, reason, exc_type, exc_message, traceback_text, env_id=self.env_id,
                              phase=self.phase, step=step)

    def _restart(self, index: int, failure: EnvRunnerError, failures: int) -> None:
        """Kill worker `index` and start a fresh one, or raise `failure` when restarts are off or it keeps failing."""
        self._kill(index)
        if not self.restart_failed:
            raise failure.again(f"{failure.reason} ({self.config_key}.restart_failed=false)")
        if failures >= MAX_FAILURES_PER_CALL:
            raise failure.again(f"failed {failures} times in a row; last: {failure.reason}")
        self.num_restarts += 1
        self._weights_sent[index] = self._weights is None
        self._mapping_sent[index] = self._mapping is None
        self._start(index)

    def _start(self, index: int) -> None:
        parent_end, child_end = self._context.Pipe()
        # A forked child inherits the parent's pipe ends (its own too); it closes them, so that it sees EOF when
        # the parent dies. Spawned children inherit none.
        inherited = [c for c in [*self._conns, parent_end] if c is not None and not c.closed]
        process = self._context.Process(
            target=_worker_main, name=f"rlhydra-{'eval' if self.phase == 'evaluation' else 'env'}-runner-{index}",
            daemon=True,
            args=(child_end, inherited if self._context.get_start_method() == "fork" else [], self._make_runner,
                  self._num_envs[index], self.seed + WORKER_SEED_STRIDE * (index + 1)),
        )
        process.start()
        child_end.close()  # only the worker holds it now, so its death closes the pipe
        self._processes[index], self._conns[index] = process, parent_end

    def _kill(self, index: int) -> None:
        process, conn = self._processes[index], self._conns[index]
        if process.is_alive():
            process.kill()
        process.join()
        conn.close()

    def _abort(self) -> None:
        """Stop at once: workers may be mid-request, so there is no graceful close."""
        self._finalizer.detach()
        _shutdown(self._processes, self._conns, 0.0)


def _worker_main(conn: Connection, inherited: List[Connection], make_runner: RunnerFactory, num_envs: int,
                 seed: int) -> None:
    """A worker's life: build its runner, then answer requests until told to stop or the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the parent, which stops the workers
    for parent_end in inherited:
        parent_end.close()
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    runner = None
    try:
        runner = make_runner(num_envs=num_envs, seed=seed)
        _send(conn, ("ready", _to_numpy(runner.get_connector_state()), runner.get_module_to_env_state()))
        while True:
            try:
                message = _recv(conn)
            except EOFError:  # the parent is gone
                return
            if message[0] == "stop":
                return
            kind, *args, weights, mapping, connector_state = message
            if weights is not None:
                runner.set_weights(_to_torch(weights))
            if mapping is not None:
                runner.mapping = mapping
            runner.set_connector_state(_to_torch(connector_state))
            if kind == "sample":
                rollout = runner.sample(args[0], random_actions=args[1])
                _send(conn, ("ok", rollout, _to_numpy(runner.get_connector_state())))
            elif kind == "episodes":
                _send(conn, ("episodes", runner.run_episodes(args[0], seed=args[1])))
            elif kind == "get_state":
                _send(conn, ("state", {"runner": runner.get_state(), "rng": rng_state()}))
            elif kind == "set_state":
                set_rng_state(args[0]["rng"])
                _send(conn, ("state_set", runner.set_state(args[0]["runner"])))
    except Exception as exc:  # reported to the parent, which restarts this worker or raises EnvRunnerError
        if isinstance(exc, EnvStepError):  # the env's own exception, and where it raised
            error = ("error", exc.exc_type, exc.exc_message, exc.traceback_text, exc.step)
        else:
            error = ("error", type(exc).__name__, str(exc), traceback.format_exc(), None)
        try:
            _send(conn, error)
        except OSError:
            pass
    finally:
        if runner is not None:
            runner.stop()
        conn.close()


def _shutdown(processes: List[Optional[BaseProcess]], conns: List[Optional[Connection]], grace_s: float) -> None:
    """Ask the workers to stop, kill any still alive after `grace_s`, join them all and close the pipes."""
    for conn in conns:
        if conn is not None and not conn.closed:
            try:
                _send(conn, ("stop",))
            except OSError:
                pass
    deadline = time.monotonic() + grace_s
    for process in processes:
        if process is not None:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
    for conn in conns:
        if conn is not None:
            conn.close()
    processes[:] = [None] * len(processes)
    conns[:] = [None] * len(conns)


def _send(conn: Connection, message: Tuple[Any, ...]) -> None:
    # Plain pickle, not multiprocessing's: torch registers reducers there that move tensors to shared memory.
    conn.send_bytes(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))


def _recv(conn: Connection) -> Tuple[Any, ...]:
    return pickle.loads(conn.recv_bytes())


def _to_numpy(tree: Any) -> Any:
    """Tensors -> numpy arrays in nested dicts/lists (floating tensors as float32 unless float64)."""
    if isinstance(tree, torch.Tensor):
        tensor = tree.detach().cpu()
        if tensor.is_floating_point() and tensor.dtype not in (torch.float32, torch.float64):
            tensor = tensor.float()  # numpy has no bfloat16
        return tensor.numpy()
    if isinstance(tree, dict):
        return {k: _to_numpy(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(_to_numpy(v) for v in tree)
    return tree


def _to_torch(tree: Any) -> Any:
    """Numpy arrays -> tensors in nested dicts/lists (copies: the receiver owns them)."""
    if isinstance(tree, np.ndarray):
        return torch.from_numpy(tree.copy())
    if isinstance(tree, dict):
        return {k: _to_torch(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(_to_torch(v) for v in tree)
    return tree
