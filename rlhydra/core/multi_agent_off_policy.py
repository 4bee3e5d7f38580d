"""MultiAgentOffPolicyAlgorithm: OffPolicyAlgorithm's loop for several modules, a replay buffer per trainable module.

Update-to-data accounting is OffPolicyAlgorithm's, in env steps (one per env copy per vector step; a turn of an AEC
game is one): a round collects at least `train_freq` env steps, then every trainable module takes the gradient steps
owed for them (`gradient_steps` per `train_freq`), each on samples of its own buffer. A module whose agents step
more often (a shared module acting for several agents) thus gets more data per gradient step, not more steps.
Before `learning_starts` env steps, every agent acts uniformly at random over its legal actions.

A module's buffer is one column (num_envs=1) in which its agents' streams follow one another, each in time order.
Each stream's last step in a rollout is stored as truncated: an n-step window stops there and bootstraps from that
step's own next observation, never reaching into the next stream. So n-step windows also end at a rollout's boundary
(a round of train_freq env steps): a window that would run into the next round is cut short, with gamma ** (steps it
has) as its discount.
"""
from __future__ import annotations

import time
from typing import Any, Dict, List, Optional

from rlhydra.buffers import ReplayBuffer
from rlhydra.config.algorithm_config import AlgorithmConfig
from rlhydra.core.multi_agent import MultiAgentAlgorithm, stream_columns
from rlhydra.core.off_policy import make_replay_buffer, mean_metrics, owed_gradient_steps, replay_update
from rlhydra.data import columns as C


class MultiAgentOffPolicyAlgorithm(MultiAgentAlgorithm):
    """One iteration: rounds of train_freq env steps into the trainable modules' replay buffers, each round followed
    by every trainable module's owed gradient steps on its own buffer, until train_batch_size env steps."""

    def __init__(self, config: AlgorithmConfig, fabric: Any = None) -> None:
        super().__init__(config, fabric)
        er = config.env_runners
        self.num_envs = er.num_envs_per_env_runner * max(1, er.num_env_runners)  # every runner's env copies
        self.buffers: Dict[str, ReplayBuffer] = {}
        for k, (mid, learner) in enumerate(self.learner.learners.items()):
            buffer = make_replay_buffer(config, self.learner.device, self.seed + k)
            # stored as the module sees them; one column that holds the module's streams one after another
            buffer.setup(learner.raw_module.observation_space, learner.raw_module.action_space, num_envs=1)
            self.buffers[mid] = buffer
        self.update_credit = 0  # as OffPolicyAlgorithm's: owed gradient steps in units of 1 / train_freq

    def training_step(self) -> Dict[str, Any]:
        hp = self.config.algorithm
        target_steps = self.env_steps + hp.train_batch_size
        stats: Dict[str, List[Dict[str, Any]]] = {mid: [] for mid in self.buffers}
        agent_steps = dict.fromkeys(self.module_spaces, 0)
        sample_time = learn_time = 0.0
        vector_steps = -(-hp.train_freq // self.num_envs)  # ceil: a round collects at least train_freq env steps
        while self.env_steps < target_steps:
            start = time.perf_counter()
            rollout = self.sample(vector_steps, random_actions=self.env_steps < hp.learning_starts)
            for mid, buffer in self.buffers.items():
                add_streams(buffer, rollout.batches.get(mid))
            for mid in agent_steps:
                agent_steps[mid] += rollout.agent_steps(mid)
            self.learner.on_env_steps(self.env_steps, self.progress)
            sampled = time.perf_counter()
            if self.env_steps >= hp.learning_starts and any(len(b) for b in self.buffers.values()):
                updates, self.update_credit = owed_gradient_steps(self.update_credit, rollout.num_steps, hp)
                for mid, buffer in self.buffers.items():
                    if len(buffer):
                        learner = self.learner.learners[mid]
                        stats[mid] += [replay_update(learner, buffer, self.progress) for _ in range(updates)]
                self.sync_weights()
            sample_time += sampled - start
            learn_time += time.perf_counter() - sampled
        metrics: Dict[str, Any] = {"perf/sample_time_s": sample_time, "perf/learn_time_s": learn_time}
        for mid, buffer in self.buffers.items():
            metrics[f"learner/{mid}/updates"] = self.learner.learners[mid].num_updates
            metrics[f"buffer/{mid}/size"] = len(buffer)
            metrics.update({f"learner/{mid}/{k}": v for k, v in mean_metrics(stats[mid], self.learner.device).items()})
        metrics.update(self.after_iteration())
        metrics.update(self.episode_metrics(rollout))
        metrics.update({f"train/{mid}/agent_steps": n for mid, n in agent_steps.items()})  # the iteration's, all rounds
        return metrics

    def get_state(self) -> Dict[str, Any]:
        state = super().get_state()
        state["buffers"] = {mid: buffer.state_dict() for mid, buffer in self.buffers.items()}
        state["update_credit"] = self.update_credit
        return state

    def set_state(self, state: Dict[str, Any]) -> None:
        super().set_state(state)
        for mid, buffer_state in state["buffers"].items():
            self.buffers[mid].load_state_dict(buffer_state)
        self.update_credit = state["update_credit"]


def add_streams(buffer: ReplayBuffer, columns: Optional[Dict[str, Any]]) -> None:
    """A module's flat agent-step columns (a MultiAgentRollout's, streams one after another) into its one-column
    buffer, each stream's last step in the rollout stored as truncated: its n-step windows stop there and bootstrap
    from its own next observation (terminated would drop the bootstrap)."""
    if columns is not None and len(columns[C.REWARDS]):
        buffer.add(stream_columns(columns))
