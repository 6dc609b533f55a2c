"""The catalogue of bad inputs: each one a test (tests/test_bad_inputs.py) and a row of docs/reliability.md.

Each case is a gankit command line run in an empty working directory after `setup` made the files it needs
there (relative paths, so the message a user sees is the same everywhere). What must hold for every case:
exit code 2, exactly one line on stderr containing `expect`, no traceback, nothing on disk changed.

    python tests/bad_inputs.py    # runs every case and rewrites the table in docs/reliability.md
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

DOC = Path(__file__).resolve().parents[1] / "docs" / "reliability.md"
START, END = "<!-- bad-inputs:start (python tests/bad_inputs.py) -->", "<!-- bad-inputs:end -->"
RUN_SETTINGS = ["train.steps=4", "log.every=2", "log.eval_every=0", "runtime.threads=1"]

Setup = Callable[[Path, dict[str, Path]], None]


@dataclass(frozen=True)
class Case:
    id: str
    what: str  # the bad input, in words (the doc's first column)
    args: tuple[str, ...]
    expect: str  # a fragment of the one line on stderr
    setup: Setup | None = field(default=None, compare=False)


def _sets(*items: str) -> tuple[str, ...]:
    return tuple(arg for item in items for arg in ("--set", item))


def train(preset: str, *items: str) -> tuple[str, ...]:
    return ("train", "--preset", preset, *_sets(*items))


# ---- setups: files a case needs, made in the working directory ------------------------------------------
def _write(name: str, content: str | bytes) -> Setup:
    def setup(root: Path, _runs: dict[str, Path]) -> None:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())

    return setup


def _png(path: Path, size: tuple[int, int] = (20, 20), mode: str = "RGB") -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color=128 if mode == "L" else (10, 200, 30)).save(path)


def _corrupt_folder(root: Path, _runs: dict[str, Path]) -> None:
    _png(root / "pics" / "full.png")
    cut = (root / "pics" / "full.png").read_bytes()
    (root / "pics" / "full.png").unlink()
    (root / "pics" / "truncated.png").write_bytes(cut[: len(cut) // 2])
    (root / "pics" / "notes.jpg").write_text("not an image")


def _good_folder(root: Path, _runs: dict[str, Path]) -> None:
    for i in range(4):
        _png(root / "pics" / f"{i}.png")


def _run(edit: Callable[[Path, dict[str, Path]], None] | None = None, source: str = "run") -> Setup:
    """A copy of a tiny trained run as ./run, then `edit(run_dir, runs)`."""

    def setup(root: Path, runs: dict[str, Path]) -> None:
        shutil.copytree(runs[source], root / "run")
        if edit is not None:
            edit(root / "run", runs)

    return setup


def _checkpoint(state: object) -> Callable[[Path, dict[str, Path]], None]:
    def edit(run: Path, _runs: dict[str, Path]) -> None:
        torch.save(state, run / "checkpoints" / "last.pt")

    return edit


def _truncate_checkpoint(run: Path, _runs: dict[str, Path]) -> None:
    path = run / "checkpoints" / "last.pt"
    path.write_bytes(path.read_bytes()[:300])


def _other_architecture(run: Path, runs: dict[str, Path]) -> None:
    shutil.copy(runs["small"] / "checkpoints" / "last.pt", run / "checkpoints" / "last.pt")


def _newer_format(run: Path, _runs: dict[str, Path]) -> None:
    state = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    torch.save({**state, "format": 99}, run / "checkpoints" / "last.pt")


def _newer_gankit(run: Path, _runs: dict[str, Path]) -> None:
    import yaml

    path = run / "config.yaml"
    raw = yaml.safe_load(path.read_text())
    raw["versions"]["gankit"] = "99.0.0"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))


def _no_checkpoint(run: Path, _runs: dict[str, Path]) -> None:
    shutil.rmtree(run / "checkpoints")


class Pwn:
    """Pickles as a call of os.system: what a malicious checkpoint carries."""

    def __reduce__(self) -> tuple:
        import os

        return (os.system, ("touch pwned",))


NEWER_CONFIG = "versions: {gankit: 99.0.0}\nname: from-the-future\ntrain: {steps: 3}\n"
TINY_FOLDER = ("data.path=pics", "data.size=16", "train.batch_size=2", "generator.width=4", "discriminator.width=4")

CASES: list[Case] = [
    # -- misspelt names and keys: the closest valid choice is suggested
    Case("preset-misspelt", "misspelt preset", ("train", "--preset", "gan-1e"), "did you mean 'gan-1d'"),
    Case("section-misspelt", "misspelt section", train("gan-1d", "trian.steps=3"), "did you mean 'train'"),
    Case("key-misspelt", "misspelt setting", train("gan-1d", "train.batchsize=3"), "did you mean 'train.batch_size'"),
    Case("loss-misspelt", "misspelt loss", train("gan-1d", "loss.name=hinj"), "did you mean 'hinge'"),
    Case("data-misspelt", "misspelt data set", train("gan-1d", "data.name=gausian1d"), "did you mean 'gaussian1d'"),
    Case("generator-misspelt", "misspelt generator", train("gan-1d", "generator.name=mlp-1e"), "did you mean 'mlp-1d'"),
    Case("optimiser-misspelt", "misspelt optimiser", train("gan-1d", "optim.d.name=adma"), "did you mean 'adam'"),
    Case("optimiser-key-misspelt", "misspelt optimiser setting", train("gan-1d", "optim.d.lrr=0.1"),
         "did you mean 'lr'"),
    Case("data-key-misspelt", "misspelt data setting", train("gan-1d", "data.meen=3"), "did you mean 'mean'"),
    Case("choice-misspelt", "misspelt choice", train("gan-1d", "latent.dist=normel"), "did you mean 'normal'"),
    # -- wrong types
    Case("int-as-text", "text for a whole number", train("gan-1d", "train.batch_size=many"), "must be a whole number"),
    Case("float-as-text", "text for a number", train("gan-1d", "optim.d.lr=fast"), "must be a number"),
    Case("bool-as-text", "text for true/false", train("gan-1d", "train.drop_last=maybe"), "must be true or false"),
    Case("int-fraction", "fraction for a whole number", train("gan-1d", "train.steps=2.5"), "must be a whole number"),
    Case("list-as-number", "number for a list", train("gan-1d", "optim.g.betas=0.5"), "must be a list"),
    Case("section-as-value", "value for a section", train("gan-1d", "train=5"), "'train' must be a section"),
    Case("value-as-section", "section under a value", train("gan-1d", "train.steps.max=5"), "is a value, not a section"),
    Case("code-as-value", "Python code as a value (never evaluated)",
         train("gan-1d", "seed=__import__('os').system('touch pwned')"), "must be a whole number"),
    # -- out of range
    Case("batch-zero", "batch size 0", train("gan-1d", "train.batch_size=0"), "train.batch_size must be at least 1"),
    Case("n-critic-zero", "n_critic (train.d_steps) 0", train("wgan-grid25", "train.d_steps=0"),
         "train.d_steps must be at least 1"),
    Case("lr-negative", "negative learning rate", train("gan-1d", "optim.g.lr=-1e-4"), "lr"),
    Case("clip-negative", "negative clipping bound", train("wgan-grid25", "reg.clip=-0.1"), "reg.clip must be > 0"),
    Case("gp-negative", "negative gradient penalty", train("wgan-gp-grid25", "reg.gp=-1"), "reg.gp must be >= 0"),
    Case("ema-range", "weight-average decay 1.5", train("gan-1d", "train.g_ema=1.5"), "train.g_ema must be in [0, 1)"),
    Case("threads-zero", "0 threads", train("gan-1d", "runtime.threads=0"), "runtime.threads must be at least 1"),
    Case("device-unknown", "unknown device", train("gan-1d", "runtime.device=tpu"), "runtime.device must be"),
    Case("eval-every-negative", "negative eval interval", train("gan-1d", "log.eval_every=-5"), "log.eval_every"),
    # -- contradictory settings
    Case("clip-and-gp", "weight clipping and a gradient penalty on one critic", train("wgan-grid25", "reg.gp=10"),
         "use one"),
    Case("gp-on-batch-view", "gradient penalty with D seeing the whole batch", train("gan-1d", "reg.gp=10"),
         "needs per-sample D input"),
    Case("batch-over-data", "batch larger than the data set (drop_last)",
         train("wgan-grid25", "data.points_per_mode=2", "train.batch_size=64"), "larger than the dataset"),
    Case("no-length", "neither train.steps nor train.epochs", train("gan-1d", "train.steps=null"),
         "set how long to train"),
    Case("batch-view-on-2d", "1-D batch view on 2-D data", train("wgan-grid25", "train.d_input=sorted"),
         "is for 1-D data"),
    Case("reuse-n-critic", "fakes reused (G's update, then D's) with 2 D updates an iteration",
         train("gan-grid25", "train.fakes=reuse", "train.d_steps=2"), "train.fakes: reuse"),
    Case("eval-without-metrics", "evaluation during training on data without metrics",
         train("dcgan64-folder", *TINY_FOLDER, "log.eval_every=10"), "log.eval_every", _good_folder),
    # -- the command line
    Case("no-source", "train with nothing to train", ("train",), "--preset NAME"),
    Case("set-without-equals", "--set without '='", train("gan-1d", "train.steps"), "key=value"),
    Case("resume-with-out", "--resume with --out", ("train", "--resume", "run", "--out", "elsewhere"),
         "drop --out", _run()),
    Case("out-exists", "--out an existing run without --overwrite",
         ("train", "--preset", "gan-1d", "--out", "run"), "already exists", _run()),
    Case("overwrite-not-a-run", "--overwrite a folder that is not a run",
         ("train", "--preset", "gan-1d", "--out", "notes", "--overwrite"), "not a gankit run directory",
         _write("notes/todo.txt", "keep me")),
    Case("overwrite-bad-setting", "--overwrite a run with a bad setting (the old run is kept)",
         ("train", "--preset", "gan-1d", "--out", "run", "--overwrite", *_sets("train.batch_size=0")),
         "train.batch_size must be at least 1", _run()),
    Case("sample-n-zero", "sample -n 0", ("sample", "run", "-n", "0"), "-n must be at least 1", _run()),
    Case("eval-n-one", "eval --n 1", ("eval", "run", "--n", "1"), "--n must be at least 2", _run()),
    # -- config files
    Case("config-missing", "missing config file", ("train", "--config", "missing.yaml"), "not found"),
    Case("config-empty", "empty config file", ("train", "--config", "empty.yaml"), "is empty", _write("empty.yaml", "")),
    Case("config-list", "YAML that is not a mapping", ("train", "--config", "list.yaml"), "must be a mapping",
         _write("list.yaml", "- 1\n- 2\n")),
    Case("config-syntax", "YAML syntax error", ("train", "--config", "bad.yaml"), "not valid YAML at line",
         _write("bad.yaml", "name: x\ntrain: {steps: 3\n")),
    Case("config-python-tag", "YAML with a Python tag (code)", ("train", "--config", "evil.yaml"),
         "uses a tag gankit does not load", _write("evil.yaml", "seed: !!python/object/apply:os.system ['touch pwned']\n")),
    Case("config-not-text", "config file that is not text", ("train", "--config", "binary.yaml"),
         "cannot read config file", _write("binary.yaml", b"\xff\xfe\x00\x81 binary")),
    Case("config-newer", "config written by a newer gankit", ("train", "--config", "future.yaml"),
         "newer than this gankit", _write("future.yaml", NEWER_CONFIG)),
    # -- data
    Case("folder-missing", "image folder that does not exist", train("dcgan64-folder", *TINY_FOLDER), "does not exist"),
    Case("folder-no-path", "folder data without a path", train("dcgan64-folder", "train.batch_size=2"), "needs a path"),
    Case("folder-is-file", "image folder that is a file", train("dcgan64-folder", *TINY_FOLDER), "is not a folder",
         _write("pics", "a file")),
    Case("folder-empty", "image folder without images", train("dcgan64-folder", *TINY_FOLDER), "no image files",
         _write("pics/readme.txt", "no images here")),
    Case("folder-all-corrupt", "image folder of a truncated PNG and a text file named .jpg",
         train("dcgan64-folder", *TINY_FOLDER), "2 unreadable image files", _corrupt_folder),
    Case("folder-limit-zero", "data limit 0", train("dcgan64-folder", *TINY_FOLDER, "data.limit=0"),
         "'limit' must be at least 1", _good_folder),
    Case("pixel-range-reversed", "pixel range high < low",
         train("dcgan64-folder", *TINY_FOLDER, "data.pixel_range=[1,-1]"), "low < high", _good_folder),
    Case("pixel-range-mismatch", "data scaled to [0, 1] for a tanh generator",
         train("dcgan64-folder", *TINY_FOLDER, "data.pixel_range=[0,1]"), "set data.pixel_range=[-1,1]", _good_folder),
    # -- run directories and checkpoints
    Case("not-a-run", "sample a path that does not exist", ("sample", "nothing-here"), "does not exist"),
    Case("resume-not-a-run", "resume a folder that is not a run", ("train", "--resume", "notes"),
         "not a gankit run directory", _write("notes/todo.txt", "x")),
    Case("resume-ensemble", "resume an ensemble's folder instead of its members", ("train", "--resume", "ens"),
         "is an ensemble of 1 runs", _write("ens/member_00/config.yaml", "name: x\n")),
    Case("no-checkpoint", "sample a run without a checkpoint", ("sample", "run"), "has no checkpoint yet",
         _run(_no_checkpoint)),
    Case("checkpoint-truncated", "truncated checkpoint", ("sample", "run"), "unreadable or truncated",
         _run(_truncate_checkpoint)),
    Case("checkpoint-not-gankit", "a torch file that is not a gankit checkpoint", ("sample", "run"),
         "is not a gankit checkpoint", _run(_checkpoint([1, 2, 3]))),
    Case("checkpoint-pickled-code", "checkpoint carrying a pickled callable (os.system)", ("sample", "run"),
         "'posix.system', which could run code", _run(_checkpoint({"format": 1, "step": 4, "generator": Pwn()}))),
    Case("checkpoint-other-architecture", "checkpoint of another architecture", ("sample", "run"), "does not fit",
         _run(_other_architecture)),
    Case("resume-other-architecture", "resume with a setting that changes the architecture",
         ("train", "--resume", "run", *_sets("generator.hidden=8")), "does not fit", _run()),
    Case("checkpoint-newer-format", "checkpoint from a newer gankit", ("sample", "run"), "newer gankit",
         _run(_newer_format)),
    Case("run-newer-gankit", "run directory from a newer gankit", ("train", "--resume", "run"),
         "newer than this gankit", _run(_newer_gankit)),
    Case("run-config-corrupt", "run whose config.yaml is not YAML", ("sample", "run"), "not valid YAML",
         _run(lambda run, _runs: (run / "config.yaml").write_text("name: [unclosed\n"))),
    Case("export-no-checkpoint", "export a run without a checkpoint", ("export", "run"), "has no checkpoint yet",
         _run(_no_checkpoint)),
    # -- sweeps (checked before the sweep directory is made)
    Case("sweep-grid-key-misspelt", "sweep --grid over a misspelt setting",
         ("sweep", "--preset", "wgan-grid25", "--grid", "optim.d.lrr=1e-4,1e-3"), "did you mean 'lr'"),
    Case("sweep-range-malformed", "sweep --range without its high end",
         ("sweep", "--preset", "wgan-grid25", "--random", "4", "--range", "optim.d.lr=1e-5"),
         "--range expects key=low:high[:lin|log]"),
    Case("sweep-range-log-zero", "sweep --range on a log scale from 0",
         ("sweep", "--preset", "wgan-grid25", "--random", "4", "--range", "optim.d.lr=0:1e-2:log"),
         "a log range needs low > 0"),
    Case("sweep-random-without-range", "sweep --random without --range",
         ("sweep", "--preset", "wgan-grid25", "--random", "4"), "draws from --range specs"),
    Case("sweep-backend-unknown", "sweep on an unknown back end", ("sweep", "--preset", "wgan-grid25", "--backend", "rya"),
         "did you mean 'ray'"),
    Case("sweep-stop-on-unknown", "sweep --stop-on a verdict that does not exist",
         ("sweep", "--preset", "wgan-grid25", "--stop-on", "mode-colapse"), "did you mean 'mode-collapse'"),
    Case("sweep-other-sweep", "sweep into a directory that holds another sweep",
         ("sweep", "--preset", "wgan-grid25", "--grid", "reg.clip=0.01,0.1", "--out", "sw"), "holds another sweep",
         _write("sw/sweep.json", '{"format": 1, "base": {}, "trials": []}\n')),
]


def make_runs(root: Path) -> dict[str, Path]:
    """The tiny trained runs the cases copy: 'run' (gan-1d, 4 steps) and 'small' (narrower models)."""
    import gankit

    runs = {}
    with contextlib.redirect_stdout(io.StringIO()):
        runs["run"] = gankit.train("gan-1d", out=root / "run", overrides=RUN_SETTINGS, progress=False).path
        runs["small"] = gankit.train("gan-1d", out=root / "small", progress=False,
                                     overrides=[*RUN_SETTINGS, "generator.hidden=8", "discriminator.hidden=8"]).path
    return runs


def run_case(case: Case, root: Path, runs: dict[str, Path], debug: bool = False) -> tuple[int, str]:
    """(exit code, stderr) of the case's command run with `root` (prepared by `case.setup`) as working dir."""
    from gankit.cli import main

    err = io.StringIO()
    before = os.getcwd()
    os.chdir(root)  # (contextlib.chdir is Python 3.11+)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main([*(["--debug"] if debug else []), *case.args])
    finally:
        os.chdir(before)
    return code, err.getvalue()


