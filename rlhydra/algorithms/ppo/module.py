"""PPO's default RLModule: the shared actor-critic MLP under PPO's name."""
from __future__ import annotations

from rlhydra.models.actor_critic import ActorCriticModule


class PPOModule(ActorCriticModule):
    """Separate MLP policy and value networks; Box actions use a state-independent log-std, or gSDE (use_sde)."""
