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
