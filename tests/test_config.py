"""The schema and its two doors: CLI composition and the Python builder give the same validated config."""
from __future__ import annotations

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from rlhydra import ConfigError, PPOConfig
from rlhydra.config import from_hydra
from rlhydra.core.preflight import check_hydra_config
from rlhydra.config.schema import iter_sections
from tests.conftest import compose_cfg, has_mujoco


def test_cli_and_builder_give_equal_configs():
    cli = check_hydra_config(compose_cfg([
        "algorithm=ppo", "env=pendulum", "seed=3", "algorithm.lr=1e-3", "algorithm.gamma=0.95",
        "env_runners.num_envs_per_env_runner=4", "total_steps=5000", "~tuned",  # the builder applies no tuned file
    ]))
    built = (PPOConfig().environment("Pendulum-v1").debugging(seed=3)
             .training(lr=1e-3, gamma=0.95).env_runners(num_envs_per_env_runner=4)
             .stopping(total_steps=5000).to_config())
    assert cli == built
    assert type(cli.algorithm) is type(built.algorithm)
    assert cli.to_dict() == built.to_dict()


def test_builder_accepts_rllib_names():
    config = (PPOConfig().environment("CartPole-v1", env_config={"sutton_barto_reward": True})
              .env_runners(num_env_runners=0, num_envs_per_env_runner=2)
              .learners(num_learners=1, num_gpus_per_learner=0)
              .training(train_batch_size=4000, lambda_=0.9, num_sgd_iter=3, sgd_minibatch_size=100)
              .evaluation(evaluation_interval=5, evaluation_duration=3).to_config())
    assert config.algorithm.train_batch_size == 4000
    assert config.algorithm.gae_lambda == 0.9
    assert config.algorithm.num_epochs == 3 and config.algorithm.minibatch_size == 100
    assert config.env.kwargs == {"sutton_barto_reward": True}
    assert config.learner.devices == 1 and config.learner.accelerator == "cpu"
    assert config.evaluation.interval == 5 and config.evaluation.episodes == 3


def test_builder_rejects_unknown_argument_with_valid_names():
    with pytest.raises(ConfigError, match=r"training\(\) got an unknown argument 'lrr'.*Valid: lr"):
        PPOConfig().training(lrr=1e-3)


def test_gpu_request_without_gpu_fails_at_build_naming_the_setting():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    config = (PPOConfig().environment("CartPole-v1").env_runners(num_env_runners=0)
              .learners(num_learners=1, num_gpus_per_learner=1).training(train_batch_size=4000))
    with pytest.raises(ConfigError, match=r"no CUDA GPU.*num_gpus_per_learner=0"):
        config.build()


def test_config_is_frozen_after_build(small_ppo):
    algo = small_ppo.build()
    try:
        with pytest.raises(AttributeError, match="frozen"):
            algo.config.algorithm.lr = 1.0
        with pytest.raises(AttributeError, match="frozen"):
            algo.config.seed = 1
        assert algo.config.copy().algorithm.lr == algo.config.algorithm.lr  # a copy is editable
    finally:
        algo.stop()


@pytest.mark.parametrize("override, cause", [
    ("algorithm.lrr=1e-3", "Key 'lrr' not in 'PPOTrainingConfig'"),
    ("algorithm.lr=abc", "could not be converted to Float"),
    ("seeed=1", "Key 'seeed' not in 'AlgorithmConfig'"),
])
def test_schema_rejects_typos_and_types_at_composition(override, cause):
    with pytest.raises(ConfigCompositionException) as info:
        compose_cfg([override])
    assert cause in str(info.value.__cause__)


def test_unknown_group_choice_lists_valid_options():
    with pytest.raises(Exception) as info:
        compose_cfg(["env=cartpol"])
    assert "Could not find 'env/cartpol'" in str(info.value)
    assert "cartpole" in str(info.value)


