"""DQN loss-level tests against hand-computed references: TD target, double Q, PER, dueling, epsilon, n-step."""
from __future__ import annotations

import copy
from typing import Dict, List

import gymnasium as gym
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rlhydra import DQNConfig
from rlhydra.algorithms.dqn.learner import DQNLearner
from rlhydra.algorithms.dqn.module import DQNModule, QNetwork
from rlhydra.data import columns as C

# ---- a tabular DQN: one linear layer on one-hot states, so Q(s, .) is a row of a table written out below --------
NUM_STATES, NUM_ACTIONS = 4, 3
ONLINE = torch.tensor([[1.0, 2.0, 0.5],     # argmax 1, argmin 2
                       [0.0, 3.0, -1.0],    # argmax 1, argmin 2
                       [2.0, -0.5, 1.5],    # argmax 0, argmin 1
                       [-1.0, 0.25, 4.0]])  # argmax 2, argmin 0
TARGET = torch.tensor([[0.5, 1.0, 4.0],     # argmax 2
                       [5.0, 2.0, -4.0],    # argmax 0
                       [-2.0, 1.0, 3.0],    # argmax 2
                       [1.5, -3.0, 0.0]])   # argmax 0: the target net never agrees with the online one
GAMMA = 0.7  # config gamma; the batch's per-sample `discounts` differ from it and must win

STATES = [0, 1, 2, 3, 0, 2]
ACTIONS = [2, 0, 1, 2, 0, 1]
NEXT_STATES = [1, 3, 2, 1, 2, 0]
REWARDS = [1.0, -0.5, 0.25, 2.0, 0.0, 1.0]
TERMINATED = [0.0, 0.0, 0.0, 1.0, 0.0, 0.0]
DISCOUNTS = [0.9, 0.5, 0.729, 0.9, 0.81, 0.25]  # n-step gamma^k per sample
WEIGHTS = [1.0, 0.2, 0.5, 1.5, 0.1, 0.8]  # PER importance weights

# Worked by hand from the tables: Q(s, a) = ONLINE[s, a].
Q_TAKEN = [0.5, 0.0, -0.5, 4.0, 1.0, -0.5]
# r + d * (1 - done) * max_a TARGET[s', a]; maxima 5, 1.5, 3, (5, masked), 3, 4.
VANILLA_TARGETS = [5.5, 0.25, 2.437, 2.0, 2.43, 2.0]
# r + d * (1 - done) * TARGET[s', argmax_a ONLINE[s', a]]; values 2, 0, -2, (2, masked), -2, 1.
DOUBLE_TARGETS = [2.8, -0.5, -1.208, 2.0, -1.62, 1.25]


def t(values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32)


def huber(x: torch.Tensor) -> torch.Tensor:
    """Smooth L1 with beta=1 (SB3's DQN loss), written out."""
    return torch.where(x.abs() < 1.0, 0.5 * x**2, x.abs() - 0.5)


def one_hot(states) -> torch.Tensor:
    return F.one_hot(torch.as_tensor(states), NUM_STATES).float()


def set_table(net: QNetwork, table: torch.Tensor) -> None:
    (layer,) = net.net
    with torch.no_grad():
        layer.weight.copy_(table.T)
        layer.bias.zero_()


def table_of(net: QNetwork) -> torch.Tensor:
    with torch.no_grad():
        return net(torch.eye(NUM_STATES))


def tabular_learner(**training) -> DQNLearner:
    """A DQNLearner on a tabular module whose online net holds ONLINE and target net holds TARGET."""
    hp = {"gamma": GAMMA, "lr": 0.01, "grad_clip": None, "target_update_interval": 10, "tau": 1.0, **training}
    config = DQNConfig().environment("CartPole-v1").training(**hp).to_config()
    module = DQNModule(gym.spaces.Box(0.0, 1.0, (NUM_STATES,)), gym.spaces.Discrete(NUM_ACTIONS), hidden_sizes=[])
    learner = DQNLearner(config, module)
    set_table(module.q, ONLINE)
    set_table(module.q_target, TARGET)
    return learner


