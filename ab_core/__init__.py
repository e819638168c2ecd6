"""Pure-PyTorch core: specs, data, models, pretrainers, evaluators and the local runner.

Imports nothing but torch, torchvision, numpy, pydantic and the standard library, so it runs on a
GPU machine that has torch alone.
"""

__version__ = "0.1.0"
