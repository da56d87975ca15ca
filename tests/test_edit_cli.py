"""`emosynth edit` (issue 18): one photo, a folder, a sweep and a recipe re-applied write the run directory
(run.json, images/, recipes/, items.csv, before_after.png); `--judges default` is exactly `edit_photos` with
the packaged module; the default `--judges consensus-palmer` optimises and reports `Consensus.objective`; the
same photo and seed give the same pixels; bad input is one line, exit 2, nothing written; `evolve --encoding edit`."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from emosynth.cli import main
from emosynth.imageio import read_image

STEPS = "3"
FAST = ["--steps", STEPS, "--judges", "default", "--quiet"]


def _run(args) -> int:
    try:
        main([str(a) for a in args])
    except SystemExit as e:
        return e.code or 0
    return 0


def _cli(args, capsys):
    """Run the CLI in this process: (exit code, stderr)."""
    code = _run(args)
    return code, capsys.readouterr().err


def _tensor(im) -> torch.Tensor:
    return torch.from_numpy(np.array(im)).float().permute(2, 0, 1)[None] / 255


@pytest.fixture(scope="module")
def photos(data_root, tmp_path_factory):
    """Two Emotion6 photos shrunk to 160 px on the long side (fast), in a folder."""
    folder = tmp_path_factory.mktemp("photos")
    out = []
    for sub, name in (("joy", "1.jpg"), ("sadness", "2.jpg")):
        src = data_root / "emotion6" / "images" / sub / name
        if not src.is_file():
            pytest.skip(f"Emotion6 photo {src} not found")
        im = read_image(src)
        im.thumbnail((160, 160))
        path = folder / f"{sub}-{name.replace('.jpg', '.png')}"
        im.save(path)
        out.append(path)
    return folder, out


@pytest.fixture(scope="module")
def gloomy(photos, tmp_path_factory):
    """One photo toward valence 2, the packaged model alone, Ou's colour model held out."""
    _, (photo, _) = photos
    out = tmp_path_factory.mktemp("runs") / "gloomy"
    assert _run(["edit", photo, "--valence", "2", "--check-judges", "ou", "--out", out, *FAST]) == 0
    return photo, out


def test_one_photo_writes_the_run_directory(gloomy):
    photo, out = gloomy
    for name in ("run.json", "items.csv", "before_after.png", "images/joy-1_v2.png", "recipes/joy-1_v2.json"):
        assert (out / name).is_file(), name
    meta = json.loads((out / "run.json").read_text())
    assert meta["kind"] == "edit"
    assert meta["config"]["judges"]["judges"] == "default"
    assert meta["config"]["judges"]["objective"] == "squared error"
    assert meta["config"]["judges"]["check_judges"] == ["ou"]
    assert meta["config"]["steps"] == int(STEPS)
    items = pd.read_csv(out / "items.csv")
    assert len(items) == 1
    row = items.iloc[0]
    assert row["source"] == str(photo) and row["target_valence"] == 2
    for col in ("before_valence", "valence", "ssim", "recipe", "recipe_file", "ou_valence", "ou_valence_before",
                "ou_arousal", "edit_exposure_ev", "objective"):
        assert col in items.columns and pd.notna(row[col]), col
    # the output keeps the photo's own size; the contact sheet holds the original and the edit
    assert read_image(out / "images" / "joy-1_v2.png").size == read_image(photo).size
    sheet = read_image(out / "before_after.png")
    assert sheet.width > 2 * 160


def test_default_judges_are_exactly_edit_photos_with_the_packaged_module(gloomy):
    from emosynth.models import Predictor
    from emosynth.synth import EditConfig, edit_photos

    photo, out = gloomy
    res = edit_photos([read_image(photo)], [{"valence": 2}], Predictor.load().module(flip=False),
                      EditConfig(steps=int(STEPS), seed=0))
    assert np.array_equal(np.asarray(read_image(out / "images" / "joy-1_v2.png")), res[0].image)
    saved = json.loads((out / "recipes" / "joy-1_v2.json").read_text())
    assert saved["operations"] == res[0].recipe["operations"]


