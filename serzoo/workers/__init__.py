"""Running independent jobs (the folds of a run, the trials of a sweep) in parallel: local processes or Ray."""
