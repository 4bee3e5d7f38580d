"""The module catalog: which encoder each observation space gets, what it computes, `_target_` overrides, the
problems it reports, and MultiCategorical against torch.distributions."""
from __future__ import annotations

import re

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

from rlhydra import DQNConfig, PPOConfig, SACConfig, TD3Config
from rlhydra.algorithms.dqn.module import DQNModule
from rlhydra.algorithms.sac.module import SACModule
from rlhydra.algorithms.td3.module import TD3Module
from rlhydra.config.schema import ConfigError
from rlhydra.data import columns as C
from rlhydra.models.actor_critic import ActorCriticModule
from rlhydra.models.catalog import (
    DictEncoder, FlattenEncoder, ImageEncoder, OneHotEncoder, TupleEncoder, VectorEncoder, build_encoder,
    image_layout, space_problem,
)
from rlhydra.models.distributions import MultiCategorical

Box, Discrete, Dict, Tuple = gym.spaces.Box, gym.spaces.Discrete, gym.spaces.Dict, gym.spaces.Tuple


pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ---- which encoder -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("space, kind, out_dim", [
    (Box(-1, 1, (4,)), VectorEncoder, 4),
    (Box(-1, 1, (2, 3)), FlattenEncoder, 6),
    (Box(-1, 1, (2, 3, 4, 5)), FlattenEncoder, 120),
    (Box(0, 255, (84, 84, 4), np.uint8), ImageEncoder, 512),
    (Box(0, 255, (10, 10, 4), np.uint8), ImageEncoder, 512),
    (Discrete(5), OneHotEncoder, 5),
    (gym.spaces.MultiDiscrete([3, 2]), OneHotEncoder, 5),
    (gym.spaces.MultiBinary(3), FlattenEncoder, 3),
    (Dict({"a": Box(-1, 1, (2,)), "b": Discrete(3)}), DictEncoder, 5),
    (Tuple((Discrete(2), Box(-1, 1, (3,)))), TupleEncoder, 5),
    (Dict({"obs": Box(-1, 1, (3,)), "action_mask": gym.spaces.MultiBinary(2)}), DictEncoder, 3),
])
def test_each_space_gets_its_encoder_and_width(space, kind, out_dim):
    encoder = build_encoder(space)
    assert isinstance(encoder, kind) and encoder.out_dim == out_dim, (
        f"{space}: expected {kind.__name__} of width {out_dim}, got {type(encoder).__name__} of {encoder.out_dim}")


def test_a_float32_vector_passes_through_without_a_copy_or_a_parameter():
    encoder = build_encoder(Box(-1, 1, (4,)))
    x = torch.randn(3, 4)
    assert encoder(x) is x, "flat float32 vectors must reach the MLP as they are (no copy, no layer)"
    assert not list(encoder.parameters())


def test_an_integer_vector_is_cast_to_float32_with_its_values():
    out = build_encoder(Box(0, 10, (3,), np.int64))(torch.tensor([[1, 2, 10]]))
    assert out.dtype == torch.float32 and out.tolist() == [[1.0, 2.0, 10.0]]


def test_discrete_is_one_hot_from_its_start():
    out = build_encoder(Discrete(4, start=2))(torch.tensor([2, 5, 3]))
    assert out.tolist() == [[1, 0, 0, 0], [0, 0, 0, 1], [0, 1, 0, 0]]


def test_multidiscrete_is_the_concatenation_of_one_hots_per_component():
    out = build_encoder(gym.spaces.MultiDiscrete([3, 2]))(torch.tensor([[2, 0], [0, 1]]))
    assert out.tolist() == [[0, 0, 1, 1, 0], [1, 0, 0, 0, 1]]


def test_multibinary_is_its_bits_as_float():
    out = build_encoder(gym.spaces.MultiBinary(3))(torch.tensor([[1, 0, 1]], dtype=torch.int8))
    assert out.dtype == torch.float32 and out.tolist() == [[1.0, 0.0, 1.0]]


def test_dict_entries_are_concatenated_in_the_spaces_sorted_key_order():
    space = Dict({"z": Box(-9, 9, (2,)), "a": Discrete(3)})
    assert list(space.spaces) == ["a", "z"], "gymnasium sorts Dict keys"
    obs = {"z": torch.tensor([[7.0, 8.0]]), "a": torch.tensor([1])}
    assert build_encoder(space)(obs).tolist() == [[0.0, 1.0, 0.0, 7.0, 8.0]]


