"""OffPolicyAlgorithm: sample `train_freq` env steps into the replay buffer, then take gradient steps on samples.

The update-to-data ratio is `gradient_steps / train_freq` per env step, whatever the number of envs: with N envs a
round steps the vector env ceil(train_freq / N) times and takes as many gradient steps as that many env steps are
owed (a remainder carries over to the next round). With one env this is Stable-Baselines3's loop step for step.
"""
from __future__ import annotations

import time
from typing import Any, Dict, List, Tuple

import torch

from rlhydra.config.algorithm_config import AlgorithmConfig
from rlhydra.buffers import ReplayBuffer
from rlhydra.config.schema import OffPolicyTrainingConfig
from rlhydra.config.targets import DEFAULT_BUFFER, import_class, module_target_and_kwargs
from rlhydra.core.algorithm import Algorithm
from rlhydra.core.learner import Learner
from rlhydra.data import columns as C


class OffPolicyAlgorithm(Algorithm):
    """The off-policy loop, once for SAC, DQN and friends; the learner's `update(batch)` is per gradient step."""

    def __init__(self, config: AlgorithmConfig, fabric: Any = None) -> None:
        super().__init__(config, fabric)
        self.buffer = make_replay_buffer(config, self.learner.device, self.seed)
        er = config.env_runners
        self.num_envs = er.num_envs_per_env_runner * max(1, er.num_env_runners)  # this rank's envs
        # stored as the module sees them: the observation space after the env->module connectors
        self.buffer.setup(self.observation_space, self.action_space, self.num_envs)
        # gradient_steps * (env steps collected since learning started) not yet paid in gradient steps, in units
        # of 1 / train_freq gradient steps: always < train_freq, so a round owes an exact whole number of steps
        self.update_credit = 0

    def training_step(self) -> Dict[str, Any]:
        hp = self.config.algorithm
        target_steps = self.env_steps + hp.train_batch_size
        stats: List[Dict[str, Any]] = []
        sample_time = learn_time = 0.0
        vector_steps = -(-hp.train_freq // self.num_envs)  # ceil: a round collects at least train_freq env steps
        while self.env_steps < target_steps:
            start = time.perf_counter()
            rollout = self.sample(vector_steps, random_actions=self.env_steps < hp.learning_starts)
            self.buffer.add(rollout.data)
            self.learner.on_env_steps(self.env_steps, self.progress)
            sampled = time.perf_counter()
            if self.env_steps >= hp.learning_starts and len(self.buffer) > 0:
                updates, self.update_credit = owed_gradient_steps(self.update_credit, rollout.num_steps, hp)
                stats += [replay_update(self.learner, self.buffer, self.progress) for _ in range(updates)]
                self.sync_weights()
            sample_time += sampled - start
            learn_time += time.perf_counter() - sampled
        metrics: Dict[str, Any] = {"perf/sample_time_s": sample_time, "perf/learn_time_s": learn_time,
                                   "learner/updates": self.learner.num_updates, "buffer/size": len(self.buffer)}
        metrics.update({f"learner/{k}": v for k, v in mean_metrics(stats, self.learner.device).items()})
        return metrics

    def get_state(self) -> Dict[str, Any]:
        state = super().get_state()
        state["buffer"] = self.buffer.state_dict()
        state["update_credit"] = self.update_credit
        return state

    def set_state(self, state: Dict[str, Any]) -> None:
        super().set_state(state)
        self.buffer.load_state_dict(state["buffer"])
        self.update_credit = state.get("update_credit", 0)  # older checkpoints: no remainder


def make_replay_buffer(config: AlgorithmConfig, device: torch.device, seed: int) -> ReplayBuffer:
    """The replay buffer `config.buffer` names (uniform by default) with the algorithm's n_step, gamma and
    minibatch size; setup() is the caller's."""
    hp = config.algorithm
    target, kwargs = module_target_and_kwargs(config.buffer, DEFAULT_BUFFER)
    return import_class(target, ReplayBuffer, "buffer")(
        n_step=hp.n_step, gamma=hp.gamma, batch_size=hp.minibatch_size, device=device, seed=seed, **kwargs,
    )


def owed_gradient_steps(credit: int, env_steps: int, hp: OffPolicyTrainingConfig) -> Tuple[int, int]:
    """(gradient steps owed for `env_steps` new env steps at `gradient_steps` per `train_freq`, the credit carried
    to the next round); credit is in units of 1 / train_freq gradient steps, so no fraction is ever lost."""
    per_train_freq = hp.gradient_steps if hp.gradient_steps > 0 else hp.train_freq  # -1: one per env step
    return divmod(credit + per_train_freq * env_steps, hp.train_freq)


def replay_update(learner: Learner, buffer: ReplayBuffer, progress: float) -> Dict[str, Any]:
    """One gradient step on a minibatch sampled from `buffer` (of its `batch_size`: minibatch_size); its TD errors
    become priorities when the buffer keeps them. Returns the learner's metrics."""
    batch = buffer.sample()
    out = dict(learner.update(batch, progress))
    td_errors = out.pop(C.TD_ERRORS, None)
    if td_errors is not None and hasattr(buffer, "update_priorities"):
        buffer.update_priorities(batch[C.INDICES], td_errors)
    return out


def mean_metrics(updates: List[Dict[str, Any]], device: torch.device) -> Dict[str, float]:
    """Each metric's mean over the updates that reported it (tensors or numbers, any subset per update), with one
    host sync for all of them."""
    values: Dict[str, List[torch.Tensor]] = {}
    for update in updates:
        for key, value in update.items():
            values.setdefault(key, []).append(torch.as_tensor(value, dtype=torch.float32, device=device).reshape(()))
    if not values:
        return {}
    means = torch.stack([torch.stack(v).mean() for v in values.values()]).tolist()
    return dict(zip(values, means))
