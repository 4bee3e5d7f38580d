"""SAC and DQN: smoke runs of every switch, schedules, priorities, checkpoints with the replay buffer."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from rlhydra import Algorithm, DQNConfig, SACConfig
from rlhydra.core.preflight import check_hydra_config
from rlhydra.data import columns as C
from tests.conftest import compose_cfg

EVAL = "eval/episode_return_mean"
TINY = dict(train_batch_size=64, learning_starts=32, minibatch_size=16)


def tiny_sac() -> SACConfig:
    return (SACConfig().environment("Pendulum-v1").training(**TINY)
            .rl_module(model_config={"hidden_sizes": [16, 16]}).env_runners(num_envs_per_env_runner=2)
            .evaluation(interval=0, episodes=2, num_envs=2))


def tiny_dqn(**training) -> DQNConfig:
    return (DQNConfig().environment("CartPole-v1").training(**{**TINY, "target_update_interval": 50, **training})
            .rl_module(model_config={"hidden_sizes": [16, 16]}).env_runners(num_envs_per_env_runner=2)
            .evaluation(interval=0, episodes=2, num_envs=2))


def test_sac_trains_and_acts_within_bounds():
    with tiny_sac().evaluation(interval=1).build() as algo:
        result = algo.train()
        assert result["env_steps"] == 64
        # a round per vector step (2 envs) from env step 32 on, one gradient step per env step (train_freq 1)
        assert result["learner/updates"] == ((64 - 32) // 2 + 1) * 2
        for key in ("learner/critic_loss", "learner/actor_loss", "learner/alpha", EVAL):
            assert np.isfinite(result[key]), key
        out = algo.env_runner._act(torch.randn(5, 3) * 100)
        assert np.all(np.abs(out[C.ENV_ACTIONS]) <= 2.0) and np.all(np.abs(out[C.ACTIONS]) <= 1.0)


def test_sac_target_critics_move_by_polyak_only():
    with tiny_sac().training(tau=0.5).build() as algo:
        m = algo.get_module()
        before = [p.clone() for p in m.critic_target.parameters()]
        algo.train()
        assert all(not p.requires_grad for p in m.critic_target.parameters())
        assert any(not torch.equal(a, b) for a, b in zip(before, m.critic_target.parameters()))


def test_sac_alpha_is_tuned_or_fixed():
    with tiny_sac().build() as algo:
        algo.train()
        assert algo.learner.log_alpha.item() != 0.0
    with tiny_sac().training(autotune_alpha=False, initial_alpha=0.2).build() as algo:
        algo.train()
        assert algo.learner.log_alpha.exp().item() == pytest.approx(0.2)


@pytest.mark.parametrize("overrides", [
    [],
    ["algorithm.double_q=true"],
    ["algorithm.dueling=true"],
    ["algorithm.n_step=3"],
    ["buffer=prioritized"],
    ["algorithm.double_q=true", "algorithm.dueling=true", "algorithm.n_step=3", "buffer=prioritized"],
])
def test_dqn_switches_from_the_command_line(overrides):
    config = check_hydra_config(compose_cfg([
        "algorithm=dqn", "env=cartpole", "algorithm.train_batch_size=64", "algorithm.learning_starts=32",
        "algorithm.train_freq=4", "algorithm.minibatch_size=16", "module.hidden_sizes=[16,16]",
        "evaluation.interval=0", "evaluation.final=false", *overrides,
    ]))
    with config.build() as algo:
        result = algo.train()
        assert np.isfinite(result["learner/loss"])
        assert algo.buffer.n_step == config.algorithm.n_step
        assert hasattr(algo.get_module().q, "advantage") == config.algorithm.dueling
        if "buffer=prioritized" in overrides:
            assert type(algo.buffer).__name__ == "PrioritizedReplayBuffer"
            assert algo.buffer.max_priority != 1.0  # priorities came back from the learner's TD errors


def test_dqn_epsilon_decays_linearly_with_env_steps_and_targets_follow_gradient_steps():
    with tiny_dqn(exploration_fraction=0.5, exploration_final_eps=0.1).stopping(total_steps=256).build() as algo:
        learner = algo.learner
        assert learner.epsilon(0.0) == 1.0 and learner.epsilon(0.25) == pytest.approx(0.55)
        assert learner.epsilon(0.5) == pytest.approx(0.1) and learner.epsilon(1.0) == pytest.approx(0.1)
        algo.train()
        assert algo.get_module().epsilon.item() == pytest.approx(learner.epsilon(64 / 256))
        module = algo.get_module()
        assert learner.num_updates >= 3
        synced = all(torch.equal(a, b) for a, b in zip(module.q.parameters(), module.q_target.parameters()))
        assert not synced, "no target update before target_update_interval (50) gradient steps"
    with tiny_dqn(target_update_interval=1).stopping(total_steps=256).build() as algo:
        algo.train()
        module = algo.get_module()
        assert all(torch.equal(a, b) for a, b in zip(module.q.parameters(), module.q_target.parameters())), (
            "with target_update_interval=1 the target copies the online net after every gradient step")


@pytest.mark.parametrize("make, num_envs, train_freq, gradient_steps, per_env_step", [
    (tiny_dqn, 1, 4, 1, 1 / 4), (tiny_dqn, 3, 4, 1, 1 / 4), (tiny_dqn, 8, 4, 1, 1 / 4),
    (tiny_sac, 1, 1, 1, 1), (tiny_sac, 8, 1, 1, 1), (tiny_sac, 3, 4, -1, 1), (tiny_sac, 2, 1, 2, 2),
])
def test_update_to_data_ratio_counts_env_steps_whatever_the_env_count(make, num_envs, train_freq, gradient_steps,
                                                                      per_env_step):
    """gradient_steps per train_freq env steps, not per vector step: 8 envs learn as much per env step as 1 (3 envs
    and train_freq 4: rounds of 6 env steps owe 1.5 gradient steps, the half carried to the next round)."""
    config = (make().training(train_freq=train_freq, gradient_steps=gradient_steps, learning_starts=0,
                              train_batch_size=96).env_runners(num_envs_per_env_runner=num_envs))
    with config.build() as algo:
        result = algo.train()
        assert result["env_steps"] == 96
        assert result["learner/updates"] == 96 * per_env_step


def test_dqn_greedy_inference_explores_with_epsilon():
    with tiny_dqn().build() as algo:
        module = algo.get_module()
        obs = torch.randn(2000, 4)
        greedy = module.forward_inference({C.OBS: obs})[C.ACTIONS]
        module.epsilon.fill_(0.0)
        assert torch.equal(module.forward_exploration({C.OBS: obs})[C.ACTIONS], greedy)
        module.epsilon.fill_(1.0)
        explored = module.forward_exploration({C.OBS: obs})[C.ACTIONS]
        assert 0.3 < (explored != greedy).float().mean() < 0.7  # uniform over 2 actions: half differ


@pytest.mark.parametrize("make", [tiny_sac, lambda: tiny_dqn(n_step=3)])
def test_off_policy_checkpoint_includes_the_buffer(make, tmp_path):
    algo = make().build()
    algo.train()
    path = algo.save(str(tmp_path / "ckpt"))
    restored = Algorithm.from_checkpoint(path)
    try:
        assert len(restored.buffer) == len(algo.buffer) > 0
        a, b = algo.buffer.sample(8), restored.buffer.sample(8)
        for key in a:
            assert torch.equal(a[key], b[key]), key
        for (k, x), (_, y) in zip(algo.get_module().state_dict().items(), restored.get_module().state_dict().items()):
            assert torch.equal(x, y), k
    finally:
        algo.stop()
        restored.stop()


def test_same_seed_same_off_policy_metrics():
    runs = []
    for _ in range(2):
        with tiny_dqn().debugging(seed=3).build() as algo:
            runs.append([{k: v for k, v in algo.train().items() if not k.startswith("perf/") and k != "time_s"}
                         for _ in range(2)])
    assert runs[0] == runs[1]


def test_rl_module_from_checkpoint_builds_the_dueling_module_it_saved(tmp_path):
    from rlhydra import RLModule

    with tiny_dqn(dueling=True).build() as algo:
        algo.train()
        path = algo.save(str(tmp_path / "ckpt"))
        module = RLModule.from_checkpoint(path)
        obs = torch.randn(32, 4)
        assert hasattr(module.q, "advantage")
        assert torch.equal(module.forward_inference({C.OBS: obs})[C.ACTIONS],
                           algo.get_module().forward_inference({C.OBS: obs})[C.ACTIONS])


def test_sac_target_update_interval_counts_every_gradient_step():
    """With several gradient steps per round, targets move every `target_update_interval`-th step."""
    with tiny_sac().training(train_freq=4, gradient_steps=4, target_update_interval=3, tau=1.0).build() as algo:
        m = algo.get_module()
        algo.buffer.add(algo.sample(8, random_actions=True).data)
        batch = algo.buffer.sample(8)
        for step in range(1, 7):
            algo.learner.update(batch, 0.0)
            synced = all(torch.equal(a, b) for a, b in zip(m.critic.parameters(), m.critic_target.parameters()))
            assert synced == (step % 3 == 0), step


# ---- gSDE (SAC) -----------------------------------------------------------------------------------------------
def test_gsde_noise_is_a_function_of_the_state_until_it_is_redrawn():
    with tiny_sac().rl_module(use_sde=True, log_std_init=-1.0).build() as algo:
        module = algo.get_module()
        obs = torch.randn(256, 3)
        module.reset_noise()
        first = module.forward_exploration({C.OBS: obs})[C.ACTIONS]
        assert torch.equal(module.forward_exploration({C.OBS: obs})[C.ACTIONS], first)  # same noise, same push
        greedy = torch.tanh(module.dist_inputs(obs).chunk(2, dim=-1)[0])
        assert not torch.allclose(first, greedy) and first.abs().max() < 1
        module.reset_noise()
        assert not torch.equal(module.forward_exploration({C.OBS: obs})[C.ACTIONS], first)
        # the Gaussian behind it: std_j(s)^2 = sum_i latent_i(s)^2 exp(log_std_ij)^2
        _, log_std, latent = module.actor(obs)
        expected = 0.5 * torch.log(latent.pow(2) @ module.actor.log_std.exp().pow(2) + 1e-6)
        assert torch.allclose(log_std, expected)


def test_gsde_noise_is_redrawn_once_per_sampling_round_and_sac_learns_from_it():
    with tiny_sac().rl_module(use_sde=True).build() as algo:
        module, draws = algo.get_module(), []
        reset = module.actor.reset_noise
        module.actor.reset_noise = lambda: (draws.append(1), reset())
        result = algo.train()  # 64 env steps on 2 envs, learning from step 32: 16 rounds of exploring
        assert len(draws) == (64 - 32) // 2
        assert np.isfinite(result["learner/actor_loss"]) and result["learner/updates"] > 0
        assert algo.get_module().actor.log_std.grad is not None  # the exploration scale is learnt


def test_sac_mountain_car_tuned_file_uses_gsde():
    config = check_hydra_config(compose_cfg(["algorithm=sac", "env=mountain_car_continuous"]))
    assert config.module["use_sde"] is True and config.module["log_std_init"] == -3.67
