"""The analysis of image sets: it finds a planted difference, finds none between two halves of one
random set, and sees a synthetic set that copies real images as agreeing with them."""

import numpy as np
import pytest
from PIL import Image

from emosynth.cli import main
from emosynth.report.analysis import ImageSet, effects, extract, feature_names, from_dataset
from emosynth.rundir import run_header, write_items, write_png, write_run


@pytest.fixture(scope="module")
def emotion6(data_root):
    return from_dataset("emotion6", data_root)


def _sample(s: ImageSet, n: int, seed: int) -> list:
    rng = np.random.default_rng(seed)
    return sorted(rng.choice(len(s.paths), n, replace=False))


def test_darkened_copies_are_reported_darker_with_a_large_effect(emotion6, tmp_path):
    idx = _sample(emotion6, 40, 0)
    paths, labels = [], []
    for i in idx:
        img = np.asarray(Image.open(emotion6.paths[i]).convert("RGB"), dtype=float)
        dark = tmp_path / f"dark{i}.png"
        Image.fromarray((img * 0.5).astype(np.uint8)).save(dark)
        paths += [emotion6.paths[i], dark]
        labels += ["original", "darkened"]
    s = ImageSet("planted", "test", paths, np.array(labels), np.full(len(paths), ""))
    extract([s])
    e = effects(s, "category").set_index(["group", "feature"])
    d = e.loc[("darkened", "colour_brightness_mean")]
    assert d["d"] < -1.5 and d["d_high"] < 0 and d["q"] < 1e-6
    assert e.loc[("original", "colour_brightness_mean"), "d"] == pytest.approx(-d["d"], rel=1e-6)


def test_two_halves_of_one_random_set_do_not_differ(emotion6):
    idx = _sample(emotion6, 160, 1)
    halves = np.array(["a", "b"] * 80)
    np.random.default_rng(2).shuffle(halves)
    s = ImageSet("halves", "test", [emotion6.paths[i] for i in idx], halves, np.full(len(idx), ""))
    extract([s])
    e = effects(s, "category")
    assert len(e) == 2 * len(feature_names())
    assert (e["q"] >= 0.05).all()  # nothing survives the correction
    assert (e["d"].abs() < 0.6).all()


def test_a_set_that_copies_real_images_agrees_with_them(emotion6, tmp_path, capsys, data_root):
    """A 'run' made of real Emotion6 images, targeted at their raters' category, moves every feature as
    Emotion6 does (sign agreement high, d correlated); the CLI writes the report."""
    idx = _sample(emotion6, 280, 3)
    run = tmp_path / "copy-run"
    rows = []
    for i in idx:
        name = f"{i}.png"
        write_png(run / "images" / name, np.asarray(Image.open(emotion6.paths[i]).convert("RGB").resize((128, 128))))
        rows.append({"file": name, "target_category": emotion6.category[i]})
    write_items(run, rows)
    write_run(run, run_header("copy", None, {}, None, []))
    with pytest.raises(SystemExit) as e:
        main(["analyze", str(run), "--dataset", "emotion6", "--data-root", str(data_root), "--out",
              str(tmp_path / "report"), "-q"])
    assert e.value.code == 0
    import pandas as pd

    agr = pd.read_csv(tmp_path / "report" / "agreement.csv")
    cat = agr[agr.grouping == "category"]
    assert set(cat.group) >= {"joy", "sadness"}
    big = cat[cat.clear_features >= 5]
    assert len(big) >= 2 and (big.sign_agreement >= 0.8).all() and (big.r > 0.5).all()
    md = (tmp_path / "report" / "report.md").read_text()
    assert "## Do synthesised images move the features as real images do?" in md
    assert (tmp_path / "report" / "effects_category.png").is_file()


def test_analyze_needs_something_to_analyse(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["analyze", "--out", str(tmp_path / "r")])
    assert e.value.code == 2 and "give one or more run directories" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["analyze", str(tmp_path), "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "not a finished run directory" in err and len(err.strip().splitlines()) == 1
