"""Names users bring from elsewhere, and "did you mean" for names that are not ours.

The training configs' `ALIASES` (RLlib's and Stable-Baselines3's names of an `algorithm.*` field, which the
Python builders also accept) say what a foreign name of a hyperparameter is called here; `ALIAS_SOURCES` says
whose name it is, for the message. `FOREIGN_KEYS` maps foreign names of settings that live outside `algorithm`.
"""
from __future__ import annotations

import difflib
from typing import Dict, Iterable, List, Tuple

RLLIB = "RLlib"
SB3 = "Stable-Baselines3"
BOTH = f"{RLLIB} and {SB3}"

# Whose name each key of a training config's ALIASES is (tests/test_config_help.py: every alias has one).
ALIAS_SOURCES: Dict[str, str] = {
    "lambda_": RLLIB, "num_sgd_iter": RLLIB, "sgd_minibatch_size": RLLIB, "vf_loss_coeff": RLLIB,
    "train_batch_size_per_learner": RLLIB, "num_steps_sampled_before_learning_starts": RLLIB, "entropy_coeff": RLLIB,
    "learning_rate": SB3, "ent_coef": SB3, "vf_coef": SB3, "max_grad_norm": SB3, "normalize_advantage": SB3,
    "n_epochs": SB3, "batch_size": SB3, "clip_range": SB3, "clip_range_vf": SB3,
}

# Foreign names of settings outside `algorithm`: name -> (our key, whose name).
FOREIGN_KEYS: Dict[str, Tuple[str, str]] = {
    "total_timesteps": ("total_steps", SB3),
    "n_envs": ("env_runners.num_envs_per_env_runner", SB3),
    "num_envs_per_env_runner": ("env_runners.num_envs_per_env_runner", RLLIB),
    "num_envs_per_worker": ("env_runners.num_envs_per_env_runner", RLLIB),
    "num_env_runners": ("env_runners.num_env_runners", RLLIB),
    "num_workers": ("env_runners.num_env_runners", RLLIB),
    "num_rollout_workers": ("env_runners.num_env_runners", RLLIB),
    "num_learners": ("learner.devices", RLLIB),
    "device": ("learner.accelerator", SB3),
    "buffer_size": ("buffer.capacity", SB3),
    "policy_kwargs": ("module.<argument>", SB3),
    "net_arch": ("module.hidden_sizes", SB3),
    "activation_fn": ("module.activation", SB3),
    "use_sde": ("module.use_sde (SAC's, PPO's and A2C's modules)", SB3),
    "sde_sample_freq": ("module.sde_sample_freq (PPO's and A2C's module)", SB3),
    "fcnet_hiddens": ("module.hidden_sizes", RLLIB),
    "fcnet_activation": ("module.activation", RLLIB),
    "evaluation_interval": ("evaluation.interval", RLLIB),
    "evaluation_duration": ("evaluation.episodes", RLLIB),
    "n_eval_episodes": ("evaluation.episodes", SB3),
    "env_config": ("env.kwargs", RLLIB),
    "env_kwargs": ("env.kwargs", SB3),
}


def close_matches(word: str, candidates: Iterable[str], n: int = 3) -> List[str]:
    """The candidates closest to `word`, best first; empty when none is close."""
    return [candidate for _, candidate in scored_matches(word, candidates)[:n]]


def scored_matches(word: str, candidates: Iterable[str]) -> List[Tuple[float, str]]:
    """(similarity, candidate) for the candidates close to `word`, best first (difflib's ratio; a word close to one
    part of a snake_case name, or the start of a name, counts too: `hiden` -> `hidden_sizes`, `algo` -> `algorithm`)."""
    scored = []
    for candidate in sorted(set(candidates)):
        score = _ratio(word, candidate)
        if len(word) >= 4:
            score = max([score] + [_ratio(word, part) - 0.05 for part in candidate.split("_") if len(part) >= 4])
        if len(word) >= 3 and candidate.lower().startswith(word.lower()):
            score = max(score, 0.75)
        if score >= CUTOFF:
            scored.append((score, candidate))
    return sorted(scored, key=lambda item: (-item[0], item[1]))


CUTOFF = 0.7


def _ratio(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a.lower(), b.lower()).ratio()


def foreign_name(name: str, aliases: Dict[str, str]) -> str:
    """'<whose> <name> is <our key> here' when `name` is RLlib's or SB3's name of one of our keys, else ''.

    `aliases`: the algorithm's training-config ALIASES (foreign name -> its `algorithm.*` field).
    """
    if name in aliases and aliases[name] != name:
        return f"{ALIAS_SOURCES.get(name, 'another library')}'s {name} is algorithm.{aliases[name]} here"
    if name in FOREIGN_KEYS:
        key, source = FOREIGN_KEYS[name]
        return f"{source}'s {name} is {key} here"
    return ""
