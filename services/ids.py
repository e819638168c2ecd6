"""Job ids: UUIDv7 strings, so sorting by id sorts by creation time (cursor pagination relies on it)."""

from __future__ import annotations

import os
import threading
import time
import uuid

_lock = threading.Lock()
_last = (0, 0)  # (milliseconds, sequence) of the id made last in this process


def new_job_id() -> str:
    """A UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, a 12-bit sequence, then 62 random bits.

    Monotonic within a process (RFC 9562 method 1): ids made in the same millisecond count up in the
    sequence field, so two jobs submitted back to back never sort in the wrong order.
    """
    global _last
    with _lock:
        millis = time.time_ns() // 1_000_000
        last_millis, last_seq = _last
        if millis > last_millis:
            seq = int.from_bytes(os.urandom(2), "big") & 0x7FF  # random start, room to count up
        else:
            millis, seq = last_millis, last_seq + 1
            if seq > 0xFFF:
                millis, seq = millis + 1, 0
        _last = (millis, seq)
    random_bits = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (millis & ((1 << 48) - 1)) << 80 | 0x7 << 76 | seq << 64 | 0x2 << 62 | random_bits
    return str(uuid.UUID(int=value))
