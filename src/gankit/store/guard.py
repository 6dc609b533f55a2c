"""What keeps a user's files safe from gankit: the run marker (`.gankit-run`), the one-writer lock, the
refusal to write through a symbolic link inside a run directory, and outputs outside a run that replace only
a file carrying gankit's mark (`check_output`) (docs/reliability.md, "nothing lost").

- The marker, written when gankit creates a run directory, holds a random run id that config.yaml
  (`run_id`) and every checkpoint also carry: `--overwrite` removes only a directory whose marker and
  config.yaml agree, never a plain file or a folder that merely holds a config.yaml.
- The lock is `fcntl.flock` on the run directory itself (no lock file to leave behind or remove): held
  while a process writes the run, released by the OS when the process dies (kill -9 included), so a
  crashed run resumes at once. The holder's pid is read from /proc/locks (Linux) for the one-line refusal.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from gankit.errors import RunDirError
from gankit.store import layout
from gankit.store.layout import MARKER

_ID = re.compile(r"^[0-9a-f]{32}$")
_HELD: dict[str, int] = {}  # resolved run directory -> the fd whose flock this process holds

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks, one writer is the user's care
    fcntl = None  # type: ignore[assignment]


# ---- the marker -------------------------------------------------------------------------------------------
def new_run_id() -> str:
    return secrets.token_hex(16)


def write_marker(run_dir: Path, run_id: str) -> None:
    from gankit import __version__

    path = run_dir / MARKER
    refuse_link(run_dir, path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o644)
    with os.fdopen(fd, "w") as handle:
        handle.write(json.dumps({"run_id": run_id, "gankit": __version__}) + "\n")


def read_marker(run_dir: Path) -> str | None:
    """The run id of a marked run directory; None when the marker is missing, a link or damaged."""
    path = Path(run_dir) / MARKER
    if path.is_symlink() or not path.is_file():
        return None
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    run_id = found.get("run_id") if isinstance(found, dict) else None
    return run_id if isinstance(run_id, str) and _ID.match(run_id) else None


def config_run_id(run_dir: Path) -> str | None:
    from gankit.configfile import read_yaml_data

    try:
        raw = read_yaml_data(Path(run_dir) / layout.CONFIG)
    except Exception:  # noqa: BLE001 - any damage means: not recognised as a gankit run
        return None
    return raw.get("run_id") if isinstance(raw, dict) else None


def check_overwritable(path: Path) -> None:
    """Refuse, in one line, to --overwrite anything but a directory gankit made as a run."""
    if path.is_symlink():
        raise RunDirError(f"refusing to --overwrite '{path}': it is a symbolic link; gankit removes only run "
                          "directories it made: choose another --out")
    if not path.is_dir():
        raise RunDirError(f"refusing to --overwrite '{path}': it is a file, not a gankit run directory; "
                          "choose another --out")
    if not (path / layout.CONFIG).is_file():
        raise RunDirError(f"refusing to --overwrite '{path}': it is not a gankit run directory")
    marked = read_marker(path)
    if marked is None:
        if (path / layout.CHECKPOINTS).is_dir() or (path / layout.HISTORY).is_file():
            raise RunDirError(f"refusing to --overwrite '{path}': it has no {MARKER} marker (a run from an older "
                              f"gankit, or not a run): remove it yourself if it is yours to lose (rm -r '{path}'), "
                              "or choose another --out")
        raise RunDirError(f"refusing to --overwrite '{path}': it is not a gankit run directory (a config.yaml "
                          f"alone, no {MARKER} marker)")
    if config_run_id(path) != marked:
        raise RunDirError(f"refusing to --overwrite '{path}': its {MARKER} marker and config.yaml belong to different "
                          f"runs; remove it yourself if it is yours to lose (rm -r '{path}'), or choose another --out")
    stray = foreign_entry(path)
    if stray is not None:
        raise RunDirError(f"refusing to --overwrite '{path}': it holds '{stray}', which gankit did not make; move "
                          "what you want to keep out of it (or remove it), or choose another --out")


def foreign_entry(run_dir: Path) -> Path | None:
    """The first file or folder in a run directory that gankit does not write there (`layout.OWN`); None when it
    holds only gankit's own: --overwrite removes a run only then, so notes or code a user put inside are never lost
    with it."""
    for entry in sorted(Path(run_dir).iterdir()):
        folder = entry.is_dir() and not entry.is_symlink()
        if not layout.OWN[""].match(entry.name) or (entry.name in layout.OWN) != folder:
            return entry
        if entry.name in layout.OWN:
            for inner in sorted(entry.iterdir()):
                if not layout.OWN[entry.name].match(inner.name) or inner.is_dir():
                    return inner
    return None


# ---- links ------------------------------------------------------------------------------------------------
def refuse_link(run_dir: Path, path: Path) -> None:
    """Refuse to write `path` when it, or a folder between the run directory and it, is a symbolic link: a
    write would land wherever the link points, outside the run (the run directory itself may be a link)."""
    run_dir, path = Path(run_dir), Path(path)
    try:
        parts = path.relative_to(run_dir).parts
    except ValueError:
        return  # outside the run: a path the user chose (-o)
    here = run_dir
    for part in parts:
        here = here / part
        if here.is_symlink():
            raise RunDirError(f"refusing to write '{path}': '{here}' is a symbolic link (to '{os.readlink(here)}') "
                              "and gankit never writes through a link in a run directory: remove the link, then "
                              "run the command again")


def check_output(path: Path, ours: Callable[[Path], bool], what: str, own: Path | None = None) -> None:
    """Refuse, in one line, an output file outside a run (`-o`, or a default in the working directory) that gankit
    must not replace: a symbolic link (never written through, never removed), a folder, or an existing file that
    `ours` does not find gankit's mark in (an earlier `gankit sample` picture, say, is replaced). `own`: the
    output's default place in a run (report.html, weights.safetensors), gankit's by the run's layout: `path`
    naming it (as written: links are not followed) is not checked here."""
    path = Path(path)
    if own is not None and os.path.normpath(path.absolute()) == os.path.normpath(Path(own).absolute()):
        return
    if path.is_symlink():
        raise RunDirError(f"refusing to write '{path}': it is a symbolic link (to '{os.readlink(path)}') and gankit "
                          "never writes through one: choose another -o")
    if path.is_dir():
        raise RunDirError(f"refusing to write '{path}': it is a folder; give a file name with -o")
    if path.exists() and not ours(path):
        raise RunDirError(f"refusing to replace '{path}': it is not {what} with gankit's mark (it may be yours); "
                          "choose another -o, or remove it yourself if it is yours to lose")


def file_mode() -> int:
    """The mode open() gives a new file: 0o666 less the umask. mkstemp's 0600 would hide gankit's files from the
    user's group and other tools; a fixed 0644 would publish them past a private umask (077)."""
    try:  # read, not set: setting the umask even briefly would change other threads' new files
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # no /proc (macOS): the classic read
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A fresh temporary file beside `path` to write; flushed to the disk, it takes `path`'s place when the block
    ends. The one way gankit replaces a file it made (config.yaml, metrics, pictures, report, exported weights):
    a link at `path` or at a temporary name (symbolic or hard) is replaced, never written through, and a crash
    leaves no half file under its name (resume clears the `.NAME.*.tmp` left behind)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)  # e.g. samples/ at a run's first picture
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)  # O_EXCL: a new file
    os.close(fd)
    try:
        yield Path(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)  # whole on disk before it replaces the old file
        finally:
            os.close(fd)
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    except OSError as err:  # a full disk: the one line names the file meant, not the temporary one
        Path(tmp).unlink(missing_ok=True)
        raise OSError(err.errno, err.strerror or str(err), str(path)) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ---- the lock ---------------------------------------------------------------------------------------------
