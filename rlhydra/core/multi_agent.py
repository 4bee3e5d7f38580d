"""Multi-agent runs (env.api=pettingzoo): several RLModules in one MultiRLModule, a learner of the algorithm's own
class per trainable module (all in one Fabric), per-agent timelines, metrics per module and per agent.

MultiAgentAlgorithm builds the modules from the policy mapping and the env's agent spaces; the on-policy loop
(MultiAgentOnPolicyAlgorithm) turns each module's agent streams into its learner batch with the single-agent
learner connector: a stream's last step in a rollout counts as truncated for GAE (it bootstraps from V(next obs)).
"""
from __future__ import annotations

import copy
import math
import time
from collections import deque
from typing import Any, Deque, Dict, List, Optional, Tuple, Type, Union

import gymnasium as gym
import numpy as np
import torch

from rlhydra.config.algorithm_config import AlgorithmConfig
from rlhydra.config.multi_agent import agents_by_module, mapping_function, module_config
from rlhydra.config.schema import ConfigError
from rlhydra.connectors.learner import AddValuePredictions, FlattenTime, GeneralAdvantageEstimation, ToDevice
from rlhydra.connectors.pipeline import ConnectorPipeline
from rlhydra.core.algorithm import EVAL_FAILED_ROUNDS, EVAL_RETURN, Algorithm
from rlhydra.core.distributed import is_distributed, make_fabric
from rlhydra.core.learner import Learner
from rlhydra.core.self_play import MAIN, SelfPlay
from rlhydra.data import columns as C
from rlhydra.data import tree
from rlhydra.data.multi_agent_rollout import STREAM_END, MultiAgentRollout
from rlhydra.data.rng import seed_everything
from rlhydra.env.env_runner_group import EnvRunnerGroup
from rlhydra.env.multi_agent_runner import AgentEpisode, MultiAgentEnvRunner
from rlhydra.env.pettingzoo_env import agent_spaces
from rlhydra.models.multi_rl_module import RANDOM_MODULE, MultiRLModule, RandomModule
from rlhydra.models.rl_module import TorchRLModule


class MultiAgentLearner:
    """One Fabric; one learner of the algorithm's class per trainable module; the modules live in one MultiRLModule."""

    def __init__(self, config: AlgorithmConfig, module: MultiRLModule, learner_class: Type[Learner],
                 trainable: List[str], fabric: Any = None) -> None:
        if fabric is None and is_distributed(config.learner):
            raise ConfigError(f"learner.devices={config.learner.devices}: several learner processes are started by "
                              "train.py (or rlhydra.core.distributed.launch in Python)")
        self.config = config
        self.fabric = fabric or make_fabric(config.learner)
        self.raw_module = module
        self.learners = {mid: learner_class(config, module[mid], self.fabric) for mid in trainable}
        self.device = self.fabric.device

    def update(self, batches: Dict[str, Dict[str, torch.Tensor]], progress: float) -> Dict[str, Any]:
        """Each trainable module's update on its batch; metrics as learner/<module_id>/<name>."""
        metrics: Dict[str, Any] = {}
        if self.fabric.world_size > 1:
            batches = self._same_sizes_on_every_rank(batches)
        for mid, batch in batches.items():
            for key, value in self.learners[mid].update(batch, progress).items():
                metrics[key.replace("learner/", f"learner/{mid}/", 1)] = value
        return metrics

    def _same_sizes_on_every_rank(self, batches: Dict[str, Dict[str, torch.Tensor]]) -> Dict[str, Dict[str, torch.Tensor]]:
        """Data-parallel ranks must take the same gradient steps, but their agents take different numbers of steps
        (turn-based games, agents that finish early): each module's batch becomes a random subset of the size of
        its smallest over the ranks, and a module without steps on some rank is skipped on all of them."""
        order = [mid for mid in self.learners]
        sizes = torch.tensor([tree.first_leaf(batches[mid][C.ACTIONS]).shape[0] if mid in batches else 0
                              for mid in order], device=self.device)
        smallest = self.fabric.all_reduce(sizes.clone(), reduce_op="min").tolist()  # all_reduce works in place
        out = {}
        for mid, size, keep in zip(order, sizes.tolist(), smallest):
            if keep == 0:
                continue
            batch = batches[mid]
            if keep < size:
                rows = torch.randperm(size, device=self.device)[:int(keep)]
                batch = {k: tree.index(v, rows) for k, v in batch.items()}
            out[mid] = batch
        return out

    def set_env_steps(self, env_steps: int, progress: float) -> None:
        for learner in self.learners.values():
            learner.set_env_steps(env_steps, progress)

    def on_env_steps(self, env_steps: int, progress: float) -> None:
        """Each learner's off-policy schedules (DQN's epsilon), after a sampling round."""
        for learner in self.learners.values():
            learner.on_env_steps(env_steps, progress)

    def get_weights(self) -> Dict[str, Any]:
        return self.raw_module.get_state()

    def get_state(self) -> Dict[str, Any]:
        """Every module's weights; each learner's optimizers and counters."""
        return {"module": self.raw_module.get_state(),
                "learners": {mid: {k: v for k, v in learner.get_state().items() if k != "module"}
                             for mid, learner in self.learners.items()}}

    def set_state(self, state: Dict[str, Any]) -> None:
        self.raw_module.set_state(state["module"])
        for mid, learner_state in state["learners"].items():
            learner = self.learners[mid]
            for opt, opt_state in zip(learner.optimizers, learner_state["optimizers"]):
                opt.load_state_dict(opt_state)
            learner.num_updates = int(learner_state["num_updates"])


