"""Observation trees: a leaf is an array (numpy or torch); a Dict space's observation is a dict of trees, a Tuple
space's a tuple of trees. Every batch column that holds observations is such a tree with the batch axes leading.

rlhydra keeps this small nested-dict-of-arrays of its own rather than a `tensordict.TensorDict`: the same few
functions serve numpy (runners, subprocess pipes, replay storage) and torch (learners, modules), pickle and
`torch.save(weights_only=True)` take it as it is, and a user's module receives plain dicts of tensors.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Tuple

import gymnasium as gym
import numpy as np
import torch

Tree = Any  # an array, or a dict / tuple of trees (a list is a leaf: an array written as a list)


def map_tree(fn: Callable[..., Any], tree: Tree, *others: Tree) -> Tree:
    """`fn` applied leaf by leaf to `tree` (and the leaves at the same place in `others`), same structure out."""
    if isinstance(tree, dict):
        return {k: map_tree(fn, v, *(o[k] for o in others)) for k, v in tree.items()}
    if isinstance(tree, tuple):
        return tuple(map_tree(fn, v, *(o[i] for o in others)) for i, v in enumerate(tree))
    return fn(tree, *others)


def leaves(tree: Tree) -> List[Any]:
    """The leaves in a fixed order (dict insertion order, tuple order)."""
    if isinstance(tree, dict):
        return [leaf for v in tree.values() for leaf in leaves(v)]
    if isinstance(tree, tuple):
        return [leaf for v in tree for leaf in leaves(v)]
    return [tree]


def first_leaf(tree: Tree) -> Any:
    """The first leaf (its leading axes are the batch's)."""
    while isinstance(tree, (dict, tuple)):
        tree = next(iter(tree.values())) if isinstance(tree, dict) else tree[0]
    return tree


def is_nested(tree: Tree) -> bool:
    return isinstance(tree, (dict, tuple))


def stack(trees: List[Tree], axis: int = 0) -> Tree:
    """Trees of equal structure -> one tree whose leaves are stacked along a new `axis`."""
    return map_tree(lambda *xs: np.stack(xs, axis), *trees) if trees else trees


def concat(trees: List[Tree], axis: int = 0) -> Tree:
    """Trees of equal structure -> one tree whose leaves are concatenated along `axis` (numpy or torch)."""
    def join(*xs: Any) -> Any:
        return torch.cat(xs, axis) if isinstance(xs[0], torch.Tensor) else np.concatenate(xs, axis)
    return map_tree(join, *trees)


def index(tree: Tree, idx: Any) -> Tree:
    """Every leaf indexed by `idx` along its leading axes."""
    return map_tree(lambda x: x[idx], tree)


def reshape_batch(tree: Tree, num_batch_dims: int, new_batch_shape: Tuple[int, ...]) -> Tree:
    """Replace each leaf's `num_batch_dims` leading axes by `new_batch_shape`."""
    return map_tree(lambda x: x.reshape(*new_batch_shape, *x.shape[num_batch_dims:]), tree)


def to_torch(tree: Tree, device: torch.device | str | None = None, non_blocking: bool = False) -> Tree:
    """numpy leaves -> tensors (sharing memory on CPU), dtypes kept, moved to `device` when given."""
    def convert(x: Any) -> torch.Tensor:
        t = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(x))
        return t if device is None else t.to(device, non_blocking=non_blocking)
    if isinstance(tree, np.ndarray) and device is None and tree.flags.c_contiguous:
        return torch.from_numpy(tree)  # the flat-vector hot path
    return map_tree(convert, tree)


def to_numpy(tree: Tree) -> Tree:
    """Tensor leaves (any device) -> numpy arrays (sharing memory with CPU tensors)."""
    if isinstance(tree, torch.Tensor) and tree.device.type == "cpu" and not tree.requires_grad:
        return tree.numpy()  # the flat-vector hot path
    return map_tree(_leaf_to_numpy, tree)


def _leaf_to_numpy(x: Any) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def clone(tree: Tree) -> Tree:
    return map_tree(lambda x: x.clone() if isinstance(x, torch.Tensor) else np.array(x, copy=True), tree)


