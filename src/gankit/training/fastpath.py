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

import contextlib
import ctypes
import ctypes.util
import functools
import logging
import os
import platform
import sys
import threading
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gankit.models.subpixel import use_subpixel_

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
    # A CUDA build of torch on a machine without a GPU logs "No CUDA runtime is found" when inductor first loads
    # its C++ builder: noise on stderr, where a refusal or a full disk must be the one line
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
    if os.environ.get("TORCHINDUCTOR_FORCE_DISABLE_CACHES"):
        return
    from torch._inductor.runtime.cache_dir_utils import default_cache_dir

    current = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    if current is None or os.path.abspath(current) == os.path.abspath(default_cache_dir()):
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(inductor_cache_dir())
        from torch._inductor.utils import clear_caches

        clear_caches()  # paths inductor derived from the old directory


@functools.cache  # once a process: the probe's answer is cached by inductor too
def probe_cpu_isa_early() -> None:
    """Start inductor's probe of the CPU's vector instruction sets on a thread: code generation waits for it,
    and started here it overlaps the trace that comes first. The probe builds and loads a test library (cached
    on disk after) for the instruction set inductor will pick alone (`_probe_first_isa_only`: ~3 s on the Zen
    5, against 7.2 s for all three); the checks are torch's own (file-locked, so code generation reaching one
    first waits rather than builds twice); if the probe fails here, inductor probes as it would have."""
    try:
        # cpp_extension's first import (setuptools' distutils shim) inserts and removes a finder in sys.meta_path:
        # done on the thread, it made an import running meanwhile on the main thread skip a finder and fail
        # ("No module named 'torch._functorch.aot_autograd'", once in CI); here, before the thread starts
        import torch.utils.cpp_extension  # noqa: F401
        from torch._inductor import cpu_vec_isa
    except ImportError:
        return

    def probe() -> None:
        with contextlib.suppress(Exception):  # inductor probes again at code generation and reports there
            if not _probe_first_isa_only(cpu_vec_isa):
                cpu_vec_isa.pick_vec_isa()

    threading.Thread(target=probe, name="gankit-isa-probe", daemon=True).start()


def _probe_first_isa_only(cpu_vec_isa: types.ModuleType) -> bool:
    """Inductor compiles for the first instruction set of its list that the CPU reports and that builds and
    loads, unless ATEN_CPU_CAPABILITY or `cpp.simdlen` asks for another, yet its `valid_vec_isa_list` builds a
    test library for each: avx512_vnni, avx512 and avx2 on a Zen 5, 7.2 s on the second core, which gan-1d's
    first compile then waited ~2 s for. Here the first is checked as torch checks it (`bool(isa)`: built and
    loaded) and, when it passes, inductor's list is that one alone: the ISA inductor would pick, the others
    never built. False (nothing changed) where the shortcut does not apply or the first fails: torch's probe."""
    from torch._inductor import config

    def asks_another() -> bool:
        return bool(os.environ.get("ATEN_CPU_CAPABILITY")) or config.cpp.simdlen is not None

    full = getattr(cpu_vec_isa, "valid_vec_isa_list", None)
    if (full is None or asks_another() or config.cpp.vec_isa_ok is not None
            or not (sys.platform == "linux" and platform.machine() == "x86_64")):
        return False
    flags = cpu_vec_isa.x86_isa_checker()
    first = next((isa for isa in cpu_vec_isa.supported_vec_isa_list
                  if all(flag in flags for flag in str(isa).split())), None)
    if first is None or not first:  # `not first`: torch's own build-and-load check of that ISA
        return False

    def first_valid_only() -> list[Any]:
        return full() if asks_another() else [first]

    cpu_vec_isa.valid_vec_isa_list = first_valid_only  # pick_vec_isa reads the module's name at each call
    return True


