"""The evaluator of a detector fitted in one pass over normal images (PaDiM, PatchCore)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from torch import Tensor

from ab_core.components.encoder import prepare
from ab_core.contracts import Batch, BuildContext


class OnePassModel(Protocol):
    def update(self, images: Tensor) -> None: ...  # normalised normal images (B, 3, H, W)

    def finish(self) -> None: ...  # turn what update gathered into the fitted state

    def __call__(self, images: Tensor) -> tuple[Tensor, Tensor]: ...  # -> scores (B,), maps (B, 1, H, W)


class OnePassEvaluator:
    """Feeds every normal training batch to `model.update`, calls `model.finish`, then scores test batches."""

    def __init__(self, model: OnePassModel, ctx: BuildContext):
        self.model, self.ctx = model, ctx

    def fit(self, batches: Iterable[Batch]) -> None:
        for batch in batches:
            self.model.update(prepare(batch.images, self.ctx))
        self.model.finish()

    def score(self, batch: Batch) -> dict[str, Tensor]:
        scores, maps = self.model(prepare(batch.images, self.ctx))
        return {"image_score": scores, "anomaly_map": maps}
