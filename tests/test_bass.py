"""BASS (Kawai, Lukács & Ansorge 2021) read from its official files: the US sample by default, the Chinese
one by name, keyword-lexicon dominance, concept groups that keep numbered variants together, and the
train / evaluate commands on it."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from emosynth.cli import main
from emosynth.data import combine, grouped_folds, load_dataset, read_bass
from emosynth.errors import DataError


@pytest.fixture(scope="module")
def bass(data_root):
    if not (data_root / "bass" / "BASS_data.csv").is_file():
        pytest.skip("BASS not in the data root")
    return load_dataset("bass", data_root)


def test_reads_the_us_sample_on_its_own_scale(bass, data_root):
    table = pd.read_csv(data_root / "bass" / "BASS_data.csv")
    assert len(bass) == 583 == len(table)
    assert bass.name == "bass" and bass.targets == ["valence", "arousal", "dominance"]
    np.testing.assert_allclose(bass.vad[:, 0], table["val_mean_us"])  # 9-point scale: already 1-9
    np.testing.assert_allclose(bass.vad[:, 1], table["aro_mean_us"])
    assert bass.vad[:, :2].min() >= 1 and bass.vad[:, :2].max() <= 9
    assert all(p.is_file() and p.suffix == ".png" for p in bass.paths)
    assert "US sample" in bass.sources["valence"]
    assert bass.where[0] == "BASS_data.csv row 2"


def test_chinese_sample_by_name(bass, data_root):
    ch = load_dataset("bass-ch", data_root)
    table = pd.read_csv(data_root / "bass" / "BASS_data.csv")
    assert ch.name == "bass-ch" and set(ch.dataset_of) == {"bass-ch"}
    np.testing.assert_allclose(ch.vad[:, 0], table["val_mean_ch"])
    assert "Chinese" in ch.sources["valence"]
    assert not np.allclose(ch.vad[:, 0], bass.vad[:, 0])
    combined, _ = combine([bass, ch])  # both samples side by side: their groups never collide
    assert len(np.unique(combined.groups)) == 2 * len(np.unique(bass.groups))
    with pytest.raises(DataError, match="'us'"):
        read_bass(data_root / "bass", sample="de")


def test_dominance_from_keywords_and_concept_groups(bass):
    d = bass.vad[:, 2]
    assert np.isfinite(d).all() and 1 <= d.min() and d.max() <= 9
    assert "keywords" in bass.sources["dominance"]
    names = [p.name for p in bass.paths]
    g = dict(zip(names, bass.groups))
    assert g["abuse.png"] == g["abuse2.png"] == "abuse" and g["acrobat3.png"] == "acrobat"
    assert len(np.unique(bass.groups)) == 342
    # lexicon dominance follows the keywords: "abuse" (fight, aggression, violence...) below the median
    assert d[names.index("abuse.png")] < np.median(d)
    for tr, te in grouped_folds(bass, 5, seed=0):
        assert not set(bass.groups[tr]) & set(bass.groups[te])


def test_missing_image_is_one_line(tmp_path, data_root):
    root = tmp_path / "bass"
    (root / "images").mkdir(parents=True)
    table = pd.read_csv(data_root / "bass" / "BASS_data.csv").head(3)
    table.to_csv(root / "BASS_data.csv", index=False)
    for name in table["file_name"][:2]:
        shutil.copy(data_root / "bass" / "images" / name, root / "images" / name)
    with pytest.raises(DataError, match=r"BASS_data.csv row 4: image not found"):
        read_bass(root)


def _cli(*argv) -> int:
    try:
        main([str(a) for a in argv])
    except SystemExit as done:
        return done.code or 0
    return 0


def test_train_and_evaluate_by_name(tmp_path, data_root, capsys):
    """`--dataset bass` under a data root (here one holding 60 of BASS's images, so the test stays short)."""
    root = tmp_path / "data"
    (root / "bass" / "images").mkdir(parents=True)
    shutil.copytree(data_root / "lexicons", root / "lexicons")
    table = pd.read_csv(data_root / "bass" / "BASS_data.csv").iloc[::10]
    table.to_csv(root / "bass" / "BASS_data.csv", index=False)
    for name in table["file_name"]:
        shutil.copy(data_root / "bass" / "images" / name, root / "bass" / "images" / name)
    args = ["--dataset", "bass", "--data-root", str(root), "--backbone", "mobilenetv2", "--quiet"]
    assert _cli("train", *args, "--out", tmp_path / "model") == 0
    card = json.loads((tmp_path / "model" / "model.json").read_text())
    assert card["datasets"] == ["bass"] and card["dataset_sizes"] == {"bass": 59}
    assert card["trust"]["skipped"].startswith("59 images")  # too few to calibrate intervals
    capsys.readouterr()
    assert _cli("evaluate", *args, "--folds", "3", "--json") == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result["datasets"]) == {"bass"} and "valence" in result["datasets"]["bass"]
