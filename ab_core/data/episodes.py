"""Few-shot episodes: RegAD's training batches (queries with same-category supports), seeded support draws."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import torch

from ab_core.errors import DataError


@dataclass(frozen=True)
class Episode:
    category: str
    queries: list[int]  # (B,) dataset indices of the query images
    supports: list[list[int]]  # (B, K) indices of each query's supports: same category, never the query


def seeded_generator(*key: object) -> torch.Generator:
    """A generator seeded from `key` alone (e.g. ("regad-support", seed, category, draw))."""
    digest = hashlib.sha256(":".join(str(part) for part in key).encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") >> 1)


def episodes(sizes: dict[str, int], batch_size: int, shots: int, generator: torch.Generator) -> list[Episode]:
    """One training epoch, as the RegAD reference builds it: each category's images in a random order cut
    into batches of `batch_size` queries (a batch never mixes categories); each query gets `shots` supports
    drawn with replacement from the other images of its category; then all batches in a random order."""
    out = []
    for name in sorted(sizes):
        count = sizes[name]
        if count < 2:
            raise DataError(
                f"method.train_categories: category {name!r} has {count} train image; a query "
                "needs at least one other normal image of its category as support"
            )
        order = torch.randperm(count, generator=generator)
        for start in range(0, count, batch_size):
            queries = order[start : start + batch_size]  # (B,)
            drawn = torch.randint(0, count - 1, (len(queries), shots), generator=generator)  # (B, K)
            supports = drawn + (drawn >= queries.unsqueeze(1)).long()  # skip the query: uniform over others
            out.append(Episode(name, queries.tolist(), supports.tolist()))
    shuffled = torch.randperm(len(out), generator=generator).tolist()
    return [out[i] for i in shuffled]


def support_draw(count: int, shots: int, generator: torch.Generator) -> list[int]:
    """`shots` distinct indices of `count` normal images, sorted (a k-shot support set)."""
    if shots > count:
        raise DataError(
            f"method.shots: {shots} exceeds the {count} normal train images; accepted: <= {count}"
        )
    return sorted(torch.randperm(count, generator=generator)[:shots].tolist())
