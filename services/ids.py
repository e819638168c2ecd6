"""Job ids: UUIDv7 strings, so sorting by id sorts by creation time (cursor pagination relies on it)."""

from __future__ import annotations

import os
import time
import uuid


def new_job_id() -> str:
    """A UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then version, variant and 74 random bits."""
    millis = time.time_ns() // 1_000_000
    value = (millis & ((1 << 48) - 1)) << 80 | int.from_bytes(os.urandom(10), "big")
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
    return str(uuid.UUID(int=value))
