"""Data-parallel pretraining with torch.distributed alone (gloo on CPU): the workers stay in lock-step."""

from __future__ import annotations

import socket
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from ab_core import training
from ab_core.checkpoints import BACKBONE_FILE, latest_checkpoint
from ab_core.distributed import World
from ab_core.specs import parse_spec


class EveryRankSaves(World):
    """Lets each rank write its own checkpoint so the test can compare the replicas."""

    @property
    def is_main(self) -> bool:
        return True


def worker(rank: int, port: int, data_root: str, out: str) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        training.current_world = lambda: EveryRankSaves(rank, 2)  # type: ignore[assignment]
        spec = parse_spec(
            {
                "kind": "pretrain",
                "method": {"method": "simclr"},
                "data": {
                    "dataset": "image_folder",
                    "root": data_root,
                    "resize": 32,
                    "crop": 32,
                    "batch_size": 4,
                },
                "optim": {"name": "sgd", "lr": 0.1},
                "schedule": {"steps": 2},
            }
        )
        losses = []
        training.pretrain(
            spec,
            Path(out) / f"rank{rank}",
            lambda m, checkpoint_dir=None: losses.append(m["loss"]),
            torch.device("cpu"),
        )
        torch.save(torch.tensor(losses), Path(out) / f"losses{rank}.pt")
    finally:
        dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_workers_end_with_identical_backbones_after_different_shards(synth_root, tmp_path):
    mp.spawn(worker, args=(free_port(), str(synth_root / "classes"), str(tmp_path)), nprocs=2, join=True)
    states = [
        torch.load(latest_checkpoint(tmp_path / f"rank{r}") / BACKBONE_FILE, weights_only=True)
        for r in (0, 1)
    ]
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0] if "running" not in k)
    losses = [torch.load(tmp_path / f"losses{r}.pt") for r in (0, 1)]
    assert not torch.equal(losses[0], losses[1])  # each worker saw its own shard
