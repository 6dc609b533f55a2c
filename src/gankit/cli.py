"""The command line: a thin layer over the Python API. Usage errors print one line and exit 2."""

from __future__ import annotations

import argparse
import gc
import sys
from pathlib import Path

from gankit import __version__
from gankit.console import keep_going_when_readers_leave
from gankit.errors import GankitError
from gankit.store import layout


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, as every other usage error
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gankit", description="Train, watch, evaluate and compare GANs.")
    parser.add_argument("--version", action="version", version=f"gankit {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    commands.add_parser("presets", help="list every preset and the post it reproduces")
    info = commands.add_parser("info", help="this machine (CPU, ISA, GPUs, native precisions) and a preset's fast paths")
    info.add_argument("--preset", help="also say which fast paths this preset takes here, and why")
    info.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parts = commands.add_parser("parts", help="every registered part per axis, its settings and defaults")
    parts.add_argument("axis", nargs="?", default=None,
                       help="one axis: data, generator, discriminator, objective, penalty, augment, optimizer, metric")

    train = commands.add_parser("train", help="train a GAN (a preset, a YAML config, or resume a run)")
    source = train.add_mutually_exclusive_group()
    source.add_argument("--preset", help="preset name (see `gankit presets`)")
    source.add_argument("--config", help="YAML config file (a run's config.yaml re-runs it)")
    source.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its last checkpoint")
    train.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="override a setting, e.g. --set optim.d.lr=1e-4 (repeatable)")
    train.add_argument("--out", help="run directory (default runs/<name>, numbered if it exists)")
    train.add_argument("--overwrite", action="store_true", help="replace an existing --out run directory")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.add_argument("--drop-damaged-history", action="store_true",
                       help="with --resume: move damaged history.jsonl lines to history.jsonl.damaged, keep the rest")
    train.add_argument("--ensemble", type=int, default=None, metavar="K",
                       help="train K seeds of the config at once, stacked (toy MLPs): OUT/member_00 ...")
    train.add_argument("--minutes", type=float, default=None, metavar="M",
                       help="wall-clock budget: stop cleanly after M minutes of training (train.minutes)")
    train.add_argument("--tensorboard", action="store_true",
                       help="also log to RUN_DIR/tensorboard (log.tensorboard; needs gankit[tensorboard])")

    sample = commands.add_parser("sample", help="write samples from a trained generator")
    sample.add_argument("run_dir", metavar="RUN_DIR")
    sample.add_argument("-n", type=int, default=None,
                        help="number of samples (default 64); with --interpolate, of walks (default 8)")
    sample.add_argument("-o", "--output", default=None,
                        help="output PNG (default samples.png, or interpolation.png with --interpolate)")
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--class", dest="label", default=None, metavar="C",
                        help="class-conditional runs: samples of class C only (its index or name, e.g. 7 or trouser)")
    sample.add_argument("--interpolate", action="store_true",
                        help="image runs: rows of images along latent walks between random points")
    evaluate = commands.add_parser("eval", help="metrics of a trained run for its data kind (writes metrics.json)")
    evaluate.add_argument("run_dir", metavar="RUN_DIR")
    evaluate.add_argument("--n", type=int, default=None, help="number of samples (default: the protocol's)")
    evaluate.add_argument("--json", action="store_true", help="print JSON instead of a table")
    evaluate.add_argument("--inception", action="store_true",
                          help="image runs: add Inception FID (needs gankit[inception] and its weights on disk)")
    report = commands.add_parser("report", help="one self-contained HTML page of a run (RUN_DIR/report.html)")
    report.add_argument("run_dir", metavar="RUN_DIR")
    report.add_argument("-o", "--output", default=None, help="output HTML (default RUN_DIR/report.html)")
    compare = commands.add_parser("compare", help="runs side by side: differing settings, metrics, verdicts")
    compare.add_argument("run_dirs", metavar="RUN_DIR", nargs="+",
                         help="run directories, or folders of them (runs, a sweep's or an ensemble's --out)")
    compare.add_argument("-o", "--output", default="compare.html", help="output HTML (default compare.html)")
    export = commands.add_parser("export", help="a run's weights as .safetensors (no pickle), with its config")
    export.add_argument("run_dir", metavar="RUN_DIR")
    export.add_argument("-o", "--output", default=None, help="output file (default RUN_DIR/weights.safetensors)")
    from gankit.scale.sweep import add_parser as add_sweep_parser

    add_sweep_parser(commands)
    return parser


