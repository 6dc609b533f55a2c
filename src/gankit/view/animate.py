"""An animated GIF of a run's sample pictures over training (samples/step_*.png, in step order)."""

from __future__ import annotations

import re
from pathlib import Path

from PIL import Image

from gankit.store.layout import SAMPLES

FRAME_MS = 400
HOLD_MS = 2000  # the last frame stays up, so the loop's end is readable
MAX_FRAMES = 40
WIDTH = 560
STEP_PNG = re.compile(r"step_(\d+)\.png$")


def sample_pictures(run_dir: str | Path) -> list[tuple[int, Path]]:
    """(step, path) of every training picture of a run, in step order."""
    found = []
    for path in (Path(run_dir) / SAMPLES).glob("step_*.png"):
        match = STEP_PNG.search(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found)


def spread(items: list, limit: int) -> list:
    """At most `limit` items evenly spread over the list, the first and the last always among them."""
    if len(items) <= limit:
        return list(items)
    if limit < 2:
        return items[-1:]
    picks = sorted({round(i * (len(items) - 1) / (limit - 1)) for i in range(limit)})
    return [items[i] for i in picks]


def samples_gif(
    pictures: list[Path],
    path: str | Path,
    width: int = WIDTH,
    max_frames: int = MAX_FRAMES,
) -> Path:
    """Write the pictures as one looping GIF, each scaled to `width` and centred on a common canvas.

    The pictures of a 2-D run differ by a few pixels in size (tight bounding boxes); a common canvas keeps
    the axes from jumping between frames."""
    if not pictures:
        raise ValueError("no pictures to animate")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = []
    for picture in spread(list(pictures), max_frames):
        with Image.open(picture) as im:
            rgb = im.convert("RGB")
        height = max(1, round(rgb.height * width / rgb.width))
        frames.append(rgb.resize((width, height), Image.Resampling.LANCZOS))
    canvas_h = max(f.height for f in frames)
    padded = []
    for frame in frames:
        canvas = Image.new("RGB", (width, canvas_h), "white")
        canvas.paste(frame, (0, (canvas_h - frame.height) // 2))
        # One adaptive palette per frame: contour maps keep their gradients (the web palette bands them).
        padded.append(canvas.quantize(colors=256, method=Image.Quantize.MEDIANCUT))
    durations = [FRAME_MS] * (len(padded) - 1) + [HOLD_MS]
    padded[0].save(
        path, format="GIF", save_all=True, append_images=padded[1:], duration=durations, loop=0, optimize=False
    )
    return path
