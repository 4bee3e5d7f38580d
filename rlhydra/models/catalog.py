"""The module catalog: an encoder picked from the observation space (RLlib's Catalog, SB3's MultiInputPolicy), the
action head and distribution picked from the action space, and action masking.

Every encoder takes the observation tree a module receives (leaves in their travelling dtype, batch axis first, see
`rlhydra.data.tree.space_leaves`) and returns float32 features [B, out_dim]:

  Box, 1-D       the vector itself (cast to float32 when it is not; no layer, no copy when it is)
  Box, 3-D       an image: conv layers then Linear -> 512, ReLU (`ImageEncoder`)
  Box, other     flattened
  Discrete       one-hot; MultiDiscrete: one one-hot per component, concatenated; MultiBinary: as float
  Dict / Tuple   one encoder per entry, outputs concatenated in the space's order (gymnasium sorts Dict keys); the
                 top-level key `action_mask` is not encoded: the modules mask illegal actions with it

Action masking follows PettingZoo and RLlib: a Dict observation space with the key `action_mask`, a MultiBinary(n) or
Box(0, 1, (n,)) over the n Discrete actions (nonzero = legal). A row with no legal action is treated as all legal,
so it can never produce NaN logits or an empty choice.
"""
from __future__ import annotations

import functools
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Type

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor, nn

from rlhydra.config.schema import ConfigError
from rlhydra.config.targets import check_target, import_class
from rlhydra.models.distributions import Categorical, DiagGaussian, Distribution, MultiCategorical
from rlhydra.models.mlp import ACTIVATIONS

ACTION_MASK = "action_mask"
FEATURES_DIM = 512  # width of the image encoder's last (dense) layer, as SB3's NatureCNN and RLlib's default
NATURE_FILTERS = [[32, 8, 4], [64, 4, 2], [64, 3, 1]]  # Mnih et al. (2015), for Atari's 84x84
SMALL_FILTERS = [[16, 3, 1]]  # MinAtar's (Young & Tian, 2019) for its 10x10 images
NATURE_MIN_SIZE = 36  # the smallest side the Nature filters take (36 -> 8 -> 3 -> 1)

Filters = List[Tuple[int, Tuple[int, int], Tuple[int, int]]]  # (out_channels, (kh, kw), (sh, sw)) per layer