def test_tuple_and_nested_entries_are_concatenated_in_order():
    space = Dict({"x": Tuple((Box(-9, 9, (1,)), Discrete(2))), "y": Box(-9, 9, (2, 1))})
    obs = {"x": (torch.tensor([[5.0]]), torch.tensor([1])), "y": torch.tensor([[[3.0], [4.0]]])}
    assert build_encoder(space)(obs).tolist() == [[5.0, 0.0, 1.0, 3.0, 4.0]]


def test_the_action_mask_key_is_not_encoded():
    space = Dict({"obs": Box(-9, 9, (2,)), "action_mask": gym.spaces.MultiBinary(3)})
    obs = {"obs": torch.tensor([[1.0, 2.0]]), "action_mask": torch.tensor([[1, 0, 1]], dtype=torch.int8)}
    assert build_encoder(space)(obs).tolist() == [[1.0, 2.0]]


# ---- images --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape, expected", [
    ((4, 84, 84), (True, 4, 84, 84)), ((84, 84, 4), (False, 4, 84, 84)), ((3, 64, 48), (True, 3, 64, 48)),
    ((64, 48, 3), (False, 3, 64, 48)), ((10, 10, 10), (False, 10, 10, 10)), ((1, 28, 28), (True, 1, 28, 28)),
])
def test_channel_order_is_first_when_the_first_axis_is_smaller_than_the_last(shape, expected):
    assert image_layout(shape) == expected


def _probe(space: gym.spaces.Box) -> ImageEncoder:
    """An image encoder whose output starts with channel 0 of the (scaled) image, flattened: a 1x1 conv that keeps
    channel 0 and a linear layer that is the identity on its first inputs."""
    encoder = build_encoder(space, conv_filters=[[1, 1, 1]])
    conv, linear = encoder.cnn[0], encoder.linear[0]
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, 0] = 1.0
        conv.bias.zero_()
        linear.weight.zero_()
        linear.weight[: linear.in_features].copy_(torch.eye(linear.in_features))
        linear.bias.zero_()
    return encoder


@pytest.mark.parametrize("channels_first", [True, False])
def test_uint8_images_are_divided_by_255_in_either_channel_order(channels_first):
    gen = torch.Generator().manual_seed(0)
    hwc = torch.randint(0, 256, (2, 5, 6, 2), generator=gen, dtype=torch.uint8)  # [B, H, W, C]
    image = hwc.permute(0, 3, 1, 2).contiguous() if channels_first else hwc
    space = Box(0, 255, tuple(image.shape[1:]), np.uint8)
    out = _probe(space)(image)
    expected = hwc[..., 0].reshape(2, -1).float() / 255.0
    assert torch.equal(out[:, :30], expected), "the encoder must see channel 0 of the image, divided by 255"


@pytest.mark.parametrize("space, values", [
    (Box(0, 1, (5, 6, 2), np.uint8), [0, 1]),
    (Box(0, 1, (5, 6, 2), np.bool_), [False, True]),
    (Box(-1.0, 1.0, (5, 6, 2), np.float32), [-0.5, 0.75]),
])
def test_binary_bool_and_float_images_are_not_rescaled(space, values):
    image = torch.tensor(values * 30, dtype=torch.from_numpy(np.zeros(0, space.dtype)).dtype).reshape(1, 5, 6, 2)
    out = _probe(space)(image)
    assert torch.equal(out[:, :30], torch.relu(image[..., 0].reshape(1, -1).float()))


def test_default_filters_are_natures_for_84x84_and_one_3x3_layer_for_minatar():
    nature = build_encoder(Box(0, 255, (84, 84, 4), np.uint8))
    convs = [m for m in nature.cnn if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.stride) for c in convs] == [
        (4, 32, (8, 8), (4, 4)), (32, 64, (4, 4), (2, 2)), (64, 64, (3, 3), (1, 1))]
    assert nature.linear[0].in_features == 64 * 7 * 7
    small = build_encoder(Box(0, 255, (10, 10, 4), np.uint8))
    convs = [m for m in small.cnn if isinstance(m, nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size, c.stride) for c in convs] == [(16, (3, 3), (1, 1))]
    assert small.linear[0].in_features == 16 * 8 * 8
    out = small(torch.randint(0, 256, (3, 10, 10, 4), dtype=torch.uint8))
    assert out.shape == (3, 512) and out.dtype == torch.float32


