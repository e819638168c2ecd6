"""The detached logits and labels of a classifier's last training step, and their top-k accuracies."""

from __future__ import annotations

from torch import Tensor

from ab_core.evaluation.metrics import top_k_accuracy


class LastLogits:
    """What a classifying pretrainer (supervised, CutPaste, relative position) reports after each step."""

    def __init__(self) -> None:
        self.value: tuple[Tensor, Tensor] | None = None  # (logits (B, classes), labels (B,)), detached

    def keep(self, logits: Tensor, labels: Tensor) -> None:
        self.value = (logits.detach(), labels)

    def accuracies(self, **ks: int) -> dict[str, float]:
        """`accuracies(top1=1, top5=5)` -> {"top1": ..., "top5": ...}; {} before the first step."""
        if self.value is None:
            return {}
        logits, labels = self.value
        return {name: top_k_accuracy(logits, labels, k) for name, k in ks.items()}