# ---- encoders ------------------------------------------------------------------------------------------------
class VectorEncoder(nn.Module):
    """A 1-D Box observation as it is (float32)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.out_dim = size

    def forward(self, x: Tensor) -> Tensor:
        return x.float()  # returns `x` itself when it is float32


class FlattenEncoder(nn.Module):
    """A Box of any other rank (or a MultiBinary) flattened to float32 [B, prod(shape)]."""

    def __init__(self, shape: Sequence[int]) -> None:
        super().__init__()
        self.out_dim = int(np.prod(shape, dtype=np.int64))

    def forward(self, x: Tensor) -> Tensor:
        return x.reshape(x.shape[0], -1).float()


class OneHotEncoder(nn.Module):
    """Discrete (int64 [B]) or MultiDiscrete (int64 [B, ...]) observations as concatenated one-hots."""

    def __init__(self, nvec: Sequence[int], start: Sequence[int]) -> None:
        super().__init__()
        nvec = [int(n) for n in np.ravel(nvec)]
        self.out_dim = sum(nvec)
        offsets = np.concatenate([[0], np.cumsum(nvec)[:-1]]) - np.ravel(start)
        self.register_buffer("offsets", torch.as_tensor(offsets, dtype=torch.int64), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        index = x.reshape(x.shape[0], -1).long() + self.offsets
        return torch.zeros(x.shape[0], self.out_dim, device=x.device).scatter_(1, index, 1.0)


class ImageEncoder(nn.Module):
    """Conv layers over an image (no padding), flattened, then Linear -> 512 and the activation (SB3's NatureCNN).

    Channel order: channels-first when the first axis is strictly smaller than the last ([4, 84, 84], [3, 64, 64]),
    channels-last otherwise ([84, 84, 4], and ties such as MinAtar's [10, 10, 10]). Integer images are divided by
    255, except those whose space has high <= 1 (0/1 images); bool and float images are taken as they are.
    """

    def __init__(self, space: gym.spaces.Box, filters: Filters, activation: str = "relu", *,
                 ortho_init: bool = False) -> None:
        super().__init__()
        self.channels_first, channels, height, width = image_layout(space.shape)
        self.divisor = image_divisor(space)
        act = ACTIVATIONS[activation]
        layers: List[nn.Module] = []
        for out_channels, kernel, stride in filters:
            layers += [nn.Conv2d(channels, out_channels, kernel, stride), act()]
            channels = out_channels
        height, width = conv_output_size((height, width), filters)[-1]
        self.cnn = nn.Sequential(*layers, nn.Flatten())
        self.linear = nn.Sequential(nn.Linear(channels * height * width, FEATURES_DIM), act())
        self.out_dim = FEATURES_DIM
        if ortho_init:  # as SB3's actor-critics initialise their features extractor
            for layer in self.modules():
                if isinstance(layer, (nn.Conv2d, nn.Linear)):
                    nn.init.orthogonal_(layer.weight, np.sqrt(2))
                    nn.init.zeros_(layer.bias)

    def forward(self, x: Tensor) -> Tensor:
        x = x.float()
        if self.divisor != 1.0:
            x = x / self.divisor
        if not self.channels_first:
            x = x.permute(0, 3, 1, 2)
        return self.linear(self.cnn(x))


class DictEncoder(nn.Module):
    """One encoder per Dict entry, outputs concatenated in the encoders' order."""

    def __init__(self, encoders: Mapping[str, nn.Module]) -> None:
        super().__init__()
        self.encoders = nn.ModuleDict(encoders)
        self.out_dim = sum(int(e.out_dim) for e in encoders.values())

    def forward(self, obs: Dict[str, Any]) -> Tensor:
        parts = [encoder(obs[key]) for key, encoder in self.encoders.items()]
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=-1)


class TupleEncoder(nn.Module):
    """One encoder per Tuple entry, outputs concatenated in order."""

    def __init__(self, encoders: Sequence[nn.Module]) -> None:
        super().__init__()
        self.encoders = nn.ModuleList(encoders)
        self.out_dim = sum(int(e.out_dim) for e in encoders)

    def forward(self, obs: Sequence[Any]) -> Tensor:
        parts = [encoder(x) for encoder, x in zip(self.encoders, obs)]
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=-1)


def build_encoder(
    space: gym.Space,
    *,
    conv_filters: Optional[Sequence[Sequence[Any]]] = None,
    conv_activation: str = "relu",
    encoder: Optional[Mapping[str, Any]] = None,
    encoders: Optional[Mapping[str, Mapping[str, Any]]] = None,
    ortho_init: bool = False,
) -> nn.Module:
    """The encoder of an observation space (see the module docstring); it has an `out_dim`.

    `encoder={_target_: pkg.MyEncoder, **kwargs}` replaces the whole encoder, `encoders={key: {_target_: ...}}` one
    top-level Dict entry's: the class is an nn.Module built with `observation_space=` (the space it encodes, without
    `action_mask`) and the kwargs, taking that part of the observation tree and setting an integer `out_dim`.
    `conv_filters` (RLlib's name): [[out_channels, kernel, stride], ...] for every image; null picks by image size.
    """
    space = without_action_mask(space)
    if encoder is not None:
        if encoders is not None:
            raise ConfigError("module.encoder and module.encoders are both set: module.encoder replaces the whole "
                              "encoder; keep one of them")
        return _custom_encoder(encoder, space, "module.encoder")
    if conv_activation not in ACTIVATIONS:
        raise ConfigError(f"module.conv_activation='{conv_activation}' is unknown; use one of {', '.join(ACTIVATIONS)}")
    build = functools.partial(_build, conv_filters=conv_filters, conv_activation=conv_activation,
                              ortho_init=ortho_init)
    if not encoders:
        return build(space, "")
    if not isinstance(space, gym.spaces.Dict):
        raise ConfigError(f"module.encoders replaces Dict entries' encoders, but the observation space is {space}; "
                          "use module.encoder for the whole observation")
    unknown = [k for k in encoders if k not in space.spaces]
    if unknown:
        raise ConfigError(f"module.encoders.{unknown[0]}: the observation space has no key '{unknown[0]}'; "
                          f"its keys: {', '.join(space.spaces)}")
    parts = {key: _custom_encoder(encoders[key], sub, f"module.encoders.{key}") if key in encoders
             else build(sub, f"['{key}']") for key, sub in space.spaces.items()}
    return DictEncoder(parts)


