"""Train an agent from the clone: python train.py algorithm=ppo env=cartpole [key=value ...]; `python train.py --help`
lists every group and key with its help.

The same command as the installed `rlhydra` (rlhydra.cli.run, configs in rlhydra/conf).
"""
from rlhydra.cli import run

if __name__ == "__main__":
    run()
