"""Ports for a local Ray head: picked together they are distinct, and never one already picked elsewhere
(a gcs port and Ray's agent port once came out equal and `ray start` refused to start)."""

from __future__ import annotations

from services.ray_head import free_ports


def test_ports_picked_together_are_distinct_and_skip_the_reserved_ones():
    api = free_ports(4)
    ray = free_ports(200, reserved=api)
    assert len(set(ray)) == 200 and not set(ray) & set(api)
