"""What this machine is and what it runs natively: the CPU model and ISA, torch's CPU kernels, GPUs, threads,
the torch build; and which precision a run takes (`runtime.precision: auto`). Read by `gankit info`, the
trainer and the benchmarks, so every figure can name its machine.

bf16 is fast only where the hardware has it: on a CPU with AVX512_BF16 or AMX, on CUDA from compute
capability 8.0 (Ampere). Elsewhere torch emulates it; on the AVX2 machines of this project a bf16 conv GAN
iteration took 24 s where fp32 takes a fraction of a second.
"""

from __future__ import annotations

import os
import platform
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    line = next((ln for ln in text.splitlines() if ln.startswith(("flags", "Features"))), "")
    return frozenset(line.partition(":")[2].split())


@lru_cache(maxsize=1)
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_isa() -> str:
    """'AVX-512' (with ' + bf16' / ' + AMX' where present), 'AVX2', or what torch's CPU kernels report."""
    flags = cpu_flags()
    if "avx512f" in flags:
        extra = [name for flag, name in (("avx512_bf16", "bf16"), ("amx_bf16", "AMX")) if flag in flags]
        return "AVX-512" + "".join(f" + {e}" for e in extra)
    if "avx2" in flags:
        return "AVX2"
    return torch.backends.cpu.get_cpu_capability()


def native_bf16(device: torch.device) -> bool:
    """Whether `device` computes bf16 in hardware (else torch emulates it, many times slower than fp32)."""
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.get_device_capability(device)[0] >= 8
    return any(flag in cpu_flags() for flag in NATIVE_BF16_FLAGS)


def resolve_precision(asked: str, device: torch.device, conv: bool) -> tuple[str, str]:
    """(precision, why) for `runtime.precision` `asked` on `device`. `auto` takes bf16 only where it is native
    and the run is a conv GAN (where bf16 was measured faster, with the same verdicts at equal steps:
    benchmarks/RESULTS.md "bf16 quality"; the compiled toy step changed a verdict in bf16, so MLPs stay fp32)."""
    if asked != "auto":
        why = "asked for" if asked == "fp32" or native_bf16(device) else "asked for, but EMULATED on this hardware"
        return asked, why
    if not native_bf16(device):
        return "fp32", f"no native bf16 on {describe_device(device)}"
    if not conv:
        return "fp32", "native bf16, but MLP GANs stay fp32 (bf16 changed a verdict of the compiled toy step)"
    if device.type == "cuda":  # benchmarks/RESULTS.md "GPU": the step is launch-bound, autocast adds casts
        return "fp32", "TF32 matmuls; bf16 measured 0.86-0.89x of fp32 for the MNIST DCGANs on an H200"
    return "bf16", f"native bf16 on {describe_device(device)}, conv GAN"


def emulated_bf16_warning(device: torch.device) -> str:
    return (f"warning: runtime.precision bf16 on {describe_device(device)}, which has no native bf16 (no "
            "AVX512_BF16/AMX, or a GPU before compute capability 8.0): torch emulates it, typically 10-200x "
            "slower than fp32; use runtime.precision=auto (or fp32)")


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity mask: a container's or taskset's share)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def oversubscribed_warning(threads: int | None) -> str | None:
    """A line when runtime.threads asks for more threads than there are cores: they contend (grid25-fast's eager
    step, `gankit train` of 300 steps, took 38.0 s with 64 threads against 12.7 s with 2 on a 2-core AMD EPYC Zen 5,
    another training job on one core)."""
    cores = usable_cores()
    if not threads or threads <= cores:
        return None
    return (f"warning: runtime.threads {threads} is more than the {cores} CPU cores this process can use: the "
            f"threads contend and training runs slower, not faster; use runtime.threads={cores} (or leave it unset)")


def slow_path_warnings(threads: int | None, precision: str, device: torch.device) -> list[str]:
    """The lines a run prints before its first step when a setting makes it silently slow."""
    lines = [oversubscribed_warning(threads)]
    if precision == "bf16" and not native_bf16(device):
        lines.append(emulated_bf16_warning(device))
    return [line for line in lines if line]


def describe_device(device: torch.device) -> str:
    if device.type == "cuda" and torch.cuda.is_available():
        major, minor = torch.cuda.get_device_capability(device)
        return f"{torch.cuda.get_device_name(device)} (compute capability {major}.{minor})"
    return f"{cpu_model()} ({cpu_isa()})"


def facts() -> dict[str, Any]:
    """The machine in a few fields: what `gankit info` prints and benchmarks record beside their figures."""
    gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    return {
        "cpu": cpu_model(),
        "cpu_isa": cpu_isa(),
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_native_bf16": native_bf16(torch.device("cpu")),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "gpus": gpus,
        "torch": torch.__version__,
        "cuda_build": torch.version.cuda,
        "python": platform.python_version(),
    }
