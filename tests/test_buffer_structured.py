"""Replay buffers with structured observations (images, Dict / Tuple, discrete leaves), each stored once: exactness
against a naive buffer that keeps obs and next_obs separately, memory, dtypes, checkpoints."""
import gymnasium as gym
import numpy as np
import pytest
import torch

from rlhydra.buffers import PrioritizedReplayBuffer, ReplayBuffer
from rlhydra.data import tree

BUFFERS = [ReplayBuffer, PrioritizedReplayBuffer]
ACT_SPACE = gym.spaces.Discrete(3)
NESTED_SPACE = gym.spaces.Dict({
    "frame": gym.spaces.Box(0, 255, (2, 3, 3), np.uint8),
    "vec": gym.spaces.Box(-1, 1, (2,), np.float64),  # travels as float32
    "pos": gym.spaces.Discrete(3),  # few values: final and reset obs often coincide
    "tup": gym.spaces.Tuple((gym.spaces.MultiBinary(3), gym.spaces.MultiDiscrete([3, 4]),
                             gym.spaces.Box(0, 1, (2,), bool))),
})
FLAT_SPACE = gym.spaces.Box(-np.inf, np.inf, (3,), np.float32)
FRAME_SPACE = gym.spaces.Box(0, 255, (4, 84, 84), np.uint8)


# ---------------------------------------------------------------- env streams


def random_obs(space: gym.Space, rng: np.random.Generator, lead: tuple) -> tree.Tree:
    """Random observations [*lead, ...] in each leaf's travelling dtype; floats include -0.0 and +0.0."""
    def draw(shape, dtype):
        size = lead + shape
        if dtype == np.uint8:
            return rng.integers(0, 256, size, dtype=np.uint8)
        if dtype == np.bool_:
            return rng.random(size) < 0.5
        if np.issubdtype(dtype, np.integer):
            return rng.integers(0, 2, size).astype(dtype)
        x = rng.standard_normal(size).astype(dtype)
        return np.where(rng.random(size) < 0.2, np.where(rng.random(size) < 0.5, -0.0, 0.0), x).astype(dtype)
    return tree.map_space_leaves(draw, space)


class Streams:
    """num_envs env streams: episodes of random length, each add continues them (or, with `p_jump`, first resets
    some envs, as a runner restored from a checkpoint does)."""

    def __init__(self, space, num_envs, rng, min_len=1, max_len=8, p_same_reset=0.2, p_jump=0.3):
        self.space, self.num_envs, self.rng = space, num_envs, rng
        self.min_len, self.max_len, self.p_same_reset, self.p_jump = min_len, max_len, p_same_reset, p_jump
        self.current = random_obs(space, rng, (num_envs,))
        self.left = rng.integers(min_len, max_len + 1, num_envs)

    def rollout(self, steps: int) -> dict:
        rng, n = self.rng, self.num_envs
        jump = rng.random(n) < self.p_jump
        tree.assign(self.current, jump, tree.index(random_obs(self.space, rng, (n,)), jump))
        obs, next_obs = [], []
        terminated, truncated = np.zeros((steps, n), bool), np.zeros((steps, n), bool)
        for t in range(steps):
            obs.append(tree.clone(self.current))
            nxt = random_obs(self.space, rng, (n,))
            self.left -= 1
            done = self.left == 0
            terminated[t] = done & (rng.random(n) < 0.5)
            truncated[t] = done & ~terminated[t]
            # Most steps continue from next_obs; done steps reset to a fresh obs (sometimes bit-equal to next_obs).
            reset = tree.map_tree(lambda a, b: np.where(
                (rng.random(n) < self.p_same_reset).reshape(-1, *[1] * (a.ndim - 1)), a, b), nxt,
                random_obs(self.space, rng, (n,)))
            self.current = tree.map_tree(lambda a, b: np.where(done.reshape(-1, *[1] * (a.ndim - 1)), b, a),
                                         nxt, reset)
            self.left[done] = rng.integers(self.min_len, self.max_len + 1, int(done.sum()))
            next_obs.append(nxt)
        return {"obs": tree.stack(obs), "next_obs": tree.stack(next_obs),
                "actions": rng.integers(0, ACT_SPACE.n, (steps, n)),
                "rewards": rng.standard_normal((steps, n)).astype(np.float32),
                "terminated": terminated, "truncated": truncated}


