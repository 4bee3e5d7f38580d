"""Names of the batch columns passed between runners, connectors, modules and learners."""

OBS = "obs"
NEXT_OBS = "next_obs"
ACTIONS = "actions"  # what the module sampled (unclipped), used for log-probs in the loss
ENV_ACTIONS = "env_actions"  # what env.step received (clipped / unsquashed)
REWARDS = "rewards"
TERMINATED = "terminated"
TRUNCATED = "truncated"
ACTION_DIST_INPUTS = "action_dist_inputs"
ACTION_LOGP = "action_logp"
VF_PREDS = "vf_preds"
ADVANTAGES = "advantages"
VALUE_TARGETS = "value_targets"
NEXT_VF_PREDS = "next_vf_preds"  # V of the real next observation, for GAE's bootstrap
Q_VALUES = "q_values"  # Q(obs, a) for every discrete action (DQN's forward_train)
# Replay samples: the n-step discount to bootstrap with, importance weights, buffer slots
DISCOUNTS = "discounts"  # gamma ** (rewards summed); 0 never: termination is in TERMINATED
WEIGHTS = "weights"  # importance-sampling weights (1 for uniform replay)
INDICES = "indices"  # where each sample sits in the buffer, for priority updates
# The one optional output of Learner.update besides metrics: per-sample TD errors, which become priorities
TD_ERRORS = "td_errors"
ACTION_MASK = "action_mask"  # the key of a Dict observation that marks the legal discrete actions (PettingZoo, RLlib)
