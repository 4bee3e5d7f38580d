"""RLlib's idiom, as RLlib's docs write it, on rlhydra: a custom env class with env_config, a piecewise lr
schedule, algo.train() in a loop with the nested result keys, evaluation, a checkpoint, the module restored.

    python examples/rllib_style.py            # ~20 iterations
    python examples/rllib_style.py 2          # 2 iterations (the test suite's budget)

The only changes from RLlib: the import line (RLlib: `from ray.rllib.algorithms.ppo import PPOConfig`) and no
`ray.init()`.
"""
import sys
import tempfile

import gymnasium as gym
import numpy as np

from rlhydra import PPOConfig
from rlhydra.models.rl_module import RLModule


class SimpleCorridor(gym.Env):
    """RLlib's classic example env: walk right along a corridor; -0.1 per step, +1 at the end."""

    def __init__(self, config):
        self.end_pos = config.get("corridor_length", 10)
        self.action_space = gym.spaces.Discrete(2)
        self.observation_space = gym.spaces.Box(0.0, self.end_pos, (1,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.cur_pos = 0
        return np.array([self.cur_pos], np.float32), {}

    def step(self, action):
        self.cur_pos = max(0, self.cur_pos + (1 if action == 1 else -1))
        terminated = self.cur_pos >= self.end_pos
        truncated = False
        reward = 1.0 if terminated else -0.1
        return np.array([self.cur_pos], np.float32), reward, terminated, truncated, {}


def main(num_iterations: int) -> None:
    config = (
        PPOConfig()
        .environment(SimpleCorridor, env_config={"corridor_length": 5})
        .env_runners(num_env_runners=0, num_envs_per_env_runner=4)
        .training(lr=[[0, 1e-3], [20 * 512, 1e-4]], train_batch_size_per_learner=512, minibatch_size=64,
                  num_epochs=4, gamma=0.99, lambda_=0.95, vf_loss_coeff=0.5)
        .evaluation(evaluation_interval=1, evaluation_duration=4)
        .debugging(seed=0)
    )
    algo = config.build_algo()
    for i in range(num_iterations):
        result = algo.train()
        print(f"iter {result['training_iteration']}: return {result['env_runners']['episode_return_mean']:.2f}, "
              f"eval {result['evaluation']['env_runners']['episode_return_mean']:.2f}, "
              f"lr {result['learners']['default_policy']['lr']:.2e}")
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = algo.save(tmp + "/checkpoint")
        algo.stop()
        module = RLModule.from_checkpoint(checkpoint)  # RLlib: RLModule.from_checkpoint(path/learner_group/...)
        env = SimpleCorridor({"corridor_length": 5})
        obs, _ = env.reset(seed=0)
        episode_return, done = 0.0, False
        for _ in range(20):
            action = module.compute_single_action(obs)
            obs, reward, terminated, truncated, _ = env.step(action)
            episode_return += reward
            if terminated or truncated:
                break
    print(f"restored module's episode return: {episode_return:.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
