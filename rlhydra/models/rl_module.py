"""RLModule: the networks and their inference logic; TorchRLModule is the concrete torch base."""
from __future__ import annotations

import abc
from typing import Any, Dict, Optional, Tuple, Type

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor, nn

from rlhydra.config.algorithm_config import AlgorithmConfig
from rlhydra.config.multi_agent import module_config
from rlhydra.config.registry import get_algorithm_spec
from rlhydra.config.schema import ConfigError
from rlhydra.connectors import rewards as reward_norm
from rlhydra.connectors.runner_pipelines import build_runner_connectors, module_observation_space
from rlhydra.data import columns as C
from rlhydra.data import tree
from rlhydra.data.checkpoint import load_policy_state, saved_spaces
from rlhydra.data.tree import Tree
from rlhydra.models.action_noise import ActionNoise
from rlhydra.models.catalog import action_dist_cls_for, action_mask_problem, action_space_problem, space_problem
from rlhydra.models.distributions import Distribution

Batch = Dict[str, Any]


class RLModule(abc.ABC):
    """Framework-agnostic interface: three forward passes, a distribution class, and state."""

    # Set by from_checkpoint / attach_connectors, for compute_actions; the env runners keep their own.
    env_to_module: Optional[Any] = None
    module_to_env: Optional[Any] = None
    explore: bool = False
    env_observation_space: Optional[gym.Space] = None  # the raw env's, before the connectors (from_checkpoint sets it)

    def __init__(self, observation_space: gym.Space, action_space: gym.Space) -> None:
        self.observation_space = observation_space
        self.action_space = action_space

    @abc.abstractmethod
    def forward_inference(self, batch: Batch) -> Batch:
        """Outputs for acting greedily (evaluation, deployment)."""

    @abc.abstractmethod
    def forward_exploration(self, batch: Batch) -> Batch:
        """Outputs for acting while collecting training data."""

    @abc.abstractmethod
    def forward_train(self, batch: Batch) -> Batch:
        """Outputs the loss needs (e.g. action distribution inputs and value predictions)."""

    @abc.abstractmethod
    def get_state(self) -> Dict[str, Any]:
        """Weights (and any other state) as a dict of tensors."""

    @abc.abstractmethod
    def set_state(self, state: Dict[str, Any]) -> None:
        """Load what get_state() returned."""

    def is_stateful(self) -> bool:
        """Whether the module carries a recurrent state from step to step (RLlib's name)."""
        return False

    def get_initial_state(self) -> Dict[str, Any]:
        """The recurrent state an episode starts from, unbatched; {} for a module that is not stateful."""
        return {}

    def make_action_noise(self, num_envs: int) -> Optional[ActionNoise]:
        """Per-env noise the env runner adds to the actions while sampling (None: exploring is the forward pass's)."""
        return None

    def action_dist_cls(self) -> Type[Distribution]:
        """The distribution built from `action_dist_inputs` for this action space."""
        return action_dist_cls_for(self.action_space)

    @classmethod
    def check_spaces(cls, observation_space: gym.Space, action_space: gym.Space) -> Optional[str]:
        """None if this module can serve these spaces, else the reason (shown to the user)."""
        return None

    @classmethod
    def from_checkpoint(cls, path: str, *, explore: bool = False, module_id: Optional[str] = None) -> "RLModule":
        """The policy from an Algorithm checkpoint, without envs or learner, with its connectors and their state.

        `compute_actions(observations)` then maps raw env observations to env actions exactly as the env runners
        did in training (e.g. normalised with the saved statistics); greedy unless `explore`. Needs no env: the
        spaces come from the checkpoint's metadata.json; only module.pt and connectors.pt are read. A multi-agent
        checkpoint holds a module per policy: `module_id` names the one to load.
        """
        metadata, module_state, connector_state = load_policy_state(path)
        config = AlgorithmConfig.from_dict(metadata["config"])
        env_observation_space, action_space = saved_spaces(metadata)
        if config.env.api == "pettingzoo":
            module_ids = list(module_state)
            if module_id not in module_ids:
                raise ConfigError(f"RLModule.from_checkpoint('{path}', module_id={module_id!r}): a multi-agent "
                                  f"checkpoint; pick module_id= one of {', '.join(module_ids)}")
            env_observation_space, action_space = env_observation_space[module_id], action_space[module_id]
            module_state = module_state[module_id]
            connector_state = {k: v[module_id] for k, v in connector_state.items()}
            config.module = module_config(config, module_id)
        elif module_id is not None:
            raise ConfigError(f"RLModule.from_checkpoint('{path}', module_id={module_id!r}): a single-agent "
                              "checkpoint has one module; leave module_id out")
        algorithm_class = get_algorithm_spec(config.algorithm.name).algorithm_class
        observation_space = module_observation_space(config.env_runners, env_observation_space)
        module = algorithm_class.build_module(config, observation_space, action_space)
        env_to_module, module_to_env = build_runner_connectors(
            config.env_runners, env_observation_space, action_space, module.action_dist_cls(), explore=explore,
            squashed_actions=algorithm_class.squashed_actions,
        )
        try:
            module.set_state(module_state)
            env_to_module.set_state({k: v for k, v in connector_state["env_to_module"].items()
                                     if k != reward_norm.STATE_KEY})  # training-only statistics
            module_to_env.set_state(connector_state["module_to_env"])
        except Exception as exc:
            raise ConfigError(f"checkpoint '{path}' is corrupt: {type(exc).__name__}: {exc}") from None
        module.attach_connectors(env_to_module, module_to_env, explore=explore)
        module.env_observation_space = env_observation_space
        return module.eval()

    def attach_connectors(self, env_to_module: Any, module_to_env: Any, *, explore: bool = False) -> None:
        """The connectors `compute_actions` runs around the forward pass (from_checkpoint attaches them)."""
        self.env_to_module, self.module_to_env, self.explore = env_to_module, module_to_env, explore

    def compute_actions(self, observations: Any, state: Optional[Tree] = None, episode_start: Any = None) -> Any:
        """Env actions for a batch of raw env observations: env->module connectors, forward, module->env.
        One observation (shaped as the env's observation space) gives one action.

        A stateful module returns `(actions, state_out)`: `state` is the batch's recurrent state (each leaf
        [B, ...]; None: every env's initial state), reset to the initial state where `episode_start` [B] is true."""
        if self.env_to_module is None or self.module_to_env is None:
            raise RuntimeError("this module has no connectors: load it with RLModule.from_checkpoint(path), or call "
                               "attach_connectors(env_to_module, module_to_env) first")
        batch, single = as_batch(self.env_observation_space or self.observation_space, observations)
        stateful = self.is_stateful()
        with torch.inference_mode():
            batch = self.env_to_module({C.OBS: batch}, update=False)
            if stateful:
                batch[C.STATE_IN] = self.batched_state(state, episode_start, len(tree.first_leaf(batch[C.OBS])))
            out = self.forward_exploration(batch) if self.explore else self.forward_inference(batch)
            state_out = out.pop(C.STATE_OUT, None)
            actions = self.module_to_env(out, update=False)[C.ENV_ACTIONS]
        actions = actions[0] if single else actions
        return (actions, state_out) if stateful else actions

    def batched_state(self, state: Optional[Tree], episode_start: Any, batch_size: int) -> Tree:
        """`state` as tensors (None: the initial state for `batch_size` envs), reset where `episode_start` is true."""
        initial = initial_state_batch(self, batch_size)
        if state is None:
            return initial
        state = tree.map_tree(torch.as_tensor, state)
        if episode_start is None:
            return state
        return reset_state(state, torch.as_tensor(np.asarray(episode_start, bool).reshape(-1)), initial)

    def compute_single_action(self, observation: Any, state: Optional[Tree] = None) -> Any:
        """The env action for one raw observation (as `env.step` takes it). A stateful module (RLlib's call) takes
        its unbatched state (None: the initial one) and returns `(action, state_out)`."""
        if not self.is_stateful():
            return self.compute_actions(tree.map_tree(_add_batch_dim, observation))[0]
        batched = None if state is None else tree.map_tree(lambda x: torch.as_tensor(x).unsqueeze(0), state)
        actions, state_out = self.compute_actions(tree.map_tree(_add_batch_dim, observation), batched)
        return actions[0], tree.map_tree(lambda x: x[0], state_out)

    def predict(self, observation: Any, state: Any = None, episode_start: Any = None,
                deterministic: bool = True) -> Tuple[Any, Any]:
        """Stable-Baselines3's call: `(action, state)` for one raw observation or a batch (told apart by the env's
        observation space shape). A stateful module (module.use_lstm) takes the state it last returned (None: the
        initial one), reset where `episode_start` is true, as RecurrentPPO.predict does; the state keeps its batch
        axis even for one observation. Other modules return `state` unchanged. A module acts as it was loaded:
        `RLModule.from_checkpoint(path)` greedily, `from_checkpoint(path, explore=True)` by sampling."""
        if deterministic == self.explore:
            raise ConfigError(
                f"predict(deterministic={deterministic}): this module was loaded to act "
                f"{'by sampling' if self.explore else 'greedily'}; load it with "
                f"RLModule.from_checkpoint(path, explore={not deterministic}) for {'greedy' if deterministic else 'sampled'} actions"
            )
        if self.is_stateful():
            return self.compute_actions(observation, state, episode_start)
        return self.compute_actions(observation), state


