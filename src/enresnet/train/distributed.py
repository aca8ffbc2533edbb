"""Distributed data parallel on PyTorch's own engine (torchrun).

Under ``torchrun --nproc_per_node N -m enresnet train CONFIG`` every rank loads
the dataset, walks the *same* global batches (same permutation, same
augmentation draws) and takes its contiguous slice of each, so the global batch
equals a single-process run's; gradients are averaged by DDP. Rank 0 alone
writes logs and checkpoints. Without torchrun's environment this is a
single-process context and every collective is a no-op.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @classmethod
    def from_env(cls, device_type: str) -> DistContext:
        """Join the process group torchrun describes in the environment, if any."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        if not dist.is_initialized():
            dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
        return cls(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))

    def shard(self, batch_size: int) -> slice:
        """This rank's contiguous slice of a global batch of ``batch_size``."""
        per_rank = -(-batch_size // self.world_size)
        return slice(self.rank * per_rank, min(batch_size, (self.rank + 1) * per_rank))

    def _comm_device(self) -> torch.device:
        """NCCL exchanges CUDA tensors only; gloo CPU tensors."""
        if dist.get_backend() == "nccl":
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("cpu")

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """Sum ``tensor`` over ranks in place (returned for chaining)."""
        if self.enabled:
            moved = tensor.to(self._comm_device())
            dist.all_reduce(moved, op=dist.ReduceOp.SUM)
            tensor.copy_(moved)
        return tensor

    def all_gather(self, tensor: torch.Tensor) -> list[torch.Tensor]:
        """Gather equally shaped tensors from all ranks (a one-element list alone), on the CPU."""
        if not self.enabled:
            return [tensor]
        moved = tensor.to(self._comm_device())
        out = [torch.empty_like(moved) for _ in range(self.world_size)]
        dist.all_gather(out, moved)
        return [t.cpu() for t in out]

    def close(self) -> None:
        if self.enabled and dist.is_initialized():
            dist.destroy_process_group()
