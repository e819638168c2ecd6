"""SimCLR pretraining throughput, end to end from a PNG folder, against the compute-only floor.

One run, alternating rounds, medians. Columns:
  end_to_end  ab_core's loop on an image_folder of PNGs: decode once (cached uint8), batched tensor
              augmentation of two views, forward, NT-Xent, backward, step
  floor       the same SimCLR module and step on ready, already-augmented tensors (no data, no augmentation)
  lightly     lightly's SimCLR recipe on the same folder (ImageFolder + SimCLRTransform), if installed
Prints one JSON line per figure. Usage: .venv/bin/python bench/pretrain_throughput.py [--steps 12 --rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from unittest import mock

import numpy as np
import torch
from PIL import Image

from ab_core import registry
from ab_core.contracts import Batch, BuildContext
from ab_core.data.augment import simclr_views
from ab_core.runner import run
from ab_core.specs import parse_spec

SIZE, BATCH = 64, 64


def make_png_folder(root: Path, classes: int = 4, per_class: int = 128) -> Path:
    rng = np.random.default_rng(0)
    for c in range(classes):
        (root / f"class_{c}").mkdir(parents=True)
        for i in range(per_class):
            base = rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)
            img = Image.fromarray(base).resize((SIZE, SIZE), Image.BILINEAR)
            img.save(root / f"class_{c}" / f"{i:04d}.png")
    return root


def spec_for(folder: Path, steps: int):
    return parse_spec(
        {
            "kind": "pretrain",
            "method": {"method": "simclr", "temperature": 0.5},
            "data": {
                "dataset": "image_folder",
                "root": str(folder),
                "resize": SIZE,
                "crop": SIZE,
                "batch_size": BATCH,
                "test_fraction": 0.0,
            },
            "optim": {"name": "sgd", "lr": 0.01},
            "schedule": {"steps": steps, "log_every": 1},
        }
    )


def step_times(stamps: list[float], warmup: int) -> float:
    """Median seconds per step, skipping the warm-up steps."""
    return statistics.median(b - a for a, b in zip(stamps[warmup:-1], stamps[warmup + 1 :], strict=True))


def end_to_end(folder: Path, steps: int, out: Path) -> tuple[float, float]:
    """(images per second in steady state, seconds to open and decode the folder once)."""
    stamps: list[float] = []
    started = time.perf_counter()
    run(
        spec_for(folder, steps),
        out,
        report=lambda m, checkpoint_dir=None: stamps.append(time.perf_counter()),
        device="cpu",
    )
    first_step = stamps[0] - started
    return BATCH / step_times(stamps, 2), first_step


def floor(folder: Path, steps: int) -> float:
    """The same module's step on ready tensors: simclr_views replaced by two fixed augmented views."""
    spec = spec_for(folder, steps)
    torch.manual_seed(0)
    ctx = BuildContext(spec.backbone, spec.data, 4, torch.device("cpu"), 0)
    model = registry.get("simclr").build(spec.method, ctx).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    images = torch.randint(0, 255, (BATCH, 3, SIZE, SIZE), dtype=torch.uint8)
    views = simclr_views(images, spec.data.mean, spec.data.std)
    batch = Batch(images, torch.zeros(BATCH, dtype=torch.long))
    stamps = []
    with mock.patch("ab_core.methods.simclr.simclr_views", lambda *a, **k: views):
        for _ in range(steps):
            loss = model(batch)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            stamps.append(time.perf_counter())
    return BATCH / step_times(stamps, 2)


def lightly_recipe(folder: Path, steps: int) -> float | None:
    try:
        from lightly.loss import NTXentLoss
        from lightly.models.modules import SimCLRProjectionHead
        from lightly.transforms import SimCLRTransform
    except ImportError:
        return None
    import torchvision

    dataset = torchvision.datasets.ImageFolder(str(folder), transform=SimCLRTransform(input_size=SIZE))
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=BATCH, shuffle=True, drop_last=True, num_workers=2, persistent_workers=True
    )
    backbone = torchvision.models.resnet18()
    backbone.fc = torch.nn.Identity()
    head, criterion = SimCLRProjectionHead(512, 512, 128), NTXentLoss(temperature=0.5)
    params = list(backbone.parameters()) + list(head.parameters())
    optimizer = torch.optim.SGD(params, lr=0.01, momentum=0.9)
    stamps = []
    while len(stamps) < steps:
        for (x0, x1), _ in loader:
            loss = criterion(head(backbone(x0)), head(backbone(x1)))
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            stamps.append(time.perf_counter())
            if len(stamps) == steps:
                break
    return BATCH / step_times(stamps, 2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    with tempfile.TemporaryDirectory() as tmp:
        folder = make_png_folder(Path(tmp) / "pngs")
        e2e, floors, lightly, firsts = [], [], [], []
        for r in range(args.rounds):
            rate, first = end_to_end(folder, args.steps, Path(tmp) / f"run{r}")
            e2e.append(rate)
            firsts.append(first)
            floors.append(floor(folder, args.steps))
            got = lightly_recipe(folder, args.steps)
            if got is not None:
                lightly.append(got)
    common = {
        "bench": "pretrain_throughput",
        "method": "simclr",
        "arch": "resnet18",
        "px": SIZE,
        "batch": BATCH,
        "threads": torch.get_num_threads(),
        "rounds": args.rounds,
        "steps": args.steps,
    }
    med_e2e, med_floor = statistics.median(e2e), statistics.median(floors)
    print(json.dumps({**common, "figure": "end_to_end_images_per_s", "value": round(med_e2e, 2)}))
    print(json.dumps({**common, "figure": "floor_images_per_s", "value": round(med_floor, 2)}))
    print(
        json.dumps(
            {
                **common,
                "figure": "end_to_end_over_floor",
                "value": round(med_e2e / med_floor, 4),
                "target": ">= 0.97",
            }
        )
    )
    print(
        json.dumps(
            {
                **common,
                "figure": "first_step_s_including_decode",
                "value": round(statistics.median(firsts), 2),
            }
        )
    )
    if lightly:
        med_lightly = statistics.median(lightly)
        print(json.dumps({**common, "figure": "lightly_images_per_s", "value": round(med_lightly, 2)}))
        print(
            json.dumps(
                {**common, "figure": "end_to_end_over_lightly", "value": round(med_e2e / med_lightly, 4)}
            )
        )
    else:
        print(
            json.dumps(
                {**common, "figure": "lightly_images_per_s", "value": None, "note": "lightly not installed"}
            )
        )


if __name__ == "__main__":
    main()
