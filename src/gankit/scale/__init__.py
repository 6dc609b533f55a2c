"""Beyond one run: ensembles of seeds in one process, sweeps, Ray Tune."""
