"""Reading a submitted spec's raw JSON without validating it (torch-free: the CLI reads jobs with it)."""

from __future__ import annotations

from typing import Any


def method_name(raw: dict[str, Any]) -> str | None:
    """The method a raw job or sweep spec names (a sweep's is its trial's), or None."""
    method = raw.get("method") or (raw.get("trial") or {}).get("method") or {}
    name = method.get("method") if isinstance(method, dict) else None
    return str(name) if name else None
