"""Runtime speed settings: compiled models, the inductor cache, CUDA matmul precision, the glibc allocator.

Measured on the project's 2-core Zen 5 CPUs (../shared/perf-notes.md, benchmarks/RESULTS.md):
- `runtime.compile` (torch.compile of G and D, forward and backward) pays for the small toy MLPs, where the
  step is dominated by per-op overhead; it made the convolutional GANs slower on this CPU, so it stays off
  by default and is a per-run choice.
- Inductor's on-disk cache once reused kernels built for another instruction set (ATEN_CPU_CAPABILITY) and
  produced NaN losses silently, so the cache directory is keyed by torch version and CPU capability.
- glibc maps every buffer of 32 MiB or more fresh and this VM is slow to page-fault; `tune_allocator`
  keeps large buffers on the heap (mallopt) so the conv GANs' activations are reused, not re-faulted.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from pathlib import Path

import torch
from torch import nn

# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4


def inductor_cache_dir() -> Path:
    """A cache folder of its own per torch version and CPU instruction set."""
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "gankit" / "inductor"
    isa = torch.backends.cpu.get_cpu_capability().lower()
    return base / f"torch-{torch.__version__.replace('+', '-')}-{isa}"


def use_inductor_cache() -> None:
    """Point inductor's on-disk cache at `inductor_cache_dir()` (unless the user chose one or disabled it).

    Importing torchvision already pins inductor's default, /tmp/torchinductor_USER, shared by every ISA (it
    gave NaN losses under ATEN_CPU_CAPABILITY=avx2 here), so that default is replaced too."""
    if os.environ.get("TORCHINDUCTOR_FORCE_DISABLE_CACHES"):
        return
    from torch._inductor.runtime.cache_dir_utils import default_cache_dir

    current = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    if current is None or os.path.abspath(current) == os.path.abspath(default_cache_dir()):
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(inductor_cache_dir())
        from torch._inductor.utils import clear_caches

        clear_caches()  # paths inductor derived from the old directory


def compile_models(*modules: nn.Module) -> None:
    """torch.compile each module in place (`Module.compile`: state_dict keys and checkpoints unchanged)."""
    use_inductor_cache()
    for module in modules:
        module.compile()


def configure_device(device: torch.device) -> None:
    """TF32 matmuls and convolutions on CUDA (bf16 autocast is `runtime.precision`); on CPU the allocator.

    Neither changes what a CPU run computes (resume stays bit-identical)."""
    if device.type == "cpu":
        tune_allocator()  # process-wide; allocating + filling 33.5 MB: 34 ms -> 2.7 ms measured here
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True


def tune_allocator() -> bool:
    """Keep freed large buffers in the process (no mmap per buffer, no trimming): True when glibc took it.

    Harmless elsewhere (returns False when the C library is not glibc, e.g. under tcmalloc it still is
    glibc's mallopt but tcmalloc serves the allocations).
    """
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    ok = mallopt(_M_MMAP_MAX, 0) == 1
    return ok and mallopt(_M_TRIM_THRESHOLD, 2**30) == 1
