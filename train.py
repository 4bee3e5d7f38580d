"""Train an agent: python train.py algorithm=ppo env=cartpole [key=value ...]; `python train.py --help` lists every
group and key with its help."""
import os
import sys

import hydra
from omegaconf import DictConfig

from rlhydra.cli import main
from rlhydra.config.overrides import precheck_command_line

CONF = os.path.join(os.path.dirname(os.path.abspath(__file__)), "conf")


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def train(cfg: DictConfig) -> float:
    return main(cfg)


if __name__ == "__main__":
    # Unknown keys and wrong types are refused here, before Hydra starts anything (exit code 2); module.<arg> and
    # buffer.<arg> need no '+'; total_steps=1e5 is 100000; --help lists every key with its help.
    sys.argv[1:] = precheck_command_line(sys.argv[1:], CONF)
    train()
