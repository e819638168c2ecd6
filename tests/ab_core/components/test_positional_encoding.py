import math

import pytest
import torch

from ab_core.components.positional_encoding import positional_encoding_2d


def test_encoding_matches_the_closed_form_of_sines_and_cosines_of_x_then_y():
    length, height, width = 16, 3, 5
    encoding = positional_encoding_2d(length, height, width)
    assert encoding.shape == (length, height, width)
    half = length // 2
    for i in range(half // 2):
        w = 10000 ** (-2 * i / half)
        for y in range(height):
            for x in range(width):
                assert float(encoding[2 * i, y, x]) == pytest.approx(math.sin(x * w), abs=1e-6)
                assert float(encoding[2 * i + 1, y, x]) == pytest.approx(math.cos(x * w), abs=1e-6)
                assert float(encoding[half + 2 * i, y, x]) == pytest.approx(math.sin(y * w), abs=1e-6)
                assert float(encoding[half + 2 * i + 1, y, x]) == pytest.approx(math.cos(y * w), abs=1e-6)


def test_every_position_of_the_default_length_gets_a_distinct_code():
    codes = positional_encoding_2d(128, 8, 8).flatten(1).T  # (64, 128)
    distances = torch.cdist(codes, codes) + torch.eye(64) * 1e3
    assert distances.min() > 0.1


def test_length_must_be_a_multiple_of_four():
    with pytest.raises(ValueError, match="multiple of 4.*got 130"):
        positional_encoding_2d(130, 2, 2)