def cmd_info(args: argparse.Namespace) -> int:
    from gankit.catalog import fast_paths, machine_lines

    print("\n".join(machine_lines()))
    if args.preset:
        print("\n".join(fast_paths(args.preset, args.overrides)))
    return 0


def cmd_parts(args: argparse.Namespace) -> int:
    from gankit.catalog import describe

    print(describe(args.axis))
    return 0


def cmd_presets(_args: argparse.Namespace) -> int:
    from gankit.presets import preset_table

    rows = preset_table()
    widths = {k: max(len(k), *(len(r[k]) for r in rows)) for k in ("name", "post", "data")}
    header = {"name": "preset", "post": "seed post", "data": "data", "description": "what it does"}
    for row in [header, *rows]:
        print("  ".join(row[k].ljust(widths[k]) for k in ("name", "post", "data")) + "  " + row["description"])
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from gankit.api import train

    if args.tensorboard:
        args.overrides.append("log.tensorboard=true")
    if args.minutes is not None:
        args.overrides.append(f"train.minutes={args.minutes!r}")
    if args.config is not None:  # a path, never read as a preset name
        config = Path(args.config)
        if config.is_dir():
            hint = (f"--resume {config} continues that run, --config {config / 'config.yaml'} trains its config anew"
                    if (config / "config.yaml").is_file() else "give a YAML file, or --preset NAME (gankit presets)")
            raise GankitError(f"--config '{config}' is a folder, not a YAML config: {hint}")
        if not config.exists():
            raise GankitError(f"config file '{config}' not found: give a YAML file, or --preset NAME (gankit presets)")
    if args.ensemble is not None:
        from gankit.scale.ensemble import cmd_train_ensemble
        from gankit.training.distributed import from_env

        if from_env().enabled:
            raise GankitError("--ensemble stacks members in one process: run it without torchrun")
        return cmd_train_ensemble(args)
    if args.drop_damaged_history and not args.resume:
        raise GankitError("--drop-damaged-history goes with --resume RUN_DIR")
    if args.resume:
        if args.out or args.overwrite:
            raise GankitError("--resume continues a run in place: drop --out/--overwrite")
        run = train(None, resume=args.resume, overrides=args.overrides, progress=not args.no_progress,
                    drop_damaged_history=args.drop_damaged_history)
    else:
        if not (args.preset or args.config):
            raise GankitError("say what to train: --preset NAME, --config FILE.yaml or --resume RUN_DIR")
        run = train(args.preset or args.config, out=args.out, overwrite=args.overwrite,
                    overrides=args.overrides, progress=not args.no_progress)
    if run is None:
        return 0  # a rank other than 0 under torchrun: rank 0 says where the run is
    pictures = sorted((run.path / layout.SAMPLES).glob("*.png"))
    print(f"run: {run.path}")
    if pictures:
        print(f"samples: {pictures[-1]}")
    history = run.history
    return 1 if history and history[-1].get("event") == "diverged" else 0


