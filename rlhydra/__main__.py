"""`python -m rlhydra [key=value ...]`: the `rlhydra` command, for environments without the console script."""
from rlhydra.cli import run

if __name__ == "__main__":  # spawned learner processes import this module without running it
    run()