def test_conv_filters_take_rllibs_form_with_kernel_pairs():
    encoder = build_encoder(Box(0, 255, (4, 20, 30), np.uint8), conv_filters=[[8, [3, 5], 2], [4, 3, [1, 2]]])
    convs = [m for m in encoder.cnn if isinstance(m, nn.Conv2d)]
    assert [(c.kernel_size, c.stride) for c in convs] == [((3, 5), (2, 2)), ((3, 3), (1, 2))]
    assert encoder.linear[0].in_features == 4 * 7 * 6  # 20x30 -> 9x13 -> 7x6
    assert encoder(torch.zeros(2, 4, 20, 30, dtype=torch.uint8)).shape == (2, 512)


def test_an_image_too_small_for_the_filters_is_a_config_error_naming_the_fix():
    space = Box(0, 255, (20, 20, 3), np.uint8)
    with pytest.raises(ConfigError, match=r"observation is a 20x20 image with 3 channels .*channels-last.*too small"
                                          r".*module\.conv_filters"):
        build_encoder(space, conv_filters=[[32, 8, 4], [64, 4, 2], [64, 3, 1]])
    assert "too small" in space_problem(space, [[32, 8, 4], [64, 4, 2], [64, 3, 1]])
    assert space_problem(space) is None, "the default filters adapt to a 20x20 image"


def test_malformed_conv_filters_are_a_config_error():
    with pytest.raises(ConfigError, match=r"module\.conv_filters: each entry is \[out_channels, kernel, stride\]"):
        build_encoder(Box(0, 255, (84, 84, 3), np.uint8), conv_filters=[[32, 8]])


# ---- overrides -----------------------------------------------------------------------------------------------
class SumEncoder(nn.Module):
    """Test encoder: the scaled sum of a Box observation."""

    def __init__(self, observation_space: gym.Space, scale: float = 1.0) -> None:
        super().__init__()
        self.space, self.scale, self.out_dim = observation_space, scale, 1

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.scale * obs.reshape(obs.shape[0], -1).float().sum(-1, keepdim=True)


class NoWidth(nn.Module):
    """Test encoder that forgets its out_dim."""

    def __init__(self, observation_space: gym.Space) -> None:
        super().__init__()


def test_encoder_target_replaces_the_whole_encoder_with_its_kwargs_and_the_space_without_the_mask():
    space = Dict({"obs": Box(-9, 9, (2,)), "action_mask": gym.spaces.MultiBinary(2)})
    encoder = build_encoder(space, encoder={"_target_": "tests.test_catalog.SumEncoder", "scale": 3.0})
    assert isinstance(encoder, SumEncoder) and encoder.scale == 3.0
    assert list(encoder.space.spaces) == ["obs"], "a custom encoder encodes the observation, not its action_mask"


def test_encoders_replaces_one_dict_entrys_encoder():
    space = Dict({"pixels": Box(0, 255, (4, 4, 1), np.uint8), "state": Box(-9, 9, (2,))})
    encoder = build_encoder(space, encoders={"pixels": {"_target_": "tests.test_catalog.SumEncoder"}})
    assert isinstance(encoder.encoders["pixels"], SumEncoder) and isinstance(encoder.encoders["state"], VectorEncoder)
    obs = {"pixels": torch.full((1, 4, 4, 1), 2, dtype=torch.uint8), "state": torch.tensor([[5.0, 6.0]])}
    assert encoder(obs).tolist() == [[32.0, 5.0, 6.0]]


