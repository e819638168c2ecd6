"""examples/ holds a valid spec for every registered method, and valid sweeps."""

from __future__ import annotations

from pathlib import Path

from ab_core import registry
from ab_core.specs import load_spec
from ab_core.sweeps import SweepSpec, load_submitted

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_every_registered_method_has_a_valid_example():
    methods = {load_spec(path).method.method for path in EXAMPLES.glob("*.yaml")}
    assert methods == set(registry.entries())


def test_every_sweep_example_is_a_valid_sweep():
    sweeps = [load_submitted(path) for path in sorted((EXAMPLES / "sweeps").glob("*.yaml"))]
    assert len(sweeps) >= 2 and all(isinstance(sweep, SweepSpec) for sweep in sweeps)
    assert any(sweep.evaluate is not None for sweep in sweeps)  # a pipeline objective