def table_batch(weights=None) -> Dict[str, torch.Tensor]:
    return {
        C.OBS: one_hot(STATES), C.ACTIONS: torch.tensor(ACTIONS), C.REWARDS: t(REWARDS),
        C.NEXT_OBS: one_hot(NEXT_STATES), C.TERMINATED: t(TERMINATED), "discounts": t(DISCOUNTS),
        "weights": t(weights if weights is not None else [1.0] * len(STATES)),
        "indices": torch.arange(len(STATES)),
    }


def tiny_dqn(**training) -> DQNConfig:
    return (DQNConfig().environment("CartPole-v1")
            .training(**{"train_batch_size": 64, "learning_starts": 32, "minibatch_size": 16,
                         "target_update_interval": 50, **training})
            .rl_module(model_config={"hidden_sizes": [16, 16]}).env_runners(num_envs_per_env_runner=2)
            .evaluation(interval=0, final=False).debugging(seed=0))


def reference_td(module: DQNModule, batch: Dict[str, torch.Tensor], double_q: bool) -> torch.Tensor:
    """q - target in plain torch from the module's current nets (the targets of the DQN / Double DQN papers)."""
    with torch.no_grad():
        q = module.q(batch[C.OBS]).gather(1, batch[C.ACTIONS].long()[:, None])[:, 0]
        next_target = module.q_target(batch[C.NEXT_OBS])
        if double_q:
            best = module.q(batch[C.NEXT_OBS]).argmax(1, keepdim=True)
            next_v = next_target.gather(1, best)[:, 0]
        else:
            next_v = next_target.max(1).values
        target = batch[C.REWARDS] + batch["discounts"] * (1 - batch[C.TERMINATED]) * next_v
        return q - target


# ---- the TD target -------------------------------------------------------------------------------------------
def test_vanilla_target_is_reward_plus_discounted_max_of_the_target_net_masked_at_terminals():
    learner = tabular_learner(double_q=False)
    out = learner.update(table_batch(), 0.0)
    expected_td = t(Q_TAKEN) - t(VANILLA_TARGETS)
    assert torch.allclose(out["td_errors"], expected_td, atol=1e-5), (
        f"td_errors {out['td_errors'].tolist()} != q - (r + discount * (1 - terminated) * max_a Q_target(s', a)) "
        f"= {expected_td.tolist()} (which net, max vs min, terminal mask, per-sample discounts?)")
    assert out["loss"].item() == pytest.approx(huber(expected_td).mean().item(), rel=1e-5)
    assert out["q_mean"].item() == pytest.approx(sum(Q_TAKEN) / len(Q_TAKEN), rel=1e-5)


def test_td_errors_are_prediction_minus_target():
    learner = tabular_learner()
    batch = table_batch()
    batch[C.REWARDS] = batch[C.REWARDS] + 100.0  # targets far above every Q value
    td = learner.update(batch, 0.0)["td_errors"]
    assert torch.all(td < -90), f"td_errors must be q - target (negative when the target is higher): {td.tolist()}"


def test_terminal_samples_bootstrap_nothing_and_discounts_come_from_the_batch_not_gamma():
    learner = tabular_learner()
    batch = table_batch()
    batch[C.TERMINATED] = torch.ones(len(STATES))
    td = learner.update(batch, 0.0)["td_errors"]
    assert torch.allclose(td, t(Q_TAKEN) - t(REWARDS), atol=1e-6), "terminated: target = reward alone"

    learner = tabular_learner()
    batch = table_batch()
    batch["discounts"] = torch.zeros(len(STATES))
    td = learner.update(batch, 0.0)["td_errors"]
    assert torch.allclose(td, t(Q_TAKEN) - t(REWARDS), atol=1e-6), "discounts=0: nothing bootstrapped, gamma unused"


def test_double_q_picks_the_next_action_with_the_online_net_and_values_it_with_the_target():
    # The tables make each wrong reading give another number: argmin online, argmax target, online values.
    assert not torch.equal(ONLINE.argmax(1), TARGET.argmax(1))
    assert not torch.equal(ONLINE.argmax(1), ONLINE.argmin(1))
    learner = tabular_learner(double_q=True)
    td = learner.update(table_batch(), 0.0)["td_errors"]
    expected_td = t(Q_TAKEN) - t(DOUBLE_TARGETS)
    assert torch.allclose(td, expected_td, atol=1e-5), (
        f"double Q td_errors {td.tolist()} != q - (r + d * Q_target(s', argmax_a Q_online(s', a))) = "
        f"{expected_td.tolist()}")


