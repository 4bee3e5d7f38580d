"""Multi-agent runs: PettingZoo envs (Parallel and AEC), policy mapping, per-agent GAE, self-play, checkpoints."""
from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

pytest.importorskip("pettingzoo")

from rlhydra import PPOConfig, RLModule  # noqa: E402
from rlhydra.config.schema import ConfigError  # noqa: E402
from rlhydra.connectors.learner import GeneralAdvantageEstimation, compute_gae  # noqa: E402
from rlhydra.core.multi_agent import stream_columns  # noqa: E402
from rlhydra.core.self_play import MAIN, outcome_rates  # noqa: E402
from rlhydra.data import columns as C  # noqa: E402
from rlhydra.data.multi_agent_rollout import STREAM_END  # noqa: E402
from tests.conftest import resumes_exactly  # noqa: E402

CARTPOLE = "rlhydra.env.examples:multi_cartpole"
TICTACTOE = "pettingzoo.classic.tictactoe_v3:env"


def ma_config(env_id: str = CARTPOLE, mapping: str = "independent", **training):
    hp = dict(train_batch_size=64, minibatch_size=32, num_epochs=2)
    hp.update(training)
    return (PPOConfig().environment(env_id).multi_agent(policy_mapping_fn=mapping)
            .env_runners(num_envs_per_env_runner=2).training(**hp).evaluation(interval=0, episodes=2, num_envs=2)
            .debugging(seed=3))


def mapping_to_unknown(agent_id, episode):
    return "nobody"


def first_agent_alone(agent_id, episode):
    return "solo" if agent_id == "cartpole_0" else "pair"


# ---- formulas ------------------------------------------------------------------------------------
def test_per_agent_gae_is_each_streams_own_gae():
    rng = np.random.default_rng(0)
    a_len, b_len = 4, 3  # stream A (agent a, still running at the rollout's end), then stream B (terminated)
    rewards = rng.normal(size=a_len + b_len).astype(np.float32)
    values = rng.normal(size=a_len + b_len).astype(np.float32)
    next_values = rng.normal(size=a_len + b_len).astype(np.float32)
    terminated = np.zeros(a_len + b_len, bool)
    terminated[-1] = True
    truncated = np.zeros(a_len + b_len, bool)
    stream_end = np.zeros(a_len + b_len, bool)
    stream_end[[a_len - 1, a_len + b_len - 1]] = True
    cols = {C.REWARDS: rewards, C.TERMINATED: terminated, C.TRUNCATED: truncated, STREAM_END: stream_end,
            C.OBS: np.zeros((a_len + b_len, 1), np.float32)}
    batch = stream_columns(cols)
    batch[C.VF_PREDS], batch[C.NEXT_VF_PREDS] = values[:, None], next_values[:, None]
    got = GeneralAdvantageEstimation(0.9, 0.8)(batch)[C.ADVANTAGES][:, 0]
    for part in (slice(0, a_len), slice(a_len, None)):
        expected, _ = compute_gae(rewards[part, None], values[part, None], next_values[part, None],
                                  terminated[part, None], np.eye(1, len(rewards[part]), len(rewards[part]) - 1,
                                                                  dtype=bool).T, 0.9, 0.8)
        np.testing.assert_allclose(got[part], expected[:, 0], rtol=1e-6)
    # Stream A's last step bootstraps from V(next obs): its advantage is its one-step TD error
    assert got[a_len - 1] == pytest.approx(rewards[a_len - 1] + 0.9 * next_values[a_len - 1] - values[a_len - 1])


def test_outcome_rates_count_wins_draws_and_losses():
    assert outcome_rates([1.0, 0.0, -1.0, 1.0]) == (0.5, 0.25, 0.25)
    assert outcome_rates([]) == (0.0, 0.0, 0.0)


# ---- env runner --------------------------------------------------------------------------------
@pytest.mark.slow
def test_turn_based_game_gives_each_agent_its_own_timeline():
    algo = ma_config(TICTACTOE, "shared").build()
    try:
        rollout = algo.env_runner.sample(200)
    finally:
        algo.stop()
    batch = rollout.batches["shared"]
    # every finished game: both players' last steps terminated, rewards +1/-1 or 0/0 (the winner's reward reaches
    # it after the loser's dead step), and each player only ever acts on its own legal moves
    games = len(rollout.episode_returns)
    assert games > 10 and int(batch[C.TERMINATED].sum()) == 2 * games
    assert sorted(set(np.round(batch[C.REWARDS][batch[C.TERMINATED]], 3))) <= [-1.0, 0.0, 1.0]
    assert all(r == 0.0 for r in rollout.episode_returns)  # zero-sum: the team total is 0
    masks = batch[C.OBS]["action_mask"]
    assert masks[np.arange(len(masks)), batch[C.ACTIONS]].all()
    # a player's next observation is the board at its next turn: one more mark of its own and one of the other's
    obs, nxt = batch[C.OBS]["observation"], batch[C.NEXT_OBS]["observation"]
    running = ~batch[C.TERMINATED] & ~batch[STREAM_END]
    assert (nxt[running].sum(axis=(1, 2, 3)) == obs[running].sum(axis=(1, 2, 3)) + 2).all()


