"""The default modules learn structured-observation tasks with untuned defaults: a Dict, pixels, action masks.

Each task's random policy is far below its threshold (see tests/structured_envs.py), so passing needs the encoder
(one-hot + vector for the Dict, the CNN for pixels) or the mask to do its job.
"""
from __future__ import annotations

import pytest

from rlhydra import DQNConfig, PPOConfig
from tests.structured_envs import MaskedChoiceEnv

pytestmark = pytest.mark.slow


def trained_return(builder, steps):
    builder = builder.evaluation(interval=0, episodes=20).debugging(seed=0).stopping(total_steps=steps)
    with builder.build() as algo:
        while algo.env_steps < steps:
            algo.train()
        return algo.evaluate()["eval/episode_return_mean"]


@pytest.mark.parametrize("make, steps, threshold", [
    (lambda: PPOConfig().environment("tests.structured_envs:DictChoiceEnv"), 8192, 6.5),  # random: 2.7
    (lambda: DQNConfig().environment("tests.structured_envs:DictChoiceEnv"), 10000, 6.5),
    (lambda: PPOConfig().environment("tests.structured_envs:PixelSideEnv"), 6144, 7.0),  # random: 4
], ids=["ppo-dict", "dqn-dict", "ppo-pixels"])
def test_default_modules_learn_structured_observations(make, steps, threshold):
    assert trained_return(make(), steps) >= threshold


@pytest.mark.parametrize("make, steps", [
    (lambda: PPOConfig(), 4096),
    (lambda: DQNConfig(), 10000),  # random warm-up and epsilon-greedy exploration too
], ids=["ppo", "dqn"])
def test_no_illegal_action_over_a_whole_run_and_it_learns(make, steps):
    MaskedChoiceEnv.illegal_actions = 0
    builder = make().environment("tests.structured_envs:MaskedChoiceEnv")
    assert trained_return(builder, steps) >= 9.0  # random legal play: 5
    assert MaskedChoiceEnv.illegal_actions == 0


@pytest.mark.parametrize("make", [PPOConfig, DQNConfig], ids=["ppo", "dqn"])
def test_a_policy_from_a_checkpoint_never_picks_a_masked_action(make, tmp_path):
    from rlhydra import RLModule

    builder = make().environment("tests.structured_envs:MaskedChoiceEnv").evaluation(interval=0).debugging(seed=0)
    with builder.build() as algo:
        algo.train()  # one iteration: the policy is far from trained, the mask must hold anyway
        path = algo.save(str(tmp_path / "ckpt"))
    env = MaskedChoiceEnv()
    for explore in (False, True):
        module = RLModule.from_checkpoint(path, explore=explore)
        obs, _ = env.reset(seed=0)
        for _ in range(200):
            action = module.compute_single_action(obs)
            assert obs["action_mask"][action] == 1
            obs, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                obs, _ = env.reset()
