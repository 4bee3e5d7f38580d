"""Action masking in the default modules (an `action_mask` observation key, PettingZoo's convention), and the flat
vector path unchanged by the catalog."""
from __future__ import annotations

import re
from typing import Any, Dict, Sequence, Tuple

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

from rlhydra import DQNConfig, PPOConfig
from rlhydra.algorithms.dqn.learner import DQNLearner
from rlhydra.algorithms.dqn.module import DQNModule
from rlhydra.algorithms.ppo.learner import PPOLearner
from rlhydra.algorithms.ppo.module import PPOModule
from rlhydra.algorithms.sac.module import SACModule
from rlhydra.algorithms.td3.module import TD3Module
from rlhydra.data import columns as C
from rlhydra.models.actor_critic import ActorCriticModule
from rlhydra.models.catalog import mask_logits
from rlhydra.models.distributions import Categorical
from rlhydra.models.mlp import flat_dim, mlp

N_ACTIONS = 4
SPACE = gym.spaces.Dict({"obs": gym.spaces.Box(-1.0, 1.0, (3,)), "action_mask": gym.spaces.MultiBinary(N_ACTIONS)})
MASKS = [[1, 0, 1, 0], [0, 0, 0, 1], [1, 1, 1, 1], [0, 1, 1, 0]]
PREFERENCE = [0.0, 10.0, 5.0, 9.0]  # logits / Q-values of every state: the illegal actions are the preferred ones
BEST_LEGAL = [2, 3, 1, 1]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def masked_obs(repeat: int = 1, masks: Sequence[Sequence[int]] = MASKS) -> dict:
    n = len(masks) * repeat
    return {"obs": torch.randn(n, 3, generator=torch.Generator().manual_seed(0)),
            "action_mask": torch.tensor(masks, dtype=torch.int8).repeat(repeat, 1)}


def set_output(layer: nn.Linear, values: Sequence[float]) -> None:
    """The layer outputs `values` whatever its input."""
    with torch.no_grad():
        layer.weight.zero_()
        layer.bias.copy_(torch.tensor(values))


def legal(obs: dict) -> torch.Tensor:
    return obs["action_mask"].bool()


# ---- PPO / A2C -------------------------------------------------------------------------------------------------
def masked_actor_critic() -> ActorCriticModule:
    module = PPOModule(SPACE, gym.spaces.Discrete(N_ACTIONS), hidden_sizes=[8])
    set_output(module.pi[-1], PREFERENCE)
    return module


@pytest.mark.parametrize("forward", ["forward_inference", "forward_exploration", "forward_train"])
def test_sampled_actions_are_always_legal_in_every_forward_pass(forward):
    torch.manual_seed(0)
    obs = masked_obs(repeat=500)
    inputs = getattr(masked_actor_critic(), forward)({C.OBS: obs})[C.ACTION_DIST_INPUTS]
    actions = Categorical.from_inputs(inputs).sample()
    chosen = legal(obs).gather(1, actions[:, None])[:, 0]
    assert chosen.all(), f"{int((~chosen).sum())} of {len(actions)} sampled actions were masked out"
    for row, mask in enumerate(MASKS):  # every legal action still gets sampled where it is not hopeless
        seen = set(actions[row::len(MASKS)].tolist())
        assert seen <= {a for a, m in enumerate(mask) if m}


def test_greedy_actions_are_the_best_legal_ones():
    inputs = masked_actor_critic().forward_inference({C.OBS: masked_obs()})[C.ACTION_DIST_INPUTS]
    assert Categorical.from_inputs(inputs).deterministic_sample().tolist() == BEST_LEGAL


def test_logp_and_entropy_are_those_of_the_distribution_over_legal_actions_and_finite():
    obs = masked_obs()
    inputs = masked_actor_critic().forward_train({C.OBS: obs})[C.ACTION_DIST_INPUTS]
    dist = Categorical.from_inputs(inputs)
    entropy = dist.entropy()
    assert torch.isfinite(entropy).all(), f"entropy with masked actions must be finite, got {entropy.tolist()}"
    for row, mask in enumerate(MASKS):
        allowed = [a for a, m in enumerate(mask) if m]
        ref = torch.distributions.Categorical(logits=torch.tensor(PREFERENCE)[allowed])
        assert entropy[row].item() == pytest.approx(ref.entropy().item(), abs=1e-5)
        for i, a in enumerate(allowed):
            assert dist.logits[row, a].item() == pytest.approx(ref.logits[i].item(), abs=1e-5)


