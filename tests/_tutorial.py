"""Run a tutorial page: its ```bash and ```python code blocks, in order, in one working folder.

A tutorial's commands are what its test runs, so the page cannot drift from what works. Blocks fenced as
```sh, ```text or ``` (no language) are shown to the reader and not run (a server that runs until stopped,
output to compare with). ``emosynth`` resolves to this checkout's ``.venv/bin/emosynth``; ``$EMOSYNTH_DATA``
is the data root of the tests.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TUTORIALS = ROOT / "docs" / "tutorials"
_FENCE = re.compile(r"^```(bash|python)\s*\n(.*?)^```\s*$", re.S | re.M)


@dataclass
class Step:
    lang: str
    code: str
    stdout: str = ""
    seconds: float = 0.0


def blocks(page: str) -> list[Step]:
    """The runnable code blocks of ``docs/tutorials/<page>.md``, in order."""
    text = (TUTORIALS / f"{page}.md").read_text(encoding="utf-8")
    return [Step(lang, code) for lang, code in _FENCE.findall(text)]


def run_tutorial(page: str, cwd: Path, data_root: Path, timeout: float = 600) -> list[Step]:
    """Run every block of a tutorial in ``cwd``; a failing block fails with its output."""
    env = {**os.environ, "EMOSYNTH_DATA": str(data_root),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "COLUMNS": "120", "NO_COLOR": "1"}
    steps = blocks(page)
    assert steps, f"{page}.md has no runnable blocks"
    for step in steps:
        cmd = ["bash", "-euo", "pipefail", "-c", step.code] if step.lang == "bash" else \
            [sys.executable, "-c", step.code]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
        step.seconds = time.perf_counter() - t0
        step.stdout = proc.stdout
        assert proc.returncode == 0, (f"{page}.md block failed (exit {proc.returncode}):\n{step.code}\n"
                                      f"--- stdout\n{proc.stdout[-2000:]}\n--- stderr\n{proc.stderr[-3000:]}")
    return steps
