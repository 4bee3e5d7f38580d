"""PPO: learns CartPole with the tuned defaults, runs on Pendulum, is reproducible, round-trips checkpoints."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from rlhydra import Algorithm
from rlhydra.data import columns as C

EVAL = "eval/episode_return_mean"


def test_ppo_runs_on_pendulum(small_ppo):
    algo = small_ppo.environment("Pendulum-v1").evaluation(interval=1, episodes=2).build()
    try:
        result = algo.train()
        assert result["env_steps"] == 128
        assert np.isfinite(result["learner/policy_loss"]) and np.isfinite(result[EVAL])
        assert result[EVAL] < 0  # Pendulum rewards are negative
    finally:
        algo.stop()


def _metrics(result):
    return {k: v for k, v in result.items() if not k.startswith("perf/") and k != "time_s"}


def test_same_seed_same_metrics(small_ppo):
    runs = []
    for _ in range(2):
        algo = small_ppo.evaluation(interval=2).debugging(seed=7).build()
        runs.append([_metrics(algo.train()) for _ in range(4)])
        algo.stop()
    assert runs[0] == runs[1]
    other = small_ppo.debugging(seed=8).build()
    assert _metrics(other.train()) != runs[0][0]
    other.stop()


def test_result_has_the_documented_keys(small_ppo):
    with small_ppo.evaluation(interval=1).build() as algo:
        result = algo.train()
    for key in ("iteration", "env_steps", "time_s", "train/episode_return_mean", "perf/env_steps_per_s", EVAL):
        assert key in result, key


def test_save_and_from_checkpoint_round_trip(small_ppo, tmp_path):
    algo = small_ppo.env_runners(normalize_obs=True).build()
    for _ in range(3):
        algo.train()
    before_eval = algo.evaluate()
    path = algo.save(str(tmp_path / "ckpt"))
    restored = Algorithm.from_checkpoint(path)
    try:
        for (k, a), (k2, b) in zip(algo.get_module().state_dict().items(),
                                   restored.get_module().state_dict().items()):
            assert k == k2 and torch.equal(a, b), k
        obs = torch.randn(16, 4)
        out_a = algo.get_module().forward_inference({C.OBS: obs})[C.ACTION_DIST_INPUTS]
        out_b = restored.get_module().forward_inference({C.OBS: obs})[C.ACTION_DIST_INPUTS]
        assert torch.equal(out_a, out_b)
        assert restored.evaluate() == before_eval
        assert restored.env_steps == algo.env_steps and restored.iteration == algo.iteration
        np.testing.assert_array_equal(restored.env_runner.env_to_module.connectors[1].mean,
                                      algo.env_runner.env_to_module.connectors[1].mean)
    finally:
        algo.stop()
        restored.stop()


def test_rl_module_from_checkpoint_acts_like_the_algorithm(small_ppo, tmp_path):
    from rlhydra import RLModule

    with small_ppo.build() as algo:
        algo.train()
        path = algo.save(str(tmp_path / "ckpt"))
        module = RLModule.from_checkpoint(path)
        obs = torch.randn(8, 4)
        expected = algo.get_module().forward_inference({C.OBS: obs})[C.ACTION_DIST_INPUTS]
        assert torch.equal(module.forward_inference({C.OBS: obs})[C.ACTION_DIST_INPUTS], expected)


def test_checkpoint_errors_are_clear(tmp_path, small_ppo):
    from rlhydra import ConfigError

    with pytest.raises(ConfigError, match="does not exist"):
        Algorithm.from_checkpoint(str(tmp_path / "missing"))
    with small_ppo.build() as algo:
        path = algo.save(str(tmp_path / "ckpt"))
    (tmp_path / "ckpt" / "module.pt").write_bytes(b"garbage")
    with pytest.raises(ConfigError, match="corrupt"):
        Algorithm.from_checkpoint(path)
    meta = tmp_path / "ckpt" / "metadata.json"
    meta.write_text(meta.read_text().replace('"format_version": 1', '"format_version": 99'))
    with pytest.raises(ConfigError, match="format version 99.*format version 1"):
        Algorithm.from_checkpoint(path)


def test_save_never_overwrites_a_foreign_directory(tmp_path, small_ppo):
    target = tmp_path / "notes"
    target.mkdir()
    (target / "mine.txt").write_text("keep me")
    with small_ppo.build() as algo:
        with pytest.raises(FileExistsError, match="not an rlhydra checkpoint"):
            algo.save(str(target))
        path = algo.save(str(tmp_path / "ckpt"))
        algo.train()
        assert algo.save(path) == path  # re-saving a checkpoint replaces it atomically
    assert (target / "mine.txt").read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt", "notes"]  # no temporary leftovers
