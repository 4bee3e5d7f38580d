"""MultiAgentEnvRunner: steps N copies of a PettingZoo env; each agent acts through the module its policy mapping
names, with one batched forward per module per vector step, and keeps each agent's own timeline."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

import gymnasium as gym
import numpy as np
import torch

from rlhydra.config.schema import ConfigError, EnvConfig, EnvRunnersConfig
from rlhydra.connectors.runner_pipelines import build_runner_connectors
from rlhydra.data import columns as C
from rlhydra.data import tree
from rlhydra.data.multi_agent_rollout import STREAM_END, MultiAgentRollout
from rlhydra.env.env_runner import EnvStepError, episode_quotas
from rlhydra.env.pettingzoo_env import Outcomes, make_agent_env
from rlhydra.models.catalog import legal_actions
from rlhydra.models.multi_rl_module import MultiRLModule
from rlhydra.models.rl_module import torch_inference

SKIPPED_OUTPUTS = (C.ENV_ACTIONS, C.ACTION_DIST_INPUTS)  # module outputs not kept per step


@dataclass(frozen=True)
class AgentEpisode:
    """What a policy mapping function is given of an agent's episode (RLlib's `episode` argument)."""

    id_: int  # unique in its runner; consecutive episodes have consecutive ids
    env_index: int  # which env copy of the runner plays it


MappingFn = Callable[[str, AgentEpisode], str]


@dataclass
class _Step:
    """One agent step waiting for (or given) its outcome."""

    module_id: str
    obs: Any  # processed observation row (numpy tree)
    outputs: Dict[str, np.ndarray]  # actions, action_logp, ... of this row
    next_obs: Any = None
    reward: float = 0.0
    terminated: bool = False
    truncated: bool = False


class MultiAgentEnvRunner:
    """Samples agent steps (training) or whole episodes (evaluation) from `num_envs` copies of a PettingZoo env.

    Each (env copy, agent, episode) is a stream of steps: an agent's step ends when it next observes (in turn-based
    games, after the others have moved; its reward is what it got meanwhile). A step whose outcome is not in yet when
    sample() returns is shipped by the next call. Every episode resets with its own seed, so a checkpoint restores
    each env exactly by replaying the actions of its current episode.
    """

    def __init__(
        self,
        env_config: EnvConfig,
        runner_config: EnvRunnersConfig,
        module: MultiRLModule,
        mapping: MappingFn,
        module_spaces: Dict[str, Tuple[Any, Any]],
        *,
        num_envs: int,
        seed: int,
        explore: bool = True,
        share_module: bool = False,
    ) -> None:
        self.envs = [make_agent_env(env_config) for _ in range(num_envs)]
        self.env_id, self.num_envs, self.seed = env_config.id, num_envs, seed
        self.module = module if share_module else torch_inference(module)
        self.shares_module = share_module
        self.mapping = mapping
        self.explore = explore
        self.connectors = {
            mid: build_runner_connectors(runner_config, obs_space, act_space, module[mid].action_dist_cls(),
                                         explore=explore, squashed_actions=False)
            for mid, (obs_space, act_space) in module_spaces.items()
        }
        self.env_steps = 0
        self._next_episode = 0
        self._started = False
        self._episode_ids = [0] * num_envs
        self._reset_seeds = [0] * num_envs
        self._actions_log: List[List[Dict[str, Any]]] = [[] for _ in range(num_envs)]  # this episode's, to replay
        self._to_act: List[Dict[str, Any]] = [{} for _ in range(num_envs)]  # agent -> raw obs it acts on next
        self._open: List[Dict[str, _Step]] = [{} for _ in range(num_envs)]  # agent -> its step awaiting outcome
        self._agent_module: List[Dict[str, str]] = [{} for _ in range(num_envs)]
        self._returns: List[Dict[str, float]] = [{} for _ in range(num_envs)]
        self._lengths = [0] * num_envs
        self._streams: Dict[Tuple[int, str, int], List[_Step]] = {}
        self._finished: List[Tuple[int, Dict[str, float], Dict[str, str], int]] = []

    # ---- training ------------------------------------------------------------------------------
    def sample(self, num_steps_per_env: int, *, random_actions: bool = False) -> MultiAgentRollout:
        """The next `num_steps_per_env` steps of every env copy (episodes and pending agent steps continue)."""
        if not self._started:
            self._start()
        self._streams, self._finished = {}, []
        for _ in range(num_steps_per_env):
            self._step(record=True, random_actions=random_actions)
        self.env_steps += num_steps_per_env * self.num_envs
        rollout = MultiAgentRollout(self._compile(), num_steps_per_env * self.num_envs)
        for _, returns, modules, length in self._finished:
            rollout.episode_returns.append(float(sum(returns.values())))
            rollout.episode_lengths.append(length)
            for agent, value in returns.items():
                rollout.agent_returns.setdefault(agent, []).append(value)
                if agent in modules:
                    rollout.module_returns.setdefault(modules[agent], []).append(value)
        self._streams, self._finished = {}, []
        return rollout

    # ---- evaluation ----------------------------------------------------------------------------
    def run_episodes(self, num_episodes: int, seed: int) -> List[Tuple[Dict[str, float], Dict[str, str], int]]:
        """Whole episodes from fresh resets (episode ids from 0, seeds from `seed`), spread over the env copies;
        each as (agent -> return, agent -> module id, length), env by env."""
        quota = episode_quotas(num_episodes, self.num_envs)
        self.seed, self._next_episode, self._open = seed, 0, [{} for _ in range(self.num_envs)]
        self._start()
        done: List[List[Tuple[Dict[str, float], Dict[str, str], int]]] = [[] for _ in range(self.num_envs)]
        while any(len(d) < q for d, q in zip(done, quota)):
            self._finished = []
            self._step(record=False)
            for i, returns, modules, length in self._finished:
                if len(done[i]) < quota[i]:
                    done[i].append((returns, modules, length))
        self._started = False  # the next sample() starts from a reset
        return [episode for env in done for episode in env]

    # ---- one vector step -----------------------------------------------------------------------
    def _step(self, record: bool, random_actions: bool = False) -> None:
        requests: Dict[str, List[Tuple[int, str, Any]]] = {}
        for i, to_act in enumerate(self._to_act):
            for agent, obs in to_act.items():
                requests.setdefault(self._module_of(i, agent), []).append((i, agent, obs))
        actions: List[Dict[str, Any]] = [{} for _ in self.envs]
        for mid, reqs in requests.items():
            processed = self._process(mid, tree.stack([tree.map_tree(np.asarray, r[2]) for r in reqs]), update=record)
            out = self._act(mid, processed, random_actions)
            rows = tree.to_numpy(processed) if record else None
            kept = {k: v for k, v in out.items() if k not in SKIPPED_OUTPUTS}
            for j, (i, agent, _) in enumerate(reqs):
                actions[i][agent] = out[C.ENV_ACTIONS][j]
                if record:
                    self._open[i][agent] = _Step(mid, tree.index(rows, j), {k: v[j] for k, v in kept.items()})
        closing: Dict[str, List[Tuple[_Step, Any]]] = {}
        for i, env in enumerate(self.envs):
            try:
                outcomes, self._to_act[i] = env.step(actions[i])
            except Exception as exc:
                raise EnvStepError(self.env_id, "sampling" if record else "evaluation", self.env_steps, exc) from exc
            self._actions_log[i].append(actions[i])
            self._lengths[i] += 1
            self._observe(i, outcomes, closing)
            if env.done:
                self._finished.append((i, dict(self._returns[i]), dict(self._agent_module[i]), self._lengths[i]))
                self._new_episode(i)
        for mid, items in closing.items():  # the outcomes' observations, one batch per module
            raw = [(k, obs) for k, (_, obs) in enumerate(items) if obs is not None]
            if raw:
                stacked = tree.stack([tree.map_tree(np.asarray, obs) for _, obs in raw])
                rows = tree.to_numpy(self._process(mid, stacked, update=False))
                for j, (k, _) in enumerate(raw):
                    items[k][0].next_obs = tree.index(rows, j)
            for step, obs in items:
                if obs is None:  # the env gave no final observation: the step's own stands in (unused when terminated)
                    step.next_obs = step.obs

    def _observe(self, i: int, outcomes: Outcomes, closing: Dict[str, List[Tuple[_Step, Any]]]) -> None:
        for agent, (obs, reward, terminated, truncated) in outcomes.items():
            self._returns[i][agent] = self._returns[i].get(agent, 0.0) + reward
            step = self._open[i].pop(agent, None)
            if step is None:
                continue
            step.reward, step.terminated, step.truncated = reward, terminated, truncated
            self._streams.setdefault((i, agent, self._episode_ids[i]), []).append(step)
            closing.setdefault(step.module_id, []).append((step, obs))

    def _start(self) -> None:
        for i in range(self.num_envs):
            self._new_episode(i)
        self._started = True

    def _new_episode(self, i: int) -> None:
        self._episode_ids[i] = self._next_episode
        self._next_episode += 1
        self._reset_seeds[i] = self.seed + self._episode_ids[i]
        self._open[i], self._agent_module[i], self._returns[i], self._lengths[i] = {}, {}, {}, 0
        self._actions_log[i] = []
        try:
            outcomes, self._to_act[i] = self.envs[i].reset(self._reset_seeds[i])
        except Exception as exc:
            raise EnvStepError(self.env_id, "reset", self.env_steps, exc) from exc
        self._observe(i, outcomes, {})

    def _module_of(self, i: int, agent: str) -> str:
        mid = self._agent_module[i].get(agent)
        if mid is None:
            mid = self.mapping(agent, AgentEpisode(self._episode_ids[i], i))
            if mid not in self.connectors:
                raise ConfigError(f"multi_agent.policy_mapping: mapped agent '{agent}' to module '{mid}', which is not "
                                  f"one of the modules ({', '.join(self.connectors)}); declare it in "
                                  "multi_agent.policies or fix the mapping function")
            self._agent_module[i][agent] = mid
        return mid

    def _process(self, mid: str, raw_obs: Any, *, update: bool) -> Any:
        return self.connectors[mid][0]({C.OBS: raw_obs}, update=update)[C.OBS]

    def _act(self, mid: str, obs: Any, random_actions: bool) -> Dict[str, Any]:
        module = self.module[mid]
        with torch.inference_mode():
            if random_actions:
                size = tree.first_leaf(obs).shape[0]
                space = module.action_space
                mask = obs.get(C.ACTION_MASK) if isinstance(obs, dict) else None
                if isinstance(space, gym.spaces.Discrete):  # torch's RNG: seeded and checkpointed, the space's is not
                    keys = torch.rand(size, int(space.n))
                    if mask is not None:  # a random key per action, the largest legal one wins: uniform over those
                        keys = keys.masked_fill(~legal_actions(torch.as_tensor(mask)), -1.0)
                    actions = keys.argmax(-1)  # 0-based, as the module's own actions
                else:
                    actions = torch.as_tensor(np.stack([space.sample() for _ in range(size)]))
                return self.connectors[mid][1]({C.ACTIONS: actions})
            out = module.forward_exploration({C.OBS: obs}) if self.explore else module.forward_inference({C.OBS: obs})
            return self.connectors[mid][1](out)

    def _compile(self) -> Dict[str, Dict[str, Any]]:
        """Each module's streams of finished steps as flat columns, STREAM_END on each stream's last step."""
        per_module: Dict[str, List[Tuple[_Step, bool]]] = {}
        for steps in self._streams.values():
            for k, step in enumerate(steps):
                per_module.setdefault(step.module_id, []).append((step, k == len(steps) - 1))
        batches = {}
        for mid, items in per_module.items():
            steps = [s for s, _ in items]
            batch: Dict[str, Any] = {
                C.OBS: tree.stack([s.obs for s in steps]),
                C.NEXT_OBS: tree.stack([s.next_obs for s in steps]),
                C.REWARDS: np.array([s.reward for s in steps], np.float32),
                C.TERMINATED: np.array([s.terminated for s in steps], bool),
                C.TRUNCATED: np.array([s.truncated for s in steps], bool),
                STREAM_END: np.array([end for _, end in items], bool),
            }
            for key in steps[0].outputs:
                batch[key] = np.stack([s.outputs[key] for s in steps])
            batches[mid] = batch
        return batches

    # ---- weights and state ---------------------------------------------------------------------
    def set_weights(self, weights: Dict[str, Any]) -> None:
        if not self.shares_module:
            self.module.set_state(weights)

    def get_connector_state(self) -> Dict[str, Any]:
        return {mid: pair[0].get_state() for mid, pair in self.connectors.items()}

    def set_connector_state(self, state: Dict[str, Any]) -> None:
        for mid, module_state in state.items():
            if mid in self.connectors:
                self.connectors[mid][0].set_state(module_state)

    def get_module_to_env_state(self) -> Dict[str, Any]:
        return {mid: pair[1].get_state() for mid, pair in self.connectors.items()}

    def get_state(self) -> Dict[str, Any]:
        """Where sampling stands, as plain data: each env's reset seed and actions since (replayed on restore),
        the agents' pending steps, running returns, the mapping of the current episodes."""
        return {
            "env_steps": self.env_steps,
            "started": self._started,
            "next_episode": self._next_episode,
            "episode_ids": list(self._episode_ids),
            "reset_seeds": list(self._reset_seeds),
            "actions": [[{a: torch.as_tensor(np.asarray(v)) for a, v in acts.items()} for acts in log]
                        for log in self._actions_log],
            "open": [{a: {"module_id": s.module_id, "obs": tree.map_tree(torch.as_tensor, s.obs),
                          "outputs": {k: torch.as_tensor(np.asarray(v)) for k, v in s.outputs.items()}}
                      for a, s in opened.items()} for opened in self._open],
            "agent_module": [dict(m) for m in self._agent_module],
            "returns": [dict(r) for r in self._returns],
            "lengths": list(self._lengths),
            "module_to_env": self.get_module_to_env_state(),
            "not_exact": None,
        }

    def set_state(self, state: Dict[str, Any]) -> Optional[str]:
        """Continue from `get_state()`: each env is reset with its episode's seed and its actions replayed."""
        self.env_steps, self._next_episode = int(state["env_steps"]), int(state["next_episode"])
        for mid, module_state in state["module_to_env"].items():
            self.connectors[mid][1].set_state(module_state)
        self._started = bool(state["started"])
        if not self._started:
            return None
        if len(state["episode_ids"]) != self.num_envs:
            self._next_episode += self.num_envs
            self._start()
            return f"the checkpoint's runner had {len(state['episode_ids'])} env copies, this one has {self.num_envs}"
        for i, env in enumerate(self.envs):
            self._episode_ids[i], self._reset_seeds[i] = int(state["episode_ids"][i]), int(state["reset_seeds"][i])
            _, self._to_act[i] = env.reset(self._reset_seeds[i])
            self._actions_log[i] = [{a: v.numpy()[()] for a, v in acts.items()} for acts in state["actions"][i]]
            for acts in self._actions_log[i]:
                _, self._to_act[i] = env.step(acts)
            self._open[i] = {a: _Step(s["module_id"], tree.to_numpy(s["obs"]),
                                      {k: v.numpy() for k, v in s["outputs"].items()})
                             for a, s in state["open"][i].items()}
            self._agent_module[i] = dict(state["agent_module"][i])
            self._returns[i] = {a: float(v) for a, v in state["returns"][i].items()}
            self._lengths[i] = int(state["lengths"][i])
        return None

    def stop(self) -> None:
        for env in self.envs:
            env.close()
