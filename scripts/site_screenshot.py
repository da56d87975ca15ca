"""Take docs/site-front.png: the documentation site's front page as Chromium draws it, opened from disk.

    .venv/bin/mkdocs build --strict --site-dir /tmp/emosynth-site
    .venv/bin/python scripts/site_screenshot.py /tmp/emosynth-site/index.html docs/site-front.png

Uses Debian's chromium through Playwright (never ``playwright install``), with the launch arguments of
DESIGN.md; the page is opened as a file:// URL with the network blocked, so the picture also shows that
the site needs nothing from elsewhere.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from playwright.sync_api import sync_playwright

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page", type=Path, help="the built site's index.html")
    parser.add_argument("out", type=Path, help="PNG to write")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=900)
    args = parser.parse_args(argv)
    remote: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": args.width, "height": args.height})

        def block(route):
            remote.append(route.request.url)
            route.abort()

        page.route("http*://**", block)
        page.goto(args.page.resolve().as_uri(), wait_until="load")
        page.wait_for_timeout(500)
        page.screenshot(path=str(args.out))
        browser.close()
    if remote:
        raise SystemExit(f"the page asked the network for {remote}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