class MultiAgentAlgorithm(Algorithm):
    """Base of multi-agent algorithms: modules from the policy mapping, a MultiAgentEnvRunner (or an EnvRunnerGroup
    of them with env_runners.num_env_runners), per-agent metrics."""

    self_play: Optional[SelfPlay] = None

    def _build(self, config: AlgorithmConfig, fabric: Any) -> None:
        seed_everything(config.seed)
        spaces = agent_spaces(config.env)
        self.agents = list(spaces)
        if config.self_play.enabled:
            self.self_play = SelfPlay(config.self_play, self.agents, config.seed)
            mapping, groups = self.self_play.mapping, self.self_play.agents_by_module()
            trainable = [MAIN]
        else:
            mapping, groups = mapping_function(config), agents_by_module(config, self.agents, AgentEpisode)
            trainable = list(config.multi_agent.policies_to_train or groups)
        self.module_spaces = module_spaces(groups, spaces)
        modules = {mid: self._module(config, mid, *self.module_spaces[mid]) for mid in groups}
        self.env_observation_space = gym.spaces.Dict({mid: s[0] for mid, s in self.module_spaces.items()})
        self.action_space = gym.spaces.Dict({mid: s[1] for mid, s in self.module_spaces.items()})
        self.observation_space = self.env_observation_space
        multi = MultiRLModule(modules)
        if self.self_play is not None:
            self.self_play.initialise(multi)
        self.learner = MultiAgentLearner(config, multi, self.learner_class, trainable, fabric)
        self.rank, self.world_size = self.learner.fabric.global_rank, self.learner.fabric.world_size
        self.seed = config.seed + 1_000_003 * self.rank
        if self.rank:
            seed_everything(self.seed)
        lc, rc = config.learner, config.env_runners
        self.mapping = mapping
        self.env_runner: Union[MultiAgentEnvRunner, EnvRunnerGroup]
        if rc.num_env_runners > 0:  # worker processes, each with its own module copy and envs
            self.env_runner = EnvRunnerGroup.multi_agent(
                config.env, rc, copy.deepcopy(multi).to("cpu").float(), mapping, self.module_spaces,
                num_envs=rc.num_envs_per_env_runner, seed=self.seed,
            )
        else:
            share = self.learner.device.type == "cpu" and lc.precision in ("32-true", "32") and lc.devices == 1
            self.env_runner = MultiAgentEnvRunner(
                config.env, rc, multi if share else copy.deepcopy(multi).to("cpu").float(), mapping,
                self.module_spaces, num_envs=rc.num_envs_per_env_runner, seed=self.seed, share_module=share,
            )
        self._ma_eval_runner: Optional[MultiAgentEnvRunner] = None
        self._recent: Dict[str, Deque[float]] = {}
        self._init_run_state(config)

    def _module(self, config: AlgorithmConfig, mid: str, obs_space: gym.Space, act_space: gym.Space) -> TorchRLModule:
        if mid == RANDOM_MODULE and self.self_play is not None:
            return RandomModule(obs_space, act_space)
        module_cfg = config.copy()
        module_cfg.module = module_config(config, mid)
        module_cfg.freeze()
        return self.build_module(module_cfg, obs_space, act_space)

    # ---- sampling and metrics ------------------------------------------------------------------
    def sample(self, num_steps_per_env: int, *, random_actions: bool = False) -> MultiAgentRollout:  # type: ignore[override]
        """A multi-agent rollout; counters, team / per-module / per-agent episode statistics updated."""
        rollout = self.env_runner.sample(num_steps_per_env, random_actions=random_actions)
        self.env_steps += rollout.num_steps * self.world_size
        self.episodes += len(rollout.episode_returns)
        self._recent_returns.extend(rollout.episode_returns)
        self._recent_lengths.extend(rollout.episode_lengths)
        for mid, values in rollout.module_returns.items():
            self._recent_of(mid).extend(values)
        for agent, values in rollout.agent_returns.items():
            self._recent_of(f"agent/{agent}").extend(values)
        self.learner.set_env_steps(self.env_steps, self.progress)
        return rollout

    def _recent_of(self, key: str) -> Deque[float]:
        if key not in self._recent:
            self._recent[key] = deque(maxlen=self.config.reporting.smoothing_episodes)
        return self._recent[key]

    def episode_metrics(self, rollout: MultiAgentRollout) -> Dict[str, Any]:
        """train/<module_id>/episode_return_mean, train/agent/<agent_id>/episode_return_mean, agent steps."""
        keys = list(self._recent)
        if self.world_size > 1:  # every rank reports the same keys (one all-reduce): None where it has no episode yet
            keys += [k for k in (*self.module_spaces, *(f"agent/{a}" for a in self.agents)) if k not in self._recent]
        metrics: Dict[str, Any] = {f"train/{key}/episode_return_mean": (float(np.mean(self._recent[key]))
                                                                        if self._recent.get(key) else None)
                                   for key in keys if self._recent.get(key) or self.world_size > 1}
        for mid in self.module_spaces:
            metrics[f"train/{mid}/agent_steps"] = rollout.agent_steps(mid)
        return metrics

    def after_iteration(self) -> Dict[str, Any]:
        """Self-play's snapshot, when due; a new snapshot changes the mapping, which env runner workers then get."""
        if self.self_play is None:
            return {}
        pool = self.self_play.get_state()
        metrics = self.self_play.maybe_snapshot(self.iteration + 1, self.learner.raw_module)
        if self.self_play.get_state() != pool:
            self.env_runner.mapping = self.mapping
        return metrics

    # ---- evaluation ----------------------------------------------------------------------------
    def evaluate(self, video_path: Optional[str] = None) -> Dict[str, Any]:
        """`evaluation.episodes` episodes (greedy by default): team, per-module and per-agent mean returns; with
        self-play, win/draw/loss rates against a uniform-random player and the latest snapshot instead."""
        ev = self.config.evaluation
        runner = self._evaluation_runner_ma()
        seed = self.config.seed + 1_000_000
        with self.torch_settings:
            if self.self_play is not None:
                result = self.self_play.evaluate(runner, seed)
            else:
                result = evaluation_metrics(runner.run_episodes(ev.episodes, seed))
        result[EVAL_FAILED_ROUNDS] = self.eval_failed_rounds
        return result

    def _evaluation_runner_ma(self) -> MultiAgentEnvRunner:
        ev = self.config.evaluation
        if self._ma_eval_runner is None:
            module = copy.deepcopy(self.learner.raw_module).to("cpu").float()
            self._ma_eval_runner = MultiAgentEnvRunner(
                self.config.env, self.config.env_runners, module, self.mapping, self.module_spaces,
                num_envs=ev.num_envs, seed=self.config.seed, explore=not ev.deterministic,
            )
        self._ma_eval_runner.mapping = self.mapping
        self._ma_eval_runner.set_weights(self.learner.get_weights())
        self._ma_eval_runner.set_connector_state(self.env_runner.get_connector_state())
        return self._ma_eval_runner

    def compute_actions(self, observations: Any) -> Any:
        raise ConfigError("compute_actions: a multi-agent run has a module per policy; act with "
                          "RLModule.from_checkpoint(path, module_id=...).compute_actions(observations)")

    def stop(self) -> None:
        super().stop()
        if self._ma_eval_runner is not None:
            self._ma_eval_runner.stop()
            self._ma_eval_runner = None

    # ---- state ---------------------------------------------------------------------------------
    def get_state(self) -> Dict[str, Any]:
        state = super().get_state()
        state["recent_by_key"] = {k: list(v) for k, v in self._recent.items()}
        state["self_play"] = None if self.self_play is None else self.self_play.get_state()
        return state

    def set_state(self, state: Dict[str, Any]) -> None:
        super().set_state(state)
        self._recent = {}
        for key, values in state["recent_by_key"].items():
            self._recent_of(key).extend(values)
        if self.self_play is not None and state.get("self_play") is not None:
            self.self_play.set_state(state["self_play"])
            self.env_runner.mapping = self.mapping = self.self_play.mapping


