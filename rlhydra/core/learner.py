"""Learner: owns the trainable module and its optimizers; the update step runs inside Lightning Fabric."""
from __future__ import annotations

import abc
from typing import Any, Dict, List

import torch

from rlhydra.config.algorithm_config import AlgorithmConfig
from rlhydra.core.rl_module import TorchRLModule
from rlhydra.core.rollout import Rollout


class Learner(abc.ABC):
    """Subclasses give `configure_optimizers()` and `update()`; Fabric sets devices, strategy and precision."""

    def __init__(self, config: AlgorithmConfig, module: TorchRLModule) -> None:
        from lightning_fabric import Fabric  # imported here: it takes ~1 s and only learners need it

        self.config = config
        lc = config.learner
        accelerator = "cuda" if lc.accelerator == "gpu" else lc.accelerator
        self.fabric = Fabric(accelerator=accelerator, devices=lc.devices, strategy=lc.strategy,
                             precision=lc.precision, num_nodes=lc.num_nodes)
        self.raw_module = module
        self.optimizers: List[torch.optim.Optimizer] = self.configure_optimizers(module)
        self.module, *self.optimizers = self.fabric.setup(module, *self.optimizers)
        self.device = self.fabric.device
        self.num_updates = 0

    @abc.abstractmethod
    def configure_optimizers(self, module: TorchRLModule) -> List[torch.optim.Optimizer]:
        """The optimizers of the module's parameters."""

    @abc.abstractmethod
    def update(self, rollout: Rollout, progress: float) -> Dict[str, float]:
        """Learn from one iteration's data; `progress` in [0, 1] drives schedules. Returns metrics."""

    def backward_step(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer, grad_clip: float | None) -> torch.Tensor:
        """zero_grad, backward (through Fabric), clip, step; returns the grad norm as a tensor (no host sync)."""
        optimizer.zero_grad(set_to_none=True)
        self.fabric.backward(loss)
        params = [p for group in optimizer.param_groups for p in group["params"]]
        if grad_clip is not None:
            norm = torch.nn.utils.clip_grad_norm_(params, grad_clip)
        else:
            norm = torch.linalg.vector_norm(torch.stack([p.grad.detach().norm() for p in params if p.grad is not None]))
        optimizer.step()
        self.num_updates += 1
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
