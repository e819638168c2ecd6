"""The collapse indicator and monitor: 0 for constant outputs, about 1/sqrt(d) for spread ones; the flag
needs `patience` low values in a row, is raised once and sticks."""

from __future__ import annotations

import math

import pytest
import torch

from ab_core.components.collapse import CollapseMonitor, output_std


def test_a_constant_output_has_zero_std_and_a_spread_one_about_one_over_sqrt_d():
    d = 512
    assert output_std(torch.ones(64, d) * 3.0).item() == pytest.approx(0.0, abs=1e-7)
    torch.manual_seed(0)
    spread = output_std(torch.randn(4096, d)).item()
    assert spread * math.sqrt(d) == pytest.approx(1.0, abs=0.02)


def test_the_std_is_per_channel_over_the_batch_then_averaged():
    z = torch.tensor([[3.0, 4.0], [4.0, 3.0], [0.0, 1.0]])
    unit = z / z.norm(dim=1, keepdim=True)
    assert output_std(z).item() == pytest.approx(unit.std(dim=0).mean().item(), abs=1e-7)


def test_the_monitor_flags_after_patience_low_values_in_a_row_once():
    monitor = CollapseMonitor(dim=100, threshold=0.1, patience=3)  # low means std < 0.01
    low, high = 0.001, 0.1
    assert [monitor.observe(v) for v in (low, low, high, low, low)] == [False] * 5  # a healthy value resets
    assert not monitor.collapsed
    assert monitor.observe(low) is True and monitor.collapsed
    assert monitor.observe(low) is False and monitor.observe(high) is False  # raised once, then sticks
    assert monitor.collapsed


def test_the_monitor_state_is_in_its_state_dict_for_resume():
    monitor = CollapseMonitor(dim=4, threshold=0.5, patience=1)
    monitor.observe(0.0)
    restored = CollapseMonitor(dim=4, threshold=0.5, patience=1)
    restored.load_state_dict(monitor.state_dict())
    assert restored.collapsed


def test_bad_monitor_settings_are_refused():
    with pytest.raises(ValueError, match="threshold"):
        CollapseMonitor(dim=8, threshold=1.5, patience=1)
