"""The open algorithm registry: folders under rlhydra/algorithms/ and packages' entry points, found by name."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from rlhydra.config.registry import available_algorithms, get_algorithm_spec, registered_algorithms
from rlhydra.config.schema import ConfigError
from tests.conftest import ROOT

ALGORITHMS_DIR = os.path.join(ROOT, "rlhydra", "algorithms")
EXAMPLE = os.path.join(ROOT, "examples", "reinforce")

# A new algorithm folder, as rlhydra/algorithms/toy/ would be: PPO under another name.
TOY_FOLDER = '''
from dataclasses import dataclass
from rlhydra.algorithms.ppo import PPO, PPOTrainingConfig
from rlhydra.config.registry import AlgorithmSpec, register_algorithm

@dataclass
class ToyTrainingConfig(PPOTrainingConfig):
    name: str = "toy"

class Toy(PPO):
    pass

register_algorithm(AlgorithmSpec("toy", ToyTrainingConfig, Toy, "rlhydra.algorithms.ppo.module.PPOModule",
                                 ("discrete", "continuous")))
'''


def python(code: str, *, pythonpath: str = "", timeout: int = 120) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter from the repository root (PYTHONPATH prepended with `pythonpath`)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (pythonpath, ROOT, os.environ.get("PYTHONPATH"))
                                                       if p))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=env)


def train_py(*overrides: str, pythonpath: str = "") -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (pythonpath, os.environ.get("PYTHONPATH")) if p))
    return subprocess.run([sys.executable, "train.py", *overrides], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env=env)


def test_every_algorithm_folder_is_registered_with_no_list():
    folders = sorted(d for d in os.listdir(ALGORITHMS_DIR)
                     if os.path.isfile(os.path.join(ALGORITHMS_DIR, d, "__init__.py")))
    assert {"dqn", "ppo", "sac"} <= set(folders)
    assert set(folders) <= set(registered_algorithms())
    with open(os.path.join(ALGORITHMS_DIR, "__init__.py")) as f:
        assert "import" not in f.read()  # no list to extend
    for name in folders:
        assert get_algorithm_spec(name).training_config().name == name


def test_unknown_algorithm_names_every_available_one():
    with pytest.raises(ConfigError) as err:
        get_algorithm_spec("nope")
    message = str(err.value)
    assert "algorithm.name: unknown algorithm 'nope'" in message
    assert f"Available: {', '.join(available_algorithms())}." in message
    assert "rlhydra.algorithms" in message  # where a new one goes


def test_public_builders_still_importable():
    from rlhydra import DQNConfig, PPOConfig, SACConfig

    assert [c().config.algorithm.name for c in (PPOConfig, SACConfig, DQNConfig)] == ["ppo", "sac", "dqn"]


@pytest.mark.slow
def test_new_folder_found_by_name_and_its_checkpoint_loads_in_a_fresh_process(tmp_path):
    # rlhydra/algorithms/ can't gain a folder in a test: a second directory on rlhydra.algorithms.__path__ can.
    (tmp_path / "algos" / "toy").mkdir(parents=True)
    (tmp_path / "algos" / "toy" / "__init__.py").write_text(TOY_FOLDER)
    ckpt = tmp_path / "ckpt"
    add_folder = f"import rlhydra.algorithms; rlhydra.algorithms.__path__.append({str(tmp_path / 'algos')!r})"
    trained = python(f"""
        {add_folder}
        from rlhydra.config.registry import available_algorithms
        from rlhydra.algorithms.toy import ToyTrainingConfig
        from rlhydra.config.builder import AlgorithmConfigBuilder
        assert "toy" in available_algorithms()
        class ToyConfig(AlgorithmConfigBuilder):
            training_class = ToyTrainingConfig
        algo = (ToyConfig().environment("CartPole-v1").training(train_batch_size=64, minibatch_size=32, num_epochs=1)
                .evaluation(interval=0, episodes=1).build())
        algo.train()
        algo.save({str(ckpt)!r})
        algo.stop()
    """)
    assert trained.returncode == 0, trained.stderr[-3000:]
    # A fresh process that has not imported the folder: the lookup by the checkpoint's name imports it.
    loaded = python(f"""
        import sys
        from rlhydra import Algorithm
        {add_folder}
        assert "rlhydra.algorithms.toy" not in sys.modules
        algo = Algorithm.from_checkpoint({str(ckpt)!r})
        print(type(algo).__name__, algo.iteration)
        algo.stop()
    """)
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    assert loaded.stdout.split() == ["Toy", "1"]


@pytest.mark.slow
def test_builtin_checkpoint_loads_in_a_fresh_process(tmp_path):
    from rlhydra import DQNConfig

    algo = (DQNConfig().environment("CartPole-v1").training(learning_starts=50, train_batch_size=100)
            .evaluation(interval=0, episodes=1).build())
    try:
        algo.train()
        path, steps = algo.save(str(tmp_path / "ckpt")), algo.env_steps
    finally:
        algo.stop()
    loaded = python(f"""
        from rlhydra import Algorithm
        algo = Algorithm.from_checkpoint({path!r})
        print(type(algo).__name__, algo.env_steps)
        algo.stop()
    """)
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    assert loaded.stdout.split() == ["DQN", str(steps)]


def test_broken_entry_points_warn_and_raise_with_the_fix(tmp_path):
    dist = tmp_path / "broken_algos-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-algos\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[rlhydra.algorithms]\nbroken = no_such_module_for_rlhydra\nmisnamed = json\n")
    proc = python("""
        import warnings
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            import rlhydra
        print(len([w for w in caught if "rlhydra.algorithms" in str(w.message)]))
        from rlhydra.config.registry import available_algorithms, get_algorithm_spec
        print(" ".join(available_algorithms()))
        for name in ("broken", "misnamed"):
            try:
                get_algorithm_spec(name)
            except Exception as exc:
                print(type(exc).__name__, exc)
    """, pythonpath=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    count, names, broken, misnamed = proc.stdout.strip().splitlines()
    assert count == "2"
    assert {"broken", "misnamed", "ppo"} <= set(names.split())
    assert broken.startswith("ImportError algorithm 'broken': the entry point 'broken = no_such_module_for_rlhydra'")
    assert "package broken-algos" in broken and "ModuleNotFoundError" in broken and "uninstall it" in broken
    assert misnamed.startswith("ConfigError algorithm 'misnamed': importing 'json'")
    assert "register_algorithm(AlgorithmSpec(name='misnamed', ...))" in misnamed


# ---- the example package examples/reinforce, installed as a user would ------------------------------------------
@pytest.fixture(scope="module")
def reinforce_installed(tmp_path_factory) -> str:
    """examples/reinforce installed into a temporary folder (not the venv); put it on PYTHONPATH to use it."""
    tmp = tmp_path_factory.mktemp("reinforce")
    source = shutil.copytree(EXAMPLE, tmp / "src", ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    target = tmp / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(source)], check=True, capture_output=True, timeout=300)
    return str(target)


@pytest.mark.slow
def test_example_algorithm_learns_from_the_cli_and_its_checkpoint_loads_in_a_fresh_process(reinforce_installed,
                                                                                            tmp_path):
    run = tmp_path / "run"
    proc = train_py("algorithm=reinforce", "env=cartpole", "total_steps=50000", "logger=jsonl",
                    f"hydra.run.dir={run}", pythonpath=reinforce_installed)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((run / "result.json").read_text())
    assert result["env_steps"] == 50_000
    assert result["final_return"] >= 300, result  # CartPole's maximum is 500; a random policy gets ~22
    loaded = python(f"""
        import sys
        from rlhydra import Algorithm, RLModule
        algo = Algorithm.from_checkpoint({str(run / "checkpoints" / "final")!r})
        print(type(algo).__module__, algo.config.algorithm.name, algo.env_steps)
        algo.stop()
        module = RLModule.from_checkpoint({str(run / "checkpoints" / "final")!r})
        print(type(module).__name__, module.compute_single_action([0.0, 0.0, 0.0, 0.0]) in (0, 1))
    """, pythonpath=reinforce_installed)
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    assert loaded.stdout.splitlines() == ["rlhydra_reinforce.algorithm reinforce 50000", "ActorCritic True"]


@pytest.mark.slow
def test_example_algorithm_builder_ranges_and_cli_choices(reinforce_installed):
    proc = python("""
        from rlhydra import ConfigError
        from rlhydra_reinforce import ReinforceConfig
        algo = (ReinforceConfig().environment("CartPole-v1").training(train_batch_size=200)
                .evaluation(interval=0).build())
        print(algo.train()["env_steps"])
        algo.stop()
        try:
            ReinforceConfig().training(vf_coeff=-1).build()
        except ConfigError as exc:
            print(exc)
    """, pythonpath=reinforce_installed)
    assert proc.returncode == 0, proc.stderr[-3000:]
    steps, problems = proc.stdout.split("\n", 1)
    assert steps == "200"
    assert "algorithm.vf_coeff" in problems and "-1" in problems
    # a misspelt choice lists the installed algorithm beside the built-ins
    wrong = train_py("algorithm=reinforc", pythonpath=reinforce_installed)
    assert wrong.returncode != 0
    assert "Could not find 'algorithm/reinforc'" in wrong.stderr
    assert "\treinforce\n" in wrong.stderr and "\tppo\n" in wrong.stderr
