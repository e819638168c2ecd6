"""examples/ holds a valid spec for every registered method."""

from __future__ import annotations

from pathlib import Path

from ab_core import registry
from ab_core.specs import load_spec

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_every_registered_method_has_a_valid_example():
    methods = {load_spec(path).method.method for path in EXAMPLES.glob("*.yaml")}
    assert methods == set(registry.entries())
