"""Screenshot a gallery page in headless Chromium (Debian's /usr/bin/chromium through Playwright), as the
README's docs/gallery.png was made:

    emosynth demo && emosynth gallery out/demo/va-cppn out/demo/category-cppn --out out/demo/gallery
    python scripts/gallery_screenshot.py out/demo/gallery/va-cppn/index.html docs/gallery.png --hover 3

The PNG is reduced to a 256-colour palette so that it stays small enough for the repository.
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("page", type=Path, help="an HTML page of a built gallery")
    ap.add_argument("out", type=Path, help="the PNG to write")
    ap.add_argument("--hover", type=int, default=None, help="hover the plane's N-th image (shows its data)")
    ap.add_argument("--width", type=int, default=1100)
    ap.add_argument("--height", type=int, default=860)
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    a = ap.parse_args()

    from PIL import Image
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=a.chromium, args=ARGS)
        page = browser.new_page(viewport={"width": a.width, "height": a.height})
        page.goto(a.page.resolve().as_uri())
        if page.locator("#plane").count():
            page.wait_for_function("() => { const p = document.getElementById('plane');"
                                   " return p.dataset.drawn == p.dataset.atlases.split(',').length; }")
        if a.hover is not None:
            page.locator(".pt").nth(a.hover).hover(force=True)
            page.wait_for_function("() => !document.querySelector('#tip img') "
                                   "|| document.querySelector('#tip img').complete")
        png = page.screenshot()
        browser.close()
    im = Image.open(io.BytesIO(png)).convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    im.save(a.out, optimize=True)
    print(f"{a.out}: {a.out.stat().st_size / 1000:.0f} kB")


if __name__ == "__main__":
    main()
