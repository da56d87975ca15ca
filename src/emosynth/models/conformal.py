"""Split-conformal prediction intervals for V, A and D, normalised by a per-image difficulty.

The calibration scores are out-of-fold: each image's residual ``|y - ŷ|`` comes from a model fitted on
the other grouped folds (so a theme's near-duplicates never calibrate each other), divided by a
difficulty ``σ(x)`` that is itself cross-fitted on the other folds. For a coverage ``1 - α`` the
interval is ``ŷ ± q σ(x)`` with ``q`` the ``⌈(n + 1)(1 - α)⌉``-th smallest score (Vovk et al. 2005;
Lei et al. 2018, "Distribution-free predictive inference for regression"), clipped to the 1–9 scale.
Clipping only drops values the ratings cannot take, so it never lowers the coverage.

``σ(x)`` is a ridge regression of ``log(|residual| + 0.05)`` on the image's position in the heads'
feature space (the familiarity model's whitened principal components and its distance score): it
widens the interval where the model errs more (e.g. silhouettes rather than photographs) and narrows
it where it errs less. Its output is clipped to the range it took on the training images.

The data sets a model learns from err differently (photographs, silhouettes; rated and lexicon-derived
labels), so the scores are calibrated separately per *domain* (Mondrian conformal prediction, Vovk et
al. 2005, ch. 4): an image's domain is the training data set a classifier on its feature-space position
assigns it to (at prediction time the data set is unknown), and its quantile comes from the calibration
images assigned to the same domain. A domain with fewer than ``MIN_GROUP`` calibration images uses all.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from ..emotions import SAM_MAX, SAM_MIN

__all__ = ["conformal_quantile", "fit_sigma", "sigma_of", "cross_fitted_scores", "group_scores", "calibrate",
           "half_width_factor", "held_out_coverage", "fit_domains", "domain_of", "intervals", "empirical_coverage"]


LOG_EPS = 0.05
#: ridge penalty of the σ model per calibration row (strong: σ only needs the broad trend)
SIGMA_ALPHA = 0.1
MIN_GROUP = 30


def conformal_quantile(scores: np.ndarray, coverage: float) -> float:
    """The ``⌈(n + 1) coverage⌉``-th smallest of ``scores`` (inf when that exceeds n): the split-conformal
    quantile that guarantees coverage ≥ ``coverage`` for exchangeable data."""
    s = np.sort(np.asarray(scores, float)[np.isfinite(scores)])
    n = len(s)
    if n == 0:
        return math.inf
    k = math.ceil((n + 1) * coverage)
    return float(s[k - 1]) if k <= n else math.inf


def _design(P: np.ndarray, fam: np.ndarray) -> np.ndarray:
    return np.column_stack([P, np.log(np.maximum(fam, 1e-6))])


def fit_sigma(P: np.ndarray, fam: np.ndarray, residual: np.ndarray) -> tuple[np.ndarray, float, float, float]:
    """Ridge of log(|residual| + eps) on [P, log fam]: (coef, intercept, low, high) — low/high clip the
    linear predictor to the training range."""
    X = _design(P, fam)
    y = np.log(np.abs(residual) + LOG_EPS)
    mu, sd = X.mean(0), X.std(0) + 1e-9
    Xs = (X - mu) / sd
    coef_s = np.linalg.solve(Xs.T @ Xs + SIGMA_ALPHA * len(X) * np.eye(X.shape[1]), Xs.T @ (y - y.mean()))
    coef = coef_s / sd
    intercept = float(y.mean() - mu @ coef)
    fitted = X @ coef + intercept
    return coef, intercept, float(fitted.min()), float(fitted.max())


def sigma_of(P: np.ndarray, fam: np.ndarray, coef: np.ndarray, intercept: float, low: float,
             high: float) -> np.ndarray:
    """The difficulty σ(x) > 0 of each image (same units as the residuals)."""
    return np.exp(np.clip(_design(P, fam) @ coef + intercept, low, high))


def cross_fitted_scores(P: np.ndarray, fam: np.ndarray, residual: np.ndarray, fold: np.ndarray) -> np.ndarray:
    """Each row's score |r| / σ(x), with σ fitted on the other folds (nothing calibrates itself).

    Args:
        P: (n, k) feature-space positions (the familiarity model's projection).
        fam: (n,) familiarity distances.
        residual: (n,) out-of-fold residuals of one dimension, in scale points.
        fold: (n,) grouped fold of each row.

    Returns:
        (n,) scores, unitless.
    """
    scores = np.empty(len(residual))
    for k in np.unique(fold):
        te = fold == k
        coef, b, lo, hi = fit_sigma(P[~te], fam[~te], residual[~te])
        scores[te] = np.abs(residual[te]) / sigma_of(P[te], fam[te], coef, b, lo, hi)
    return scores


def group_scores(scores: np.ndarray, domain: np.ndarray, n_domains: int) -> list[np.ndarray]:
    """Per domain (0..n_domains-1), its rows' sorted scores; all rows' where it has fewer than ``MIN_GROUP``.

    Args:
        scores: (n,) calibration scores.
        domain: (n,) each row's domain.
        n_domains: How many domains there are.

    Returns:
        One sorted array per domain.
    """
    return [np.sort(scores[domain == g]) if (domain == g).sum() >= MIN_GROUP else np.sort(scores)
            for g in range(n_domains)]


def calibrate(P: np.ndarray, fam: np.ndarray, residual: np.ndarray, fold: np.ndarray,
              groupings: Mapping[str, np.ndarray], n_domains: int) -> dict:
    """From out-of-fold residuals of one dimension: the final σ model (fitted on all rows) and, for each
    named grouping of the rows into domains (0..n_domains-1), every domain's sorted calibration scores
    |r| / σ(x), σ cross-fitted on the other folds (nothing calibrates itself). The scores are computed
    once, whatever the number of groupings.

    Args:
        P: (n, k) feature-space positions.
        fam: (n,) familiarity distances.
        residual: (n,) out-of-fold residuals.
        fold: (n,) grouped folds.
        groupings: Name → (n,) domain of each row, e.g. ``{"scores": classifier_domain, "declared": own}``.
        n_domains: How many domains there are.

    Returns:
        ``coef``, ``intercept``, ``low``, ``high`` (the σ model) and, per grouping name, its per-domain scores.
    """
    scores = cross_fitted_scores(P, fam, residual, fold)
    coef, b, lo, hi = fit_sigma(P, fam, residual)
    out = {"coef": coef, "intercept": b, "low": lo, "high": hi}
    for name, domain in groupings.items():
        out[name] = group_scores(scores, domain, n_domains)
    return out


def half_width_factor(scores: Sequence[np.ndarray], domain: np.ndarray, coverage: float) -> np.ndarray:
    """Each image's conformal quantile ``q``: its domain's.

    Args:
        scores: One sorted score array per domain (a ``calibrate`` grouping).
        domain: (n,) each image's domain.
        coverage: Nominal coverage, e.g. 0.9.

    Returns:
        (n,) half-width factors (interval = prediction ± q σ).
    """
    q = np.array([conformal_quantile(s, coverage) for s in scores])
    return q[domain]


def held_out_coverage(P: np.ndarray, fam: np.ndarray, residual: np.ndarray, fold: np.ndarray,
                      groupings: Mapping[str, np.ndarray], n_domains: int, coverage: float) -> dict[str, np.ndarray]:
    """Whether each row falls inside the interval calibrated without its fold (σ model and scores from the
    other folds), for each grouping of the rows into domains: the empirical coverage a user would see.

    Args:
        P: (n, k) feature-space positions.
        fam: (n,) familiarity distances.
        residual: (n,) out-of-fold residuals.
        fold: (n,) grouped folds.
        groupings: Name → (n,) domain of each row.
        n_domains: How many domains there are.
        coverage: Nominal coverage.

    Returns:
        Name → (n,) bool, True where the row's rating is inside its interval.
    """
    inside = {name: np.zeros(len(residual), bool) for name in groupings}
    for k in np.unique(fold):
        te = fold == k
        cm = calibrate(P[~te], fam[~te], residual[~te], fold[~te], {n: g[~te] for n, g in groupings.items()},
                       n_domains)
        sigma = sigma_of(P[te], fam[te], cm["coef"], cm["intercept"], cm["low"], cm["high"])
        for name, domain in groupings.items():
            inside[name][te] = np.abs(residual[te]) <= half_width_factor(cm[name], domain[te], coverage) * sigma
    return inside


def fit_domains(P: np.ndarray, names: np.ndarray) -> dict:
    """A multinomial logistic regression from feature-space position to training data set."""
    from sklearn.linear_model import LogisticRegression

    labels = list(dict.fromkeys(np.asarray(names).astype(str).tolist()))
    y = np.array([labels.index(x) for x in names])
    if len(labels) == 1:
        return {"names": labels, "coef": np.zeros((1, P.shape[1])), "intercept": np.zeros(1)}
    clf = LogisticRegression(C=1.0, max_iter=1000).fit(P, y)
    coef, b = clf.coef_, clf.intercept_
    if len(labels) == 2:  # sklearn's binary form: one row for class 1
        coef, b = np.vstack([np.zeros_like(coef), coef]), np.concatenate([[0.0], b])
    return {"names": labels, "coef": coef, "intercept": b}


def domain_of(model: dict, P: np.ndarray) -> np.ndarray:
    return np.argmax(P @ model["coef"].T + model["intercept"], axis=1)


def intervals(pred: np.ndarray, sigma: np.ndarray, q: float) -> np.ndarray:
    """(n, 2) [lo, hi] on the 1–9 scale: ``pred ± q σ``, clipped to the scale."""
    half = q * sigma
    return np.stack([np.clip(pred - half, SAM_MIN, SAM_MAX), np.clip(pred + half, SAM_MIN, SAM_MAX)], axis=1)


def empirical_coverage(y: np.ndarray, iv: np.ndarray) -> float:
    """Share of finite ``y`` inside their [lo, hi]."""
    m = np.isfinite(y)
    return float(((y[m] >= iv[m, 0]) & (y[m] <= iv[m, 1])).mean()) if m.any() else float("nan")
