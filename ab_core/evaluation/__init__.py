"""Evaluating backbones: anomaly metrics, streaming Gaussians, anomaly maps, the runner and its artifacts."""
