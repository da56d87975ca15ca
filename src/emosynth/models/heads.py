"""Heads on frozen backbone features: ridge regression for V/A/D, softmax regression for categories.

Both are linear in standardised features, so the fitted heads become one ``nn.Linear`` each
and the whole predictor stays differentiable with respect to the input image.
Regularisation strengths are chosen by grouped inner cross-validation on the training rows
only (groups keep near-duplicates out of the inner validation folds too).
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.model_selection import GroupKFold

RIDGE_ALPHAS = np.logspace(0, 5, 11)  # relative to n_features-free scale: X is standardised
SOFTMAX_L2 = np.logspace(-4, -1, 4)


def _inner_folds(groups: np.ndarray, k: int, seed: int):
    rng = np.random.default_rng(seed)
    uniq = np.unique(groups)
    relabel = dict(zip(uniq, rng.permutation(len(uniq))))
    g = np.array([relabel[x] for x in groups])
    k = min(k, len(uniq))
    return list(GroupKFold(n_splits=k).split(np.zeros(len(groups)), groups=g))


def ridge_path(X: np.ndarray, Y: np.ndarray, alphas: np.ndarray):
    """Ridge coefficients for every alpha at once via one SVD of the centred X.

    Returns (coefs (len(alphas), D, T), intercepts (len(alphas), T)).
    """
    xm, ym = X.mean(0), Y.mean(0)
    U, s, Vt = np.linalg.svd(X - xm, full_matrices=False)
    UtY = U.T @ (Y - ym)
    coefs = np.stack([Vt.T @ ((s / (s**2 + a))[:, None] * UtY) for a in alphas])
    intercepts = ym[None, :] - np.einsum("d,adt->at", xm, coefs)
    return coefs, intercepts


def fit_ridge(X: np.ndarray, y: np.ndarray, groups: np.ndarray, alphas=RIDGE_ALPHAS, k: int = 3, seed: int = 0):
    """Ridge for one target with alpha chosen by grouped k-fold inner CV (mean squared error).

    Returns (coef (D,), intercept, alpha).
    """
    y = y.reshape(-1, 1)
    err = np.zeros(len(alphas))
    for tr, va in _inner_folds(groups, k, seed):
        c, b = ridge_path(X[tr], y[tr], alphas)
        pred = np.einsum("nd,adt->ant", X[va], c) + b[:, None, :]
        err += ((pred - y[va][None]) ** 2).mean(axis=(1, 2))
    best = int(np.argmin(err))
    c, b = ridge_path(X, y, alphas[best:best + 1])
    return c[0, :, 0], float(b[0, 0]), float(alphas[best])


def _softmax_fit(X: np.ndarray, P: np.ndarray, l2: float, w0=None, max_iter: int = 200):
    """Multinomial logistic regression on soft targets P (rows sum to 1): min CE + l2·|W|²."""
    Xt = torch.from_numpy(X).double()
    Pt = torch.from_numpy(P).double()
    D, K = X.shape[1], P.shape[1]
    W = torch.zeros(D, K, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(K, dtype=torch.float64, requires_grad=True)
    if w0 is not None:
        with torch.no_grad():
            W.copy_(torch.from_numpy(w0[0]))
            b.copy_(torch.from_numpy(w0[1]))
    opt = torch.optim.LBFGS([W, b], lr=1, max_iter=max_iter, history_size=20, line_search_fn="strong_wolfe",
                            tolerance_grad=1e-6, tolerance_change=1e-9)

    def closure():
        opt.zero_grad()
        logp = torch.log_softmax(Xt @ W + b, dim=1)
        loss = -(Pt * logp).sum(1).mean() + l2 * (W**2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return W.detach().numpy(), b.detach().numpy()


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
            warm = _softmax_fit(X[tr], P[tr], l2, warm, max_iter=100)
            err[j] += kl_rows(P[va], softmax(X[va] @ warm[0] + warm[1])).mean()
    best = int(np.argmin(err))
    W, b = _softmax_fit(X, P, float(l2s[best]))
    return W, b, float(l2s[best])
