"""The feature queue: first in, first out, wrapping around its end."""

from __future__ import annotations

import pytest
import torch

from ab_core.components.queue import FeatureQueue


def test_pushes_overwrite_the_oldest_rows_and_wrap_around():
    queue = FeatureQueue(size=5, dim=2)
    assert torch.allclose(queue.features.norm(dim=1), torch.ones(5))  # starts as unit vectors
    first = torch.arange(6.0).view(3, 2)
    second = torch.arange(6.0, 12.0).view(3, 2)
    queue.push(first)
    queue.push(second)  # rows 3, 4, then 0
    assert torch.equal(queue.features[1:3], first[1:])
    assert torch.equal(queue.features[3:], second[:2])
    assert torch.equal(queue.features[0], second[2])
    assert int(queue.pointer) == 1


def test_a_batch_larger_than_the_queue_is_refused():
    with pytest.raises(ValueError, match="N <= 2"):
        FeatureQueue(size=2, dim=3).push(torch.zeros(3, 3))
