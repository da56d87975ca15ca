"""How unlike the training images an image is, in the heads' feature space.

The heads see standardised backbone features ``z``. The familiarity model keeps the ``k`` leading
principal axes of the training ``z`` and scores an image by

    d(x) = ½ (m²(x) / k + r²(x) / r̄²)

where ``m²`` is the Mahalanobis distance within those axes (each component divided by its training
variance) and ``r²`` the energy of ``z`` outside them, relative to its training mean ``r̄²``: about 1
for a typical training image, large for an image whose features lie where no training image's do (a
flat colour field, noise). ``d`` is calibrated on held-out training images (each scored by a model
fitted without its fold): an image's *familiarity* is the share of those held-out images that are at
least as far, ``(1 + #{d_i ≥ d(x)}) / (n + 1)`` — 1 near the middle of the training data, towards 0
past all of it — and it is *unfamiliar* when ``d(x)`` exceeds the held-out images' 99th percentile.
"""

from __future__ import annotations

import numpy as np

from .heads import principal_axes

COMPONENTS = 32
UNFAMILIAR_QUANTILE = 0.99


def fit(Z: np.ndarray, basis: np.ndarray | None = None, k: int = COMPONENTS, seed: int = 0) -> dict:
    """The familiarity model of standardised training features ``Z`` (n, D); ``basis``: principal axes
    already computed (their first ``k`` columns are used)."""
    k = min(k, Z.shape[0] - 1, Z.shape[1])
    B = basis[:, :k] if basis is not None and basis.shape[1] >= k else principal_axes(Z, k, seed)
    P = Z @ B
    var = P.var(0) + 1e-9
    resid = np.maximum((Z * Z).sum(1) - (P * P).sum(1), 0.0)
    return {"basis": B.astype(np.float32), "var": var, "resid_mean": float(resid.mean() + 1e-9)}


def project(model: dict, Z: np.ndarray) -> np.ndarray:
    """Whitened coordinates (n, k) of ``Z`` on the model's principal axes."""
    return (Z @ model["basis"].astype(np.float64)) / np.sqrt(model["var"])


def distance(model: dict, Z: np.ndarray) -> np.ndarray:
    """d(x) (n,): about 1 for a typical training image, larger the further from them."""
    P = Z @ model["basis"].astype(np.float64)
    m2 = (P * P / model["var"]).sum(1) / P.shape[1]
    r2 = np.maximum((Z * Z).sum(1) - (P * P).sum(1), 0.0) / model["resid_mean"]
    return 0.5 * (m2 + r2)


def familiarity(calibration: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Share of the held-out calibration distances (sorted) at least as large as each ``d``: (0, 1]."""
    cal = np.asarray(calibration, float)
    n = len(cal)
    at_least = n - np.searchsorted(cal, d, side="left")
    return (1.0 + at_least) / (n + 1.0)


def threshold(calibration: np.ndarray, quantile: float = UNFAMILIAR_QUANTILE) -> float:
    """The distance past which an image is unfamiliar: the held-out distances' ``quantile``."""
    return float(np.quantile(np.asarray(calibration, float), quantile))
