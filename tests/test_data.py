"""The readers against the real data sets' known counts and quirks, and the grouped splits."""

import numpy as np
import pandas as pd
import pytest

from emosynth.data import grouped_folds, load_dataset, read_folders, read_table, theme_group
from emosynth.errors import DataError, ImageError, ScaleError
from emosynth.imageio import load_rgb


def test_oasis_counts_themes_and_groups(oasis):
    assert len(oasis) == 900
    assert oasis.original["Category"].value_counts().to_dict() == {
        "Person": 346, "Scenery": 220, "Object": 200, "Animal": 134}
    assert len(np.unique(oasis.groups)) == 248
    assert theme_group("Baby 10") == "Baby" and theme_group("Crosswalk 1 ") == "Crosswalk"


def test_oasis_quirks_trailing_space_and_rgba_png(oasis):
    names = [p.name for p in oasis.paths]
    # Themes "Crosswalk 1 " and "War 2 " carry a trailing space in the table, not in the file name.
    assert "Crosswalk 1.jpg" in names and "War 2.jpg" in names
    monkey = oasis.paths[names.index("Monkey 3.jpg")]
    assert monkey.read_bytes()[:4] == b"\x89PNG"
    img = load_rgb(monkey)
    assert img.mode == "RGB"


def test_oasis_scale_is_mapped_and_original_kept(oasis):
    orig = oasis.original["Valence_mean"].to_numpy()
    np.testing.assert_allclose(oasis.vad[:, 0], 1 + (orig - 1) * 8 / 6)
    assert oasis.vad[:, :2].min() >= 1 and oasis.vad[:, :2].max() <= 9
    assert oasis.sources["valence"].startswith("rated (1-7")
    assert oasis.sources["dominance"].startswith("lexicon-derived")
    # Most themes have a word in the norms; the rest have no dominance rather than a guess.
    assert 0.8 < oasis.has("dominance").mean() < 1.0


def test_emotion6_counts_distribution_and_argmax_balance(emotion6):
    assert len(emotion6) == 1980
    folders = pd.Series([p.parent.name for p in emotion6.paths]).value_counts()
    assert (folders == 330).all() and len(folders) == 6
    np.testing.assert_allclose(emotion6.probabilities.sum(1), 1, atol=1e-6)
    counts = emotion6.summary()["labels"]["category"]["argmax_counts"]
    assert counts["joy"] == 638 and counts["anger"] == 31
    # The folder keyword is not the label: raters agree with it for only about half the images.
    keyword = np.array([emotion6.categories.index(p.parent.name) for p in emotion6.paths])
    agree = (emotion6.probabilities.argmax(1) == keyword).mean()
    assert 0.35 < agree < 0.65
    assert emotion6.sources["dominance"].startswith("lexicon-derived")


def test_grouped_folds_keep_themes_together_and_cover_all_rows(oasis):
    seen = np.zeros(len(oasis), int)
    for tr, te in grouped_folds(oasis, 5, seed=0):
        assert not set(oasis.groups[tr]) & set(oasis.groups[te])
        seen[te] += 1
    assert (seen == 1).all()


def test_grouped_folds_are_stratified_and_reproducible(emotion6):
    folds = list(grouped_folds(emotion6, 5, seed=3))
    again = list(grouped_folds(emotion6, 5, seed=3))
    assert all((a[1] == b[1]).all() for a, b in zip(folds, again))
    anger = emotion6.probabilities.argmax(1) == 0
    per_fold = [anger[te].sum() for _, te in folds]
    assert min(per_fold) >= 5  # 31 anger images spread over 5 folds


def _write_csv(path, rows, header="path,valence,arousal,category"):
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return path


def test_generic_table_with_declared_scale(emotion6, tmp_path):
    imgs = emotion6.paths[:3]
    csv = _write_csv(tmp_path / "mine.csv", [f"{imgs[0]},1,7,joy", f"{imgs[1]},4,4,fear", f"{imgs[2]},7,1,"])
    d = read_table(csv, scale="1-7")
    np.testing.assert_allclose(d.vad[:, 0], [1, 5, 9])
    assert d.categories.names == ("fear", "joy")
    assert d.has("category").tolist() == [True, True, False]
    assert np.isnan(d.vad[:, 2]).all() and "dominance" not in d.targets


def test_folder_per_category(emotion6, tmp_path):
    for cat, src in (("calm", emotion6.paths[0]), ("tense", emotion6.paths[1])):
        (tmp_path / cat).mkdir()
        (tmp_path / cat / "a.jpg").write_bytes(src.read_bytes())
    d = read_folders(tmp_path)
    assert d.categories.names == ("calm", "tense")
    np.testing.assert_array_equal(d.probabilities, np.eye(2))


@pytest.mark.parametrize("case,exc,pattern", [
    ("missing_column", DataError, "missing column"),
    ("off_scale", ScaleError, r"row 3: valence 12 is outside its declared scale 1-9"),
    ("missing_file", DataError, r"row 2: image not found"),
    ("not_number", DataError, r"row 2: valence is 'high', not a number"),
    ("empty", DataError, "is empty"),
])
def test_bad_tables_name_the_file_and_row(emotion6, tmp_path, case, exc, pattern):
    img = emotion6.paths[0]
    rows = {
        "missing_column": ("file,valence", [f"{img},5"]),
        "off_scale": ("path,valence", [f"{img},5", f"{img},12"]),
        "missing_file": ("path,valence", ["nowhere.jpg,5"]),
        "not_number": ("path,valence", [f"{img},high"]),
        "empty": ("path,valence", []),
    }[case]
    csv = tmp_path / "t.csv"
    csv.write_text(rows[0] + "\n" + "".join(r + "\n" for r in rows[1]))
    with pytest.raises(exc, match=pattern):
        read_table(csv)


def test_truncated_and_unreadable_images_are_named(emotion6, tmp_path):
    data = emotion6.paths[0].read_bytes()
    trunc = tmp_path / "trunc.jpg"
    trunc.write_bytes(data[: len(data) // 2])
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"this is not an image")
    with pytest.raises(ImageError, match=r"trunc.jpg: unreadable image \(truncated\)"):
        load_rgb(trunc)
    with pytest.raises(ImageError, match="junk.jpg: not an image file"):
        load_rgb(junk)
    with pytest.raises(ImageError, match="image not found"):
        load_rgb(tmp_path / "gone.jpg")


def test_builtin_names_need_a_data_root(monkeypatch):
    monkeypatch.delenv("EMOSYNTH_DATA", raising=False)
    with pytest.raises(DataError, match="EMOSYNTH_DATA"):
        load_dataset("oasis")
    with pytest.raises(DataError, match="unknown data set 'nope'"):
        load_dataset("nope")
