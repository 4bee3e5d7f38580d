"""rlhydra's Hydra configs. Hydra finds a packaged primary config folder (pkg://rlhydra.conf) only when it holds an
__init__.py; the yaml files ship as package data."""