@pytest.mark.slow
def test_agents_that_finish_at_different_times_end_their_own_streams():
    algo = ma_config().build()
    try:
        rollout = algo.env_runner.sample(300)
    finally:
        algo.stop()
    for agent in ("cartpole_0", "cartpole_1"):
        batch = rollout.batches[agent]
        assert batch[C.TERMINATED].sum() == len(rollout.agent_returns[agent])
        assert rollout.agent_returns[agent] and all(r == int(r) for r in rollout.agent_returns[agent])
    team = np.asarray(rollout.episode_returns)
    np.testing.assert_allclose(team, np.add(rollout.agent_returns["cartpole_0"][:len(team)],
                                            rollout.agent_returns["cartpole_1"][:len(team)]))


# ---- config and preflight ----------------------------------------------------------------------
@pytest.mark.parametrize("change, message", [
    (lambda b: b.environment("pettingzoo.classic.tictactoe_v3:envv"), "has no callable 'envv'"),
    (lambda b: b.environment("no_such_pkg.x:env"), "cannot import 'no_such_pkg.x'"),
    (lambda b: b.multi_agent(policy_mapping_fn=mapping_to_unknown, policies=["a"]), "not declared in multi_agent.policies"),
    (lambda b: b.multi_agent(policy_mapping_fn="shared", policies_to_train=["x"]), "policies_to_train"),
    (lambda b: b.multi_agent(policy_mapping_fn="sharde"), "policy_mapping._target_=sharde: cannot import it"),
    (lambda b: b.evaluation(num_env_runners=2), "evaluation.num_env_runners=2: multi-agent evaluation runs in the main"),
])
def test_bad_multi_agent_configs_name_the_key(change, message):
    with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("(", r"\(")):
        change(ma_config()).build()


def test_a_module_per_group_of_agents_from_a_mapping_function():
    algo = ma_config(mapping=first_agent_alone, train_batch_size=32, minibatch_size=16).build()
    try:
        assert sorted(algo.learner.raw_module.keys()) == ["pair", "solo"]
        result = algo.train()
    finally:
        algo.stop()
    assert {"learner/solo/policy_loss", "learner/pair/policy_loss"} <= set(result)


def test_policies_to_train_freezes_the_others():
    algo = ma_config().multi_agent(policies_to_train=["cartpole_0"]).build()
    try:
        frozen = {k: v.clone() for k, v in algo.learner.raw_module["cartpole_1"].state_dict().items()}
        trained = {k: v.clone() for k, v in algo.learner.raw_module["cartpole_0"].state_dict().items()}
        algo.train()
        after = algo.learner.raw_module
        assert all(torch.equal(v, after["cartpole_1"].state_dict()[k]) for k, v in frozen.items())
        assert not all(torch.equal(v, after["cartpole_0"].state_dict()[k]) for k, v in trained.items())
    finally:
        algo.stop()


def test_policy_overrides_the_module_group():
    algo = ma_config().multi_agent(policies={"cartpole_0": {"hidden_sizes": [8]}, "cartpole_1": {}}).build()
    try:
        sizes = {mid: sum(p.numel() for p in algo.learner.raw_module[mid].parameters()) for mid in ("cartpole_0", "cartpole_1")}
    finally:
        algo.stop()
    assert sizes["cartpole_0"] < sizes["cartpole_1"]


# ---- checkpoints -------------------------------------------------------------------------------
@pytest.mark.parametrize("env_id, mapping", [(CARTPOLE, "independent"), (TICTACTOE, "shared")])
def test_exact_resume(tmp_path, env_id, mapping):
    resumes_exactly(ma_config(env_id, mapping), tmp_path)


def test_one_policy_from_a_multi_agent_checkpoint(tmp_path):
    algo = ma_config().build()
    try:
        algo.train()
        path = algo.save(str(tmp_path / "ckpt"))
    finally:
        algo.stop()
    module = RLModule.from_checkpoint(path, module_id="cartpole_1")
    assert module.compute_single_action(np.zeros(4, np.float32)) in (0, 1)
    with pytest.raises(ConfigError, match="pick module_id= one of cartpole_0, cartpole_1"):
        RLModule.from_checkpoint(path)


