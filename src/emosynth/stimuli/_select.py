"""Choosing N images per design cell so that cells differ in emotion and not in low-level features.

1. **Eligibility.** A candidate may stand for a cell when each of its predicted dimensions lies within
   ``tolerance`` SAM points of the cell's level (and its predicted category is the cell's, in category
   designs). A candidate near two cells goes to the nearer (Euclidean over the design's dimensions),
   so the cells' pools are disjoint.
2. **Matching.** Start from the ``per_cell`` candidates nearest each cell's target; then, cell by cell,
   make the best single swap (a chosen image out, an unchosen one of the same pool in) while it lowers

       J = max |SMD| + 0.1 · mean |SMD| + 0.02 · mean distance to the cell target (SAM points)

   where SMD is the standardised mean difference of one feature between two cells (difference of the
   cell means over the root mean of their variances), over every pair of cells and every balanced
   feature. Restarts from seeded random selections keep the best J; the seed fixes the result.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

MAX_WEIGHT = 1.0
MEAN_WEIGHT = 0.1
DIST_WEIGHT = 0.02


def assign_cells(cand: pd.DataFrame, design, tolerance: float) -> tuple[np.ndarray, np.ndarray]:
    """Assign each candidate to the nearest design cell it is eligible for (see the module's step 1).

    Args:
        cand: The candidates: a column per numeric factor of the design with the predicted value (SAM 1–9),
            and a ``category`` column for category designs.
        design: The ``Design``.
        tolerance: The largest distance (SAM points) of a predicted dimension from the cell's level.

    Returns:
        (cell index per candidate, −1 for none; distance to that cell's target in SAM points, NaN for none).
    """
    cells = design.cells
    n = len(cand)
    dist = np.full((n, len(cells)), np.inf)
    for k, cell in enumerate(cells):
        ok = np.ones(n, bool)
        d2 = np.zeros(n)
        for factor, level in cell.targets:
            if factor == "category":
                ok &= cand["category"].to_numpy() == level
            else:
                diff = cand[factor].to_numpy(dtype=float) - float(level)
                ok &= np.isfinite(diff) & (np.abs(diff) <= tolerance + 1e-9)
                d2 += np.where(np.isfinite(diff), diff, 0.0) ** 2
        dist[ok, k] = np.sqrt(d2[ok])
    best = dist.argmin(axis=1)
    has = np.isfinite(dist[np.arange(n), best])
    return np.where(has, best, -1), np.where(has, dist[np.arange(n), best], np.nan)


def smd_pairs(means: np.ndarray, variances: np.ndarray) -> np.ndarray:
    """Standardised mean differences of every pair of cells, per feature.

    Args:
        means: Cell means, an array (C cells, F features).
        variances: Cell variances, an array (C, F).

    Returns:
        A (C, C, F) array: the SMD of cell i against cell j, (m_i − m_j) / sqrt((v_i + v_j) / 2); 0 where
        both are constant and equal, ±inf where both are constant and differ.
    """
    diff = means[:, None, :] - means[None, :, :]
    sd = np.sqrt((variances[:, None, :] + variances[None, :, :]) / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(sd > 1e-12, diff / np.where(sd > 1e-12, sd, 1.0), np.where(np.abs(diff) > 1e-12, np.inf, 0.0))
    return out


def selection_smd(X: np.ndarray, groups: list[np.ndarray]) -> np.ndarray:
    """(C, C, F) SMDs of the rows ``groups[c]`` of ``X`` (sample variances, ddof 1).

    Args:
        X: The features, an array (n images, F features).
        groups: Per cell, the row indices of its images in ``X``.

    Returns:
        A (C, C, F) array of SMDs (``smd_pairs``).
    """
    means = np.stack([X[g].mean(0) for g in groups])
    var = np.stack([X[g].var(0, ddof=1) for g in groups])
    return smd_pairs(means, var)


def _objective(smd: np.ndarray, dist_mean: float) -> float:
    c = smd.shape[0]
    iu = np.triu_indices(c, 1)
    a = np.abs(smd[iu])
    return float(MAX_WEIGHT * a.max() + MEAN_WEIGHT * a.mean() + DIST_WEIGHT * dist_mean)


def _local_search(Z, pools, dist, chosen, k, max_rounds, rng):
    """Best-improvement swaps, cell by cell, until a full round improves nothing."""
    C, F = len(pools), Z.shape[1]
    S = np.stack([Z[pools[c][chosen[c]]].sum(0) for c in range(C)])
    Q = np.stack([(Z[pools[c][chosen[c]]] ** 2).sum(0) for c in range(C)])
    Dsum = np.array([dist[pools[c][chosen[c]]].sum() for c in range(C)])
    iu = np.triu_indices(C, 1)
    npairs = len(iu[0]) * F

    def stats(S_, Q_):
        m = S_ / k
        v = np.maximum((Q_ - k * m ** 2) / (k - 1), 0.0)
        return m, v

    def total(S_, Q_, D_):
        m, v = stats(S_, Q_)
        return _objective(smd_pairs(m, v), D_.sum() / (C * k))

    best = total(S, Q, Dsum)
    for _ in range(max_rounds):
        improved = False
        for c in rng.permutation(C):
            pool = pools[c]
            sel = np.flatnonzero(chosen[c])
            out_ = np.flatnonzero(~chosen[c])
            if len(out_) == 0:
                continue
            m, v = stats(S, Q)
            others = [o for o in range(C) if o != c]
            # the pairs without c stay as they are
            fixed = smd_pairs(m[others], v[others])
            fi = np.triu_indices(len(others), 1)
            fixed_abs = np.abs(fixed[fi]) if len(others) > 1 else np.zeros((0, F))
            fixed_max = float(fixed_abs.max()) if fixed_abs.size else 0.0
            fixed_sum = float(fixed_abs.sum())
            zs, zi = Z[pool[sel]], Z[pool[out_]]
            S2 = S[c] - zs[:, None, :] + zi[None, :, :]  # (k, P, F)
            Q2 = Q[c] - zs[:, None, :] ** 2 + zi[None, :, :] ** 2
            m2 = S2 / k
            v2 = np.maximum((Q2 - k * m2 ** 2) / (k - 1), 0.0)
            diff = m2[:, :, None, :] - m[others][None, None]
            sd = np.sqrt((v2[:, :, None, :] + v[others][None, None]) / 2)
            a = np.abs(diff) / np.maximum(sd, 1e-12)
            new_max = np.maximum(a.max(axis=(2, 3)), fixed_max)
            new_mean = (a.sum(axis=(2, 3)) + fixed_sum) / npairs
            D2 = Dsum.sum() - dist[pool[sel]][:, None] + dist[pool[out_]][None, :]
            J = MAX_WEIGHT * new_max + MEAN_WEIGHT * new_mean + DIST_WEIGHT * D2 / (C * k)
            i, j = np.unravel_index(int(J.argmin()), J.shape)
            if J[i, j] < best - 1e-10:
                best = float(J[i, j])
                chosen[c][sel[i]] = False
                chosen[c][out_[j]] = True
                S[c], Q[c] = S2[i, j], Q2[i, j]
                Dsum[c] += dist[pool[out_[j]]] - dist[pool[sel[i]]]
                improved = True
        if not improved:
            break
    return chosen, total(S, Q, Dsum)


def choose(X: np.ndarray, cell_of: np.ndarray, dist: np.ndarray, n_cells: int, per_cell: int, seed: int = 0,
           restarts: int = 4, max_rounds: int = 200) -> tuple[list[np.ndarray], dict]:
    """Choose ``per_cell`` rows for each cell, minimising the objective J (see the module's step 2).

    Args:
        X: The balanced features of the candidates, an array (n candidates, F features); standardised here.
        cell_of: The cell index per candidate (−1 for none), as ``assign_cells`` returns it.
        dist: The distance of each candidate to its cell's target (SAM points).
        n_cells: The number of cells.
        per_cell: The images to choose per cell (each cell's pool must hold at least this many).
        seed: Seed of the tie-breaking shuffle and the restarts; fixes the result.
        restarts: Starts of the swap search (the nearest-to-target one, then random ones).
        max_rounds: The most rounds of swaps per start.

    Returns:
        (row indices chosen for each cell, {"objective": the best J, "naive": the nearest-to-target
        selection's row indices per cell}).
    """
    rng = np.random.default_rng(seed)
    sd = X.std(0)
    Z = (X - X.mean(0)) / np.where(sd > 0, sd, 1.0)
    pools = [np.flatnonzero(cell_of == c) for c in range(n_cells)]
    # ties in distance broken by a seeded shuffle, so the start is reproducible and unbiased
    starts = []
    first = []
    for c in range(n_cells):
        order = rng.permutation(len(pools[c]))
        order = order[np.argsort(dist[pools[c]][order], kind="stable")]
        m = np.zeros(len(pools[c]), bool)
        m[order[:per_cell]] = True
        first.append(m)
    starts.append(first)
    for _ in range(max(0, restarts - 1)):
        s = []
        for c in range(n_cells):
            m = np.zeros(len(pools[c]), bool)
            m[rng.choice(len(pools[c]), per_cell, replace=False)] = True
            s.append(m)
        starts.append(s)
    naive = [pools[c][first[c]] for c in range(n_cells)]
    best, best_j = None, np.inf
    for s in starts:
        chosen, j = _local_search(Z, pools, dist, [m.copy() for m in s], per_cell, max_rounds, rng)
        if j < best_j - 1e-12:
            best, best_j = chosen, j
    groups = [pools[c][best[c]] for c in range(n_cells)]
    return groups, {"objective": best_j, "naive": naive}
