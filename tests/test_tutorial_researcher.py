"""docs/tutorials/researcher.md runs as written on 24 rated Emotion6 photos: the folder is scored, three
backbones compared on the researcher's CSV, a model trained on it and used, and the comparison's picture made."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from PIL import Image

from _tutorial import TUTORIALS, run_tutorial


def test_researcher_tutorial(tmp_path, data_root):
    steps = run_tutorial("researcher", tmp_path, data_root)
    print(" ".join(f"{s.seconds:.1f}s" for s in steps))

    ratings = pd.read_csv(tmp_path / "ratings.csv")
    assert len(ratings) == 24 and ratings["valence"].between(1, 9).all()
    assert "24 rated photos" in steps[0].stdout

    scores = pd.read_csv(tmp_path / "scores.csv")
    assert len(scores) == 24
    for dim in ("valence", "arousal"):
        assert scores[dim].between(1, 9).all()
    probs = scores[[c for c in scores.columns if c.startswith("p_")]].to_numpy()
    assert np.allclose(probs.sum(axis=1), 1, atol=1e-3)
    # the packaged model's valence follows the raters' (Emotion6 is in its training data: a fit, not a test)
    merged = scores.assign(path=scores["path"].str.replace("^photos/", "", regex=True)).merge(
        ratings.assign(path=ratings["path"].str.replace("^photos/", "", regex=True)), on="path",
        suffixes=("", "_rated"))
    assert len(merged) == 24
    assert np.corrcoef(merged["valence"], merged["valence_rated"])[0, 1] > 0.4
    for dim in ("valence", "arousal", "dominance"):  # intervals, where the model carries them, hold the value
        lo, hi = f"interval_{dim}_lo", f"interval_{dim}_hi"
        if lo in scores.columns and scores[lo].notna().any():
            assert (scores[lo] <= scores[dim] + 1e-6).all() and (scores[dim] <= scores[hi] + 1e-6).all()

    summary = pd.read_csv(tmp_path / "reports" / "compare" / "summary.csv")
    assert {"efficientnet-lite0", "mobilenetv2", "handcrafted"} <= set(summary["backbone"])
    assert (tmp_path / "reports" / "compare" / "report.html").stat().st_size > 10_000

    card = json.loads((tmp_path / "models" / "mine" / "model.json").read_text())
    assert "mobilenetv2" in json.dumps(card)
    mine = [json.loads(line) for line in (tmp_path / "mine.jsonl").read_text().splitlines()]
    assert len(mine) == 24 and all(1 <= r["valence"] <= 9 for r in mine)
    assert 1 <= float(steps[-1].stdout.strip()) <= 9

    # the page's picture is one this tutorial makes
    made = Image.open(tmp_path / "reports" / "compare" / "heatmaps.png")
    assert made.size[0] > 300 and np.asarray(made.convert("L")).std() > 5
    assert (TUTORIALS / "researcher-heatmaps.png").is_file()