def test_a_recipe_reapplied_gives_the_same_bytes(gloomy, tmp_path, capsys):
    photo, out = gloomy
    again = tmp_path / "same-edit"
    code, err = _cli(["edit", "--recipe", out / "recipes" / "joy-1_v2.json", photo, "--judges", "default",
                      "--check-judges", "none", "--out", again, "-q"], capsys)
    assert code == 0, err
    assert (again / "images" / "joy-1.png").read_bytes() == (out / "images" / "joy-1_v2.png").read_bytes()
    meta = json.loads((again / "run.json").read_text())
    assert meta["config"]["judges"]["mode"] == "recipe" and meta["config"]["judges"]["recipe"]
    assert json.loads((again / "recipes" / "joy-1.json").read_text()) == json.loads(
        (out / "recipes" / "joy-1_v2.json").read_text())


def test_the_same_photo_and_seed_give_the_same_edit(gloomy, tmp_path, capsys):
    photo, out = gloomy
    code, err = _cli(["edit", photo, "--valence", "2", "--check-judges", "ou", "--out", tmp_path / "r", *FAST],
                     capsys)
    assert code == 0, err
    assert (tmp_path / "r" / "images" / "joy-1_v2.png").read_bytes() == (out / "images" / "joy-1_v2.png").read_bytes()


def test_a_folder(photos, tmp_path, capsys):
    folder, paths = photos
    out = tmp_path / "serene"
    code, err = _cli(["edit", folder, "--valence", "8", "--arousal", "3", "--check-judges", "none", "--out", out,
                      "--steps", "2", "--judges", "default", "-q"], capsys)
    assert code == 0, err
    items = pd.read_csv(out / "items.csv")
    assert sorted(items["source"]) == sorted(str(p) for p in paths)
    assert (items["target_valence"] == 8).all() and (items["target_arousal"] == 3).all()
    for f, r in zip(items["file"], items["recipe_file"]):
        assert (out / "images" / f).is_file() and (out / r).is_file()
    assert (out / "before_after.png").is_file() and json.loads((out / "run.json").read_text())["metrics"]["photos"] == 2


def test_a_sweep_reports_the_held_out_valence_direction(photos, tmp_path, capsys):
    _, (photo, _) = photos
    out = tmp_path / "atlas"
    code, err = _cli(["edit", photo, "--sweep", "--grid", "2", "--check-judges", "ou", "--out", out,
                      "--steps", "2", "--judges", "default", "-q"], capsys)
    assert code == 0, err
    items = pd.read_csv(out / "items.csv")
    assert len(items) == 4 and set(items["target_valence"]) == {2.0, 8.0} and set(items["target_arousal"]) == {2.0, 8.0}
    d = json.loads((out / "run.json").read_text())["metrics"]["valence_direction"]["ou"]
    assert d["photos"] == 1 and d["goal"] == 0.9
    hi = items.loc[items["target_valence"] == 8, "ou_valence"].mean()
    lo = items.loc[items["target_valence"] == 2, "ou_valence"].mean()
    assert d["fraction_photos"] == float(hi > lo)


def test_consensus_objective_is_used_and_reported(photos, tmp_path, capsys):
    from emosynth.judges import Consensus, parse_judges
    from emosynth.transforms import resize

    _, (photo, _) = photos
    out = tmp_path / "bright"
    code, err = _cli(["edit", photo, "--valence", "8", "--steps", "2", "--check-judges", "ou", "--out", out, "-q"],
                     capsys)
    assert code == 0, err
    meta = json.loads((out / "run.json").read_text())
    j = meta["config"]["judges"]
    # the default: the network ensemble and the Palmer colour judge
    assert j["judges"] == "consensus-palmer" and j["objective"] == "consensus" and j["method"] == "softmin"
    assert j["names"] == ["ensemble", "palmer-2013"]
    row = pd.read_csv(out / "items.csv").iloc[0]
    # the per-image objective is Consensus.objective of the saved edit at the working size
    x = resize(_tensor(read_image(out / "images" / row["file"])), meta["config"]["size"]).clamp(0, 1)
    with torch.no_grad():
        want = Consensus(parse_judges("consensus-palmer")).objective(x, torch.tensor([[8.0, math.nan, math.nan]]))
    assert row["objective"] == pytest.approx(float(want[0]), abs=1e-3)
    assert row["objective"] < 0
    for col in ("judge_ensemble_valence", "judge_palmer-2013_valence", "ou_valence"):
        assert col in row.index and pd.notna(row[col]), col


