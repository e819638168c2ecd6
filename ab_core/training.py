"""The pretraining loop: read it top to bottom. No Ray, no printing; progress goes through `report`.

Determinism: the data order of epoch e depends only on (seed, e), and the global RNG is re-seeded from
(seed, step) before every optimiser step, so a run resumed from a checkpoint takes exactly the steps an
uninterrupted run would have taken.
"""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ab_core import registry
from ab_core.checkpoints import TRAINING_FILE, latest_checkpoint, load_file, read_meta, save_checkpoint
from ab_core.contracts import Batch, BuildContext, Pretrainer
from ab_core.data.classes import class_counts
from ab_core.data.loader import ImageDataset, make_loader, open_dataset
from ab_core.distributed import World, current_world
from ab_core.errors import TrainingError
from ab_core.provenance import checkpoint_meta
from ab_core.spec_sections import OptimSpec, ScheduleSpec
from ab_core.specs import JobSpec

Report = Callable[..., None]


def pretrain(
    spec: JobSpec,
    out_dir: Path,
    report: Report,
    device: torch.device,
    resume_from: Path | None = None,
) -> dict[str, Any]:
    """Train `spec.method` on `spec.data`; return the final metrics and the final checkpoint directory."""
    out_dir = Path(out_dir)
    world = current_world()
    dataset = open_dataset(spec.data, "train", seed=spec.seed)
    global_batch = spec.data.batch_size * world.size
    micro_per_epoch = len(dataset) // global_batch
    if micro_per_epoch < 1:
        raise TrainingError(
            f"dataset {spec.data.root} has {len(dataset)} training images, fewer than "
            f"data.batch_size = {spec.data.batch_size} x {world.size} workers"
        )
    total_steps = _total_steps(spec.schedule, micro_per_epoch)

    torch.manual_seed(spec.seed)
    ctx = BuildContext(spec.backbone, spec.data, len(dataset.classes), device, spec.seed, world)
    model: Pretrainer = registry.get(spec.method.method).build(spec.method, ctx).to(device)
    cuda = device.type == "cuda"
    if cuda and spec.schedule.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = _optimizer(spec.optim, [p for p in model.parameters() if p.requires_grad])

    start_step = 0
    if resume_from is not None:
        start_step = _restore(Path(resume_from), spec, model, optimizer)
    # the same Pretrainer, wrapped so gradients average across workers
    step_fn: nn.Module = model
    if world.size > 1:
        step_fn = DistributedDataParallel(model, device_ids=[device.index] if cuda else None)

    model.train()
    accum = spec.schedule.grad_accum
    batches = _micro_batches(dataset, spec, world, start_step * accum, micro_per_epoch)
    metrics: dict[str, Any] = {}
    started = time.perf_counter()
    for step in range(start_step, total_steps):
        torch.manual_seed(spec.seed * 1_000_003 + step)
        lr = _lr_at(step, total_steps, spec.optim.lr, spec.schedule)
        for group in optimizer.param_groups:
            group["lr"] = lr
        loss_sum = 0.0
        for _ in range(accum):
            batch = next(batches).to(device)
            if cuda and spec.schedule.channels_last:
                batch.images = batch.images.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cuda and spec.schedule.amp):
                loss = step_fn(batch)
            if not torch.isfinite(loss):
                raise TrainingError(
                    f"loss is {loss.item()} at step {step + 1}; lower optim.lr or check the data"
                )
            (loss / accum).backward()
            loss_sum += loss.item()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        model.after_step()

        done = step + 1
        metrics = {
            "step": done,
            "total_steps": total_steps,
            "epoch": done * accum / micro_per_epoch,
            "loss": loss_sum / accum,
            "lr": lr,
            **model.step_metrics(),
        }
        checkpoint_due = done == total_steps or (
            spec.schedule.checkpoint_every and done % spec.schedule.checkpoint_every == 0
        )
        if checkpoint_due or done % spec.schedule.log_every == 0:
            metrics.update(_verdicts(model, metrics))
        if checkpoint_due:
            metrics["images_per_second"] = (
                (done - start_step) * accum * spec.data.batch_size / (time.perf_counter() - started)
            )
            path = _save(out_dir, done, spec, dataset, model, optimizer, metrics)
            report(metrics, checkpoint_dir=str(path))
        elif done % spec.schedule.log_every == 0:
            report(metrics)

    final = latest_checkpoint(out_dir)
    result = {"metrics": metrics, "checkpoint": str(final) if final else None, "steps": total_steps,
              "class_counts": class_counts(dataset)}
    return result | model.result_flags()