class NaiveReplay:
    """The specification: every (row, env) slot keeps its own obs and next_obs; n-step windows walked in Python."""

    def __init__(self, capacity_per_env: int, num_envs: int, n_step: int, gamma: float) -> None:
        self.P, self.N, self.n, self.gamma = capacity_per_env, num_envs, n_step, gamma
        self.slots: dict = {}
        self.pos = 0

    def add(self, rollout: dict) -> None:
        for t in range(len(rollout["rewards"])):
            for e in range(self.N):
                self.slots[self.pos, e] = {k: tree.index(v, (t, e)) for k, v in rollout.items()}
            self.pos = (self.pos + 1) % self.P

    def side_entries(self) -> int:
        """Next observations a store-once buffer must keep apart: those of the newest row and those that differ
        bitwise from the following step's obs."""
        newest = (self.pos - 1) % self.P
        return sum(row == newest or not bits_equal(slot["next_obs"], self.slots[(row + 1) % self.P, env]["obs"])
                   for (row, env), slot in self.slots.items())

    def gather(self, index: int) -> dict:
        row, env = divmod(int(index), self.N)
        first = cur = self.slots[row, env]
        ret, steps = np.float64(first["rewards"]), 1
        terminated, done = bool(first["terminated"]), bool(first["terminated"] or first["truncated"])
        while not done and steps < self.n:
            cur = self.slots[(row + steps) % self.P, env]
            ret += cur["rewards"] * self.gamma**steps  # float32 product (a Python float is weak), float64 sum
            steps += 1
            terminated, done = bool(cur["terminated"]), bool(cur["terminated"] or cur["truncated"])
        return {"obs": first["obs"], "next_obs": cur["next_obs"], "actions": first["actions"],
                "rewards": np.float32(ret), "discounts": np.float32(self.gamma**steps),
                "terminated": np.float32(terminated)}


def bits_equal(a, b) -> bool:
    """Same structure, dtypes, shapes and bits (so -0.0 != 0.0)."""
    la, lb = tree.leaves(a), tree.leaves(b)
    return len(la) == len(lb) and all(
        x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes()
        for x, y in zip(map(np.asarray, la), map(np.asarray, lb)))


def check_against_naive(buf: ReplayBuffer, naive: NaiveReplay, indices: np.ndarray) -> None:
    got = buf._gather(indices)
    for i, index in enumerate(indices):
        want = naive.gather(index)
        for key in ("obs", "next_obs"):
            assert bits_equal(tree.index(got[key], i), tree.map_tree(np.asarray, want[key])), (key, index)
        assert got["actions"][i] == want["actions"]
        for key in ("rewards", "discounts", "terminated"):  # float32, bit for bit
            assert got[key].dtype == np.float32 and got[key][i] == want[key], (key, index, got[key][i], want[key])


# ---------------------------------------------------------------- exactness


