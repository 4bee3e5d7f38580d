"""rlhydra's Optuna sweeper for Hydra (`hydra/sweeper=rlhydra_optuna`): current Optuna (>= 4), a study in a storage
file of the sweep folder, and pruning of trials from their evaluation returns (see optuna_sweeper.py)."""
