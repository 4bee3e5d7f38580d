"""The Python door: an RLlib-style chained builder that fills in the same AlgorithmConfig dataclass as the CLI."""
from __future__ import annotations

from dataclasses import fields
from typing import Any, Dict, List, Mapping, Optional, Type, Union

import gymnasium as gym

from rlhydra.config.algorithm_config import AlgorithmConfig
from rlhydra.config.env_class import class_path, register_env_class
from rlhydra.config.registry import get_algorithm_spec
from rlhydra.config.schema import (
    ConfigError, Section, TrainingConfig, piecewise_problem, scheduled_fields, training_aliases,
)
from rlhydra.config.targets import constructor_arguments, import_object, module_class_path
from rlhydra.config.types import fit


# RLlib's model_config names of the default modules' arguments
RLLIB_MODEL_CONFIG = {"fcnet_hiddens": "hidden_sizes", "fcnet_activation": "activation"}
# RLlib builder methods rlhydra has no counterpart of, and what to do instead
RLLIB_METHODS = {
    "resources": "use .learners(num_learners=..., num_gpus_per_learner=...) and .env_runners(num_env_runners=...).",
    "rollouts": "RLlib renamed it: use .env_runners(num_env_runners=..., num_envs_per_env_runner=...).",
    "multi_agent": "rlhydra is single-agent: one RLModule for one Gymnasium env.",
    "callbacks": "pass loggers to algo.learn(loggers=[obj_with_log(result)]), or call algo.train() in your own loop.",
    "fault_tolerance": "use .env_runners(restart_failed=True, sample_timeout_s=...) and .evaluation(restart_failed=...).",
    "offline_data": "rlhydra learns from environments only.",
    "python_environment": "not needed: runner processes inherit this interpreter.",
}