def _build(space: gym.Space, path: str, *, conv_filters: Optional[Sequence[Sequence[Any]]], conv_activation: str,
           ortho_init: bool) -> nn.Module:
    problem = _problem(space, path, conv_filters)
    if problem:
        raise ConfigError(problem)
    build = functools.partial(_build, conv_filters=conv_filters, conv_activation=conv_activation,
                              ortho_init=ortho_init)
    if isinstance(space, gym.spaces.Dict):
        return DictEncoder({key: build(sub, f"{path}['{key}']") for key, sub in space.spaces.items()})
    if isinstance(space, gym.spaces.Tuple):
        return TupleEncoder([build(sub, f"{path}[{i}]") for i, sub in enumerate(space.spaces)])
    if isinstance(space, gym.spaces.Discrete):
        return OneHotEncoder([space.n], [space.start])
    if isinstance(space, gym.spaces.MultiDiscrete):
        return OneHotEncoder(space.nvec, np.broadcast_to(space.start, space.nvec.shape))
    if isinstance(space, gym.spaces.Box) and len(space.shape) == 1:
        return VectorEncoder(space.shape[0])
    if isinstance(space, gym.spaces.Box) and len(space.shape) == 3:
        filters = parse_conv_filters(conv_filters) if conv_filters else default_conv_filters(space.shape)
        return ImageEncoder(space, filters, conv_activation, ortho_init=ortho_init)
    return FlattenEncoder(space.shape)


def _custom_encoder(node: Mapping[str, Any], space: gym.Space, key: str) -> nn.Module:
    if not isinstance(node, Mapping) or not node.get("_target_"):
        raise ConfigError(f"{key}: give the encoder class as {{_target_: package.module.MyEncoder, ...its kwargs}}; "
                          f"got {node!r}")
    target = str(node["_target_"])
    kwargs = {k: v for k, v in node.items() if not (k.startswith("_") and k.endswith("_"))}
    errors = check_target(key, target, kwargs, ("observation_space",), nn.Module)
    if errors:
        raise ConfigError("; ".join(errors))
    encoder = import_class(target, nn.Module, key)(observation_space=space, **kwargs)
    out_dim = getattr(encoder, "out_dim", None)
    if not isinstance(out_dim, int) or isinstance(out_dim, bool) or out_dim <= 0:
        raise ConfigError(f"{key}._target_={target}: the encoder must set `self.out_dim` to the width of its output "
                          f"(a positive int); it has out_dim={out_dim!r}")
    return encoder


# ---- images --------------------------------------------------------------------------------------------------
def image_layout(shape: Sequence[int]) -> Tuple[bool, int, int, int]:
    """(channels_first, channels, height, width) of a 3-D image shape (rule in `ImageEncoder`)."""
    if shape[0] < shape[2]:
        return True, int(shape[0]), int(shape[1]), int(shape[2])
    return False, int(shape[2]), int(shape[0]), int(shape[1])


def image_divisor(space: gym.spaces.Box) -> float:
    """What an image's pixels are divided by: 255 for integer images (0..255), 1 for float, bool and 0/1 images."""
    dtype = np.dtype(space.dtype)
    if np.issubdtype(dtype, np.floating) or dtype == np.bool_ or np.all(space.high <= 1):
        return 1.0
    return 255.0


def default_conv_filters(shape: Sequence[int]) -> Filters:
    """The Nature filters when both sides are at least 36 pixels, else MinAtar's single 3x3 layer."""
    _, _, height, width = image_layout(shape)
    return parse_conv_filters(NATURE_FILTERS if min(height, width) >= NATURE_MIN_SIZE else SMALL_FILTERS)


