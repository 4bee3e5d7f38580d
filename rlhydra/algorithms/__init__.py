"""Algorithms; importing this package registers each of them."""
from rlhydra.algorithms import ppo  # noqa: F401