class MultiAgentOnPolicyAlgorithm(MultiAgentAlgorithm):
    """One iteration: a multi-agent rollout of train_batch_size env steps; per trainable module its streams through
    V / GAE / flatten / to-device and its learner's update; then the weight sync."""

    def __init__(self, config: AlgorithmConfig, fabric: Any = None) -> None:
        super().__init__(config, fabric)
        num_envs = config.env_runners.num_envs_per_env_runner * max(1, config.env_runners.num_env_runners)
        self.rollout_length = max(1, math.ceil(config.algorithm.train_batch_size / (num_envs * self.world_size)))
        hp = config.algorithm
        self.learner_connectors = {
            mid: ConnectorPipeline([AddValuePredictions(learner.raw_module), GeneralAdvantageEstimation(hp.gamma, hp.gae_lambda),
                                    FlattenTime(), ToDevice(self.learner.device)])
            for mid, learner in self.learner.learners.items()
        }

    def learner_batch(self, module_id: str, columns: Dict[str, Any]) -> Dict[str, torch.Tensor]:
        """A module's flat agent-step columns -> its learner batch, each stream's GAE on its own."""
        return self.learner_connectors[module_id](stream_columns(columns))

    def training_step(self) -> Dict[str, Any]:
        start = time.perf_counter()
        rollout = self.sample(self.rollout_length)
        sampled = time.perf_counter()
        batches = {mid: self.learner_batch(mid, cols) for mid, cols in rollout.batches.items()
                   if mid in self.learner.learners and len(cols[C.REWARDS])}
        metrics = self.learner.update(batches, self.progress)
        metrics.update(self.after_iteration())
        self.sync_weights()
        metrics.update(self.episode_metrics(rollout))
        metrics["perf/sample_time_s"] = sampled - start
        metrics["perf/learn_time_s"] = time.perf_counter() - sampled
        return metrics


