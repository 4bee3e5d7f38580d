"""Learner: owns the trainable module and its optimizers; the update step runs inside Lightning Fabric."""
from __future__ import annotations

import abc
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np
import torch

from rlhydra.config.algorithm_config import AlgorithmConfig
from rlhydra.config.schema import ConfigError
from rlhydra.core.distributed import is_distributed, make_fabric
from rlhydra.models.rl_module import TorchRLModule


class Learner(abc.ABC):
    """Subclasses give `configure_optimizers()` and `update()`; Fabric sets devices, strategy and precision."""

    def __init__(self, config: AlgorithmConfig, module: TorchRLModule, fabric: Optional[Any] = None) -> None:

        self.config = config
        if fabric is None and is_distributed(config.learner):
            raise ConfigError(
                f"learner.devices={config.learner.devices} x num_nodes={config.learner.num_nodes}: several learner "
                "processes are started by train.py, or in Python by "
                "rlhydra.core.distributed.launch(config, rlhydra.core.distributed.learn_on_rank, run_dir, None)."
            )
        self.fabric = fabric or make_fabric(config.learner)
        self.raw_module = module
        self.optimizers: List[torch.optim.Optimizer] = self.configure_optimizers(module)
        wrapped, *self.optimizers = self.fabric.setup(module, *self.optimizers)
        # On one process in full precision Fabric's module wrapper only re-walks every input dict; call the
        # module directly there (DDP and mixed/low precision keep the wrapper, which does real work).
        trivial = self.fabric.world_size == 1 and str(config.learner.precision) in ("32-true", "32")
        self.module = module if trivial else wrapped
        self.device = self.fabric.device
        self.num_updates = 0
        self.env_steps = 0  # the algorithm's env steps at its latest sample (set_env_steps), for piecewise schedules

    @abc.abstractmethod
    def configure_optimizers(self, module: TorchRLModule) -> List[torch.optim.Optimizer]:
        """The optimizers of the module's parameters."""

    @abc.abstractmethod
    def update(self, batch: Dict[str, torch.Tensor], progress: float) -> Dict[str, Any]:
        """Learn from one batch: a dict of tensors on this learner's device keyed by `rlhydra.data.columns`
        (on-policy: the iteration's rollout after the algorithm's learner connector; off-policy: one replay sample).

        `progress` in [0, 1] drives schedules. Returns metrics by name, any subset per call, tensors or numbers
        (they reach the host once per iteration), and optionally `columns.TD_ERRORS`: per-sample TD errors, which a
        prioritized replay buffer turns into priorities.
        """

    def adam(self, params: Any, lr: float, eps: float = 1e-8) -> torch.optim.Adam:
        """Adam with the fused kernel where the device has one (several times faster steps for small nets)."""
        params = list(params)
        try:
            return torch.optim.Adam(params, lr=lr, eps=eps, fused=True)
        except (RuntimeError, TypeError):
            return torch.optim.Adam(params, lr=lr, eps=eps)

    def scheduled_lr(self, progress: float) -> float:
        """`lr` under `lr_schedule` now: constant, linear in `progress`, or piecewise in `self.env_steps`."""
        hp = self.config.algorithm
        return scheduled_value(hp.lr, hp.lr_schedule, self.env_steps, progress)

    def set_env_steps(self, env_steps: int, progress: float) -> None:
        """Called by the algorithm after each sample: the env-step count schedules follow, and every optimizer's lr
        set to `scheduled_lr` (all of an algorithm's optimizers follow `lr`, as in SB3; override if yours do not)."""
        self.env_steps = env_steps
        lr = self.scheduled_lr(progress)
        for optimizer in self.optimizers:
            for group in optimizer.param_groups:
                group["lr"] = lr

    def on_env_steps(self, env_steps: int, progress: float) -> None:
        """Called after each sampling round of an off-policy loop (schedules, target updates by env steps)."""

    def backward_step(
        self, loss: torch.Tensor, optimizer: torch.optim.Optimizer, grad_clip: Optional[float] = None
    ) -> Optional[torch.Tensor]:
        """zero_grad, backward (through Fabric), optional clip, step; returns the grad norm when clipping."""
        optimizer.zero_grad(set_to_none=True)
        self.fabric.backward(loss)
        norm = None
        if grad_clip is not None:
            params = [p for group in optimizer.param_groups for p in group["params"]]
            norm = torch.nn.utils.clip_grad_norm_(params, grad_clip)
        optimizer.step()
        return norm

    def get_weights(self) -> Dict[str, torch.Tensor]:
        """The module's weights on the CPU, for the env runners."""
        return self.raw_module.get_state()

    def get_state(self) -> Dict[str, Any]:
        """Module, optimizers and counters."""
        return {
            "module": self.raw_module.get_state(),
            "optimizers": [opt.state_dict() for opt in self.optimizers],
            "num_updates": self.num_updates,
        }

    def set_state(self, state: Dict[str, Any]) -> None:
        self.raw_module.set_state(state["module"])
        for opt, opt_state in zip(self.optimizers, state["optimizers"]):
            opt.load_state_dict(opt_state)
        self.num_updates = int(state["num_updates"])


def scheduled_value(value: float, schedule: Union[str, Sequence[Sequence[float]]], env_steps: int,
                    progress: float) -> float:
    """A hyperparameter under its schedule (schema.ScheduleChoice): "constant" -> `value`; "linear" ->
    `value * (1 - progress)`; [[env_step, v], ...] -> linear interpolation between the points at `env_steps`, the
    first / last point's value before / after them (RLlib's PiecewiseSchedule)."""
    if schedule == "linear":
        return value * (1.0 - progress)
    if isinstance(schedule, str):
        return value
    steps, values = zip(*schedule)
    return float(np.interp(env_steps, steps, values))