def command(case: Case) -> str:
    return "gankit " + " ".join(f"'{a}'" if any(c in a for c in " ()'[]") else a for a in case.args)


def table(rows: list[tuple[Case, int, str]]) -> str:
    lines = ["| # | bad input | command | what the user sees (stderr, one line) | exit |", "|---|---|---|---|---|"]
    for n, (case, code, err) in enumerate(rows, 1):
        seen = err.strip()
        seen = seen if len(seen) <= 220 else seen[:217] + "..."
        cells = [str(n), f"{case.what} (`{case.id}`)", f"`{command(case)}`", seen.replace("|", "\\|"), str(code)]
        lines.append("| " + " | ".join(cell.replace("\n", " ") for cell in cells) + " |")
    return "\n".join(lines)


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        runs = make_runs(base / "runs")
        for case in CASES:
            root = base / case.id
            root.mkdir()
            if case.setup is not None:
                case.setup(root, runs)
            code, err = run_case(case, root, runs)
            rows.append((case, code, err))
            print(f"{case.id}: {code} {err.strip()}", file=sys.stderr)
    text = DOC.read_text()
    head, rest = text.split(START)
    _, tail = rest.split(END)
    DOC.write_text(f"{head}{START}\n{table(rows)}\n{END}{tail}")


if __name__ == "__main__":
    main()
