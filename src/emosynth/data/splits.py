"""Grouped k-fold splits: related images (an OASIS theme) never straddle train and test."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import GroupKFold, StratifiedGroupKFold

from ..errors import DataError
from ._dataset import Dataset


def grouped_folds(data: Dataset, k: int = 5, seed: int = 0, origin: np.ndarray | None = None):
    """Yield ``(train_idx, test_idx)`` for ``k`` grouped folds, shuffled by ``seed``.

    Where rows carry categories the folds are stratified by the raters' argmax (rows
    without one form their own stratum), so each fold sees every class. ``origin`` (the
    source data set of each row, for combined sets) is added to the strata so each fold
    holds its share of every data set.

    Args:
        data: The data set to split.
        k: The number of folds (at least 2).
        seed: Seed for the shuffle.
        origin: The source data set index of each row (for combined sets), or None.

    Yields:
        ``(train_idx, test_idx)`` integer index arrays, one pair per fold.

    Raises:
        DataError: ``k`` is below 2 or the data set has fewer groups than ``k``.
    """
    n_groups = len(np.unique(data.groups))
    if k < 2:
        raise DataError(f"--folds must be at least 2, got {k}")
    if n_groups < k:
        raise DataError(f"data set {data.name!r} has {n_groups} groups, too few for {k} folds")
    strata = np.zeros(len(data), dtype=int)
    has_cat = data.has("category")
    if has_cat.any():
        strata = np.where(has_cat, np.nan_to_num(data.probabilities, nan=0).argmax(axis=1) + 1, 0)
    if origin is not None:
        strata = strata + 1000 * np.asarray(origin)
    if len(np.unique(strata)) > 1:
        splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
        yield from splitter.split(np.zeros(len(data)), strata, data.groups)
    else:
        # GroupKFold shuffles groups only from sklearn 1.6 on; permute the group labels instead.
        rng = np.random.default_rng(seed)
        uniq = np.unique(data.groups)
        relabel = dict(zip(uniq, rng.permutation(len(uniq))))
        g = np.array([relabel[x] for x in data.groups])
        yield from GroupKFold(n_splits=k).split(np.zeros(len(data)), groups=g)
