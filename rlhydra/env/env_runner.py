"""EnvRunner: steps one Gymnasium vector env with an inference-only module copy, one batched forward per step."""
from __future__ import annotations

import traceback
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import gymnasium as gym
import numpy as np
import torch

from rlhydra.config.schema import EnvConfig, EnvRunnersConfig
from rlhydra.connectors import rewards as reward_norm
from rlhydra.connectors.runner_pipelines import build_runner_connectors
from rlhydra.data import columns as C
from rlhydra.data import tree
from rlhydra.data.columns import ACTION_MASK
from rlhydra.models.action_noise import ActionNoise
from rlhydra.models.rl_module import TorchRLModule, initial_state_batch, reset_state, torch_inference
from rlhydra.data.rollout import Rollout
from rlhydra.data.tree import Tree
from rlhydra.env import env_state
from rlhydra.env.make import make_vector_env


class EnvStepError(RuntimeError):
    """The env raised in reset() or step(): names the env, the phase and the step, and keeps the env's traceback."""

    worker_index = None  # an in-process runner's error; EnvRunnerError is a worker's

    def __init__(self, env_id: str, phase: str, step: int, exc: BaseException) -> None:
        self.env_id, self.phase, self.step = env_id, phase, step
        self.exc_type, self.exc_message = type(exc).__name__, str(exc)
        self.traceback_text = "".join(traceback.format_exception(exc))
        self.summary = (f"env '{env_id}' raised {self.exc_type}: {self.exc_message} (during {phase}, after {step:,} "
                        f"env steps of its {'evaluation round' if phase == 'evaluation' else 'runner'})")
        super().__init__(self.summary)


