"""rlhydra applies torch's process-wide knobs (threads, subnormal flushing) only around its own compute."""
from __future__ import annotations

import pytest
import torch

from rlhydra.core.torch_settings import TorchSettings, flush_denormal_enabled


@pytest.fixture
def user_settings():
    """The caller's own torch settings, different from rlhydra's defaults, restored after the test."""
    threads, flush = torch.get_num_threads(), flush_denormal_enabled()
    torch.set_num_threads(2)
    torch.set_flush_denormal(False)
    yield 2, False
    torch.set_num_threads(threads)
    torch.set_flush_denormal(flush)


def test_the_probe_reads_the_flush_setting(user_settings):
    assert not flush_denormal_enabled()
    if torch.set_flush_denormal(True):  # False where the CPU cannot flush (then there is nothing to read)
        assert flush_denormal_enabled()


def test_settings_apply_inside_and_the_callers_come_back_after_nested_entries(user_settings):
    settings = TorchSettings(threads=1, flush_denormal=True)
    with settings:
        assert torch.get_num_threads() == 1
        assert flush_denormal_enabled() or not torch.set_flush_denormal(True)
        with settings:
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 1
    assert (torch.get_num_threads(), flush_denormal_enabled()) == user_settings


def test_an_algorithm_trains_with_its_settings_and_leaves_the_callers(user_settings, small_ppo):
    seen = []
    with small_ppo.learners(torch_threads=1).evaluation(interval=1).build() as algo:
        assert (torch.get_num_threads(), flush_denormal_enabled()) == user_settings  # after build
        update = algo.learner.update

        def spy(*args, **kwargs):
            seen.append((torch.get_num_threads(), flush_denormal_enabled()))
            return update(*args, **kwargs)

        algo.learner.update = spy
        algo.train()
        assert (torch.get_num_threads(), flush_denormal_enabled()) == user_settings  # after train + evaluate
        algo.learn(total_steps=algo.env_steps + 128)
        algo.compute_actions(torch.zeros(2, 4).numpy())
        assert (torch.get_num_threads(), flush_denormal_enabled()) == user_settings
    assert seen and all(threads == 1 for threads, _ in seen)
    if torch.set_flush_denormal(True):
        torch.set_flush_denormal(False)
        assert all(flush for _, flush in seen), "learner.flush_denormal=true did not apply during the update"


def test_flush_denormal_false_leaves_subnormals_alone_during_training(user_settings, small_ppo):
    seen = []
    with small_ppo.learners(flush_denormal=False).build() as algo:
        update = algo.learner.update
        algo.learner.update = lambda *a, **k: seen.append(flush_denormal_enabled()) or update(*a, **k)
        algo.train()
    assert seen == [False]