def assign(dst: Tree, idx: Any, src: Tree) -> None:
    """dst[idx] = src, leaf by leaf (numpy or torch leaves)."""
    if isinstance(dst, dict):
        for k in dst:
            assign(dst[k], idx, src[k])
    elif isinstance(dst, tuple):
        for d, s in zip(dst, src):
            assign(d, idx, s)
    else:
        dst[idx] = src


def empty_like(tree: Tree, lead: Tuple[int, ...]) -> Tree:
    """numpy arrays shaped `lead + leaf.shape[1:]` with each leaf's dtype (a buffer for `lead` batches of it)."""
    return map_tree(lambda x: np.empty((*lead, *np.shape(x)[1:]), _np_dtype(x)), tree)


def nbytes(tree: Tree) -> int:
    """Bytes held by the leaves."""
    return sum(int(x.nbytes) if isinstance(x, np.ndarray) else x.numel() * x.element_size() for x in leaves(tree))


def _np_dtype(x: Any) -> np.dtype:
    if isinstance(x, torch.Tensor):
        return torch.empty(0, dtype=x.dtype).numpy().dtype
    return np.asarray(x).dtype


# ---- spaces ------------------------------------------------------------------------------------------------
def space_leaves(space: gym.Space) -> Tree:
    """The tree of (shape, numpy dtype) one observation of `space` has (Dict -> dict, Tuple -> tuple)."""
    if isinstance(space, gym.spaces.Dict):
        return {k: space_leaves(s) for k, s in space.spaces.items()}
    if isinstance(space, gym.spaces.Tuple):
        return tuple(space_leaves(s) for s in space.spaces)
    if isinstance(space, gym.spaces.Discrete):
        return ((), np.dtype(np.int64))
    if space.shape is None:
        raise ValueError(f"{space} has no fixed shape: rlhydra's data path carries Box, Discrete, MultiDiscrete, "
                         "MultiBinary and Dict/Tuple of them")
    dtype = np.dtype(space.dtype)
    if np.issubdtype(dtype, np.floating):
        dtype = np.dtype(np.float32)  # float64 observations travel as float32 (what every module computes in)
    elif isinstance(space, gym.spaces.MultiDiscrete):
        dtype = np.dtype(np.int64)
    return (tuple(space.shape), dtype)


def map_space_leaves(fn: Callable[[Tuple[int, ...], np.dtype], Any], space: gym.Space) -> Tree:
    """`fn(shape, dtype)` for each leaf of `space`, as a tree."""
    def is_spec(x: Any) -> bool:
        return isinstance(x, tuple) and len(x) == 2 and isinstance(x[1], np.dtype)

    def walk(spec: Tree) -> Tree:
        if is_spec(spec):
            return fn(*spec)
        if isinstance(spec, dict):
            return {k: walk(v) for k, v in spec.items()}
        return tuple(walk(v) for v in spec)
    return walk(space_leaves(space))


def leaf_dtypes(space: gym.Space) -> Tree:
    """The travelling dtype of each leaf of `space`, as a tree of `np.dtype`s (what `as_leaf_dtype` casts to)."""
    return map_space_leaves(lambda shape, dtype: dtype, space)


def as_leaf_dtype(tree: Tree, dtypes: Tree) -> Tree:
    """Raw env observations in each leaf's travelling dtype, `dtypes` from `leaf_dtypes(space)` (float64 ->
    float32; ints, uint8 and bools kept; a leaf already in its dtype is not copied)."""
    return map_tree(_cast, tree, dtypes)


def _cast(x: Any, dtype: np.dtype) -> np.ndarray:
    x = np.asarray(x)
    return x if x.dtype == dtype else x.astype(dtype)


def to_dict(tree: Tree) -> Dict[str, Any]:
    """A flat {'a/b/0': leaf} view (checkpoints, logs)."""
    out: Dict[str, Any] = {}

    def walk(t: Tree, prefix: str) -> None:
        if isinstance(t, dict):
            for k, v in t.items():
                walk(v, f"{prefix}{k}/")
        elif isinstance(t, tuple):
            for i, v in enumerate(t):
                walk(v, f"{prefix}{i}/")
        else:
            out[prefix[:-1]] = t
    walk(tree, "")
    return out