def test_double_q_switch_changes_the_target():
    vanilla = tabular_learner(double_q=False).update(table_batch(), 0.0)["td_errors"]
    double = tabular_learner(double_q=True).update(table_batch(), 0.0)["td_errors"]
    assert (vanilla - double).abs().max() > 1.0, "double_q=True and False gave the same targets"


def test_the_online_net_predicts_and_the_target_net_is_left_alone_by_the_update():
    learner = tabular_learner()
    learner.raw_module.q_target.net[0].bias.data += 0.5  # a target net that would show up in q if used there
    target_before = copy.deepcopy(learner.raw_module.q_target.state_dict())
    td = learner.update(table_batch(), 0.0)["td_errors"]
    expected = t(Q_TAKEN) - (t(VANILLA_TARGETS) + t(DISCOUNTS) * (1 - t(TERMINATED)) * 0.5)
    assert torch.allclose(td, expected, atol=1e-5)
    for key, value in learner.raw_module.q_target.state_dict().items():
        assert torch.equal(value, target_before[key]), f"the gradient step changed q_target.{key}"
    assert not torch.equal(table_of(learner.raw_module.q), ONLINE), "the gradient step left the online net as it was"


# ---- the loss, its gradient and the optimizer step -------------------------------------------------------------
def test_loss_is_the_mean_of_per_weighted_huber_terms():
    learner = tabular_learner()
    out = learner.update(table_batch(WEIGHTS), 0.0)
    td = t(Q_TAKEN) - t(VANILLA_TARGETS)  # both |td| < 1 and > 1 occur, so the Huber kink matters
    expected = (t(WEIGHTS) * huber(td)).mean().item()
    unweighted = huber(td).mean().item()
    assert abs(expected - unweighted) > 0.1  # the weights matter on this batch
    assert out["loss"].item() == pytest.approx(expected, rel=1e-5), (
        f"loss {out['loss'].item()} != mean(weights * smooth_l1(q, target)) = {expected} "
        f"(unweighted would be {unweighted})")
    # the weights scale the loss but not the TD errors that become priorities
    assert torch.allclose(out["td_errors"], td, atol=1e-5)


def test_zero_weight_samples_do_not_contribute_to_the_loss_or_the_gradient():
    learner = tabular_learner()
    weights = [0.0, 0.0, 0.0, 1.0, 0.0, 0.0]  # only sample 3: state 3, action 2, td = 2
    out = learner.update(table_batch(weights), 0.0)
    assert out["loss"].item() == pytest.approx((2.0 - 0.5) / len(STATES), rel=1e-5)
    grad = learner.raw_module.q.net[0].weight.grad  # [actions, states]
    nonzero = grad.abs() > 0
    assert nonzero.sum() == 1 and nonzero[2, 3], f"only Q(3, 2) may get a gradient: {grad}"
    assert grad[2, 3].item() == pytest.approx(1.0 / len(STATES)), "d/dq of huber at td=2 is 1, over a mean of 6"


@pytest.mark.parametrize("double_q", [False, True])
@pytest.mark.parametrize("grad_clip", [None, 0.05])
def test_updates_take_adam_steps_on_the_online_net_with_the_clipped_gradient(double_q, grad_clip):
    learner = tabular_learner(double_q=double_q, grad_clip=grad_clip, lr=0.01)
    targets = t(DOUBLE_TARGETS if double_q else VANILLA_TARGETS)  # steps of 0.01 keep the tables' argmaxes
    reference = copy.deepcopy(learner.raw_module.q)
    optimizer = torch.optim.Adam(reference.parameters(), lr=0.01)
    online = learner.raw_module.q
    for step in range(2):  # the second step shows that gradients do not accumulate across updates
        optimizer.zero_grad()
        q = reference(one_hot(STATES)).gather(1, torch.tensor(ACTIONS)[:, None])[:, 0]
        (t(WEIGHTS) * huber(q - targets)).mean().backward()
        norm = torch.sqrt(sum(p.grad.pow(2).sum() for p in reference.parameters()))
        if grad_clip is not None:
            assert norm > 2 * grad_clip  # the clip is active on this batch
            for p in reference.parameters():
                p.grad.mul_(grad_clip / (norm + 1e-6))
        optimizer.step()

        learner.update(table_batch(WEIGHTS), 0.0)
        grads = [p.grad for p in online.parameters()]
        got_norm = torch.sqrt(sum(g.pow(2).sum() for g in grads))
        if grad_clip is not None:
            assert got_norm.item() == pytest.approx(grad_clip, rel=1e-4), f"grad norm {got_norm} not clipped"
        else:
            assert got_norm.item() == pytest.approx(norm.item(), rel=1e-5)
        for (name, p), g, ref in zip(online.named_parameters(), grads, reference.parameters()):
            assert torch.allclose(g, ref.grad, atol=1e-7), f"step {step}: gradient of q.{name}: {g} != {ref.grad}"
            assert torch.allclose(p, ref, atol=1e-6), f"step {step}: q.{name} differs from Adam (lr=0.01)"
    assert torch.equal(table_of(learner.raw_module.q_target), TARGET), "q_target must not be optimized"


