"""The command line's overrides as a user meets them: checked before Hydra starts anything.

A key the config lacks is refused with what is there instead (never with a `+key` form), `module.<arg>` and
`buffer.<arg>` need no `+`, values are typed (module and buffer by their class's constructor), `total_steps=1e5`
is 100000; everything Hydra itself accepts passes unchanged. Most tests call the pre-check directly (one compose
each, ~0.1 s); a few run train.py to see the exit code, the exact message and that nothing started.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import pytest
from hydra import compose, initialize_config_dir

from rlhydra.config.overrides import OverrideError, check_command_line
from rlhydra.core.preflight import check_hydra_config
from tests.conftest import CONF, ROOT

HELP_HINT = "Every key with its help: python train.py --help"


def check(*argv: str):
    return check_command_line(list(argv), CONF)


def refused(*argv: str) -> str:
    with pytest.raises(OverrideError) as info:
        check(*argv)
    return str(info.value)


def composed(*argv: str):
    """The config Hydra composes from the command line the pre-check hands it."""
    overrides = [a for a in check(*argv).argv if not a.startswith("-") or a.startswith(("+", "++"))]
    with initialize_config_dir(version_base="1.3", config_dir=CONF):
        return compose("config", overrides=overrides)


def train_py(*argv: str, pythonpath: str = ROOT) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=pythonpath)
    return subprocess.run([sys.executable, "train.py", *argv], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env=env)


# ---- refused before anything starts, as train.py shows it --------------------------------------------------------
@pytest.mark.parametrize("override, message", [
    ("module.hidden_sizes=128",
     "rlhydra: module.hidden_sizes=128: module.hidden_sizes takes a list of integers, e.g. [64, 64] "
     "(ActorCriticModule declares hidden_sizes: list[int]), got 128\n"),
    ("algorithm.lrr=1",
     f"rlhydra: algorithm.lrr=1: algorithm=ppo has no key 'lrr'; did you mean algorithm.lr? {HELP_HINT}\n"),
])
def test_train_py_refuses_with_exit_code_2_and_starts_nothing(override, message, tmp_path):
    run_dir = tmp_path / "run"
    proc = train_py(override, f"hydra.run.dir={run_dir}")
    assert proc.returncode == 2
    assert proc.stderr == message
    assert proc.stdout == ""  # no "rlhydra: ppo on CartPole-v1 ..." banner: no run began
    assert not run_dir.exists()  # Hydra made no run folder


@pytest.mark.parametrize("override, message", [
    ("module.activation=foo", "module.activation=foo: module.activation must be one of tanh, relu, elu, silu, gelu; "
                              "got 'foo'"),
    ("module.widht=32", "module.widht=32: module.widht is not an argument of rlhydra.algorithms.ppo.module.PPOModule. "
                        "Valid: hidden_sizes, activation, log_std_init, ortho_init, use_sde, sde_sample_freq, full_std, "
                        "use_expln, conv_filters, conv_activation, encoder, encoders."),
    ("module.hiden=[32]", "module.hiden=[32]: module.hiden is not an argument of "
                          "rlhydra.algorithms.ppo.module.PPOModule; did you mean module.hidden_sizes? "
                          "Valid: hidden_sizes, activation, log_std_init, ortho_init, use_sde, sde_sample_freq, full_std, "
                          "use_expln, conv_filters, conv_activation, encoder, encoders."),
    ("module.ortho_init=maybe", "module.ortho_init=maybe: module.ortho_init takes true or false (ActorCriticModule "
                                "declares ortho_init: bool), got 'maybe'"),
    ("module.observation_space=3", "module.observation_space=3: module.observation_space is set by rlhydra from the "
                                   "env (its observation space after the env->module connectors); remove it"),
    ("algorithm.ent_coef=0.01", "algorithm.ent_coef=0.01: algorithm=ppo has no key 'ent_coef'; Stable-Baselines3's "
                                f"ent_coef is algorithm.entropy_coeff here. {HELP_HINT}"),
    ("algorithm.lambda_=0.9", "algorithm.lambda_=0.9: algorithm=ppo has no key 'lambda_'; RLlib's lambda_ is "
                              f"algorithm.gae_lambda here. {HELP_HINT}"),
    ("total_timesteps=1000", "total_timesteps=1000: the config has no key 'total_timesteps'; Stable-Baselines3's "
                             f"total_timesteps is total_steps here. {HELP_HINT}"),
    ("lr=1e-3", f"lr=1e-3: the config has no key 'lr'; did you mean algorithm.lr? {HELP_HINT}"),
    ("seeed=1", f"seeed=1: the config has no key 'seeed'; did you mean seed? {HELP_HINT}"),
    ("algo.lr=1", f"algo.lr=1: the config has no key 'algo'; did you mean algorithm.lr? {HELP_HINT}"),
    ("+algorithm.foo=1", f"+algorithm.foo=1: algorithm=ppo has no key 'foo'. {HELP_HINT}"),
    ("logger.wandb.projet=x", "logger.wandb.projet=x: logger.wandb has no key 'projet'; did you mean "
                              f"logger.wandb.project? {HELP_HINT}"),
    ("total_steps=1.5", "total_steps=1.5: total_steps takes an integer, got 1.5"),
    ("algorithm.lr=abc", "algorithm.lr=abc: algorithm.lr takes a number, got 'abc'"),
    ("evaluation.video=maybe", "evaluation.video=maybe: evaluation.video takes true or false, got 'maybe'"),
])
def test_a_refusal_names_the_key_and_what_to_write_instead(override, message):
    assert refused(override) == message


def test_sac_names_its_own_algorithm_and_help_command():
    assert refused("algorithm=sac", "env=pendulum", "algorithm.ent_coef=0.1") == (
        "algorithm.ent_coef=0.1: algorithm=sac has no key 'ent_coef'. Every key with its help: "
        "python train.py algorithm=sac env=pendulum --help")


@pytest.mark.parametrize("overrides, message", [
    (["algorithm=dqn", "buffer.n_step=3"], "buffer.n_step=3: buffer.n_step is set by rlhydra from the algorithm "
                                           "config (algorithm.n_step); remove it"),
    (["algorithm=dqn", "buffer=prioritized", "buffer.alpah=0.5"],
     "buffer.alpah=0.5: buffer.alpah is not an argument of rlhydra.buffers.PrioritizedReplayBuffer; did you mean "
     "buffer.alpha? Valid: capacity, alpha, beta_start, beta_anneal_steps, eps."),
    (["buffer.capacity=many"], "buffer.capacity=many: buffer.capacity takes an integer (ReplayBuffer declares "
                               "capacity: int), got 'many'"),
    (["module._target_=nope.Module"], "module._target_=nope.Module: cannot import it (No module named 'nope')"),
    (["module._target_=rlhydra.buffers.ReplayBuffer"],
     "module._target_=rlhydra.buffers.ReplayBuffer: is not a rlhydra.models.rl_module.RLModule subclass"),
    (["env_runners.env_to_module_connectors=[{_target_: rlhydra.connectors.env_to_module.NormalizeObservations, "
      "shap: 4}]"], "env_runners.env_to_module_connectors[0].shap: not an argument of "
                    "rlhydra.connectors.env_to_module.NormalizeObservations; did you mean "
                    "env_runners.env_to_module_connectors[0].shape?"),
])
def test_buffer_module_and_connector_nodes_are_checked_against_their_class(overrides, message):
    assert message in refused(*overrides)


def test_every_mistake_is_reported_at_once():
    message = refused("algorithm.lrr=1", "module.hidden_sizes=128", "total_steps=2.5")
    assert message.startswith("the command line has mistakes; nothing was started:\n  - algorithm.lrr=1: ")
    assert "\n  - module.hidden_sizes=128: " in message and "\n  - total_steps=2.5: " in message


def test_a_swept_group_checks_each_of_its_choices():
    message = refused("-m", "algorithm=ppo,sac", "env=pendulum", "algorithm.clip_param=0.3")
    assert message.startswith("with algorithm=sac: algorithm.clip_param=0.3: algorithm=sac has no key 'clip_param'")


BAD = ["algorithm.lrr=1", "seeed=1", "+algorithm.foo=1", "module.widht=3", "module.hidden_sizes=3", "lr=1",
       "buffer.n_step=2", "algorithm.ent_coef=1", "env.idd=x", "logger.wandb.projet=x", "total_steps=0.5"]


@pytest.mark.parametrize("override", BAD)
def test_no_refusal_sends_the_user_to_a_plus_key(override):
    message = refused(override)
    assert not re.search(r"(^|[\s'\"(])\+\+?[a-z_]", message.replace(f"{override}:", "")), message


# ---- taken, and rewritten where Hydra needs it ------------------------------------------------------------------
def test_an_integral_float_for_an_int_key_is_the_int():
    assert check("total_steps=1e5", "algorithm.train_batch_size=2e3").argv == [
        "total_steps=100000", "algorithm.train_batch_size=2000"]
    cfg = composed("total_steps=1e5", "algorithm.train_batch_size=2e3")
    assert cfg.total_steps == 100000 and isinstance(cfg.total_steps, int)
    assert check("-m", "total_steps=1e4,2e4").argv == ["-m", "total_steps=10000,20000"]
    assert check("module.hidden_sizes=[32.0,32]").argv == ["module.hidden_sizes=[32,32]"]
    assert check("module.hidden_sizes=null").argv == ["module.hidden_sizes=null"]  # null: the class's default


@pytest.mark.parametrize("overrides, key, value", [
    (["module.ortho_init=false"], "ortho_init", False),
    (["algorithm=sac", "env=pendulum", "module.use_sde=true"], "use_sde", True),
    (["algorithm=sac", "env=pendulum", "module.log_std_init=-2"], "log_std_init", -2),
])
def test_module_arguments_the_yaml_does_not_list_need_no_plus(overrides, key, value, monkeypatch):
    import rlhydra.env.env_runner as env_runner

    monkeypatch.setattr(env_runner.EnvRunner, "__init__", lambda *a, **k: pytest.fail("a runner started"))
    argv = check(*overrides).argv
    assert argv[-1] == "++" + overrides[-1]  # Hydra's struct mode needs ++ for a key the YAML lacks
    config = check_hydra_config(composed(*overrides))
    assert config.module[key] == value


def test_buffer_arguments_and_free_form_mappings_need_no_plus():
    argv = check("algorithm=dqn", "buffer=prioritized", "buffer.eps=1e-5", "env.kwargs.sutton_barto_reward=true").argv
    assert argv[2:] == ["++buffer.eps=1e-5", "++env.kwargs.sutton_barto_reward=true"]
    cfg = composed("algorithm=dqn", "buffer=prioritized", "buffer.eps=1e-5", "env.kwargs.sutton_barto_reward=true")
    assert cfg.buffer.eps == 1e-5 and cfg.env.kwargs.sutton_barto_reward is True


def test_plus_forms_keep_working():
    assert check("+module.log_std_init=-1.0").argv == ["+module.log_std_init=-1.0"]
    assert check("++module.ortho_init=false").argv == ["++module.ortho_init=false"]
    assert check("+module.activation=relu").argv == ["++module.activation=relu"]  # the YAML lists it: + alone fails
    assert check("module._target_=rlhydra.models.actor_critic.ActorCriticModule", "module.ortho_init=false").argv[1] \
        == "++module.ortho_init=false"


@pytest.mark.parametrize("argv", [
    ["algorithm=sac", "env=pendulum", "seed=3", "algorithm.lr=1e-3", "module.hidden_sizes=[64,64]"],
    ["~tuned", "algorithm.lr=5e-5"],
    ["env=gym", "env.id=Acrobot-v1", "+env.kwargs={max_episode_steps: 200}"],
    ["-m", "algorithm=ppo", "seed=0,1,2", "algorithm.lr=1e-3,3e-4", "total_steps=range(1000,3000,1000)"],
    ["-m", "algorithm=glob(*,exclude=base_*)", "env=cartpole", "seed=choice(0,1)"],
    ["--config-dir", "sweeps", "--config-name", "tpe", "-m", "algorithm.lr=tag(log, interval(1e-4, 1e-2))"],
    ["--config-dir", "sweeps", "-m", "hydra/launcher=parallel", "seed=0,1"],
    ["hydra.run.dir=/tmp/x", "hydra.job.chdir=false", "--cfg", "job"],
    ["logger=[jsonl,wandb]", "logger.wandb.project=p"],
    ["env=cartpol"],  # Hydra's own message lists the options
    ["seed=0,1"],  # a sweep without -m: Hydra says so
    ["--hydra-help"],
])
def test_what_hydra_accepts_passes_unchanged(argv):
    assert check(*argv).argv == argv


def test_a_user_package_with_its_own_conf_dir_and_classes(monkeypatch):
    monkeypatch.syspath_prepend(os.path.join(ROOT, "examples", "user_package"))
    conf = os.path.join(ROOT, "examples", "user_package", "myrl", "conf")
    argv = ["--config-dir", conf, "+experiment=corridor", "module.hidden=16"]
    assert check(*argv).argv == argv
    assert "module.hiddn=16: module.hiddn is not an argument of myrl.modules.TinyActorCritic; did you mean " \
           "module.hidden?" in refused("--config-dir", conf, "+experiment=corridor", "module.hiddn=16")
    searchpath = ["hydra.searchpath=[pkg://myrl.conf]", "env=corridor", "module=tiny", "module.hidden=8"]
    assert check(*searchpath).argv == searchpath
    assert "module.hiddn=8: module.hiddn is not an argument of myrl.modules.TinyActorCritic" in refused(
        *searchpath[:3], "module.hiddn=8")  # composed with the package's conf: its module is the one checked


# ---- --help ----------------------------------------------------------------------------------------------------
def test_help_lists_groups_and_every_key_with_its_value_and_help():
    start = time.perf_counter()
    text = check("algorithm=sac", "env=pendulum", "algorithm.lr=1e-3", "--help").help
    assert time.perf_counter() - start < 3.0  # the --help budget; a loaded machine (pytest -n 2) is slower
    assert "  algorithm  a2c  dqn  ppo  sac*  td3" in text  # the schemas base_* are not options
    assert "base_" not in text
    lines = {line.split()[0]: line for line in text.splitlines() if line.startswith("  ") and line.split()}
    assert re.match(r"  algorithm\.lr +0\.001 +Adam learning rate of actor, critics and alpha$", lines["algorithm.lr"])
    assert re.match(r"  total_steps +20000 +env steps to train for$", lines["total_steps"])  # tuned/sac_pendulum
    assert re.match(r"  module\.use_sde +false\* +gSDE exploration.*\(bool\)$", lines["module.use_sde"])
    assert re.match(r"  module\.log_std_max +2\.0\* +.*\(float\)$", lines["module.log_std_max"])
    assert re.match(r"  module\.hidden_sizes +\[\d+, \d+\] +widths of the hidden layers.*\(list\[int\]\)$",
                    lines["module.hidden_sizes"])  # set by tuned/sac_pendulum.yaml: no *
    assert "buffer.capacity" in lines and "logger.wandb.project" in lines



@pytest.mark.parametrize("argv, needed, install", [
    (["--config-name", "tpe", "-m"], "the package optuna", 'pip install "rlhydra[sweeps]"'),
    (["-m", "hydra/sweeper=rlhydra_optuna", "seed=0,1"], "the package optuna", 'pip install "rlhydra[sweeps]"'),
    (["-m", "hydra/sweeper=optuna", "seed=0,1"], "the Hydra plugin hydra-optuna-sweeper",
     "pip install hydra-optuna-sweeper (it pins optuna<3; rlhydra's own sweeper needs no plugin"),
    (["-m", "hydra/launcher=parallel", "seed=0,1"], "the package joblib",
     'pip install "rlhydra[sweeps]"'),
])
def test_a_missing_sweeper_or_launcher_plugin_names_what_to_install(argv, needed, install, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: (
        None if name.startswith("hydra_plugins.hydra_") or name in ("optuna", "joblib") else real(name, *a)))
    with pytest.raises(OverrideError) as info:
        check_command_line(argv, CONF)
    assert f"needs {needed}, which is not installed: {install}" in str(info.value)


def test_installed_plugins_pass_the_check():
    assert check_command_line(["-m", "hydra/launcher=parallel", "seed=0,1"], CONF).argv[1] == "hydra/launcher=parallel"
