"""ResNet backbones with feature taps, and the heads the pretrainers put on them."""
