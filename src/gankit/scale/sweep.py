"""`gankit sweep`: a hyperparameter search in one command; every trial is an ordinary run directory.

The trials are every combination of the `--grid` values (`optim.d.lr=1e-4,1e-3`), of `--random N` points drawn
from `--range` specs (`optim.d.lr=1e-5:1e-2:log`, reproducibly from `--random-seed`) and of `--seeds`; `--set`
applies to all; `--spec NAME` takes a sweep shipped with gankit instead, its trials listed one by one with
their settings (`gankit.scale.specs`; e.g. post004, post 004's table). Each trial's directory is named by its
settings (`optim.d.lr=1e-4,reg.clip=0.01,seed=1`) or by the spec.
`OUT/sweep.json` lists the trials, so the same command resumes (finished trials are skipped, a half-trained one
continues from its checkpoint) and another command into the same directory is refused. At the end the trials
are compared as `gankit compare` does (`OUT/compare.html`), best first by the data's headline metric.

Back ends: `local` trains toy MLP trials stacked as one ensemble (`gankit.scale.ensemble`) and anything the ensemble
refuses one after another (or in `--workers` processes); `ray` runs each trial as a Ray Tune trial
(`gankit.scale.sweep_ray`). Both can stop a trial early when its mid-training verdict (`gankit.metrics.diagnosis.verdict` on
the history so far, at each eval row) is one of `--stop-on`: `diverged` at once, any other verdict only after
`--stop-after` of training (a toy run legitimately covers few modes early on).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import math
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gankit import config as configs
from gankit import limits
from gankit.errors import ConfigError, GankitError, unknown_choice
from gankit.scale.specs import spec_names
from gankit.scale.trials import StopOn, run_local
from gankit.store import rundir

MANIFEST = "sweep.json"
BACKENDS = ("local", "ray")
STOPPABLE = ("diverged", "mode collapse", "discriminator won", "oscillating")
DEFAULT_STOP_ON = "mode-collapse,diverged"
MAX_NAME = 120  # longer trial names are cut and given a hash, so a directory name stays valid everywhere


@dataclass(frozen=True)
class Range:
    key: str
    low: float
    high: float
    scale: str  # "lin" or "log"

    def draw(self, rng: random.Random) -> float:
        if self.scale == "log":
            value = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        else:
            value = rng.uniform(self.low, self.high)
        return float(f"{value:.3g}")  # 3 significant digits: readable names, and no search needs more


@dataclass(frozen=True)
class Trial:
    name: str  # the directory name under OUT
    overrides: tuple[str, ...]  # its own settings, applied after --set


@dataclass
class Sweep:
    out: Path
    base: dict[str, Any]  # the resolved config every trial starts from (preset or file, --set applied)
    trials: list[Trial]
    configs: list[configs.Config] = field(default_factory=list)

    def dirs(self) -> list[Path]:
        return [self.out / t.name for t in self.trials]

    def manifest(self) -> dict[str, Any]:
        return {"format": 1, "base": self.base, "trials": [{"name": t.name, "set": list(t.overrides)} for t in self.trials]}


# ---- parsing the command line ----------------------------------------------------------------------------
def _split_values(text: str) -> list[str]:
    """'1e-4,1e-3' -> ['1e-4', '1e-3']; commas inside [...] stay (betas=[0.5,0.9],[0.9,0.99])."""
    parts, depth, current = [], 0, ""
    for char in text:
        depth += {"[": 1, "]": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return [*parts, current]


def parse_grid(texts: Sequence[str]) -> list[tuple[str, list[str]]]:
    grid: list[tuple[str, list[str]]] = []
    for text in texts:
        key, sep, values = text.partition("=")
        key = key.strip()
        items = [v.strip() for v in _split_values(values)]
        if not sep or not key or not all(items):
            raise ConfigError(f"--grid expects key=value,value,... (e.g. --grid optim.d.lr=1e-4,1e-3), got '{text}'")
        if key in (k for k, _ in grid):
            raise ConfigError(f"--grid {key} is given twice: list all its values in one --grid")
        twice = [v for i, v in enumerate(items) if any(_same_value(v, w) for w in items[:i])]
        if twice:  # two trials training the same thing, under two names
            raise ConfigError(f"--grid {key} lists {twice[0]} twice: give each value once (--seeds N repeats trials)")
        grid.append((key, items))
    return grid


def _same_value(a: str, b: str) -> bool:
    """'1e-3' and '0.001' are one value; text otherwise."""
    try:
        return float(a) == float(b)
    except ValueError:
        return a == b


def parse_range(text: str) -> Range:
    key, sep, spec = text.partition("=")
    parts = spec.split(":")
    usage = f"--range expects key=low:high[:lin|log] (e.g. --range optim.d.lr=1e-5:1e-2:log), got '{text}'"
    if not sep or not key.strip() or len(parts) not in (2, 3):
        raise ConfigError(usage)
    scale = parts[2].strip() if len(parts) == 3 else "lin"
    if scale not in ("lin", "log"):
        raise ConfigError(f"--range {key.strip()}: scale '{scale}' is not lin or log")
    try:
        low, high = float(parts[0]), float(parts[1])
    except ValueError:
        raise ConfigError(usage) from None
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ConfigError(f"--range {key.strip()}: low must be below high (finite numbers), got {parts[0]}:{parts[1]}")
    if scale == "log" and low <= 0:
        raise ConfigError(f"--range {key.strip()}: a log range needs low > 0, got {parts[0]}")
    return Range(key.strip(), low, high, scale)


def parse_stop_on(text: str) -> tuple[str, ...]:
    """'mode-collapse,diverged' -> ('mode collapse', 'diverged'); 'none' -> ()."""
    if text.strip() == "none":
        return ()
    found = []
    for item in (i.strip() for i in text.split(",")):
        verdict = item.replace("-", " ")
        if verdict not in STOPPABLE:
            raise unknown_choice("--stop-on verdict", item, [*(v.replace(" ", "-") for v in STOPPABLE), "none"])
        found.append(verdict)
    return tuple(found)


def trial_name(settings: Sequence[tuple[str, str]]) -> str:
    label = ",".join(f"{k}={v}" for k, v in settings)
    name = re.sub(r"[^A-Za-z0-9._,=+-]", "_", label)
    if len(name) > MAX_NAME:
        name = f"{name[:MAX_NAME - 9]}-{hashlib.sha1(label.encode()).hexdigest()[:8]}"
    return name


def plan(grid: Sequence[tuple[str, list[str]]], ranges: Sequence[Range], n_random: int, seeds: int,
         base_seed: int = 0, random_seed: int = 0) -> list[Trial]:
    """Every combination: grid values x random points x seeds (seed base_seed, base_seed+1, ...)."""
    combos = [list(zip([k for k, _ in grid], values)) for values in itertools.product(*[v for _, v in grid])]
    rng = random.Random(random_seed)
    points = [[(r.key, repr(r.draw(rng))) for r in ranges] for _ in range(n_random)] if ranges else [[]]
    trials, names = [], set()
    for combo, point, seed in itertools.product(combos, points, range(base_seed, base_seed + seeds)):
        settings = [*combo, *point, ("seed", str(seed))]
        name = trial_name(settings)
        while name in names:  # two settings that read the same once sanitised
            name += "_"
        names.add(name)
        trials.append(Trial(name, tuple(f"{k}={v}" for k, v in settings)))
    return trials


def explicit_trials(listed: Sequence[tuple[str, Sequence[str]]], seeds: int, base_seed: int = 0) -> list[Trial]:
    """Trials listed by name and settings (a spec's): each as it is with one seed, else once per seed."""
    if seeds == 1:
        return [Trial(name, tuple(settings)) for name, settings in listed]
    return [Trial(f"{name},seed={s}", (*settings, f"seed={s}")) for name, settings in listed
            for s in range(base_seed, base_seed + seeds)]


def build(source: str, overrides: Sequence[str], grid: Sequence[tuple[str, list[str]]], ranges: Sequence[Range],
          n_random: int, seeds: int, out: str | Path | None, random_seed: int = 0,
          listed: Sequence[tuple[str, Sequence[str]]] | None = None) -> Sweep:
    """Resolve and check every trial's config before anything is written. `listed`: trials given by name and
    settings (a spec's) instead of the grid and random points."""
    from gankit.config import resolve_config

    base = resolve_config(source, list(overrides))
    raw = base.to_dict()
    for key, values in [*grid, *((r.key, [repr(r.low)]) for r in ranges)]:
        flag = "--grid" if key in dict(grid) else "--range"
        if key == "seed":
            raise ConfigError(f"{flag} seed: use --seeds N for seeds")
        try:
            resolve_config(raw, [f"{key}={values[0]}"])
        except ConfigError as err:
            raise ConfigError(f"{flag} {key}: {err}") from None
    if listed is not None:
        trials = explicit_trials(listed, seeds, base.seed)
    else:
        trials = plan(grid, ranges, n_random, seeds, base.seed, random_seed)
    sweep = Sweep(Path(out) if out else Path("sweeps") / base.name, json.loads(json.dumps(raw)), trials)
    for trial in trials:
        trial_raw = configs.apply_overrides(raw, list(trial.overrides))
        trial_raw["name"] = trial.name  # the name a compare table and picture titles show
        try:
            sweep.configs.append(configs.from_dict(trial_raw))
        except ConfigError as err:
            raise ConfigError(f"trial {trial.name}: {err}") from None
    return sweep


def claim(sweep: Sweep) -> None:
    """Write OUT/sweep.json, or check that the one there lists the same sweep (so a re-run resumes it)."""
    path = sweep.out / MANIFEST
    if path.is_file():
        try:
            found = json.loads(path.read_text())
        except (json.JSONDecodeError, OSError, UnicodeDecodeError):
            raise GankitError(f"'{path}' is unreadable: choose another --out") from None
        if not isinstance(found, dict) or found.get("base") != sweep.base or found.get("trials") != sweep.manifest()["trials"]:
            raise GankitError(f"'{sweep.out}' holds another sweep (its {MANIFEST} lists other settings or trials): "
                              "re-run that sweep's own command to resume it, or choose another --out")
        return
    if sweep.out.is_file() or (sweep.out.is_dir() and any(sweep.out.iterdir())):
        raise GankitError(f"'{sweep.out}' exists and is not a sweep directory (no {MANIFEST}): choose another --out")
    sweep.out.mkdir(parents=True, exist_ok=True)
    rundir.write_json(path, sweep.manifest())


# ---- which trials are done ------------------------------------------------------------------------------
def status(run_dir: Path, cfg: configs.Config) -> str:
    """'finished' (metrics.json holds the verdict of the full length, or of an early stop or a divergence),
    'partial' (a run directory to resume) or 'new'."""
    if not (run_dir / rundir.CONFIG).is_file():
        return "new"
    metrics = rundir.read_metrics(run_dir)
    if not metrics or not metrics.get("verdict"):
        return "partial"
    if metrics.get("stopped_early") or metrics["verdict"] == "diverged":
        return "finished"
    rows = [r for r in rundir.read_history(run_dir / rundir.HISTORY) if "loss_d" in r]
    if not rows or metrics.get("step") != rows[-1].get("step"):
        return "partial"
    last = rows[-1]
    if cfg.train.steps is not None:
        return "finished" if last["step"] >= cfg.train.steps else "partial"
    return "finished" if last.get("epoch", 0) >= cfg.train.epochs else "partial"


# ---- the command --------------------------------------------------------------------------------------
def cmd_sweep(args: argparse.Namespace) -> int:
    from gankit.training.trainer import Interrupted
    from gankit.view.compare import compare, terminal_table, write_html

    spec = None
    if args.spec is not None:
        from gankit.scale.specs import load_spec

        spec = load_spec(args.spec)
        if args.grid or args.ranges or args.random:
            raise GankitError(f"--spec {args.spec} lists its own trials: drop --grid/--range/--random "
                              "(--set still applies to every trial)")
    elif not (args.preset or args.config):
        raise GankitError("say what to sweep: --preset NAME, --config FILE.yaml or --spec NAME (a shipped sweep)")
    if args.backend not in BACKENDS:
        raise unknown_choice("backend", args.backend, BACKENDS)
    if args.seeds < 1:
        raise GankitError(f"--seeds must be at least 1, got {args.seeds}")
    if args.workers < 1:
        raise GankitError(f"--workers must be at least 1, got {args.workers}")
    if args.random < 0:
        raise GankitError(f"--random must be at least 1, got {args.random}")
    if args.random and not args.ranges:
        raise GankitError("--random N draws from --range specs: add e.g. --range optim.d.lr=1e-5:1e-2:log")
    if args.ranges and not args.random:
        raise GankitError("--range needs --random N (how many points to draw)")
    if not 0 <= args.stop_after <= 1:
        raise GankitError(f"--stop-after is a fraction of training in [0, 1], got {args.stop_after}")
    grid = parse_grid(args.grid)
    ranges = [parse_range(text) for text in args.ranges]
    count = (len(spec.trials) if spec else math.prod(len(v) for _, v in grid) * max(args.random, 1)) * args.seeds
    if count > limits.TRIALS_MAX:  # planned one by one in memory before anything trains: a typo, not a study
        raise GankitError(f"this sweep has {count:,} trials, more than the {limits.TRIALS_MAX:,} gankit plans at "
                          "once: narrow --grid, --random or --seeds, or split it into several sweeps")
    stop = StopOn(parse_stop_on(args.stop_on), args.stop_after)
    if args.backend == "ray":
        require_ray()
    if spec is None:
        sweep = build(args.preset or args.config, args.overrides, grid, ranges, args.random, args.seeds, args.out,
                      args.random_seed)
    else:
        sweep = build(spec.preset, [*spec.overrides, *args.overrides], [], [], 0, args.seeds, args.out or spec.out,
                      listed=[(t.name, t.overrides) for t in spec.trials])
    claim(sweep)
    states = [status(d, cfg) for d, cfg in zip(sweep.dirs(), sweep.configs)]
    todo = [(cfg, d) for cfg, d, s in zip(sweep.configs, sweep.dirs(), states) if s != "finished"]
    print(f"sweep: {len(sweep.trials)} trials in {sweep.out}: {len(todo)} to train "
          f"({states.count('partial')} to resume), {states.count('finished')} finished before")
    failed: list[str] = []
    try:
        if todo and args.backend == "ray":
            from gankit.scale.sweep_ray import run_ray

            failed = run_ray(todo, sweep.out, stop, address=args.address, cpus=args.cpus_per_trial,
                             gpus=args.gpus_per_trial)
        elif todo:
            run_local(todo, stop, workers=args.workers, stack=not args.no_ensemble and (spec is None or spec.ensemble))
    except Interrupted as err:
        raise Interrupted(f"{err}; or re-run this gankit sweep command: finished trials are skipped",
                          err.exit_code) from None
    if spec is None:
        table = compare(sweep.dirs())
    else:  # each trial's label (the post's outcome) beside its verdict, and the spec's metrics beside the headline
        labels = [t.label for t in spec.trials for _ in range(args.seeds)]
        table = compare(sweep.dirs(), notes={t.name: text for t, text in zip(sweep.trials, labels)},
                        note_title=spec.label_title, extra_metrics=spec.metrics)
    print(terminal_table(table))
    print(f"\n{write_html(table, sweep.out / 'compare.html', owned=True)}")
    for line in failed:
        print(f"trial failed: {line}")
    return 1 if failed else 0


def require_ray() -> None:
    try:
        import ray.tune  # noqa: F401
    except ImportError:
        raise GankitError("--backend ray needs Ray: pip install gankit[ray]") from None


def add_parser(commands: Any) -> None:
    """The `gankit sweep` subcommand's arguments (cli.py stays a thin layer)."""
    sweep = commands.add_parser("sweep", help="a hyperparameter search: every combination as a run, then compared")
    source = sweep.add_mutually_exclusive_group()
    source.add_argument("--preset", help="preset name (see `gankit presets`)")
    source.add_argument("--config", help="YAML config file")
    source.add_argument("--spec", help=f"a sweep shipped with gankit, its trials listed ({', '.join(spec_names())})")
    sweep.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2,...",
                       help="values of one setting to try (repeatable: every combination)")
    sweep.add_argument("--random", type=int, default=0, metavar="N", help="draw N points from the --range specs")
    sweep.add_argument("--range", dest="ranges", action="append", default=[], metavar="KEY=LOW:HIGH[:lin|log]",
                       help="a range to draw --random points from (repeatable)")
    sweep.add_argument("--random-seed", type=int, default=0, help="seed of the --random draws (default 0)")
    sweep.add_argument("--seeds", type=int, default=1, help="seeds per combination (seed, seed+1, ...)")
    sweep.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="override a setting in every trial (repeatable)")
    sweep.add_argument("--out", help="sweep directory (default sweeps/<name>); the same command resumes it")
    sweep.add_argument("--backend", default="local", help="local (default) or ray")
    sweep.add_argument("--workers", type=int, default=1, help="local: processes training trials at once")
    sweep.add_argument("--no-ensemble", action="store_true", help="local: never stack toy trials as an ensemble")
    sweep.add_argument("--stop-on", default=DEFAULT_STOP_ON, metavar="VERDICTS",
                       help=f"stop a trial whose mid-training verdict is one of these (default {DEFAULT_STOP_ON}; none)")
    sweep.add_argument("--stop-after", type=float, default=0.5, metavar="FRACTION",
                       help="stop on verdicts other than diverged only after this fraction of training (default 0.5)")
    sweep.add_argument("--address", default=None, help="ray: address of a running Ray cluster (default: a local one)")
    sweep.add_argument("--cpus-per-trial", type=float, default=1.0, help="ray: CPUs per trial (default 1)")
    sweep.add_argument("--gpus-per-trial", type=float, default=0.0, help="ray: GPUs per trial (default 0)")

