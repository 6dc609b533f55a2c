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


def _all(*setups: Setup) -> Setup:
    def setup(root: Path, runs: dict[str, Path]) -> None:
        for one in setups:
            one(root, runs)

    return setup


def _user_link(name: str) -> Setup:
    """`name` in the working directory, a symbolic link to the user's precious.txt."""

    def setup(root: Path, _runs: dict[str, Path]) -> None:
        (root / "precious.txt").write_text("keep me")
        (root / name).symlink_to("precious.txt")

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


def _unmark(run: Path, _runs: dict[str, Path]) -> None:
    """A run as gankit wrote it before runs carried a .gankit-run marker."""
    import yaml

    (run / ".gankit-run").unlink()
    raw = yaml.safe_load((run / "config.yaml").read_text())
    raw.pop("run_id", None)
    (run / "config.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))


def _foreign_marker(run: Path, _runs: dict[str, Path]) -> None:
    (run / ".gankit-run").write_text('{"run_id": "' + "0" * 32 + '"}\n')


def _link(name: str, target: str = "../outside.txt") -> Callable[[Path, dict[str, Path]], None]:
    def edit(run: Path, _runs: dict[str, Path]) -> None:
        (run.parent / "outside.txt").write_text("not gankit's")
        if (run / name).is_dir():
            shutil.rmtree(run / name)
        else:
            (run / name).unlink(missing_ok=True)
        (run / name).symlink_to(target)

    return edit


def _link_out(root: Path, runs: dict[str, Path]) -> None:
    _run()(root, runs)
    (root / "link").symlink_to("run")


def _damaged_history(run: Path, _runs: dict[str, Path]) -> None:
    lines = (run / "history.jsonl").read_text().splitlines()
    (run / "history.jsonl").write_text("\n".join([lines[0], "{garbage", *lines[1:]]) + "\n")


def _typed_history(value: str) -> Callable[[Path, dict[str, Path]], None]:
    """A history row that is JSON but no row of gankit's: its step is not a whole number."""

    def edit(run: Path, _runs: dict[str, Path]) -> None:
        lines = (run / "history.jsonl").read_text().splitlines()
        (run / "history.jsonl").write_text("\n".join([lines[0], '{"step": ' + value + "}", *lines[1:]]) + "\n")

    return edit


def _user_files(run: Path, _runs: dict[str, Path]) -> None:
    (run / "notes.txt").write_text("my notes on this run")


def _user_folder_in_samples(run: Path, _runs: dict[str, Path]) -> None:
    (run / "samples" / "mycode").mkdir()
    (run / "samples" / "mycode" / "a.py").write_text("print('mine')\n")


def _raw_pickle(protocol: int) -> Callable[[Path, dict[str, Path]], None]:
    def edit(run: Path, _runs: dict[str, Path]) -> None:
        import pickle

        (run / "checkpoints" / "last.pt").write_bytes(pickle.dumps({"generator": Pwn()}, protocol=protocol))

    return edit


def _huge_picture(run: Path, _runs: dict[str, Path]) -> None:
    """A PNG declaring 60,000 x 60,000 pixels (a decompression bomb), small on disk."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 60_000, 60_000, 8, 0, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    (run / "samples" / "step_0000009.png").write_bytes(png)


def _empty_checkpoint(run: Path, _runs: dict[str, Path]) -> None:
    (run / "checkpoints" / "last.pt").write_bytes(b"")


def _duplicate_in_run(run: Path, _runs: dict[str, Path]) -> None:
    (run / "config.yaml").write_text((run / "config.yaml").read_text() + "seed: 3\n")


def _bomb(key: str, levels: int = 9) -> str:
    """A YAML 'billion laughs': each level nine aliases of the one before, the last under `key`."""
    lines = ["name: bomb", "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for n in range(1, levels):
        lines.append(f"a{n}: &a{n} [" + ", ".join([f"*a{n - 1}"] * 9) + "]")
    head, _, tail = key.rpartition(".")
    value = "[" + ", ".join([f"*a{levels - 1}"] * 9) + "]"
    lines.append(f"{head}: {{{tail}: {value}}}" if head else f"{tail}: {value}")
    return "\n".join(lines) + "\n"


def _flow_bomb(levels: int = 9) -> str:
    """The same bomb on one line (YAML flow style), as a --set value."""
    parts = ["&a0 [" + ", ".join(["lol"] * 9) + "]"]
    parts += [f"&a{n} [" + ", ".join([f"*a{n - 1}"] * 9) + "]" for n in range(1, levels)]
    return "[" + ", ".join(parts) + "]"


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
    Case("optimiser-swapped", "--set optim.g.name=sgd on an Adam preset (its betas stay in the section)",
         train("gan-1d", "optim.g.name=sgd"), "'betas' was adam's"),
    Case("data-swapped", "--set data.name=ring8 on a grid25 preset (its rows stay in the section)",
         train("wgan-grid25", "data.name=ring8"), "set it whole instead, e.g. --set 'data={name: ring8}'"),
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
    Case("ema-rampup-range", "weight-average ramp-up 1.5", train("gan-1d", "train.g_ema_rampup=1.5"),
         "train.g_ema_rampup must be in [0, 1]"),
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
    Case("out-not-a-run", "--out an existing folder that is not a run",
         ("train", "--preset", "gan-1d", "--out", "notes"), "is a folder that is not a gankit run",
         _write("notes/todo.txt", "keep me")),
    Case("overwrite-not-a-run", "--overwrite a folder that is not a run",
         ("train", "--preset", "gan-1d", "--out", "notes", "--overwrite"), "not a gankit run directory",
         _write("notes/todo.txt", "keep me")),
    Case("overwrite-bad-setting", "--overwrite a run with a bad setting (the old run is kept)",
         ("train", "--preset", "gan-1d", "--out", "run", "--overwrite", *_sets("train.batch_size=0")),
         "train.batch_size must be at least 1", _run()),
    Case("sample-n-zero", "sample -n 0", ("sample", "run", "-n", "0"), "-n must be at least 1", _run()),
    # -- outputs outside the run: a user's file of that name is never replaced, a link never written through
    Case("sample-out-foreign", "sample -o onto a file gankit did not write", ("sample", "run", "-o", "mine.png"),
         "gankit's mark", _all(_run(), _write("mine.png", "keep me"))),
    Case("sample-default-foreign", "sample where the user has a samples.png of their own", ("sample", "run"),
         "gankit's mark", _all(_run(), _write("samples.png", "keep me"))),
    Case("sample-out-link", "sample -o onto a symbolic link", ("sample", "run", "-o", "link.png"), "symbolic link",
         _all(_run(), _user_link("link.png"))),
    Case("compare-out-foreign", "compare -o onto a page gankit did not write", ("compare", "run", "-o", "mine.html"),
         "gankit's mark", _all(_run(), _write("mine.html", "<p>keep me</p>"))),
    Case("report-out-foreign", "report -o onto a page gankit did not write", ("report", "run", "-o", "mine.html"),
         "gankit's mark", _all(_run(), _write("mine.html", "<p>keep me</p>"))),
    Case("export-out-foreign", "export -o onto a file gankit did not write",
         ("export", "run", "-o", "mine.safetensors"), "gankit's mark", _all(_run(), _write("mine.safetensors", "keep"))),
    Case("eval-n-one", "eval --n 1", ("eval", "run", "--n", "1"), "--n must be at least 2", _run()),
    Case("eval-image-n-three", "eval --n 3 of an image run (precision/recall's 3 neighbours: was a traceback)",
         ("eval", "run", "--n", "3"), "needs at least 4 samples", _run(source="image")),
    # -- config files
    Case("config-missing", "missing config file", ("train", "--config", "missing.yaml"), "not found"),
    Case("config-missing-no-suffix", "missing config file without .yaml (not a preset name either)",
         ("train", "--config", "myconfig"), "config file 'myconfig' not found"),
    Case("config-folder", "--config a folder", ("train", "--config", "notes"), "is a folder, not a YAML config",
         _write("notes/todo.txt", "keep me")),
    Case("config-run-folder", "--config a run directory", ("train", "--config", "run"), "--resume run continues",
         _run()),
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
    Case("sweep-trials-huge", "sweep --random 10**9 (planned in memory for minutes, no output)",
         ("sweep", "--preset", "wgan-grid25", "--random", "1000000000", "--range", "optim.d.lr=1e-5:1e-2:log"),
         "this sweep has 1,000,000,000 trials"),
    Case("sweep-grid-value-twice", "sweep --grid listing one value twice as 1e-3 and 0.001 (two runs of one trial)",
         ("sweep", "--preset", "wgan-grid25", "--grid", "optim.d.lr=1e-3,0.001"), "lists 0.001 twice"),
    Case("sweep-random-without-range", "sweep --random without --range",
         ("sweep", "--preset", "wgan-grid25", "--random", "4"), "draws from --range specs"),
    Case("sweep-backend-unknown", "sweep on an unknown back end", ("sweep", "--preset", "wgan-grid25", "--backend", "rya"),
         "did you mean 'ray'"),
    Case("sweep-stop-on-unknown", "sweep --stop-on a verdict that does not exist",
         ("sweep", "--preset", "wgan-grid25", "--stop-on", "mode-colapse"), "did you mean 'mode-collapse'"),
    Case("sweep-other-sweep", "sweep into a directory that holds another sweep",
         ("sweep", "--preset", "wgan-grid25", "--grid", "reg.clip=0.01,0.1", "--out", "sw"), "holds another sweep",
         _write("sw/sweep.json", '{"format": 1, "base": {}, "trials": []}\n')),
    # -- never destroy or write what gankit did not make (issue 17)
    Case("overwrite-plain-file", "--overwrite a plain file", ("train", "--preset", "gan-1d", "--out", "thesis.tex",
         "--overwrite"), "it is a file, not a gankit run directory", _write("thesis.tex", "years of work")),
    Case("overwrite-config-only", "--overwrite a folder that merely holds a config.yaml",
         ("train", "--preset", "gan-1d", "--out", "proj", "--overwrite"), "a config.yaml alone",
         lambda root, runs: (_write("proj/config.yaml", "name: x\n")(root, runs),
                             _write("proj/thesis.tex", "years of work")(root, runs))),
    Case("overwrite-link", "--overwrite a symbolic link to a run", ("train", "--preset", "gan-1d", "--out", "link",
         "--overwrite"), "it is a symbolic link", _link_out),
    Case("overwrite-unmarked-run", "--overwrite a run from before the .gankit-run marker",
         ("train", "--preset", "gan-1d", "--out", "run", "--overwrite"), "rm -r 'run'", _run(_unmark)),
    Case("overwrite-foreign-marker", "--overwrite a run whose marker and config.yaml disagree",
         ("train", "--preset", "gan-1d", "--out", "run", "--overwrite"), "belong to different runs",
         _run(_foreign_marker)),
    Case("overwrite-run-with-user-file", "--overwrite a run holding a file the user put there",
         ("train", "--preset", "gan-1d", "--out", "run", "--overwrite"), "it holds 'run/notes.txt', which gankit did "
         "not make", _run(_user_files)),
    Case("overwrite-run-with-user-folder", "--overwrite a run holding the user's folder inside samples/",
         ("train", "--preset", "gan-1d", "--out", "run", "--overwrite"), "it holds 'run/samples/mycode'",
         _run(_user_folder_in_samples)),
    Case("ensemble-into-user-folder", "--ensemble 2 --out a folder holding the user's files",
         ("train", "--preset", "wgan-grid25", "--ensemble", "2", "--out", "proj", *_sets("train.steps=2")),
         "holds 'proj/thesis.tex', which is not an ensemble member", _write("proj/thesis.tex", "years of work")),
    Case("ensemble-into-file", "--ensemble 2 --out a plain file",
         ("train", "--preset", "wgan-grid25", "--ensemble", "2", "--out", "thesis.tex", *_sets("train.steps=2")),
         "'thesis.tex' is a file", _write("thesis.tex", "years of work")),
    Case("ensemble-zero", "--ensemble 0 (was one plain run)",
         ("train", "--preset", "wgan-grid25", "--ensemble", "0", *_sets("train.steps=2")), "at least 1 member"),
    Case("ensemble-huge", "--ensemble 100,000 (each member built, one by one, until memory ran out)",
         ("train", "--preset", "grid25-fast", "--ensemble", "100000"), "GiB for its members"),
    Case("resume-config-only", "--resume a folder that merely holds a config.yaml", ("train", "--resume", "proj"),
         "a config.yaml alone", _write("proj/config.yaml", "name: x\ntrain: {steps: 3}\n")),
    Case("report-link-curves", "report with curves.png a link out of the run", ("report", "run"), "symbolic link",
         _run(_link("curves.png"))),
    Case("report-link-html", "report with report.html a link out of the run", ("report", "run"), "symbolic link",
         _run(_link("report.html"))),
    Case("report-link-gif", "report with samples.gif a link out of the run", ("report", "run"), "symbolic link",
         _run(_link("samples.gif"))),
    Case("resume-link-history", "resume with history.jsonl a link out of the run", ("train", "--resume", "run"),
         "symbolic link", _run(_link("history.jsonl"))),
    Case("resume-link-checkpoints", "resume with checkpoints/ a link out of the run", ("train", "--resume", "run"),
         "symbolic link", _run(_link("checkpoints", ".."))),
    Case("resume-link-samples", "resume with samples/ a link out of the run", ("train", "--resume", "run"),
         "symbolic link", _run(_link("samples", ".."))),
    # -- damaged files are reported, not repaired silently
    Case("resume-history-damaged", "resume with a damaged line in the middle of history.jsonl",
         ("train", "--resume", "run"), "line 2 is damaged", _run(_damaged_history)),
    Case("resume-history-step-text", "resume with a history row whose step is text", ("train", "--resume", "run"),
         "line 2 is damaged", _run(_typed_history('"x"'))),
    Case("resume-history-step-null", "resume with a history row whose step is null", ("train", "--resume", "run"),
         "line 2 is damaged", _run(_typed_history("null"))),
    Case("resume-history-step-negative", "resume with a history row whose step is -5", ("train", "--resume", "run"),
         "line 2 is damaged", _run(_typed_history("-5"))),
    Case("raw-pickle-protocol-4", "a raw pickle (protocol 4) as last.pt, sampled", ("sample", "run"),
         "it carries 'posix.system', which could run code", _run(_raw_pickle(4))),
    Case("raw-pickle-protocol-5", "a raw pickle (protocol 5) as last.pt, resumed", ("train", "--resume", "run"),
         "it carries 'posix.system', which could run code", _run(_raw_pickle(5))),
    Case("drop-history-without-resume", "--drop-damaged-history without --resume",
         ("train", "--preset", "gan-1d", "--drop-damaged-history"), "goes with --resume"),
    Case("checkpoint-empty-sample", "sample a run whose last.pt is 0 bytes (nothing to fall back to)",
         ("sample", "run"), "0 bytes", _run(_empty_checkpoint)),
    Case("checkpoint-empty-export", "export a run whose last.pt is 0 bytes", ("export", "run"), "0 bytes",
         _run(_empty_checkpoint)),
    Case("checkpoint-empty-eval", "eval a run whose last.pt is 0 bytes", ("eval", "run"), "0 bytes",
         _run(_empty_checkpoint)),
    Case("checkpoint-empty-resume", "resume a run whose last.pt is 0 bytes", ("train", "--resume", "run"), "0 bytes",
         _run(_empty_checkpoint)),
    Case("checkpoint-cut-resume", "resume a run whose last.pt is cut short", ("train", "--resume", "run"),
         "unreadable or truncated", _run(_truncate_checkpoint)),
    # -- every number in range, memory estimated before allocating
    Case("batch-billion", "batch size of a billion", train("gan-1d", "train.batch_size=1000000000"), "of memory"),
    Case("latent-huge", "latent.dim 10**20", train("gan-1d", "latent.dim=100000000000000000000"),
         "latent.dim must be at most"),
    Case("latent-memory", "latent.dim a million with batch 100,000",
         train("gan-1d", "latent.dim=1000000", "train.batch_size=100000"), "of memory"),
    Case("seed-huge", "seed 2**70", train("gan-1d", "seed=1180591620717411303424"), "seed must be in 0..2**63-1"),
    Case("seed-negative", "seed -1", train("gan-1d", "seed=-1"), "seed must be in 0..2**63-1"),
    Case("steps-huge", "train.steps 10**13", train("gan-1d", "train.steps=10000000000000"),
         "train.steps must be at most"),
    Case("d-steps-huge", "100,000 D updates an iteration", train("wgan-grid25", "train.d_steps=100000"),
         "train.d_steps must be at most"),
    Case("n-samples-huge", "a million images in one picture", train("gan-1d", "log.n_samples=1000000"),
         "log.n_samples must be at most"),
    Case("threads-huge", "100,000 threads", train("gan-1d", "runtime.threads=100000"),
         "runtime.threads must be at most"),
    Case("data-float-infinite", "data.mean 1e400 (read as infinity)", train("gan-1d", "data.mean=1e400"),
         "data.mean must be a finite number"),
    Case("data-std-infinite", "data.std 1e400 (read as infinity)", train("gan-1d", "data.std=1e400"),
         "data.std must be a finite number"),
    Case("loss-label-nan", "a loss setting NaN", train("gan-1d", "loss.real_label=.nan"),
         "'real_label' must be in [0, 1], got nan"),
    Case("width-memory", "generator.hidden 10**8 (the refusal names it)", train("gan-1d", "generator.hidden=100000000"),
         "generator.hidden=100,000,000"),
    Case("part-int-huge", "a part's whole number over 2**53", train("wgan-grid25", "data.points_per_mode=10**20"),
         "must be a whole number"),
    Case("part-int-overflow", "a part's whole number 2**70", train("wgan-grid25",
         "data.points_per_mode=1180591620717411303424"), "data.points_per_mode must be at most 2**53"),
    Case("sample-n-huge", "sample -n 10**12", ("sample", "run", "-n", "1000000000000"), "-n must be at most", _run()),
    Case("sample-walks-huge", "sample --interpolate -n 100,000", ("sample", "run", "--interpolate", "-n", "100000"),
         "-n must be at most 1,000", _run()),
    Case("sample-seed-negative", "sample --seed -1", ("sample", "run", "--seed", "-1"), "--seed must be in", _run()),
    Case("eval-n-huge", "eval --n 10**12", ("eval", "run", "--n", "1000000000000"), "--n must be at most", _run()),
    # -- config limits: no alias bomb, no duplicate key
    Case("config-bomb-description", "YAML alias bomb under a known key (description)",
         ("train", "--config", "bomb.yaml"), "expands to more than", _write("bomb.yaml", _bomb("description"))),
    Case("config-bomb-anchors-inside", "YAML alias bomb whose anchors all live inside description (the issue's case)",
         ("train", "--config", "bomb.yaml"), "expands to more than",
         _write("bomb.yaml", "name: bomb\ndescription: " + _flow_bomb() + "\ntrain: {steps: 3}\n")),
    Case("config-bomb-unknown", "YAML alias bomb under an unknown key", ("train", "--config", "bomb.yaml"),
         "expands to more than", _write("bomb.yaml", _bomb("lulz"))),
    Case("config-bomb-nested", "YAML alias bomb inside a section (data.name)", ("train", "--config", "bomb.yaml"),
         "expands to more than", _write("bomb.yaml", _bomb("data.name"))),
    Case("set-bomb", "YAML alias bomb in a --set value", train("gan-1d", "description=" + _flow_bomb()),
         "--set description expands to more than"),
    Case("set-too-big", "--set value of 2 MB", train("gan-1d", "description=" + "x" * 2_000_000),
         "--set description is 2,000,000 characters, over gankit's limit"),
    Case("config-long-list", "a plain list of 300,000 values (no alias)", ("train", "--config", "long.yaml"),
         "(a very long list,", _write("long.yaml", "name: long\ndescription: [" + "1, " * 300_000 + "1]\n")),
    Case("config-recursive-alias", "YAML alias that contains itself", ("train", "--config", "loop.yaml"),
         "expands to more than", _write("loop.yaml", "name: loop\ndescription: &a [*a]\n")),
    Case("config-too-big", "config file of 2 MB", ("train", "--config", "big.yaml"), "over gankit's limit",
         _write("big.yaml", "name: big\ndescription: '" + "x" * 2_000_000 + "'\n")),
    Case("config-duplicate-key", "the same setting twice", ("train", "--config", "dup.yaml"),
         "sets 'seed' twice in one section (lines 2 and 4)", _write("dup.yaml", "name: d\nseed: 1\ntrain: {steps: 3}\nseed: 2\n")),
    Case("config-duplicate-nested", "the same setting twice inside a section", ("train", "--config", "dup.yaml"),
         "sets 'steps' twice in one section (lines 3 and 4)", _write("dup.yaml", "name: d\ntrain:\n  steps: 3\n  steps: 4\n")),
    Case("config-duplicate-section", "the same section twice", ("train", "--config", "dup.yaml"),
         "sets 'train' twice", _write("dup.yaml", "name: d\ntrain: {steps: 3}\ntrain: {batch_size: 8}\n")),
    Case("run-config-duplicate", "a run whose config.yaml sets a key twice", ("sample", "run"), "sets 'seed' twice",
         _run(_duplicate_in_run)),
]


def make_runs(root: Path) -> dict[str, Path]:
    """The tiny trained runs the cases copy: 'run' (gan-1d, 4 steps), 'small' (narrower models), 'image'."""
    import gankit

    runs = {}
    with contextlib.redirect_stdout(io.StringIO()):
        runs["run"] = gankit.train("gan-1d", out=root / "run", overrides=RUN_SETTINGS, progress=False).path
        runs["small"] = gankit.train("gan-1d", out=root / "small", progress=False,
                                     overrides=[*RUN_SETTINGS, "generator.hidden=8", "discriminator.hidden=8"]).path
        runs["image"] = gankit.train("mnist-fast", out=root / "image", progress=False,
                                     overrides=[*RUN_SETTINGS, "data.limit=64", "train.batch_size=16",
                                                "train.minutes=null", "log.n_samples=16"]).path
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
    args = [a if len(a) <= 120 else f"{a[:60]}...({len(a):,} characters)" for a in case.args]
    return "gankit " + " ".join(f"'{a}'" if any(c in a for c in " ()'[]") else a for a in args)


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
