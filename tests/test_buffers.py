import gymnasium as gym
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rlhydra.buffers import PrioritizedReplayBuffer, ReplayBuffer, SumTree
from rlhydra.data.tree import leaves

OBS_SPACE = gym.spaces.Box(-np.inf, np.inf, shape=(3,), dtype=np.float32)
ACT_SPACE = gym.spaces.Discrete(4)
BUFFERS = [ReplayBuffer, PrioritizedReplayBuffer]


# ---------------------------------------------------------------- helpers


def make_stream(rng: np.random.Generator, steps: int, num_envs: int, p_term=0.1, p_trunc=0.08) -> dict:
    """Random time-major data; obs = [t, env, noise] so a sampled row identifies its (t, env)."""
    t = np.broadcast_to(np.arange(steps, dtype=np.float32)[:, None], (steps, num_envs))
    env = np.broadcast_to(np.arange(num_envs, dtype=np.float32)[None, :], (steps, num_envs))
    obs = np.stack([t, env, rng.standard_normal((steps, num_envs), dtype=np.float32)], axis=-1)
    next_obs = np.stack([t + 0.5, env, rng.standard_normal((steps, num_envs), dtype=np.float32)], axis=-1)
    return {
        "obs": obs,
        "actions": rng.integers(0, ACT_SPACE.n, size=(steps, num_envs)),
        "rewards": rng.standard_normal((steps, num_envs)).astype(np.float32),
        "terminated": rng.random((steps, num_envs)) < p_term,
        "truncated": rng.random((steps, num_envs)) < p_trunc,
        "next_obs": next_obs,
    }


def chunk(stream: dict, start: int, stop: int) -> dict:
    return {k: v[start:stop] for k, v in stream.items()}


def reference_n_step(stream: dict, env: int, t: int, n: int, gamma: float, stored: int):
    """Pure-Python n-step target for step t of one env; None if the window is not yet stored."""
    ret, steps, terminated, last = 0.0, 0, False, t
    for k in range(n):
        if t + k >= stored:
            return None
        ret += gamma**k * float(stream["rewards"][t + k, env])
        steps, last = k + 1, t + k
        if stream["terminated"][t + k, env]:
            terminated = True
            break
        if stream["truncated"][t + k, env]:
            break
    return ret, gamma**steps, terminated, stream["next_obs"][last, env]


def sampled_keys(batch: dict) -> list[tuple[int, int]]:
    obs = batch["obs"].numpy()
    return [(int(e), int(t)) for t, e in zip(obs[:, 0], obs[:, 1], strict=True)]


# ---------------------------------------------------------------- SumTree


@settings(max_examples=100, deadline=None, derandomize=True)
@given(
    st.integers(1, 70).flatmap(
        lambda n: st.tuples(
            st.just(n),
            st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, 20)), min_size=1, max_size=120),
            st.lists(st.floats(0, 1, exclude_max=True), min_size=1, max_size=50),
        )
    )
)
def test_sum_tree_update_total_and_prefix_search_match_numpy(case):
    capacity, updates, fractions = case
    tree, expected = SumTree(capacity), np.zeros(capacity)
    idx = np.array([i for i, _ in updates])
    prio = np.array([p for _, p in updates], dtype=np.float64)
    half = len(updates) // 2
    tree.update(idx[:half], prio[:half])  # batched, possibly with duplicate indices
    tree.update(idx[half:], prio[half:])
    for i, p in updates:  # sequential reference: last write wins
        expected[i] = p
    np.testing.assert_array_equal(tree.priorities, expected)
    np.testing.assert_array_equal(tree[np.arange(capacity)], expected)
    assert tree.total() == expected.sum()  # small integers: exact in float64
    positive = expected[expected > 0]
    assert tree.min() == (positive.min() if positive.size else np.inf)
    if expected.sum() > 0:
        values = np.array(fractions) * expected.sum()
        brute = np.searchsorted(np.cumsum(expected), values, side="right")
        np.testing.assert_array_equal(tree.find_prefix_sum(values), brute)
        assert np.all(expected[tree.find_prefix_sum(values)] > 0)


