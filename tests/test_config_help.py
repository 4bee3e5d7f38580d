"""Every config field has a one-line help where it is declared (its trailing comment), and `--help` shows it;
RLlib's and Stable-Baselines3's names map to ours."""
from __future__ import annotations

import importlib.util
import os
import resource
import subprocess
import sys
from dataclasses import dataclass, fields, is_dataclass
from typing import List

import pytest

from rlhydra import A2CConfig, PPOConfig
from rlhydra.config.algorithm_config import AlgorithmConfig
from rlhydra.config.comments import _docstring_args, argument_help, field_help
from rlhydra.config.names import ALIAS_SOURCES, FOREIGN_KEYS
from rlhydra.config.registry import registered_algorithms
from rlhydra.config.schema import Section, TrainingConfig, training_aliases
from tests.conftest import ROOT


def _reinforce_config() -> type:
    """examples/reinforce's training config, loaded from its file (importing the package would register it)."""
    path = os.path.join(ROOT, "examples", "reinforce", "rlhydra_reinforce", "config.py")
    spec = importlib.util.spec_from_file_location("_reinforce_config_for_help_test", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # the source parser reads it back by module name
    spec.loader.exec_module(module)
    return module.ReinforceTrainingConfig


def schema_classes() -> List[type]:
    """Every config dataclass: the root, each section nested in it, each registered algorithm's training config."""
    found: List[type] = []
    todo = [AlgorithmConfig, *(spec.training_config for spec in registered_algorithms().values()),
            _reinforce_config()]
    while todo:
        cls = todo.pop()
        if cls in found:
            continue
        found.append(cls)
        for f in fields(cls):
            default = f.default_factory() if callable(f.default_factory) else f.default
            if is_dataclass(default):
                todo.append(type(default))
    return found


SCHEMA = schema_classes()


@pytest.mark.parametrize("cls", SCHEMA, ids=[c.__name__ for c in SCHEMA])
def test_every_field_has_a_one_line_help_where_it_is_declared(cls):
    helps = field_help(cls)
    missing = [name for name, text in helps.items() if not text]
    assert not missing, f"{cls.__name__}: no `# help` comment where these fields are declared: {missing}"
    assert set(helps) == {f.name for f in fields(cls)}


def test_the_schema_covers_sections_and_algorithms():
    names = {c.__name__ for c in SCHEMA}
    assert {"AlgorithmConfig", "EnvConfig", "LearnerConfig", "WandbConfig", "PPOTrainingConfig",
            "SACTrainingConfig", "ReinforceTrainingConfig"} <= names


def test_a_field_without_a_comment_has_no_help_and_a_redeclared_one_keeps_its_bases():
    @dataclass
    class Planted(TrainingConfig):
        lr: float = 1.0
        undocumented: int = 3
        documented: int = 4  # what it does

    helps = field_help(Planted)
    assert helps["undocumented"] == "" and helps["documented"] == "what it does"
    assert helps["lr"] == "optimizer learning rate"  # declared with a comment by TrainingConfig


def test_constructor_argument_help_comes_from_the_docstring_or_the_line():
    class Documented:
        """A module.

        Args:
            width: units per layer
                (continued)
            depth (int): layers
        """

        def __init__(self, width: int = 3, depth: int = 2, gain: float = 1.0) -> None:  # not an argument's
            pass

    assert argument_help(Documented.__init__, Documented) == {"width": "units per layer", "depth": "layers"}
    assert _docstring_args(":param width: units\n:param int depth: layers") == {"width": "units", "depth": "layers"}


def test_every_alias_names_a_field_and_whose_name_it_is():
    for spec in registered_algorithms().values():
        field_names = {f.name for f in fields(spec.training_config)}
        for name, target in training_aliases(spec.training_config).items():
            assert target in field_names, f"{spec.name}: alias {name} -> {target}, no such field"
            assert name in ALIAS_SOURCES, f"{name}: say whose name it is in rlhydra.config.names.ALIAS_SOURCES"
    for name, (key, source) in FOREIGN_KEYS.items():
        assert source and key


def test_the_builders_take_stable_baselines3_names():
    ppo = PPOConfig().training(learning_rate=1e-3, ent_coef=0.01, vf_coef=0.4, n_epochs=3, batch_size=32,
                               clip_range=0.1, max_grad_norm=1.0, gae_lambda=0.9).to_config().algorithm
    assert (ppo.lr, ppo.entropy_coeff, ppo.vf_coeff, ppo.num_epochs, ppo.minibatch_size, ppo.clip_param,
            ppo.grad_clip) == (1e-3, 0.01, 0.4, 3, 32, 0.1, 1.0)
    a2c = A2CConfig().training(ent_coef=0.02, lambda_=0.9).to_config().algorithm
    assert (a2c.entropy_coeff, a2c.gae_lambda) == (0.02, 0.9)


def test_every_section_is_a_section():
    assert all(issubclass(cls, Section) for cls in SCHEMA)


def test_train_py_help_costs_under_4_s_of_cpu():
    """`python train.py --help` in a few seconds: measured as the child's CPU time, which a busy machine leaves alone
    (on an idle one the wall time is the same)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run([sys.executable, "train.py", "algorithm=dqn", "--help"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert proc.returncode == 0, proc.stderr
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    # ~2.5 s of CPU on this project's machine, 3.05 s once beside a loaded two-process test run: the bound catches an
    # import that does not belong in --help (a second second), not the machine's load
    assert cpu < 4.0, f"python train.py --help took {cpu:.2f} s of CPU"
    assert "algorithm.double_q" in proc.stdout and "module.dueling" in proc.stdout
    assert "== Config ==" not in proc.stdout  # rlhydra's page, not Hydra's
