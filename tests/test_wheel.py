"""pip-installable: a wheel built from the repo, installed where the clone cannot be seen, gives the `rlhydra`
command (configs inside the package, a user's --config-dir on top), and an algorithm package beside it works."""
from __future__ import annotations

import configparser
import glob
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import zipfile

import pytest
from omegaconf import OmegaConf

from tests.conftest import CONF, ROOT

pytestmark = pytest.mark.slow
# -P: the cwd (an empty tmp folder anyway) is not put on sys.path; Python 3.11+
SAFE_PATH = ["-P"] if sys.version_info >= (3, 11) else []

# Runs the console script the installed dist declares, as pip's generated script does, and prints afterwards where
# rlhydra's code and configs were loaded from (atexit: the entry function ends with sys.exit).
ENTRY = """
import atexit, importlib, json, sys
from importlib import resources
module, func = sys.argv.pop(1).split(":")
def where():
    import rlhydra, rlhydra.cli
    print("LOADED_FROM " + json.dumps([rlhydra.__file__, rlhydra.cli.__file__, str(resources.files("rlhydra.conf"))]))
atexit.register(where)
sys.argv[0] = "rlhydra"
sys.exit(getattr(importlib.import_module(module), func)())
"""


def pip(*args: str, cwd: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "pip", *args], cwd=cwd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(wheel, site): the wheel built from a clean copy of the sources (no stale build/ folder), installed with
    examples/reinforce into `site`, a plain folder; torch, hydra and the rest come from this venv."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build")
    for package in ("rlhydra", "hydra_plugins"):
        shutil.copytree(os.path.join(ROOT, package), src / package, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(os.path.join(ROOT, name), src / name)
    reinforce = shutil.copytree(os.path.join(ROOT, "examples", "reinforce"), tmp / "reinforce", ignore=ignore)
    # offline: build with this venv's setuptools (pip isolates the build, fetching setuptools, only without it)
    isolation = [] if importlib.util.find_spec("setuptools") is None else ["--no-build-isolation"]
    pip("wheel", str(src), "--no-deps", *isolation, "-w", str(tmp / "dist"), cwd=str(tmp))
    (wheel,) = glob.glob(str(tmp / "dist" / "rlhydra-*.whl"))
    site = tmp / "site"
    pip("install", "-q", "--no-deps", *isolation, "--target", str(site), wheel, str(reinforce), cwd=str(tmp))
    return wheel, site


def isolated_env(site) -> dict:
    """Only `site` on PYTHONPATH (with an empty cwd, and `python -P`, the clone is not on sys.path)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "HYDRA_FULL_ERROR")}
    return dict(env, PYTHONPATH=str(site), WANDB_MODE="disabled")


def console_script(site) -> str:
    """The `rlhydra` entry of the installed dist's entry_points.txt ("module:function")."""
    (path,) = glob.glob(str(site / "rlhydra-*.dist-info" / "entry_points.txt"))
    parser = configparser.ConfigParser()
    parser.read(path)
    return parser["console_scripts"]["rlhydra"]


def rlhydra(site, cwd, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *SAFE_PATH, "-c", ENTRY, console_script(site), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, env=isolated_env(site))


def test_the_wheel_ships_every_config_and_declares_the_command(installed):
    wheel, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    configs = {os.path.relpath(p, os.path.dirname(CONF)).replace(os.sep, "/")
               for p in glob.glob(os.path.join(CONF, "**", "*.yaml"), recursive=True)}
    assert {"conf/config.yaml", "conf/tpe.yaml", "conf/hydra/launcher/parallel.yaml",
            "conf/tuned/td3_pendulum.yaml"} <= configs
    assert {f"rlhydra/{c}" for c in configs} | {"rlhydra/conf/__init__.py", "rlhydra/__main__.py"} <= names
    assert not [n for n in names if n.startswith(("tests/", "examples/", "benchmarks/", "conf/"))]
    assert {"hydra_plugins/rlhydra_optuna_sweeper/optuna_sweeper.py", "hydra_plugins/rlhydra_optuna_sweeper/config.py",
            "hydra_plugins/rlhydra_list_sweeper/list_sweeper.py"} <= names  # rlhydra's own Hydra sweepers
    assert "hydra_plugins/__init__.py" not in names  # a namespace package, shared with other plugins


def test_the_installed_command_trains_from_an_empty_folder_with_a_user_config_dir(installed, tmp_path):
    _, site = installed
    assert console_script(site) == "rlhydra.cli:run"
    user_conf = tmp_path / "my_conf"
    (user_conf / "env").mkdir(parents=True)
    (user_conf / "env" / "short_pendulum.yaml").write_text("defaults: [pendulum, _self_]\nmax_episode_steps: 50\n")
    cwd = tmp_path / "anywhere"
    cwd.mkdir()
    proc = rlhydra(site, cwd, "--config-dir", str(user_conf), "algorithm=td3", "env=short_pendulum",
                   "total_steps=1000", "evaluation.interval=1", "evaluation.episodes=2", "evaluation.num_envs=2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    loaded = json.loads(proc.stdout.split("LOADED_FROM ")[1].splitlines()[0])
    assert all(p.startswith(str(site)) for p in loaded), loaded  # the installed copy, not the clone
    (run_dir,) = glob.glob(str(cwd / "outputs" / "*" / "*_td3_Pendulum-v1"))  # named after the env id
    assert f"run folder: {run_dir}" in proc.stdout
    assert OmegaConf.load(os.path.join(run_dir, ".hydra", "config.yaml")).env.max_episode_steps == 50  # user yaml
    sources = OmegaConf.load(os.path.join(run_dir, ".hydra", "hydra.yaml")).hydra.runtime.config_sources
    assert [(s.path, s.provider) for s in sources if s.provider in ("main", "command-line")] == [
        ("rlhydra.conf", "main"), (str(user_conf), "command-line")]
    result = json.loads(open(os.path.join(run_dir, "result.json")).read())
    assert result["status"] == "ok" and result["env_steps"] == 1000
    rows = [json.loads(line) for line in open(os.path.join(run_dir, "metrics.jsonl"))]
    assert rows[-1]["train/episode_length_mean"] == 50
    assert os.path.isfile(os.path.join(run_dir, "checkpoints", "final", "metadata.json"))


def test_an_installed_algorithm_package_runs_by_name_and_its_checkpoint_loads_in_a_new_process(installed, tmp_path):
    _, site = installed
    proc = rlhydra(site, tmp_path, "algorithm=reinforce", "env=cartpole", "total_steps=1024",
                   "algorithm.train_batch_size=512", "evaluation.episodes=2", "evaluation.num_envs=2",
                   "hydra.run.dir=run")
    assert proc.returncode == 0, proc.stderr[-3000:]
    checkpoint = json.loads((tmp_path / "run" / "result.json").read_text())["checkpoint"]
    assert checkpoint == str(tmp_path / "run" / "checkpoints" / "final") and f"checkpoint: {checkpoint}" in proc.stdout
    load = ("import rlhydra\nfrom rlhydra import Algorithm\n"
            f"algo = Algorithm.from_checkpoint({checkpoint!r})\n"
            "print(type(algo).__module__, algo.env_steps, algo.compute_actions([[0.0, 0.0, 0.0, 0.0]]).shape,\n"
            "      rlhydra.__file__.startswith(" + repr(str(site)) + "))\nalgo.stop()\n")
    loaded = subprocess.run([sys.executable, *SAFE_PATH, "-c", load], cwd=tmp_path, capture_output=True, text=True,
                            timeout=120, env=isolated_env(site))
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    assert loaded.stdout.split() == ["rlhydra_reinforce.algorithm", "1024", "(1,)", "True"]


def test_the_generated_script_and_python_m_rlhydra(installed, tmp_path):
    """pip's `bin/rlhydra` gives the CLI's clean errors; `python -m rlhydra` finds the shipped sweeps and launchers."""
    _, site = installed
    script = site / "bin" / "rlhydra"
    assert "from rlhydra.cli import run" in script.read_text()
    bad = subprocess.run([str(script), "algorithm.lrr=1e-3"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=120, env=isolated_env(site))
    assert bad.returncode != 0 and "algorithm.lrr" in bad.stderr and "Traceback" not in bad.stderr
    sweep = subprocess.run([sys.executable, *SAFE_PATH, "-m", "rlhydra", "--config-name", "tpe", "--cfg", "hydra",
                            "hydra/launcher=parallel"], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                           env=isolated_env(site))
    assert sweep.returncode == 0, sweep.stderr[-3000:]
    hydra_cfg = OmegaConf.create(sweep.stdout).hydra
    assert hydra_cfg.sweeper._target_.endswith("OptunaSweeper") and hydra_cfg.sweeper.study_name == "rlhydra_tpe"
    assert hydra_cfg.launcher._target_.endswith("ParallelLauncher") and hydra_cfg.launcher.n_jobs == 2
    assert not os.listdir(tmp_path)  # --cfg and a config error write no run folder
