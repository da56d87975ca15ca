"""The command line as a user runs it: real entry point, real data, one-line errors, nothing half-written."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from emosynth.emotions import EMOTION6_LABELS


def run(*args, env_extra=None):
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", "emosynth.cli", *args], capture_output=True, text=True,
                          env=env, timeout=600)


def assert_one_line_error(res, pattern):
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    lines = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error: ") and pattern in lines[0], lines[0]


def test_predict_json_on_the_packaged_samples():
    res = run("predict", "--json")
    assert res.returncode == 0, res.stderr
    recs = [json.loads(line) for line in res.stdout.splitlines()]
    assert [os.path.basename(r["path"]) for r in recs] == ["astronaut.jpg", "cat.jpg", "coffee.jpg", "rocket.jpg"]
    for r in recs:
        assert set(r) == {"path", "category", "probabilities", "valence", "arousal", "dominance", "interval",
                          "familiarity", "unfamiliar"}
        for dim in ("valence", "arousal", "dominance"):  # the packaged model's 90 % conformal intervals
            lo, hi = r["interval"][dim]
            assert 1 <= lo < r[dim] < hi <= 9
        assert 0 <= r["familiarity"] <= 1 and r["unfamiliar"] is False  # photos of everyday scenes
        assert list(r["probabilities"]) == list(EMOTION6_LABELS)
        assert sum(r["probabilities"].values()) == pytest.approx(1, abs=1e-6)
        assert r["category"] == max(r["probabilities"], key=r["probabilities"].get)
        assert all(1 <= r[k] <= 9 for k in ("valence", "arousal", "dominance"))


def test_predict_table_and_folder(tmp_path, emotion6):
    for i in range(3):
        (tmp_path / f"{i}.jpg").write_bytes(emotion6.paths[i].read_bytes())
    res = run("predict", str(tmp_path), "--quiet")
    assert res.returncode == 0, res.stderr
    assert res.stdout.count(".jpg") == 3 and "valence" in res.stdout
    assert "90 % interval" in res.stdout and res.stdout.count("–") >= 9  # V, A, D [lo–hi] for each photo


def test_predict_bad_inputs_are_one_line(tmp_path, emotion6):
    assert_one_line_error(run("predict", str(tmp_path / "gone.jpg")), "no such file")
    raw = emotion6.paths[0].read_bytes()
    (tmp_path / "half.jpg").write_bytes(raw[: len(raw) // 3])
    assert_one_line_error(run("predict", str(tmp_path / "half.jpg")), "half.jpg: unreadable image (truncated)")
    assert_one_line_error(run("predict", "--model", str(tmp_path)), "not a saved emosynth model")


@pytest.fixture(scope="module")
def small_csv(tmp_path_factory, emotion6):
    """60 real Emotion6 images as a user's own table: category, valence, arousal on 1-9."""
    d = tmp_path_factory.mktemp("small")
    rows = ["path,category,valence,arousal"]
    for i in range(60):
        cat = EMOTION6_LABELS[int(emotion6.probabilities[i].argmax())]
        rows.append(f"{emotion6.paths[i]},{cat},{emotion6.vad[i, 0]},{emotion6.vad[i, 1]}")
    (d / "small.csv").write_text("\n".join(rows) + "\n")
    return d / "small.csv"


def test_train_then_predict_with_the_saved_model(tmp_path, small_csv):
    out = tmp_path / "models" / "mine"
    res = run("train", "--dataset", str(small_csv), "--out", str(out), "--quiet")
    assert res.returncode == 0, res.stderr
    card = json.loads((out / "model.json").read_text())
    assert card["backbone"] == "efficientnet-lite0" and card["datasets"] == ["small"]
    res = run("predict", "--model", str(out), "--json")
    assert res.returncode == 0, res.stderr
    assert len(res.stdout.splitlines()) == 4


