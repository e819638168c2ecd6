"""The sections of a job spec (data, backbone, optimiser, schedule, resources): no registry needed.

Method, data and model modules import these; `ab_core.specs` adds the method union and `JobSpec`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from ab_core.params import StrictModel

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
FOLDER_FIELDS = ("normal_dir", "abnormal_dir", "mask_dir", "normal_test_dir", "extensions")


class DataSpec(StrictModel):
    dataset: Literal[
        "image_folder", "mvtec", "stl10", "cifar10", "visa", "mvtec_ad2", "btad", "dagm", "aitex", "folder"
    ]
    root: str = Field(description="dataset directory; for stl10 / cifar10 the torchvision root")
    categories: list[str] | None = Field(
        None, description="anomaly kinds (mvtec, visa, mvtec_ad2, btad, dagm, aitex, folder): the categories "
        "evaluated one by one; all found when omitted"
    )
    classes: list[str] | None = Field(
        None, min_length=1, description="keep only these classes (image_folder, stl10, cifar10; for anomaly "
        "kinds the categories, each a class when pretraining on them)"
    )
    exclude_classes: list[str] | None = Field(
        None, min_length=1, description="drop these classes (or categories); give classes or exclude_classes"
    )
    resize: int = Field(320, ge=8, description="shorter side before the centre crop (the seed's 320)")
    crop: int = Field(224, ge=8, description="centre-crop size fed to the network (the seed's 224)")
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    batch_size: int = Field(32, ge=1, le=4096)
    num_workers: int = Field(0, ge=0, le=64)
    cache: Literal["memory", "none"] = Field("memory", description="decode every image once into uint8")
    test_fraction: float = Field(
        0.2, ge=0.0, lt=1.0,
        description="seeded hold-out of normal images where the layout has no test split: image_folder "
        "without test/, visa without split_csv/1cls.csv, aitex, folder without normal_test_dir",
    )
    download: bool = Field(False, description="stl10 / cifar10: download when missing (needs internet)")
    tile: int = Field(256, ge=8, description="aitex: side of the square tiles cut from the 4096x256 images")
    tile_stride: int | None = Field(None, ge=1, description="aitex: step between tiles; default: tile")
    normal_dir: str | None = Field(None, description="folder: normal (good) images, relative to root")
    abnormal_dir: str | None = Field(None, description="folder: defective images, relative to root")
    mask_dir: str | None = Field(None, description="folder: masks named like their defective image")
    normal_test_dir: str | None = Field(None, description="folder: normal test images (else a hold-out)")
    extensions: list[str] | None = Field(None, description="folder: image extensions, e.g. ['.png']")

    @model_validator(mode="after")
    def _consistent(self) -> DataSpec:
        if self.crop > self.resize:
            raise ValueError(f"crop {self.crop} must be <= resize {self.resize}")
        if self.classes is not None and self.exclude_classes is not None:
            raise ValueError("give classes or exclude_classes, not both")
        if self.classes is not None and self.categories is not None:
            raise ValueError("give categories or classes, not both (for anomaly kinds they name the same)")
        given = [name for name in FOLDER_FIELDS if getattr(self, name) is not None]
        if self.dataset != "folder" and given:
            raise ValueError(f"{', '.join(given)} apply to dataset 'folder' only, not {self.dataset!r}")
        if self.dataset == "folder" and self.normal_dir is None:
            raise ValueError("dataset 'folder' needs normal_dir (and usually abnormal_dir, mask_dir)")
        return self


class BackboneSpec(StrictModel):
    arch: Literal[
        "resnet18", "resnet34", "resnet50", "wide_resnet50_2", "cbam_resnet18", "unet_resnet18"
    ] = "resnet18"
    weights: str = Field("none", description="'none', 'imagenet', or a checkpoint directory of this project")
    from_job: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        description="a pretraining job (or sweep) of the service: it waits for that job and loads its final "
        "(for a sweep: best) checkpoint into `weights`",
    )

    @model_validator(mode="after")
    def _one_source(self) -> BackboneSpec:
        if self.from_job is not None and self.weights == "imagenet":
            raise ValueError("give backbone.from_job or backbone.weights 'imagenet', not both")
        return self


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
