"""emosynth stimuli (issue 19 §1–2) on real photographs: OASIS images with their normative ratings as a rated
run directory, Emotion6 photos scored by the packaged predictor; the jsPsych export run in Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy import stats as st

from emosynth.cli import main
from emosynth.rundir import run_header, write_items, write_run
from emosynth.stimuli import assign_cells, choose, equalise_histograms, export_stimuli, parse_design, selection_smd

CHROMIUM = os.environ.get("EMOSYNTH_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
DESIGN = "valence=3,7 x arousal=4,5.5"
PER_CELL = 8


def _cli(argv) -> None:
    """Run the CLI as a user would; success is exit 0 (typer ends with SystemExit(0))."""
    try:
        main(argv)
    except SystemExit as e:
        assert e.code in (0, None), e.code


def _rated_run(folder: Path, data, rows_idx, predictions=True) -> Path:
    """A run directory of real photos whose items.csv carries the photos' normative ratings (1-9)."""
    (folder / "images").mkdir(parents=True)
    rows = []
    for i in rows_idx:
        p = Path(data.paths[i])
        f = f"{i:04d}{p.suffix.lower()}"
        shutil.copyfile(p, folder / "images" / f)
        row = {"file": f, "source": str(p)}
        if predictions:
            row.update(valence=data.vad[i, 0], arousal=data.vad[i, 1], dominance=data.vad[i, 2])
        rows.append(row)
    write_items(folder, rows)
    write_run(folder, run_header("ratings", None, {"dataset": data.name}, None, [], method="ratings"))
    return folder


@pytest.fixture(scope="module")
def pool(tmp_path_factory, oasis):
    """360 OASIS photos (every 5th of the first 900 rows is skipped: a pool, not the whole set)."""
    return _rated_run(tmp_path_factory.mktemp("pool") / "oasis-rated", oasis,
                      [i for i in range(len(oasis)) if i % 5 in (0, 2)][:360])


@pytest.fixture(scope="module")
def chosen(pool, tmp_path_factory):
    out = tmp_path_factory.mktemp("stim") / "pilot"
    _cli(["stimuli", "--from", str(pool), "--design", DESIGN, "--per-cell", str(PER_CELL),
          "--balance", "luminance,contrast,colourfulness,slope", "--seed", "3", "--out", str(out), "--quiet"])
    return out


def _md_table(text: str, heading: str) -> list[list[str]]:
    block = text.split(heading, 1)[1].split("\n\n", 2)[1]
    return [[c.strip() for c in line.strip("|").split("|")] for line in block.splitlines()[2:]]


