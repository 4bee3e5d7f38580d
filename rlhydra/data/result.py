"""Result: `train()`'s flat metrics dict, also readable nested as RLlib's result dict.

Loggers, JSON and iteration see only the flat keys (`"train/episode_return_mean"`, `"learner/policy_loss"` ...).
Reading a key that is not there looks it up in the nested view (`Result.nested()`), so RLlib code works unchanged:

| nested (RLlib)                                          | flat (rlhydra)                        |
|---------------------------------------------------------|---------------------------------------|
| result["env_runners"]["episode_return_mean"]            | result["train/episode_return_mean"]   |
| result["env_runners"]["episode_len_mean"]               | result["train/episode_length_mean"]   |
| result["env_runners"]["num_env_steps_sampled_lifetime"] | result["env_steps"]                   |
| result["env_runners"]["num_episodes_lifetime"]          | result["episodes"]                    |
| result["learners"]["default_policy"]["<name>"]          | result["learner/<name>"]              |
| result["evaluation"]["env_runners"]["episode_return_mean"] | result["eval/episode_return_mean"] |
| result["training_iteration"], result["time_total_s"]    | result["iteration"], result["time_s"] |
| algo.evaluate()["env_runners"]["episode_return_mean"]   | algo.evaluate()["eval/episode_return_mean"] |

Every `<prefix>/<name>` key is also `result[<prefix>][<name>]` (`result["perf"]["env_steps_per_s"]`), and
`result["learners"]["<name>"]` works without the module id.
"""
from __future__ import annotations

from typing import Any, Dict

DEFAULT_MODULE_ID = "default_policy"  # RLlib's module id of a single-agent run
TOP_LEVEL = {"training_iteration": "iteration", "num_env_steps_sampled_lifetime": "env_steps",
             "num_episodes_lifetime": "episodes", "time_total_s": "time_s"}
ENV_RUNNERS = {"episode_return_mean": "train/episode_return_mean", "episode_len_mean": "train/episode_length_mean",
               "episode_length_mean": "train/episode_length_mean", "num_env_steps_sampled_lifetime": "env_steps",
               "num_episodes_lifetime": "episodes"}
EVAL_ENV_RUNNERS = {"episode_return_mean": "eval/episode_return_mean", "episode_return_std": "eval/episode_return_std",
                    "episode_len_mean": "eval/episode_length_mean", "episode_length_mean": "eval/episode_length_mean",
                    "num_episodes": "eval/episodes"}


class Result(dict):  # type: ignore[type-arg]
    """A flat metrics dict whose missing keys are read from its RLlib-style nested view (see the module doc)."""

    def nested(self) -> Dict[str, Any]:
        """The nested view: `<prefix>/<name>` keys grouped by prefix, plus RLlib's names (a new dict each call)."""
        out: Dict[str, Any] = {}
        for key, value in self.items():
            prefix, slash, name = key.partition("/")
            if slash:
                out.setdefault(prefix, {})[name] = value
        out.update({name: self[flat] for name, flat in TOP_LEVEL.items() if flat in self})
        out.setdefault("env_runners", {}).update({name: self[flat] for name, flat in ENV_RUNNERS.items() if flat in self})
        learner = out.get("learner", {})
        out["learners"] = {DEFAULT_MODULE_ID: dict(learner), **learner}
        if "eval" in out:
            env_runners = {name: self[flat] for name, flat in EVAL_ENV_RUNNERS.items() if flat in self}
            out["evaluation"] = {**out["eval"], "env_runners": env_runners}
            if "train" not in out:  # `algo.evaluate()`'s own result: RLlib reads it as result["env_runners"]
                out["env_runners"] = env_runners
        return out

    def __missing__(self, key: str) -> Any:
        nested = self.nested()
        if key in nested:
            return nested[key]
        raise KeyError(f"{key!r}: not in this result; flat keys: {', '.join(self)}; nested: {', '.join(nested)}")

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        if key in self:
            return dict.__getitem__(self, key)
        return self.nested().get(key, default) if "/" not in key else default
