"""The documentation site builds under ``mkdocs build --strict`` and opens from disk; the command pages are the
commands' own ``--help``; the README stays short and opens with the two set-up commands CI runs.

One build (module-scoped) serves every check of the built site: it is the slow part (about 10 s on a quiet
machine, most of it mkdocstrings reading the package).
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MKDOCS = [sys.executable, "-m", "mkdocs"]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    t0 = time.perf_counter()
    proc = subprocess.run([*MKDOCS, "build", "--strict", "--site-dir", str(out)], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"}, timeout=600)
    took = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stderr[-3000:]
    print(f"mkdocs build --strict: {took:.1f} s")
    return out


class _Assets(HTMLParser):
    """Every URL the page would load by itself (scripts, styles, images, frames), and every link."""

    def __init__(self):
        super().__init__()
        self.loads: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("script", "img", "iframe", "source", "video", "audio") and a.get("src"):
            self.loads.append(a["src"])
        if tag == "link" and a.get("href") and a.get("rel") not in ("canonical",):
            self.loads.append(a["href"])
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])


def _parse(path: Path) -> _Assets:
    p = _Assets()
    p.feed(path.read_text(encoding="utf-8"))
    return p


def test_site_opens_offline(site):
    """The front page loads nothing from the network: every script, style and image is a file of the site."""
    index = site / "index.html"
    page = _parse(index)
    assert page.loads, "no assets parsed: the parser is broken"
    remote = [u for u in page.loads if re.match(r"(https?:)?//", u)]
    assert remote == [], f"index.html loads from the network: {remote}"
    for url in page.loads:
        target = (index.parent / url.split("#")[0].split("?")[0]).resolve()
        assert target.is_file(), f"index.html refers to {url}, which the site does not hold"
    # no web fonts anywhere in the theme's CSS, and search works from file:// (its index inlined as a script)
    for css in (site / "assets" / "stylesheets").glob("*.css"):
        assert "fonts.googleapis" not in css.read_text(encoding="utf-8")
    assert (site / "search" / "search_index.js").stat().st_size > 1000


def test_every_page_links_resolve(site):
    """Every relative link of every built page names a file of the site (strict mode checks the Markdown;
    this checks what the reader gets, the generated API and command pages included)."""
    pages = sorted(p for p in site.rglob("*.html") if p.name != "404.html")  # 404 is served from the root
    assert len(pages) > 30
    broken = []
    for html in pages:
        for url in _parse(html).links:
            if re.match(r"([a-z]+:|//|#)", url):
                continue
            target = (html.parent / url.split("#")[0].split("?")[0])
            if not target.exists():
                broken.append(f"{html.relative_to(site)} -> {url}")
    assert broken == []


def _all(package: str) -> list[str]:
    """``__all__`` of ``emosynth.<package>``, read from its source (importing it would load torch)."""
    tree = ast.parse((ROOT / "src" / "emosynth" / package / "__init__.py").read_text())
    names: list[str] = []
    for node in ast.walk(tree):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AugAssign) \
            else []
        if any(isinstance(x, ast.Name) and x.id == "__all__" for x in targets):
            names += ast.literal_eval(node.value)
    return names


@pytest.mark.parametrize("package", ["data", "models", "judges", "synth", "explore", "report", "stimuli", "study"])
def test_api_reference_has_the_public_names(site, package):
    """Every name in a package's ``__all__`` has an entry in its API page."""
    names = _all(package)
    assert len(names) > 5
    html = (site / "api" / f"{package}.html").read_text(encoding="utf-8")
    missing = [n for n in names if f'id="emosynth.{package}.{n}"' not in html]
    assert missing == [], f"emosynth.{package}: no API entry for {missing}"


def test_command_pages_are_the_help():
    """docs/commands/*.md and the Commands nav equal what scripts/gen_cli_docs.py makes from ``--help`` now."""
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_cli_docs.py"), "--check"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    predict = (ROOT / "docs" / "commands" / "predict.md").read_text()
    assert "Usage: emosynth predict [OPTIONS]" in predict and "--model" in predict


def test_readme_is_short_and_opens_with_the_setup_commands():
    """README ≤ 12 KB; its first code block holds the two commands, and .ci/run runs the second word for word."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.encode()) <= 12 * 1024, f"README is {len(text.encode())} bytes"
    first = re.search(r"```bash\n(.*?)```", text, re.S).group(1).splitlines()
    assert first == ["bash scripts/setup.sh && .venv/bin/emosynth demo",
                     "bash scripts/setup.sh && .venv/bin/python -m pytest -q"]
    assert first[1] in (ROOT / ".ci" / "run").read_text().splitlines()
    # every docs link of the README names a page that exists
    for target in re.findall(r"\]\((docs/[^)#]+)", text):
        assert (ROOT / target).is_file(), target


def test_every_public_function_and_class_documents_its_arguments_and_result():
    """Issue 20 §2: the API reference is built from docstrings, so each public name (``__all__``) says what its
    parameters are (``Args:``, or ``Attributes:`` for configuration dataclasses) and what it returns."""
    res = subprocess.run([sys.executable, str(ROOT / "scripts" / "check_docstrings.py")], capture_output=True,
                         text=True, cwd=ROOT)
    assert res.returncode == 0 and res.stdout == "", res.stdout


def test_the_docstring_check_finds_a_missing_section(tmp_path, monkeypatch):
    """The checker itself can fail: a public function without Args/Returns is listed."""
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import check_docstrings
    finally:
        sys.path.pop(0)
    (tmp_path / "badmod.py").write_text('__all__ = ["f", "g"]\n\ndef f(x: int) -> int:\n    """Double x."""\n'
                                        '    return 2 * x\n\n\ndef g(x: int) -> int:\n    """Double.\n\n    Args:\n'
                                        '        x: a number.\n\n    Returns:\n        2 x.\n    """\n'
                                        '    return 2 * x\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    assert check_docstrings.gaps("badmod") == ["badmod.f: no Args: section for x", "badmod.f: no Returns: section"]