def test_evaluate_json_schema(small_csv):
    # --backbone: one backbone's plain recipe (without it, evaluate measures the packaged model's recipe)
    res = run("evaluate", "--dataset", str(small_csv), "--backbone", "efficientnet-lite0", "--folds", "3", "--json")
    assert res.returncode == 0, res.stderr
    obj = json.loads(res.stdout)
    assert obj["backbone"] == "efficientnet-lite0" and obj["folds"] == 3
    m = obj["datasets"]["small"]
    assert {"r", "r_sd", "mae", "ccc"} <= set(m["valence"]) and {"accuracy", "macro_f1", "kl"} <= set(m["category"])
    assert "dominance" not in m
    base = obj["constant_baseline"]["small"]
    assert base["valence"]["mae"] > 0 and "r" not in base["valence"] and obj["noise_ceiling"] == {}


@pytest.mark.parametrize("case", ["off_scale", "missing_column", "empty_folder", "unknown_backbone", "truncated"])
def test_train_bad_input_writes_nothing(tmp_path, emotion6, case):
    img = emotion6.paths[0]
    out = tmp_path / "out"
    args = ["train", "--out", str(out), "--quiet"]
    if case == "off_scale":
        (tmp_path / "t.csv").write_text(f"path,valence\n{img},4\n{img},8\n")
        res, want = run(*args, "--dataset", str(tmp_path / "t.csv"), "--scale", "1-7"), \
            "row 3: valence 8 is outside its declared scale 1-7"
    elif case == "missing_column":
        (tmp_path / "t.csv").write_text(f"file,valence\n{img},4\n")
        res, want = run(*args, "--dataset", str(tmp_path / "t.csv")), "missing column(s) path"
    elif case == "empty_folder":
        (tmp_path / "set" / "joy").mkdir(parents=True)
        res, want = run(*args, "--dataset", str(tmp_path / "set")), "is empty"
    elif case == "unknown_backbone":
        (tmp_path / "t.csv").write_text(f"path,valence\n{img},4\n")
        res, want = run(*args, "--dataset", str(tmp_path / "t.csv"), "--backbone", "resnet9"), "unknown backbone"
    else:
        raw = img.read_bytes()
        (tmp_path / "half.jpg").write_bytes(raw[: len(raw) // 2])
        (tmp_path / "t.csv").write_text(f"path,valence\n{img},4\nhalf.jpg,5\n")
        res, want = run(*args, "--dataset", str(tmp_path / "t.csv")), "half.jpg: unreadable image (truncated)"
    assert_one_line_error(res, want)
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_data_summary(data_root):
    res = run("data", "summary", "--dataset", "emotion6", "--dataset", "oasis", "--json",
              env_extra={"EMOSYNTH_DATA": str(data_root)})
    assert res.returncode == 0, res.stderr
    e6, oasis = json.loads(res.stdout)
    assert e6["images"] == 1980 and e6["labels"]["category"]["argmax_counts"]["joy"] == 638
    assert oasis["images"] == 900 and oasis["groups"] == 248
    assert oasis["labels"]["valence"]["max"] <= 9 and "lexicon" in oasis["labels"]["dominance"]["source"]
    res = run("data", "summary", "--dataset", "oasis", env_extra={"EMOSYNTH_DATA": ""})
    assert_one_line_error(res, "EMOSYNTH_DATA")


def test_truncated_row_is_named(tmp_path, emotion6):
    """The truncated image's table row appears in the message so the user can find it."""
    raw = emotion6.paths[0].read_bytes()
    (tmp_path / "half.jpg").write_bytes(raw[: len(raw) // 2])
    (tmp_path / "t.csv").write_text(f"path,valence\n{emotion6.paths[1]},4\nhalf.jpg,5\n")
    res = run("evaluate", "--dataset", str(tmp_path / "t.csv"), "--folds", "2")
    assert_one_line_error(res, "listed at t.csv row 3")


def test_help_reads_like_documentation():
    res = run("--help")
    assert res.returncode == 0
    for cmd in ("predict", "train", "evaluate", "data", "backbones"):
        assert cmd in res.stdout
    assert np.all([w in run("predict", "--help").stdout for w in ("SAM", "--json", "--model")])


def test_usage_errors_exit_2_without_traceback():
    res = run("train", "--dataset", "x")
    assert res.returncode == 2 and "Missing option '--out'" in res.stderr and "Traceback" not in res.stderr
    assert_one_line_error(run("predict", "--engine", "warp"), "unknown engine 'warp'")