def parse_conv_filters(filters: Sequence[Sequence[Any]]) -> Filters:
    """RLlib's conv_filters, [[out_channels, kernel, stride], ...] with kernel/stride an int or [h, w]."""
    parsed = []
    for entry in filters:
        try:
            out_channels, kernel, stride = entry
            parsed.append((int(out_channels), _pair(kernel), _pair(stride)))
        except (TypeError, ValueError):
            raise ConfigError(f"module.conv_filters: each entry is [out_channels, kernel, stride] with kernel and "
                              f"stride an int or [h, w], e.g. {NATURE_FILTERS}; got {entry!r}") from None
        if min(parsed[-1][0], *parsed[-1][1], *parsed[-1][2]) < 1:
            raise ConfigError(f"module.conv_filters: {entry!r} must hold positive sizes")
    if not parsed:
        raise ConfigError(f"module.conv_filters is empty; give at least one layer, e.g. {SMALL_FILTERS}, or null")
    return parsed


def _pair(value: Any) -> Tuple[int, int]:
    if isinstance(value, (int, np.integer)):
        return int(value), int(value)
    height, width = value
    return int(height), int(width)


def conv_output_size(size: Tuple[int, int], filters: Filters) -> List[Tuple[int, int]]:
    """(height, width) after each conv layer (no padding); a side below 1 means the image is too small."""
    sizes = []
    for _, (kh, kw), (sh, sw) in filters:
        size = ((size[0] - kh) // sh + 1 if size[0] >= kh else 0, (size[1] - kw) // sw + 1 if size[1] >= kw else 0)
        sizes.append(size)
    return sizes


# ---- which spaces --------------------------------------------------------------------------------------------
def space_problem(space: gym.Space, conv_filters: Optional[Sequence[Sequence[Any]]] = None) -> Optional[str]:
    """None if the catalog can encode this observation space, else what is wrong and how to fix it."""
    if isinstance(space, gym.spaces.Dict) and set(space.spaces) == {ACTION_MASK}:
        return ("the observation space holds only 'action_mask': put the observation itself under another key "
                "(e.g. {'observation': ..., 'action_mask': ...}, as PettingZoo does)")
    try:
        return _problem(without_action_mask(space), "", conv_filters)
    except ConfigError as exc:  # malformed conv_filters
        return str(exc)


def _problem(space: gym.Space, path: str, conv_filters: Optional[Sequence[Sequence[Any]]]) -> Optional[str]:
    where = f"observation{path}"
    if isinstance(space, (gym.spaces.Dict, gym.spaces.Tuple)):
        if len(space.spaces) == 0:
            return f"{where} is an empty {type(space).__name__}: give it at least one entry"
        items = space.spaces.items() if isinstance(space, gym.spaces.Dict) else enumerate(space.spaces)
        for key, sub in items:
            if isinstance(key, str) and "." in key:
                return f"{where} has the key '{key}': Dict keys may not contain '.' (torch module names)"
            problem = _problem(sub, f"{path}['{key}']" if isinstance(key, str) else f"{path}[{key}]", conv_filters)
            if problem:
                return problem
        return None
    if isinstance(space, (gym.spaces.Discrete, gym.spaces.MultiDiscrete, gym.spaces.MultiBinary)):
        return None
    if not isinstance(space, gym.spaces.Box):
        return (f"{where} is {space}: the default encoders take Box, Discrete, MultiDiscrete, MultiBinary and "
                "Dict/Tuple of them. Give module.encoder={_target_: your_pkg.YourEncoder} (or "
                "module.encoders.<key> for one Dict entry), or turn it into one of those with an env wrapper")
    if len(space.shape) != 3:
        return None
    filters = parse_conv_filters(conv_filters) if conv_filters else default_conv_filters(space.shape)
    channels_first, channels, height, width = image_layout(space.shape)
    for i, (h, w) in enumerate(conv_output_size((height, width), filters)):
        if h < 1 or w < 1:
            shown = [[c, list(k), list(s)] for c, k, s in filters]
            return (f"{where} is a {height}x{width} image with {channels} channels (shape {tuple(space.shape)}, "
                    f"channels-{'first' if channels_first else 'last'}): too small for the conv filters {shown} "
                    f"(layer {i} would give {h}x{w}); set module.conv_filters to smaller kernels or strides, "
                    f"e.g. [[16, {min(height, width, 3)}, 1]]")
    return None


def without_action_mask(space: gym.Space) -> gym.Space:
    """The observation space without its top-level `action_mask` entry (the space the encoder sees)."""
    if isinstance(space, gym.spaces.Dict) and ACTION_MASK in space.spaces:
        return gym.spaces.Dict({k: s for k, s in space.spaces.items() if k != ACTION_MASK})
    return space


# ---- action heads --------------------------------------------------------------------------------------------
def action_space_problem(action_space: gym.Space) -> Optional[str]:
    """None if the default action heads serve this action space (Discrete, 1-D MultiDiscrete, 1-D Box)."""
    if isinstance(action_space, gym.spaces.Discrete):
        return None
    if isinstance(action_space, gym.spaces.MultiDiscrete):
        if len(action_space.shape) != 1 or np.any(action_space.start != 0):
            return f"takes MultiDiscrete actions of one axis starting at 0, not {action_space}"
        return None
    if not isinstance(action_space, gym.spaces.Box):
        return f"takes Box or Discrete actions (1-D Box, Discrete or MultiDiscrete), not {action_space}"
    if len(action_space.shape) != 1:
        return f"takes 1-D Box actions, not shape {action_space.shape}"
    return None


def action_head_dim(action_space: gym.Space) -> int:
    """Outputs of the policy head: Discrete n logits, MultiDiscrete sum(nvec) logits, Box one mean per dimension."""
    if isinstance(action_space, gym.spaces.Discrete):
        return int(action_space.n)
    if isinstance(action_space, gym.spaces.MultiDiscrete):
        return int(action_space.nvec.sum())
    return int(action_space.shape[0])


def action_dist_cls_for(action_space: gym.Space) -> Type[Distribution]:
    """Categorical (Discrete), MultiCategorical (MultiDiscrete) or DiagGaussian (Box)."""
    if isinstance(action_space, gym.spaces.Discrete):
        return Categorical
    if isinstance(action_space, gym.spaces.MultiDiscrete):
        return MultiCategorical.with_nvec(action_space.nvec)
    return DiagGaussian


# ---- action masking ------------------------------------------------------------------------------------------
def action_mask_problem(observation_space: gym.Space, action_space: gym.Space) -> Optional[str]:
    """None unless the observation has an `action_mask` that does not fit the action space (then why, and the fix)."""
    if not (isinstance(observation_space, gym.spaces.Dict) and ACTION_MASK in observation_space.spaces):
        return None
    mask = observation_space[ACTION_MASK]
    if not isinstance(action_space, gym.spaces.Discrete):
        return (f"observation['action_mask'] masks Discrete actions, but the action space is {action_space}: "
                "use Discrete actions or rename the key")
    is_binary = isinstance(mask, gym.spaces.MultiBinary) or (
        isinstance(mask, gym.spaces.Box) and np.all(mask.low >= 0) and np.all(mask.high <= 1))
    if not is_binary or mask.shape is None or len(mask.shape) != 1:
        return f"observation['action_mask'] must be MultiBinary(n) or Box(0, 1, (n,)) over the actions, not {mask}"
    if mask.shape[0] != action_space.n:
        return (f"observation['action_mask'] has {mask.shape[0]} entries but the action space has {action_space.n} "
                "actions: give one entry per action")
    return None


def split_action_mask(obs: Any) -> Tuple[Any, Optional[Tensor]]:
    """(the observation without `action_mask`, the mask or None) of a batch's observation tree."""
    if isinstance(obs, dict) and ACTION_MASK in obs:
        return {k: v for k, v in obs.items() if k != ACTION_MASK}, obs[ACTION_MASK]
    return obs, None


def legal_actions(mask: Tensor) -> Tensor:
    """bool [B, n]: nonzero mask entries are legal; a row with none legal counts as all legal."""
    legal = mask != 0
    return legal | ~legal.any(dim=-1, keepdim=True)


def mask_logits(logits: Tensor, mask: Optional[Tensor]) -> Tensor:
    """Logits (or Q-values) of illegal actions set to the dtype's lowest finite value; unchanged without a mask.

    A finite value rather than -inf keeps softmax, log-probs and entropy free of NaN (0 * -inf)."""
    if mask is None:
        return logits
    return logits.masked_fill(~legal_actions(mask), torch.finfo(logits.dtype).min)
