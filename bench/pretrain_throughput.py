"""Pretraining throughput of every pretrainer, end to end from a PNG folder, against its compute floor.

One run, alternating rounds. Each step is stamped with the wall clock and the CPU seconds the process
(every thread; for lightly also its loader processes) has used. Two rates per column: images per wall
second (median step, what a quiet machine delivers) and images per CPU second (steady-state mean, the work
per image: a busy or stolen-from VM slows the wall clock, not the CPU seconds a step needs, so this is
the figure that holds on a shared machine). Columns, per method (its params and arch from
examples/<method>.yaml):
  end_to_end  ab_core's loop through the runner on an image_folder of PNGs: decode once (cached uint8),
              the method's batched tensor augmentation, forward, loss, backward, step, reports
  floor       the same module's training_step + backward + step + after_step on one ready batch already in
              memory, the folder's first PNGs (no loader, no loop bookkeeping), a second model stepped
              in lockstep with the runner (one floor step after each of its steps, timed apart); for
              simclr also with its two views fixed
  lightly     lightly's SimCLR recipe on the same folder (ImageFolder + SimCLRTransform), if installed
Prints one JSON line per figure; the targets are judged on the CPU-second ratios.
Usage: .venv/bin/python bench/pretrain_throughput.py [--methods simclr cdo] [--steps 16 --rounds 3]
       [--device cuda] [--size 64 --batch 64 --per-class 128]   (bench/gpu_check.sh runs it on a GPU)
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import numpy as np
import torch
import yaml
from PIL import Image

from ab_core import registry
from ab_core.contracts import Batch, BuildContext
from ab_core.data.augment import simclr_views
from ab_core.runner import run
from ab_core.specs import parse_spec

SIZE, BATCH = 64, 64  # defaults; --size / --batch set them for a run
DEVICE = torch.device("cpu")
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def make_png_folder(root: Path, classes: int = 4, per_class: int = 128) -> Path:
    rng = np.random.default_rng(0)
    for c in range(classes):
        (root / f"class_{c}").mkdir(parents=True)
        for i in range(per_class):
            base = rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)
            img = Image.fromarray(base).resize((SIZE, SIZE), Image.BILINEAR)
            img.save(root / f"class_{c}" / f"{i:04d}.png")
    return root


def example_of(method: str) -> dict:
    """The method's params and backbone from its example spec (the simclr figures keep temperature 0.5)."""
    raw = yaml.safe_load((EXAMPLES / f"{method}.yaml").read_text())
    params = {"method": "simclr", "temperature": 0.5} if method == "simclr" else raw["method"]
    backbone = {k: v for k, v in raw.get("backbone", {}).items() if k == "arch"}
    return {"method": params, "backbone": backbone}


