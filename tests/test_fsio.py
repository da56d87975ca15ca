"""The one filesystem primitive (emosynth.fsio) and the ownership rule, case by case (issue 15 §1 §2 §3 §11 and
the sqlite path of §12): nothing a user owns is lost, an output that is a file stops in one line, no
checkpoint runs code. Each command-level case runs the real CLI in a subprocess."""

import json
import os
import pickle
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from emosynth import fsio
from emosynth.errors import OutputError
from emosynth.fsio import MARKER_FILE, atomic_write_bytes, check_output, output_directory, write_json
from emosynth.models.predictor import DEFAULT_MODEL_DIR
from emosynth.rundir import run_header, write_items, write_png, write_run


def run_cli(*args, cwd=None, timeout=900):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if os.environ.get("EMOSYNTH_CLI_SRC"):  # run the commands from another source tree (to show a case fails there)
        env["PYTHONPATH"] = os.environ["EMOSYNTH_CLI_SRC"]
    return subprocess.run([sys.executable, "-m", "emosynth.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, env=env)


def one_line(res, pattern=""):
    assert res.returncode == 2, (res.returncode, res.stderr[-2000:])
    assert "Traceback" not in res.stderr, res.stderr[-2000:]
    lines = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and pattern in lines[0], res.stderr
    return lines[0]


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def tree(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def fake_run(folder: Path, kind="evolve", n=2) -> Path:
    """A small, complete run directory (a V-A run over two images)."""
    rows = []
    for i in range(n):
        write_png(folder / "images" / f"{i}.png", np.full((16, 16, 3), 40 * (i + 1), np.uint8))
        rows.append({"file": f"{i}.png", "target_valence": 3.0 + 3 * i, "target_arousal": 4.0 + 2 * i,
                     "valence": 5.0, "arousal": 5.0, "dominance": 5.0, "fitness": -1.0, "cell": i})
    write_items(folder, rows)
    write_run(folder, run_header(kind, "test", {}, 0, ["default:0"]))
    return folder


# ---------------------------------------------------------------------------- the primitive


def test_atomic_write_keeps_the_old_content_and_no_temp_file_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "a.txt"
    atomic_write_bytes(target, b"old")

    def broken(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fsio.os, "replace", broken)
    with pytest.raises(OutputError, match="a.txt: cannot write"):
        atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"old" and hidden(tmp_path) == []


def test_unwritable_places_are_one_output_error(tmp_path):
    (tmp_path / "f").write_text("x")
    for bad in (Path("/proc/emosynth-x/out.json"), tmp_path / "f" / "sub" / "out.json"):
        with pytest.raises(OutputError):
            write_json(bad, {"a": 1})
    for bad in (Path("/proc/emosynth-x"), tmp_path / "f" / "sub"):
        with pytest.raises(OutputError):
            check_output(bad, "compare")
    assert (tmp_path / "f").read_text() == "x"


def test_output_directory_failure_leaves_the_old_folder_and_no_leftovers(tmp_path, monkeypatch):
    out = tmp_path / "rep"
    with output_directory(out, "compare") as tmp:
        (tmp / "report.md").write_text("first")
    assert json.loads((out / MARKER_FILE).read_text())["kind"] == "compare"
    with pytest.raises(RuntimeError):
        with output_directory(out, "compare", overwrite=True) as tmp:
            (tmp / "report.md").write_text("half")
            raise RuntimeError("interrupted")
    assert (out / "report.md").read_text() == "first" and hidden(tmp_path) == []
    # the swap itself fails after the old folder moved aside: it is put back
    real = os.replace
    calls = []

    def second_fails(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise OSError(30, "Read-only file system")
        return real(src, dst)

    monkeypatch.setattr(fsio.os, "replace", second_fails)
    with pytest.raises(OutputError, match="cannot put the output in place"):
        with output_directory(out, "compare", overwrite=True) as tmp:
            (tmp / "report.md").write_text("second")
    monkeypatch.setattr(fsio.os, "replace", real)
    assert (out / "report.md").read_text() == "first" and hidden(tmp_path) == []
    with output_directory(out, "compare", overwrite=True) as tmp:
        (tmp / "report.md").write_text("second")
    assert (out / "report.md").read_text() == "second" and hidden(tmp_path) == []


def test_the_ownership_rule(tmp_path):
    assert check_output(tmp_path / "new", "compare") is None
    (tmp_path / "empty").mkdir()
    assert check_output(tmp_path / "empty", "compare") is None
    user = tmp_path / "mine"
    user.mkdir()
    (user / "keep.txt").write_text("mine")
    with pytest.raises(OutputError, match="emosynth did not write .*keep.txt"):
        check_output(user, "compare", overwrite=True)
    run = fake_run(tmp_path / "run")
    with pytest.raises(OutputError, match="holds an evolve run, not a compare report"):
        check_output(run, "compare", overwrite=True)
    with pytest.raises(OutputError, match="pass --overwrite"):
        check_output(run, "run:evolve")
    assert check_output(run, "run:evolve", overwrite=True) == "run:evolve"
    with pytest.raises(OutputError, match="holds a saved model"):
        check_output(DEFAULT_MODEL_DIR, "run:generator", overwrite=True)
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="a file is there"):
        check_output(tmp_path / "file", "compare", overwrite=True)


# ---------------------------------------------------------------------------- issue 15 §1: --out deletes what was there


@pytest.fixture(scope="module")
def csv_data(tmp_path_factory, data_root):
    """A user's data set: a CSV and its images in one folder."""
    from PIL import Image

    d = tmp_path_factory.mktemp("user") / "d"
    d.mkdir()
    rows = ["path,valence,arousal"]
    src = sorted((data_root / "emotion6" / "images").rglob("*.jpg"))[:12]
    for i, p in enumerate(src):
        Image.open(p).convert("RGB").resize((64, 64)).save(d / f"{i}.png")
        rows.append(f"{i}.png,{2 + i % 7},{3 + i % 5}")
    (d / "good.csv").write_text("\n".join(rows) + "\n")
    return d


def test_train_into_the_data_sets_folder_is_refused(csv_data):
    before = tree(csv_data)
    one_line(run_cli("train", "--dataset", csv_data / "good.csv", "--out", csv_data, "--quiet"), "did not write")
    assert tree(csv_data) == before and hidden(csv_data.parent) == []


def test_train_replaces_an_earlier_model_only_with_overwrite(csv_data, tmp_path):
    out = tmp_path / "model"
    res = run_cli("train", "--dataset", csv_data / "good.csv", "--out", out, "--quiet")
    assert res.returncode == 0, res.stderr
    card = (out / "model.json").read_bytes()
    one_line(run_cli("train", "--dataset", csv_data / "good.csv", "--out", out, "--quiet"), "--overwrite")
    assert (out / "model.json").read_bytes() == card
    res = run_cli("train", "--dataset", csv_data / "good.csv", "--out", out, "--quiet", "--overwrite")
    assert res.returncode == 0, res.stderr
    assert json.loads((out / "model.json").read_text())["kind"] == "model" and hidden(tmp_path) == []


def test_analyze_into_a_users_folder_is_refused(tmp_path):
    run = fake_run(tmp_path / "run")
    u = tmp_path / "u"
    u.mkdir()
    (u / "keep.txt").write_text("mine")
    one_line(run_cli("analyze", run, "--out", u, "--quiet"), "did not write")
    assert (u / "keep.txt").read_text() == "mine" and sorted(os.listdir(u)) == ["keep.txt"]


def test_generate_and_visualize_never_replace_an_evolve_run(tmp_path):
    run = fake_run(tmp_path / "run")
    (run / "checkpoint.npz").write_bytes(b"archive")
    before = tree(run)
    one_line(run_cli("generate", "--valence", "5", "--arousal", "5", "--n", "1", "--size", "16", "--out", run),
             "holds an evolve run")
    one_line(run_cli("visualize", "--target", "joy", "--seeds", "1", "--steps", "1", "--size", "32", "--quiet",
                     "--out", run), "holds an evolve run")
    # not even with --overwrite: it is another command's output
    one_line(run_cli("generate", "--valence", "5", "--arousal", "5", "--n", "1", "--size", "16", "--overwrite",
                     "--out", run), "holds an evolve run")
    assert tree(run) == before and hidden(tmp_path) == []


def test_generate_replaces_its_own_run_only_with_overwrite(tmp_path):
    out = tmp_path / "gen"
    args = ("generate", "--valence", "5", "--arousal", "5", "--n", "1", "--size", "16", "--quiet", "--out", out)
    assert run_cli(*args).returncode == 0
    first = (out / "run.json").read_bytes()
    one_line(run_cli(*args), "--overwrite")
    assert (out / "run.json").read_bytes() == first
    assert run_cli(*args, "--overwrite").returncode == 0 and hidden(tmp_path) == []


def test_evolve_into_a_folder_that_is_not_a_run_is_refused(tmp_path):
    u = tmp_path / "u"
    write_png(u / "images" / "holiday.png", np.zeros((8, 8, 3), np.uint8))
    (u / "items.csv").write_text("file\nholiday.png\n")
    before = tree(u)
    one_line(run_cli("evolve", "--space", "va", "--cells", "3", "--iterations", "1", "--batch", "4", "--emitters",
                     "1", "--export-size", "16", "--quiet", "--out", u), "did not write")
    assert tree(u) == before


# ---------------------------------------------------------------------------- issue 15 §2: --out that is a file


@pytest.mark.parametrize("argv", [
    ("generate", "--valence", "5", "--arousal", "5", "--n", "1", "--size", "16"),
    ("visualize", "--target", "joy", "--seeds", "1", "--steps", "1", "--size", "32"),
    ("evolve", "--space", "va", "--cells", "3", "--iterations", "1", "--batch", "4", "--emitters", "1",
     "--export-size", "16"),
    ("generator", "train", "--steps", "1", "--batch", "2", "--train-size", "16"),
], ids=["generate", "visualize", "evolve", "generator-train"])
def test_an_out_that_is_a_file_stops_in_one_line(tmp_path, argv):
    f = tmp_path / "notes.txt"
    f.write_text("mine")
    one_line(run_cli(*argv, "--quiet", "--out", f), "a file is there")
    assert f.read_text() == "mine" and sorted(os.listdir(tmp_path)) == ["notes.txt"]


# ---------------------------------------------------------------------------- issue 15 §3: checkpoints that run code


class _Payload:
    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _payload(marker: Path) -> bytes:
    return pickle.dumps({"format": 1, "scheduler": _Payload(marker)})


EVOLVE = ("evolve", "--space", "va", "--cells", "3", "--iterations", "2", "--batch", "4", "--emitters", "1",
          "--export-size", "16", "--quiet", "--resume")


def test_evolve_never_loads_a_pickle_checkpoint(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    marker = tmp_path / "ran"
    (run / "checkpoint.pkl").write_bytes(_payload(marker))
    one_line(run_cli(*EVOLVE, "--out", run), "never loaded")
    assert not marker.exists()


def test_evolve_checkpoint_holding_a_pickle_payload_does_not_run(tmp_path):
    from emosynth.synth import CHECKPOINT

    run = tmp_path / "run"
    run.mkdir()
    marker = tmp_path / "ran"
    fsio.mark_output(run, "run:evolve")
    for name in {CHECKPOINT, "checkpoint.pkl"}:  # the old code read checkpoint.pkl
        (run / name).write_bytes(_payload(marker))
    one_line(run_cli(*EVOLVE, "--out", run))
    assert not marker.exists()


def test_generator_checkpoint_holding_a_pickle_payload_does_not_run(tmp_path):
    import torch

    out = tmp_path / "gen"
    out.mkdir()
    marker = tmp_path / "ran"
    fsio.mark_output(out, "generator")
    torch.save({"format": 1, "net": _Payload(marker)}, out / "checkpoint.pt")
    one_line(run_cli("generator", "train", "--steps", "2", "--batch", "2", "--train-size", "16", "--quiet",
                     "--resume", "--out", out), "unreadable checkpoint")
    assert not marker.exists()


# ---------------------------------------------------------------------------- issue 15 §11


def test_a_truncated_heads_file_is_one_line(tmp_path, data_root):
    import shutil

    model = tmp_path / "model"
    shutil.copytree(DEFAULT_MODEL_DIR, model)
    data = (model / "heads.npz").read_bytes()
    (model / "heads.npz").write_bytes(data[: len(data) // 2])
    img = sorted((data_root / "emotion6" / "images").rglob("*.jpg"))[0]
    assert "heads.npz" in one_line(run_cli("predict", img, "--model", model), "malformed model")


@pytest.mark.parametrize("case", ["zero-byte", "dotdot"])
def test_generator_evaluate_with_a_bad_elite_is_one_line(tmp_path, case):
    run = fake_run(tmp_path / "run", n=2)
    if case == "zero-byte":
        (run / "images" / "0.png").write_bytes(b"")
    else:
        import pandas as pd

        items = pd.read_csv(run / "items.csv")
        items.loc[0, "file"] = "../items.csv"
        items.to_csv(run / "items.csv", index=False)
    line = one_line(run_cli("generator", "evaluate", "--generator", "default", "--compare-run", run,
                            "--check-backbone", "none", "--per-target", "2", "--grid", "2", "--quiet"))
    assert ("0.png" in line) if case == "zero-byte" else ("../items.csv" in line)


# ---------------------------------------------------------------------------- issue 15 §12: a mistyped sqlite path


@pytest.mark.parametrize("argv", [("study", "export", "--name", "pilot", "--out", "r.csv"),
                                  ("study", "report", "--name", "pilot", "--out", "rep"),
                                  ("study", "serve", "--port", "0")], ids=["export", "report", "serve"])
def test_a_mistyped_sqlite_path_creates_no_database(tmp_path, argv):
    one_line(run_cli(*argv, "--db", "sqlite:///studeis.db", cwd=tmp_path, timeout=120), "no study database")
    assert os.listdir(tmp_path) == []


_BUILD_ONCE = r"""
import sys, time
from pathlib import Path
from emosynth.fsio import exclusive, output_directory
root, locked = Path(sys.argv[1]), sys.argv[2] == "locked"
out = root / "judge"
(root / f"ready-{sys.argv[3]}").touch()  # imports done: wait for the other process, so both start at once
while not (root / "go").exists():
    time.sleep(0.01)
time.sleep(0.5 * int(sys.argv[3]))  # then 0.5 s apart: both inside the other's 3 s build, swaps not at once
def build():
    if not (out / "model.json").is_file():
        with open(root / "builds.log", "a") as f:
            f.write("built\n")
        time.sleep(3.0)  # longer than the two starts can drift apart
        with output_directory(out, "compare") as tmp:
            (tmp / "model.json").write_text("{}")
if locked:
    with exclusive(root / ".judge.lock"):
        build()
else:
    build()
"""


@pytest.mark.parametrize("locked", [True, False])
def test_two_processes_building_one_cached_thing_take_turns(tmp_path, locked):
    """Two runs that start at once and both need the same cached judge (``registry.resolve_model``) must not
    collide: under ``fsio.exclusive`` the second waits and finds the first one's result. Without the lock both
    build it and the second one's swap is refused: the case the lock exists for."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    args = [sys.executable, "-c", _BUILD_ONCE, str(tmp_path), "locked" if locked else "bare"]
    procs = [subprocess.Popen([*args, str(i)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    deadline = time.monotonic() + 120  # a loaded machine can take seconds to import; start both together
    while not all((tmp_path / f"ready-{i}").exists() for i in range(2)) and time.monotonic() < deadline:
        time.sleep(0.01)
    (tmp_path / "go").touch()
    codes = [p.wait(timeout=120) for p in procs]
    builds = (tmp_path / "builds.log").read_text().splitlines()
    assert (tmp_path / "judge" / "model.json").is_file()
    if locked:
        assert codes == [0, 0] and builds == ["built"]
    else:
        assert sorted(codes) == [0, 1] and builds == ["built", "built"]
