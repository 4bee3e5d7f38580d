"""Train an agent: python train.py algorithm=ppo env=cartpole [key=value ...]."""
import hydra
from omegaconf import DictConfig

from rlhydra.cli import main


@hydra.main(version_base="1.3", config_path="rlhydra/conf", config_name="config")
def train(cfg: DictConfig) -> float:
    return main(cfg)


if __name__ == "__main__":
    train()
