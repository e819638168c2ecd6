"""The method registry: one entry per file in `ab_core/methods/`, found at import time.

A method file defines a `...Params` pydantic model with `method: Literal["name"]` and registers a
builder. The spec's discriminated union, the API schema, the CLI and the smoke test read this table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, get_args

from pydantic import BaseModel

Role = Literal["pretrain", "evaluate"]
Task = Literal["representation", "anomaly", "classification"]  # what a run produces and how it is scored


@dataclass(frozen=True)
class MethodEntry:
    name: str
    role: Role
    params: type[BaseModel]
    build: Callable[..., Any]
    summary: str
    metrics: tuple[str, ...] = ()  # what it reports besides loss and lr (a sweep may rank by these)
    task: Task = "representation"  # pretrainers: a backbone; evaluators: anomaly maps or class scores
    archs: tuple[str, ...] | None = None  # the backbone archs it can use; None: every one
    check: Callable[[Any], list[str]] | None = None  # (JobSpec) -> "field: what" lines across sections

    def arch_problem(self, arch: str) -> str | None:
        """A `backbone.arch: ...` line when this method cannot use `arch`, else None."""
        if self.archs is None or arch in self.archs:
            return None
        return f"backbone.arch: method {self.name!r} cannot use {arch!r}; accepted: {', '.join(self.archs)}"


_ENTRIES: dict[str, MethodEntry] = {}


def register(
    role: Role,
    params: type[BaseModel],
    summary: str,
    metrics: tuple[str, ...] = (),
    task: Task | None = None,
    archs: tuple[str, ...] | None = None,
    check: Callable[[Any], list[str]] | None = None,
) -> Callable[[Callable], Callable]:
    """Decorator for a method's builder: `@register("pretrain", SimCLRParams, "...")`. `metrics`: the
    names its `step_metrics` report; `task`: "anomaly" (default of evaluators) or "classification";
    `archs`: the backbone archs it accepts, when not all of them; `check`: a function of the whole
    `JobSpec` returning one `field: what` line per problem its params' own validators cannot see
    (e.g. `method.queue_size` vs `data.batch_size`); each becomes a 422 line."""
    task = task or ("representation" if role == "pretrain" else "anomaly")
    (name,) = get_args(params.model_fields["method"].annotation)  # Literal["name"]

    def decorate(build: Callable) -> Callable:
        if name in _ENTRIES and _ENTRIES[name].build is not build:
            raise ValueError(f"method {name!r} is registered twice")
        _ENTRIES[name] = MethodEntry(name, role, params, build, summary, metrics, task, archs, check)
        return build

    return decorate


def entries() -> dict[str, MethodEntry]:
    """Every registered method, after importing all of `ab_core.methods`."""
    import ab_core.methods  # noqa: F401  (registers on import)

    return dict(sorted(_ENTRIES.items()))


def get(name: str) -> MethodEntry:
    table = entries()
    if name not in table:
        raise KeyError(f"unknown method {name!r}; registered: {', '.join(table)}")
    return table[name]