@pytest.mark.parametrize("kwargs, message", [
    ({"encoder": {"_target_": "nowhere.Nothing"}}, r"module\.encoder\._target_=nowhere\.Nothing: cannot import it"),
    ({"encoder": {"_target_": "tests.test_catalog.SumEncoder", "scal": 2}},
     r"module\.encoder\.scal: not an argument of tests\.test_catalog\.SumEncoder; did you mean module\.encoder\.scale"),
    ({"encoder": {"_target_": "builtins.dict"}}, r"builtins\.dict: is not a torch\.nn\.modules\.module\.Module"),
    ({"encoder": {"_target_": "tests.test_catalog.NoWidth"}}, r"must set `self\.out_dim`"),
    ({"encoder": {"scale": 2}}, r"module\.encoder: give the encoder class as \{_target_"),
    ({"encoders": {"pixel": {"_target_": "tests.test_catalog.SumEncoder"}}},
     r"module\.encoders\.pixel: the observation space has no key 'pixel'; its keys: pixels, state"),
    ({"conv_activation": "sigmoid"}, r"module\.conv_activation='sigmoid' is unknown"),
])
def test_bad_overrides_are_config_errors_naming_the_key(kwargs, message):
    space = Dict({"pixels": Box(0, 255, (4, 4, 1), np.uint8), "state": Box(-9, 9, (2,))})
    with pytest.raises(ConfigError, match=message):
        build_encoder(space, **kwargs)


def test_a_module_takes_a_custom_encoder_from_its_kwargs():
    module = ActorCriticModule(Box(-9, 9, (3,)), Discrete(2),
                               encoder={"_target_": "tests.test_catalog.SumEncoder", "scale": 2.0})
    assert isinstance(module.encoder, SumEncoder) and module.pi[0].in_features == 1


# ---- problems ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("space, message", [
    (gym.spaces.Text(5), r"observation is Text\(.*Give module\.encoder=\{_target_: your_pkg\.YourEncoder\}"),
    (Dict({"a": gym.spaces.Sequence(Discrete(2))}), r"observation\['a'\] is Sequence\("),
    (gym.spaces.Graph(Box(-1, 1, (2,)), None), r"observation is Graph\("),
    (Dict({"action_mask": gym.spaces.MultiBinary(2)}), r"holds only 'action_mask'"),
    (Dict({"a": Dict({})}), r"observation\['a'\] is an empty Dict"),
    (Tuple((Box(-1, 1, (2,)), Box(0, 255, (2, 2, 1), np.uint8))),
     r"observation\[1\] is a 2x2 image with 1 channels .*too small.*e\.g\. \[\[16, 2, 1\]\]"),
])
def test_space_problem_names_the_part_and_the_fix(space, message):
    problem = space_problem(space)
    assert problem is not None and re.search(message, problem), problem


@pytest.mark.parametrize("space", [
    Box(-1, 1, (4,)), Discrete(3), Box(0, 255, (84, 84, 4), np.uint8), gym.spaces.MultiBinary([2, 2]),
    Dict({"obs": Box(-1, 1, (4,)), "action_mask": gym.spaces.MultiBinary(2)}),
])
def test_space_problem_is_none_for_what_the_catalog_encodes(space):
    assert space_problem(space) is None


def test_default_modules_report_catalog_problems_through_check_spaces():
    problem = ActorCriticModule.check_spaces(gym.spaces.Text(3), Discrete(2))
    assert problem.startswith("ActorCriticModule: observation is Text(")
    assert "MultiDiscrete" in ActorCriticModule.check_spaces(Box(-1, 1, (2,)), Tuple((Discrete(2), Discrete(2))))
    assert ActorCriticModule.check_spaces(Box(-1, 1, (2,)), gym.spaces.MultiDiscrete([2, 3])) is None


# ---- modules on the catalog ----------------------------------------------------------------------------------
def test_actor_critic_shares_an_image_encoder_between_policy_and_value():
    module = ActorCriticModule(Box(0, 255, (10, 10, 2), np.uint8), Discrete(3), hidden_sizes=[8])
    obs = torch.randint(0, 256, (4, 10, 10, 2), dtype=torch.uint8)
    out = module.forward_train({C.OBS: obs})
    assert out[C.ACTION_DIST_INPUTS].shape == (4, 3) and out[C.VF_PREDS].shape == (4,)
    conv = module.encoder.cnn[0].weight
    (from_value,) = torch.autograd.grad(out[C.VF_PREDS].sum(), conv, retain_graph=True)
    (from_policy,) = torch.autograd.grad(out[C.ACTION_DIST_INPUTS].sum(), conv)
    assert from_value.abs().sum() > 0 and from_policy.abs().sum() > 0, "both heads train the shared encoder"
    assert torch.allclose(module.compute_values(obs), out[C.VF_PREDS])


