"""Algorithms; importing this package registers each of them."""
from rlhydra.algorithms import dqn, ppo, sac  # noqa: F401
