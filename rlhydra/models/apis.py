"""What each algorithm family's learner calls on its RLModule, declared as abstract classes (RLlib's "APIs").

An algorithm names the APIs its module must implement in its `AlgorithmSpec(module_apis=...)`; a module class that
lacks one of their methods is refused before any env or worker starts, with the class and the missing method named
(`missing_api_methods`). The shipped modules subclass them; a module of your own may subclass them too, or just
define the methods.

Every learner receives the same kind of batch: a dict of tensors on its device, keyed by `rlhydra.data.columns`.
"""
from __future__ import annotations

import abc
import inspect
from typing import Iterable, List, Tuple

from torch import Tensor, nn



class ValueFunctionAPI(abc.ABC):
    """Actor-critics (PPO, A2C): `forward_train` returns ACTION_DIST_INPUTS and VF_PREDS; GAE needs the values."""

    @abc.abstractmethod
    def compute_values(self, obs: Tensor) -> Tensor:
        """V(obs), shape [B]: the value predictions GAE bootstraps from (no gradient is taken)."""


class TargetNetworkAPI(abc.ABC):
    """Modules with target networks: the learner moves each target towards its online network (polyak)."""

    @abc.abstractmethod
    def target_network_pairs(self) -> List[Tuple[nn.Module, nn.Module]]:
        """(online, target) network pairs."""


class QNetworkAPI(TargetNetworkAPI):
    """DQN: a Q network over discrete actions, its target copy, and epsilon-greedy exploration."""

    @abc.abstractmethod
    def compute_q_values(self, obs: Tensor) -> Tensor:
        """Q(obs, a) for every action, shape [B, num_actions], from the online network."""

    @abc.abstractmethod
    def compute_target_q_values(self, obs: Tensor) -> Tensor:
        """Q(obs, a) for every action from the target network."""

    @abc.abstractmethod
    def set_epsilon(self, epsilon: float) -> None:
        """The probability of a uniform random action in `forward_exploration` (it reaches the env runners)."""


class TwinQAPI(TargetNetworkAPI):
    """Continuous-action actor-critics with twin Q critics (SAC, TD3): separate actor and critic parameters."""

    @abc.abstractmethod
    def compute_q_values(self, obs: Tensor, actions: Tensor) -> Tuple[Tensor, Tensor]:
        """(Q1, Q2)(obs, actions), each [B], from the online critics; actions are in [-1, 1]."""

    @abc.abstractmethod
    def compute_target_q_values(self, obs: Tensor, actions: Tensor) -> Tuple[Tensor, Tensor]:
        """(Q1, Q2)(obs, actions) from the target critics."""

    @abc.abstractmethod
    def actor_parameters(self) -> Iterable[nn.Parameter]:
        """What the actor loss trains."""

    @abc.abstractmethod
    def critic_parameters(self) -> Iterable[nn.Parameter]:
        """What the critic loss trains (frozen during the actor step)."""


class SquashedGaussianActorAPI(TwinQAPI):
    """SAC: `forward_train` returns ACTION_DIST_INPUTS of a distribution with `rsample_and_logp()` (tanh-squashed
    Gaussian); the twin critics judge its reparameterised actions."""


class DeterministicActorAPI(TwinQAPI):
    """TD3: a deterministic actor (`forward_train` returns ACTIONS in [-1, 1]) with a target copy."""

    @abc.abstractmethod
    def compute_target_actions(self, obs: Tensor) -> Tensor:
        """The target actor's actions in [-1, 1], before target policy smoothing."""

    @abc.abstractmethod
    def compute_actor_q_values(self, obs: Tensor, actions: Tensor) -> Tensor:
        """Q1(obs, actions) alone, for the actor loss."""


def missing_api_methods(module_class: type, apis: Iterable[type]) -> List[str]:
    """'API.method' for each method of `apis` that `module_class` does not implement (absent or still abstract)."""
    missing = []
    for api in apis:
        for name in sorted(_abstract_methods(api)):
            implementation = getattr(module_class, name, None)
            if implementation is None or getattr(implementation, "__isabstractmethod__", False):
                missing.append(f"{api.__name__}.{name}")
    return missing


def _abstract_methods(api: type) -> set:
    return {name for klass in inspect.getmro(api) for name, value in vars(klass).items()
            if getattr(value, "__isabstractmethod__", False)}
