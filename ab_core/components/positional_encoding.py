"""2-D sinusoidal positional encoding: the condition vector CFlow-AD gives its flows for each position."""

from __future__ import annotations

import math

import torch
from torch import Tensor


def positional_encoding_2d(length: int, height: int, width: int) -> Tensor:
    """(length, height, width) encoding of each position (y, x), CFlow-AD's `positionalencoding2d`.

    "We use a 2D form of conventional positional encoding (PE) ... with sine and cosine harmonics"
    (Gudovskiy et al., WACV 2022). The first half of the channels encodes the column x, the second
    the row y; with D = length / 2 and w_i = 10000^(-2i / D), i = 0 .. D/2 - 1:
        P[2i] = sin(x w_i), P[2i+1] = cos(x w_i), P[D+2i] = sin(y w_i), P[D+2i+1] = cos(y w_i).
    """
    if length <= 0 or length % 4:
        raise ValueError(f"the 2-D sin/cos encoding needs a positive multiple of 4 as length, got {length}")
    half = length // 2
    freq = torch.exp(torch.arange(0.0, half, 2) * -(math.log(1e4) / half))  # (D/2,)
    x = torch.arange(width, dtype=torch.float32)[:, None] * freq  # (W, D/2)
    y = torch.arange(height, dtype=torch.float32)[:, None] * freq  # (H, D/2)
    encoding = torch.zeros(length, height, width)
    encoding[0:half:2] = torch.sin(x).T[:, None, :].expand(-1, height, -1)
    encoding[1:half:2] = torch.cos(x).T[:, None, :].expand(-1, height, -1)
    encoding[half::2] = torch.sin(y).T[:, :, None].expand(-1, -1, width)
    encoding[half + 1 :: 2] = torch.cos(y).T[:, :, None].expand(-1, -1, width)
    return encoding