@functools.cache  # once a process: inductor keeps both answers for the process
def prefetch_inductor_keys() -> None:
    """Start inductor's hashes of what its cache keys name, on torch's own prefetch thread: the installed Triton
    (its 506 MB libtriton.so, hashed even on a CPU run: 0.35 s with the file in the page cache, ~1 s of gan-1d's
    first compile without) and torch's sources (0.12 s; Zen 5, AVX-512). Large reads and hashes release the GIL, so dynamo's
    trace runs meanwhile; a key that fails raises where inductor asks for it, as it would have."""
    try:
        from torch._inductor import codecache
    except ImportError:
        return
    for key in (codecache.triton_key, codecache.torch_key):
        prefetch = getattr(key, "prefetch", None)  # torch's prefetchable_cache (2.8+)
        if prefetch is not None:
            prefetch()


def own_code(fn: Callable[..., Any]) -> types.FunctionType:
    """`fn` with a code object of its own. Dynamo keeps compiled graphs on the code object, at most 8
    (`recompile_limit`) for all the callers that share it; past that a caller runs uncompiled, after a warning."""
    return types.FunctionType(fn.__code__.replace(), fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)


def compile_models(*modules: nn.Module) -> None:
    """torch.compile each module in place, as `Module.compile` does (state_dict keys and checkpoints unchanged),
    but each through a code object of its own (`_module_call`). Module.compile's graphs land on code that every
    model of a class shares, and G and D take a graph each, so from the 5th config of other shapes compiled in one
    process (a sweep's trials) the models ran uncompiled (with dynamo's limit lowered to 2: the second config's)."""
    use_inductor_cache()
    prefetch_inductor_keys()
    for module in modules:
        module._compiled_call_impl = torch.compile(types.MethodType(own_code(_module_call), module))


def _module_call(module: nn.Module, *args: Any, **kwargs: Any) -> Any:
    """The frame dynamo compiles for `compile_models` (torch's own `_call_impl` is skipped: its forward's code,
    shared by every instance of the class, would hold the graphs)."""
    return module._call_impl(*args, **kwargs)


def configure_device(device: torch.device, flush_denormal: bool = True) -> None:
    """TF32 matmuls and convolutions on CUDA (bf16 autocast is `runtime.precision`); on CPU the allocator and
    denormals flushed to zero (`runtime.flush_denormal`, set either way so one process's runs do not inherit it).

    The allocator changes nothing a run computes; flushing changes only values below 1.2e-38, the same way on
    every run and resume of a config (resume stays bit-identical)."""
    if device.type == "cpu":
        tune_allocator()  # process-wide; allocating + filling 33.5 MB: 34 ms -> 2.7 ms measured here
        torch.set_flush_denormal(flush_denormal)  # this thread's FTZ/DAZ: the thread that runs the step
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True


_THREADS_BEFORE: list[int] = []  # PyTorch's thread count before a run in this process pinned one


def set_threads(threads: int | None) -> None:
    """`runtime.threads` for this run. Null gives back the count the process had before a run pinned one, so
    a run that leaves it to PyTorch does not inherit the last run's (the Python API, a sweep's trials)."""
    if threads:
        if not _THREADS_BEFORE:
            _THREADS_BEFORE.append(torch.get_num_threads())
        torch.set_num_threads(threads)
    elif _THREADS_BEFORE:
        torch.set_num_threads(_THREADS_BEFORE.pop())


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


# ---- convolutional models ------------------------------------------------------------------------------


def is_conv(module: nn.Module) -> bool:
    return any(isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) for m in module.modules())


def conv_fastpath(*modules: nn.Module, device: torch.device, subpixel: bool) -> bool:
    """The fast path for conv models, in place: upsample + 3x3 conv pairs as sub-pixel convolutions
    (`runtime.subpixel`), and channels_last weights on CPU and CUDA (oneDNN and cuDNN run NHWC convs faster:
    measured in benchmarks/dcgan_speed.py). True when channels_last was applied: the trainer then hands the
    real batches over in channels_last too. Parameter names and values are unchanged (checkpoints, EMA and
    resume are as before); a resumed run takes the same path, so it stays bit-identical."""
    conv = [m for m in modules if is_conv(m)]
    if subpixel:
        for module in conv:
            use_subpixel_(module)
    if not conv or device.type not in ("cpu", "cuda"):
        return False
    for module in conv:
        module.to(memory_format=torch.channels_last)
        for layer in module.modules():
            if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
                layer.register_forward_pre_hook(_channels_last_input)
            elif isinstance(layer, nn.Unflatten):
                layer.register_forward_hook(_channels_last_output)
            elif isinstance(layer, nn.Flatten):
                layer.register_forward_pre_hook(_nchw_input)
    return True


