"""The base of every spec section and method parameter model: frozen, unknown fields refused."""

import hashlib
import json
from typing import Any

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def canonical_hash(dumped: dict[str, Any]) -> str:
    """sha256 of the canonical JSON: equal specs hash equal, whatever their key order."""
    canonical = json.dumps(dumped, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
