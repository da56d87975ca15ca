"""run.json is one declared contract (issue 14 §2): every writer starts from rundir.run_header, read_run checks the
packaged JSON Schema, a run of the old code reads through one upgrade or fails in one line."""

import json
import subprocess
import sys

import numpy as np
import pytest

from emosynth.errors import RunDirError
from emosynth.rundir import (
    DIMENSIONS,
    SCHEMA_FILE,
    prediction_columns,
    read_run,
    run_header,
    write_items,
    write_png,
    write_run,
)

HEADER = {"kind", "method", "command", "created", "seed", "emosynth_version", "model", "config", "metrics"}


def cli(*args):
    res = subprocess.run([sys.executable, "-m", "emosynth.cli", *map(str, args)], capture_output=True, text=True,
                         timeout=900)
    assert res.returncode == 0, res.stderr[-2000:]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    cli("evolve", "--space", "va", "--cells", "3", "--iterations", "1", "--batch", "4", "--emitters", "1",
        "--export-size", "16", "--quiet", "--out", root / "evolve")
    cli("generate", "--valence", "5", "--arousal", "5", "--n", "2", "--size", "16", "--quiet", "--out",
        root / "generate")
    cli("visualize", "--target", "joy", "--seeds", "1", "--steps", "1", "--size", "32", "--quiet", "--out",
        root / "visualize")
    return {name: root / name for name in ("evolve", "generate", "visualize")}


def test_every_command_writes_the_same_header_with_model_a_list(runs):
    import jsonschema

    schema = json.loads(SCHEMA_FILE.read_text())
    for name, path in runs.items():
        raw = json.loads((path / "run.json").read_text())
        assert HEADER <= set(raw), (name, HEADER - set(raw))
        assert "code_version" not in raw
        assert isinstance(raw["model"], list) and raw["model"] and all(isinstance(m, str) for m in raw["model"])
        assert raw["command"].startswith("emosynth ") and isinstance(raw["seed"], int)
        jsonschema.validate(raw, schema)
        run = read_run(path)
        assert set(DIMENSIONS) <= set(run.items.columns) and run.items["valence"].between(1, 9).all()
    kinds = {name: json.loads((p / "run.json").read_text())["kind"] for name, p in runs.items()}
    assert kinds == {"evolve": "evolve", "generate": "generator", "visualize": "visualize"}


def _old_run(folder, meta):
    write_png(folder / "images" / "a.png", np.zeros((8, 8, 3), np.uint8))
    write_items(folder, [{"file": "a.png", "valence": 5.0}])
    (folder / "run.json").write_text(json.dumps(meta))
    return folder


def test_a_run_of_the_old_code_reads_through_the_one_upgrade(tmp_path):
    old = {"kind": "evolve", "command": "emosynth evolve", "config": {"seed": 1}, "seed": 1, "model": "default:abc",
           "code_version": "0.1.0", "created": "2025-01-01T00:00:00+00:00", "metrics": {"coverage": 0.5}}
    run = read_run(_old_run(tmp_path / "old", old))
    assert run.meta["model"] == ["default:abc"] and run.meta["emosynth_version"] == "0.1.0"
    assert run.meta["method"] == "evolve"


def test_a_run_without_the_header_fails_in_one_line(tmp_path):
    with pytest.raises(RunDirError, match=r"not an emosynth run header \(top level: 'kind' is a required") as e:
        read_run(_old_run(tmp_path / "bare", {"method": "bench"}))
    assert "\n" not in str(e.value) and "re-run the command" in str(e.value)
    with pytest.raises(RunDirError, match="model/0"):
        read_run(_old_run(tmp_path / "bad", {**run_header("evolve", None, {}, 0, ["x"]), "model": [3]}))
    with pytest.raises(RunDirError, match="required"):
        write_run(tmp_path / "w", {"kind": "evolve"})  # writers cannot drift either
    assert not (tmp_path / "w" / "run.json").exists()


def test_prediction_columns_one_row():
    row = prediction_columns(["joy", "fear"], np.array([6.0, 4.0, 5.5]), np.array([0.3, 0.7]), ["valence", "arousal"])
    assert row == {"category": "fear", "p_joy": 0.3, "p_fear": 0.7, "valence": 6.0, "arousal": 4.0, "dominance": None}
    assert prediction_columns([], [5.0, 5.0, 5.0]) == {"valence": 5.0, "arousal": 5.0, "dominance": 5.0}


def test_read_run_refuses_a_row_that_leaves_images(tmp_path):
    run = _old_run(tmp_path / "r", run_header("evolve", None, {}, 0, ["x"]))
    write_items(run, [{"file": "../items.csv"}])
    with pytest.raises(RunDirError, match="leaves the run's images/"):
        read_run(run)