def spec_for(folder: Path, steps: int, method: str = "simclr"):
    return parse_spec(
        {
            "kind": "pretrain",
            **example_of(method),
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


@dataclass(frozen=True)
class Rate:
    """Images per wall second (median step) and per CPU second (mean over the steady-state steps)."""

    wall: float
    cpu: float


Stamp = tuple[float, float]  # (wall clock, CPU seconds used so far)


def stamp(children: bool = False) -> Stamp:
    """(wall clock, CPU seconds used so far) once the device has finished its queued work (CUDA runs
    asynchronously); `children`: also the CPU seconds of this process's live child processes."""
    if DEVICE.type == "cuda":
        torch.cuda.synchronize(DEVICE)
    cpu = time.process_time()
    if children:  # psutil is in the bench extra beside lightly, not needed with torch alone
        import psutil

        cpu += sum(sum(c.cpu_times()[:2]) for c in psutil.Process().children(recursive=True))
    return time.perf_counter(), cpu


def between(start: Stamp, end: Stamp) -> Stamp:
    """The (wall, CPU) seconds from one stamp to a later one."""
    return end[0] - start[0], end[1] - start[1]


def rate(steps: list[Stamp], warmup: int = 2) -> Rate:
    """The rates from each step's (wall, CPU) seconds, skipping the warm-up steps and the last one (the
    runner writes its final checkpoint inside it)."""
    steady = steps[warmup:-1]
    cpu_per_step = sum(cpu for _, cpu in steady) / len(steady)
    return Rate(BATCH / statistics.median(wall for wall, _ in steady), BATCH / cpu_per_step)


def lap_times(stamps: list[Stamp]) -> list[Stamp]:
    """Stamps taken before the first step and after each -> each step's (wall, CPU) seconds."""
    return [between(a, b) for a, b in zip(stamps, stamps[1:], strict=False)]


def lockstep(
    folder: Path, images: torch.Tensor, steps: int, out: Path, method: str
) -> tuple[Rate, Rate, float]:
    """End to end and the floor, one step each in turn: the runner's report after each of its steps runs
    one floor step, so both see the same machine at the same moments (a busy neighbour, a clock change)
    and their ratio holds where two runs minutes apart scatter by +-10 %. Each side is timed alone, the
    floor's step subtracted from the runner's. Returns (end to end, floor, seconds to the runner's
    first report: opening and decoding the folder, building, the first step)."""
    floor_step = method_floor(folder, images, method)
    e2e: list[Stamp] = []
    floors: list[Stamp] = []
    last = [stamp()]  # when the previous floor step ended (or the run started)

    def report(metrics: dict, checkpoint_dir: str | None = None) -> None:
        runner_done = stamp()
        e2e.append(between(last[0], runner_done))
        floor_step(len(e2e))
        last[0] = stamp()
        floors.append(between(runner_done, last[0]))

    run(spec_for(folder, steps, method), out, report=report, device=DEVICE)
    return rate(e2e), rate(floors), e2e[0][0]


def folder_images(folder: Path) -> torch.Tensor:
    """The folder's first BATCH PNGs as uint8 (BATCH, 3, SIZE, SIZE): the floor steps on the same kind of
    content as end to end (a synthetic defect's cost may depend on it)."""
    paths = sorted(folder.rglob("*.png"))[:BATCH]
    arrays = [np.asarray(Image.open(path).convert("RGB")) for path in paths]  # (SIZE, SIZE, 3) each
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


def method_floor(folder: Path, images: torch.Tensor, method: str) -> Callable[[int], None]:
    """One step of the method on `images`, one ready uint8 batch in memory: training_step, backward, step
    (the runner's SGD: momentum, weight decay), after_step; a function of the step number."""
    spec = spec_for(folder, 1, method)
    torch.manual_seed(0)
    ctx = BuildContext(spec.backbone, spec.data, 4, DEVICE, 0)
    model = registry.get(method).build(spec.method, ctx).to(DEVICE).train()
    params = [p for p in model.parameters() if p.requires_grad]
    optim = spec.optim
    optimizer = torch.optim.SGD(params, lr=optim.lr, momentum=optim.momentum, weight_decay=optim.weight_decay)
    batch = Batch(images, torch.arange(BATCH) % 4).to(DEVICE)

    def step(number: int) -> None:
        torch.manual_seed(number)
        loss = model(batch)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        model.after_step()

    return step


def fixed_views_floor(folder: Path, images: torch.Tensor, steps: int) -> Rate:
    """SimCLR's floor step with simclr_views replaced by two fixed augmented views of `images`."""
    data = spec_for(folder, 1).data
    views = simclr_views(images.to(DEVICE), data.mean, data.std)
    step = method_floor(folder, images, "simclr")
    stamps = [stamp()]
    with mock.patch("ab_core.methods.simclr.simclr_views", lambda *a, **k: views):
        for number in range(steps):
            step(number)
            stamps.append(stamp())
    return rate(lap_times(stamps))


def lightly_recipe(folder: Path, steps: int) -> Rate | None:
    try:
        import psutil  # noqa: F401  (stamp counts the loader processes' CPU through it)
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
    backbone = torchvision.models.resnet18().to(DEVICE)
    backbone.fc = torch.nn.Identity()
    head, criterion = SimCLRProjectionHead(512, 512, 128).to(DEVICE), NTXentLoss(temperature=0.5)
    params = list(backbone.parameters()) + list(head.parameters())
    optimizer = torch.optim.SGD(params, lr=0.01, momentum=0.9)
    stamps = [stamp(children=True)]
    while len(stamps) <= steps:
        for (x0, x1), _ in loader:
            x0, x1 = x0.to(DEVICE), x1.to(DEVICE)
            loss = criterion(head(backbone(x0)), head(backbone(x1)))
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            stamps.append(stamp(children=True))
            if len(stamps) > steps:
                break
    return rate(lap_times(stamps))


def pretrainers() -> list[str]:
    return [name for name, entry in registry.entries().items() if entry.role == "pretrain"]


def figure(common: dict, name: str, value: float | None, **extra) -> None:
    shown = None if value is None else round(value, 4)
    print(json.dumps({**common, "figure": name, "value": shown, **extra}))


def rates(common: dict, name: str, measured: list[Rate]) -> None:
    """`name`_images_per_s (wall, median round) and `name`_images_per_cpu_s (median round)."""
    figure(common, f"{name}_images_per_s", statistics.median(r.wall for r in measured))
    figure(common, f"{name}_images_per_cpu_s", statistics.median(r.cpu for r in measured))


def ratios(common: dict, name: str, ours: list[Rate], base: list[Rate], target: str) -> None:
    """Ours over the baseline, paired round by round: on CPU seconds (judged: median and worst round)
    and on the wall clock (what a quiet machine shows)."""
    for clock, suffix in (("cpu", ""), ("wall", "_wall")):
        paired = [getattr(a, clock) / getattr(b, clock) for a, b in zip(ours, base, strict=True)]
        extra = {"target": target, "worst_round": round(min(paired), 4)} if clock == "cpu" else {}
        figure(common, f"{name}{suffix}", statistics.median(paired),
               per_round=[round(x, 4) for x in paired], **extra)  # fmt: skip


def progress(round_: int, method: str, ours: Rate, base: Rate) -> None:
    """One line per method and round as it ends (a long run shows where it is; the figures come last)."""
    line = {"bench": "pretrain_throughput", "round": round_, "method": method,
            "ratio_cpu": ours.cpu / base.cpu, "end_to_end_images_per_cpu_s": ours.cpu,
            "floor_images_per_cpu_s": base.cpu}  # fmt: skip
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in line.items()}), flush=True)


