"""rlhydra: declared reinforcement learning on Hydra, PyTorch, Lightning Fabric and Gymnasium."""
from rlhydra.version import __version__
from rlhydra.config import AlgorithmConfig, ConfigError  # noqa: E402
from rlhydra.core.algorithm import Algorithm  # noqa: E402
from rlhydra.data.episode import Episode  # noqa: E402
from rlhydra.models.rl_module import RLModule, TorchRLModule  # noqa: E402
from rlhydra.env.env_runner_group import EnvRunnerError  # noqa: E402
from rlhydra.algorithms.a2c import A2C, A2CConfig  # noqa: E402
from rlhydra.algorithms.dqn import DQN, DQNConfig  # noqa: E402
from rlhydra.algorithms.ppo import PPO, PPOConfig  # noqa: E402
from rlhydra.algorithms.sac import SAC, SACConfig  # noqa: E402
from rlhydra.algorithms.td3 import TD3, TD3Config  # noqa: E402
from rlhydra.config.store import register_configs  # noqa: E402

register_configs()  # finds every algorithm (rlhydra/algorithms/<name>/, entry points) for Hydra and checkpoints

__all__ = [
    "A2C", "A2CConfig", "Algorithm", "AlgorithmConfig", "ConfigError", "DQN", "DQNConfig", "EnvRunnerError", "Episode",
    "PPO", "PPOConfig", "RLModule", "SAC", "SACConfig", "TD3", "TD3Config", "TorchRLModule",
]
