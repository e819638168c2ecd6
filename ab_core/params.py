"""The base of every spec section and method parameter model: frozen, unknown fields refused."""

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