def test_sum_tree_sampling_frequencies_match_priorities():
    rng = np.random.default_rng(0)
    for capacity in (1, 2, 5, 33, 100):
        priorities = rng.random(capacity) * (rng.random(capacity) < 0.8)
        priorities[0] += 0.1  # at least one positive
        tree = SumTree(capacity)
        tree.update(np.arange(capacity), priorities)
        probs = priorities / priorities.sum()
        np.testing.assert_allclose(tree.total(), priorities.sum())

        # A deterministic grid of values: each leaf gets its share up to +-1 (+1 for round-off).
        m = 10_000
        grid = (np.arange(m) + 0.5) / m * tree.total()
        counts = np.bincount(tree.find_prefix_sum(grid), minlength=capacity)
        assert np.all(np.abs(counts - probs * m) < 2)

        # Random draws (fixed seed, so never flaky): chi-square statistic far below a loose bound.
        n = 50_000
        counts = np.bincount(tree.find_prefix_sum(rng.random(n) * tree.total()), minlength=capacity)
        assert counts[probs == 0].sum() == 0
        expected = probs[probs > 0] * n
        chi2 = ((counts[probs > 0] - expected) ** 2 / expected).sum()
        dof = max(len(expected) - 1, 1)
        assert chi2 < dof + 8 * np.sqrt(2 * dof)


def test_sum_tree_never_returns_zero_leaf_at_total_and_rejects_bad_input():
    tree = SumTree(6)
    tree.update([1, 3], [0.1, 0.2])
    assert set(tree.find_prefix_sum([0.0, 0.3, tree.total(), 1e9]).tolist()) <= {1, 3}
    assert tree.find_prefix_sum(np.zeros((2, 3))).shape == (2, 3)
    with pytest.raises(IndexError):
        tree.update([6], [1.0])
    with pytest.raises(ValueError):
        tree.update([0], [-1.0])


# ---------------------------------------------------------------- n-step correctness


