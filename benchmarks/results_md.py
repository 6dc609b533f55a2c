"""Shared by the speed benchmarks: the machine line, the timing loop, and replacing one's own section of
RESULTS.md."""

from __future__ import annotations

import os
import platform
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

RESULTS = Path(__file__).with_name("RESULTS.md")


def timed(step: Callable[[], None], iters: int, sync: Callable[[], None]) -> float:
    """Seconds per call of `step`, over `iters` calls, with the device synchronised at both ends."""
    sync()
    start = time.perf_counter()
    for _ in range(iters):
        step()
    sync()
    return (time.perf_counter() - start) / iters


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    return (f"{cpu}, {os.cpu_count()} cores, {gpu}; load average (1, 5, 15 min) {load}; Python "
            f"{platform.python_version()}, torch {torch.__version__}, CPU capability "
            f"{torch.backends.cpu.get_cpu_capability()}")


def command() -> str:
    return "python " + " ".join(sys.argv)


def replace_section(heading: str, body: str, path: Path = RESULTS) -> None:
    """Write `heading` + `body` into RESULTS.md, replacing only the section under that exact heading (up to
    the next heading of the same or a higher level); other engineers' sections are left as they are."""
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    level = len(heading) - len(heading.lstrip("#"))
    pattern = re.compile(rf"^{re.escape(heading)}\n.*?(?=^#{{1,{level}}} |\Z)", re.DOTALL | re.MULTILINE)
    section = f"{heading}\n\n{body.strip()}\n\n"
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text.rstrip("\n") + "\n")