def cmd_sample(args: argparse.Namespace) -> int:
    from gankit.api import load_run
    from gankit.limits import (
        SAMPLE_MAX,
        WALKS_MAX,
        check_samples,
        check_seed,
        example_numel,
    )
    from gankit.store import guard
    from gankit.view.marks import is_gankit_png
    from gankit.view.report import picture_title
    from gankit.view.summary import load_summary

    if args.n is not None and args.n < 1:
        raise GankitError(f"-n must be at least 1, got {args.n}")
    check_seed(args.seed)
    run = load_run(args.run_dir)
    check_samples(args.n, "-n", WALKS_MAX if args.interpolate else SAMPLE_MAX, run.config.latent.dim,
                  example_numel(run.config))
    path = Path(args.output or ("interpolation.png" if args.interpolate else "samples.png"))
    guard.check_output(path, is_gankit_png, "a picture")  # e.g. the user's own samples.png: left alone
    label = int(args.label) if args.label is not None and args.label.isdigit() else args.label
    if label is not None:
        run.class_index(label)  # a wrong class is one line before any work
    with guard.replacing(path) as tmp:  # written beside, renamed in: a crash leaves no half picture
        if args.interpolate:
            from gankit.view.interpolate import interpolation_grid

            interpolation_grid(run, tmp, rows=args.n or 8, seed=args.seed, label=label)
        else:
            n = args.n or 64
            title = picture_title(load_summary(run.path), f"{n:,} sample{'s' if n != 1 else ''}")
            title += f" · class {label}" if label is not None else ""
            run.save_samples(tmp, n=n, seed=args.seed, title=title, label=label)
    print(path)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    import json

    from gankit.api import load_run
    from gankit.limits import EVAL_MAX, check_samples

    if args.n is not None and args.n < 2:
        raise GankitError(f"--n must be at least 2, got {args.n}")
    check_samples(args.n, "--n", EVAL_MAX)
    if args.inception:
        from gankit.metrics.inception import require_inception

        require_inception()  # a missing package or weights file: one line at once, before any sampling
    run = load_run(args.run_dir)
    if run.data.kind == "image":  # unlabelled images without --inception: say so before sampling anything
        from gankit.metrics.evaluation import check_applicable

        check_applicable(run.config.data["name"], run.config.data, args.inception)
    from gankit.store.guard import writer_pid

    busy = writer_pid(run.path)  # a run being trained: its own evaluation writes metrics.json, not this reader
    try:
        result = run.evaluate(n=args.n, inception=args.inception, write=busy is None)
    except NotImplementedError as err:
        raise GankitError(str(err)) from None
    if busy is not None:
        print(f"gankit: note: metrics.json left to the process training {run.path} (pid {busy or '?'}); these "
              "metrics are of its last checkpoint", file=sys.stderr)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{run.path}  step {result['step']:,}  ({result['n']:,} samples)")
    print(f"verdict: {result['verdict']} - {result['evidence']}")
    for key, value in result.items():
        if key in ("step", "n", "verdict", "evidence"):
            continue
        shown = f"{value:.4g}" if isinstance(value, float) else str(value)
        print(f"  {key:<22} {shown}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from gankit.view.report import write_report
    from gankit.view.summary import NOT_EVALUATED, load_summary

    path = write_report(args.run_dir, args.output)
    print(path)
    if load_summary(args.run_dir).verdict == NOT_EVALUATED:
        print(f"not evaluated: gankit eval {args.run_dir} adds the metrics and the verdict")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from gankit.view.compare import compare, terminal_table, write_html

    table = compare(args.run_dirs)
    print(terminal_table(table))
    print(f"\n{write_html(table, args.output)}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from gankit.store.export import export_safetensors

    print(export_safetensors(args.run_dir, args.output))
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from gankit.scale.sweep import cmd_sweep as sweep

    return sweep(args)


COMMANDS = {"presets": cmd_presets, "parts": cmd_parts, "info": cmd_info, "train": cmd_train, "sample": cmd_sample, "eval": cmd_eval,
            "report": cmd_report, "compare": cmd_compare, "export": cmd_export, "sweep": cmd_sweep}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    try:
        return COMMANDS[args.command](args)
    except GankitError as err:
        if args.debug:
            raise
        prefix = "gankit: " if err.exit_code in (130, 143) else "gankit: error: "  # a stop is not an error
        print(f"{prefix}{err}", file=sys.stderr)
        return err.exit_code
    except OSError as err:  # an output path that cannot be created or written
        if args.debug:
            raise
        where = f" '{err.filename}'" if err.filename else ""
        print(f"gankit: error: cannot write{where}: {err.strerror or err}; choose a writable path", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # a second Ctrl-C: out at once, nothing saved since the last checkpoint
        print("gankit: interrupted at once; the last checkpoint written is kept", file=sys.stderr)
        return 130


CLI_GC_THRESHOLDS = (50_000, 20, 100)


def run() -> None:
    """The `gankit` command (and `python -m gankit`): main(), then exit with its code. The heap is frozen
    first: the interpreter's teardown otherwise walks everything torch, its compilers, SciPy and matplotlib
    built, collection after collection: ~1.5 s after a gan-1d training run, 0.35 s after `gankit presets` (AMD EPYC
    Zen 5, AVX-512). Every file is closed by then and
    atexit handlers still run; tests call main() and keep a collected heap. Young objects are collected in larger
    batches (Python's thresholds 700, 10, 10): a command's imports and torch's compile build millions of objects
    that live for the whole process, and the default rates walked them again and again, 9 full collections in a
    gan-1d first run's first 8 s (GC 1.3-1.6 -> 0.55-0.83 s a run; the run 30.18 -> 28.55 s, medians of 7 pairs in
    turn, in-process, a fresh inductor cache each; peak RSS unchanged, 915 MiB; AMD EPYC Zen 5, AVX-512). torchrun's ranks free their
    process group before (training.distributed.shutdown)."""
    gc.set_threshold(*CLI_GC_THRESHOLDS)
    keep_going_when_readers_leave()
    code = main()
    sys.stdout.flush()  # what is still buffered goes now, through console.Unbroken, not at the interpreter's exit
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    run()