def test_target_update_count_survives_a_checkpoint():
    learner = tabular_learner(target_update_interval=3, tau=1.0)
    for _ in range(2):
        learner.update(table_batch(), 0.0)
    restored = tabular_learner(target_update_interval=3, tau=1.0)
    restored.set_state(learner.get_state())
    restored.update(table_batch(), 0.0)
    assert torch.equal(table_of(restored.raw_module.q_target), table_of(restored.raw_module.q)), (
        "the resumed learner's 3rd gradient step must update the target, as the uninterrupted one would")


# ---- dueling -----------------------------------------------------------------------------------------------------
def test_dueling_q_is_value_plus_advantage_minus_its_mean_over_actions():
    net = QNetwork(3, 3, [3], "relu", dueling=True)
    with torch.no_grad():
        trunk = net.net[0]
        trunk.weight.copy_(torch.eye(3))
        trunk.bias.zero_()
        net.value.weight.copy_(torch.tensor([[1.0, 0.0, 0.0]]))
        net.value.bias.fill_(0.5)
        net.advantage.weight.copy_(torch.eye(3))
        net.advantage.bias.zero_()
        q = net(torch.tensor([[1.0, 2.0, 6.0], [4.0, 0.0, 2.0]]))
    # row 0: V = 1.5, A = [1, 2, 6], mean(A) = 3; row 1: V = 4.5, A = [4, 0, 2], mean(A) = 2
    expected = torch.tensor([[-0.5, 0.5, 4.5], [6.5, 2.5, 4.5]])
    assert torch.allclose(q, expected), f"dueling Q {q.tolist()} != V + A - mean_a(A) = {expected.tolist()}"


def test_dueling_switch_builds_value_and_advantage_heads_the_learner_trains_through():
    with tiny_dqn(dueling=True).build() as algo:
        m = algo.get_module()
        for net in (m.q, m.q_target):
            assert hasattr(net, "value") and hasattr(net, "advantage") and net.advantage.out_features == 2
        obs = torch.randn(5, 4)
        with torch.no_grad():
            x = m.q.net(obs)
            adv = m.q.advantage(x)
            expected = m.q.value(x) + adv - adv.mean(-1, keepdim=True)
            assert torch.allclose(m.forward_train({C.OBS: obs})[C.Q_VALUES], expected, atol=1e-6)
        value_before = m.q.value.weight.clone()
        batch = {C.OBS: obs, C.ACTIONS: torch.tensor([0, 1, 0, 1, 1]), C.REWARDS: torch.ones(5),
                 C.NEXT_OBS: torch.randn(5, 4), C.TERMINATED: torch.zeros(5), "discounts": torch.full((5,), 0.99),
                 "weights": torch.ones(5), "indices": torch.arange(5)}
        algo.learner.update(batch, 0.0)
        assert not torch.equal(m.q.value.weight, value_before), "the value head is not trained"
    with tiny_dqn(dueling=False).build() as algo:
        q = algo.get_module().q
        assert not hasattr(q, "value") and not hasattr(q, "advantage")
        assert q.net[-1].out_features == 2, "without dueling the MLP outputs one Q value per action"


