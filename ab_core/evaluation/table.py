"""The per-category results table and its mean row, as numbers and as Markdown a person can read."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

TABLE_METRICS = ("image_auroc", "pixel_auroc", "aupro", "image_f1_max", "pixel_f1_max")


def mean_row(per_category: Mapping[str, Mapping[str, object]], names: Sequence[str] = TABLE_METRICS
             ) -> dict[str, float | None]:
    """The mean of each metric over the categories that have it (None where none has it)."""
    means: dict[str, float | None] = {}
    for name in names:
        values = [row[name] for row in per_category.values() if isinstance(row.get(name), (int, float))]
        means[name] = sum(values) / len(values) if values else None  # type: ignore[arg-type]
    return means


def _cell(value: object) -> str:
    return f"{value:.4f}" if isinstance(value, float) else "n/a"


def markdown_table(per_category: Mapping[str, Mapping[str, object]], mean: Mapping[str, float | None],
                   names: Sequence[str] = TABLE_METRICS) -> str:
    """One row per category, then the mean; "n/a" marks a metric that could not be computed."""
    lines = ["| category | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for category, row in per_category.items():
        lines.append(f"| {category} | " + " | ".join(_cell(row.get(n)) for n in names) + " |")
    lines.append("| **mean** | " + " | ".join(_cell(mean.get(n)) for n in names) + " |")
    return "\n".join(lines) + "\n"
