"""Stable-Baselines3's idiom, as SB3's docs write it, on rlhydra: build, learn(total_timesteps), learn more,
save, predict on single observations in an env loop, load and predict again.

    python examples/sb3_style.py              # 20,000 + 10,000 env steps
    python examples/sb3_style.py 256          # 256 + 128 (the test suite's budget)

SB3 writes `model = PPO("MlpPolicy", "CartPole-v1", learning_rate=..., n_epochs=...)`; rlhydra builds the model
from a config, and takes SB3's argument names there.
"""
import sys
import tempfile

import gymnasium as gym

from rlhydra import PPO, PPOConfig
from rlhydra.models.rl_module import RLModule


def main(total_timesteps: int) -> None:
    model = (
        PPOConfig()
        .environment("CartPole-v1")
        .training(learning_rate=3e-4, train_batch_size=min(2048, total_timesteps),  # SB3's n_steps x n_envs
                  batch_size=64, n_epochs=4, ent_coef=0.0, clip_range=0.2, max_grad_norm=0.5)
        .stopping(total_steps=total_timesteps + total_timesteps // 2)  # the budget linear schedules run over
        .evaluation(evaluation_interval=0)
        .build_algo()
    )
    model.learn(total_timesteps=total_timesteps, progress_bar=True)
    model.learn(total_timesteps=total_timesteps // 2)  # continues: SB3's reset_num_timesteps=False
    print(f"trained {model.env_steps:,} env steps")

    env = gym.make("CartPole-v1")
    obs, _ = env.reset(seed=0)
    episode_return = 0.0
    for _ in range(500):
        action, _states = model.predict(obs, deterministic=True)
        obs, reward, terminated, truncated, _ = env.step(action)
        episode_return += reward
        if terminated or truncated:
            break
    print(f"greedy episode return: {episode_return:.0f}")

    with tempfile.TemporaryDirectory() as tmp:
        path = model.save(tmp + "/ppo_cartpole")  # SB3: model.save("ppo_cartpole")
        model.stop()
        loaded = PPO.from_checkpoint(path)  # SB3: PPO.load("ppo_cartpole"); training can continue
        loaded.learn(total_timesteps=64)
        policy = RLModule.from_checkpoint(path)  # just the policy, no envs
        action, _ = policy.predict(obs, deterministic=True)
        print(f"loaded: {loaded.env_steps:,} env steps; policy action {action}")
        loaded.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)
