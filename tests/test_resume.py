"""Exact resume: N iterations, save, restore (in a fresh Algorithm or process), M more == N + M uninterrupted."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from rlhydra import Algorithm, ConfigError, DQNConfig, PPOConfig, SACConfig
from rlhydra.core.resume import resume_config
from tests.conftest import MUJOCO, ROOT, compose_cfg

N, M = 3, 3
DICT_ENV = "tests.structured_envs:DictImageEnv"


def comparable(result):
    """A result without what depends on the clock."""
    return {k: v for k, v in result.items() if not k.startswith("perf/") and k != "time_s"}


def ppo(**runners):
    return (PPOConfig().environment("CartPole-v1").training(train_batch_size=128, minibatch_size=64, num_epochs=2)
            .env_runners(num_envs_per_env_runner=4, normalize_obs=True, **runners)
            .evaluation(interval=2, episodes=2, num_envs=2).debugging(seed=5))


def sac(env_id="Pendulum-v1"):
    return (SACConfig().environment(env_id)
            .training(learning_starts=64, train_batch_size=64, minibatch_size=32, gradient_steps=1)
            .rl_module(model_config={"hidden_sizes": [16, 16]}).env_runners(num_envs_per_env_runner=2)
            .evaluation(interval=0).debugging(seed=5))


def dqn():
    builder = (DQNConfig().environment("CartPole-v1")
               .training(learning_starts=64, train_batch_size=64, minibatch_size=32, n_step=3,
                         target_update_interval=50)
               .rl_module(model_config={"hidden_sizes": [16, 16]}).env_runners(num_envs_per_env_runner=2)
               .evaluation(interval=0).debugging(seed=5))
    builder.config.buffer = {"_target_": "rlhydra.buffers.PrioritizedReplayBuffer", "capacity": 1000}
    return builder


def weights(algo):
    return {k: v.clone() for k, v in algo.get_module().state_dict().items()}


@pytest.mark.parametrize("make", [
    pytest.param(ppo, id="ppo-normalize_obs"),
    pytest.param(lambda: ppo(normalize_rewards=True), id="ppo-normalize_rewards"),
    pytest.param(lambda: ppo(num_env_runners=2, normalize_rewards=True), id="ppo-normalize_rewards-2-runners"),
    pytest.param(sac, id="sac"), pytest.param(dqn, id="dqn-per-nstep"),
    # 3 envs, train_freq 4: rounds of 6 env steps owe 1.5 gradient steps; the half carries over, and is saved
    pytest.param(lambda: dqn().env_runners(num_envs_per_env_runner=3), id="dqn-3-envs-update-carry"),
    pytest.param(lambda: sac().rl_module(use_sde=True), id="sac-gsde"),
    pytest.param(lambda: ppo(num_env_runners=2), id="ppo-2-runner-processes"),
    pytest.param(lambda: sac("HalfCheetah-v5"), id="sac-halfcheetah", marks=MUJOCO),
    # structured observations: a Dict of a uint8 image, a float vector, a Discrete and a Tuple
    pytest.param(lambda: dqn().environment(DICT_ENV), id="dqn-per-dict-image-obs"),
    pytest.param(lambda: ppo(num_env_runners=2).environment(DICT_ENV).env_runners(normalize_obs=False),
                 id="ppo-dict-image-obs-2-runner-processes"),
])
def test_n_then_m_iterations_after_a_restore_equal_n_plus_m(make, tmp_path):
    with make().build() as algo:
        straight = [comparable(algo.train()) for _ in range(N + M)]
        straight_weights = weights(algo)
    with make().build() as algo:
        first = [comparable(algo.train()) for _ in range(N)]
        path = algo.save(str(tmp_path / "ckpt"))
    with Algorithm.from_checkpoint(path) as algo:
        rest = [comparable(algo.train()) for _ in range(M)]
        resumed_weights = weights(algo)
    assert first + rest == straight  # every metric, bit for bit (evaluations and learner statistics included)
    assert resumed_weights.keys() == straight_weights.keys()
    for key in straight_weights:
        assert torch.equal(resumed_weights[key], straight_weights[key]), key


@pytest.mark.parametrize("make, stop_first, notice", [
    (lambda: ppo().environment("CartPole-v1", vectorization_mode="async"), False, "env.vectorization_mode=async"),
    (lambda: ppo(num_env_runners=2), True, "after its env runner workers had stopped"),
], ids=["async-envs", "runner-processes-stopped-before-the-save"])
def test_a_checkpoint_without_the_envs_state_restores_with_a_notice(make, stop_first, notice, tmp_path, capsys):
    with make().build() as algo:
        algo.train()
        if stop_first:
            algo.stop()
        path = algo.save(str(tmp_path / "ckpt"))
    with Algorithm.from_checkpoint(path) as algo:
        assert notice in capsys.readouterr().out  # the envs start new episodes, and the run says why
        result = algo.train()
        assert result["iteration"] == 2 and result["env_steps"] == 256


def test_a_resumed_run_keeps_its_best_evaluation(tmp_path):
    with ppo().build() as algo:
        algo.learn(total_steps=512, checkpoint_dir=str(tmp_path))
        best = algo.best_eval_return
    with Algorithm.from_checkpoint(str(tmp_path / "final")) as algo:
        assert algo.best_eval_return == best > -np.inf


# ---- from the command line, in a fresh process ---------------------------------------------------------------
def train(*args, timeout=180):
    return subprocess.run([sys.executable, "train.py", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ, PYTHONHASHSEED="0"))


def metrics(run_dir):
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        return [comparable({k: v for k, v in json.loads(line).items() if not k.startswith("checkpoint")})
                for line in f]


@pytest.mark.parametrize("args, steps", [
    (["algorithm=ppo", "algorithm.train_batch_size=256", "algorithm.minibatch_size=128", "total_steps=1536",
      "env_runners.normalize_obs=true"], 768),
    (["algorithm=dqn", "~tuned", "buffer=prioritized", "algorithm.n_step=3", "algorithm.learning_starts=100",
      "algorithm.train_batch_size=128", "total_steps=768", "module.hidden_sizes=[16,16]"], 384),
], ids=["ppo", "dqn"])
@pytest.mark.slow
def test_resume_from_the_command_line_continues_the_run_exactly(args, steps, tmp_path):
    common = [*args, "evaluation.interval=2", "evaluation.episodes=2", "logger=jsonl"]
    first, second = tmp_path / "first", tmp_path / "second"
    proc = train(*common, "checkpointing.interval=3", f"hydra.run.dir={first}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    checkpoint = first / "checkpoints" / "iter_000003"
    proc = train(f"resume={checkpoint}", "logger=jsonl", f"hydra.run.dir={second}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"resumed {checkpoint} at iteration 3 ({steps} env steps)" in proc.stdout
    straight, resumed = metrics(first), metrics(second)
    assert [row["iteration"] for row in resumed] == [4, 5, 6]
    assert resumed == straight[3:]
    weights = [torch.load(run / "checkpoints" / "final" / "module.pt", weights_only=True) for run in (first, second)]
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][key], weights[1][key]) for key in weights[0])


def test_resume_of_a_missing_checkpoint_names_it(tmp_path):
    proc = train(f"resume={tmp_path / 'nope'}", timeout=60)
    assert proc.returncode == 2  # a config error: rlhydra's message, exit code 2
    assert f"checkpoint '{tmp_path / 'nope'}' does not exist" in proc.stderr
    assert "Traceback" not in proc.stderr


# ---- what a resumed run may and may not change -----------------------------------------------------------------
@pytest.fixture(scope="module")
def saved_run(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("resume") / "ckpt")
    with ppo().build() as algo:
        algo.train()
        algo.save(path)
    return path


GROUPS = ("algorithm", "env", "module", "buffer", "learner", "resources", "logger", "tuned")


def resumed(path, *overrides):
    overrides = [f"resume={path}", *overrides]
    return resume_config(compose_cfg(overrides), overrides, GROUPS)


def test_resume_takes_the_checkpoints_config_with_key_overrides(saved_run):
    config = resumed(saved_run, "total_steps=5000", "algorithm.lr=0.001", "logger=jsonl")
    assert config.total_steps == 5000 and config.algorithm.lr == 0.001
    assert config.algorithm.train_batch_size == 128 and config.env_runners.normalize_obs  # from the checkpoint
    assert config.logger.console is False and config.resume == saved_run


def test_resume_refuses_an_override_that_changes_the_spaces(saved_run):
    with pytest.raises(ConfigError) as info:
        resumed(saved_run, "env.id=Acrobot-v1")
    message = str(info.value)
    assert message.startswith("resume: the override(s) env.id=Acrobot-v1 change the env's spaces")
    assert "Box(" in message and "Discrete(2)" in message and "Discrete(3)" in message


def test_resume_refuses_a_config_group_override(saved_run):
    with pytest.raises(ConfigError, match="'env=pendulum' chooses a config group"):
        resumed(saved_run, "env=pendulum")


def test_resume_says_when_total_steps_is_already_reached(saved_run):
    with pytest.raises(ConfigError, match=r"at 128 env steps, which already reaches total_steps=100"):
        resumed(saved_run, "total_steps=100")


def test_restoring_into_an_algorithm_with_other_spaces_is_refused(saved_run):
    with ppo().environment("Acrobot-v1").build() as algo:
        with pytest.raises(ConfigError) as info:
            algo.restore(saved_run)
    message = str(info.value)
    assert f"checkpoint '{saved_run}' was trained on observation space Box(" in message
    assert "env 'Acrobot-v1' has observation space" in message and "Discrete(3)" in message


def test_resume_takes_keys_only_its_algorithm_has_when_it_is_named(tmp_path):
    path = str(tmp_path / "sac")
    with sac().build() as algo:
        algo.train()
        algo.save(path)
    config = resumed(path, "algorithm=sac", "algorithm.tau=0.01")
    assert config.algorithm.name == "sac" and config.algorithm.tau == 0.01
    with pytest.raises(ConfigError, match="'algorithm=dqn' chooses a config group"):
        resumed(path, "algorithm=dqn")