def test_selection_balances_and_the_table_is_a_direct_computation(chosen, pool):
    meta = json.loads((chosen / "emosynth.json").read_text())
    assert meta["kind"] == "stimuli"
    df = pd.read_csv(chosen / "stimuli.csv")
    cells = parse_design(DESIGN).cells
    names = [c.name for c in cells]
    assert meta["cells"] == names and df["cell"].value_counts().to_dict() == {c: PER_CELL for c in names}
    for col in ("file", "cell", "source_run", "source_file", "source", "valence", "arousal", "dominance",
                "luminance", "contrast", "colourfulness", "slope"):
        assert col in df.columns
    # every chosen image is its cell's: within ±1 (the default tolerance) of the cell's levels, no repeats
    items = pd.read_csv(pool / "items.csv").set_index("file")
    assert df["source_file"].is_unique
    for r in df.itertuples():
        assert abs(r.valence - r.target_valence) <= 1 and abs(r.arousal - r.target_arousal) <= 1
        assert r.valence == pytest.approx(items.loc[r.source_file, "valence"])
        assert (chosen / r.file).is_file()
    # the features, measured independently from the written PNG (Pillow's own grey, its own resize)
    for r in df.head(6).itertuples():
        im = Image.open(chosen / r.file).convert("RGB")
        im = im.resize((256, round(256 * im.height / im.width)) if im.width >= im.height else
                       (round(256 * im.width / im.height), 256), Image.BICUBIC)
        grey = np.asarray(im.convert("L"), float) / 255
        assert r.luminance == pytest.approx(grey.mean(), abs=0.003)
        assert r.contrast == pytest.approx(grey.std(), abs=0.003)
        assert -3 < r.slope < 0
    # the balance table against pandas/scipy on stimuli.csv
    rows = _md_table((chosen / "balance.md").read_text(), "## Low-level features per cell")
    assert [r[0] for r in rows] == ["luminance", "contrast", "colourfulness", "slope"]
    for r in rows:
        f = r[0]
        groups = [df.loc[df.cell == c, f].to_numpy() for c in names]
        for k, g in enumerate(groups):
            assert r[1 + k] == f"{g.mean():.3f} ± {g.std(ddof=1):.3f}"
        smd = max(abs(a.mean() - b.mean()) / np.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2)
                  for i, a in enumerate(groups) for b in groups[i + 1:])
        assert float(r[1 + len(names)]) == pytest.approx(smd, abs=0.006)
        assert meta["balance"][f] == pytest.approx(smd, abs=1e-4)
        anova = st.f_oneway(*groups)
        assert r[4 + len(names)] == f"F(3, 28) = {anova.statistic:.2f}"
        # an achievable pool: the matching reaches the goal, and the unmatched nearest-to-target set did not
        assert smd <= 0.2
    assert meta["smd_goal_reached"] and max(meta["balance_unmatched"].values()) > 0.3
    methods = (chosen / "methods.md").read_text()
    for f, v in meta["balance"].items():
        assert f"{v:.2f}" in methods
    assert "32 images, 8 for each cell of a 2 (valence: 3, 7) × 2 (arousal: 4, 5.5) design" in methods
    assert "balance.png" in (chosen / "balance.md").read_text() and (chosen / "balance.png").stat().st_size > 5000
    assert "<table>" in (chosen / "balance.html").read_text()


def test_choose_is_seeded_and_beats_the_unmatched_start():
    rng = np.random.default_rng(1)
    n = 800
    cand = pd.DataFrame({"valence": rng.uniform(1, 9, n), "arousal": rng.uniform(1, 9, n), "category": ""})
    design = parse_design("valence=2,5,8 x arousal=3,7")
    cell_of, dist = assign_cells(cand, design, 1.0)
    # a confound by design: brightness rises with valence, as in real image sets
    X = np.c_[cand["valence"] * 0.15 + rng.normal(0, 1, n), rng.normal(0, 1, n)]
    idx = np.flatnonzero(cell_of >= 0)
    a, info = choose(X[idx], cell_of[idx], dist[idx], 6, 8, seed=5)
    b, _ = choose(X[idx], cell_of[idx], dist[idx], 6, 8, seed=5)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    smd = np.abs(selection_smd(X[idx], a)).max()
    naive = np.abs(selection_smd(X[idx], info["naive"])).max()
    assert smd < 0.2 < naive
    assert all(len(set(g)) == 8 and np.all(cell_of[idx][g] == c) for c, g in enumerate(a))


def test_histogram_equalisation_matches_every_luma_histogram(oasis):
    ims = [np.asarray(Image.open(oasis.paths[i]).convert("RGB")) for i in (0, 100, 200, 300)]
    eq = equalise_histograms(ims, seed=0)
    ys = [np.asarray(Image.fromarray(e).convert("YCbCr"))[..., 0] for e in eq]
    cdfs = [np.cumsum(np.bincount(y.ravel(), minlength=256)) / y.size for y in ys]
    before = [np.asarray(Image.fromarray(i).convert("L"), float).mean() for i in ims]
    # nearly one CDF for all (RGB rounding and gamut clipping move a few pixels); the raw means differed
    assert max(np.abs(c - cdfs[0]).max() for c in cdfs) < 0.05
    assert np.ptp([y.mean() for y in ys]) < 2.0 < np.ptp(before)


def _no_output(capsys, out: Path, argv):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    msg = capsys.readouterr().err.strip()
    assert msg.startswith("error:") and "\n" not in msg and "Traceback" not in msg
    assert not out.exists() and not any(p.name.startswith(f".{out.name}") for p in out.parent.iterdir())
    return msg