@pytest.mark.parametrize("buffer_cls", BUFFERS)
@pytest.mark.parametrize("space", [NESTED_SPACE, FLAT_SPACE], ids=["nested", "flat"])
@pytest.mark.parametrize("n_step,num_envs,seed", [(1, 1, 0), (3, 4, 1), (5, 3, 2), (2, 2, 3)])
def test_matches_naive_buffer_that_stores_next_obs_separately(buffer_cls, space, n_step, num_envs, seed):
    rng = np.random.default_rng(seed)
    cap_per_env, gamma = 9, float(rng.uniform(0.5, 0.999))
    buf = buffer_cls(capacity=cap_per_env * num_envs, n_step=n_step, gamma=gamma, seed=seed)
    buf.setup(space, ACT_SPACE, num_envs)
    naive = NaiveReplay(cap_per_env, num_envs, n_step, gamma)
    streams = Streams(space, num_envs, rng)
    # Small adds, an add of exactly one ring, one larger than the ring, single steps: wrap-around every way.
    for steps in [3, 1, 1, 4, 9, 2, 13, 1, 5, 8, 2, 7, 1, 1, 3, 6]:
        rollout = streams.rollout(steps)
        buf.add(rollout)
        naive.add(rollout)
        assert buf._side_size == naive.side_entries(), "every next obs that differs is kept once, no other"
        indices = np.flatnonzero(buf.is_sampleable(np.arange(cap_per_env * num_envs)))
        assert len(indices) == len(buf)
        check_against_naive(buf, naive, indices)
        assert buf._side_size <= cap_per_env * num_envs and buf.side_capacity <= cap_per_env * num_envs
        if len(buf):
            batch = buf.sample(16)
            check_against_naive(buf, naive, batch["indices"].numpy())
            if buffer_cls is PrioritizedReplayBuffer:
                buf.update_priorities(batch["indices"], rng.standard_normal(16))


def test_next_obs_sides_exactly_where_it_differs_bitwise():
    buf = ReplayBuffer(capacity=10, n_step=1)
    buf.setup(FLAT_SPACE, ACT_SPACE, num_envs=1)
    obs = np.arange(15, dtype=np.float32).reshape(5, 1, 3)
    next_obs = np.concatenate([obs[1:], np.full((1, 1, 3), 99, np.float32)])
    next_obs[1, 0, 0] = 7.0  # a discontinuity without an episode end
    obs[3, 0, 0], next_obs[2, 0, 0] = 0.0, -0.0  # equal as floats, not as bits
    terminated = np.zeros((5, 1), bool)
    terminated[0] = True  # an episode end whose final obs equals the reset obs needs no side entry
    buf.add({"obs": obs, "next_obs": next_obs, "actions": np.zeros((5, 1), int), "rewards": np.zeros((5, 1)),
             "terminated": terminated, "truncated": np.zeros((5, 1), bool)})
    np.testing.assert_array_equal(buf.side_index[:5, 0] >= 0, [False, True, True, False, True])
    got = buf._gather(np.arange(5))["next_obs"]
    assert got.tobytes() == next_obs[:, 0].tobytes()
    # The next add starts where the last one ended: the newest step's side entry is given back.
    buf.add({"obs": next_obs[4:], "next_obs": next_obs[4:] + 1, "actions": np.zeros((1, 1), int),
             "rewards": np.zeros((1, 1)), "terminated": np.zeros((1, 1), bool), "truncated": np.zeros((1, 1), bool)})
    np.testing.assert_array_equal(buf.side_index[:6, 0] >= 0, [False, True, True, False, False, True])
    assert buf._side_size == 3


# ---------------------------------------------------------------- memory


def frame_rollout(rng, current, steps, left, min_len):
    n = len(left)
    obs = np.empty((steps, n, 4, 84, 84), np.uint8)
    next_obs = rng.integers(0, 256, (steps, n, 4, 84, 84), dtype=np.uint8)
    done = np.zeros((steps, n), bool)
    for t in range(steps):
        obs[t] = current
        left -= 1
        done[t] = left == 0
        current = np.where(done[t, :, None, None, None], rng.integers(0, 256, current.shape, dtype=np.uint8),
                           next_obs[t])
        left[done[t]] = rng.integers(min_len, 3 * min_len, int(done[t].sum()))
    return current, {"obs": obs, "next_obs": next_obs, "actions": rng.integers(0, 3, (steps, n)),
                     "rewards": np.ones((steps, n), np.float32), "terminated": done,
                     "truncated": np.zeros((steps, n), bool)}


