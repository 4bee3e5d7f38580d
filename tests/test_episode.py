"""Episode: built step by step, finalized, sliced, concatenated; Rollout cut into episodes."""
from __future__ import annotations

import numpy as np
import pytest

from rlhydra import Episode
from rlhydra.data import columns as C
from rlhydra.data.rollout import Rollout


def make_episode(length: int, terminated: bool = False, truncated: bool = False) -> Episode:
    ep = Episode("e1")
    ep.add_reset(np.array([0.0, 0.0]))
    for t in range(1, length + 1):
        last = t == length
        ep.add_step(np.array([t, -t], dtype=float), t % 2, float(t), terminated=terminated and last,
                    truncated=truncated and last, extra={"logp": -0.1 * t})
    return ep


def test_build_and_finalize():
    ep = make_episode(5, terminated=True).finalize()
    assert len(ep) == 5 and ep.obs.shape == (6, 2) and ep.actions.shape == (5,)
    assert ep.rewards.dtype == np.float32 and ep.get_return() == 15.0
    assert ep.terminated and not ep.truncated and ep.is_done
    assert ep.extra["logp"].shape == (5,)
    with pytest.raises(ValueError, match="finalized"):
        ep.add_step(np.zeros(2), 0, 0.0)


def test_terminated_and_truncated_are_kept_apart():
    assert make_episode(3, truncated=True).truncated
    assert not make_episode(3, truncated=True).terminated


def test_no_steps_after_done_or_before_reset():
    ep = make_episode(2, terminated=True)
    with pytest.raises(ValueError, match="already done"):
        ep.add_step(np.zeros(2), 0, 0.0)
    with pytest.raises(ValueError, match="add_reset"):
        Episode().add_step(np.zeros(2), 0, 0.0)


def test_slice_and_concat_round_trip():
    ep = make_episode(10, truncated=True).finalize()
    head, tail = ep[:4], ep[4:]
    assert len(head) == 4 and len(tail) == 6
    assert not head.is_done and tail.truncated
    np.testing.assert_array_equal(head.obs[-1], tail.obs[0])
    joined = head.concat(tail)
    for name in ("obs", "actions", "rewards"):
        np.testing.assert_array_equal(getattr(joined, name), getattr(ep, name))
    np.testing.assert_array_equal(joined.extra["logp"], ep.extra["logp"])
    assert joined.truncated and not joined.terminated


def test_concat_rejects_a_piece_that_does_not_continue():
    ep = make_episode(6).finalize()
    with pytest.raises(ValueError, match="last observation"):
        ep[:2].concat(ep[3:])


def test_rollout_is_cut_into_episodes_at_ends():
    num_t, num_envs = 6, 2
    obs = np.arange(num_t * num_envs, dtype=np.float32).reshape(num_t, num_envs, 1)
    next_obs = obs + 100
    term = np.zeros((num_t, num_envs), bool)
    trunc = np.zeros((num_t, num_envs), bool)
    term[2, 0] = True
    trunc[3, 1] = True
    data = {C.OBS: obs, C.NEXT_OBS: next_obs, C.ACTIONS: np.zeros((num_t, num_envs), np.int64),
            C.REWARDS: np.ones((num_t, num_envs), np.float32), C.TERMINATED: term, C.TRUNCATED: trunc,
            C.ACTION_LOGP: np.zeros((num_t, num_envs), np.float32)}
    episodes = list(Rollout(data).episodes())
    assert [len(e) for e in episodes] == [3, 3, 4, 2]
    assert [(e.terminated, e.truncated) for e in episodes] == [(True, False), (False, False),
                                                               (False, True), (False, False)]
    first = episodes[0]
    assert first.obs[-1, 0] == next_obs[2, 0, 0]  # the real final observation, not the reset one
    assert sum(len(e) for e in episodes) == Rollout(data).num_steps


def test_slices_keep_one_info_per_observation_and_extras_aligned_with_actions():
    ep = make_episode(10, truncated=True)
    ep.finalize()
    assert len(ep.infos) == len(ep.obs) == 11
    for piece in (ep[:4], ep[4:], ep[2:7]):
        assert len(piece.infos) == len(piece.obs) == len(piece) + 1
        assert len(piece.extra["logp"]) == len(piece.actions) == len(piece)
    np.testing.assert_allclose(ep[2:5].extra["logp"], [-0.3, -0.4, -0.5])
    joined = ep[:4].concat(ep[4:])
    assert len(joined.infos) == len(joined.obs), "concat drops the second piece's duplicated first info"


def test_only_a_slice_reaching_the_last_step_keeps_the_episode_end():
    ep = make_episode(10, terminated=True).finalize()
    assert not ep[:9].is_done and not ep[3:9].is_done
    assert ep[9:].terminated and ep[:].terminated and not ep[:].truncated


def test_concat_takes_the_end_flags_of_the_second_piece():
    ep = make_episode(6, truncated=True).finalize()
    joined = ep[:2].concat(ep[2:])
    assert joined.truncated and not joined.terminated and len(joined) == 6
    assert joined.get_return() == ep.get_return() == 21.0


def make_rollout(num_t: int, num_envs: int, offset: float = 0.0, returns=(), lengths=()) -> Rollout:
    """A rollout whose obs and rewards encode (t, env) + offset, with no episode ends."""
    t, env = np.meshgrid(np.arange(num_t), np.arange(num_envs), indexing="ij")
    code = (10 * t + env + offset).astype(np.float32)
    no_end = np.zeros((num_t, num_envs), bool)
    data = {C.OBS: code[..., None], C.NEXT_OBS: code[..., None] + 0.5, C.ACTIONS: np.zeros((num_t, num_envs)),
            C.REWARDS: code, C.TERMINATED: no_end, C.TRUNCATED: no_end.copy()}
    return Rollout(data, list(returns), list(lengths))


def test_rollout_concat_puts_runners_side_by_side_with_their_episode_stats():
    first = make_rollout(4, 2, returns=[1.0], lengths=[3])
    second = make_rollout(4, 3, offset=100.0, returns=[2.0, 5.0], lengths=[7, 9])
    joined = Rollout.concat([first, second])
    assert joined[C.OBS].shape == (4, 5, 1) and joined.num_steps == 20
    np.testing.assert_array_equal(joined[C.REWARDS][:, :2], first[C.REWARDS])
    np.testing.assert_array_equal(joined[C.REWARDS][:, 2:], second[C.REWARDS])
    assert joined.episode_returns == [1.0, 2.0, 5.0]
    assert joined.episode_lengths == [3, 7, 9]


def test_rollout_episode_ending_on_the_last_step_yields_no_empty_piece():
    rollout = make_rollout(4, 2)
    rollout[C.TERMINATED][3, 0] = True  # ends exactly at the last step
    rollout[C.TRUNCATED][1, 1] = True
    rollout[C.TERMINATED][3, 1] = True
    rollout[C.TRUNCATED][3, 1] = True  # both flags: it counts as terminated
    episodes = list(rollout.episodes())
    assert [len(e) for e in episodes] == [4, 2, 2]
    assert [(e.terminated, e.truncated) for e in episodes] == [(True, False), (False, True), (True, False)]
    np.testing.assert_array_equal(episodes[2].obs[:, 0], [20 + 1, 30 + 1, 30 + 1 + 0.5])
    np.testing.assert_array_equal(episodes[2].rewards, [21, 31])
