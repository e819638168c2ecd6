"""Numpy drawings of the synthetic manufacturing categories (textures, objects) and their defects.

An image is float (H, W, 3) in [0, 1]; a region / mask is bool (H, W). Every function draws from the
`numpy.random.Generator` it is given, so the same generator state gives the same pixels.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Image = np.ndarray  # (H, W, 3) float in [0, 1]
Region = np.ndarray  # (H, W) bool


def _coords(size: int) -> tuple[np.ndarray, np.ndarray]:
    """(H, W) row and column coordinates in [0, 1)."""
    axis = (np.arange(size) + 0.5) / size
    return np.meshgrid(axis, axis, indexing="ij")


def smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """(size, size) Gaussian noise on a (cells+1)^2 lattice (bilinear): low-frequency variation."""
    lattice = rng.standard_normal((cells + 1, cells + 1))
    at = np.linspace(0, cells, size, endpoint=False)
    low = np.floor(at).astype(int)
    t = at - low
    rows = lattice[low] * (1 - t)[:, None] + lattice[low + 1] * t[:, None]  # (size, cells+1)
    return rows[:, low] * (1 - t)[None, :] + rows[:, low + 1] * t[None, :]


def _tint(value: np.ndarray, colour: tuple[float, float, float]) -> Image:
    return np.clip(value[..., None] * np.asarray(colour)[None, None, :], 0, 1)


def carpet(rng: np.random.Generator, size: int) -> tuple[Image, Region]:
    y, x = _coords(size)
    phase = rng.uniform(0, 2 * np.pi, 2)
    weave = np.sin(2 * np.pi * 10 * x + phase[0]) * np.sin(2 * np.pi * 10 * y + phase[1])
    value = 0.75 + 0.15 * weave + 0.06 * rng.standard_normal((size, size))
    return _tint(value, (0.75 + rng.uniform(-0.03, 0.03), 0.45, 0.35)), np.ones((size, size), bool)


def grid(rng: np.random.Generator, size: int) -> tuple[Image, Region]:
    y, x = _coords(size)
    offset = rng.uniform(0, 1, 2)
    period = 1 / 8
    near_line = np.minimum(((y + offset[0] * period) % period), ((x + offset[1] * period) % period))
    value = np.where(near_line < period * 0.25, 0.85, 0.25) + 0.04 * rng.standard_normal((size, size))
    return _tint(value, (0.9, 0.9, 0.95)), np.ones((size, size), bool)


def wood(rng: np.random.Generator, size: int) -> tuple[Image, Region]:
    y, x = _coords(size)
    wobble = 0.08 * smooth_noise(rng, size, 3)
    grain = np.sin(2 * np.pi * (7 * x + wobble * 3) + rng.uniform(0, 2 * np.pi))
    value = 0.7 + 0.12 * grain + 0.03 * rng.standard_normal((size, size))
    return _tint(value, (0.85, 0.6, 0.35)), np.ones((size, size), bool)


def tile(rng: np.random.Generator, size: int) -> tuple[Image, Region]:
    mottle = 0.08 * smooth_noise(rng, size, 6)
    speckle = (rng.random((size, size)) < 0.03) * -0.25
    value = 0.65 + mottle + speckle + 0.02 * rng.standard_normal((size, size))
    return _tint(value, (0.8, 0.8, 0.75)), np.ones((size, size), bool)


def screw(rng: np.random.Generator, size: int) -> tuple[Image, Region]:
    """A threaded rod with a round head on a light background, at a small random angle and offset."""
    y, x = _coords(size)
    angle = rng.uniform(-0.35, 0.35)
    cy, cx = 0.5 + rng.uniform(-0.04, 0.04, 2)
    along = (x - cx) * np.cos(angle) + (y - cy) * np.sin(angle)  # rod axis coordinate
    across = -(x - cx) * np.sin(angle) + (y - cy) * np.cos(angle)
    rod = (np.abs(along) < 0.32) & (np.abs(across) < 0.07)
    head = (along + 0.32) ** 2 + across**2 < 0.12**2
    thread = 0.5 + 0.25 * np.sin(2 * np.pi * along / 0.05)
    value = np.full((size, size), 0.85) + 0.02 * rng.standard_normal((size, size))
    value = np.where(rod, thread * (1 - 2.5 * np.abs(across)), value)
    value = np.where(head, 0.55 + 0.6 * (0.12 - np.sqrt((along + 0.32) ** 2 + across**2)), value)
    return _tint(value, (0.95, 0.95, 1.0)), rod | head


def bottle(rng: np.random.Generator, size: int) -> tuple[Image, Region]:
    """A bottle seen from above: a dark glass disc with a bright rim and a black opening."""
    y, x = _coords(size)
    cy, cx = 0.5 + rng.uniform(-0.02, 0.02, 2)
    radius = np.sqrt((y - cy) ** 2 + (x - cx) ** 2)
    value = 0.05 + 0.02 * rng.standard_normal((size, size))  # black background
    glass = radius < 0.42
    value = np.where(glass, 0.35 + 0.1 * np.cos(radius * 20), value)
    value = np.where((radius > 0.18) & (radius < 0.24), 0.8, value)  # rim of the opening
    value = np.where(radius <= 0.18, 0.08, value)
    return _tint(value, (0.45, 0.65, 0.45)), glass & (radius > 0.24)


def _centre_in(rng: np.random.Generator, region: Region, margin: float) -> tuple[float, float]:
    """A random (row, col) in [0, 1) inside `region`, away from the image border by `margin`."""
    size = region.shape[0]
    keep = region.copy()
    edge = int(np.ceil(margin * size))
    keep[:edge], keep[-edge:], keep[:, :edge], keep[:, -edge:] = False, False, False, False
    rows, cols = np.nonzero(keep if keep.any() else region)
    pick = rng.integers(len(rows))
    return (rows[pick] + 0.5) / size, (cols[pick] + 0.5) / size


def _segment_distance(y: np.ndarray, x: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    direction = end - start
    along = (y - start[0]) * direction[0] + (x - start[1]) * direction[1]
    t = np.clip(along / (direction @ direction), 0, 1)  # nearest point of the segment
    return np.hypot(y - (start[0] + t * direction[0]), x - (start[1] + t * direction[1]))


def _line_mask(y: np.ndarray, x: np.ndarray, points: np.ndarray, width: float) -> Region:
    mask = np.zeros(y.shape, bool)
    for start, end in zip(points[:-1], points[1:], strict=True):
        mask |= _segment_distance(y, x, start, end) < width
    return mask


def scratch(rng: np.random.Generator, image: Image, region: Region) -> tuple[Image, Region]:
    """A straight bright line across part of the surface."""
    size = image.shape[0]
    y, x = _coords(size)
    centre = np.asarray(_centre_in(rng, region, 0.2))
    angle, half = rng.uniform(0, np.pi), rng.uniform(0.15, 0.25)
    offset = half * np.array([np.sin(angle), np.cos(angle)])
    mask = _line_mask(y, x, np.stack([centre - offset, centre + offset]), max(1.2 / size, 0.02))
    return np.where(mask[..., None], np.array([1.0, 1.0, 0.9]), image), mask


def crack(rng: np.random.Generator, image: Image, region: Region) -> tuple[Image, Region]:
    """A dark jagged polyline (a random walk of short segments)."""
    size = image.shape[0]
    y, x = _coords(size)
    heading = rng.uniform(0, 2 * np.pi)
    points = [np.asarray(_centre_in(rng, region, 0.25))]
    for _ in range(6):
        heading += rng.uniform(-0.9, 0.9)
        points.append(points[-1] + 0.06 * np.array([np.sin(heading), np.cos(heading)]))
    mask = _line_mask(y, x, np.stack(points), max(1.0 / size, 0.018))
    return np.where(mask[..., None], np.array([0.02, 0.02, 0.02]), image), mask


def hole(rng: np.random.Generator, image: Image, region: Region) -> tuple[Image, Region]:
    """A dark round hole with a light rim."""
    size = image.shape[0]
    y, x = _coords(size)
    cy, cx = _centre_in(rng, region, 0.15)
    radius = rng.uniform(0.06, 0.11)
    distance = np.hypot(y - cy, x - cx)
    mask = distance < radius
    out = np.where((distance < radius * 1.25)[..., None], np.array([0.95, 0.95, 0.95]), image)
    return np.where(mask[..., None], np.array([0.03, 0.02, 0.02]), out), mask | (distance < radius * 1.25)


def contamination(rng: np.random.Generator, image: Image, region: Region) -> tuple[Image, Region]:
    """An irregular blob of a foreign (blue-green) colour."""
    size = image.shape[0]
    y, x = _coords(size)
    cy, cx = _centre_in(rng, region, 0.15)
    theta = np.arctan2(y - cy, x - cx)
    lobes = rng.uniform(0, 2 * np.pi, 3)
    radius = rng.uniform(0.07, 0.11) * (
        1 + 0.3 * sum(np.sin(k * theta + p) for k, p in zip((2, 3, 5), lobes, strict=True)) / 3
    )
    mask = np.hypot(y - cy, x - cx) < radius
    colour = np.array([0.1, rng.uniform(0.5, 0.8), rng.uniform(0.6, 0.9)])
    return np.where(mask[..., None], colour, image), mask


Drawer = Callable[[np.random.Generator, int], tuple[Image, Region]]
Defect = Callable[[np.random.Generator, Image, Region], tuple[Image, Region]]

# category -> (normal image drawer, its two defect types)
CATEGORIES: dict[str, tuple[Drawer, dict[str, Defect]]] = {
    "carpet": (carpet, {"hole": hole, "contamination": contamination}),
    "grid": (grid, {"scratch": scratch, "contamination": contamination}),
    "wood": (wood, {"scratch": scratch, "hole": hole}),
    "tile": (tile, {"crack": crack, "contamination": contamination}),
    "screw": (screw, {"scratch": scratch, "crack": crack}),
    "bottle": (bottle, {"contamination": contamination, "crack": crack}),
}
