"""Declared contracts: what each learner calls on its module (rlhydra.models.apis), the batch every Learner.update
receives, what it may return, and connector state that a checkpoint can load."""
from __future__ import annotations

import os
from typing import Any, Dict, List

import numpy as np
import pytest
import torch

from rlhydra import ConfigError
from rlhydra.config.registry import get_algorithm_spec, registered_algorithms
from rlhydra.config.targets import import_object
from rlhydra.connectors.pipeline import Connector
from rlhydra.core.off_policy import mean_metrics
from rlhydra.data import columns as C
from rlhydra.models.apis import ValueFunctionAPI, missing_api_methods
from tests.test_every_algorithm import tiny as tiny_builder

BUILTIN = ("a2c", "dqn", "ppo", "sac", "td3")


def _api_methods(name: str) -> List[str]:
    spec = get_algorithm_spec(name)
    default = import_object(spec.default_module)
    return sorted({m.split(".")[1] for m in missing_api_methods(type("Bare", (), {}), spec.module_apis)}
                  & set(dir(default)))


# One module class per (algorithm, API method): the algorithm's default module with that method taken away.
LACKING = {}
for _name in BUILTIN:
    for _method in _api_methods(_name):
        _cls = type(f"Lacking_{_name}_{_method}", (import_object(get_algorithm_spec(_name).default_module),),
                    {_method: None, "__module__": __name__})
        globals()[_cls.__name__] = _cls
        LACKING[(_name, _method)] = _cls


def test_every_algorithm_declares_apis_that_its_default_module_implements():
    for name, spec in registered_algorithms().items():
        assert spec.module_apis, f"{name} declares no module_apis: a custom module would only fail mid-run"
        assert missing_api_methods(import_object(spec.default_module), spec.module_apis) == [], name


def test_each_builtin_family_has_methods_to_check():
    assert {name for name, _ in LACKING} == set(BUILTIN)
    assert ("dqn", "compute_target_q_values") in LACKING and ("sac", "critic_parameters") in LACKING
    assert ("td3", "compute_target_actions") in LACKING and ("ppo", "compute_values") in LACKING


@pytest.mark.parametrize("name, method", sorted(LACKING))
def test_a_module_lacking_a_method_is_refused_before_any_env_is_made(name, method, monkeypatch):
    def no_env(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("an env was made although the module was refused")

    monkeypatch.setattr("rlhydra.core.preflight.env_spaces", no_env)
    monkeypatch.setattr("rlhydra.core.algorithm.env_spaces", no_env)
    cls = LACKING[(name, method)]
    builder = tiny_builder(name).rl_module(f"{__name__}.{cls.__name__}")
    with pytest.raises(ConfigError) as info:
        builder.build()
    message = str(info.value)
    assert cls.__name__ in message and f".{method}" in message and "learner calls" in message, message


def test_a_module_that_has_the_methods_passes_without_subclassing_the_api():
    class DuckTyped:
        def compute_values(self, obs: torch.Tensor) -> torch.Tensor:
            return obs.sum(-1)

    assert missing_api_methods(DuckTyped, (ValueFunctionAPI,)) == []
    assert missing_api_methods(type("Nothing", (), {}), (ValueFunctionAPI,)) == ["ValueFunctionAPI.compute_values"]

    class StillAbstract(ValueFunctionAPI):
        pass

    assert missing_api_methods(StillAbstract, (ValueFunctionAPI,)) == ["ValueFunctionAPI.compute_values"]


# ---- what Learner.update receives and returns ----------------------------------------------------------------------
@pytest.mark.parametrize("name", BUILTIN)
def test_every_learner_update_receives_a_dict_of_tensors_on_the_learner_device(name):
    with tiny_builder(name).build() as algo:
        seen: List[Dict[str, Any]] = []
        update = algo.learner.update

        def spy(batch: Dict[str, Any], progress: float) -> Dict[str, Any]:
            seen.append(batch)
            return update(batch, progress)

        algo.learner.update = spy
        algo.train()
        algo.train()
    assert seen, f"{name}: no update ran"
    for batch in seen:
        assert isinstance(batch, dict) and {C.OBS, C.ACTIONS} <= set(batch), sorted(batch)
        bad = {k: type(v).__name__ for k, v in batch.items() if not isinstance(v, torch.Tensor)}
        assert not bad, f"{name}: non-tensor columns {bad}"
        assert {v.device for v in batch.values()} == {algo.learner.device}
        assert len({len(v) for v in batch.values()}) == 1, "every column has one row per sample"


def test_mean_metrics_averages_each_key_over_the_updates_that_report_it():
    updates = [{"loss": torch.tensor(1.0), "q": 2}, {"loss": 3.0}, {"loss": torch.tensor([5.0]), "q": 4.0}]
    assert mean_metrics(updates, torch.device("cpu")) == {"loss": 3.0, "q": 3.0}
    assert mean_metrics([], torch.device("cpu")) == {}


def test_off_policy_updates_may_return_any_subset_of_floats_and_no_td_errors():
    builder = tiny_builder("dqn")
    builder.config.buffer = {"_target_": "rlhydra.buffers.PrioritizedReplayBuffer", "capacity": 1000}
    with builder.build() as algo:
        calls = []

        def update(batch: Dict[str, torch.Tensor], progress: float) -> Dict[str, Any]:
            calls.append(1)
            return {"odd": 1.0} if len(calls) % 2 else {"even": torch.tensor(float(len(calls))), "odd": 3}

        algo.learner.update = update
        priority_updates = []
        algo.buffer.update_priorities = lambda *args: priority_updates.append(args)
        result = algo.train()
        n = len(calls)
        assert n >= 2
        odd_values = [1.0 if i % 2 else 3.0 for i in range(1, n + 1)]
        assert result["learner/odd"] == pytest.approx(np.mean(odd_values))
        assert result["learner/even"] == pytest.approx(np.mean([float(i) for i in range(2, n + 1, 2)]))
        assert priority_updates == [], "no TD errors returned: no priority update"


# ---- connector state must load where it is saved ------------------------------------------------------------------
class NumpyStateConnector(Connector):
    """Keeps a running count as a numpy array: saving it must fail loudly, not load as 'corrupt' later."""

    def __call__(self, batch: Dict[str, Any], *, update: bool = True) -> Dict[str, Any]:
        return batch

    def get_state(self) -> Dict[str, Any]:
        return {"count": np.zeros(3)}

    def set_state(self, state: Dict[str, Any]) -> None:
        pass


def test_connector_state_that_a_checkpoint_cannot_load_is_refused_at_save_naming_the_connector(tmp_path):
    builder = tiny_builder("ppo").env_runners(env_to_module_connectors=[f"{__name__}.NumpyStateConnector"])
    path = str(tmp_path / "ckpt")
    with builder.build() as algo:
        algo.train()
        with pytest.raises(ConfigError) as info:
            algo.save(path)
    message = str(info.value)
    assert "0_NumpyStateConnector" in message and "['count'] is a numpy.ndarray" in message, message
    assert "torch.as_tensor" in message and not os.path.exists(path)
    assert os.listdir(tmp_path) == [], "nothing half-written beside it"