def test_bad_input_is_one_line_exit_2_and_nothing_written(pool, chosen, oasis, tmp_path, capsys):
    out = tmp_path / "never"
    base = ["stimuli", "--from", str(pool), "--out", str(out)]
    assert "unknown feature 'loudness'" in _no_output(
        capsys, out, base + ["--design", DESIGN, "--balance", "luminance,loudness"])
    msg = _no_output(capsys, out, base + ["--design", "valence=2,5,8 x arousal=3,7", "--per-cell", "12"])
    assert "too few candidates" in msg and re.search(r"valence=2,arousal=3 has \d+;", msg)
    assert "off the SAM 1-9 scale" in _no_output(capsys, out, base + ["--design", "valence=0,5"])
    bare = _rated_run(tmp_path / "bare", oasis, range(10), predictions=False)
    msg = _no_output(capsys, out, ["stimuli", "--from", str(bare), "--design", DESIGN, "--out", str(out)])
    assert "run without predictions" in msg
    assert "--equalise must be one of histogram, spectrum" in _no_output(
        capsys, out, base + ["--design", DESIGN, "--equalise", "blur"])
    assert "must be one of" in _no_output(capsys, out, ["stimuli", "export", str(chosen), "--format", "excel",
                                                        "--out", str(out)])
    assert "not a stimulus folder" in _no_output(capsys, out, ["stimuli", "export", str(pool), "--format", "csv",
                                                               "--out", str(out)])
    # an earlier stimulus folder is replaced only with --overwrite
    msg = _no_output(capsys, tmp_path / "x", ["stimuli", "--from", str(pool), "--design", DESIGN, "--out",
                                              str(chosen)])
    assert "--overwrite" in msg and (chosen / "stimuli.csv").is_file()


def test_psychopy_and_csv_exports(chosen, tmp_path):
    df = pd.read_csv(chosen / "stimuli.csv")
    cond = pd.read_csv(export_stimuli(chosen, "psychopy", tmp_path / "pp"))
    assert len(cond) == len(df) and cond.columns[0] == "image"
    assert all(re.fullmatch(r"[A-Za-z_]\w*", c) for c in cond.columns)
    assert all((tmp_path / "pp" / p).is_file() for p in cond["image"])
    assert list(cond["cell"]) == list(df["cell"]) and np.allclose(cond["luminance"], df["luminance"])
    plain = pd.read_csv(export_stimuli(chosen, "csv", tmp_path / "csv"))
    assert list(plain["valence"]) == pytest.approx(list(df["valence"]))
    assert all((tmp_path / "csv" / p).is_file() for p in plain["image"])


