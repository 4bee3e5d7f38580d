"""Structured observations through the data path: trees, runners, rollouts, validation after the connectors."""
from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

from rlhydra.config.schema import ConfigError, EnvConfig, EnvRunnersConfig
from rlhydra.connectors.runner_pipelines import module_observation_space
from rlhydra.data import columns as C
from rlhydra.data import tree
from rlhydra.env.env_runner import EnvRunner
from rlhydra.env.make import env_spaces
from rlhydra.models.rl_module import TorchRLModule

ENV = "tests.structured_envs:DictImageEnv"


class RecordingModule(TorchRLModule):
    """Uniform logits; remembers the observation trees it was given."""

    def __init__(self, observation_space: gym.Space, action_space: gym.Space) -> None:
        super().__init__(observation_space, action_space)
        self.bias = nn.Parameter(torch.zeros(int(action_space.n)))
        self.seen = []

    def _out(self, batch):
        self.seen.append(tree.map_tree(lambda x: x.clone(), batch[C.OBS]))
        n = tree.first_leaf(batch[C.OBS]).shape[0]
        return {C.ACTION_DIST_INPUTS: self.bias.expand(n, -1)}

    forward_inference = forward_exploration = forward_train = _out


def test_tree_operations_keep_structure_and_dtypes():
    a = {"x": np.arange(6, dtype=np.uint8).reshape(3, 2), "y": (np.zeros(3, np.int64), np.ones((3, 1), np.float32))}
    b = tree.map_tree(lambda v: v + 1, a)
    joined = tree.concat([a, b])
    assert joined["x"].shape == (6, 2) and joined["x"].dtype == np.uint8
    np.testing.assert_array_equal(joined["y"][0], [0, 0, 0, 1, 1, 1])
    stacked = tree.stack([a, b], axis=1)
    assert stacked["y"][1].shape == (3, 2, 1)
    picked = tree.index(joined, np.array([5, 0]))
    np.testing.assert_array_equal(picked["x"], [[5, 6], [0, 1]])
    as_torch = tree.to_torch(a)
    assert as_torch["x"].dtype == torch.uint8 and as_torch["y"][0].dtype == torch.int64
    assert tree.nbytes(a) == 6 + 24 + 12
    assert list(tree.to_dict(a)) == ["x", "y/0", "y/1"]
    space = gym.spaces.Dict({"i": gym.spaces.Box(0, 255, (2,), np.uint8), "f": gym.spaces.Box(-1, 1, (1,), np.float64)})
    assert tree.space_leaves(space) == {"i": ((2,), np.dtype(np.uint8)), "f": ((1,), np.dtype(np.float32))}


def test_runner_carries_dict_observations_in_their_dtypes_and_final_obs_at_episode_ends():
    env = EnvConfig(id=ENV)
    obs_space, act_space = env_spaces(env)
    runner = EnvRunner(env, EnvRunnersConfig(), RecordingModule(obs_space, act_space), num_envs=2, seed=0)
    rollout = runner.sample(7)  # episodes of 3 steps: two ends per env, one after an autoreset mid-rollout
    obs, next_obs = rollout[C.OBS], rollout[C.NEXT_OBS]
    assert obs["image"].dtype == np.uint8 and obs["image"].shape == (7, 2, 2, 5, 5)
    assert obs["vec"].dtype == np.float32 and obs["mode"].dtype == np.int64
    assert obs["pair"][0].dtype == np.int8 and obs["pair"][1].shape == (7, 2)
    done = rollout[C.TERMINATED]
    assert done[2].all() and done[5].all()
    # next obs at an episode end is the final obs (step 3 of that episode), not the next episode's first
    np.testing.assert_array_equal(next_obs["vec"][2, :, 0], [3, 3])
    np.testing.assert_array_equal(obs["vec"][3, :, 0], [10, 10])
    np.testing.assert_array_equal(next_obs["image"][5, 0], np.full((2, 5, 5), 13, np.uint8))
    # within an episode next obs is the following obs
    np.testing.assert_array_equal(next_obs["vec"][3], obs["vec"][4])
    seen = runner.module.seen[-1]
    assert seen["image"].dtype == torch.uint8 and seen["mode"].dtype == torch.int64
    episodes = list(rollout.episodes())
    assert episodes[0].obs["image"].shape == (4, 2, 5, 5)  # 3 steps + the final obs
    runner.stop()


def test_runner_state_round_trips_tree_observations():
    env = EnvConfig(id=ENV)
    obs_space, act_space = env_spaces(env)
    runner = EnvRunner(env, EnvRunnersConfig(), RecordingModule(obs_space, act_space), num_envs=2, seed=0)
    runner.sample(4)
    state = runner.get_state()
    first = runner.sample(4)
    runner.set_state(state)
    again = runner.sample(4)
    for a, b in zip(tree.leaves(first[C.OBS]), tree.leaves(again[C.OBS])):
        np.testing.assert_array_equal(a, b)
    runner.stop()


def test_validation_checks_the_space_after_the_users_connectors():
    from rlhydra.algorithms.ppo.config import PPOConfig

    flatten = ["rlhydra.connectors.env_to_module.FlattenObservations"]
    config = PPOConfig().environment(ENV).env_runners(env_to_module_connectors=flatten).to_config()
    space = module_observation_space(config.env_runners, env_spaces(config.env)[0])
    assert isinstance(space, gym.spaces.Box) and space.shape == (2 * 25 + 3 + 4 + 2 + 3,)
    from rlhydra.core.preflight import validate

    validate(config)  # the Dict is a Box by the time the module sees it
    with pytest.raises(ConfigError, match="normalize_obs"):
        validate(PPOConfig().environment(ENV).env_runners(normalize_obs=True).to_config())