def test_a_mask_with_no_legal_action_counts_as_all_legal_without_nan():
    inputs = masked_actor_critic().forward_train({C.OBS: masked_obs(masks=[[0, 0, 0, 0]])})[C.ACTION_DIST_INPUTS]
    dist = Categorical.from_inputs(inputs)
    ref = torch.distributions.Categorical(logits=torch.tensor(PREFERENCE))
    assert torch.isfinite(dist.logits).all() and dist.entropy()[0].item() == pytest.approx(ref.entropy().item(), 1e-5)


def test_a_float_box_mask_works_as_a_multibinary_one():
    space = gym.spaces.Dict({"obs": gym.spaces.Box(-1, 1, (3,)), "action_mask": gym.spaces.Box(0.0, 1.0, (4,))})
    assert PPOModule.check_spaces(space, gym.spaces.Discrete(4)) is None
    logits = mask_logits(torch.tensor([PREFERENCE]), torch.tensor([[1.0, 0.0, 1.0, 0.0]]))
    assert logits.argmax(-1).item() == 2 and logits[0, 1].item() == torch.finfo(torch.float32).min


def test_the_ppo_loss_and_its_gradients_are_finite_with_masked_actions():
    config = (PPOConfig().environment("CartPole-v1").training(entropy_coeff=0.01, vf_clip_param=None)
              .debugging(seed=0).to_config())
    module = masked_actor_critic()
    learner = PPOLearner(config, module)
    obs = masked_obs(repeat=4)
    with torch.no_grad():
        dist = Categorical.from_inputs(module.forward_exploration({C.OBS: obs})[C.ACTION_DIST_INPUTS])
        actions, logp = dist.sample_and_logp()
    mb = {C.OBS: obs, C.ACTIONS: actions, C.ACTION_LOGP: logp - 0.1, C.ADVANTAGES: torch.randn(len(actions)),
          C.VF_PREDS: torch.zeros(len(actions)), C.VALUE_TARGETS: torch.ones(len(actions))}
    loss, stats = learner.loss(mb, 0.2)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(stats).all(), stats
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


# ---- DQN -----------------------------------------------------------------------------------------------------
def masked_dqn() -> DQNModule:
    module = DQNModule(SPACE, gym.spaces.Discrete(N_ACTIONS), hidden_sizes=[])
    set_output(module.q.net[-1], PREFERENCE)
    set_output(module.q_target.net[-1], [7.0, 1.0, -3.0, 6.0])
    return module


def test_dqn_greedy_actions_are_the_best_legal_ones():
    module = masked_dqn()
    assert module.forward_inference({C.OBS: masked_obs()})[C.ACTIONS].tolist() == BEST_LEGAL
    module.set_epsilon(0.0)
    assert module.forward_exploration({C.OBS: masked_obs()})[C.ACTIONS].tolist() == BEST_LEGAL


def test_dqn_random_actions_are_uniform_over_the_legal_ones():
    torch.manual_seed(0)
    module = masked_dqn()
    module.set_epsilon(1.0)
    repeat = 3000
    actions = module.forward_exploration({C.OBS: masked_obs(repeat=repeat)})[C.ACTIONS]
    for row, mask in enumerate(MASKS):
        counts = torch.bincount(actions[row::len(MASKS)], minlength=N_ACTIONS).float() / repeat
        expected = torch.tensor(mask, dtype=torch.float32) / sum(mask)
        assert torch.allclose(counts, expected, atol=0.04), f"mask {mask}: frequencies {counts.tolist()}"


def test_dqn_bootstraps_from_legal_next_actions_only():
    module = masked_dqn()
    obs = masked_obs()
    target = module.compute_target_q_values(obs)
    assert target.max(-1).values.tolist() == [7.0, 6.0, 7.0, 1.0], "max over legal actions of [7, 1, -3, 6]"
    assert module.compute_q_values(obs).argmax(-1).tolist() == BEST_LEGAL
    assert module.forward_train({C.OBS: obs})[C.Q_VALUES].tolist() == [PREFERENCE] * 4, (
        "the taken action's own Q-value is never masked")