def episode_quotas(num_episodes: int, num_envs: int) -> np.ndarray:
    """Episodes per env when `num_episodes` are spread over `num_envs` envs (the first ones get one more)."""
    quotas = np.full(num_envs, num_episodes // num_envs)
    quotas[: num_episodes % num_envs] += 1
    return quotas


class EnvRunner:
    """Samples rollouts (training) or whole episodes (evaluation) from a vector env."""

    def __init__(
        self,
        env_config: EnvConfig,
        runner_config: EnvRunnersConfig,
        module: TorchRLModule,
        *,
        num_envs: int,
        seed: int,
        explore: bool = True,
        squashed_actions: bool = False,
        share_module: bool = False,
        training: bool = True,
        gamma: float = 0.99,
    ) -> None:
        # training=False (evaluation) leaves out training-only env wrappers, e.g. Atari's episodic life and clipping
        self.env = make_vector_env(env_config, num_envs, training=training)
        self.env_id = env_config.id
        self.num_envs, self.seed, self.explore = num_envs, seed, explore
        # A shared module is the learner's own (local runner, same device): weight sync costs nothing.
        self.module = module if share_module else torch_inference(module)
        self.shares_module = share_module
        self.squashed_actions = squashed_actions
        self.env_to_module, self.module_to_env = build_runner_connectors(
            runner_config, self.env.single_observation_space, self.env.single_action_space,
            self.module.action_dist_cls(), explore=explore, squashed_actions=squashed_actions,
        )
        self._forward = self.module.forward_exploration if explore else self.module.forward_inference
        self._reset_noise = getattr(self.module, "reset_noise", None) if explore else None
        # Per-env noise the module asks the runner to add while sampling (TD3's Ornstein-Uhlenbeck), restarted
        # where an episode ends and kept in get_state(), like a stateful module's recurrent state
        self.action_noise = self.module.make_action_noise(num_envs) if explore else None
        self._obs: Any = None  # processed current observation of every env (a tensor, or a tree of them)
        # A stateful module's (module.use_lstm) recurrent state of every env, reset where an episode starts
        self.stateful = self.module.is_stateful()
        self._initial_state = initial_state_batch(self.module, num_envs) if self.stateful else None
        self._state: Optional[Tree] = None
        self._ep_return = np.zeros(num_envs, np.float64)
        self._ep_length = np.zeros(num_envs, np.int64)
        self.env_steps = 0
        # env_runners.normalize_rewards: only the rewards sample() records change (see connectors/rewards.py)
        self.reward_norm = (reward_norm.NormalizeRewards(num_envs, gamma)
                            if runner_config.normalize_rewards else None)

    # ---- training rollouts -------------------------------------------------------------------
    def sample(self, num_steps_per_env: int, *, random_actions: bool = False) -> Rollout:
        """The next `num_steps_per_env` vector steps of every env (episodes continue across calls).

        `random_actions` acts uniformly at random instead of with the module (off-policy warm-up).
        """
        if self._obs is None:
            raw = self._reset(self.seed, "sampling", self.env_steps)
            self.env.action_space.seed(self.seed)
            self._obs = self._process(raw, update=True)
            self._state = tree.clone(self._initial_state) if self.stateful else None
            self._restart_action_noise(np.ones(self.num_envs, bool))
        if self._reset_noise is not None and not random_actions:
            self._reset_noise()  # e.g. gSDE: new exploration noise, held for this whole rollout
        num_t, num_envs = num_steps_per_env, self.num_envs
        obs_buf = tree.empty_like(self._obs, (num_t, num_envs))
        next_buf = tree.map_tree(np.empty_like, obs_buf)
        nested = tree.is_nested(obs_buf)
        rew_buf = np.empty((num_t, num_envs), np.float32)
        term_buf = np.empty((num_t, num_envs), bool)
        trunc_buf = np.empty((num_t, num_envs), bool)
        out_bufs: Dict[str, np.ndarray] = {}
        returns: List[float] = []
        lengths: List[int] = []
        state_buf = tree.empty_like(self._state, (num_t, num_envs)) if self.stateful else None

        for t in range(num_t):
            if nested:
                tree.assign(obs_buf, t, tree.to_numpy(self._obs))
            else:
                obs_buf[t] = self._obs.numpy()
            if self.stateful:
                tree.assign(state_buf, t, tree.to_numpy(self._state))  # the state this step starts from (STATE_IN)
            out = self._random_act() if random_actions else self._act(self._obs, self._state, self.action_noise)
            try:  # free unless it raises (Python >= 3.11)
                raw, rewards, terminated, truncated, info = self.env.step(out[C.ENV_ACTIONS])
            except Exception as exc:
                raise EnvStepError(self.env_id, "sampling", self.env_steps + t * num_envs, exc) from exc
            self._obs = self._process(raw, update=True)
            if nested:
                tree.assign(next_buf, t, tree.to_numpy(self._obs))
            else:
                next_buf[t] = self._obs.numpy()
            done = terminated | truncated
            if done.any():
                final = self._process(tree.stack(list(info["final_obs"][done])), update=False)
                tree.assign(next_buf, (t, done), tree.to_numpy(final))
            if self.stateful:  # autoreset in the same step: where an episode ended, the next one starts afresh
                self._state = reset_state(out.pop(C.STATE_OUT), torch.from_numpy(done), self._initial_state)
            self._restart_action_noise(done)
            if t == 0:
                out_bufs = {k: np.empty((num_t, *v.shape), v.dtype) for k, v in out.items()
                            if k not in (C.ENV_ACTIONS, C.ACTION_DIST_INPUTS)}
            for key, buf in out_bufs.items():
                buf[t] = out[key]
            rew_buf[t] = rewards if self.reward_norm is None else self.reward_norm(rewards, done)
            term_buf[t], trunc_buf[t] = terminated, truncated
            self._ep_return += rewards
            self._ep_length += 1
            if done.any():
                for i in np.flatnonzero(done):
                    returns.append(float(self._ep_return[i]))
                    lengths.append(int(self._ep_length[i]))
                self._ep_return[done] = 0.0
                self._ep_length[done] = 0

        self._check_finite(rew_buf, next_buf)
        self.env_steps += num_t * num_envs
        data = {C.OBS: obs_buf, C.NEXT_OBS: next_buf, C.REWARDS: rew_buf,
                C.TERMINATED: term_buf, C.TRUNCATED: trunc_buf, **out_bufs}
        if self.stateful:
            data[C.STATE_IN] = state_buf
        return Rollout(data, returns, lengths)

    # ---- evaluation ----------------------------------------------------------------------------
    def run_episodes(self, num_episodes: Union[int, Sequence[int]], seed: int) -> Dict[str, Any]:
        """Whole episodes from a fresh reset with `seed`: `num_episodes` spread over the envs (see episode_quotas),
        or a sequence with each env's count. Returned env by env, each env's in the order they ended."""
        quota = episode_quotas(num_episodes, self.num_envs) if np.isscalar(num_episodes) else np.asarray(num_episodes)
        finished = np.zeros(self.num_envs, np.int64)
        ep_return = np.zeros(self.num_envs, np.float64)
        ep_length = np.zeros(self.num_envs, np.int64)
        done_returns: List[List[float]] = [[] for _ in range(self.num_envs)]
        done_lengths: List[List[int]] = [[] for _ in range(self.num_envs)]
        obs = self._process(self._reset(seed, "evaluation", 0), update=False)
        state = tree.clone(self._initial_state) if self.stateful else None
        noise = self.module.make_action_noise(self.num_envs) if self.explore else None  # the episodes' own
        t = 0
        while (finished < quota).any():
            out = self._act(obs, state, noise)
            try:
                raw, rewards, terminated, truncated, _ = self.env.step(out[C.ENV_ACTIONS])
            except Exception as exc:
                raise EnvStepError(self.env_id, "evaluation", t * self.num_envs, exc) from exc
            t += 1
            if self.stateful:
                state = reset_state(out[C.STATE_OUT], torch.from_numpy(terminated | truncated), self._initial_state)
            if noise is not None:
                noise.reset(terminated | truncated)
            obs = self._process(raw, update=False)
            ep_return += rewards
            ep_length += 1
            for i in np.flatnonzero(terminated | truncated):
                if finished[i] < quota[i]:
                    done_returns[i].append(float(ep_return[i]))
                    done_lengths[i].append(int(ep_length[i]))
                    finished[i] += 1
                ep_return[i], ep_length[i] = 0.0, 0
        return {"episode_returns": [r for env in done_returns for r in env],
                "episode_lengths": [n for env in done_lengths for n in env]}

    def compute_actions(self, observations: Any, state: Optional[Tree] = None, episode_start: Any = None) -> Any:
        """Env actions for a batch of raw observations (no statistics updated, no env stepped). A stateful module
        gives `(actions, state_out)` from `state` (None: initial), reset where `episode_start` is true."""
        obs = self._process(observations, update=False)
        if not self.stateful:
            return self._act(obs)[C.ENV_ACTIONS]
        out = self._act(obs, self.module.batched_state(state, episode_start, len(tree.first_leaf(obs))))
        return out[C.ENV_ACTIONS], out[C.STATE_OUT]

    # ---- state ---------------------------------------------------------------------------------
    def set_weights(self, weights: Dict[str, torch.Tensor]) -> None:
        if not self.shares_module:
            self.module.set_state(weights)

    def get_connector_state(self) -> Dict[str, Any]:
        state = self.env_to_module.get_state()
        if self.reward_norm is not None:
            state[reward_norm.STATE_KEY] = self.reward_norm.get_state()
        return state

    def set_connector_state(self, state: Dict[str, Any]) -> None:
        state = dict(state)
        rewards = state.pop(reward_norm.STATE_KEY, None)
        if rewards is not None and self.reward_norm is not None:
            self.reward_norm.set_state(rewards)
        self.env_to_module.set_state(state)

    def get_module_to_env_state(self) -> Dict[str, Any]:
        return self.module_to_env.get_state()

    def get_state(self) -> Dict[str, Any]:
        """Where sampling stands: current observations, running episode sums, each env's state (see env_state)."""
        envs, not_exact = None, None
        if self._obs is not None:
            envs, not_exact = self._capture_envs()
        return {
            "obs": None if self._obs is None else tree.clone(self._obs),
            "episode_returns": torch.from_numpy(self._ep_return.copy()),
            "episode_lengths": torch.from_numpy(self._ep_length.copy()),
            "env_steps": self.env_steps,
            "module_to_env": self.module_to_env.get_state(),
            "envs": envs,
            "not_exact": not_exact,
            "recurrent_state": None if self._state is None else tree.clone(self._state),
            "action_noise": None if self.action_noise is None else self.action_noise.get_state(),
            "reward_returns": None if self.reward_norm is None else torch.from_numpy(self.reward_norm.returns.copy()),
        }

    def set_state(self, state: Dict[str, Any]) -> Optional[str]:
        """Continue from `get_state()`. Returns None, or why the envs could not continue their episodes: then
        they start new ones from a reset seeded by the step count (not the run's first seed again)."""
        self.env_steps = int(state["env_steps"])
        self.module_to_env.set_state(state["module_to_env"])
        if state["obs"] is None:  # saved before the first sample: the first sample() resets as usual
            self._obs = None
            return None
        not_exact = state["not_exact"]
        if not_exact is None and len(state["envs"]) != self.num_envs:
            not_exact = f"the checkpoint's runner had {len(state['envs'])} envs, this one has {self.num_envs}"
        if not_exact is None:
            try:
                for env, saved in zip(self.env.envs, state["envs"]):
                    env_state.restore(env, saved)
            except ValueError as exc:
                not_exact = str(exc)
        if not_exact is None:
            self._obs = tree.clone(state["obs"])
            if self.stateful:
                self._state = tree.map_tree(torch.as_tensor, tree.clone(state["recurrent_state"]))
            if self.action_noise is not None and state.get("action_noise") is not None:
                self.action_noise.set_state(state["action_noise"])
            self._ep_return[:] = state["episode_returns"].numpy()
            self._ep_length[:] = state["episode_lengths"].numpy()
            if self.reward_norm is not None and state.get("reward_returns") is not None:
                self.reward_norm.returns[:] = state["reward_returns"].numpy()
            return None
        raw = self._reset(self.seed + self.env_steps, "sampling", self.env_steps)
        self._obs = self._process(raw, update=False)
        self._state = tree.clone(self._initial_state) if self.stateful else None
        self._restart_action_noise(np.ones(self.num_envs, bool))
        self._ep_return[:], self._ep_length[:] = 0.0, 0
        if self.reward_norm is not None:
            self.reward_norm.returns[:] = 0.0
        return not_exact

    def stop(self) -> None:
        self.env.close()

    # ---- helpers -------------------------------------------------------------------------------
    def _reset(self, seed: int, phase: str, step: int) -> Any:
        try:
            return self.env.reset(seed=seed)[0]
        except Exception as exc:
            raise EnvStepError(self.env_id, phase, step, exc) from exc

    def _process(self, raw_obs: Any, *, update: bool) -> Any:
        return self.env_to_module({C.OBS: raw_obs}, update=update)[C.OBS]

    def _capture_envs(self) -> Tuple[Optional[List[Any]], Optional[str]]:
        if not isinstance(self.env, gym.vector.SyncVectorEnv):
            return None, "env.vectorization_mode=async keeps each env in its own process, where rlhydra cannot read it"
        states = []
        for env in self.env.envs:
            state, not_exact = env_state.capture(env)
            if state is None:
                return None, f"env '{self.env_id}': {not_exact}"
            states.append(state)
        return states, None

    def _restart_action_noise(self, done: np.ndarray) -> None:
        if self.action_noise is not None and done.any():
            self.action_noise.reset(done)

    def _act(self, obs: Any, state: Optional[Tree] = None, noise: Optional[ActionNoise] = None) -> Dict[str, Any]:
        with torch.inference_mode():
            out = self._forward({C.OBS: obs} if state is None else {C.OBS: obs, C.STATE_IN: state})
            state_out = None if state is None else out.pop(C.STATE_OUT)
            if noise is not None:
                out[C.ACTIONS] = noise(out[C.ACTIONS])
            out = self.module_to_env(out)
            if state_out is not None:
                out[C.STATE_OUT] = state_out
            return out

    def _random_act(self) -> Dict[str, Any]:
        """Uniform actions in the module's action space (in [-1, 1] when squashed), through module->env; with an
        `action_mask` in the observation, uniform over each env's legal actions."""
        space = self.env.single_action_space
        if isinstance(space, gym.spaces.Discrete):
            mask = self._obs.get(ACTION_MASK) if isinstance(self._obs, dict) else None
            if mask is None:
                actions = torch.randint(0, int(space.n), (self.num_envs,))
            else:  # a random key per action, the largest legal one wins: uniform among the legal actions
                keys = torch.rand(self.num_envs, int(space.n)).masked_fill(mask.cpu() == 0, -1.0)
                actions = keys.argmax(-1)
        elif isinstance(space, gym.spaces.MultiDiscrete):
            actions = (torch.rand(self.num_envs, *space.shape) * torch.as_tensor(space.nvec)).long()
        elif self.squashed_actions:
            actions = torch.rand(self.num_envs, *space.shape) * 2.0 - 1.0
        else:
            low, high = torch.as_tensor(space.low), torch.as_tensor(space.high)
            actions = low + torch.rand(self.num_envs, *space.shape) * (high - low)
        return self.module_to_env({C.ACTIONS: actions})

    def _check_finite(self, rewards: np.ndarray, next_obs: Any) -> None:
        bad = ~np.isfinite(rewards)
        for leaf in tree.leaves(next_obs):
            if np.issubdtype(leaf.dtype, np.floating):
                bad |= ~np.isfinite(leaf.reshape(*rewards.shape, -1)).all(-1)
        if bad.any():
            t, i = np.argwhere(bad)[0]
            raise FloatingPointError(
                f"env '{self.env_id}' (sub-env {i}) returned a NaN/inf observation or reward at its step "
                f"{self.env_steps + t * self.num_envs + i}; fix the env or wrap it to sanitise its outputs"
            )