class TorchRLModule(nn.Module, RLModule):
    """RLModule on torch: `forward` is `forward_train`, so Fabric/DDP wrap the training pass."""

    def __init__(self, observation_space: gym.Space, action_space: gym.Space) -> None:
        nn.Module.__init__(self)
        RLModule.__init__(self, observation_space, action_space)

    def forward(self, batch: Batch) -> Batch:
        return self.forward_train(batch)

    def get_state(self) -> Dict[str, Tensor]:
        return {k: v.detach().cpu().clone() for k, v in self.state_dict().items()}

    def set_state(self, state: Dict[str, Any]) -> None:
        self.load_state_dict(state)

    @classmethod
    def check_spaces(cls, observation_space: gym.Space, action_space: gym.Space) -> Optional[str]:
        """The default torch modules take what the catalog encodes (rlhydra.models.catalog) and Discrete,
        MultiDiscrete or 1-D Box actions; an `action_mask` observation key must fit the Discrete actions."""
        problem = space_problem(observation_space)
        if problem:
            return f"{cls.__name__}: {problem}"
        problem = action_space_problem(action_space)
        if problem:
            return f"{cls.__name__} {problem}"
        return action_mask_problem(observation_space, action_space)


def initial_state_batch(module: RLModule, batch_size: int) -> Tree:
    """The module's initial state repeated for `batch_size` envs: each leaf [batch_size, ...]."""
    return tree.map_tree(lambda x: x.unsqueeze(0).repeat(batch_size, *([1] * x.dim())), module.get_initial_state())


