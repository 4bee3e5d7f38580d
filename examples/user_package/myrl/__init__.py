"""myrl: an example user package that plugs its own env, RLModule and connector into rlhydra by `_target_`."""