class _Relayout(torch.autograd.Function):
    """x in another memory format, its gradient handed back in x's own. Element-wise backward kernels
    (LeakyReLU, batch norm) whose gradient and saved input differ in layout take a strided path ~30x slower
    (measured, 1 thread: a bf16 128x128x7x7 LeakyReLU backward 5.4 ms against 0.18 ms), and a plain
    `.contiguous()` passes the gradient back in the new layout."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, x: torch.Tensor, layout: torch.memory_format
                ) -> torch.Tensor:
        ctx.layout = torch.contiguous_format if x.is_contiguous() else torch.channels_last
        return x.contiguous(memory_format=layout)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> tuple:
        return grad.contiguous(memory_format=ctx.layout), None


def _is_nhwc(x: torch.Tensor) -> bool:
    return x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()


def _channels_last_output(layer: nn.Module, args: tuple, out: torch.Tensor) -> torch.Tensor | None:
    """A feature map made from a flat vector (nn.Unflatten) goes on in channels_last, as every layer after it."""
    if out.dim() == 4 and not out.is_contiguous(memory_format=torch.channels_last):
        return _Relayout.apply(out, torch.channels_last)
    return None


def _nchw_input(layer: nn.Module, args: tuple) -> tuple | None:
    """nn.Flatten reads NCHW order (the next linear layer's weights expect it): the copy it would make anyway,
    with the gradient handed back in channels_last."""
    if _is_nhwc(args[0]):
        return (_Relayout.apply(args[0], torch.contiguous_format), *args[1:])
    return None


def _channels_last_input(layer: nn.Module, args: tuple) -> tuple | None:
    """A conv's input in channels_last. Activations born NCHW (a generator's linear layer reshaped to a
    feature map) would otherwise stay NCHW through every layer, and each conv with channels_last weights would
    copy its whole input into NHWC first (measured: ~10 ms per 64x64x32x32 activation, 3 an iteration)."""
    x, weight = args[0], getattr(layer, "weight", None)
    nhwc = weight is not None and weight.dim() == 4 and weight.is_contiguous(memory_format=torch.channels_last)
    if nhwc and x.dim() == 4 and not x.is_contiguous(memory_format=torch.channels_last):  # follows the weights
        return (_Relayout.apply(x, torch.channels_last), *args[1:])
    return None


def fuse_adam_(*optimizers: torch.optim.Optimizer, stepped: bool = False) -> None:
    """Switch torch.optim.Adam optimisers to the fused kernel (before their first step): one pass over each
    tensor instead of foreach's ~10; measured here on 1 thread: G+D of dcgan-mnist-pytorch-gan 67 -> 1.3 ms,
    of lsgan-mnist (13.2 M values) 560 -> 190 ms per update; grid25-fast's G 0.59 -> 0.24 ms on 1 thread, AMD
    EPYC Zen 3 (benchmarks/adam_kernels.py). Used by every eager run and by ensembles; `runtime.compile: step`
    keeps foreach (it mirrors foreach Adam). The flag is saved in the optimiser's state dict, so a resumed run
    takes the kernel it started with; `stepped=True` switches an optimiser that has stepped too (a CUDA graph
    replays only fused Adam, whatever kernel the checkpoint it resumed from was written with)."""
    for opt in optimizers:
        if type(opt) is not torch.optim.Adam or (opt.state and not stepped):
            continue
        if any(p.device.type not in ("cpu", "cuda") for g in opt.param_groups for p in g["params"]):
            continue
        for group in opt.param_groups:
            group["foreach"], group["fused"] = False, True
            for p in group["params"]:
                state = opt.state.get(p, {})
                if "step" in state:  # foreach keeps the step count on the CPU, fused beside the weights
                    state["step"] = state["step"].to(p.device, torch.float32)
