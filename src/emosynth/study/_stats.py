"""Agreement statistics for the study's ratings, in plain NumPy.

* ``icc2k``: ICC(2,k) of Shrout & Fleiss (1979) — two-way random effects, absolute agreement, the
  reliability of the mean of k raters (McGraw & Wong's ICC(A,k)). Needs a complete images × raters table.
* ``krippendorff_alpha_interval``: Krippendorff's alpha with the interval metric (squared difference),
  any number of raters per image, missing ratings allowed.
"""

from __future__ import annotations

import numpy as np


def pearson(x, y) -> float:
    """Pearson r over the pairs where both are finite; NaN with fewer than 3 pairs or no spread.

    Args:
        x: First sequence of numbers (e.g. intended values, SAM 1-9); NaN marks a missing value.
        y: Second sequence, the same length as ``x`` (e.g. mean ratings, SAM 1-9).

    Returns:
        The correlation coefficient in [-1, 1], or NaN.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def mae(x, y) -> float:
    """Mean absolute difference over the pairs where both are finite; NaN when there is no such pair.

    Args:
        x: First sequence of numbers (e.g. intended values, SAM 1-9); NaN marks a missing value.
        y: Second sequence, the same length as ``x`` (e.g. mean ratings, SAM 1-9).

    Returns:
        The mean of ``|x - y|``, in the units of the inputs (SAM points for V/A/D), or NaN.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    return float(np.mean(np.abs(x[ok] - y[ok]))) if ok.any() else float("nan")


def share_on_intended_side(intended, rated, midpoint: float = 5.0) -> tuple[float, int]:
    """Share of items whose rating lies on the same side of ``midpoint`` as the intended value, over
    the items whose intended value is off the midpoint (a rating exactly at it counts as a miss).

    Items where either value is not finite do not count.

    Args:
        intended: Intended values, one per item (SAM 1-9).
        rated: Rated values (e.g. mean human ratings), one per item (SAM 1-9).
        midpoint: The scale's midpoint (5 on the SAM 1-9 scale).

    Returns:
        (share, number of such items); the share is NaN (and the count 0) when no item counts.
    """
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

    Args:
        table: An (n images × k raters) array-like of ratings (e.g. SAM 1-9), without NaN.

    Returns:
        The ICC(2,k), or NaN (fewer than 2 images or raters, or a non-positive denominator).

    Raises:
        ValueError: If the table has a missing (non-finite) rating.
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

    Args:
        table: An (n images × k raters) array-like of ratings (e.g. SAM 1-9); NaN marks a missing rating.

    Returns:
        Krippendorff's alpha (1 for perfect agreement), or NaN.

    Raises:
        ValueError: If ``table`` is not two-dimensional.
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