def _verdicts(model: Pretrainer, metrics: dict[str, Any]) -> dict[str, Any]:
    """What a report adds to its metrics: the method's result flags (e.g. `collapsed`) and, when the
    method raised any on this report, its warnings as one `warning` line (the service posts it as a
    warning event)."""
    warnings = model.on_report(metrics)
    return model.result_flags() | ({"warning": "; ".join(warnings)} if warnings else {})


def _total_steps(schedule: ScheduleSpec, micro_per_epoch: int) -> int:
    if schedule.steps is not None:
        return schedule.steps
    per_epoch = max(1, micro_per_epoch // schedule.grad_accum)
    return (schedule.epochs or 1) * per_epoch


def _micro_batches(
    dataset: ImageDataset, spec: JobSpec, world: World, start: int, micro_per_epoch: int
) -> Iterator[Batch]:
    """This worker's micro-batches from global index `start` on, across epochs, skipping without decoding.

    Every worker walks the same global order; worker r takes rows [r * B, (r + 1) * B) of each global batch.
    """
    epoch, offset = divmod(start, micro_per_epoch)
    size = spec.data.batch_size
    while True:
        for batch in make_loader(
            dataset,
            size * world.size,
            seed=spec.seed,
            epoch=epoch,
            start_batch=offset,
            num_workers=spec.data.num_workers,
        ):
            yield batch if world.size == 1 else _shard(batch, world, size)
        epoch, offset = epoch + 1, 0


def _shard(batch: Batch, world: World, size: int) -> Batch:
    rows = slice(world.rank * size, (world.rank + 1) * size)
    masks = None if batch.masks is None else batch.masks[rows]
    return Batch(batch.images[rows], batch.labels[rows], masks, batch.paths[rows])


def _optimizer(spec: OptimSpec, params: list[nn.Parameter]) -> torch.optim.Optimizer:
    if not params:
        raise TrainingError("the method has no trainable parameters")
    if spec.name == "sgd":
        return torch.optim.SGD(params, lr=spec.lr, momentum=spec.momentum, weight_decay=spec.weight_decay)
    if spec.name == "adam":
        return torch.optim.Adam(params, lr=spec.lr, weight_decay=spec.weight_decay)
    return torch.optim.AdamW(params, lr=spec.lr, weight_decay=spec.weight_decay)


def _lr_at(step: int, total: int, base: float, schedule: ScheduleSpec) -> float:
    """Linear warm-up, then constant or cosine decay to zero; a pure function of the step."""
    if step < schedule.warmup_steps:
        return base * (step + 1) / schedule.warmup_steps
    if schedule.lr_schedule == "constant":
        return base
    progress = (step - schedule.warmup_steps) / max(1, total - schedule.warmup_steps)
    return base * 0.5 * (1 + math.cos(math.pi * progress))


def _save(
    out_dir: Path,
    step: int,
    spec: JobSpec,
    dataset: ImageDataset,
    model: Pretrainer,
    optimizer: torch.optim.Optimizer,
    metrics: dict[str, float],
) -> Path:
    training = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step}
    meta = checkpoint_meta(spec, dataset.fingerprint(), str(model.backbone.arch), step, metrics)
    meta["class_counts"] = class_counts(dataset)  # images per class, after data.classes / exclude_classes
    path = save_checkpoint(
        out_dir / "checkpoints" / f"step_{step:08d}",
        model.backbone.state_dict(),
        model.head_state(),
        training,
        meta,
    )
    kept = sorted((out_dir / "checkpoints").glob("step_????????"))
    for old in kept[: -spec.schedule.keep_checkpoints]:
        shutil.rmtree(old, ignore_errors=True)
    return path


def _restore(path: Path, spec: JobSpec, model: Pretrainer, optimizer: torch.optim.Optimizer) -> int:
    """Load model and optimiser state; refuse a checkpoint made by a different job."""
    meta = read_meta(path)
    saved = JobSpec.model_validate(meta["spec"])
    for section in ("method", "data", "backbone", "optim", "seed"):
        if getattr(saved, section) != getattr(spec, section):
            raise TrainingError(
                f"cannot resume from {path}: its spec differs in '{section}' "
                f"({getattr(saved, section)!r} there, {getattr(spec, section)!r} here)"
            )
    state = load_file(path / TRAINING_FILE)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    return int(state["step"])


def resolve_resume(out_dir: Path, resume: str | None) -> Path | None:
    """`None` = start fresh; "auto" = the newest checkpoint in out_dir if any; else a checkpoint directory."""
    if resume is None:
        return None
    if resume == "auto":
        return latest_checkpoint(out_dir)
    return Path(resume)
