"""The backbone study's figures and its Markdown section: leaderboard rows read back from `GET /v1/results`,
split into the tuned photos' mean and the held-out photo's numbers."""

from __future__ import annotations

import re
import statistics
from pathlib import Path
from typing import Any

METRICS = ("image_auroc", "pixel_auroc", "aupro")
BEGIN, END = "<!-- backbone_study:begin -->", "<!-- backbone_study:end -->"


def backbone_label(backbone: dict[str, Any]) -> str:
    """'random init', or the pretraining method (with the params a sweep varied, if any)."""
    if backbone["source"] == "none":
        return f"random init ({backbone['arch']})"
    return backbone["method"] or backbone["source"]


def _mean(per_category: dict[str, dict[str, float]], categories: list[str], metric: str) -> float | None:
    values = [per_category[c][metric] for c in categories if metric in per_category.get(c, {})]
    return round(statistics.fmean(values), 4) if values else None


def figures(rows: list[dict[str, Any]], tuned: list[str], held_out: str | None) -> list[dict[str, Any]]:
    """One figure per leaderboard row: the mean over the tuned photos, each photo, the held-out photo."""
    out = []
    for row in rows:
        per_category = row["categories"]
        figure: dict[str, Any] = {
            "backbone": backbone_label(row["backbone"]),
            "pretrain_job": row["backbone"]["job_id"],
            "evaluator": row["evaluator"]["method"],
            "evaluation_job": row["evaluator"]["job_id"],
        }
        figure |= {f"tuned_{m}": _mean(per_category, tuned, m) for m in METRICS}
        figure |= {f"{c}_image_auroc": _mean(per_category, [c], "image_auroc") for c in tuned}
        if held_out is not None:
            figure |= {f"held_out_{m}": _mean(per_category, [held_out], m) for m in METRICS}
        out.append(figure)
    return sorted(out, key=lambda f: (f["evaluator"], -(f["tuned_image_auroc"] or 0.0)))


def _cell(value: Any) -> str:
    return "-" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)


def markdown_table(figures: list[dict[str, Any]], columns: list[str]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(f.get(c)) for c in columns) + " |" for f in figures]
    return "\n".join(lines)


def section(
    setup: dict[str, Any],
    figures: list[dict[str, Any]],
    table_text: str,
    sweep: list[dict[str, Any]] | None,
) -> str:
    """The study's Markdown section: the setup, the leaderboard, the raw `abs results` table, the sweep."""
    tuned, held_out = setup["tuned"], setup["held_out"]
    columns = ["backbone", "evaluator", *(f"tuned_{m}" for m in METRICS)]
    columns += [f"{c}_image_auroc" for c in tuned]
    if held_out:
        columns += [f"held_out_{m}" for m in METRICS]
    smoke = "SMOKE RUN (--quick): a check that the study runs end to end, NOT a result"
    label = smoke if setup["quick"] else "measured"
    parts = [
        BEGIN,
        f"### Leaderboard ({label})",
        "",
        f"`{setup['command']}`: {setup['steps']} pretraining steps at {setup['size']} px, batch "
        f"{setup['batch_size']}, seed {setup['seed']}; tuned photos {', '.join(tuned)}; held-out photo "
        f"{held_out or 'none'}; per photo {setup['counts']}; defect contrast {setup['contrast']}; "
        f"{f'RD4AD {epochs} epochs' if (epochs := setup['rd4ad_epochs']) else 'PaDiM only'}. Skipped: "
        f"{', '.join(f'{k} ({v})' for k, v in setup['skipped'].items()) or 'none'}.",
        "",
        markdown_table(figures, columns),
        "",
        "`abs results` (means over every evaluated photo, the held-out one included):",
        "",
        "```",
        table_text.rstrip(),
        "```",
    ]
    if sweep:
        title = f"Sweep `{setup['sweep']}` (pretrain -> PaDiM on the tuned photos, best first):"
        parts += ["", title, "", markdown_table(sweep, ["value", *METRICS, "trial"])]
    return "\n".join([*parts, END, ""])


def write_section(path: Path, text: str) -> None:
    """Replace the study's section of `path` (between its markers), or append it when there is none."""
    old = path.read_text() if path.is_file() else ""
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END) + "\n?", re.S)
    if pattern.search(old):
        new = pattern.sub(lambda _: text, old, count=1)
    else:
        new = old + ("\n" if old and not old.endswith("\n") else "") + text
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(new)
