"""Out-of-fold predictions over grouped folds: each row predicted by a model that never saw its group.

``cross_validate`` (emosynth.evaluate) scores them; ``Predictor.fit_trust`` calibrates intervals, familiarity and
the category head's temperature on them. It lives in ``models`` so that the predictor needs nothing from
``evaluate`` (evaluate builds on models, never the reverse).
"""

from __future__ import annotations

import numpy as np

from ..data import Dataset, grouped_folds

__all__ = ["out_of_fold"]


def _origin(data: Dataset) -> np.ndarray:
    """The source data set of each row as an index, in order of first appearance (as ``combine``'s)."""
    names = list(dict.fromkeys(data.dataset_of.tolist()))
    return np.array([names.index(x) for x in data.dataset_of])


def out_of_fold(predictor_factory, data: Dataset, features: np.ndarray, folds: int = 5, seed: int = 0,
                progress=None) -> dict:
    """Each row predicted by a model fitted on the other grouped folds (stratified by category and source
    data set, as ``cross_validate``): {"vad" (n, 3), "logits" (n, k) or None, "distance" (n,) (the
    familiarity model's d(x)), "fold" (n,) the row's fold}."""
    n = len(data)
    out = {"vad": np.full((n, 3), np.nan), "logits": None, "distance": np.full(n, np.nan),
           "fold": np.full(n, -1)}
    for k, (tr, te) in enumerate(grouped_folds(data, folds, seed, origin=_origin(data))):
        model = predictor_factory().fit_inputs(data.subset(tr), features[tr])
        raw = model.raw_inputs(features[te])
        out["vad"][te], out["distance"][te], out["fold"][te] = raw["vad"], raw["distance"], k
        if raw["logits"] is not None:
            if out["logits"] is None:
                out["logits"] = np.full((n, raw["logits"].shape[1]), np.nan)
            out["logits"][te] = raw["logits"]
        if progress:
            progress(1)
    return out