def test_self_play_evaluates_win_draw_loss_rates():
    config = ma_config(TICTACTOE, "shared")
    config.config.self_play.enabled = True
    config.config.self_play.eval_games = 4
    algo = config.build()
    try:
        assert MAIN in algo.learner.learners and len(algo.learner.learners) == 1
        result = algo.evaluate()
    finally:
        algo.stop()
    for opponent in ("random", "latest"):
        rates = [result[f"eval/vs_{opponent}/{k}_rate"] for k in ("win", "draw", "loss")]
        assert sum(rates) == pytest.approx(1.0)
        assert f"eval/vs_{opponent}/first/loss_rate" in result and f"eval/vs_{opponent}/second/loss_rate" in result


# ---- learning ----------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("mapping", ["independent", "shared"])
def test_ppo_learns_two_cartpoles_in_one_multi_agent_env(mapping):
    config = (PPOConfig().environment(CARTPOLE).multi_agent(policy_mapping_fn=mapping)
              .env_runners(num_envs_per_env_runner=8)
              .training(lr=1e-3, train_batch_size=512, minibatch_size=128, num_epochs=10, gamma=0.98, gae_lambda=0.8)
              .evaluation(interval=0, episodes=10, num_envs=5).debugging(seed=0))
    algo = config.build()
    try:
        algo.learn(total_steps=50_000)
        result = algo.evaluate()
    finally:
        algo.stop()
    for agent in ("cartpole_0", "cartpole_1"):
        got = result[f"eval/agent/{agent}/episode_return_mean"]
        assert got >= 475, f"{mapping}: {agent} reached an eval return of {got:.1f}, expected >= 475 after 50k env steps"


# ---- tic-tac-toe seats ---------------------------------------------------------------------------
@pytest.mark.parametrize("moves, winner, loser", [
    ([0, 3, 1, 4, 2], "player_1", "player_2"),      # the first player completes the top row
    ([0, 3, 1, 4, 8, 5], "player_2", "player_1"),   # the second player completes the middle row
])
def test_tictactoe_loser_gets_minus_one_on_a_terminal_step_in_either_seat(moves, winner, loser):
    from rlhydra.config.schema import EnvConfig
    from rlhydra.env.pettingzoo_env import make_agent_env

    env = make_agent_env(EnvConfig(id=TICTACTOE, api="pettingzoo"))
    outcomes, to_act = env.reset(seed=0)
    for move in moves:
        assert not env.done
        (agent,) = to_act
        outcomes, to_act = env.step({agent: move})
    env.close()
    assert env.done and to_act == {}
    # both players' steps end in this call: the one who did not make the last move included
    assert outcomes[winner][1:] == (1.0, True, False)
    assert outcomes[loser][1:] == (-1.0, True, False)


def test_self_play_seats_main_first_and_second_equally_against_the_same_opponents():
    from rlhydra.config.schema import SelfPlayConfig
    from rlhydra.core.self_play import SelfPlay
    from rlhydra.env.multi_agent_runner import AgentEpisode

    play = SelfPlay(SelfPlayConfig(enabled=True, pool_size=3, random_opponent_prob=0.3), ["player_1", "player_2"], 0)
    play.filled, play.latest = 3, 2
    seats = {"player_1": [], "player_2": []}
    for episode_id in range(4000):
        episode = AgentEpisode(episode_id, 0)
        mapped = {a: play.mapping(a, episode) for a in ("player_1", "player_2")}
        (main_seat,) = [a for a, m in mapped.items() if m == MAIN]
        seats[main_seat].append(next(m for m in mapped.values() if m != MAIN))
    assert len(seats["player_1"]) == len(seats["player_2"]) == 2000
    for opponent in ("random", "snapshot_0", "snapshot_2"):
        first, second = (np.mean([m == opponent for m in seats[s]]) for s in seats)
        assert first == pytest.approx(second, abs=0.04), opponent


def test_tuned_tictactoe_module_does_not_squeeze_the_board_into_16_features():
    # a 3x3x2 board is an "image" to the catalog: its default (MinAtar's 16 3x3 filters) leaves 16 ReLU features for
    # the whole board, too few to see every line of both players; the second seat, which must block, lost 5-14%
    from rlhydra.config import from_hydra
    from tests.conftest import compose_cfg

    algo = from_hydra(compose_cfg(["algorithm=ppo", "env=tictactoe"])).build()
    try:
        convs = [m for m in algo.learner.raw_module[MAIN].modules() if isinstance(m, torch.nn.Conv2d)]
    finally:
        algo.stop()
    assert convs and min(conv.out_channels for conv in convs) >= 128