# ---- epsilon ---------------------------------------------------------------------------------------------------
def test_epsilon_decays_linearly_over_the_exploration_fraction_then_stays_final():
    learner = tabular_learner(exploration_initial_eps=0.8, exploration_final_eps=0.2, exploration_fraction=0.4)
    for progress, eps in [(0.0, 0.8), (0.1, 0.65), (0.2, 0.5), (0.3, 0.35), (0.4, 0.2), (0.7, 0.2), (1.0, 0.2)]:
        assert learner.epsilon(progress) == pytest.approx(eps), f"epsilon({progress})"
    learner.on_env_steps(3, 0.1)
    assert learner.raw_module.epsilon.item() == pytest.approx(0.65), "on_env_steps sets the module's epsilon"
    learner.on_env_steps(7, 0.9)
    assert learner.raw_module.epsilon.item() == pytest.approx(0.2)
    instant = tabular_learner(exploration_initial_eps=0.8, exploration_final_eps=0.2, exploration_fraction=0.0)
    assert instant.epsilon(0.0) == pytest.approx(0.2) and instant.epsilon(0.5) == pytest.approx(0.2)


def test_epsilon_greedy_acts_greedily_on_the_online_net_and_uniformly_at_random_with_probability_epsilon():
    learner = tabular_learner()
    module = learner.raw_module
    obs = one_hot(torch.arange(NUM_STATES).repeat(5000))  # 20000 observations
    greedy = ONLINE.argmax(1).repeat(5000)
    module.epsilon.fill_(1.0)
    assert torch.equal(module.forward_inference({C.OBS: obs})[C.ACTIONS], greedy), "inference: argmax of the online net"
    torch.manual_seed(0)
    module.epsilon.fill_(0.0)
    assert torch.equal(module.forward_exploration({C.OBS: obs})[C.ACTIONS], greedy)
    module.epsilon.fill_(0.3)
    actions = module.forward_exploration({C.OBS: obs})[C.ACTIONS]
    rate = (actions != greedy).float().mean().item()
    # a random action is drawn with probability 0.3 and misses the greedy one 2 times in 3
    assert 0.17 < rate < 0.23, f"non-greedy action rate {rate}, expected 0.3 * 2/3 = 0.2"
    module.epsilon.fill_(1.0)
    counts = torch.bincount(module.forward_exploration({C.OBS: obs})[C.ACTIONS], minlength=NUM_ACTIONS)
    freqs = (counts / counts.sum()).tolist()
    assert all(0.30 < f < 0.37 for f in freqs), f"epsilon=1 must be uniform over the {NUM_ACTIONS} actions: {freqs}"


# ---- target network updates ---------------------------------------------------------------------------------------
def test_hard_target_updates_copy_the_online_net_every_interval_of_gradient_steps():
    learner = tabular_learner(target_update_interval=3, tau=1.0)
    module = learner.raw_module
    learner.on_env_steps(10_000, 0.0)
    assert torch.equal(table_of(module.q_target), TARGET), "env steps do not move the target: gradient steps do"
    for step in range(1, 8):
        learner.update(table_batch(), 0.0)
        if step % 3 == 0:
            copied = table_of(module.q)
        expected = TARGET if step < 3 else copied
        assert torch.equal(table_of(module.q_target), expected), f"after gradient step {step}"
    assert not torch.equal(table_of(module.q), copied), "the online net moved on after the last copy"


def test_soft_target_updates_move_the_target_by_tau_towards_the_online_net_once_per_interval():
    learner = tabular_learner(target_update_interval=2, tau=0.25)
    module = learner.raw_module
    learner.update(table_batch(), 0.0)
    assert torch.equal(table_of(module.q_target), TARGET), "no target update before the 2nd gradient step"
    learner.update(table_batch(), 0.0)
    first = 0.75 * TARGET + 0.25 * table_of(module.q)
    assert torch.allclose(table_of(module.q_target), first, atol=1e-6), (
        "polyak: target = (1 - tau) * target + tau * online")
    learner.update(table_batch(), 0.0)
    assert torch.allclose(table_of(module.q_target), first, atol=1e-6), "one polyak step per interval, not per step"
    learner.update(table_batch(), 0.0)
    assert torch.allclose(table_of(module.q_target), 0.75 * first + 0.25 * table_of(module.q), atol=1e-6)