@pytest.mark.parametrize("override, message", [
    ("+algorithm.foo=1", "unknown config key(s): algorithm.foo"),
    ("algorithm.gamma=1.5", "algorithm.gamma: must be in [0.0, 1.0], got 1.5"),
    ("env_runners.num_envs_per_env_runner=0", "env_runners.num_envs_per_env_runner: must be > 0, got 0"),
    ("env.id=CartPol-v1", "Did you mean: CartPole-v1"),
    ("algorithm.minibatch_size=99999", "algorithm.minibatch_size: (99999) must be <= algorithm.train_batch_size"),
    ("+module.hiden=[3]", "module.hiden: not an argument of rlhydra.algorithms.ppo.module.PPOModule"),
    ("module._target_=nope.Module", "module._target_=nope.Module: cannot import it"),
    ("learner.precision=8-bit", "learner.precision: must be one of"),
])
def test_validation_names_the_key(override, message):
    with pytest.raises(ConfigError) as info:
        check_hydra_config(compose_cfg([override]))
    assert message in str(info.value)


def test_a_misspelt_env_id_is_reported_with_the_other_mistakes():
    with pytest.raises(ConfigError) as info:
        check_hydra_config(compose_cfg(["algorithm.gamma=1.5", "env.id=CartPol-v1"]))
    assert "algorithm.gamma: must be in [0.0, 1.0]" in str(info.value)
    assert "Did you mean: CartPole-v1" in str(info.value)


def test_module_that_cannot_serve_the_spaces_fails_before_runners(monkeypatch):
    import rlhydra.env.env_runner as env_runner

    def no_runner(*args, **kwargs):
        raise AssertionError("an env runner was started")

    monkeypatch.setattr(env_runner.EnvRunner, "__init__", no_runner)
    with pytest.raises(ConfigError, match=r"module: PPOModule takes Box or Discrete actions"):
        check_hydra_config(compose_cfg(["env.id=TupleAction-v0"]))
    config = PPOConfig().environment("TupleAction-v0")
    with pytest.raises(ConfigError, match=r"module: PPOModule takes Box or Discrete actions"):
        config.build()


@pytest.mark.parametrize("overrides, message", [
    (["algorithm=dqn", "env=pendulum"], "algorithm=dqn needs discrete actions, but env 'Pendulum-v1' has continuous"),
    (["algorithm=sac", "env=cartpole"], "algorithm=sac needs continuous actions, but env 'CartPole-v1' has discrete"),
    (["+env.kwargs.foo=1"], "unexpected keyword argument 'foo'"),
    (["algorithm=sac", "env=pendulum", "buffer.capacity=0"], "buffer.capacity: must be a positive integer"),
    (["algorithm=dqn", "+buffer.n_step=3"], "buffer.n_step: set by rlhydra from the algorithm config"),
    (["algorithm=dqn", "algorithm.gradient_steps=0"], "algorithm.gradient_steps: must be >= 1, or -1"),
])
def test_impossible_combinations_fail_before_anything_starts(overrides, message, monkeypatch):
    import rlhydra.env.env_runner as env_runner

    monkeypatch.setattr(env_runner.EnvRunner, "__init__", lambda *a, **k: pytest.fail("a runner started"))
    with pytest.raises(ConfigError) as info:
        check_hydra_config(compose_cfg(overrides))
    assert message in str(info.value)


def test_tuned_defaults_apply_and_command_line_wins():
    tuned = from_hydra(compose_cfg(["algorithm=ppo", "env=cartpole"]))
    assert tuned.algorithm.num_epochs == 20 and tuned.algorithm.lr == 1e-3
    overridden = from_hydra(compose_cfg(["algorithm=ppo", "env=cartpole", "algorithm.lr=5e-5"]))
    assert overridden.algorithm.lr == 5e-5 and overridden.algorithm.num_epochs == 20
    untuned = from_hydra(compose_cfg(["algorithm=ppo", "env=gym", "env.id=FrozenLake-v1"]))
    assert untuned.algorithm.num_epochs == 10  # no tuned file for ppo on FrozenLake-v1: schema defaults