# ---- several learner processes -------------------------------------------------------------------
def _train_multi_agent_on_rank(fabric, config):
    """Runs on every rank: a few iterations; then elementwise max == min of every module's weights across ranks."""
    from rlhydra.core.distributed import finish_rank

    algo = config.build(fabric=fabric)
    before = {mid: torch.cat([p.detach().flatten().clone() for p in algo.learner.raw_module[mid].parameters()])
              for mid in algo.learner.learners}
    steps = [algo.train()["env_steps"] for _ in range(3)]
    after = {mid: torch.cat([p.detach().flatten() for p in algo.learner.raw_module[mid].parameters()])
             for mid in algo.learner.learners}
    algo.stop()
    del algo
    equal = {mid: bool(torch.equal(fabric.all_reduce(w.clone(), reduce_op="max"),
                                   fabric.all_reduce(w.clone(), reduce_op="min"))) for mid, w in after.items()}
    changed = {mid: not torch.equal(before[mid], after[mid]) for mid in after}
    finish_rank(fabric)
    return {"equal": equal, "changed": changed, "env_steps": steps, "world": fabric.world_size}


@pytest.mark.slow
@pytest.mark.parametrize("env_id, mapping, self_play", [(CARTPOLE, "independent", False), (TICTACTOE, "shared", True)])
def test_two_cpu_learners_keep_every_modules_weights_identical(env_id, mapping, self_play):
    # tic-tac-toe: the ranks' games differ in length, so the same module gets different step counts per rank
    from rlhydra.core.distributed import launch

    config = ma_config(env_id, mapping, train_batch_size=128)
    config.config.self_play.enabled = self_play
    config = config.learners(num_learners=2).to_config()
    out = launch(config, _train_multi_agent_on_rank, config)
    assert out["world"] == 2
    assert out["env_steps"] == [128, 256, 384]
    assert out["equal"] and all(out["equal"].values()), f"ranks diverged: {out['equal']}"
    assert all(out["changed"].values()), f"a trainable module did not learn: {out['changed']}"


# ---- agents with different spaces ------------------------------------------------------------------
MIXED = "tests.mixed_agent_envs:pole_and_swing"


def test_agents_with_different_spaces_get_a_module_each_and_act_in_their_own_spaces():
    algo = ma_config(MIXED, "independent").build()
    try:
        assert algo.module_spaces["pole"][1] == gym.spaces.Discrete(2)
        assert algo.module_spaces["swing"][1].shape == (1,)
        for _ in range(3):
            result = algo.train()
        actions = {a: np.asarray(v) for a, v in
                   ((a, sum((env.env.actions_seen[a] for env in algo.env_runner.envs), [])) for a in ("pole", "swing"))}
    finally:
        algo.stop()
    assert set(np.unique(actions["pole"])) <= {0, 1}
    assert actions["swing"].shape[1:] == (1,) and actions["swing"].dtype.kind == "f"
    assert np.all(np.abs(actions["swing"]) <= 2.0) and actions["swing"].std() > 0  # clipped to the Box, not constant
    assert result["train/pole/agent_steps"] > 0 and result["train/swing/agent_steps"] > 0
    assert "learner/pole/policy_loss" in result and "learner/swing/policy_loss" in result


def test_one_module_for_agents_with_different_spaces_is_refused_with_the_fix():
    with pytest.raises(ConfigError, match="spaces differ.*policy_mapping=independent"):
        ma_config(MIXED, "shared").build()


# ---- tic-tac-toe: the tuned self-play run against a random player ------------------------------------------------
@pytest.mark.slow
def test_tuned_self_play_loses_at_most_2_percent_of_tictactoe_games_to_a_random_player_in_either_seat(capsys):
    # `python train.py env=tictactoe seed=1` (tuned/ppo_tictactoe.yaml, 600k turns), then 1,000 greedy games per seat
    # against a uniform-random player, as benchmarks/tictactoe_selfplay.py counts them
    import dataclasses

    from rlhydra.core.preflight import check_hydra_config
    from tests.conftest import compose_cfg

    config = check_hydra_config(compose_cfg(["env=tictactoe", "seed=1", "logger=jsonl"]))
    with config.build() as algo:
        algo.learn()
        algo.self_play.config = dataclasses.replace(algo.self_play.config, eval_games=2000)
        result = algo.self_play.evaluate(algo._evaluation_runner_ma(), 12345)
    first, second = (result[f"eval/vs_random/{seat}/loss_rate"] for seat in ("first", "second"))
    with capsys.disabled():
        print(f"\n  learning: tic-tac-toe self-play, seed 1, {algo.env_steps:,} turns: lost {first:.1%} of 1,000 games "
              f"as first and {second:.1%} as second to a random player (required <= 2.0% each)")
    assert first <= 0.02 and second <= 0.02
