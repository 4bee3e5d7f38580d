"""Built-in algorithms: each subpackage <name>/ is found by name (rlhydra.config.registry); there is no list."""
