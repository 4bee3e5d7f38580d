"""The runtime: Algorithm, Learner, their on-/off-policy bases, validation before start, distributed helpers."""