def test_multidiscrete_actions_get_a_multicategorical_over_sum_of_nvec_logits():
    module = ActorCriticModule(Box(-1, 1, (3,)), gym.spaces.MultiDiscrete([3, 2]))
    inputs = module.forward_inference({C.OBS: torch.randn(5, 3)})[C.ACTION_DIST_INPUTS]
    assert inputs.shape == (5, 5)
    dist = module.action_dist_cls().from_inputs(inputs)
    actions = dist.sample()
    assert actions.shape == (5, 2) and actions.dtype == torch.int64
    assert (actions[:, 0] < 3).all() and (actions[:, 1] < 2).all()


def test_dqn_target_network_copies_the_image_encoder():
    module = DQNModule(Box(0, 255, (10, 10, 2), np.uint8), Discrete(3))
    (online, target), = module.target_network_pairs()
    names = [n for n, _ in online.named_parameters()]
    assert any(n.startswith("encoder.cnn") for n in names)
    assert names == [n for n, _ in target.named_parameters()]
    obs = torch.randint(0, 256, (2, 10, 10, 2), dtype=torch.uint8)
    assert torch.equal(module.compute_q_values(obs), module.compute_target_q_values(obs))


@pytest.mark.parametrize("cls", [SACModule, TD3Module])
def test_actor_and_critics_have_encoders_of_their_own(cls):
    space = Dict({"pixels": Box(0, 255, (10, 10, 1), np.uint8), "state": Box(-1, 1, (2,))})
    module = cls(space, Box(-1, 1, (2,)), hidden_sizes=[8])
    assert module.actor_encoder is not module.critic.encoder
    actor = {id(p) for p in module.actor_parameters()}
    critic = {id(p) for p in module.critic_parameters()}
    assert not actor & critic, "SB3's share_features_extractor=False: no parameter in both"
    assert {id(p) for p in module.actor_encoder.parameters()} <= actor
    assert {id(p) for p in module.critic.encoder.parameters()} <= critic
    targets = {id(p) for _, target in module.target_network_pairs() for p in target.parameters()}
    assert all(id(p) in targets for p in module.critic_target.encoder.parameters())
    obs = {"pixels": torch.zeros(3, 10, 10, 1, dtype=torch.uint8), "state": torch.zeros(3, 2)}
    q1, q2 = module.compute_q_values(obs, torch.zeros(3, 2))
    assert q1.shape == q2.shape == (3,)


# ---- MultiCategorical ----------------------------------------------------------------------------------------
def test_multicategorical_logp_and_entropy_are_sums_over_components():
    nvec = (3, 2, 4)
    logits = torch.randn(6, sum(nvec), generator=torch.Generator().manual_seed(0))
    dist = MultiCategorical.with_nvec(nvec).from_inputs(logits)
    parts = [torch.distributions.Categorical(logits=p) for p in logits.split(nvec, -1)]
    actions = torch.stack([p.sample() for p in parts], -1)
    expected_logp = sum(p.log_prob(actions[:, i]) for i, p in enumerate(parts))
    expected_entropy = sum(p.entropy() for p in parts)
    assert torch.allclose(dist.logp(actions), expected_logp, atol=1e-6)
    assert torch.allclose(dist.entropy(), expected_entropy, atol=1e-6)
    greedy = dist.deterministic_sample()
    assert torch.equal(greedy, torch.stack([p.argmax(-1) for p in logits.split(nvec, -1)], -1))


def test_multicategorical_samples_follow_each_components_probabilities():
    torch.manual_seed(0)
    logits = torch.log(torch.tensor([[0.7, 0.2, 0.1, 0.25, 0.75]])).expand(20000, 5)
    samples = MultiCategorical.with_nvec([3, 2]).from_inputs(logits).sample()
    first = torch.bincount(samples[:, 0], minlength=3).float() / 20000
    second = torch.bincount(samples[:, 1], minlength=2).float() / 20000
    assert torch.allclose(first, torch.tensor([0.7, 0.2, 0.1]), atol=0.015), first
    assert torch.allclose(second, torch.tensor([0.25, 0.75]), atol=0.015), second


