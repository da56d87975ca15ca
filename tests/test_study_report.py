"""The study's statistics on fixtures with known answers, and the report written from a real study."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from emosynth.errors import StudyError
from emosynth.study import (
    EXPORT_COLUMNS,
    analyse,
    icc2k,
    krippendorff_alpha_interval,
    mae,
    pearson,
    share_on_intended_side,
    write_report,
)

sys.path.insert(0, str(Path(__file__).parent))


def test_icc_matches_shrout_fleiss_1979():
    # Shrout & Fleiss (1979), Table 2: 6 targets x 4 judges; their ICC(2,k) is 0.62 (ICC(2,1) 0.29)
    table = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]
    assert icc2k(table) == pytest.approx(0.620, abs=0.001)


def test_alpha_matches_krippendorffs_worked_example():
    # Krippendorff (2011) "Computing Krippendorff's alpha-reliability": 4 observers x 12 units with
    # missing values; interval alpha = 0.849
    n = np.nan
    by_observer = np.array([[1, 2, 3, 3, 2, 1, 4, 1, 2, n, n, n], [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, n, 3],
                            [n, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, n], [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, n]])
    assert krippendorff_alpha_interval(by_observer.T) == pytest.approx(0.849, abs=0.001)


def test_perfect_raters_give_one_and_random_raters_near_zero():
    rng = np.random.default_rng(0)
    truth = rng.integers(1, 10, size=40).astype(float)
    perfect = np.repeat(truth[:, None], 8, axis=1)
    assert icc2k(perfect) == pytest.approx(1.0)
    assert krippendorff_alpha_interval(perfect) == pytest.approx(1.0)
    assert pearson(truth, perfect.mean(1)) == pytest.approx(1.0)
    assert mae(truth, perfect.mean(1)) == 0
    # ICC(2,k) ~ 1 - 1/F swings widely for unrelated raters (sd about sqrt(2/n)): 1,000 images keep
    # it within a few hundredths of 0; the bounds are over 3 sd
    random = rng.integers(1, 10, size=(1000, 8)).astype(float)
    assert abs(icc2k(random)) < 0.15
    assert abs(krippendorff_alpha_interval(random)) < 0.02
    assert abs(pearson(rng.uniform(1, 9, 1000), random.mean(1))) < 0.1
    # missing ratings: alpha uses what is there
    holes = perfect.copy()
    holes[rng.random(holes.shape) < 0.3] = np.nan
    assert krippendorff_alpha_interval(holes) == pytest.approx(1.0)


def test_share_on_intended_side():
    share, n = share_on_intended_side([2, 8, 8, 5, 3], [4, 6, 4, 9, 5])
    assert n == 4 and share == pytest.approx(0.5)  # 2->4 yes, 8->6 yes, 8->4 no, 3->5 (midpoint) no


def _frame(ratings: dict, intended: dict, attention: dict, pred: dict | None = None) -> pd.DataFrame:
    """An export-format frame: ratings[participant][image] = (v, a, d); intended[image] = (v, a, d)."""
    rows = []
    for p, per_image in ratings.items():
        pos = 0
        for image, (v, a, d) in per_image.items():
            tv, ta, td = intended[image]
            pv = (pred or {}).get(image, (np.nan,) * 3)
            rows.append(dict(study="s", participant=p, position=pos, kind="main", image=image, target=f"t{image}",
                             target_valence=tv, target_arousal=ta, target_dominance=td, pred_valence=pv[0],
                             pred_arousal=pv[1], pred_dominance=pv[2], valence=v, arousal=a, dominance=d,
                             participant_finished=True))
            pos += 1
        for ok in attention.get(p, []):
            ans = (1, 1, 1) if ok else (5, 5, 5)
            rows.append(dict(study="s", participant=p, position=pos, kind="attention", image="i0", target="ti0",
                             valence=ans[0], arousal=ans[1], dominance=ans[2], attention_pass=ok,
                             participant_finished=True))
            pos += 1
    return pd.DataFrame(rows, columns=EXPORT_COLUMNS)


def test_analysis_perfect_raters_and_the_exclusion_rule():
    images = [f"i{k}" for k in range(6)]
    intended = {im: (2.0 + k, 8.0 - k, 3.0 + k) for k, im in enumerate(images)}
    exact = {im: tuple(int(x) for x in intended[im]) for im in images}  # raters give the intended value
    ratings = {p: dict(exact) for p in (1, 2, 3)}
    rng = np.random.default_rng(1)
    ratings[4] = {im: tuple(int(x) for x in rng.integers(1, 10, 3)) for im in images}  # a careless one
    attention = {1: [True] * 4, 2: [True, True, True, False], 3: [], 4: [True, False, False, True]}
    a = analyse(_frame(ratings, intended, attention, pred={im: (5.0, 5.0, 5.0 + k) for k, im in enumerate(images)}))
    parts = a.participants.set_index("participant")
    assert parts["excluded"].to_dict() == {1: False, 2: False, 3: False, 4: True}  # 1 of 4 ok, 2 of 4 not
    assert parts.loc[4, "failed"] == 2 and parts.loc[3, "checks"] == 0
    for dim in ("valence", "arousal", "dominance"):
        m = a.metrics[dim]
        assert m["icc2k"] == pytest.approx(1.0) and m["alpha_interval"] == pytest.approx(1.0)
        assert m["r_intended_rated"] == pytest.approx(1.0) and m["mae_intended_rated"] == 0
        assert m["icc_raters"] == 3
    assert a.metrics["valence"]["share_intended_side"] == 1.0
    assert a.metrics["dominance"]["r_predicted_rated"] == pytest.approx(1.0)
    assert np.isnan(a.metrics["valence"]["r_predicted_rated"])  # a constant prediction has no r
    assert a.n_ratings == 18 and len(a.images) == 6
    assert (a.images["n"] == 3).all() and (a.images["valence_ci"] == 0).all()


def test_analysis_random_raters_near_zero():
    rng = np.random.default_rng(2)
    images = [f"i{k}" for k in range(150)]
    intended = {im: tuple(rng.uniform(1, 9, 3)) for im in images}
    ratings = {p: {im: tuple(int(x) for x in rng.integers(1, 10, 3)) for im in images} for p in range(1, 9)}
    a = analyse(_frame(ratings, intended, {}))
    for dim in ("valence", "arousal", "dominance"):
        m = a.metrics[dim]
        assert abs(m["r_intended_rated"]) < 0.35 and abs(m["icc2k"]) < 0.35 and abs(m["alpha_interval"]) < 0.05


def test_report_written_atomically_and_never_over_a_foreign_folder(tmp_path):
    images = [f"i{k}" for k in range(4)]
    intended = {im: (2 + 2 * k, 8 - 2 * k, 5.0) for k, im in enumerate(images)}
    ratings = {p: {im: (2 + 2 * k, 7 - k, 5) for k, im in enumerate(images)} for p in (1, 2)}
    a = analyse(_frame(ratings, intended, {1: [True]}))
    out = write_report(a, tmp_path / "rep", "t")
    names = {p.name for p in out.iterdir()}
    assert {"report.md", "report.html", "images.csv", "targets.csv", "participants.csv", "summary.json",
            "intended_vs_rated.png", "va_plane.png"} <= names
    md = (out / "report.md").read_text()
    assert "ICC(2,k)" in md and "Krippendorff" in md and "Rule: a participant is excluded" in md
    assert "data:image/png;base64" in (out / "report.html").read_text()
    write_report(a, out, "again")  # an earlier report is replaced
    assert "# again" in (out / "report.md").read_text()
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("x")
    with pytest.raises(StudyError, match="not an earlier study report"):
        write_report(a, foreign, "t")
    assert [p.name for p in foreign.iterdir()] == ["keep.txt"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_target_interval_is_over_participants_not_pooled_ratings():
    """Three images of one target, one participant rating all 9, another all 1: two independent
    people, not six ratings — the interval is the t-interval of the two people's means."""
    from scipy import stats as st

    images = ["i0", "i1", "i2"]
    intended = {im: (5.0, 5.0, 5.0) for im in images}
    ratings = {1: {im: (9, 9, 9) for im in images}, 2: {im: (1, 1, 1) for im in images}}
    df = _frame(ratings, intended, {})
    df["target"] = "t"
    row = analyse(df).targets.set_index("target").loc["t"]
    assert row["participants"] == 2 and row["n"] == 6 and row["valence_mean"] == 5.0
    assert row["valence_ci"] == pytest.approx(st.t.ppf(0.975, 1) * np.std([9, 1], ddof=1) / np.sqrt(2))
