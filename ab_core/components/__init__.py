"""Parts the methods share (Gaussian statistics, anomaly maps, the frozen encoder, decoders): math only."""
