"""Shared by the speed benchmarks: the machine line, the timing loop, and replacing one's own section of
RESULTS.md."""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

RESULTS = Path(__file__).with_name("RESULTS.md")


def timed(step: Callable[[], None], iters: int, sync: Callable[[], None] | None = None) -> float:
    """Seconds per call of `step`, over `iters` calls, with the device synchronised at both ends (`sync`; none
    on the CPU)."""
    sync = sync or (lambda: None)
    sync()
    start = time.perf_counter()
    for _ in range(iters):
        step()
    sync()
    return (time.perf_counter() - start) / iters


def trainer_step(trainer: Any) -> Callable[[], None]:
    """One training iteration of a gankit Trainer, without the loop's log rows, pictures and checkpoints (the
    classic loops have none either)."""

    def step() -> None:
        trainer.iteration()
        trainer.step += 1

    return step


def stepper(preset: str, extra: list[str], work: str) -> tuple[Any, Callable[[], None]]:
    """A Trainer of `preset` with `extra` settings (evaluation off) in `work`, and its `trainer_step`."""
    from gankit.config import resolve_config
    from gankit.training.trainer import Trainer

    trainer = Trainer(resolve_config(preset, ["log.eval_every=0", *extra]), work, progress=False)
    return trainer, trainer_step(trainer)


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
    from gankit.machine import cpu_isa, native_bf16

    bf16 = "native bf16" if native_bf16(torch.device("cpu")) else "no native bf16"
    return (f"{cpu} ({cpu_isa()}, {bf16}), {os.cpu_count()} cores, {gpu}; load average (1, 5, 15 min) {load}; "
            f"Python {platform.python_version()}, torch {torch.__version__}, CPU capability "
            f"{torch.backends.cpu.get_cpu_capability()}")


def add_choice_arguments(parser: argparse.ArgumentParser) -> None:
    """--only / --skip (comma-separated contender names or parts of them) and --emulated, on every benchmark."""
    parser.add_argument("--only", default="", help="time only these contenders (comma-separated names or parts)")
    parser.add_argument("--skip", default="", help="leave out these contenders (comma-separated names or parts)")
    parser.add_argument("--emulated", action="store_true",
                        help="also time bf16 where this hardware emulates it (10-200x slower than fp32)")


def choose(names: list[str], args: argparse.Namespace, device: torch.device) -> list[str]:
    """The contenders to time: --only/--skip applied, bf16 left out (said in one line) where it is emulated."""
    from gankit.machine import describe_device, native_bf16

    only = [s for s in args.only.split(",") if s]
    skip = [s for s in args.skip.split(",") if s]
    chosen = [n for n in names if (not only or any(s in n for s in only)) and not any(s in n for s in skip)]
    if not native_bf16(device) and not args.emulated:
        emulated = [n for n in chosen if "bf16" in n]
        if emulated:
            print(f"skipped (bf16 is emulated on {describe_device(device)}; --emulated times it anyway): "
                  + ", ".join(emulated), flush=True)
        chosen = [n for n in chosen if "bf16" not in n]
    if not chosen:
        raise SystemExit(f"no contender left to time (--only {args.only!r}, --skip {args.skip!r}); the contenders: "
                         + ", ".join(names))
    return chosen


def command() -> str:
    return "python " + " ".join(sys.argv)


def replace_section(heading: str, body: str, path: Path = RESULTS) -> None:
    """Write `heading` + `body` into RESULTS.md, replacing only the section under that exact heading (up to
    the next heading of the same or a higher level); other engineers' sections are left as they are. On an
    AVX2 machine the heading says so, so each machine kind keeps its own table (the AVX-512 ones, measured
    first, carry no suffix)."""
    from gankit.machine import cpu_isa

    if not cpu_isa().startswith("AVX-512"):
        heading = f"{heading} on {cpu_isa()}"
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    level = len(heading) - len(heading.lstrip("#"))
    pattern = re.compile(rf"^{re.escape(heading)}\n.*?(?=^#{{1,{level}}} |\Z)", re.DOTALL | re.MULTILINE)
    section = f"{heading}\n\n{body.strip()}\n\n"
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text.rstrip("\n") + "\n")


def preset_table(section: str, header: list[str], measure: Callable[..., str], args: argparse.Namespace) -> None:
    """One row a preset (`measure(preset, args, work, default_threads)`, in a scratch directory), under the
    machine and command lines; printed, and written as `section` unless --no-write."""
    import tempfile

    rows = list(header)
    with tempfile.TemporaryDirectory() as work:
        default_threads = torch.get_num_threads()
        rows += [measure(p, args, work, default_threads) for p in args.presets.split(",") if p]
    body = "\n".join([
        f"Machine: {machine()}.",
        f"Command: `{command()}`; {args.repeats} interleaved repeats; medians (ratio: of per-repeat ratios).",
        "", *rows,
    ])
    print(body)
    if not args.no_write:
        replace_section(section, body)


def side_by_side(base: Callable[[], None], other: Callable[[], None], iters: int, repeats: int) -> tuple[float, float, float]:
    """(base ms, other ms, base / other): `iters` calls of each in turn, `repeats` times (CPU: nothing to
    synchronise); medians, the ratio the median of per-repeat ratios, so both see the same load."""
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeats):
        times[0].append(timed(base, iters))
        times[1].append(timed(other, iters))
    ratio = statistics.median(a / b for a, b in zip(*times))
    return statistics.median(times[0]) * 1e3, statistics.median(times[1]) * 1e3, ratio


def preset_arguments(doc: str, presets: list[str], seconds: float, repeats: int, baseline: str) -> argparse.ArgumentParser:
    """The options of a one-row-a-preset benchmark (preset_table): --presets, --seconds of `baseline` a repeat
    (bounds the time), --repeats, --no-write."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--presets", default=",".join(presets))
    parser.add_argument("--seconds", type=float, default=seconds, help=f"{baseline} seconds a repeat (bounds the time)")
    parser.add_argument("--repeats", type=int, default=repeats)
    parser.add_argument("--no-write", action="store_true")
    return parser