def stream_columns(columns: Dict[str, Any]) -> Dict[str, Any]:
    """Flat [L] agent-step columns as the single-agent learner connector's [L, 1]: a stream's last step in the rollout
    is marked truncated, so GAE's recursion stops there and bootstraps from V(next obs) (terminated steps do not)."""
    out = {k: tree.map_tree(lambda x: x[:, None], v) for k, v in columns.items() if k != STREAM_END}
    out[C.TRUNCATED] = (columns[C.TRUNCATED] | columns[STREAM_END])[:, None]
    return out


def module_spaces(groups: Dict[str, List[str]], spaces: Dict[str, Tuple[gym.Space, gym.Space]]
                  ) -> Dict[str, Tuple[gym.Space, gym.Space]]:
    """module id -> (observation, action space) of its agents, which must agree (else a ConfigError with the fix)."""
    found = {}
    for mid, agents in groups.items():
        first = spaces[agents[0]]
        for agent in agents[1:]:
            if spaces[agent] != first:
                raise ConfigError(
                    f"multi_agent.policy_mapping: module '{mid}' acts for agents {agents[0]} and {agent}, whose spaces "
                    f"differ ({first[0]}, {first[1]} vs {spaces[agent][0]}, {spaces[agent][1]}); use "
                    "multi_agent.policy_mapping=independent, or a mapping function that gives them different modules")
        found[mid] = first
    return found


def evaluation_metrics(episodes: List[Tuple[Dict[str, float], Dict[str, str], int]]) -> Dict[str, Any]:
    """Team (returns summed over agents), per-module and per-agent mean returns of evaluation episodes."""
    team = [sum(returns.values()) for returns, _, _ in episodes]
    result: Dict[str, Any] = {
        EVAL_RETURN: float(np.mean(team)), "eval/episode_return_std": float(np.std(team)),
        "eval/episode_length_mean": float(np.mean([n for _, _, n in episodes])), "eval/episodes": len(episodes),
    }
    by_key: Dict[str, List[float]] = {}
    for returns, modules, _ in episodes:
        for agent, value in returns.items():
            by_key.setdefault(f"agent/{agent}", []).append(value)
            if agent in modules:
                by_key.setdefault(modules[agent], []).append(value)
    result.update({f"eval/{key}/episode_return_mean": float(np.mean(v)) for key, v in by_key.items()})
    return result
