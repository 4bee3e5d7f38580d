"""`hydra/sweeper=rlhydra_list`: run the jobs listed in `hydra.sweeper.jobs`, each a list of overrides.

Hydra's basic sweeper runs the product of its parameters; a benchmark suite is a list of (algorithm, env, budget,
seed) jobs that no product gives. The command line's overrides are added to every job (and win).
"""
import os
from dataclasses import dataclass, field
from typing import Any, List, Optional

from hydra.core.config_store import ConfigStore
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.plugins import Plugins
from hydra.errors import CompactHydraException
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf


@dataclass
class RlhydraListSweeperConf:
    """Keys of `hydra.sweeper` for the rlhydra_list sweeper."""

    _target_: str = "hydra_plugins.rlhydra_list_sweeper.list_sweeper.ListSweeper"
    jobs: List[Any] = field(default_factory=list)  # each job: a list of overrides, e.g. [algorithm=ppo, seed=0]
    max_batch_size: Optional[int] = None  # jobs handed to the launcher at once; null: all


ConfigStore.instance().store(group="hydra/sweeper", name="rlhydra_list", node=RlhydraListSweeperConf,
                             provider="rlhydra")


class ListSweeper(Sweeper):
    """Hydra sweeper: the jobs of `hydra.sweeper.jobs`, in order, with the command line's overrides added."""

    def __init__(self, jobs: List[Any], max_batch_size: Optional[int]) -> None:
        self.jobs = [list(job) for job in jobs]
        self.max_batch_size = max_batch_size
        self.config: Optional[DictConfig] = None
        self.launcher: Any = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config, self.hydra_context = config, hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments: List[str]) -> Any:
        assert self.config is not None
        if not self.jobs:
            raise CompactHydraException("hydra.sweeper.jobs is empty: list the jobs, each a list of overrides")
        parser = OverridesParser.create()
        if any(o.is_sweep_override() for o in parser.parse_overrides(arguments)):
            raise CompactHydraException(f"{' '.join(arguments)}: the rlhydra_list sweeper adds the command line's "
                                        "overrides to every listed job; give single values, not sweeps")
        sweep_dir = str(self.config.hydra.sweep.dir)
        os.makedirs(sweep_dir, exist_ok=True)
        OmegaConf.save(self.config, os.path.join(sweep_dir, "multirun.yaml"))
        given = {_key(o) for o in arguments}
        batch = [tuple([o for o in job if _key(o) not in given] + list(arguments)) for job in self.jobs]
        size = self.max_batch_size or len(batch)
        returns = []
        for start in range(0, len(batch), size):
            chunk = batch[start:start + size]
            self.validate_batch_is_legal(chunk)
            returns.extend(self.launcher.launch(chunk, initial_job_idx=start))
        return returns



def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")
