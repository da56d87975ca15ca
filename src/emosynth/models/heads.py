"""Heads on frozen backbone features: ridge regression for V/A/D, softmax regression for categories.

Both are linear in standardised features, so the fitted heads become one ``nn.Linear`` each
and the whole predictor stays differentiable with respect to the input image.
Regularisation strengths are chosen by grouped inner cross-validation on the training rows
only (groups keep near-duplicates out of the inner validation folds too).
"""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import GroupKFold
from threadpoolctl import threadpool_limits

RIDGE_ALPHAS = np.logspace(0, 5.5, 12)  # X is standardised, so alpha is in units of rows
SOFTMAX_L2 = np.array([0.03, 0.1, 0.3, 1.0])  # per mean cross-entropy; standardised features


def _inner_folds(groups: np.ndarray, k: int, seed: int):
    rng = np.random.default_rng(seed)
    uniq = np.unique(groups)
    relabel = dict(zip(uniq, rng.permutation(len(uniq))))
    g = np.array([relabel[x] for x in groups])
    k = min(k, len(uniq))
    return list(GroupKFold(n_splits=k).split(np.zeros(len(groups)), groups=g))


def ridge_path(X: np.ndarray, Y: np.ndarray, alphas: np.ndarray):
    """Ridge coefficients for every alpha at once from one eigendecomposition of the centred data.

    Uses the smaller of the Gram matrix (n×n) and the covariance (D×D).
    Returns (coefs (len(alphas), D, T), intercepts (len(alphas), T)).
    """
    xm, ym = X.mean(0), Y.mean(0)
    Xc, Yc = X - xm, Y - ym
    if Xc.shape[0] <= Xc.shape[1]:
        s2, U = np.linalg.eigh(Xc @ Xc.T)
        s2 = np.clip(s2, 0, None)
        UtY = U.T @ Yc
        XtU = Xc.T @ U
        coefs = np.stack([XtU @ (UtY / (s2 + a)[:, None]) for a in alphas])
    else:
        s2, V = np.linalg.eigh(Xc.T @ Xc)
        s2 = np.clip(s2, 0, None)
        VtXtY = V.T @ (Xc.T @ Yc)
        coefs = np.stack([V @ (VtXtY / (s2 + a)[:, None]) for a in alphas])
    intercepts = ym[None, :] - np.einsum("d,adt->at", xm, coefs)
    return coefs, intercepts


def fit_ridge(X: np.ndarray, Y: np.ndarray, groups: np.ndarray, alphas=RIDGE_ALPHAS, k: int = 3, seed: int = 0):
    """Ridge for one or more targets sharing rows, alpha chosen per target by grouped k-fold inner CV (MSE).

    Returns (coef (D, T), intercept (T,), alpha (T,)).
    """
    Y = Y.reshape(len(Y), -1)
    err = np.zeros((len(alphas), Y.shape[1]))
    for tr, va in _inner_folds(groups, k, seed):
        c, b = ridge_path(X[tr], Y[tr], alphas)
        pred = np.einsum("nd,adt->ant", X[va], c) + b[:, None, :]
        err += ((pred - Y[va][None]) ** 2).mean(axis=1)
    best = np.argmin(err, axis=0)
    c, b = ridge_path(X, Y, alphas)
    T = np.arange(Y.shape[1])
    return c[best, :, T].T, b[best, T], alphas[best]


def _softmax_fit(X: np.ndarray, P: np.ndarray, l2: float, w0=None, max_iter: int = 150):
    """Multinomial logistic regression on soft targets P (rows sum to 1): min mean CE + l2·|W|².

    L-BFGS on the exact gradient, in NumPy (its BLAS is much faster than torch's for these
    skinny products on this project's CPUs). Returns (W (D, K), b (K,)).
    """
    from scipy.optimize import minimize

    n, D = X.shape
    K = P.shape[1]
    X = np.ascontiguousarray(X, dtype=np.float64)

    def f(theta):
        W, b = theta[: D * K].reshape(D, K), theta[D * K:]
        z = X @ W + b
        z -= z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        loss = -(P * logp).sum() / n + l2 * (W**2).sum()
        g = (np.exp(logp) - P) / n
        grad = np.concatenate([(X.T @ g + 2 * l2 * W).ravel(), g.sum(axis=0)])
        return loss, grad

    theta0 = np.zeros(D * K + K) if w0 is None else np.concatenate([w0[0].ravel(), w0[1]])
    # One BLAS thread: these (n×D)·(D×K) products are too skinny to share, and threads that
    # spin-wait make them up to 8× slower on a busy machine.
    with threadpool_limits(1):
        res = minimize(f, theta0, jac=True, method="L-BFGS-B", options={"maxiter": max_iter, "gtol": 1e-6})
    return res.x[: D * K].reshape(D, K), res.x[D * K:]


def principal_axes(Z: np.ndarray, k: int, seed: int = 0, power_iterations: int = 2) -> np.ndarray:
    """``k`` leading principal axes (D, k), orthonormal, of the rows ``Z`` (n, D), centred here.

    Randomised range finding (Halko, Martinsson & Tropp 2011) with QR-normalised power iterations:
    O(n·D·k) instead of a full O(n²·D + n³) decomposition, deterministic for a seed. The heads only
    need a good subspace, not exact eigenvectors, and they are fitted inside whatever it spans.
    """
    Zc = Z - Z.mean(0)
    rng = np.random.default_rng(seed)
    Q = np.linalg.qr(Zc @ rng.standard_normal((Zc.shape[1], k + 10)))[0]
    for _ in range(power_iterations):
        Q = np.linalg.qr(Zc.T @ Q)[0]
        Q = np.linalg.qr(Zc @ Q)[0]
    # Rotate the range's basis onto the principal axes within it (a small SVD).
    _, _, vt = np.linalg.svd(Q.T @ Zc, full_matrices=False)
    V = vt[:k].T
    sign = np.sign(V[np.abs(V).argmax(axis=0), np.arange(V.shape[1])])
    return V * sign


def kl_rows(P: np.ndarray, Q: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """KL(P‖Q) per row, in nats."""
    P = np.clip(P, 0, 1)
    Q = np.clip(Q, eps, 1)
    return np.where(P > 0, P * (np.log(np.clip(P, eps, 1)) - np.log(Q)), 0.0).sum(axis=1)


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_softmax(X: np.ndarray, P: np.ndarray, groups: np.ndarray, l2s=SOFTMAX_L2, k: int = 3, seed: int = 0):
    """Softmax regression on rater distributions with l2 chosen by grouped inner CV (mean KL).

    Returns (W (D, K), b (K,), l2).
    """
    err = np.zeros(len(l2s))
    for tr, va in _inner_folds(groups, k, seed):
        warm = None
        for j, l2 in sorted(enumerate(l2s), key=lambda t: -t[1]):  # strong → weak, warm-started
            warm = _softmax_fit(X[tr], P[tr], l2, warm, max_iter=50)
            err[j] += kl_rows(P[va], softmax(X[va] @ warm[0] + warm[1])).mean()
    best = int(np.argmin(err))
    W, b = _softmax_fit(X, P, float(l2s[best]), max_iter=150)
    return W, b, float(l2s[best])