@pytest.mark.parametrize("double_q, next_values", [(False, [7.0, 6.0, 7.0, 1.0]), (True, [-3.0, 6.0, 1.0, 1.0])])
def test_the_dqn_learners_targets_are_over_legal_next_actions(double_q, next_values):
    config = (DQNConfig().environment("CartPole-v1").training(gamma=0.5, grad_clip=None, double_q=double_q)
              .to_config())
    module = masked_dqn()
    learner = DQNLearner(config, module)
    obs = masked_obs()
    batch = {C.OBS: obs, C.ACTIONS: torch.tensor(BEST_LEGAL), C.REWARDS: torch.ones(4), C.NEXT_OBS: obs,
             C.TERMINATED: torch.zeros(4), C.DISCOUNTS: torch.full((4,), 0.5), C.WEIGHTS: torch.ones(4)}
    q_taken = torch.tensor(PREFERENCE)[BEST_LEGAL]
    out = learner.update(batch, 0.0)
    expected = q_taken - (1.0 + 0.5 * torch.tensor(next_values))
    assert torch.allclose(out[C.TD_ERRORS], expected), f"{out[C.TD_ERRORS].tolist()} != {expected.tolist()}"


# ---- validation ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls, mask, actions, message", [
    (PPOModule, gym.spaces.MultiBinary(3), gym.spaces.Discrete(4), "has 3 entries but the action space has 4"),
    (PPOModule, gym.spaces.MultiBinary(2), gym.spaces.Box(-1, 1, (2,)), "masks Discrete actions"),
    (SACModule, gym.spaces.MultiBinary(2), gym.spaces.Box(-1, 1, (2,)), "masks Discrete actions"),
    (DQNModule, gym.spaces.Box(0, 5, (4,)), gym.spaces.Discrete(4), "must be MultiBinary\\(n\\) or Box\\(0, 1"),
])
def test_a_mask_that_does_not_fit_the_actions_is_refused(cls, mask, actions, message):
    space = gym.spaces.Dict({"obs": gym.spaces.Box(-1, 1, (3,)), "action_mask": mask})
    problem = cls.check_spaces(space, actions)
    assert problem is not None and re.search(message, problem), problem


# ---- the flat vector path is what it was -----------------------------------------------------------------------
class MainActorCritic(nn.Module):
    """rlhydra.models.actor_critic.ActorCriticModule before the catalog (main at 35e2d64), its layers and forward."""

    def __init__(self, observation_space: gym.Space, action_space: gym.Space) -> None:
        super().__init__()
        in_dim = flat_dim(observation_space)
        self.discrete = isinstance(action_space, gym.spaces.Discrete)
        out_dim = int(action_space.n) if self.discrete else int(action_space.shape[0])
        self.pi = mlp(in_dim, (64, 64), out_dim, "tanh", out_gain=0.01, ortho_init=True)
        self.vf = mlp(in_dim, (64, 64), 1, "tanh", out_gain=1.0, ortho_init=True)
        self.log_std = None if self.discrete else nn.Parameter(torch.full((out_dim,), 0.0))

    def forward(self, obs: torch.Tensor):
        out = self.pi(obs)
        inputs = out if self.discrete else torch.cat([out, self.log_std.expand_as(out)], dim=-1)
        return inputs, self.vf(obs).squeeze(-1)


@pytest.mark.parametrize("action_space", [gym.spaces.Discrete(3), gym.spaces.Box(-1, 1, (2,))])
def test_flat_vector_actor_critic_is_unchanged_by_the_catalog(action_space):
    space = gym.spaces.Box(-np.inf, np.inf, (5,))
    torch.manual_seed(7)
    old = MainActorCritic(space, action_space)
    torch.manual_seed(7)
    new = ActorCriticModule(space, action_space)
    assert list(new.state_dict()) == list(old.state_dict()), "parameter names (checkpoints) must not change"
    assert all(torch.equal(a, b) for a, b in zip(new.state_dict().values(), old.state_dict().values()))
    obs = torch.randn(6, 5)
    inputs, values = old(obs)
    out = new.forward_train({C.OBS: obs})
    assert torch.equal(out[C.ACTION_DIST_INPUTS], inputs) and torch.equal(out[C.VF_PREDS], values)
    assert torch.equal(new.compute_values(obs), values)


@pytest.mark.parametrize("cls, expected", [
    (DQNModule, ["q.net.0.weight", "q.net.0.bias", "q.net.2.weight", "q.net.2.bias",
                 "q_target.net.0.weight", "q_target.net.0.bias", "q_target.net.2.weight", "q_target.net.2.bias",
                 "epsilon"]),
    (SACModule, ["actor.0.weight", "actor.0.bias", "actor.2.weight", "actor.2.bias",
                 *[f"{c}.{q}.{i}.{w}" for c in ("critic", "critic_target") for q in ("q1", "q2") for i in (0, 2)
                   for w in ("weight", "bias")]]),
    (TD3Module, [*[f"{a}.{i}.{w}" for a in ("actor", "actor_target") for i in (0, 2) for w in ("weight", "bias")],
                 *[f"{c}.{q}.{i}.{w}" for c in ("critic", "critic_target") for q in ("q1", "q2") for i in (0, 2)
                   for w in ("weight", "bias")]]),
])
def test_flat_vector_off_policy_modules_keep_their_parameter_names(cls, expected):
    action_space = gym.spaces.Discrete(2) if cls is DQNModule else gym.spaces.Box(-1, 1, (2,))
    module = cls(gym.spaces.Box(-1, 1, (3,)), action_space, hidden_sizes=[8])
    assert sorted(module.state_dict()) == sorted(expected)


