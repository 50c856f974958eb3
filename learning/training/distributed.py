"""One process per device, started by ``torchrun`` (which sets RANK, WORLD_SIZE, LOCAL_RANK): NCCL on GPUs,
gloo on CPUs. Without those variables, a single process."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Distributed:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


def start(device: str | None) -> tuple[Distributed, torch.device]:
    """The process group (when launched by torchrun) and this process's device (None: CUDA when visible)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    wanted = torch.device(device) if device else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if wanted.type == "cuda":
        index = local if world > 1 else (wanted.index or 0)
        wanted = torch.device("cuda", index)
        torch.cuda.set_device(wanted)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if wanted.type == "cuda" else "gloo")
    return Distributed(rank, world, local), wanted


def gather(obj: Any, context: Distributed) -> list[Any]:
    """Every rank's ``obj``, in rank order, on every rank."""
    if not context.active:
        return [obj]
    out: list[Any] = [None] * context.world
    dist.all_gather_object(out, obj)
    return out


def barrier(context: Distributed) -> None:
    if context.active:
        dist.barrier()


def broadcast(obj: Any, context: Distributed) -> Any:
    """Rank 0's ``obj`` on every rank."""
    if not context.active:
        return obj
    holder = [obj]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]


def stop(context: Distributed) -> None:
    if context.active and dist.is_initialized():
        dist.destroy_process_group()
