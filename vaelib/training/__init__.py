"""Training: the engine (epochs, per-epoch evaluation, grids, checkpoints, resume) and the run folders."""
