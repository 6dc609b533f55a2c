"""gankit's mark on the files it writes outside a run (pictures, pages), so a later command can tell its own
output, which it may replace, from a user's file of the same name, which it must not (store.guard.check_output)."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from gankit import __version__

SOFTWARE = f"gankit {__version__}"
PNG = {"Software": SOFTWARE}  # a PNG's text chunk (matplotlib's savefig metadata, PIL's pnginfo)
PAGE = f'<meta name="generator" content="{SOFTWARE}">'  # in an HTML page's head


def is_gankit_png(path: Path) -> bool:
    """Whether `path` is a PNG gankit drew."""
    try:
        with Image.open(path) as image:
            return image.format == "PNG" and str(image.info.get("Software", "")).startswith("gankit ")
    except (OSError, ValueError, Image.DecompressionBombError):
        return False


def is_gankit_page(path: Path) -> bool:
    """Whether `path` is an HTML page gankit wrote (its generator tag, in the head)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096)
    except OSError:
        return False
    return b'<meta name="generator" content="gankit ' in head
