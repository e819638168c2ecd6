"""`JobSpec`: the one description of a job, run the same way by `abs run`, the service and a sweep trial."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

import yaml
from pydantic import Field, ValidationError, model_validator

from ab_core import registry
from ab_core.errors import SpecError
from ab_core.params import StrictModel, canonical_hash
from ab_core.spec_sections import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    BackboneSpec,
    DataSpec,
    OptimSpec,
    ResourcesSpec,
    ScheduleSpec,
)

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "BackboneSpec",
    "DataSpec",
    "OptimSpec",
    "ResourcesSpec",
    "ScheduleSpec",
    "JobSpec",
    "MethodParams",
    "parse_spec",
    "load_spec",
    "read_spec_file",
    "problems_of",
    "problem_lines",
    "json_schema",
]


def _method_union() -> Any:
    params = tuple(entry.params for entry in registry.entries().values())
    return Annotated[Union[params], Field(discriminator="method")]  # noqa: UP007


if TYPE_CHECKING:  # the union exists only at run time, built from the registry
    MethodParams = Any
else:
    MethodParams = _method_union()


class JobSpec(StrictModel):
    kind: Literal["pretrain", "evaluate"]
    method: MethodParams
    data: DataSpec
    backbone: BackboneSpec = BackboneSpec()
    optim: OptimSpec = OptimSpec()
    schedule: ScheduleSpec = ScheduleSpec()
    resources: ResourcesSpec = ResourcesSpec()
    seed: int = Field(0, ge=0, lt=2**31)
    name: str | None = Field(None, max_length=200)

    @model_validator(mode="after")
    def _kind_matches_method(self) -> JobSpec:
        entry = registry.get(self.method.method)
        if entry.role != self.kind:
            raise ValueError(f"method {entry.name!r} is a {entry.role} method; kind must be {entry.role!r}")
        problem = entry.arch_problem(self.backbone.arch)
        if problem:
            raise ValueError(problem)
        if entry.check is not None and (problems := entry.check(self)):
            raise ValueError("\n".join(problems))
        return self

    def spec_hash(self) -> str:
        return canonical_hash(self.model_dump(mode="json"))


def problems_of(error: ValidationError, tagged: bool = False) -> list[str]:
    """One line per bad field: its dotted path, what was wrong and what is accepted. `tagged`: the error
    comes from a union on `kind`, whose tag pydantic puts first in each path (dropped here)."""
    lines = []
    for item in error.errors():
        loc = item["loc"][1:] if tagged else item["loc"]
        lines += problem_lines(".".join(str(part) for part in loc), item["msg"])
    return lines


def problem_lines(path: str, message: str) -> list[str]:
    """A model-wide check reports one `field: what` per line; each becomes a line under the model's path."""
    lines = []
    for part in message.removeprefix("Value error, ").splitlines():
        field, colon, what = part.partition(": ")
        if colon and " " not in field:
            lines.append(f"{path}.{field}: {what}" if path else part)
        else:
            lines.append(f"{path or '<spec>'}: {part}")
    return lines


def parse_spec(raw: dict[str, Any]) -> JobSpec:
    try:
        return JobSpec.model_validate(raw)
    except ValidationError as error:
        raise SpecError(problems_of(error)) from None


def load_spec(path: str | Path) -> JobSpec:
    return parse_spec(read_spec_file(path))


def read_spec_file(path: str | Path) -> dict[str, Any]:
    """The mapping in a YAML or JSON file (JSON is YAML)."""
    path = Path(path)
    if not path.is_file():
        raise SpecError([f"spec file {str(path)!r} does not exist"])
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise SpecError([f"{path}: not valid YAML or JSON ({error})"]) from None
    if not isinstance(raw, dict):
        raise SpecError([f"{path}: a spec is a mapping, got {type(raw).__name__}"])
    return raw


def json_schema() -> dict[str, Any]:
    return JobSpec.model_json_schema()