def lock_run(run_dir: Path) -> None:
    """Take this process's exclusive write lock on a run directory (kept until `unlock_run` or exit); a
    second writer is refused in one line naming the holder."""
    run_dir = Path(run_dir)
    key = str(run_dir.resolve())
    if key in _HELD or fcntl is None:
        return
    fd = os.open(run_dir, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise RunDirError(busy_message(run_dir)) from None
    except OSError:  # a file system without flock (some network mounts): no lock rather than no run
        os.close(fd)
        return
    _HELD[key] = fd


def unlock_run(run_dir: Path) -> None:
    fd = _HELD.pop(str(Path(run_dir).resolve()), None)
    if fd is not None:
        os.close(fd)  # closing the descriptor releases the flock


def writer_pid(run_dir: Path) -> int | None:
    """The pid of another process holding the run's write lock (0 when held by an unknown one); None when
    nobody else holds it."""
    run_dir = Path(run_dir)
    if fcntl is None or str(run_dir.resolve()) in _HELD or not run_dir.is_dir():
        return None
    fd = os.open(run_dir, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _holder(run_dir) or 0
    except OSError:
        return None
    finally:
        os.close(fd)  # (a shared lock taken for the test is released here)
    return None


def writer_name(pid: int | None) -> str:
    """The process holding a run's lock, in words (`writer_pid`'s 0 or None: one /proc/locks did not name)."""
    return f"gankit process {pid}" if pid else "another gankit process"


def busy_message(run_dir: Path) -> str:
    pid = _holder(Path(run_dir))
    who = writer_name(pid)
    stop = f" or stop it (kill {pid})" if pid else ""
    return (f"'{run_dir}' is being written by {who}: one writer per run directory; wait for it to finish{stop}, "
            "or train into another --out (report, compare and eval read it meanwhile)")


def _holder(run_dir: Path) -> int | None:
    """The pid /proc/locks gives for the flock on this directory's inode (Linux; None elsewhere)."""
    try:
        st = os.stat(run_dir)
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return None
    dev = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    for line in lines:
        fields = line.split()
        if "FLOCK" in fields and "->" not in fields and len(fields) >= 6:
            pid, where = fields[4], fields[5]
            if _same_inode(where, dev) and pid.isdigit() and int(pid) != os.getpid():
                return int(pid)
    return None


def _same_inode(where: str, dev: str) -> bool:
    try:
        a, b = where.split(":", 2), dev.split(":", 2)
        return int(a[0], 16) == int(b[0], 16) and int(a[1], 16) == int(b[1], 16) and a[2] == b[2]
    except (ValueError, IndexError):
        return False