def _bad_recipe(tmp_path, **change):
    from emosynth.synth import NEUTRAL, make_recipe

    r = make_recipe(NEUTRAL)
    r.update(change)
    path = tmp_path / "recipe.json"
    path.write_text(json.dumps(r))
    return path


BAD = {
    "unreadable photo": (lambda t, p: [t / "broken.jpg", "--valence", "2"], "broken.jpg"),
    "missing photo": (lambda t, p: [t / "nope.jpg", "--valence", "2"], "no such file"),
    "target off the scale": (lambda t, p: [p, "--valence", "12"], "--valence"),
    "no target": (lambda t, p: [p], "--sweep"),
    "target and recipe": (lambda t, p: [p, "--valence", "3", "--recipe", _bad_recipe(t)], "--recipe"),
    "recipe from another version": (lambda t, p: [p, "--recipe", _bad_recipe(t, version=99)], "version 99"),
    "recipe with an unknown op": (lambda t, p: [p, "--recipe", _bad_recipe(t, operations=[{"op": "posterise"}])],
                                  "posterise"),
    "held-out judge also optimised": (lambda t, p: [p, "--valence", "2", "--judges", "default,ou",
                                                    "--check-judges", "ou"], "--check-judges"),
    "grid of one": (lambda t, p: [p, "--sweep", "--grid", "1"], "--grid"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_line_exit_2_nothing_written(case, photos, tmp_path, capsys):
    _, (photo, _) = photos
    (tmp_path / "broken.jpg").write_bytes(b"this is not a JPEG")
    args, needle = BAD[case]
    out = tmp_path / "run"
    code, err = _cli(["edit", *args(tmp_path, photo), "--out", out, "--steps", "1", "-q"], capsys)
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], err
    assert not out.exists()


def test_an_output_folder_that_is_not_ours_is_refused(photos, tmp_path, capsys):
    _, (photo, _) = photos
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("a user's file")
    code, err = _cli(["edit", photo, "--valence", "2", "--out", out, "-q"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_evolve_over_edits_of_a_photo(photos, tmp_path, capsys):
    from emosynth.rundir import read_run
    from emosynth.synth import EvolveConfig, evolve, ssim_grey

    _, (photo, _) = photos
    out = tmp_path / "photo-atlas"
    evolve(EvolveConfig(space="va", cells=4, encoding="edit", photo=str(photo), iterations=2, batch=8, emitters=2,
                        checkpoint_every=1, export_size=128, check_judges="none"), out)  # Lite2 trains for minutes
    meta = json.loads((out / "run.json").read_text())
    assert meta["config"]["photo"] == str(photo) and meta["encoding"]["name"] == "edit"
    assert meta["encoding"]["photo"] == str(photo.resolve())
    run = read_run(out)
    assert len(run.items) >= 1 and (run.items["source"] == str(photo)).all()
    original = read_image(photo)
    for f in run.items["file"]:
        im = read_image(out / "images" / f)
        ref = original.resize(im.size)
        assert float(ssim_grey(_tensor(im), _tensor(ref))[0]) > 0.3, f
    # --encoding edit needs --photo: one line before any work
    code, err = _cli(["evolve", "--encoding", "edit", "--space", "va", "--out", tmp_path / "e2", "-q"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "--photo" in err
    assert not (tmp_path / "e2").exists()


def test_a_large_photo_is_edited_small_and_written_at_full_size(photos, tmp_path, capsys):
    from PIL import Image

    _, (photo, _) = photos
    big = tmp_path / "big.png"
    im = read_image(photo)
    im.resize((2400, round(2400 * im.height / im.width)), Image.BICUBIC).save(big)
    out = tmp_path / "big-run"
    code, err = _cli(["edit", big, "--valence", "2", "--check-judges", "none", "--out", out, "--steps", "1",
                      "--judges", "default", "-q"], capsys)
    assert code == 0, err
    meta = json.loads((out / "run.json").read_text())
    assert meta["config"]["size"] == 224  # optimised at the working size ...
    assert read_image(out / "images" / "big_v2.png").size == read_image(big).size  # ... written at full size
    recipe = json.loads((out / "recipes" / "big_v2.json").read_text())
    from emosynth.synth import apply_recipe

    assert np.array_equal(apply_recipe(recipe, read_image(big)), np.asarray(read_image(out / "images" / "big_v2.png")))