def test_jspsych_export_completes_in_chromium_and_saves_every_trial(chosen, tmp_path):
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} missing: run scripts/setup.sh (installs Debian's chromium)")
    index = export_stimuli(chosen, "jspsych", tmp_path / "js", dominance=True)
    timeline = json.loads((tmp_path / "js" / "timeline.json").read_text())
    n = len(timeline["trials"])
    assert n == 4 * PER_CELL and timeline["dimensions"] == ["valence", "arousal", "dominance"]
    given = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(accept_downloads=True)
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(index.resolve().as_uri() + "?PROLIFIC_PID=p-42&STUDY_ID=s-1&SESSION_ID=x-7")
        page.get_by_role("button", name="Start").click()
        for t in range(n):
            page.wait_for_selector("#jspsych-survey-likert-next")
            src = page.locator("img.stimulus").get_attribute("src")
            vals = [(t + q) % 9 for q in range(3)]
            for q, v in enumerate(vals):
                page.locator(f"input[name='Q{q}'][value='{v}']").check()
            given[src] = [v + 1 for v in vals]
            if t < n - 1:
                page.click("#jspsych-survey-likert-next")
            else:
                with page.expect_download() as dl:
                    page.click("#jspsych-survey-likert-next")
                dl.value.save_as(tmp_path / "ratings.csv")
        page.wait_for_selector("#saved-file")
        browser.close()
    assert not errors
    got = pd.read_csv(tmp_path / "ratings.csv")
    assert len(got) == n and sorted(got["trial_number"]) == list(range(1, n + 1))
    assert set(got["participant"]) == {"p-42"} and set(got["study_id"]) == {"s-1"}
    files = pd.read_csv(chosen / "stimuli.csv").set_index("file")["cell"]
    assert sorted(got["file"]) == sorted(files.index)
    for r in got.itertuples():
        image = next(t["image"] for t in timeline["trials"] if t["file"] == r.file)
        assert [r.valence, r.arousal, r.dominance] == given[image] and r.cell == files[r.file]
        assert r.rt > 0


def test_photo_folder_scored_by_the_predictor_then_equalised(emotion6, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    picked = [i for i, c in enumerate(emotion6.categories.names[k] for k in emotion6.probabilities.argmax(1))
              if c in ("joy", "sadness")]
    for i in picked[::60][:14]:
        shutil.copyfile(emotion6.paths[i], photos / f"{i:04d}.jpg")
    out = tmp_path / "eq"
    _cli(["stimuli", "--from", str(photos), "--design", "valence=3.5,6.5", "--tolerance", "1.5", "--per-cell", "3",
          "--balance", "luminance,saturation", "--equalise", "histogram", "--out", str(out), "--quiet",
          # eager PyTorch: no one-off ONNX export of the packaged backbones in the tests' private cache
          "--engine", "eager"])
    meta = json.loads((out / "emosynth.json").read_text())
    df = pd.read_csv(out / "stimuli.csv")
    assert len(df) == 6 and df["source_run"].isna().all() and df["source_file"].str.startswith(str(photos)).all()
    assert meta["models"] and meta["models"][0].startswith("default:")
    eq = meta["equalise"]
    # the predictor re-scored the equalised images: stimuli.csv holds its verdicts, the originals' beside them
    assert (df["valence"] != df["original_valence"]).any()
    before, after = eq["contrast_before"]["valence"], eq["contrast_after"]["valence"]
    assert before == pytest.approx(df.groupby("target_valence")["packaged_before_valence"].mean().diff().iloc[-1])
    assert after == pytest.approx(df.groupby("target_valence")["valence"].mean().diff().iloc[-1])
    assert eq["emotion_contrast_shrank"] == (abs(after) < abs(before) - 0.05)
    # luminance histograms matched: the cells' mean luminance no longer differs
    assert meta["balance_equalised"]["luminance"] < 0.05
    text = (out / "methods.md").read_text()
    assert f"went from {before:.2f} to {after:.2f}" in text and "histogram matching" in text
    if eq["emotion_contrast_shrank"]:
        assert "emotion contrast shrank after equalisation" in (out / "balance.md").read_text()


def test_spectrum_equalisation_gives_every_image_the_mean_amplitude_spectrum(oasis):
    from emosynth.stimuli import equalise_spectra

    ims = [np.asarray(Image.open(oasis.paths[i]).convert("RGB")) for i in (5, 305, 605)]
    eq = equalise_spectra(ims)
    side = min(min(i.shape[:2]) for i in ims)
    assert all(e.shape == (side, side, 3) for e in eq)
    ys = [np.asarray(Image.fromarray(e).convert("YCbCr"))[..., 0] / 255.0 for e in eq]
    amps = [np.abs(np.fft.fft2(y)) for y in ys]
    mean = np.mean(amps, axis=0)
    # every image's amplitude close to the common spectrum (clipping and 8-bit rounding aside), unlike before
    crops = [np.asarray(Image.fromarray(i).convert("L").crop(((i.shape[1] - side) // 2, (i.shape[0] - side) // 2,
                                                               (i.shape[1] - side) // 2 + side,
                                                               (i.shape[0] - side) // 2 + side)), float) / 255
             for i in ims]
    raw = [np.abs(np.fft.fft2(c)) for c in crops]
    raw_mean = np.mean(raw, axis=0)
    for a, r in zip(amps, raw):
        after = np.median(np.abs(a - mean) / (mean + 1e-9))
        before = np.median(np.abs(r - raw_mean) / (raw_mean + 1e-9))
        assert after < 0.15 and after < 0.5 * before
