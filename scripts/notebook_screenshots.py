"""Render the committed notebooks to HTML (``jupyter nbconvert --to html``) and photograph them in headless Chromium.

    python scripts/notebook_screenshots.py                  # all notebooks, into /tmp/corral-screenshots
    python scripts/notebook_screenshots.py --out DIR lark_authoring
    python scripts/notebook_screenshots.py --readme         # also docs/images/authoring.png, the README's picture

Needs the ``notebook`` extra (nbconvert) and a Chromium (``chromium-headless-shell``, ``chromium`` or
``google-chrome`` on the PATH, or ``$CHROMIUM``; on Debian ``apt-get install chromium-headless-shell``). For each
notebook it writes ``NAME.html`` and ``NAME.png`` (the whole page, blank bottom cropped) and prints what the picture
shows: how many plots and token spans the page holds and how many pixels carry the token view's sampled and draft
colours (:data:`corral.authoring.tokens.SOURCE_RGB`), so that a run says whether the coloured spans and the plots
rendered.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
WIDTH, HEIGHT = 1100, 16000  # viewport; the page is cropped to its content afterwards
README_IMAGE = ROOT / "docs" / "images" / "authoring.png"
# The README picture: (notebook, output whose plain text starts with this, caption)
GALLERY = [("lark_authoring", "LintReport", "Lint a grammar"),
           ("lark_authoring", "Diagnosis", "Why is this string rejected?"),
           ("speculative_decoding", "TokenView", "A result, token by token (green: accepted drafts)"),
           ("speculative_decoding", "image", "Speculative acceptance along the output")]


def chromium() -> str:
    """The Chromium executable (``$CHROMIUM`` or the first of the usual names on the PATH)."""
    for name in (os.environ.get("CHROMIUM"), "chromium-headless-shell", "chromium", "chromium-browser",
                 "google-chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    sys.exit("no Chromium found: apt-get install chromium-headless-shell, or set $CHROMIUM")


def to_html(notebook: Path, out: Path) -> Path:
    """The notebook rendered by nbconvert's HTML exporter (outputs as committed; nothing is executed)."""
    import nbformat
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nbformat.read(notebook, as_version=4))
    path = out / f"{notebook.stem}.html"
    path.write_text(body, encoding="utf-8")
    return path


def screenshot(html: Path, png: Path, width: int = WIDTH, height: int = HEIGHT) -> Path:
    """A headless-Chromium picture of ``html``, cropped below the last non-white row."""
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        f"--user-data-dir={profile}", f"--window-size={width},{height}",
                        "--virtual-time-budget=5000", f"--screenshot={png}", html.as_uri()],
                       check=True, capture_output=True, timeout=120)
    _crop(png)
    return png


def _crop(png: Path) -> None:
    from PIL import Image, ImageChops

    img = Image.open(png).convert("RGB")
    box = ImageChops.difference(img, Image.new("RGB", img.size, (255, 255, 255))).getbbox()
    if box:
        img.crop((0, 0, img.width, min(img.height, box[3] + 20))).save(png)


def colour_counts(png: Path) -> dict[str, int]:
    """Pixels of the token view's sampled and draft colours in the picture (:data:`corral.authoring.tokens.SOURCE_RGB`
    over white at an opacity of 0.3 or more, the way the spans of likely tokens are drawn). EOS red and forced grey
    are left out: the page's error tints and antialiased text look like them."""
    from PIL import Image

    from corral.authoring.tokens import SOURCE_RGB

    targets = {k: tuple(int(x) for x in SOURCE_RGB[k].split(",")) for k in ("sampled", "draft")}
    counts = dict.fromkeys(targets, 0)
    for n, rgb in Image.open(png).convert("RGB").getcolors(maxcolors=1 << 24) or []:
        for source, colour in targets.items():
            if _over_white(rgb, colour, least=0.3):
                counts[source] += n
    return counts


def _over_white(pixel, colour, least: float, tolerance: float = 0.06) -> bool:
    """Whether ``pixel`` is ``colour`` blended over white with one opacity in [least, 1] for all three channels."""
    alphas = [(255 - p) / (255 - c) for p, c in zip(pixel, colour) if 255 - c > 40]
    return bool(alphas) and min(alphas) >= least and max(alphas) <= 1.0 + tolerance and \
        max(alphas) - min(alphas) <= tolerance


def readme_picture(out: Path) -> Path:
    """``docs/images/authoring.png``: a page of outputs taken from the executed notebooks (a lint report, a rejected
    string, a speculative result as coloured tokens, and the acceptance plot), photographed like the notebooks."""
    import nbformat

    from PIL import Image

    parts = []
    for name, kind, caption in GALLERY:
        nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
        parts.append(f"<h4 style='font-family:sans-serif;margin:14px 0 4px'>{caption} "
                     f"<span style='color:#888;font-weight:normal'>({name}.ipynb)</span></h4>"
                     + _output_html(nb, kind))
    page = out / "readme.html"
    page.write_text("<!DOCTYPE html><html><head><meta charset='utf-8'></head>"
                    "<body style='margin:16px;max-width:1000px'>" + "".join(parts) + "</body></html>",
                    encoding="utf-8")
    png = screenshot(page, out / "readme.png", width=1040, height=3000)
    README_IMAGE.parent.mkdir(parents=True, exist_ok=True)
    Image.open(png).convert("RGB").save(README_IMAGE, optimize=True)
    return README_IMAGE


def _output_html(nb, kind: str) -> str:
    """The first output of the notebook whose plain text starts with ``kind`` (its HTML), or the first image when
    ``kind`` is ``"image"``."""
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if kind == "image" and "image/png" in data:
                return f"<img style='max-width:100%' src='data:image/png;base64,{data['image/png']}'/>"
            if data.get("text/plain", "").startswith(kind) and "text/html" in data:
                return data["text/html"]
    raise LookupError(f"no {kind} output in the notebook: re-run python scripts/notebooks.py")


def main(argv=None) -> int:
    """Command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="notebook names (default: all of notebooks/)")
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "corral-screenshots")
    parser.add_argument("--readme", action="store_true", help=f"also write {README_IMAGE.relative_to(ROOT)}")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    paths = [NOTEBOOKS / f"{n}.ipynb" for n in args.names] or sorted(NOTEBOOKS.glob("*.ipynb"))
    for path in paths:
        html = to_html(path, args.out)
        png = screenshot(html, args.out / f"{path.stem}.png")
        text = html.read_text(encoding="utf-8")
        plots, spans = text.count('src="data:image/png'), text.count('title="#')
        colours = ", ".join(f"{k} {v}" for k, v in colour_counts(png).items())
        print(f"{png}: {plots} plot(s), {spans} token span(s) in the page; pixels of the token colours: {colours}")
    if args.readme:
        print("README picture:", readme_picture(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
