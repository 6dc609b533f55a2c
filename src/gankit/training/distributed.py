"""Multi-GPU and multi-node training under torchrun: one process per device, the same Trainer and loop.

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK; with WORLD_SIZE > 1 the Trainer initialises the process group
(nccl on CUDA, each rank on cuda:LOCAL_RANK; gloo on the CPU), wraps G and D in DistributedDataParallel and
otherwise runs as one process does. The decisions (docs/scaling.md says why):

- **Global batch** = `train.batch_size`, split evenly: each rank takes a disjoint slice of every global batch
  (the data order stays a pure function of seed and step), so an epoch, the learning rates and the logged
  epoch mean what they mean in one process.
- **Noise**: every rank draws the noise of the whole global batch from the same stream and keeps its slice.
  The RNG streams stay identical on every rank, so one checkpoint (rank 0's) resumes every rank, and a
  2-rank run computes what one process computes with the same batch (to float tolerance; batch norm aside).
- **Batch norm**: SyncBatchNorm on CUDA (statistics over the global batch, as one process computes them);
  per-rank statistics on the CPU, where PyTorch's SyncBatchNorm does not run. DDP's buffer sync before each
  forward is off (`forward_sync_buffers=False`): running statistics are not used by a forward pass in
  training mode, only by pictures and evaluation, which rank 0 alone does with its own; spectral norm's
  vectors follow the (identical) weights.
- **Writes**: rank 0 alone writes the run directory (history, pictures, checkpoints, metrics, config,
  TensorBoard); the others agree on its path and write nothing.
- **Failures**: setup errors (config, data, run directory) are shared before training starts, so every rank
  stops with one line instead of waiting on a collective that never comes.
"""

from __future__ import annotations

import datetime
import gc
import hashlib
import os
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import torch
import torch.distributed as dist
from torch import nn

from gankit.errors import ConfigError, GankitError
from gankit.training.capability import check_path

if TYPE_CHECKING:
    from gankit.config import Config

T = TypeVar("T")
BACKEND_ENV = "GANKIT_DIST_BACKEND"  # gloo or nccl; default nccl on CUDA, gloo on the CPU
TIMEOUT_ENV = "GANKIT_DIST_TIMEOUT"  # seconds a rank waits on a collective (rank 0's evaluation included)
TRACE_ENV = "GANKIT_DIST_TRACE"  # tests only: a folder where each rank appends a hash of its weights per step
DEFAULT_TIMEOUT = 1800


class RankFailed(GankitError):
    """Another rank stopped with an error; this one stops too (the failing rank printed the reason)."""


