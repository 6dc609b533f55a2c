"""Nothing lost, ever (issue 17, docs/reliability.md): gankit removes and writes only what it made, one writer
per run directory, damaged files reported rather than silently repaired, a real full disk, evaluation on a cold
classifier cache, and a resume before the first checkpoint that says what it does."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import gankit
from gankit import config
from gankit.cli import main
from gankit.store import guard, rundir
from gankit.store.checkpoint import load_checkpoint

SMALL = ["runtime.threads=1", "train.steps=6", "log.every=2", "log.sample_every=3", "log.checkpoint_every=3",
         "log.eval_every=0"]


def _sets(items):
    return [arg for item in items for arg in ("--set", item)]


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("gankit: error: ") and "Traceback" not in err, err
    return err


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    return gankit.train("gan-1d", out=tmp_path_factory.mktemp("small") / "run", overrides=SMALL, progress=False).path


@pytest.fixture
def run_copy(small_run, tmp_path):
    path = tmp_path / "run"
    shutil.copytree(small_run, path, symlinks=True)
    return path


# ---- 1. never destroy or write what gankit did not make -------------------------------------------------------
def test_a_new_run_carries_one_id_in_its_marker_config_and_checkpoints(small_run):
    run_id = guard.read_marker(small_run)
    assert run_id and len(run_id) == 32
    assert yaml.safe_load((small_run / rundir.CONFIG).read_text())["run_id"] == run_id
    assert load_checkpoint(small_run / rundir.LAST)["run_id"] == run_id


@pytest.mark.parametrize("victim", ["folder-with-config", "plain-file", "link-to-run", "marker-of-another-run",
                                    "marker-is-a-link"])
def test_overwrite_removes_nothing_gankit_did_not_make(victim, run_copy, tmp_path, capsys):
    out = tmp_path / "target"
    if victim == "folder-with-config":
        out.mkdir()
        (out / "config.yaml").write_text("name: thesis\n")
        (out / "thesis.tex").write_text("years of work")
    elif victim == "plain-file":
        out.write_text("years of work")
    elif victim == "link-to-run":
        out.symlink_to(run_copy)
    elif victim == "marker-of-another-run":
        shutil.copytree(run_copy, out)
        guard.write_marker(out, guard.new_run_id())  # the marker no longer matches config.yaml's run_id
    else:
        shutil.copytree(run_copy, out)
        (out / guard.MARKER).unlink()
        (out / guard.MARKER).symlink_to(run_copy / guard.MARKER)
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    assert main(["train", "--preset", "gan-1d", "--out", str(out), "--overwrite", "--no-progress", *_sets(SMALL)]) == 2
    assert "refusing to --overwrite" in _one_error_line(capsys)
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before
    if victim == "folder-with-config":
        assert (out / "thesis.tex").read_text() == "years of work"
    if victim == "plain-file":
        assert out.read_text() == "years of work"


def test_outputs_outside_the_run_carry_gankits_mark_and_a_second_command_replaces_them(run_copy, tmp_path,
                                                                                      monkeypatch, capsys):
    # the refusals (a user's file of the same name, a link) are cases of the bad-input catalogue
    from gankit.store.export import is_gankit_weights
    from gankit.view.marks import is_gankit_page, is_gankit_png

    monkeypatch.chdir(tmp_path)
    outputs = {("sample", "-n", "4"): ("samples.png", is_gankit_png), ("compare",): ("compare.html", is_gankit_page),
               ("report", "-o", "page.html"): ("page.html", is_gankit_page),
               ("export", "-o", "w.safetensors"): ("w.safetensors", is_gankit_weights)}
    for (command, *rest), (name, marked) in outputs.items():
        for _ in range(2):  # the second time over the first's output
            assert main([command, str(run_copy), *rest]) == 0, capsys.readouterr().err
            assert marked(tmp_path / name), name
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == sorted(
        ["run", *(name for name, _ in outputs.values())])  # no temporary file left beside them


def test_overwrite_replaces_a_run_gankit_made(run_copy, capsys):
    old = guard.read_marker(run_copy)
    assert main(["train", "--preset", "gan-1d", "--out", str(run_copy), "--overwrite", "--no-progress",
                 *_sets(SMALL)]) == 0
    assert guard.read_marker(run_copy) not in (None, old)


def _unmark(run: Path) -> None:
    """A run as gankit wrote it before the marker existed."""
    (run / guard.MARKER).unlink()
    raw = yaml.safe_load((run / rundir.CONFIG).read_text())
    del raw["run_id"]
    (run / rundir.CONFIG).write_text(yaml.safe_dump(raw, sort_keys=False))


def test_a_run_from_before_the_marker_still_resumes_reports_and_evaluates_but_is_not_overwritten(run_copy, capsys):
    _unmark(run_copy)
    assert main(["train", "--preset", "gan-1d", "--out", str(run_copy), "--overwrite", "--no-progress"]) == 2
    err = _one_error_line(capsys)
    assert "no .gankit-run marker" in err and f"rm -r '{run_copy}'" in err
    assert main(["report", str(run_copy)]) == 0
    assert main(["eval", str(run_copy)]) == 0
    assert gankit.train(None, resume=run_copy, overrides=["train.steps=8"], progress=False).step == 8


@pytest.mark.parametrize("name", ["report.html", "curves.png", "samples.gif"])
def test_report_never_writes_through_a_link_in_the_run(name, run_copy, tmp_path, capsys):
    outside = tmp_path / "precious.txt"
    outside.write_text("keep me")
    (run_copy / name).symlink_to(outside)
    assert main(["report", str(run_copy)]) == 2
    assert "symbolic link" in _one_error_line(capsys)
    assert outside.read_text() == "keep me"


@pytest.mark.parametrize("name", ["history.jsonl", "checkpoints", "samples"])
def test_training_never_writes_through_a_link_in_the_run(name, run_copy, tmp_path, capsys):
    outside = tmp_path / "outside"
    shutil.move(run_copy / name, outside)
    (run_copy / name).symlink_to(outside)
    before = {str(p): p.read_bytes() for p in ([outside] if outside.is_file() else outside.rglob("*"))}
    assert main(["train", "--resume", str(run_copy), "--no-progress", *_sets(["train.steps=9"])]) == 2
    assert "symbolic link" in _one_error_line(capsys)
    assert {str(p): p.read_bytes() for p in ([outside] if outside.is_file() else outside.rglob("*"))} == before


# ---- 2. one writer per run directory --------------------------------------------------------------------------
def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "gankit", *args]


def test_a_second_writer_is_refused_naming_the_holder_and_readers_keep_working(tmp_path):
    out = tmp_path / "run"
    long = ["runtime.threads=1", "train.steps=10000000", "log.every=10", "log.checkpoint_every=20",
            "log.sample_every=1000000", "log.eval_every=0"]
    holder = subprocess.Popen(_cli("train", "--preset", "gan-1d", "--out", str(out), "--no-progress", *_sets(long)),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while not (out / rundir.LAST).is_file() and time.monotonic() < deadline and holder.poll() is None:
            time.sleep(0.2)
        assert holder.poll() is None
        for second in (["train", "--resume", str(out)],
                       ["train", "--preset", "gan-1d", "--out", str(out), "--overwrite", *_sets(SMALL)]):
            proc = subprocess.run(check=False, args=_cli(*second, "--no-progress"), capture_output=True, text=True, timeout=300)
            assert proc.returncode == 2, proc.stderr
            assert proc.stderr.strip().splitlines() == [
                f"gankit: error: {guard.busy_message(out)}"], proc.stderr
            assert f"process {holder.pid}" in proc.stderr
        # readers: report writes its own files; eval prints the metrics and leaves metrics.json to the writer
        assert subprocess.run(check=False, args=_cli("report", str(out)), capture_output=True, timeout=300).returncode == 0
        proc = subprocess.run(check=False, args=_cli("eval", str(out)), capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0 and "verdict:" in proc.stdout and f"pid {holder.pid}" in proc.stderr
        assert not (out / rundir.METRICS).exists()
    finally:
        holder.send_signal(signal.SIGKILL)  # what a crash does: the OS releases the lock
        holder.wait(timeout=60)
    step = load_checkpoint(out / rundir.LAST)["step"]
    assert gankit.train(None, resume=out, overrides=[f"train.steps={step + 2}"], progress=False).step == step + 2


def test_a_run_in_training_without_a_checkpoint_yet_says_so_not_train_it_first(run_copy, capsys):
    shutil.rmtree(run_copy / rundir.CHECKPOINTS)  # as a run is before its first checkpoint
    hold = ("import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDONLY); fcntl.flock(fd, fcntl.LOCK_EX); "
            "print('held', flush=True); time.sleep(120)")
    holder = subprocess.Popen([sys.executable, "-c", hold, str(run_copy)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert main(["sample", str(run_copy), "-o", str(run_copy.parent / "s.png")]) == 2
        err = _one_error_line(capsys)
        assert f"is being trained by gankit process {holder.pid} and has no checkpoint yet" in err
        assert "log.checkpoint_every" in err and "train it first" not in err
    finally:
        holder.kill()
        holder.wait(timeout=60)
    assert main(["sample", str(run_copy), "-o", str(run_copy.parent / "s.png")]) == 2
    assert "has no checkpoint yet (checkpoints/last.pt): train it first" in _one_error_line(capsys)


# ---- 3. damaged files reported, not repaired silently --------------------------------------------------------
def _damage_history(run: Path) -> list[dict]:
    lines = (run / rundir.HISTORY).read_text().splitlines()
    lines.insert(1, "garbage {not json")
    (run / rundir.HISTORY).write_text("\n".join(lines) + "\n")
    return [json.loads(line) for i, line in enumerate(lines) if i != 1]


def test_a_damaged_history_line_stops_resume_in_one_line_and_changes_nothing(run_copy, capsys):
    _damage_history(run_copy)
    before = (run_copy / rundir.HISTORY).read_bytes()
    assert main(["train", "--resume", str(run_copy), "--no-progress", *_sets(["train.steps=8"])]) == 2
    err = _one_error_line(capsys)
    assert f"'{run_copy / rundir.HISTORY}' line 2 is damaged" in err and "--drop-damaged-history" in err
    assert (run_copy / rundir.HISTORY).read_bytes() == before


def test_drop_damaged_history_moves_the_line_aside_and_keeps_every_valid_row(run_copy, capsys):
    valid = _damage_history(run_copy)
    assert main(["train", "--resume", str(run_copy), "--drop-damaged-history", "--no-progress",
                 *_sets(["train.steps=8"])]) == 0
    rows = rundir.read_history(run_copy / rundir.HISTORY)
    assert rows[: len(valid)] == valid and rows[-1]["step"] == 8
    assert (run_copy / "history.jsonl.damaged").read_text() == "2: garbage {not json\n"


def test_readers_skip_a_damaged_history_line_without_losing_the_rows_after_it(run_copy):
    valid = _damage_history(run_copy)
    assert rundir.read_history(run_copy / rundir.HISTORY) == valid


@pytest.mark.parametrize("damage", ["empty", "cut"])
@pytest.mark.parametrize("command", [["sample"], ["export"], ["eval"], ["train", "--resume"]])
def test_a_damaged_last_pt_falls_back_to_the_newest_whole_checkpoint_saying_so(command, damage, run_copy, tmp_path,
                                                                              capsys):
    last = run_copy / rundir.LAST
    shutil.copy(last, run_copy / "checkpoints" / "step_0000006.pt")  # what log.keep_checkpoints leaves
    last.write_bytes(b"" if damage == "empty" else last.read_bytes()[:500])
    extra = ["-o", str(tmp_path / "out.png")] if command == ["sample"] else []
    if command[0] == "train":
        extra = ["--no-progress", *_sets(["train.steps=8"])]
    assert main([*command, str(run_copy), *extra]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "warning" in err[0] and "step_0000006.pt' (step 6) instead" in err[0], err
    assert ("0 bytes" if damage == "empty" else "unreadable or truncated") in err[0]


def test_report_skips_a_damaged_picture_with_a_warning_naming_it(run_copy, capsys):
    pictures = sorted((run_copy / "samples").glob("step_*.png"))
    pictures[1].write_bytes(pictures[1].read_bytes()[:100])
    assert main(["report", str(run_copy)]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"skipping damaged picture '{pictures[1]}'" in err[0]
    assert (run_copy / "report.html").is_file()


def test_report_skips_a_decompression_bomb_picture_with_a_warning(run_copy, capsys):
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    bomb = run_copy / "samples" / "step_0000009.png"  # 60,000 x 60,000 pixels declared, 60 bytes on disk
    bomb.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 60_000, 60_000, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))
    assert main(["report", str(run_copy)]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"skipping damaged picture '{bomb}'" in err[0]


@pytest.mark.parametrize("name", ["report.html", "curves.png", "samples.gif"])
def test_report_replaces_a_hard_link_in_the_run_never_writing_through_it(name, run_copy, tmp_path):
    outside = tmp_path / "precious.txt"
    outside.write_text("keep me")
    (run_copy / name).unlink(missing_ok=True)
    os.link(outside, run_copy / name)  # a hard link: the same file under the run's name
    assert main(["report", str(run_copy)]) == 0
    assert outside.read_text() == "keep me"
    assert not os.path.samefile(outside, run_copy / name) and (run_copy / name).stat().st_size > 100


def test_a_history_row_without_a_whole_step_is_damaged_not_a_traceback(run_copy, capsys):
    lines = (run_copy / "history.jsonl").read_text().splitlines()
    (run_copy / "history.jsonl").write_text("\n".join([lines[0], '{"step": "x"}', "{}", *lines[1:]]) + "\n")
    assert main(["train", "--resume", str(run_copy), "--no-progress"]) == 2
    assert "line 2 is damaged (and 1 more)" in _one_error_line(capsys)
    assert len(rundir.read_history(run_copy / "history.jsonl")) == len(lines)  # readers keep every real row


# ---- 4. numbers in range: a seed at either end works end to end ------------------------------------------------
@pytest.mark.parametrize("seed", [0, 2**63 - 1])
def test_the_largest_and_smallest_seeds_train_and_evaluate(seed, tmp_path):
    run = gankit.train("gan-1d", out=tmp_path / "run", overrides=[*SMALL, f"seed={seed}"], progress=False)
    assert run.step == 6 and json.loads((run.path / rundir.METRICS).read_text())["verdict"]


# ---- 5. a real full disk (tmpfs) --------------------------------------------------------------------------------
def _mount_tmpfs_prefix(where: Path, size: str) -> list[str] | None:
    """A command prefix that runs its command with a fresh tmpfs of `size` mounted at `where` (a private mount
    namespace: nothing outside the test sees it); None where mounting is not allowed."""
    if not shutil.which("unshare"):
        return None
    probe = subprocess.run(check=False, args=["unshare", "-rm", "sh", "-c", f"mount -t tmpfs -o size={size} tmpfs '{where}'"],
                           capture_output=True)
    if probe.returncode != 0:
        return None
    return ["unshare", "-rm", "sh", "-c", f'mount -t tmpfs -o size={size} tmpfs "$0" && exec "$@"',
            str(where)]


@pytest.mark.parametrize("what, settings", [
    ("checkpoints", ["log.checkpoint_every=1", "log.keep_checkpoints=true", "log.sample_every=1000000"]),
    ("pictures", ["log.checkpoint_every=2", "log.sample_every=1"]),
])
def test_a_real_full_disk_is_one_line_and_keeps_the_last_good_checkpoint(what, settings, tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    prefix = _mount_tmpfs_prefix(disk, "2m")
    if prefix is None:
        pytest.skip("mounting a tmpfs is not allowed here (needs root or unprivileged user namespaces)")
    out = disk / "run"
    script = (f"import sys; from gankit.cli import main; code = main(sys.argv[1:]); "
              f"from gankit.store.checkpoint import load_checkpoint; "
              f"print('LAST', load_checkpoint('{out / rundir.LAST}')['step']); "
              f"import pathlib; print('TMP', [str(p) for p in pathlib.Path('{out}').rglob('.*tmp')]); sys.exit(code)")
    args = ["train", "--preset", "gan-1d", "--out", str(out), "--no-progress",
            *_sets(["runtime.threads=1", "train.steps=100000", "log.every=1", "log.eval_every=0", *settings])]
    proc = subprocess.run(check=False, args=[*prefix, sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2, proc.stderr
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and "No space left on device" in err[0] and "Traceback" not in proc.stderr, proc.stderr
    last = int(proc.stdout.split("LAST ")[1].split()[0])
    assert last >= 1 and f"the last checkpoint (step {last}) is kept" in err[0]
    assert "TMP []" in proc.stdout  # no half-written file left


def test_a_full_disk_names_the_file_meant_when_history_or_report_writes_fail(tmp_path, monkeypatch):
    import errno

    def full(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    history = rundir.History(tmp_path / "history.jsonl")
    with monkeypatch.context() as patch:  # the open succeeds, the write fails: what a full disk does
        patch.setattr(rundir.os, "fdopen", lambda fd, mode: _FullFile(fd))
        with pytest.raises(OSError) as err:
            history.append({"step": 1})
    assert err.value.errno == errno.ENOSPC and err.value.filename == str(history.path)
    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(OSError) as err, guard.replacing(tmp_path / "report.html") as tmp:
        tmp.write_text("page")
    assert err.value.filename == str(tmp_path / "report.html")
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []  # the temporary file is gone


class _FullFile:
    """A file object whose writes fail as on a full disk."""

    def __init__(self, fd: int) -> None:
        os.close(fd)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None

    def write(self, _text: str) -> int:
        import errno

        raise OSError(errno.ENOSPC, "No space left on device")

    def flush(self) -> None:
        pass


# ---- 6. evaluation during training on a cold classifier cache ------------------------------------------------
def test_evaluation_during_training_trains_the_classifier_on_a_cold_cache(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "empty-cache"))
    code = main(["train", "--preset", "gan-mlp-mnist", "--out", str(tmp_path / "run"), "--no-progress",
                 *_sets(["data.name=digits", "log.eval_every=2", "train.steps=4", "runtime.threads=1"])])
    assert code == 0, capsys.readouterr().err
    assert list((tmp_path / "empty-cache" / "classifiers").glob("*.pt"))
    evals = [r for r in rundir.read_history(tmp_path / "run" / rundir.HISTORY) if "eval" in r]
    assert [r["step"] for r in evals] == [2, 4] and "fid_lenet" in evals[0]["eval"]
    assert (tmp_path / "run" / rundir.BEST).is_file()


def test_an_unwritable_cache_costs_a_warning_not_the_evaluation(tmp_path, monkeypatch, capsys):
    (tmp_path / "a-file").write_text("not a folder")
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "a-file"))  # e.g. a read-only home: mkdir fails
    code = main(["train", "--preset", "gan-mlp-mnist", "--out", str(tmp_path / "run"), "--no-progress",
                 *_sets(["data.name=digits", "log.eval_every=0", "train.steps=2", "runtime.threads=1"])])
    assert code == 0, capsys.readouterr().err
    capsys.readouterr()
    assert main(["eval", str(tmp_path / "run"), "--json"]) == 0
    out, err = capsys.readouterr()
    assert "fid_lenet" in json.loads(out)
    warned = [line for line in err.splitlines() if line.startswith("gankit: warning: cannot cache")]
    assert len(warned) == 2 and "GANKIT_CACHE" in warned[0], err  # the classifier, the real features
    assert (tmp_path / "a-file").read_text() == "not a folder"


# ---- 8. flat memory with pictures, evaluation and TensorBoard on ----------------------------------------------
def test_pictures_evaluations_and_tensorboard_leave_the_python_heap_flat(tmp_path):
    """What a long run repeats (a picture, an evaluation, TensorBoard rows, a checkpoint) keeps nothing behind:
    the Python heap (numpy's arrays included, tracemalloc) at step 200 and at step 400, ten of each between."""
    import gc
    import tracemalloc

    from gankit.training.trainer import Trainer

    pytest.importorskip("tensorboard")
    sets = ["runtime.threads=1", "train.steps=400", "log.every=10", "log.sample_every=20", "log.eval_every=20",
            "log.checkpoint_every=100", "log.tensorboard=true", "generator.hidden=8", "discriminator.hidden=8",
            "train.batch_size=64", "runtime.compile=false"]
    trainer = Trainer(config.resolve_config("gan-1d", sets), tmp_path / "run", progress=False)
    rundir.open_run_dir(trainer, resume=False)
    heap: dict[int, int] = {}
    after = trainer.after_iteration

    def measured(started: float, end: int):
        row = after(started, end)
        if trainer.step in (200, 400):
            gc.collect()
            heap[trainer.step] = tracemalloc.get_traced_memory()[0]
        return row

    trainer.after_iteration = measured
    tracemalloc.start()
    try:
        trainer.train()
    finally:
        tracemalloc.stop()
    # measured 730 -> 736 KiB (gan-1d, Zen 5); a figure or an evaluation kept per cycle is tens of KiB or more
    assert heap[400] - heap[200] < 64 * 1024, f"the heap grew {(heap[400] - heap[200]) / 1024:.0f} KiB in 10 cycles"


# ---- 9. killed before the first checkpoint ------------------------------------------------------------------
def test_a_resume_before_the_first_checkpoint_says_it_restarts_from_step_0(tmp_path, capsys):
    out = tmp_path / "run"
    env = {**os.environ, "GANKIT_FAULT": "kill_mid_step:step=4"}
    settings = ["runtime.threads=1", "train.steps=12", "log.every=2", "log.checkpoint_every=10", "log.eval_every=0"]
    proc = subprocess.run(check=False, args=_cli("train", "--preset", "gan-1d", "--out", str(out), "--no-progress", *_sets(settings)),
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == -signal.SIGKILL and not (out / rundir.LAST).exists()
    assert main(["train", "--resume", str(out), "--no-progress"]) == 0
    assert "has no checkpoint yet (stopped before the first one): restarting it from step 0" in capsys.readouterr().out
    assert [r["step"] for r in rundir.read_history(out / rundir.HISTORY) if "loss_d" in r] == [2, 4, 6, 8, 10, 12]


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_a_runs_files_take_the_users_umask_as_open_would(umask, tmp_path):
    # checkpoints and replaced files are written to temporary names first (mkstemp: 0600)
    old = os.umask(umask)
    try:
        run = gankit.train("gan-1d", out=tmp_path / "run", overrides=SMALL, progress=False).path
    finally:
        os.umask(old)
    files = [p for p in run.rglob("*") if p.is_file()]
    modes = {str(p.relative_to(run)): p.stat().st_mode & 0o777 for p in files}
    assert {"checkpoints/last.pt", "config.yaml", "metrics.json", "history.jsonl"} <= set(modes)
    assert any(name.startswith("samples/") for name in modes)
    assert set(modes.values()) == {0o666 & ~umask}, modes
