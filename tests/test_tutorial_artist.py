"""docs/tutorials/artist.md runs as written: a small VA archive is evolved and checked by a held-out colour
judge, the predictor's outputs are drawn and analysed, a gallery is built, and the page's picture is made."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from PIL import Image

from _tutorial import TUTORIALS, run_tutorial


def test_artist_tutorial(tmp_path, data_root):
    steps = run_tutorial("artist", tmp_path, data_root)
    print(" ".join(f"{s.seconds:.1f}s" for s in steps))

    va = tmp_path / "runs" / "va-cppn"
    meta = json.loads((va / "run.json").read_text())
    items = pd.read_csv(va / "items.csv")
    assert meta["kind"] == "evolve" and 0 < len(items) <= 64
    assert items[["valence", "arousal"]].stack().between(1, 9).all()
    assert "ou" in meta["transfer"] and items["ou_valence"].between(1, 9).all()  # the held-out judge scored them
    for f in items["file"]:
        assert Image.open(va / "images" / f).size == (256, 256)

    vis = tmp_path / "runs" / "visualize"
    vitems = pd.read_csv(vis / "items.csv")
    assert len(vitems) == 3 and (vis / "mosaic.png").is_file()
    # drawing for joy raises the predictor's joy above its start (run.json keeps start and end per objective)
    objectives = json.loads((vis / "run.json").read_text())["metrics"]["objectives"]
    for target in ("joy", "sadness"):
        assert objectives[target]["probability_end"] > objectives[target]["probability_start"] + 0.1

    assert (tmp_path / "reports" / "analysis" / "report.html").stat().st_size > 5_000
    index = (tmp_path / "gallery" / "index.html").read_text()
    assert "What a network feels" in index and "va-cppn" in index and 'src="http' not in index

    made = Image.open(va / "archive.png")
    assert made.size[0] > 200 and np.asarray(made.convert("L")).std() > 5
    assert (TUTORIALS / "artist-archive.png").is_file()
