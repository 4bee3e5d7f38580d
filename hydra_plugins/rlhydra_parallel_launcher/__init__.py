"""`hydra/launcher=parallel`: a multirun's jobs in worker processes on this machine, stopped calmly by Ctrl-C."""