# ---- end to end ----------------------------------------------------------------------------------------------
class MaskedChoiceEnv(gym.Env):
    """Each step shows a target action (one-hot) and the legal actions (the target and a random half of the others);
    reward 1 for the target, 0 for another legal action; an illegal action ends the episode with reward -1."""

    illegal_actions = 0  # over every instance in this process (the tests sample in-process)

    def __init__(self, episode_length: int = 10) -> None:
        self.observation_space = gym.spaces.Dict({"obs": gym.spaces.Box(0.0, 1.0, (N_ACTIONS,)),
                                                  "action_mask": gym.spaces.MultiBinary(N_ACTIONS)})
        self.action_space = gym.spaces.Discrete(N_ACTIONS)
        self.episode_length = episode_length

    def _obs(self) -> Dict[str, np.ndarray]:
        self.target = int(self.np_random.integers(N_ACTIONS))
        self.mask = self.np_random.integers(0, 2, N_ACTIONS).astype(np.int8)
        self.mask[self.target] = 1
        return {"obs": np.eye(N_ACTIONS, dtype=np.float32)[self.target], "action_mask": self.mask.copy()}

    def reset(self, *, seed: int | None = None, options: Any = None) -> Tuple[Dict[str, np.ndarray], Dict]:
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {}

    def step(self, action: int) -> Tuple[Dict[str, np.ndarray], float, bool, bool, Dict]:
        if not self.mask[action]:
            type(self).illegal_actions += 1
            return self._obs(), -1.0, True, False, {}
        reward = float(action == self.target)
        self.t += 1
        return self._obs(), reward, False, self.t >= self.episode_length, {}


RANDOM_LEGAL_RETURN = 10 * (1 / 8 * 1 + 3 / 8 / 2 + 3 / 8 / 3 + 1 / 8 / 4)  # 4.69: a uniform legal choice per step


def train_masked(config: Any, iterations: int) -> float:
    """Train, then the greedy evaluation return; no illegal action may be taken meanwhile."""
    MaskedChoiceEnv.illegal_actions = 0
    with config.build() as algo:
        for _ in range(iterations):
            algo.train()
        returns = algo.evaluate()["eval/episode_return_mean"]
    assert MaskedChoiceEnv.illegal_actions == 0, f"{MaskedChoiceEnv.illegal_actions} illegal actions were taken"
    return returns


@pytest.mark.slow
def test_ppo_learns_a_masked_env_without_an_illegal_action():
    config = (PPOConfig().environment("tests.test_action_masking:MaskedChoiceEnv")
              .training(train_batch_size=256, minibatch_size=64, num_epochs=4, lr=3e-3)
              .env_runners(num_envs_per_env_runner=4).evaluation(interval=0, episodes=10, final=False)
              .debugging(seed=0))
    returns = train_masked(config, iterations=15)
    assert returns >= 9.0, (f"greedy return {returns:.2f} after 3840 env steps (required 9); random legal play "
                            f"gets {RANDOM_LEGAL_RETURN:.2f}")


@pytest.mark.slow
def test_dqn_learns_a_masked_env_without_an_illegal_action():
    config = (DQNConfig().environment("tests.test_action_masking:MaskedChoiceEnv")
              .training(train_batch_size=256, learning_starts=256, minibatch_size=32, train_freq=1, lr=1e-3,
                        gamma=0.5, target_update_interval=100, exploration_fraction=0.3)
              .stopping(total_steps=4096).rl_module(model_config={"hidden_sizes": [32]})
              .env_runners(num_envs_per_env_runner=4).evaluation(interval=0, episodes=10, final=False)
              .debugging(seed=0))
    returns = train_masked(config, iterations=16)
    assert returns >= 9.0, (f"greedy return {returns:.2f} after 4096 env steps (required 9); random legal play "
                            f"gets {RANDOM_LEGAL_RETURN:.2f}")
