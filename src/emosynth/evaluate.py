"""Metrics and grouped k-fold cross-validation of the predictor.

Regression (V, A, D on 1–9): Pearson r, mean absolute error, Lin's concordance (CCC).
Categories: accuracy of the argmax against the raters' argmax, macro-F1, and the mean
KL(raters ‖ model) in nats.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import pearsonr
from sklearn.metrics import f1_score

from .data import Dataset, combine, grouped_folds
from .emotions import DIMENSIONS
from .models.heads import kl_rows
from .models.oof import out_of_fold  # noqa: F401  (emosynth.evaluate.out_of_fold, as before)


def regression_metrics(y: np.ndarray, pred: np.ndarray) -> dict:
    y, pred = np.asarray(y, float), np.asarray(pred, float)
    r = float(pearsonr(y, pred)[0]) if len(y) > 2 and np.ptp(y) > 0 and np.ptp(pred) > 0 else 0.0
    mae = float(np.abs(y - pred).mean())
    cov = ((y - y.mean()) * (pred - pred.mean())).mean()
    ccc = float(2 * cov / (y.var() + pred.var() + (y.mean() - pred.mean()) ** 2))
    return {"r": r, "mae": mae, "ccc": ccc}


def category_metrics(P: np.ndarray, Q: np.ndarray) -> dict:
    """``P``: rater distributions (n, k); ``Q``: predicted distributions (n, k)."""
    t, p = P.argmax(1), Q.argmax(1)
    return {"accuracy": float((t == p).mean()),
            "macro_f1": float(f1_score(t, p, average="macro", labels=np.unique(t), zero_division=0)),
            "kl": float(kl_rows(P, Q).mean())}


def score_dataset(data: Dataset, pred: dict) -> dict:
    """Metrics for every label ``data`` carries, against ``pred`` (``Predictor.predict_features`` output)."""
    out = {}
    for j, dim in enumerate(DIMENSIONS):
        m = data.has(dim)
        if m.sum() > 2:
            out[dim] = regression_metrics(data.vad[m, j], pred["vad"][m, j])
    m = data.has("category")
    if m.any() and "probabilities" in pred:
        out["category"] = category_metrics(data.probabilities[m], pred["probabilities"][m])
    return out


def _mean_sd(per_fold: list[dict]) -> dict:
    """{target: {metric: mean, metric_sd: sd}} over folds."""
    out: dict = {}
    for target in per_fold[0]:
        out[target] = {}
        for metric in per_fold[0][target]:
            vals = np.array([f[target][metric] for f in per_fold])
            out[target][metric] = float(vals.mean())
            out[target][f"{metric}_sd"] = float(vals.std(ddof=1)) if len(vals) > 1 else 0.0
    return out


def cross_validate(predictor_factory, datasets: list[Dataset], features: np.ndarray, folds: int = 5,
                   seed: int = 0, progress=None, return_oof: bool = False):
    """Grouped k-fold CV over the union of ``datasets``; metrics per data set, mean ± sd over folds.

    ``features``: ``Predictor.inputs()`` of the combined rows (in ``combine`` order): backbone
    features, or frozen activations when fine-tuning (then each fold fine-tunes on its own rows).
    ``predictor_factory()`` returns an unfitted ``Predictor``. Each fold trains on the training
    rows of every data set and is scored on each data set's own test rows. ``return_oof``: also
    return ``out_of_fold``'s predictions (for ``Predictor.fit_trust``), as (metrics, oof).
    """
    from .models.heads import softmax

    data, origin = combine(datasets)
    oof = out_of_fold(predictor_factory, data, features, folds, seed, progress=progress)
    per_set: dict[str, list[dict]] = {d.name: [] for d in datasets}
    for k in range(folds):
        te = np.flatnonzero(oof["fold"] == k)
        pred = {"vad": oof["vad"][te]}
        if oof["logits"] is not None:
            pred["probabilities"] = softmax(oof["logits"][te])
        test = data.subset(te)
        for i, d in enumerate(datasets):
            m = origin[te] == i
            per_set[d.name].append(score_dataset(test.subset(m), {key: v[m] for key, v in pred.items()}))
    metrics = {name: _mean_sd(v) for name, v in per_set.items()}
    return (metrics, oof) if return_oof else metrics


def constant_baseline(datasets: list[Dataset], folds: int = 5, seed: int = 0) -> dict:
    """What a model that ignores the image scores on the same folds: each V/A/D predicted as its
    training mean, each category distribution as the training prior. Pearson r and CCC are 0 by
    construction, so the baseline speaks through MAE, accuracy and KL."""
    data, origin = combine(datasets)
    per_set: dict[str, list[dict]] = {d.name: [] for d in datasets}
    for tr, te in grouped_folds(data, folds, seed, origin=origin):
        train, test = data.subset(tr), data.subset(te)
        vad = np.array([np.nanmean(train.vad[:, j]) if train.has(dim).any() else 5.0
                        for j, dim in enumerate(DIMENSIONS)])
        pred = {"vad": np.tile(vad, (len(test), 1))}
        if train.has("category").any():
            prior = train.probabilities[train.has("category")].mean(axis=0)
            pred["probabilities"] = np.tile(prior, (len(test), 1))
        for i, d in enumerate(datasets):
            m = origin[te] == i
            scores = score_dataset(test.subset(m), {k: v[m] for k, v in pred.items()})
            for s in scores.values():
                s.pop("r", None)
                s.pop("ccc", None)
            per_set[d.name].append(scores)
    return {name: _mean_sd(v) for name, v in per_set.items()}


def noise_ceilings(datasets: list[Dataset]) -> dict:
    """The highest r a model can expect per data set and dimension, where the data give each image's
    rater SD and count (OASIS): √(reliability of the mean ratings)."""
    from .stats import noise_ceiling_r

    out: dict = {}
    for d in datasets:
        o = d.original
        if o is None:
            continue
        for dim in ("valence", "arousal", "dominance"):
            cols = [f"{dim.capitalize()}_{s}" for s in ("mean", "SD", "N")]
            if all(c in o.columns for c in cols):
                out.setdefault(d.name, {})[dim] = {"r": noise_ceiling_r(*(o[c] for c in cols))}
    return out