def main() -> None:
    global SIZE, BATCH, DEVICE
    parser = argparse.ArgumentParser()
    parser.add_argument("--methods", nargs="*", default=None, help="pretrainers to time; default: all")
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 ...")
    parser.add_argument("--size", type=int, default=SIZE, help="image side in pixels")
    parser.add_argument("--batch", type=int, default=BATCH, help="images per step")
    parser.add_argument("--per-class", type=int, default=128, help="PNGs per class (4 classes)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default); 1 "
                        "for CPU figures on a busy machine (spin-waiting threads count as CPU)")  # fmt: skip
    args = parser.parse_args()
    SIZE, BATCH, DEVICE = args.size, args.batch, torch.device(args.device)
    methods = args.methods or pretrainers()
    torch.set_num_threads(args.threads or max(1, torch.get_num_threads()))
    e2e: dict[str, list[Rate]] = {m: [] for m in methods}
    floors: dict[str, list[Rate]] = {m: [] for m in methods}
    firsts: dict[str, list[float]] = {m: [] for m in methods}
    fixed_views: list[Rate] = []
    lightly: list[Rate] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = make_png_folder(Path(tmp) / "pngs", per_class=args.per_class)
        images = folder_images(folder)
        for r in range(args.rounds):  # each round: every method end to end and at its floor, side by side
            for method in methods:
                out = Path(tmp) / f"{method}{r}"
                measured, base, first = lockstep(folder, images, args.steps, out, method)
                e2e[method].append(measured)
                floors[method].append(base)
                firsts[method].append(first)
                progress(r, method, measured, base)
            if "simclr" in methods:
                fixed_views.append(fixed_views_floor(folder, images, args.steps))
                got = lightly_recipe(folder, args.steps)
                if got is not None:
                    lightly.append(got)
    for method in methods:
        common = {"bench": "pretrain_throughput", "method": method,
                  "arch": spec_for(Path("."), 1, method).backbone.arch, "px": SIZE, "batch": BATCH,
                  "device": DEVICE.type, "threads": torch.get_num_threads(), "rounds": args.rounds,
                  "steps": args.steps}  # fmt: skip
        rates(common, "end_to_end", e2e[method])
        rates(common, "floor", floors[method])
        ratios(common, "end_to_end_over_floor", e2e[method], floors[method], ">= 0.97")
        figure(common, "first_step_s_including_decode", statistics.median(firsts[method]))
        if method != "simclr":
            continue
        rates(common, "fixed_views_floor", fixed_views)
        if lightly:
            rates(common, "lightly", lightly)
            ratios(common, "end_to_end_over_lightly", e2e[method], lightly, ">= 1.0")
        else:
            figure(common, "lightly_images_per_s", None, note="lightly or psutil missing (bench extra)")


if __name__ == "__main__":
    main()