@pytest.mark.parametrize("buffer_cls", BUFFERS)
def test_frames_take_within_1_1x_of_their_raw_bytes(buffer_cls):
    rng = np.random.default_rng(0)
    capacity, num_envs, frame = 800, 4, 4 * 84 * 84
    buf = buffer_cls(capacity=capacity, n_step=3, seed=0)
    buf.setup(FRAME_SPACE, ACT_SPACE, num_envs)
    current = rng.integers(0, 256, (num_envs, 4, 84, 84), dtype=np.uint8)
    left = rng.integers(1, 40, num_envs)  # episodes of length >= 20 after the first
    for _ in range(2 * capacity // num_envs // 10):
        current, rollout = frame_rollout(rng, current, 10, left, min_len=20)
        buf.add(rollout)
        assert buf.nbytes <= 1.1 * capacity * frame, buf.nbytes / (capacity * frame)
    assert buf.nbytes >= capacity * frame
    batch = buf.sample(32)
    assert batch["obs"].dtype == batch["next_obs"].dtype == torch.uint8


def test_nbytes_counts_every_array():
    buf = PrioritizedReplayBuffer(capacity=12, n_step=2)
    buf.setup(NESTED_SPACE, gym.spaces.Box(-1, 1, (2,)), num_envs=3)
    per_obs = 2 * 3 * 3 + 2 * 4 + 8 + (3 + 2 * 8 + 2)  # uint8 frame, float32 vec, int64 pos, int8 / int64 / bool
    side_rows = buf.side_capacity
    columns = 12 * (2 * 4 + 4 + 1 + 1 + 4)  # actions float32 x2, rewards, terminated, truncated, side index int32
    assert buf.nbytes == 12 * per_obs + side_rows * per_obs + columns + buf.tree.nbytes
    assert buf.tree.nbytes == 2 * 2 * 16 * 8  # sum and min arrays over 16 padded leaves, float64


def test_side_ring_grows_by_half_at_least_to_what_is_needed_and_never_past_capacity():
    buf = ReplayBuffer(capacity=200)
    buf.setup(FLAT_SPACE, ACT_SPACE, num_envs=2)
    assert buf.side_capacity == 4  # room for the newest row twice
    for needed, expected in [(5, 7), (8, 11), (50, 50), (76, 76), (115, 115), (116, 173), (174, 200)]:
        buf._side_grow(needed)
        assert buf.side_capacity == expected, (needed, expected)


def test_side_ring_grows_geometrically_and_stays_in_write_order():
    rng = np.random.default_rng(5)
    buf = ReplayBuffer(capacity=200, n_step=1)
    buf.setup(FLAT_SPACE, ACT_SPACE, num_envs=2)
    streams = Streams(FLAT_SPACE, 2, rng, min_len=1, max_len=2, p_jump=0.0)
    sizes = []
    for _ in range(30):
        buf.add(streams.rollout(7))
        sizes.append(buf.side_capacity)
        live = buf.side_index[buf.side_index >= 0]
        assert len(live) == buf._side_size
        # Entries in write order: relative to the head, ordered as their steps (rows oldest first, then envs).
        age_order = np.argsort((np.arange(100)[:, None] - buf._pos) % 100 * 2 + np.arange(2), axis=None)
        rel = ((buf.side_index - buf._side_head) % buf.side_capacity).ravel()[age_order]
        rel = rel[buf.side_index.ravel()[age_order] >= 0]
        np.testing.assert_array_equal(rel, np.arange(len(rel)))
    grown = [b for a, b in zip(sizes, sizes[1:]) if b != a]
    assert grown and all(b <= 200 for b in grown)
    for a, b in zip(sizes, sizes[1:]):  # grows by 1.5x (more only when one add needs more), capped at capacity
        assert b == a or b == min(int(a * 1.5) + 1, 200) or b > int(a * 1.5) + 1


# ---------------------------------------------------------------- dtypes, spaces, checkpoints


def test_sample_keeps_structure_and_travelling_dtypes():
    rng = np.random.default_rng(0)
    buf = ReplayBuffer(capacity=20, n_step=2, seed=0)
    buf.setup(NESTED_SPACE, ACT_SPACE, num_envs=2)
    buf.add(Streams(NESTED_SPACE, 2, rng).rollout(6))
    batch = buf.sample(5)
    for key in ("obs", "next_obs"):
        obs = batch[key]
        assert set(obs) == {"frame", "vec", "pos", "tup"} and isinstance(obs["tup"], tuple)
        assert obs["frame"].dtype == torch.uint8 and obs["frame"].shape == (5, 2, 3, 3)
        assert obs["vec"].dtype == torch.float32 and obs["pos"].dtype == torch.int64 and obs["pos"].shape == (5,)
        assert [x.dtype for x in obs["tup"]] == [torch.int8, torch.int64, torch.bool]
    assert batch["rewards"].dtype == batch["terminated"].dtype == batch["discounts"].dtype == torch.float32


@pytest.mark.parametrize("space", [
    gym.spaces.Text(5), gym.spaces.Graph(gym.spaces.Box(0, 1, (2,)), None),
    gym.spaces.Sequence(gym.spaces.Discrete(3)), gym.spaces.Dict({"ok": FLAT_SPACE, "text": gym.spaces.Text(4)}),
])
def test_setup_refuses_spaces_it_cannot_store(space):
    with pytest.raises(ValueError, match=type(space).__name__):
        ReplayBuffer(capacity=8).setup(space, ACT_SPACE, num_envs=1)


@pytest.mark.parametrize("buffer_cls", BUFFERS)
def test_state_dict_round_trip_with_structured_obs(buffer_cls, tmp_path):
    rng = np.random.default_rng(4)
    streams = Streams(NESTED_SPACE, 3, rng)
    rollouts = [streams.rollout(s) for s in (5, 6, 7, 4, 3, 8, 2, 5)]
    buf = buffer_cls(capacity=30, n_step=3, gamma=0.9, seed=7)
    buf.setup(NESTED_SPACE, ACT_SPACE, num_envs=3)
    for r in rollouts[:4]:
        buf.add(r)
    assert buf._side_head != 0, "setup: the ring has wrapped"
    torch.save(buf.state_dict(), tmp_path / "buffer.pt")
    fresh = buffer_cls(capacity=30, n_step=3, gamma=0.9, seed=123)
    fresh.load_state_dict(torch.load(tmp_path / "buffer.pt", weights_only=True))
    assert fresh.nbytes == buf.nbytes and len(fresh) == len(buf)
    for r in rollouts[4:]:
        for b in (buf, fresh):
            b.add(r)
            x = b.sample(16)
            if isinstance(b, PrioritizedReplayBuffer):
                b.update_priorities(x["indices"], np.arange(16.0))
        xs, ys = buf.sample(16), fresh.sample(16)
        assert xs.keys() == ys.keys()
        for k in xs:
            assert all(torch.equal(a, b) for a, b in zip(tree.leaves(xs[k]), tree.leaves(ys[k]), strict=True)), k


def test_old_checkpoint_format_is_refused_with_a_clear_message():
    old = {"storage": {"obs": torch.zeros(4, 1, 3), "next_obs": torch.zeros(4, 1, 3)}, "num_envs": 1,
           "capacity_per_env": 4, "pos": 0, "filled": 0, "rng": np.random.default_rng(0).bit_generator.state}
    with pytest.raises(ValueError, match="predates structured-observation buffers"):
        ReplayBuffer(capacity=4).load_state_dict(old)


@pytest.mark.parametrize("buffer_cls", BUFFERS)
def test_storage_names_every_array_and_sums_to_nbytes(buffer_cls):
    rng = np.random.default_rng(1)
    buf = buffer_cls(capacity=200, n_step=1, seed=0)
    buf.setup(FRAME_SPACE, ACT_SPACE, 2)
    current = rng.integers(0, 256, (2, 4, 84, 84), dtype=np.uint8)
    _, rollout = frame_rollout(rng, current, 10, rng.integers(1, 5, 2), min_len=3)
    buf.add(rollout)
    storage = buf.storage
    assert storage["obs"].dtype == np.uint8 and "side_obs" in storage and "rewards" in storage
    extra = buf.nbytes - sum(v.nbytes for v in storage.values())
    assert extra >= 0  # PER adds its sum tree on top
    if buffer_cls is ReplayBuffer:
        assert extra == 0
