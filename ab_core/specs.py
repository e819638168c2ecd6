"""`JobSpec`: the one description of a job, run the same way by `abs run`, the service and a sweep trial."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import Field, ValidationError, model_validator

from ab_core import registry
from ab_core.errors import SpecError
from ab_core.params import StrictModel

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class DataSpec(StrictModel):
    dataset: Literal["image_folder", "mvtec", "stl10", "cifar10"]
    root: str = Field(description="dataset directory; for stl10 / cifar10 the torchvision root")
    categories: list[str] | None = Field(None, description="mvtec categories; all found when omitted")
    resize: int = Field(320, ge=8, description="shorter side before the centre crop (the seed's 320)")
    crop: int = Field(224, ge=8, description="centre-crop size fed to the network (the seed's 224)")
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    batch_size: int = Field(32, ge=1, le=4096)
    num_workers: int = Field(0, ge=0, le=64)
    cache: Literal["memory", "none"] = Field("memory", description="decode every image once into uint8")
    test_fraction: float = Field(0.2, ge=0.0, lt=1.0, description="image_folder hold-out without test/")
    download: bool = Field(False, description="stl10 / cifar10: download when missing (needs internet)")

    @model_validator(mode="after")
    def _crop_fits(self) -> DataSpec:
        if self.crop > self.resize:
            raise ValueError(f"crop {self.crop} must be <= resize {self.resize}")
        return self


class BackboneSpec(StrictModel):
    arch: Literal["resnet18", "resnet34"] = "resnet18"
    weights: str = Field("none", description="'none', 'imagenet', or a checkpoint directory of this project")


class OptimSpec(StrictModel):
    name: Literal["sgd", "adam", "adamw"] = "adamw"
    lr: float = Field(1e-3, gt=0, le=10)
    weight_decay: float = Field(1e-4, ge=0, le=1)
    momentum: float = Field(0.9, ge=0, lt=1, description="sgd only")


class ScheduleSpec(StrictModel):
    epochs: int | None = Field(None, ge=1, description="give epochs or steps, not both")
    steps: int | None = Field(None, ge=1, description="optimiser steps")
    warmup_steps: int = Field(0, ge=0)
    lr_schedule: Literal["constant", "cosine"] = "cosine"
    grad_accum: int = Field(1, ge=1, le=1024)
    checkpoint_every: int = Field(0, ge=0, description="steps between checkpoints; 0 = only at the end")
    keep_checkpoints: int = Field(2, ge=1, description="newest step checkpoints kept on disk")
    log_every: int = Field(1, ge=1)
    amp: bool = Field(True, description="bf16 autocast on CUDA (ignored on CPU)")
    channels_last: bool = Field(True, description="on CUDA (ignored on CPU)")

    @model_validator(mode="after")
    def _one_length(self) -> ScheduleSpec:
        if self.epochs is not None and self.steps is not None:
            raise ValueError("give either epochs or steps, not both")
        return self


class ResourcesSpec(StrictModel):
    workers: int = Field(1, ge=1, le=512)
    gpus_per_worker: float = Field(0, ge=0, le=16)
    cpus_per_worker: float = Field(1, gt=0, le=256)


def _method_union() -> Any:
    params = tuple(entry.params for entry in registry.entries().values())
    return Annotated[Union[params], Field(discriminator="method")]  # noqa: UP007


MethodParams = _method_union()


class JobSpec(StrictModel):
    kind: Literal["pretrain", "evaluate"]
    method: MethodParams  # type: ignore[valid-type]
    data: DataSpec
    backbone: BackboneSpec = BackboneSpec()
    optim: OptimSpec = OptimSpec()
    schedule: ScheduleSpec = ScheduleSpec()
    resources: ResourcesSpec = ResourcesSpec()
    seed: int = Field(0, ge=0, lt=2**31)
    name: str | None = Field(None, max_length=200)

    @model_validator(mode="after")
    def _kind_matches_method(self) -> JobSpec:
        role = registry.get(self.method.method).role
        if role != self.kind:
            raise ValueError(f"method {self.method.method!r} is a {role} method; kind must be {role!r}")
        return self

    def spec_hash(self) -> str:
        """sha256 of the canonical JSON: equal specs hash equal, whatever their key order."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


def problems_of(error: ValidationError) -> list[str]:
    """One line per bad field: its dotted path, what was wrong and what is accepted."""
    lines = []
    for item in error.errors():
        path = ".".join(str(part) for part in item["loc"]) or "<spec>"
        lines.append(f"{path}: {item['msg']}")
    return lines


def parse_spec(raw: dict[str, Any]) -> JobSpec:
    try:
        return JobSpec.model_validate(raw)
    except ValidationError as error:
        raise SpecError(problems_of(error)) from None


def load_spec(path: str | Path) -> JobSpec:
    """Read a spec from a YAML or JSON file (JSON is YAML)."""
    path = Path(path)
    if not path.is_file():
        raise SpecError([f"spec file {str(path)!r} does not exist"])
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise SpecError([f"{path}: not valid YAML or JSON ({error})"]) from None
    if not isinstance(raw, dict):
        raise SpecError([f"{path}: a spec is a mapping, got {type(raw).__name__}"])
    return parse_spec(raw)


def json_schema() -> dict[str, Any]:
    return JobSpec.model_json_schema()
