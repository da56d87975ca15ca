"""Agreement statistics for the study's ratings, in plain NumPy.

* ``icc2k``: ICC(2,k) of Shrout & Fleiss (1979) — two-way random effects, absolute agreement, the
  reliability of the mean of k raters (McGraw & Wong's ICC(A,k)). Needs a complete images × raters table.
* ``krippendorff_alpha_interval``: Krippendorff's alpha with the interval metric (squared difference),
  any number of raters per image, missing ratings allowed.
"""

from __future__ import annotations

import numpy as np


def pearson(x, y) -> float:
    """Pearson r over the pairs where both are finite; NaN with fewer than 3 pairs or no spread."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def mae(x, y) -> float:
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    return float(np.mean(np.abs(x[ok] - y[ok]))) if ok.any() else float("nan")


def share_on_intended_side(intended, rated, midpoint: float = 5.0) -> tuple[float, int]:
    """Share of items whose rating lies on the same side of ``midpoint`` as the intended value, over
    the items whose intended value is off the midpoint (a rating exactly at it counts as a miss);
    returns (share, number of such items)."""
    i, r = np.asarray(intended, float), np.asarray(rated, float)
    ok = np.isfinite(i) & np.isfinite(r) & (i != midpoint)
    if not ok.any():
        return float("nan"), 0
    hit = np.sign(i[ok] - midpoint) == np.sign(r[ok] - midpoint)
    return float(hit.mean()), int(ok.sum())


def icc2k(table) -> float:
    """ICC(2,k) of an (n images × k raters) table without missing values.

    (MSR − MSE) / (MSR + (MSC − MSE) / n), from the two-way ANOVA mean squares of rows (images),
    columns (raters) and error. 1 when every rater gives every image the same rating and images
    differ; near 0 (or below) for unrelated raters. NaN for fewer than 2 images or 2 raters.
    """
    y = np.asarray(table, float)
    if y.ndim != 2 or y.shape[0] < 2 or y.shape[1] < 2:
        return float("nan")
    if not np.isfinite(y).all():
        raise ValueError("icc2k needs a complete table (no missing ratings)")
    n, k = y.shape
    grand = y.mean()
    ss_rows = k * ((y.mean(axis=1) - grand) ** 2).sum()
    ss_cols = n * ((y.mean(axis=0) - grand) ** 2).sum()
    ss_err = ((y - grand) ** 2).sum() - ss_rows - ss_cols
    msr, msc, mse = ss_rows / (n - 1), ss_cols / (k - 1), ss_err / ((n - 1) * (k - 1))
    denom = msr + (msc - mse) / n
    if denom <= 0:
        return float("nan")
    return float((msr - mse) / denom)


def krippendorff_alpha_interval(table) -> float:
    """Krippendorff's alpha (interval metric) of an (n images × k raters) table; NaN marks a missing
    rating. 1 − D_o / D_e, where D_o is the mean squared difference between ratings of the same image
    (each image weighted by its m − 1 pairable ratings) and D_e the same over all pairable ratings.
    Images with fewer than two ratings do not count. NaN when nothing is pairable or nothing varies.
    """
    y = np.asarray(table, float)
    if y.ndim != 2:
        raise ValueError("expected an images x raters table")
    units = [row[np.isfinite(row)] for row in y]
    units = [u for u in units if len(u) >= 2]
    if not units:
        return float("nan")
    values = np.concatenate(units)
    n = len(values)

    def pair_sum(v):  # sum over ordered pairs i != j of (v_i - v_j)^2
        return 2 * (len(v) * (v**2).sum() - v.sum() ** 2)

    d_o = sum(pair_sum(u) / (len(u) - 1) for u in units) / n
    d_e = pair_sum(values) / (n * (n - 1))
    if d_e == 0:
        return float("nan")
    return float(1 - d_o / d_e)
