"""Self-contained HTML pages: inline CSS and JS, pictures as data: URIs, nothing fetched from anywhere.

The Content-Security-Policy header forbids every network load (default-src 'none'; images from data: only),
so a page that opens offline today cannot start depending on a CDN tomorrow without the browser refusing it.
Every text that reaches a page goes through `esc` (html.escape); only this module writes markup.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

from PIL import Image

from gankit.view.marks import PAGE

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1150px;
       padding: 0 1em; color: #222; line-height: 1.4; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 1.6em; }
.sub { color: #666; margin-top: 0; }
table { border-collapse: collapse; font-size: 0.92em; }
th, td { border: 1px solid #ddd; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
th.sortable { cursor: pointer; user-select: none; } th.sortable::after { content: " \\2195"; color: #999; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.headline td { font-weight: bold; }
pre { background: #f7f7f7; border: 1px solid #e4e4e4; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
img { max-width: 100%; height: auto; }
body.wide { max-width: none; } td img.thumb { max-width: none; }
td.evidence { min-width: 18em; max-width: 28em; }
.verdict { display: inline-block; padding: 0.15em 0.6em; border-radius: 0.3em; font-weight: bold;
           background: #eee; }
.verdict.converged { background: #d8f0d8; color: #145214; }
.verdict.diverged, .verdict.mode-collapse, .verdict.discriminator-won { background: #f8d7d7; color: #7a1414; }
.verdict.oscillating, .verdict.undertrained { background: #fcefd0; color: #6b4a00; }
.verdict.not-evaluated, .verdict.inconclusive { background: #e8e8e8; color: #444; }
.note { color: #555; font-size: 0.92em; }
.strip { display: flex; flex-wrap: wrap; gap: 0.8em; }
.strip figure { margin: 0; width: 230px; } .strip figcaption { text-align: center; font-size: 0.85em; color: #555; }
code { background: #f2f2f2; padding: 0.05em 0.3em; border-radius: 0.2em; }
"""

# Click a header to sort by its column; click again to reverse. Cells sort by data-sort when set (a number),
# else by their text; rows without a value go last. `data-sort-ready` on the table says the script ran.
SORT_JS = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  var heads = table.querySelectorAll("th");
  heads.forEach(function (th, col) {
    if (th.classList.contains("nosort")) return;
    th.classList.add("sortable");
    th.addEventListener("click", function () {
      var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
      var dir = th.dataset.dir === "asc" ? -1 : 1;
      heads.forEach(function (h) { delete h.dataset.dir; });
      th.dataset.dir = dir === 1 ? "asc" : "desc";
      function key(row) {
        var cell = row.cells[col];
        if (cell.dataset.sort !== undefined) return cell.dataset.sort === "" ? null : Number(cell.dataset.sort);
        var text = cell.textContent.trim();
        return text === "" || text === "-" ? null : text.toLowerCase();
      }
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (x === null || y === null) return x === y ? 0 : x === null ? 1 : -1;
        if (typeof x === typeof y) return (x < y ? -1 : x > y ? 1 : 0) * dir;
        return (typeof x === "number" ? -1 : 1) * dir;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
  table.dataset.sortReady = "1";
});
"""


def esc(text: object) -> str:
    """Any value as text safe inside HTML and inside quoted attributes."""
    return html.escape(str(text), quote=True)


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def image_uri(path: str | Path, width: int | None = None) -> str:
    """A PNG or GIF file as a data: URI; with `width`, a PNG scaled down to that width first (thumbnails)."""
    path = Path(path)
    raw = path.read_bytes()
    if path.suffix.lower() == ".gif":
        return data_uri(raw, "image/gif")
    if width is None:
        return data_uri(raw, "image/png")
    with Image.open(io.BytesIO(raw)) as im:
        rgb = im.convert("RGB")
    if rgb.width > width:
        rgb = rgb.resize((width, max(1, round(rgb.height * width / rgb.width))), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    rgb.save(out, format="PNG", optimize=True)
    return data_uri(out.getvalue(), "image/png")


def img(uri: str, alt: str, width: int | None = None, css: str = "") -> str:
    size = f' width="{width}"' if width else ""
    cls = f' class="{esc(css)}"' if css else ""
    return f'<img src="{uri}" alt="{esc(alt)}"{size}{cls}>'


def verdict_badge(verdict: str) -> str:
    css = "-".join(str(verdict).lower().split())
    return f'<span class="verdict {esc(css)}">{esc(verdict)}</span>'


def page(title: str, body: str, script: str = "", wide: bool = False) -> str:
    """A whole HTML5 document around `body` (already-escaped markup); `wide` for tables wider than text."""
    js = f"<script>{script}</script>\n" if script else ""
    body_class = ' class="wide"' if wide else ""
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en">\n<head>\n<meta charset="utf-8">\n{PAGE}\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body{body_class}>\n{body}\n{js}</body>\n</html>\n"
    )
