"""examples/rllib_style.py and examples/sb3_style.py run as a user runs them (tiny budgets)."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_example(name: str, *args: str) -> str:
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "examples", name), *args], capture_output=True,
                          text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.mark.slow
def test_the_rllib_style_example_runs():
    out = run_example("rllib_style.py", "2").splitlines()
    assert out[0].startswith("iter 1: return ") and "lr 9.55e-04" in out[0]  # 512 of 10240 steps from 1e-3 to 1e-4
    assert out[1].startswith("iter 2: ") and out[2].startswith("restored module's episode return: ")


@pytest.mark.slow
def test_the_sb3_style_example_runs():
    out = run_example("sb3_style.py", "256").splitlines()
    assert out[0] == "trained 512 env steps"  # 256, then 128 more rounded up to a whole 256-step iteration
    assert out[1].startswith("greedy episode return: ")
    assert out[2].startswith("loaded: 768 env steps; policy action ")
