"""Calibration of the category head: temperature scaling (Guo et al. 2017) on out-of-fold logits.

The head's probabilities are ``softmax(logits / T)``; ``T`` minimises the cross-entropy to the raters'
distributions over held-out folds (the head's own training objective, so the argmax, and hence the
accuracy, is unchanged). The fitted ``T`` is folded into the head's weights, so every path (the fast
path, the torch module, exports) gives the calibrated probabilities. The expected calibration error
(ECE: |accuracy − confidence| over 15 equal-width confidence bins, weighted by their share of images,
against the raters' argmax) is measured before and after, with ``T`` cross-fitted so no fold's
"after" uses a ``T`` fitted on itself.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar

from .heads import softmax

__all__ = ["fit_temperature", "ece", "calibrate"]


BINS = 15


def _soft_ce(logits: np.ndarray, P: np.ndarray, T: float) -> float:
    z = logits / T
    z = z - z.max(1, keepdims=True)
    logq = z - np.log(np.exp(z).sum(1, keepdims=True))
    return float(-(P * logq).sum(1).mean())


def fit_temperature(logits: np.ndarray, P: np.ndarray) -> float:
    """The temperature T (0.05–20) minimising the cross-entropy of softmax(logits / T) to ``P``."""
    res = minimize_scalar(lambda t: _soft_ce(logits, P, float(np.exp(t))), bounds=(np.log(0.05), np.log(20.0)),
                          method="bounded", options={"xatol": 1e-4})
    return float(np.exp(res.x))


def ece(P: np.ndarray, Q: np.ndarray, bins: int = BINS) -> float:
    """Expected calibration error of predicted distributions ``Q`` against the raters' argmax of ``P``."""
    conf = Q.max(1)
    correct = (Q.argmax(1) == P.argmax(1)).astype(float)
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            total += m.mean() * abs(correct[m].mean() - conf[m].mean())
    return float(total)


def calibrate(logits: np.ndarray, P: np.ndarray, fold: np.ndarray, labels: list[str]) -> dict:
    """Fit T on all out-of-fold logits; ECE, NLL and per-class use before/after (T cross-fitted)."""
    after = np.empty_like(logits)
    for k in np.unique(fold):
        te = fold == k
        after[te] = softmax(logits[te] / fit_temperature(logits[~te], P[~te]))
    before = softmax(logits)
    T = fit_temperature(logits, P)
    rater = P.argmax(1)
    pred = before.argmax(1)
    per_class = {}
    for j, c in enumerate(labels):
        m = rater == j
        per_class[c] = {"rater_argmax": int(m.sum()), "predicted_argmax": int((pred == j).sum()),
                        "recall": float((pred[m] == j).mean()) if m.any() else None,
                        "max_probability": float(after[:, j].max()),
                        "mean_probability_where_raters_chose_it": float(after[m, j].mean()) if m.any() else None}
    return {"method": "temperature", "temperature": T,
            "ece_before": ece(P, before), "ece_after": ece(P, after),
            "nll_before": _soft_ce(logits, P, 1.0),
            "nll_after": float(-(P * np.log(np.clip(after, 1e-12, 1))).sum(1).mean()),
            "bins": BINS, "n": int(len(P)), "per_class": per_class}