def test_tuned_settings_are_looked_up_by_the_actual_env_id():
    acrobot = from_hydra(compose_cfg(["env.id=Acrobot-v1"]))  # the default env group is cartpole
    assert acrobot.algorithm.train_batch_size == 4096 and acrobot.env_runners.num_envs_per_env_runner == 16
    gym = from_hydra(compose_cfg(["env=gym", "env.id=Acrobot-v1", "algorithm.gae_lambda=0.9"]))
    assert gym.algorithm.train_batch_size == 4096 and gym.algorithm.gae_lambda == 0.9  # the command line wins
    unknown = from_hydra(compose_cfg(["env.id=FrozenLake-v1"]))  # no file declared for ppo on it: schema defaults
    assert unknown.algorithm.num_epochs == 10 and unknown.algorithm.gae_lambda == 0.95
    assert from_hydra(compose_cfg(["env.id=Acrobot-v1", "~tuned"])).algorithm.train_batch_size != 4096


def test_every_tuned_file_declares_the_pair_it_is_named_for():
    from rlhydra.config.tuned import find_tuned, tuned_dirs

    for algorithm, env in _tuned_pairs():
        env_id = from_hydra(compose_cfg([f"env={env}", "~tuned"])).env.id
        path, _ = find_tuned(algorithm, env_id, tuned_dirs())
        assert path.endswith(f"{algorithm}_{env}.yaml")


def test_every_section_field_has_a_default_and_a_comment():
    import inspect

    import rlhydra.config.algorithm_config as root_module
    import rlhydra.config.schema as schema_module
    from rlhydra.algorithms.ppo import config as ppo_config

    config = PPOConfig().environment("CartPole-v1").to_config()
    sources = "".join(inspect.getsource(m) for m in (schema_module, ppo_config, root_module))
    for prefix, section in iter_sections(config):
        for name in OmegaConf.structured(section).keys():
            lines = [line for line in sources.splitlines() if line.strip().startswith(f"{name}:")]
            assert lines, f"{prefix}{name} is not declared where expected"
            assert any("#" in line for line in lines) or name in ("lr", "train_batch_size", "grad_clip"), \
                f"{prefix}{name} has no comment where it is declared"


def test_module_arguments_reach_the_module_from_the_command_line():
    from torch import nn

    config = check_hydra_config(compose_cfg([
        "module.hidden_sizes=[8,8]", "module.activation=relu", "+module.log_std_init=-1.0", "env=pendulum",
    ]))
    algo = config.build()
    try:
        module = algo.get_module()
        assert [m.out_features for m in module.pi if isinstance(m, nn.Linear)] == [8, 8, 1]
        assert isinstance(module.pi[1], nn.ReLU)
        assert float(module.log_std.detach()[0]) == -1.0
    finally:
        algo.stop()


def _tuned_pairs():
    import os

    from tests.conftest import CONF

    for name in sorted(os.listdir(os.path.join(CONF, "tuned"))):
        if name == "auto.yaml":  # the lookup's switch, not a tuned file
            continue
        algorithm, _, env = name[: -len(".yaml")].partition("_")
        yield algorithm, env


@pytest.mark.parametrize("algorithm, env", list(_tuned_pairs()))
def test_every_tuned_file_composes_and_validates(algorithm, env):
    if env.startswith("lunar_lander"):
        pytest.importorskip("Box2D", reason="LunarLander needs gymnasium[box2d]")
    if env in ("hopper", "half_cheetah") and not has_mujoco():
        pytest.skip("Hopper and HalfCheetah need gymnasium[mujoco] (not a test dependency)")
    config = check_hydra_config(compose_cfg([f"algorithm={algorithm}", f"env={env}"]))
    assert config.algorithm.name == algorithm
    untuned = from_hydra(compose_cfg([f"algorithm={algorithm}", f"env={env}", "~tuned"]))
    assert untuned != config  # the file changed something


def test_tuned_files_cover_the_promised_pairs():
    pairs = set(_tuned_pairs())
    for pair in [("ppo", "cartpole"), ("ppo", "acrobot"), ("dqn", "cartpole"), ("dqn", "acrobot"),
                 ("sac", "pendulum"), ("sac", "mountain_car_continuous")]:
        assert pair in pairs, pair