# ---- the learner <-> buffer wiring through the off-policy loop ------------------------------------------------------
def spy_on_updates(algo, double_q: bool) -> List[Dict[str, torch.Tensor]]:
    """Record each update's batch, outputs and the plain-torch TD errors / loss from the nets just before it."""
    records: List[Dict[str, torch.Tensor]] = []
    update = algo.learner.update

    def spy(batch, progress):
        td = reference_td(algo.get_module(), batch, double_q)
        expected_loss = (batch["weights"] * huber(td)).mean()
        tree = getattr(algo.buffer, "tree", None)
        priorities = (tree[batch["indices"].numpy()], tree.min()) if tree is not None else None
        out = update(batch, progress)
        records.append({"batch": batch, "out": dict(out), "td": td, "loss": expected_loss, "priorities": priorities})
        return out

    algo.learner.update = spy
    return records


def test_prioritized_replay_weights_reach_the_loss_and_abs_td_errors_become_priorities():
    alpha, eps = 0.5, 0.01
    builder = tiny_dqn(double_q=True, exploration_fraction=1.0).stopping(total_steps=128)
    builder.config.buffer = {"_target_": "rlhydra.buffers.PrioritizedReplayBuffer", "capacity": 1000,
                             "alpha": alpha, "beta_start": 1.0, "eps": eps}
    with builder.build() as algo:
        records = spy_on_updates(algo, double_q=True)
        algo.training_step()
        assert len(records) >= 4
        expected_priority: Dict[int, float] = {}
        highest = 1.0  # new transitions enter with the highest priority seen so far
        for r in records:
            out, batch = r["out"], r["batch"]
            assert torch.allclose(out["td_errors"], r["td"], atol=1e-5), "td_errors = q - double-Q target"
            assert out["loss"].item() == pytest.approx(r["loss"].item(), rel=1e-5), "loss = mean(w * huber(td))"
            sampled, lowest = r["priorities"]  # beta = 1: w_i = (p_i / p_min) ** -1
            np.testing.assert_allclose(batch["weights"].numpy() * sampled, lowest, rtol=1e-5)
            for i, td in zip(batch["indices"].tolist(), r["td"].tolist()):
                expected_priority[i] = (abs(td) + eps) ** alpha  # a later sample of the same index wins
                highest = max(highest, expected_priority[i])
        weights = torch.cat([r["batch"]["weights"] for r in records[1:]])
        assert weights.min() < 0.9 * weights.max(), "priorities never made the importance weights non-uniform"
        indices = np.array(list(expected_priority))
        np.testing.assert_allclose(algo.buffer.tree[indices], list(expected_priority.values()), rtol=1e-5,
                                   err_msg="priorities after training must be (|td| + eps) ** alpha")
        assert highest > 1.0 and algo.buffer.max_priority == pytest.approx(highest)
        buffer = algo.buffer
        buffer.add(algo.sample(1, random_actions=True).data)
        newest = ((buffer._pos - 1) % buffer.capacity_per_env) * buffer.num_envs + np.arange(buffer.num_envs)
        np.testing.assert_allclose(buffer.tree[newest], highest, rtol=1e-6, err_msg="new transitions get max priority")
        # the loop also drove epsilon by env steps: at progress 64/128
        assert algo.get_module().epsilon.item() == pytest.approx(1.0 + 0.5 * (0.05 - 1.0))


def test_n_step_buffer_gives_gamma_to_the_k_discounts_that_the_learner_bootstraps_with():
    # Episodes truncated after 5 steps: samples at steps 0-2 see 3 rewards (gamma^3), at steps 3 and 4 the
    # time limit shortens the window to 2 and 1 rewards (gamma^2, gamma), and those still bootstrap.
    builder = tiny_dqn(n_step=3, gamma=0.9).environment(max_episode_steps=5)
    with builder.build() as algo:
        records = spy_on_updates(algo, double_q=False)
        algo.training_step()
        assert records
        seen = []
        for r in records:
            batch, out = r["batch"], r["out"]
            alive = batch[C.TERMINATED] == 0
            seen += batch["discounts"][alive].tolist()
            assert torch.allclose(out["td_errors"], r["td"], atol=1e-5), "td_errors bootstrap with the batch discounts"
            assert out["loss"].item() == pytest.approx(r["loss"].item(), rel=1e-5)
        values, counts = np.unique(np.round(seen, 5), return_counts=True)
        assert set(values.tolist()) == {0.9, 0.81, 0.729}, f"discounts of non-terminal samples: {values}"
        assert counts[values.tolist().index(0.729)] > counts.sum() / 3, "3 of 5 windows hold 3 steps: gamma^3"
