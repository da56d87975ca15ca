"""docs/tutorials/psychologist.md runs as written on four Emotion6 photos: content-matched edits toward low and
high valence, a balanced stimulus set and its jsPsych export, a study created from it, four simulated
participants (one careless) through the study's web app, the export and the report with its picture."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from PIL import Image

from _tutorial import TUTORIALS, run_tutorial


def test_psychologist_tutorial(tmp_path, data_root):
    steps = run_tutorial("psychologist", tmp_path, data_root)
    print(" ".join(f"{s.seconds:.1f}s" for s in steps))

    low, high = (pd.read_csv(tmp_path / "runs" / r / "items.csv") for r in ("low", "high"))
    assert len(low) == len(high) == 4
    assert set(low["source"].map(lambda s: s.split("/")[-1])) == set(high["source"].map(lambda s: s.split("/")[-1]))
    assert low["valence"].mean() < high["valence"].mean()  # the edits moved the judged valence apart

    stim = pd.read_csv(tmp_path / "stimuli" / "valence" / "stimuli.csv")
    assert sorted(stim["cell"].unique()) == ["valence=2", "valence=8"]
    assert (stim.groupby("cell").size() == 2).all()
    assert (tmp_path / "stimuli" / "valence" / "methods.md").stat().st_size > 200
    assert (tmp_path / "export" / "jspsych" / "index.html").is_file()

    assert "participants done" in steps[-2].stdout
    ratings = pd.read_csv(tmp_path / "ratings.csv")
    assert ratings["participant"].nunique() == 4
    main = ratings[ratings["kind"] == "main"]
    assert main[["valence", "arousal", "dominance"]].stack().between(1, 9).all()

    report = tmp_path / "reports" / "pilot"
    summary = json.loads((report / "summary.json").read_text())
    assert summary["participants"] == 4 and summary["excluded"] == 1  # the careless one, by the attention checks
    md = (report / "report.md").read_text()
    assert "valence" in md and len(md) > 1000

    made = Image.open(report / "intended_vs_rated.png")
    assert made.size[0] > 300 and np.asarray(made.convert("L")).std() > 5
    assert (TUTORIALS / "psychologist-intended-vs-rated.png").is_file()
