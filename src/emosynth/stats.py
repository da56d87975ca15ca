"""Statistics for honest comparisons: confidence intervals over folds, paired tests, the noise
ceiling implied by raters' spread, and the mappings between representations of emotion.

Everything here is plain NumPy/SciPy on small arrays (one value per fold, one row per image).
"""

from __future__ import annotations

import numpy as np
from scipy import stats as _st


def mean_ci(values, level: float = 0.95) -> tuple[float, float]:
    """Mean and the half-width of its ``level`` confidence interval (Student t over the values).

    With k folds the interval is mean ± t(1 - (1 - level)/2, k - 1) · sd / √k. NaNs are dropped;
    one value gives a half-width of NaN (no spread to speak of).
    """
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return float("nan"), float("nan")
    if len(v) == 1:
        return float(v[0]), float("nan")
    half = _st.t.ppf(0.5 + level / 2, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v))
    return float(v.mean()), float(half)


def paired_test(a, b) -> tuple[float, float]:
    """Paired t-test of two configurations scored on the same folds: (mean difference a − b, p).

    p is two-sided; identical scores give p = 1.
    """
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape != b.shape or len(a) < 2:
        raise ValueError("paired_test needs two equally long arrays of at least 2 fold scores")
    d = a - b
    if np.allclose(d, d[0]):
        # No spread in the differences: t is undefined; equal scores mean no evidence of a difference.
        return float(d.mean()), 1.0 if np.isclose(d[0], 0) else 0.0
    res = _st.ttest_rel(a, b)
    return float(d.mean()), float(res.pvalue)


def reliability_of_means(means, sds, ns) -> float:
    """Reliability of per-image mean ratings from the raters' SD and count (Spearman–Brown of the
    split-half reliability): var(true) / var(observed means), with the error variance of a mean of
    N ratings estimated as SD²/N. Scale-free: any rating scale gives the same value.
    """
    m, s, n = (np.asarray(x, float) for x in (means, sds, ns))
    ok = np.isfinite(m) & np.isfinite(s) & np.isfinite(n) & (n > 1)
    m, s, n = m[ok], s[ok], n[ok]
    observed = m.var(ddof=1)
    error = float(np.mean(s**2 / n))
    return float(max(0.0, (observed - error) / observed))


def split_half_reliability(means, sds, ns) -> float:
    """Expected correlation between the means of two random halves of the raters."""
    full = reliability_of_means(means, sds, ns)
    return full / (2 - full)  # inverse Spearman–Brown


def noise_ceiling_r(means, sds, ns) -> float:
    """The highest Pearson r any model can expect against the observed mean ratings: √reliability."""
    return float(np.sqrt(reliability_of_means(means, sds, ns)))


def category_centroids(probabilities, values) -> np.ndarray:
    """Each category's mean V/A(/D): the rows' values weighted by their category probabilities.

    ``probabilities`` (n, K) rater distributions, ``values`` (n, d) on 1–9 → (K, d). A category no
    row votes for gets NaN.
    """
    P = np.asarray(probabilities, float)
    Y = np.asarray(values, float)
    w = P.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (P.T @ Y) / w[:, None]


def dimensions_from_categories(probabilities, centroids) -> np.ndarray:
    """V/A(/D) implied by a predicted category distribution: the probability-weighted centroid."""
    C = np.asarray(centroids, float)
    P = np.asarray(probabilities, float)
    known = np.isfinite(C).all(axis=1)
    P = P[:, known]
    return (P @ C[known]) / P.sum(axis=1, keepdims=True)


def nearest_centroid(values, centroids) -> np.ndarray:
    """The category whose centroid lies nearest (Euclidean, on the 1–9 scale) to each row's V/A(/D)."""
    Y = np.asarray(values, float)
    C = np.asarray(centroids, float)
    d = ((Y[:, None, :] - C[None, :, :]) ** 2).sum(axis=2)
    d[:, ~np.isfinite(C).all(axis=1)] = np.inf
    return d.argmin(axis=1)
