"""`hydra/sweeper=rlhydra_list`: a multirun of an explicit list of jobs (rlhydra.benchmark's suites)."""
