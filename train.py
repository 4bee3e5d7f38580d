"""Train an agent from the clone: python train.py algorithm=ppo env=cartpole [key=value ...].

The same command as the installed `rlhydra` (rlhydra.cli.run, configs in rlhydra/conf).
"""
from rlhydra.cli import run

if __name__ == "__main__":
    run()
