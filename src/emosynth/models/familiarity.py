"""How unlike the training images an image is, in the heads' feature space.

The heads see pooled backbone features ``f`` (non-negative activations). Their *direction*
``u = f / ‖f‖`` says what an image holds, independently of how strongly it activates the network, and
the familiarity model measures how far ``u`` lies from its nearest training images: the mean Euclidean
distance to the ``K = 5`` nearest training ``u`` (√2·√(1 − cos) per pair), computed in the ``k = 32``
leading principal components of the training ``u`` plus each point's residual energy outside them
(``d² ≈ ‖Pa − Pb‖² + ‖ra‖² + ‖rb‖²``: residuals in 5,000 dimensions are near-orthogonal), so the
model stores 32 numbers per training image instead of 5,120.

A distance to the training *centre* (Mahalanobis) would not do: the features of a flat colour field or
of noise are bland — weak in every direction — and lie nearer the centre than most photographs, but
far from every one of them. (Measured on the packaged model's data: held-out photographs' 99th
percentile 0.955, flat fields and noise 0.98–1.05.)

The distance is calibrated on held-out training images (each scored by a model fitted without its
fold): an image's *familiarity* is the share of those held-out images at least as far,
``(1 + #{d_i ≥ d(x)}) / (n + 1)`` — near 1 among the training data, towards 0 past all of it — and it is
*unfamiliar* when ``d(x)`` exceeds the held-out images' 99th percentile.
"""

from __future__ import annotations

import numpy as np

from .heads import principal_axes

__all__ = ["fit", "project", "distance", "familiarity", "threshold"]


COMPONENTS = 32
NEIGHBOURS = 5
UNFAMILIAR_QUANTILE = 0.99


def _directions(features: np.ndarray) -> np.ndarray:
    F = np.asarray(features, np.float64)
    return F / np.maximum(np.linalg.norm(F, axis=1, keepdims=True), 1e-12)


def fit(features: np.ndarray, k: int = COMPONENTS, seed: int = 0) -> dict:
    """The familiarity model of training features (n, D): the mean direction, principal axes, and the
    training images' coordinates and residual energies."""
    U = _directions(features)
    mean = U.mean(0)
    C = U - mean
    k = min(k, C.shape[0] - 1, C.shape[1])
    B = principal_axes(C, k, seed)
    P = C @ B
    resid = np.maximum((C * C).sum(1) - (P * P).sum(1), 0.0)
    return {"mean": mean, "basis": B.astype(np.float32), "points": P.astype(np.float32), "resid": resid,
            "var": P.var(0) + 1e-12}


def _embed(model: dict, features: np.ndarray):
    C = _directions(features) - model["mean"]
    P = C @ model["basis"].astype(np.float64)
    return P, np.maximum((C * C).sum(1) - (P * P).sum(1), 0.0)


def project(model: dict, features: np.ndarray) -> np.ndarray:
    """Whitened coordinates (n, k) of the features' directions on the model's principal axes."""
    return _embed(model, features)[0] / np.sqrt(model["var"])


def distance(model: dict, features: np.ndarray, batch: int = 512) -> np.ndarray:
    """d(x) (n,): mean distance to the ``NEIGHBOURS`` nearest training directions."""
    P, r = _embed(model, features)
    T = model["points"].astype(np.float64)
    tt = (T * T).sum(1) + model["resid"]
    kk = min(NEIGHBOURS, len(T))
    out = np.empty(len(P))
    for s in range(0, len(P), batch):
        p = P[s:s + batch]
        d2 = (p * p).sum(1)[:, None] + r[s:s + batch, None] + tt[None] - 2 * p @ T.T
        near = np.partition(np.maximum(d2, 0.0), kk - 1, axis=1)[:, :kk]
        out[s:s + batch] = np.sqrt(near).mean(1)
    return out


def familiarity(calibration: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Share of the held-out calibration distances (sorted) at least as large as each ``d``: (0, 1]."""
    cal = np.asarray(calibration, float)
    n = len(cal)
    at_least = n - np.searchsorted(cal, d, side="left")
    return (1.0 + at_least) / (n + 1.0)


def threshold(calibration: np.ndarray, quantile: float = UNFAMILIAR_QUANTILE) -> float:
    """The distance past which an image is unfamiliar: the held-out distances' ``quantile``."""
    return float(np.quantile(np.asarray(calibration, float), quantile))
