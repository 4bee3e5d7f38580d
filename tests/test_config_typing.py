"""Typed config values: the schema's fields and the `_target_` nodes' constructor arguments, through the Python door.

The command line's door (the same checks, before Hydra starts) is in tests/test_config_overrides.py.
"""
from __future__ import annotations

from typing import Any, Dict, List, Literal, Optional, Sequence, Tuple

import pytest

from rlhydra import ConfigError, PPOConfig, SACConfig
from rlhydra.config import targets
from rlhydra.config.targets import BUFFER_SUPPLIED, MODULE_SUPPLIED, check_target, constructor_arguments, import_object
from rlhydra.config.types import fit
from rlhydra.core.preflight import validate


@pytest.mark.parametrize("value, annotation, expected", [
    (1e5, int, (None, 100000)),
    (3, int, (None, 3)),
    (1.5, int, ("an integer", 1.5)),
    (True, int, ("an integer", True)),
    ("3", int, ("an integer", "3")),
    (3, float, (None, 3)),
    (True, float, ("a number", True)),
    ("x", bool, ("true or false", "x")),
    (None, Optional[int], (None, None)),
    (None, int, ("an integer", None)),
    (2.0, Optional[int], (None, 2)),
    ([64.0, 64], Sequence[int], (None, [64, 64])),
    (128, Sequence[int], ("a list of integers, e.g. [64, 64]", 128)),
    ("ab", Sequence[int], ("a list of integers, e.g. [64, 64]", "ab")),
    ([1, 2], Tuple[int, int], (None, [1, 2])),
    ([1], Tuple[int, int], ("a list of 2 values (an integer, an integer)", [1])),
    ("b", Literal["a", "b"], (None, "b")),
    ("c", Literal["a", "b"], ("one of a, b", "c")),
    ({"a": 1}, Dict[str, Any], (None, {"a": 1})),
    ([1], Dict[str, Any], ("a mapping, e.g. {a: 1}", [1])),
    (object(), Any, None),  # not checked
    ("cpu", "str | torch.device", None),  # an unresolved annotation: not checked
])
def test_fit_checks_the_annotations_a_config_can_hold(value, annotation, expected):
    result = fit(value, annotation)
    if expected is None:
        assert result[0] is None
    else:
        assert result == expected


def test_the_builder_takes_an_integral_float_for_an_int_field():
    config = (PPOConfig().environment("CartPole-v1").training(train_batch_size=2e3, num_epochs=4.0)
              .stopping(total_steps=1e5).to_config())
    assert config.total_steps == 100000 and type(config.total_steps) is int
    assert config.algorithm.train_batch_size == 2000 and type(config.algorithm.train_batch_size) is int
    assert type(config.algorithm.num_epochs) is int


def test_the_builder_reports_values_of_the_wrong_type_with_their_keys():
    config = (PPOConfig().environment("CartPole-v1").training(lr="abc", num_epochs=2.5, normalize_advantages="yes")
              .to_config())
    with pytest.raises(ConfigError) as info:
        validate(config)
    message = str(info.value)
    assert "algorithm.lr: takes a number, got 'abc' (str)" in message
    assert "algorithm.num_epochs: takes an integer, got 2.5 (float)" in message
    assert "algorithm.normalize_advantages: takes true or false, got 'yes' (str)" in message


def test_module_arguments_are_typed_by_the_constructor_in_the_python_door():
    config = PPOConfig().environment("CartPole-v1").rl_module(
        model_config={"hidden_sizes": 128, "activation": "foo", "ortho_init": "no", "widht": 3}).to_config()
    with pytest.raises(ConfigError) as info:
        validate(config)
    message = str(info.value)
    assert ("module.hidden_sizes: takes a list of integers, e.g. [64, 64] (ActorCriticModule declares "
            "hidden_sizes: list[int]), got 128") in message
    assert "module.activation: must be one of tanh, relu, elu, silu, gelu; got 'foo'" in message
    assert "module.ortho_init: takes true or false" in message
    assert ("module.widht: not an argument of rlhydra.algorithms.ppo.module.PPOModule. "
            "Valid: hidden_sizes, activation, log_std_init, ortho_init, use_sde, sde_sample_freq, full_std, use_expln, conv_filters, conv_activation, "
            "encoder, encoders.") in message