@pytest.mark.parametrize("buffer_cls", BUFFERS)
@pytest.mark.parametrize("n_step", [1, 3, 5])
@pytest.mark.parametrize("seed", range(8))
def test_n_step_matches_reference(buffer_cls, n_step, seed):
    rng = np.random.default_rng(seed)
    num_envs, cap_per_env = 3, 16
    gamma = float(rng.uniform(0.5, 0.999))
    buf = buffer_cls(capacity=num_envs * cap_per_env, n_step=n_step, gamma=gamma, seed=seed)
    buf.setup(OBS_SPACE, ACT_SPACE, num_envs)
    stream = make_stream(rng, 120, num_envs)
    stored = 0
    for size in [*rng.integers(1, 8, size=10), 20, *rng.integers(1, 8, size=10)]:  # 20 > cap_per_env
        buf.add(chunk(stream, stored, stored + size))
        stored += size
        # Contract: exactly the retained steps whose n-step window is stored are sampleable.
        oldest = max(stored - cap_per_env, 0)
        sampleable = {(e, t) for e in range(num_envs) for t in range(oldest, stored - n_step + 1)}
        assert len(buf) == len(sampleable)
        if not sampleable:
            continue
        if isinstance(buf, PrioritizedReplayBuffer):
            flat = np.arange(len(buf.tree))
            np.testing.assert_array_equal(buf.tree.priorities > 0, buf.is_sampleable(flat))
        batch = buf.sample(20 * len(buf))
        keys = sampled_keys(batch)
        if isinstance(buf, PrioritizedReplayBuffer):
            assert set(keys) <= sampleable  # low priorities may go unsampled
        else:
            assert set(keys) == sampleable
        refs = {key: reference_n_step(stream, *key, n_step, gamma, stored) for key in set(keys)}
        assert None not in refs.values(), "sampled an incomplete n-step window"
        ret, discount, terminated, next_obs = (np.array(x) for x in zip(*(refs[k] for k in keys), strict=True))
        env, t = np.array(keys).T
        np.testing.assert_array_equal(batch["actions"].numpy(), stream["actions"][t, env])
        np.testing.assert_allclose(batch["rewards"].numpy(), ret, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(batch["discounts"].numpy(), discount, rtol=1e-6)
        np.testing.assert_array_equal(batch["terminated"].numpy(), terminated.astype(np.float32))
        np.testing.assert_array_equal(batch["next_obs"].numpy(), next_obs)
        if isinstance(buf, PrioritizedReplayBuffer):
            buf.update_priorities(batch["indices"], rng.standard_normal(len(keys)))


@pytest.mark.parametrize("n_step", [1, 3])
def test_ring_buffer_overwrite_keeps_only_newest_data(n_step):
    rng = np.random.default_rng(1)
    buf = ReplayBuffer(capacity=16, n_step=n_step, seed=0)
    buf.setup(OBS_SPACE, ACT_SPACE, num_envs=2)
    assert buf.capacity_per_env == 8
    stream = make_stream(rng, 40, 2, p_term=0.0, p_trunc=0.0)
    buf.add(chunk(stream, 0, 5))
    buf.add(chunk(stream, 5, 30))  # a single add larger than the ring
    buf.add(chunk(stream, 30, 33))
    assert len(buf) == (8 - n_step + 1) * 2
    batch = buf.sample(2000)
    ts = batch["obs"][:, 0].numpy()
    assert set(ts.tolist()) == set(range(33 - 8, 33 - n_step + 1))
    # With no episode ends the window spans exactly n consecutive steps of the same env stream.
    np.testing.assert_array_equal(batch["next_obs"][:, 0].numpy(), ts + n_step - 1 + 0.5)
    np.testing.assert_array_equal(batch["next_obs"][:, 1].numpy(), batch["obs"][:, 1].numpy())
    np.testing.assert_allclose(batch["discounts"].numpy(), 0.99**n_step, rtol=1e-6)


def test_truncation_bootstraps_and_termination_does_not():
    buf = ReplayBuffer(capacity=10, n_step=3, gamma=0.5)
    buf.setup(OBS_SPACE, ACT_SPACE, num_envs=1)
    stream = make_stream(np.random.default_rng(0), 6, 1, p_term=0.0, p_trunc=0.0)
    stream["rewards"][:] = 1.0
    stream["truncated"][1, 0] = True
    stream["terminated"][4, 0] = True
    buf.add(stream)
    batch = buf._gather(np.arange(4))  # steps 0..3, windows complete
    np.testing.assert_allclose(batch["rewards"], [1.5, 1.0, 1.75, 1.5])
    np.testing.assert_allclose(batch["discounts"], [0.25, 0.5, 0.125, 0.25])
    np.testing.assert_array_equal(batch["terminated"], [0, 0, 1, 1])
    np.testing.assert_array_equal(batch["next_obs"][:, 0], [1.5, 1.5, 4.5, 4.5])


# ---------------------------------------------------------------- state dict round trip


def check_plain_types(obj):
    if isinstance(obj, dict):
        for k, v in obj.items():
            assert isinstance(k, str)
            check_plain_types(v)
    elif isinstance(obj, list | tuple):
        for v in obj:
            check_plain_types(v)
    else:
        assert obj is None or isinstance(obj, int | float | str | bool | torch.Tensor), type(obj)


@pytest.mark.parametrize("buffer_cls", BUFFERS)
def test_state_dict_round_trip(buffer_cls, tmp_path):
    rng = np.random.default_rng(3)
    stream = make_stream(rng, 80, 4)
    buf = buffer_cls(capacity=64, n_step=3, gamma=0.9, seed=7)
    buf.setup(OBS_SPACE, ACT_SPACE, num_envs=4)
    buf.add(chunk(stream, 0, 25))
    for _ in range(3):
        batch = buf.sample(16)
        if isinstance(buf, PrioritizedReplayBuffer):
            buf.update_priorities(batch["indices"], torch.randn(16, requires_grad=True))

    state = buf.state_dict()
    check_plain_types(state)
    torch.save(state, tmp_path / "buffer.pt")
    loaded = torch.load(tmp_path / "buffer.pt", weights_only=True)
    fresh = buffer_cls(capacity=64, n_step=3, gamma=0.9, seed=123)
    fresh.load_state_dict(loaded)
    for b in (buf, fresh):
        b.add(chunk(stream, 25, 30))
    saved, reloaded = leaves(state), leaves(loaded)  # the snapshot does not alias live storage
    assert len(saved) == len(reloaded)
    for v, w in zip(saved, reloaded, strict=True):
        assert torch.equal(v, w) if isinstance(v, torch.Tensor) else v == w
    assert len(fresh) == len(buf)

    td = rng.standard_normal(32)
    for b in (buf, fresh):
        first = b.sample(32)
        if isinstance(b, PrioritizedReplayBuffer):
            b.update_priorities(first["indices"], td)
        b.add(chunk(stream, 25, 60))
    for _ in range(3):
        x, y = buf.sample(32), fresh.sample(32)
        assert x.keys() == y.keys()
        for k in x:
            assert torch.equal(x[k], y[k]), k
    if isinstance(buf, PrioritizedReplayBuffer):
        np.testing.assert_array_equal(buf.tree.priorities, fresh.tree.priorities)
        assert buf.beta == fresh.beta and buf.max_priority == fresh.max_priority


# ---------------------------------------------------------------- prioritized replay


def filled_per(**kwargs) -> PrioritizedReplayBuffer:
    buf = PrioritizedReplayBuffer(capacity=10, seed=0, **kwargs)
    buf.setup(OBS_SPACE, ACT_SPACE, num_envs=1)
    buf.add(make_stream(np.random.default_rng(0), 10, 1))
    return buf


def test_per_weights_are_normalised_importance_weights():
    buf = filled_per(alpha=0.7)
    assert torch.all(buf.sample(64)["weights"] == 1.0)  # all new transitions share max priority
    td = np.linspace(0.1, 3.0, 10)
    buf.update_priorities(np.arange(10), td)
    beta = buf.beta
    batch = buf.sample(4096)
    w, idx = batch["weights"].numpy(), batch["indices"].numpy()
    assert np.all(w > 0) and np.all(w <= 1)
    assert w.max() == 1.0  # the min-priority transition is sampled and gets weight 1
    p = (td + buf.eps) ** 0.7
    np.testing.assert_allclose(w, (p[idx] / p.min()) ** -beta, rtol=1e-5)


def test_per_update_priorities_changes_sampling_frequencies():
    buf = filled_per(alpha=1.0, eps=1e-8)
    td = torch.tensor([0.0, 1, 2, 3, 4, 5, 6, 7, 8, 9], requires_grad=True)
    buf.update_priorities(torch.arange(10), -td)  # sign ignored, tensors accepted
    freq = np.bincount(buf.sample(100_000)["indices"].numpy(), minlength=10) / 100_000
    np.testing.assert_allclose(freq, np.arange(10) / 45, atol=0.01)
    assert freq[0] < 1e-4


def test_per_new_transitions_get_max_priority():
    buf = filled_per(alpha=1.0, eps=0.0)
    buf.update_priorities([2, 3], [5.0, 0.5])
    assert buf.max_priority == 5.0
    buf.add(make_stream(np.random.default_rng(1), 3, 1))  # overwrites slots 0, 1, 2
    np.testing.assert_allclose(buf.tree.priorities, [5, 5, 5, 0.5, 1, 1, 1, 1, 1, 1])


def test_per_beta_annealing():
    buf = filled_per(beta_start=0.4, beta_anneal_steps=10)
    assert buf.beta == pytest.approx(0.4)
    for _ in range(5):
        buf.sample(4)
    assert buf.beta == pytest.approx(0.7)
    for _ in range(5):
        buf.sample(4)
    assert buf.beta == 1.0
    buf.sample(4)
    assert buf.beta == 1.0
    buf.set_beta(0.5)
    assert buf.beta == 0.5


# ---------------------------------------------------------------- device, dtypes, API


@pytest.mark.parametrize("buffer_cls", BUFFERS)
def test_sample_device_dtypes_and_iteration(buffer_cls):
    env = gym.make("CartPole-v1")
    buf = buffer_cls(capacity=100, n_step=2, device="cpu", batch_size=8, seed=0)
    buf.setup(env.observation_space, env.action_space, num_envs=2)
    with pytest.raises(ValueError):
        buf.sample(4)
    rng = np.random.default_rng(0)
    buf.add(
        {
            "obs": rng.standard_normal((5, 2, 4)).astype(np.float32),
            "actions": rng.integers(0, 2, size=(5, 2)),
            "rewards": np.ones((5, 2), np.float32),
            "terminated": np.zeros((5, 2), bool),
            "truncated": np.zeros((5, 2), bool),
            "next_obs": rng.standard_normal((5, 2, 4)).astype(np.float32),
        }
    )
    batch = buf.sample(6)
    assert all(v.device == buf.device for v in batch.values())
    assert batch["obs"].dtype == batch["next_obs"].dtype == torch.float32
    assert batch["actions"].dtype == torch.int64 and batch["actions"].shape == (6,)
    for k in ("rewards", "terminated", "discounts", "weights"):
        assert batch[k].dtype == torch.float32 and batch[k].shape == (6,)
    assert len(list(buf.iterate(batch_size=3, num_batches=4))) == 4
    assert next(iter(buf))["obs"].shape == (8, 4)
    with pytest.raises(ValueError, match="shape"):
        buf.add({k: v[:, :1] for k, v in make_stream(rng, 3, 2).items()})


def test_box_actions_are_float32():
    buf = ReplayBuffer(capacity=8)
    buf.setup(OBS_SPACE, gym.spaces.Box(-1, 1, shape=(2,), dtype=np.float64), num_envs=1)
    stream = make_stream(np.random.default_rng(0), 4, 1)
    stream["actions"] = np.zeros((4, 1, 2))
    buf.add(stream)
    assert buf.sample(3)["actions"].dtype == torch.float32


def test_buffer_selectable_by_hydra_target():
    instantiate = pytest.importorskip("hydra.utils").instantiate
    cfg = {"_target_": "rlhydra.buffers.PrioritizedReplayBuffer", "capacity": 100, "n_step": 3, "alpha": 0.5}
    buf = instantiate(cfg)
    assert isinstance(buf, PrioritizedReplayBuffer) and buf.n_step == 3 and buf.alpha == 0.5


def test_per_priorities_are_abs_td_plus_eps_to_the_alpha():
    buf = filled_per(alpha=0.5, eps=0.01)
    td = np.array([0.0, -0.99, 3.99, -8.99])
    buf.update_priorities(np.arange(4), td)
    np.testing.assert_allclose(buf.tree.priorities[:4], [0.1, 1.0, 2.0, 3.0], rtol=1e-12,
                               err_msg="priority = (|td| + eps) ** alpha")
    assert buf.max_priority == pytest.approx(3.0)


def test_per_max_priority_is_a_running_maximum_over_updates():
    buf = filled_per(alpha=1.0, eps=0.0)
    buf.update_priorities([2], [5.0])
    buf.update_priorities([3], [0.5])  # a later, smaller update does not lower the maximum
    assert buf.max_priority == 5.0
    buf.add(make_stream(np.random.default_rng(1), 1, 1))  # overwrites slot 0
    assert buf.tree.priorities[0] == 5.0


def test_per_first_sample_uses_beta_start_and_beta_anneals_per_sample_call():
    buf = filled_per(alpha=1.0, eps=0.0, beta_start=0.2, beta_anneal_steps=2)
    p = np.arange(1.0, 11.0)
    buf.update_priorities(np.arange(10), p)
    for beta in (0.2, 0.6, 1.0, 1.0):
        batch = buf.sample(256)
        idx = batch["indices"].numpy()
        np.testing.assert_allclose(batch["weights"].numpy(), (p[idx] / p.min()) ** -beta, rtol=1e-6,
                                   err_msg=f"weights of this sample use beta={beta}")


def test_per_beta_is_one_without_annealing_steps():
    assert filled_per(beta_start=0.4, beta_anneal_steps=0).beta == 1.0


def test_per_stale_indices_are_not_reprioritised_after_overwrite():
    buf = PrioritizedReplayBuffer(capacity=10, n_step=3, seed=0)
    buf.setup(OBS_SPACE, ACT_SPACE, num_envs=1)
    buf.add(make_stream(np.random.default_rng(0), 10, 1, p_term=0.0, p_trunc=0.0))
    stale = np.arange(10)  # e.g. indices of a batch sampled before the next add
    buf.add(make_stream(np.random.default_rng(1), 2, 1, p_term=0.0, p_trunc=0.0))  # rows 0, 1: windows incomplete
    buf.update_priorities(stale, np.full(10, 4.0))
    np.testing.assert_array_equal(buf.tree.priorities > 0, buf.is_sampleable(np.arange(10)))
    assert buf.tree.priorities[0] == buf.tree.priorities[1] == 0.0, "incomplete windows must stay unsampleable"
    assert set(buf.sample(2000)["indices"].numpy().tolist()) <= set(np.flatnonzero(buf.is_sampleable(np.arange(10))))
