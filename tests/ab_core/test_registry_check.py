"""A method's registered `check` sees the whole JobSpec and each line it returns is a named spec problem."""

from __future__ import annotations

import dataclasses

import pytest

from ab_core import registry
from ab_core.errors import SpecError
from ab_core.specs import parse_spec

SPEC = {
    "kind": "pretrain",
    "method": {"method": "simclr"},
    "data": {"dataset": "image_folder", "root": "/data/classes", "resize": 64, "crop": 64, "batch_size": 8},
    "schedule": {"steps": 2},
}


def _batch_at_most_four(spec) -> list[str]:
    if spec.data.batch_size > 4:
        return [f"data.batch_size: {spec.data.batch_size} is over 4", "method.temperature: also wrong"]
    return []


def test_a_registered_check_turns_each_line_into_a_named_problem(monkeypatch):
    registry.entries()  # import every method first
    entry = registry._ENTRIES["simclr"]
    monkeypatch.setitem(registry._ENTRIES, "simclr", dataclasses.replace(entry, check=_batch_at_most_four))
    with pytest.raises(SpecError) as caught:
        parse_spec(SPEC)
    assert caught.value.problems == ["data.batch_size: 8 is over 4", "method.temperature: also wrong"]
    parse_spec({**SPEC, "data": {**SPEC["data"], "batch_size": 4}})  # passes the check
