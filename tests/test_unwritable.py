"""Unwritable outputs are one line and exit 2, before any work (issue 15 §10): ``--out /proc/x``, a folder
under a file, an immutable folder, an ``EMOSYNTH_CACHE`` that is a file or unwritable, and
``compare`` / ``analyze --publish`` into a place nothing can be written. Each runs the real CLI in a
subprocess, as a user would."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from emosynth.samples import sample_paths


def run_cli(*args, env=None, timeout=900):
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "emosynth.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env)


def one_line(res, pattern=""):
    assert res.returncode == 2, (res.returncode, res.stderr[-2000:])
    assert "Traceback" not in res.stderr, res.stderr[-2000:]
    lines = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and pattern in lines[0], res.stderr
    return lines[0]


GENERATE = ["generate", "--valence", "5", "--arousal", "5", "--n", "1", "--size", "32"]


@pytest.mark.parametrize("where", ["proc", "under-a-file"])
def test_generate_into_an_unwritable_place_is_one_line(tmp_path, where):
    (tmp_path / "afile").write_text("mine")
    out = Path("/proc/emosynth-x") if where == "proc" else tmp_path / "afile" / "sub"
    one_line(run_cli(*GENERATE, "--out", out), "choose")
    assert (tmp_path / "afile").read_text() == "mine"


def test_an_immutable_folder_is_one_line(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    if subprocess.run(["chattr", "+i", str(ro)], capture_output=True).returncode != 0:
        ro.chmod(0o555)  # no chattr here: a read-only folder (root ignores it, hence chattr first)
    try:
        if os.access(ro, os.W_OK) and subprocess.run(["lsattr", "-d", str(ro)], capture_output=True,
                                                     text=True).stdout[:20].count("i") == 0:
            pytest.skip("cannot make a folder unwritable on this file system")
        one_line(run_cli(*GENERATE, "--out", ro / "x"), str(ro))
    finally:
        subprocess.run(["chattr", "-i", str(ro)], capture_output=True)
        ro.chmod(0o755)
    assert list(ro.iterdir()) == []


@pytest.mark.parametrize("cache", ["file", "proc"])
def test_an_unusable_cache_is_one_line(tmp_path, cache):
    (tmp_path / "afile").write_text("mine")
    where = tmp_path / "afile" if cache == "file" else Path("/proc/emosynth-cache")
    res = run_cli("predict", str(sample_paths()[0]), env={"EMOSYNTH_CACHE": str(where)})
    one_line(res, "EMOSYNTH_CACHE" if cache == "file" else "")
    assert (tmp_path / "afile").read_text() == "mine"


def test_publish_into_an_unwritable_place_stops_before_the_work(tmp_path):
    (tmp_path / "afile").write_text("mine")
    start = time.perf_counter()
    res = run_cli("compare", "--dataset", "oasis", "--backbones", "handcrafted", "--folds", "2",
                  "--out", tmp_path / "rep", "--publish", "/proc/emosynth-x/results.md", "--quiet")
    one_line(res, "/proc")
    # Refused before the folds run: no report folder was made, and it took no comparison's time.
    assert not (tmp_path / "rep").exists() and time.perf_counter() - start < 120
    res = run_cli("analyze", "--dataset", "oasis", "--out", tmp_path / "an",
                  "--publish", tmp_path / "afile" / "findings.md", "--quiet")
    one_line(res)
    assert not (tmp_path / "an").exists() and (tmp_path / "afile").read_text() == "mine"