def test_with_nvec_gives_one_class_per_nvec():
    assert MultiCategorical.with_nvec([3, 2]) is MultiCategorical.with_nvec((3, 2))
    assert MultiCategorical.with_nvec([3, 2]).nvec == (3, 2) != MultiCategorical.with_nvec([2, 3]).nvec


# ---- through an algorithm ------------------------------------------------------------------------------------
class MultiDiscreteEnv(gym.Env):
    """Test env: a MinAtar-sized uint8 image, MultiDiscrete([3, 2]) actions; reward 1 when the action is (2, 1)."""

    def __init__(self) -> None:
        self.observation_space = Box(0, 255, (10, 10, 2), np.uint8)
        self.action_space = gym.spaces.MultiDiscrete([3, 2])
        self.t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self.np_random.integers(0, 256, (10, 10, 2), dtype=np.uint8), {}

    def step(self, action):
        assert np.shape(action) == (2,) and 0 <= action[0] < 3 and 0 <= action[1] < 2, action
        self.t += 1
        obs = self.np_random.integers(0, 256, (10, 10, 2), dtype=np.uint8)
        return obs, float(tuple(action) == (2, 1)), False, self.t >= 5, {}


@pytest.mark.parametrize("env", ["tests.structured_envs:DictImageEnv", "tests.test_catalog:MultiDiscreteEnv"])
def test_ppo_trains_an_iteration_on_images_dicts_and_multidiscrete_actions(env):
    config = (PPOConfig().environment(env).training(train_batch_size=32, minibatch_size=16, num_epochs=1)
              .rl_module(model_config={"hidden_sizes": [8]}).env_runners(num_envs_per_env_runner=2)
              .evaluation(interval=0, final=False).debugging(seed=0))
    with config.build() as algo:
        before = [p.detach().clone() for p in algo.learner.raw_module.encoder.parameters()]
        result = algo.train()
        after = list(algo.learner.raw_module.encoder.parameters())
    assert result["env_steps"] == 32
    assert any(not torch.equal(a, b) for a, b in zip(before, after)), "the image encoder must train"


class DictPixelsEnv(gym.Env):
    """Test env: Dict of a uint8 image and a vector; Box or Discrete actions; reward -|action - 0.5|."""

    def __init__(self, discrete: bool = False) -> None:
        self.observation_space = Dict({"pixels": Box(0, 255, (8, 8, 1), np.uint8), "state": Box(-1, 1, (2,))})
        self.action_space = Discrete(2) if discrete else Box(-1, 1, (2,))
        self.t = 0

    def _obs(self):
        return {"pixels": self.np_random.integers(0, 256, (8, 8, 1), dtype=np.uint8),
                "state": self.np_random.uniform(-1, 1, 2).astype(np.float32)}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {}

    def step(self, action):
        self.t += 1
        return self._obs(), -float(np.abs(np.asarray(action) - 0.5).sum()), False, self.t >= 5, {}


@pytest.mark.parametrize("algorithm", ["dqn", "sac", "td3"])
def test_off_policy_algorithms_train_on_dict_observations_with_images(algorithm):
    builder = {"dqn": DQNConfig, "sac": SACConfig, "td3": TD3Config}[algorithm]
    config = (builder().environment("tests.test_catalog:DictPixelsEnv", env_config={"discrete": algorithm == "dqn"})
              .training(train_batch_size=32, learning_starts=16, minibatch_size=8)
              .rl_module(model_config={"hidden_sizes": [8]}).env_runners(num_envs_per_env_runner=2)
              .evaluation(interval=0, final=False).debugging(seed=0))
    with config.build() as algo:
        module = algo.learner.raw_module
        encoders = [module.q.encoder] if algorithm == "dqn" else [module.actor_encoder, module.critic.encoder]
        before = [[p.detach().clone() for p in e.parameters()] for e in encoders]
        result = algo.train()
    assert result["env_steps"] == 32
    for encoder, old in zip(encoders, before):
        assert any(not torch.equal(a, b) for a, b in zip(old, encoder.parameters())), "every encoder must train"