class AlgorithmConfigBuilder:
    """Chained setters over an AlgorithmConfig; each algorithm subclasses it with its `training_class`."""

    training_class: Type[TrainingConfig]

    def __init__(self) -> None:
        self.config = AlgorithmConfig(algorithm=self.training_class())
        self._unimportable_env: Optional[type] = None  # an env class only this process can make (see build())

    def environment(
        self, env: Optional[Union[str, type]] = None, *, env_config: Optional[Mapping[str, Any]] = None, **kwargs: Any
    ) -> "AlgorithmConfigBuilder":
        """The env (`env.id`), its constructor / `gymnasium.make` kwargs (`env_config`, RLlib's name) and other
        `env.*` keys. `env`: a registered Gymnasium id, 'pkg.module:EnvId', or a gymnasium.Env subclass (RLlib's
        way; it gets `env_config` as kwargs, or as one dict when its only argument is `config`, see env_class.py)."""
        name = type(self).__name__
        if isinstance(env, type):
            if not issubclass(env, gym.Env):
                raise ConfigError(f"{name}().environment({env.__name__}): {env.__name__} is not a gymnasium.Env "
                                  "subclass; pass an Env class, a registered env id or 'pkg.module:EnvId'.")
            path = class_path(env)  # importable: every process (runner workers too) registers it from the path
            self.config.env.id = path or register_env_class(env)
            self._unimportable_env = None if path else env
        elif isinstance(env, str):
            self.config.env.id, self._unimportable_env = env, None
        elif env is not None:
            what = "an env instance" if isinstance(env, gym.Env) else f"{type(env).__name__} {env!r}"
            raise ConfigError(
                f"{name}().environment(env=...): got {what}. Pass the env's class (with env_config={{...}} for its "
                "constructor), a registered Gymnasium id such as 'CartPole-v1', or 'pkg.module:EnvId'; for an env "
                "creator function, gymnasium.register(id='MyEnv-v0', entry_point=creator) and pass 'MyEnv-v0'."
            )
        if env_config is not None:
            self.config.env.kwargs = dict(env_config)
        return self._set(self.config.env, "environment", kwargs)

    def env_runners(self, *, rollout_fragment_length: Optional[int] = None, **kwargs: Any) -> "AlgorithmConfigBuilder":
        """Runner processes and envs per runner: `num_env_runners`, `num_envs_per_env_runner`, ..."""
        if rollout_fragment_length is not None:
            raise ConfigError(
                "env_runners(rollout_fragment_length=...) is derived here: set .training(train_batch_size=...), "
                "which is split evenly over all envs of all runners."
            )
        return self._set(self.config.env_runners, "env_runners", kwargs)

    def learners(
        self, *, num_learners: Optional[int] = None, num_gpus_per_learner: Optional[float] = None, **kwargs: Any
    ) -> "AlgorithmConfigBuilder":
        """Learner processes and device; RLlib's `num_learners` / `num_gpus_per_learner` map to Fabric's settings."""
        learner = self.config.learner
        if num_learners is not None:
            learner.devices = max(1, int(num_learners))
        if num_gpus_per_learner is not None:
            if num_gpus_per_learner not in (0, 1):
                raise ConfigError(
                    f"learners(num_gpus_per_learner={num_gpus_per_learner}): a learner uses 0 or 1 GPU; "
                    "use num_learners=N for N GPUs."
                )
            learner.accelerator = "cuda" if num_gpus_per_learner else "cpu"
        return self._set(learner, "learners", kwargs)

    def training(self, **kwargs: Any) -> "AlgorithmConfigBuilder":
        """The algorithm's hyperparameters (`lr`, `gamma`, `train_batch_size`, ...; RLlib's and SB3's names too).

        A scheduled value given as RLlib's piecewise schedule, `lr=[[0, 1e-3], [100000, 1e-4]]` (env step, value),
        sets its schedule field (`lr_schedule`, PPO's `clip_schedule`) to those points and the value to the first.
        """
        cls = type(self.config.algorithm)
        aliases, scheduled = training_aliases(cls), scheduled_fields(cls)
        values: Dict[str, Any] = {}
        for key, value in kwargs.items():
            key = aliases.get(key, key)
            if key in scheduled and isinstance(value, (list, tuple)):
                problem = piecewise_problem(value)
                if problem:
                    raise ConfigError(f"{type(self).__name__}().training({key}=...): a schedule {problem}")
                values[scheduled[key]] = [list(point) for point in value]
                value = value[0][1]
            values[key] = value
        return self._set(self.config.algorithm, "training", values)

    def rl_module(
        self, module_class: Optional[Any] = None, *, model_config: Optional[Mapping[str, Any]] = None, **kwargs: Any
    ) -> "AlgorithmConfigBuilder":
        """The RLModule class (or its import path) and its constructor kwargs (`model_config`)."""
        if module_class is not None:
            if not isinstance(module_class, str):
                module_class = f"{module_class.__module__}.{module_class.__qualname__}"
            self.config.module = {"_target_": module_class}
        model_config = {RLLIB_MODEL_CONFIG.get(k, k): v for k, v in dict(model_config or {}).items()}
        self.config.module.update(self._module_kwargs({**model_config, **kwargs}))
        return self

    def framework(self, framework: str = "torch", **kwargs: Any) -> "AlgorithmConfigBuilder":
        """RLlib's framework choice: torch is the only one (a no-op for "torch")."""
        if framework != "torch":
            raise ConfigError(f"{type(self).__name__}().framework({framework!r}): torch is the only framework here.")
        return self

    def api_stack(self, *, enable_rl_module_and_learner: bool = True,
                  enable_env_runner_and_connector_v2: bool = True) -> "AlgorithmConfigBuilder":
        """RLlib's API-stack switch: rlhydra is the new stack (RLModule, Learner, EnvRunner, connectors), so enabling
        it is a no-op and disabling it is refused."""
        if not (enable_rl_module_and_learner and enable_env_runner_and_connector_v2):
            raise ConfigError(f"{type(self).__name__}().api_stack(...): rlhydra has RLlib's new API stack only "
                              "(RLModule, Learner, EnvRunner); the old stack cannot be switched on.")
        return self

    def _module_kwargs(self, kwargs: Mapping[str, Any]) -> Dict[str, Any]:
        """The module's kwargs, an integral float given for an int argument as the int (`hidden_sizes=[64.0]`);
        the rest is checked at build against the class's constructor."""
        spec = get_algorithm_spec(self.config.algorithm.name)
        target = module_class_path({**self.config.module, **kwargs}, spec.default_module, spec.recurrent_module)
        try:
            arguments, _ = constructor_arguments(import_object(target))
        except (ImportError, AttributeError, ValueError, TypeError):
            return dict(kwargs)
        return {k: fit(v, arguments[k].annotation)[1] if k in arguments else v for k, v in kwargs.items()}

    def evaluation(
        self, *, evaluation_interval: Optional[int] = None, evaluation_duration: Optional[int] = None, **kwargs: Any
    ) -> "AlgorithmConfigBuilder":
        """Evaluation every `interval` iterations for `episodes` episodes; RLlib's names are accepted too."""
        if evaluation_interval is not None:
            self.config.evaluation.interval = evaluation_interval
        if evaluation_duration is not None:
            self.config.evaluation.episodes = evaluation_duration
        return self._set(self.config.evaluation, "evaluation", kwargs)

    def reporting(self, **kwargs: Any) -> "AlgorithmConfigBuilder":
        """Metric smoothing and console print interval."""
        return self._set(self.config.reporting, "reporting", kwargs)

    def checkpointing(self, **kwargs: Any) -> "AlgorithmConfigBuilder":
        """Checkpoint interval and retention."""
        return self._set(self.config.checkpointing, "checkpointing", kwargs)

    def debugging(self, *, seed: Optional[int] = None) -> "AlgorithmConfigBuilder":
        """The seed (RLlib keeps it here)."""
        if seed is not None:
            self.config.seed = seed
        return self

    def stopping(self, *, total_steps: Optional[int] = None) -> "AlgorithmConfigBuilder":
        """How many env steps `learn()` trains for."""
        if total_steps is not None:
            self.config.total_steps = total_steps
        return self

    def multi_agent(
        self, *, policies: Optional[Any] = None, policy_mapping_fn: Optional[Any] = None,
        policies_to_train: Optional[List[str]] = None,
    ) -> "AlgorithmConfigBuilder":
        """Multi-agent modules (env=pettingzoo): `policies` (ids, or id -> `module` overrides), `policy_mapping_fn`
        ('shared', 'independent', or an importable function (agent_id, episode) -> module id, or its dotted path),
        `policies_to_train` (ids; None: all)."""
        ma = self.config.multi_agent
        if policies is not None:
            ma.policies = {p: {} for p in policies} if isinstance(policies, (list, tuple, set)) else {
                k: dict(v or {}) for k, v in dict(policies).items()}
        if callable(policy_mapping_fn):
            path = f"{policy_mapping_fn.__module__}.{policy_mapping_fn.__qualname__}"
            if "<" in path or policy_mapping_fn.__module__ == "__main__":
                raise ConfigError(f"{type(self).__name__}().multi_agent(policy_mapping_fn={policy_mapping_fn.__qualname__}):"
                                  " the function must be importable (defined at the top of a module, not in __main__ or"
                                  " a function), so that the config can name it; move it into a module of its own")
            ma.policy_mapping = {"_target_": path}
        elif isinstance(policy_mapping_fn, str):
            ma.policy_mapping = policy_mapping_fn if policy_mapping_fn in ("shared", "independent") else {
                "_target_": policy_mapping_fn}
        if policies_to_train is not None:
            ma.policies_to_train = list(policies_to_train)
        self.config.env.api = "pettingzoo"
        return self

    def to_config(self) -> AlgorithmConfig:
        """A copy of the dataclass this builder has filled in (the same object the CLI composes)."""
        return self.config.copy()

    def build(self) -> Any:
        """Validate and build the Algorithm."""
        self._check_env_class_reachable()
        return self.config.build()

    def build_algo(self) -> Any:
        """RLlib's current name of `build()`."""
        return self.build()

    def _check_env_class_reachable(self) -> None:
        """A class from `__main__` (or a function) is registered in this process only: forked runner processes
        inherit that registration, spawned ones start a fresh interpreter and cannot make the env."""
        cls, config = self._unimportable_env, self.config
        if cls is None or config.env_runners.start_method == "fork":
            return
        runners = [f"{key}={n}" for key, n in (("env_runners.num_env_runners", config.env_runners.num_env_runners),
                                                ("evaluation.num_env_runners", config.evaluation.num_env_runners)) if n]
        if runners:
            raise ConfigError(
                f"{type(self).__name__}().environment({cls.__qualname__}): {cls.__qualname__} is defined in "
                f"'{cls.__module__}'{' inside a function' if '<locals>' in cls.__qualname__ else ''}, which runner "
                f"processes started with start_method={config.env_runners.start_method} cannot import "
                f"({', '.join(runners)}). Move the class into a module of its own (e.g. my_envs.py next to your "
                "script) and import it from there, or use env_runners(start_method='fork'), or num_env_runners=0."
            )

    def _set(self, section: Section, method: str, kwargs: Mapping[str, Any]) -> "AlgorithmConfigBuilder":
        valid = [f.name for f in fields(section) if f.name != "name"]
        for key, value in kwargs.items():
            if key not in valid:
                raise ConfigError(
                    f"{type(self).__name__}().{method}() got an unknown argument '{key}'. Valid: {', '.join(valid)}."
                )
            setattr(section, key, value)
        return self

    def __getattr__(self, name: str) -> Any:
        """RLlib's builder methods that have no counterpart here: a ConfigError naming the method and the fix."""
        if name in RLLIB_METHODS:
            def unsupported(*args: Any, **kwargs: Any) -> "AlgorithmConfigBuilder":
                raise ConfigError(f"{type(self).__name__}().{name}(): {RLLIB_METHODS[name]}")
            return unsupported
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config.to_dict()})"
