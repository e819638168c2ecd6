"""Bodies of the internal endpoints that workers call with their job-scoped token."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

NO_NUL = r"^[^\x00]*$"


class WorkerJobRead(BaseModel):
    id: str
    attempt: int = Field(description="the job's live attempt (a worker of another one is stale)")
    state: str = Field(description="queued again, or terminal: the attempt's lease is gone")
    spec: dict[str, Any]
    storage_dir: str = Field(description="where this job writes; artifacts must lie under the storage root")
    dataset_roots: list[str] = Field(description="where data may lie: checked again just before reading")
    cancel_requested: bool


class ProgressCreate(BaseModel):
    """The shape of a progress event's data (checked at the edge, so every job's progress reads back)."""

    model_config = ConfigDict(extra="forbid")

    epoch: int | float | None = Field(None, ge=0, description="may be fractional mid-epoch")
    step: int | None = Field(None, ge=0)
    total_steps: int | None = Field(None, ge=0)
    metrics: dict[str, Any] = Field(default_factory=dict)


class ProgressEventCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["progress"]
    data: ProgressCreate


class NoteEventCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["log", "checkpoint"]
    data: dict[str, Any] = Field(description="log: {message}; checkpoint: {path}")


WorkerEventCreate = Annotated[ProgressEventCreate | NoteEventCreate, Field(discriminator="kind")]


class WorkerEventAck(BaseModel):
    seq: int


class HeartbeatCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lease_seconds: float | None = Field(None, gt=0, le=3600)


class HeartbeatRead(BaseModel):
    lease_deadline: datetime
    cancel_requested: bool = Field(description="stop, then post the result with state 'cancelled'")


class WorkerResultCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: Literal["succeeded", "failed", "cancelled"]
    result: dict[str, Any] | None = None
    error: str | None = Field(None, max_length=20_000, pattern=NO_NUL)


class ArtifactCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=300, pattern=r"^[^\x00-\x1f]+$")
    kind: str = Field(
        "file",
        min_length=1,
        max_length=32,
        pattern=NO_NUL,
        description="checkpoint, metrics, picture, file ...",
    )
    path: str = Field(
        min_length=1, max_length=4096, pattern=NO_NUL, description="absolute, or relative to storage_dir"
    )


class ChildCreate(BaseModel):
    """A trial of the calling sweep (or the evaluation of the calling trial); the same key, the same child."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(min_length=1, max_length=120, pattern=r"^[A-Za-z0-9_.:-]+$", description="a trial id")
    spec: dict[str, Any] = Field(description="the child's job spec (validated)")
    params: dict[str, Any] | None = Field(None, description="the sampled values, by parameter path")


class ChildRead(BaseModel):
    id: str
    state: str
    result: dict[str, Any] | None
