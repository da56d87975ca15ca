"""Candidate images and their predicted emotion, from run directories and folders of photos.

A run directory (``run.json`` + ``items.csv`` + ``images/``, read by ``emosynth.rundir``) brings its
own predictions: the items' ``valence``/``arousal``/``dominance`` (SAM 1–9) and ``category``, any
``interval_<dim>_lo/hi`` columns and each held-out judge's ``<judge>_valence/_arousal``. A folder of
images (no ``run.json``) is scored by the packaged predictor (``emosynth.models.Predictor``).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError, RunDirError

DIMENSIONS = ("valence", "arousal", "dominance")
_JUDGE = re.compile(r"^(?!target_|interval_|original_)([a-z0-9][a-z0-9\-]*)_(valence|arousal)$")
_INTERVAL = re.compile(r"^interval_(valence|arousal|dominance)_(lo|hi)$")


def judge_columns(columns) -> list[str]:
    """The ``<judge>_valence`` / ``<judge>_arousal`` columns among ``columns``."""
    return [c for c in columns if _JUDGE.match(str(c))]


def interval_columns(columns) -> list[str]:
    return [c for c in columns if _INTERVAL.match(str(c))]


def _from_run(path: Path) -> pd.DataFrame:
    from ..rundir import IMAGES_DIR, read_run

    run = read_run(path)
    items = run.items
    have = [d for d in DIMENSIONS if d in items and items[d].notna().any()]
    has_cat = "category" in items and items["category"].notna().any()
    if not have and not has_cat:
        raise RunDirError(f"{path}: run without predictions (items.csv has no valence, arousal, dominance "
                          "or category values); score its images with 'emosynth predict' or pass its "
                          "images/ folder to --from")
    df = pd.DataFrame({
        "path": [str(p) for p in run.image_paths()],
        "within": str(run.path / IMAGES_DIR),
        "source_run": str(path),
        "source_file": items["file"].astype(str).to_numpy(),
        "source": items["source"].fillna("").astype(str).to_numpy() if "source" in items else "",
        "model": ";".join(run.meta.get("model") or []),
    })
    for d in DIMENSIONS:
        df[d] = pd.to_numeric(items[d], errors="coerce").to_numpy() if d in items else np.nan
    df["category"] = items["category"].fillna("").astype(str).str.lower().to_numpy() if has_cat else ""
    for c in interval_columns(items.columns) + judge_columns(items.columns):
        df[c] = pd.to_numeric(items[c], errors="coerce").to_numpy()
    return df


def _from_folder(path: Path, predictor, progress=None) -> pd.DataFrame:
    from ..imageio import list_images

    files = list_images(path)
    if not files:
        raise DataError(f"{path}: neither a run directory (no run.json) nor a folder holding images")
    recs = predictor.predict(files, progress=progress)
    from ..models import DEFAULT_MODEL_DIR, model_id

    mid = model_id(DEFAULT_MODEL_DIR)
    rows = []
    for p, r in zip(files, recs):
        row = {"path": str(p), "within": str(path), "source_run": "", "source_file": str(p), "source": "",
               "model": mid, "category": str(r.get("category") or "").lower()}
        for d in DIMENSIONS:
            row[d] = np.nan if r.get(d) is None else float(r[d])
        for d, lohi in (r.get("interval") or {}).items():
            if lohi is not None:
                row[f"interval_{d}_lo"], row[f"interval_{d}_hi"] = float(lohi[0]), float(lohi[1])
        rows.append(row)
    return pd.DataFrame(rows)


def load_candidates(sources, predictor_factory, progress=None) -> pd.DataFrame:
    """One row per candidate image from every source (run directory or image folder), in order."""
    frames = []
    predictor = None
    for src in sources:
        src = Path(src)
        if not src.exists():
            raise DataError(f"{src}: no such run directory or folder")
        if not src.is_dir():
            raise DataError(f"{src}: not a folder; --from takes a run directory or a folder of images")
        if (src / "run.json").is_file():
            frames.append(_from_run(src))
        else:
            if predictor is None:
                predictor = predictor_factory()
            frames.append(_from_folder(src, predictor, progress))
    df = pd.concat(frames, ignore_index=True)
    dup = df["path"].duplicated()
    return df[~dup].reset_index(drop=True)
