"""Shared helpers of the off-policy loss tests (SAC, TD3): a fixed replay batch, a spy on the learner's gradient
steps, and float64 copies of a module for plain-torch references."""
from __future__ import annotations

import copy
from typing import Any, Dict, List

import torch

from rlhydra.data import columns as C

OBS_DIM, ACT_DIM, B = 3, 2, 6  # 2 action dims: a sum over them is told apart from a mean
SEED = 1234  # the torch seed of an update under test


def make_batch() -> Dict[str, torch.Tensor]:
    """Six transitions, two of them terminal, with per-sample n-step discounts and uneven importance weights."""
    g = torch.Generator().manual_seed(7)
    return {
        C.OBS: torch.randn(B, OBS_DIM, generator=g),
        C.ACTIONS: torch.rand(B, ACT_DIM, generator=g) * 2 - 1,
        C.REWARDS: torch.tensor([1.0, -0.5, 2.0, 0.3, -1.2, 0.7]),
        C.NEXT_OBS: torch.randn(B, OBS_DIM, generator=g),
        C.TERMINATED: torch.tensor([0.0, 1.0, 0.0, 0.0, 1.0, 0.0]),
        "discounts": torch.tensor([0.99, 0.99, 0.9, 0.5, 0.729, 0.25]),  # n-step: gamma^n per sample
        "weights": torch.tensor([1.0, 0.5, 2.0, 0.25, 1.5, 0.8]),  # prioritized replay importance weights
        "indices": torch.arange(B),
    }


class StepSpy:
    """Wraps learner.backward_step: per call the loss, which parameters it reaches, the grads and the weights after."""

    def __init__(self, learner: Any) -> None:
        self.calls: List[Dict[str, Any]] = []
        module = learner.raw_module
        own = learner_parameters(learner)  # e.g. SAC's log_alpha, which the learner holds
        self.names = {id(p): n for n, p in [*module.named_parameters(), *own.items()]}
        original = learner.backward_step

        def spy(loss, optimizer, grad_clip=None):
            live = [(n, p) for n, p in [*module.named_parameters(), *own.items()] if p.requires_grad]
            reach = torch.autograd.grad(loss, [p for _, p in live], retain_graph=True, allow_unused=True)
            out = original(loss, optimizer, grad_clip)
            params = [p for group in optimizer.param_groups for p in group["params"]]
            self.calls.append({
                "loss": loss.detach().clone(),
                "reached": {n for (n, _), g in zip(live, reach) if g is not None},
                "stepped": {self.names[id(p)] for p in params},
                "grads": {self.names[id(p)]: p.grad.detach().clone() for p in params if p.grad is not None},
                "state": {k: v.detach().clone() for k, v in [*module.state_dict().items(), *own.items()]},
            })
            return out

        learner.backward_step = spy


def learner_parameters(learner: Any) -> Dict[str, torch.nn.Parameter]:
    """Parameters the learner holds outside its module (SAC's entropy temperature)."""
    return {"log_alpha": learner.log_alpha} if hasattr(learner, "log_alpha") else {}


def double_copy(module: Any, state: Dict[str, torch.Tensor] | None = None) -> Any:
    """A float64 copy of `module` (optionally with `state` loaded) for a plain-torch reference."""
    ref = copy.deepcopy(module)
    if state is not None:  # a spy's state may hold the learner's own parameters too: the module takes its own
        ref.load_state_dict({k: v for k, v in state.items() if k in ref.state_dict()})
    return ref.double().requires_grad_(True)


def q12(critic, obs: torch.Tensor, actions: torch.Tensor):
    """(Q1, Q2) of a TwinQ, written out."""
    x = torch.cat([obs, actions], -1)
    return critic.q1(x).squeeze(-1), critic.q2(x).squeeze(-1)


def run_update(learner: Any, batch=None, seed: int = SEED):
    """One update under a fixed seed, with the module before it (float64 copy) and the spy's record."""
    batch = batch or make_batch()
    before = double_copy(learner.raw_module)
    for name, p in learner_parameters(learner).items():  # the reference sees them beside the module's own
        before.register_parameter(name, torch.nn.Parameter(p.detach().double().clone()))
    spy = StepSpy(learner)
    torch.manual_seed(seed)
    out = learner.update(batch, 0.0)
    return batch, before, spy, out


def grads_of(loss: torch.Tensor, module: torch.nn.Module, prefix: str) -> Dict[str, torch.Tensor]:
    named = [(f"{prefix}.{n}", p) for n, p in module.named_parameters()]
    grads = torch.autograd.grad(loss, [p for _, p in named], allow_unused=True)
    return {n: torch.zeros_like(p) if g is None else g for (n, p), g in zip(named, grads)}


def assert_grads_close(got: Dict[str, torch.Tensor], expected: Dict[str, torch.Tensor], what: str) -> None:
    assert set(got) == set(expected), f"{what}: optimizer params {sorted(got)} != {sorted(expected)}"
    for name, g in expected.items():
        torch.testing.assert_close(got[name].double(), g, rtol=1e-4, atol=1e-6, msg=lambda m: f"{what} {name}: {m}")