def test_buffer_arguments_are_typed_and_the_ones_rlhydra_passes_are_refused():
    problems = check_target("buffer", "rlhydra.buffers.PrioritizedReplayBuffer",
                            {"capacity": 1e6, "alpah": 0.5, "beta_start": "high", "n_step": 3},
                            BUFFER_SUPPLIED, targets.BUFFER_BASE)
    assert problems == [
        "buffer.capacity: takes an integer (write 1000000) (PrioritizedReplayBuffer declares capacity: int), "
        "got 1000000.0",
        "buffer.alpah: not an argument of rlhydra.buffers.PrioritizedReplayBuffer; did you mean buffer.alpha? "
        "Valid: capacity, alpha, beta_start, beta_anneal_steps, eps.",
        "buffer.beta_start: takes a number (PrioritizedReplayBuffer declares beta_start: float), got 'high'",
        "buffer.n_step: set by rlhydra from the algorithm config (algorithm.n_step); remove it here",
    ]


def test_connector_arguments_are_typed():
    problems = check_target("env_runners.env_to_module_connectors[0]",
                            "rlhydra.connectors.env_to_module.NormalizeObservations",
                            {"shape": [4], "clip": "five"}, (), targets.CONNECTOR_BASE)
    assert problems == ["env_runners.env_to_module_connectors[0].clip: takes a number "
                        "(NormalizeObservations declares clip: float), got 'five'"]


def test_a_kwargs_handed_to_the_base_stands_for_the_base_arguments():
    arguments, takes_any = constructor_arguments(import_object("rlhydra.buffers.PrioritizedReplayBuffer"))
    assert not takes_any
    assert {"capacity", "alpha", "eps", "n_step", "gamma", "batch_size", "device", "seed"} <= set(arguments)

    class Open:
        def __init__(self, width: int = 3, **options: Any) -> None:
            self.options = options

    class Forwards(Open):
        def __init__(self, depth: int = 2, **kwargs: Any) -> None:
            super().__init__(**kwargs)

    assert constructor_arguments(Open)[1] is True  # keeps **options to itself: any key is taken
    arguments, takes_any = constructor_arguments(Forwards)
    assert list(arguments) == ["depth", "width"] and takes_any is True


def test_integral_floats_for_int_module_arguments_become_ints_in_the_builder_and_are_refused_elsewhere():
    config = SACConfig().environment("Pendulum-v1").rl_module(model_config={"use_sde": True, "hidden_sizes": [8.0, 8]})
    assert config.to_config().module["hidden_sizes"] == [8, 8]
    assert all(type(v) is int for v in config.to_config().module["hidden_sizes"])
    raw = config.to_config()
    raw.module["hidden_sizes"] = [8.0, 8]  # set around the builder: the class would get floats, so it is refused
    with pytest.raises(ConfigError, match=r"module.hidden_sizes: takes a list of integers, e.g. \[64, 64\] "
                                          r"\(write \[8, 8\]\)"):
        validate(raw)


def test_the_declared_names_match_the_classes_they_stand_for():
    """config/ names its base classes and activations by value (it imports nothing above it); they must exist."""
    from rlhydra.buffers import ReplayBuffer
    from rlhydra.connectors.pipeline import Connector
    from rlhydra.models.mlp import ACTIVATIONS
    from rlhydra.models.rl_module import RLModule

    assert import_object(targets.MODULE_BASE) is RLModule
    assert import_object(targets.BUFFER_BASE) is ReplayBuffer
    assert import_object(targets.CONNECTOR_BASE) is Connector
    assert import_object(targets.DEFAULT_BUFFER) is ReplayBuffer
    assert targets.ACTIVATIONS == tuple(ACTIVATIONS)
    assert set(MODULE_SUPPLIED) | set(BUFFER_SUPPLIED) <= set(targets.SUPPLIED_FROM)


def test_an_activation_annotated_otherwise_is_not_held_to_rlhydras_names():
    class Custom:
        def __init__(self, activation: Literal["tanh", "mish"] = "tanh", sizes: List[int] = ()) -> None:
            pass

    arguments, _ = constructor_arguments(Custom)
    assert targets.value_problem(arguments["activation"], "mish") is None
    assert targets.value_problem(arguments["activation"], "relu") == (
        "takes one of tanh, mish (Custom declares activation: {tanh, mish}), got 'relu'")