@dataclass(frozen=True)
class Context:
    """Where this process stands in a torchrun job (rank 0 of 1 without torchrun)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, x: torch.Tensor) -> torch.Tensor:
        """This rank's slice of a global batch (dim 0), disjoint from every other rank's."""
        return x.tensor_split(self.world_size)[self.rank] if self.enabled else x

    def mean(self, x: torch.Tensor) -> torch.Tensor:
        """The mean of `x` over the ranks (a new tensor); `x` itself in one process."""
        if not self.enabled:
            return x
        total = x.clone()
        dist.all_reduce(total)  # SUM: gloo has no AVG
        return total / self.world_size

    def any(self, flag: bool, device: torch.device) -> bool:
        """True on every rank when it is True on one (e.g. a stop signal seen by some ranks only)."""
        if not self.enabled:
            return flag
        value = torch.tensor([float(flag)], device=device)
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item())

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def decide(self, fn: Callable[[], T]) -> T:
        """Rank 0 runs `fn`; every rank gets its result, or raises its error (e.g. the run directory)."""
        if not self.enabled:
            return fn()
        payload: list[Any] = [None]
        if self.is_main:
            try:
                payload = [("ok", fn())]
            except Exception as err:  # whatever it is (re-raised), the others must not wait for it
                payload = [("error", str(err).splitlines()[0] if str(err) else type(err).__name__)]
                dist.broadcast_object_list(payload, src=0)
                raise
        dist.broadcast_object_list(payload, src=0)
        status, value = payload[0]
        if status == "error":
            raise RankFailed(f"rank 0 failed: {value}")
        return value

    def agree(self, fn: Callable[[], T]) -> T:
        """Every rank runs `fn`; when it fails on any rank, every rank raises (before anything collective
        or written by training), so no rank waits for another that already stopped."""
        if not self.enabled:
            return fn()
        error: BaseException | None = None
        try:
            result = fn()
        except Exception as err:  # noqa: BLE001 - a bug too: tell the others, then re-raise it here
            error = err
        found: list[Any] = [None] * self.world_size
        dist.all_gather_object(found, None if error is None else str(error).splitlines()[0] if str(error)
                               else type(error).__name__)
        if error is not None:
            raise error
        failed = [(rank, message) for rank, message in enumerate(found) if message is not None]
        if failed:
            rank, message = failed[0]
            raise RankFailed(f"rank {rank} failed: {message}")
        return result

    def wrap(self, module: nn.Module, device: torch.device) -> nn.Module:
        """`module` in DistributedDataParallel (SyncBatchNorm on CUDA); the module itself in one process.
        The parameters stay the same objects, so optimisers built on them keep working."""
        if not self.enabled:
            return module
        if device.type == "cuda":
            module = nn.SyncBatchNorm.convert_sync_batchnorm(module)  # children replaced in place
        ids = [device.index] if device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(module, device_ids=ids, forward_sync_buffers=False)


SINGLE = Context()


def from_env() -> Context:
    """The torchrun environment (RANK, WORLD_SIZE, LOCAL_RANK), checked; one process without it."""
    names = ("RANK", "WORLD_SIZE", "LOCAL_RANK")
    if "WORLD_SIZE" not in os.environ:
        return SINGLE
    try:
        rank, world, local = (int(os.environ.get(name, "0")) for name in names)
    except ValueError:
        found = ", ".join(f"{n}={os.environ.get(n)!r}" for n in names)
        raise ConfigError(f"torchrun's environment is not numeric ({found}): launch with torchrun") from None
    if world < 1 or not 0 <= rank < world or local < 0:
        raise ConfigError(f"RANK {rank} / WORLD_SIZE {world} / LOCAL_RANK {local} do not fit together: "
                          "launch with torchrun")
    return Context(rank, world, local)


def setup(device: torch.device, config: Config) -> tuple[Context, torch.device]:
    """The process group for a torchrun job, initialised once (idempotent), and this rank's device:
    cuda:LOCAL_RANK on CUDA. Every check comes before the rendezvous, so a bad setting is one line on every
    rank and nobody waits. One process: (SINGLE, device) and nothing else happens."""
    ctx = from_env()
    if not ctx.enabled:
        return ctx, device
    check_path("torchrun", config, world_size=ctx.world_size)  # before anything waits on another rank
    if device.type == "cuda":
        if device.index not in (None, ctx.local_rank):
            raise ConfigError(f"runtime.device '{device}' under torchrun: each rank uses cuda:LOCAL_RANK; "
                              "set runtime.device=cuda (or auto)")
        if ctx.local_rank >= torch.cuda.device_count():
            raise ConfigError(f"LOCAL_RANK {ctx.local_rank} but {torch.cuda.device_count()} GPU(s) visible: "
                              f"--nproc_per_node at most {torch.cuda.device_count()}")
        device = torch.device("cuda", ctx.local_rank)
    elif device.type != "cpu":
        raise ConfigError(f"runtime.device '{device}' is not supported under torchrun: use cuda or cpu")
    backend = _backend(device)
    if dist.is_initialized():
        if dist.get_backend() != backend:
            raise ConfigError(f"the process group uses {dist.get_backend()} but this run trains on {device} "
                              f"({backend})")
        return ctx, device
    if device.type == "cuda":
        torch.cuda.set_device(device)
    timeout = datetime.timedelta(seconds=_timeout())
    dist.init_process_group(backend, timeout=timeout, device_id=device if device.type == "cuda" else None)
    return ctx, device


def _backend(device: torch.device) -> str:
    wanted = os.environ.get(BACKEND_ENV, "").strip().lower()
    default = "nccl" if device.type == "cuda" else "gloo"
    if not wanted:
        return default
    if wanted not in ("gloo", "nccl"):
        raise ConfigError(f"{BACKEND_ENV}='{wanted}': choose gloo or nccl")
    if wanted == "nccl" and device.type != "cuda":
        raise ConfigError(f"{BACKEND_ENV}=nccl needs CUDA GPUs but this run trains on {device}: "
                          "use gloo (the CPU default) or runtime.device=cuda")
    return wanted


def _timeout() -> float:
    raw = os.environ.get(TIMEOUT_ENV, "")
    try:
        seconds = float(raw) if raw else DEFAULT_TIMEOUT
    except ValueError:
        raise ConfigError(f"{TIMEOUT_ENV}='{raw}' is not a number of seconds") from None
    if seconds <= 0:
        raise ConfigError(f"{TIMEOUT_ENV} must be positive, got {raw}")
    return seconds


def shutdown(failure: BaseException | None = None) -> None:
    """Leave the process group (a rank that failed leaves at once, so the others' collectives fail fast) and free
    it: DDP's wrappers keep the group's C++ object and its threads alive in a reference cycle with the trainer,
    which the CLI's rare collections (cli.run) could leave to the frozen heap at exit, where a thread still
    running aborts the process ("terminate called without an active exception"). Drop the trainer first.
    `failure`: the exception a failing rank is raising; its traceback's finished frames hold the trainer too, so
    their locals are cleared (the traceback's lines stay, for --debug)."""
    seen: set[int] = set()
    while failure is not None and id(failure) not in seen:  # the chain: `raise ... from` and during-handling
        seen.add(id(failure))
        traceback.clear_frames(failure.__traceback__)
        failure = failure.__cause__ or failure.__context__
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    gc.collect()


@contextmanager
def lost_peers(ctx: Context) -> Iterator[None]:
    """A collective that fails because another rank died (its traceback was printed there, or torchrun
    stopped it) becomes one line here."""
    try:
        yield
    except (dist.DistError, RuntimeError) as err:
        if not ctx.enabled or not _is_transport_error(err):
            raise
        first = str(err).strip().splitlines()[0][:160] if str(err).strip() else type(err).__name__
        raise RankFailed(f"rank {ctx.rank}: another rank stopped, so this one stops too ({first})") from None


def _is_transport_error(err: BaseException) -> bool:
    if isinstance(err, dist.DistError):
        return True
    text = str(err).lower()
    return any(word in text for word in ("gloo", "nccl", "connection", "broken pipe", "timed out"))


class NullHistory:
    """What ranks other than 0 log to: nothing (rank 0 writes the history of the global batch)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, row: dict[str, Any]) -> None:
        pass

    def truncate_after(self, step: int) -> None:
        pass


def trace_weights(ctx: Context, step: int, *modules: nn.Module | None) -> None:
    """Tests only ($GANKIT_DIST_TRACE=DIR): append 'step sha256' of this rank's weights to DIR/rank<R>.txt,
    so a test can check that every rank holds the same weights after every step. Off: one lookup."""
    folder = os.environ.get(TRACE_ENV)
    if not folder:
        return
    digest = hashlib.sha256()
    for module in modules:
        if module is None:
            continue
        for name, value in module.state_dict().items():
            if "running_" in name or "num_batches" in name:
                continue  # batch-norm statistics are per rank on the CPU (see the module docstring)
            digest.update(name.encode())
            digest.update(value.detach().cpu().reshape(-1).contiguous().view(torch.uint8).numpy().tobytes())
    with open(Path(folder) / f"rank{ctx.rank}.txt", "a") as handle:
        handle.write(f"{step} {digest.hexdigest()}\n")
