"""Losses of the pretraining methods, one file each, free of any training loop."""

from ab_core.losses.cdo import CDOLoss
from ab_core.losses.ntxent import NTXentLoss

__all__ = ["CDOLoss", "NTXentLoss"]
