"""Code that runs inside Ray: the job entrypoint, the TorchTrainer glue around ab_core, Tune sweeps."""