def reset_state(state: Tree, episode_start: Tensor, initial: Tree) -> Tree:
    """`state` with the rows where `episode_start` [B] is true replaced by `initial`'s (each leaf [B, ...])."""
    def pick(x: Tensor, init: Tensor) -> Tensor:
        return torch.where(episode_start.reshape(-1, *([1] * (x.dim() - 1))), init, x)
    return tree.map_tree(pick, state, initial)


def as_batch(space: Optional[gym.Space], observations: Any) -> Tuple[Any, bool]:
    """(a batch, whether `observations` was one observation): one observation has the space's own shape
    (a Dict/Tuple space: its first part's) and gets a batch dimension of 1; a batch comes back as it is."""
    if isinstance(space, gym.spaces.Dict):
        key = next(iter(space.spaces))
        single = as_batch(space[key], observations[key])[1]
        return (tree.map_tree(_add_batch_dim, observations) if single else observations), single
    if isinstance(space, gym.spaces.Tuple):
        single = as_batch(space[0], observations[0])[1]
        return (tree.map_tree(_add_batch_dim, observations) if single else observations), single
    if space is None or space.shape is None:
        return observations, False
    single = np.shape(observations) == tuple(space.shape)
    return (_add_batch_dim(observations) if single else observations), single


def _add_batch_dim(value: Any) -> np.ndarray:
    return np.expand_dims(np.asarray(value), 0)


def bounded_box_problem(module_name: str, action_space: gym.Space) -> Optional[str]:
    """None if `action_space` is a Box with finite bounds (so tanh outputs in [-1, 1] rescale to it), else why not."""
    if not isinstance(action_space, gym.spaces.Box):
        return f"{module_name} needs continuous (Box) actions, not {action_space}"
    if not (np.isfinite(action_space.low).all() and np.isfinite(action_space.high).all()):
        return f"{module_name} needs bounded Box actions to rescale tanh outputs, got {action_space}"
    return None


def torch_inference(module: nn.Module) -> nn.Module:
    """Freeze a module copy for acting: eval mode, no grads."""
    module.eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return module

