"""The balance table: each feature's mean ± sd per cell, standardised mean differences, one-way tests.

SMD of cells i and j on a feature: (mean_i − mean_j) / sqrt((sd_i² + sd_j²) / 2), sample SDs (ddof 1);
the table reports, per feature, the largest |SMD| over all pairs of cells (and which pair), a one-way
ANOVA (``scipy.stats.f_oneway``: F(C−1, N−C), p) and a Kruskal–Wallis test (H, p) across the cells.
Conventionally |SMD| < 0.1 is negligible and ≤ 0.2 small.
"""

from __future__ import annotations

import html
import warnings

import numpy as np
import pandas as pd
from scipy import stats as st

from ._features import describe
from ._select import smd_pairs


def _tests(groups: list[np.ndarray]) -> tuple[float, float, float, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            a = st.f_oneway(*groups)
            F, p = float(a.statistic), float(a.pvalue)
        except ValueError:
            F, p = float("nan"), float("nan")
        try:
            k = st.kruskal(*groups)
            H, pk = float(k.statistic), float(k.pvalue)
        except ValueError:  # every value identical
            H, pk = 0.0, 1.0
    if not np.isfinite(F) and np.ptp(np.concatenate(groups)) == 0:  # one value everywhere: nothing differs
        F, p = 0.0, 1.0
    return F, p, H, pk


def balance_table(df: pd.DataFrame, features: list[str], cells: list[str], pool_sd: dict | None = None) -> dict:
    """The balance of a stimulus set: per cell and feature mean/sd/n, per feature the largest |SMD|, its pair
    and the one-way tests, and every pair's SMD, from the rows of ``df``.

    ``pool_sd``: per feature, the SD over the candidate pool; adds ``max_abs_diff_pool_sd``, the largest
    difference of cell means in those units (the figure to judge after equalisation, when within-cell
    SDs collapse and SMDs of tiny differences grow large).

    Args:
        df: The chosen images: a ``cell`` column and one column per feature.
        features: The feature columns to report.
        cells: The cell names, in the table's order (at least two).
        pool_sd: Per feature, the SD over the candidate pool, if given.

    Returns:
        {"cells": DataFrame (cell, feature, n, mean, sd), "features": DataFrame (feature, max_abs_smd, pair,
        max_abs_diff_pool_sd, mean_abs_smd, F, df1, df2, p_anova, H, p_kruskal), "pairs": DataFrame
        (feature, cell_a, cell_b, smd)}; features are in their own units (``STIMULUS_FEATURES``).
    """
    rows, feats, pairs = [], [], []
    n_total = int(df["cell"].isin(cells).sum())
    for f in features:
        groups = [df.loc[df["cell"] == c, f].to_numpy(dtype=float) for c in cells]
        means = np.array([g.mean() for g in groups])
        sds = np.array([g.std(ddof=1) for g in groups])
        for c, g, m, s in zip(cells, groups, means, sds):
            rows.append({"cell": c, "feature": f, "n": len(g), "mean": float(m), "sd": float(s)})
        smd = smd_pairs(means[:, None], (sds ** 2)[:, None])[:, :, 0]
        iu = np.triu_indices(len(cells), 1)
        a = np.abs(smd[iu])
        w = int(a.argmax())
        i, j = iu[0][w], iu[1][w]
        for x, y in zip(*iu):
            pairs.append({"feature": f, "cell_a": cells[x], "cell_b": cells[y], "smd": float(smd[x, y])})
        F, p, H, pk = _tests(groups)
        spread = float(np.ptp(means))
        feats.append({"feature": f, "max_abs_smd": float(a.max()), "pair": f"{cells[i]} vs {cells[j]}",
                      "max_abs_diff_pool_sd": spread / pool_sd[f] if pool_sd and pool_sd.get(f, 0) > 0
                      else float("nan"),
                      "mean_abs_smd": float(a.mean()), "F": F, "df1": len(cells) - 1, "df2": n_total - len(cells),
                      "p_anova": p, "H": H, "p_kruskal": pk})
    return {"cells": pd.DataFrame(rows), "features": pd.DataFrame(feats), "pairs": pd.DataFrame(pairs)}


def fmt(x: float, digits: int = 3) -> str:
    """A table number: 3 significant-ish decimals, '–' for NaN."""
    if not np.isfinite(x):
        return "–"
    return f"{x:.{digits}f}" if abs(x) < 1000 else f"{x:.4g}"


def fmt_p(p: float) -> str:
    if not np.isfinite(p):
        return "–"
    return "< .001" if p < 0.001 else f"{p:.3f}".lstrip("0")


def table_rows(bal: dict, cells: list[str]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the balance table (one row per feature)."""
    head = (["feature"] + [f"{c} (mean ± sd)" for c in cells]
            + ["max |SMD|", "pair", "max |Δ| / pool SD", "ANOVA F", "p", "Kruskal H", "p"])
    out = []
    cm = bal["cells"].set_index(["feature", "cell"])
    for r in bal["features"].itertuples():
        cols = [f"{fmt(cm.loc[(r.feature, c), 'mean'])} ± {fmt(cm.loc[(r.feature, c), 'sd'])}" for c in cells]
        out.append([r.feature, *cols, fmt(r.max_abs_smd, 2), r.pair, fmt(r.max_abs_diff_pool_sd, 2),
                    f"F({r.df1}, {r.df2}) = {fmt(r.F, 2)}",
                    fmt_p(r.p_anova), fmt(r.H, 2), fmt_p(r.p_kruskal)])
    return head, out


def emotion_rows(df: pd.DataFrame, cells: list[str], dims: list[str]) -> tuple[list[str], list[list[str]]]:
    head = ["dimension"] + [f"{c} (mean ± sd)" for c in cells] + ["ANOVA F", "p"]
    out = []
    for d in dims:
        if d not in df or df[d].isna().all():
            continue
        groups = [df.loc[df["cell"] == c, d].dropna().to_numpy(dtype=float) for c in cells]
        F, p = (_tests(groups)[:2] if all(len(g) >= 2 for g in groups) else (float("nan"), float("nan")))
        out.append([d, *(f"{g.mean():.2f} ± {g.std(ddof=1):.2f}" + (f" (n {len(g)})" if len(g) < len(df[df.cell == c])
                                                                   else "") if len(g) >= 2 else "–"
                         for c, g in zip(cells, groups)), fmt(F, 2), fmt_p(p)])
    return head, out


def md_table(head, rows) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(str(x) for x in r) + " |" for r in rows]
    return "\n".join(lines)


def html_table(head, rows) -> str:
    h = "".join(f"<th>{html.escape(str(x))}</th>" for x in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(x))}</td>" for x in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{h}</tr></thead><tbody>{body}</tbody></table>"


def plot_balance(df: pd.DataFrame, features: list[str], cells: list[str], path, naive: pd.DataFrame | None = None):
    """One panel per feature: each cell's values (points) and mean ± sd; PNG written atomically."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..fsio import atomic_write_bytes

    n = len(features)
    cols = min(3, n)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    rng = np.random.default_rng(0)
    for ax, f in zip(axes.ravel(), features):
        for i, c in enumerate(cells):
            v = df.loc[df["cell"] == c, f].to_numpy(dtype=float)
            ax.scatter(i + rng.uniform(-0.15, 0.15, len(v)), v, s=10, alpha=0.6, color="#4c72b0")
            ax.errorbar(i + 0.3, v.mean(), yerr=v.std(ddof=1), fmt="o", color="black", capsize=3)
            if naive is not None:
                u = naive.loc[naive["cell"] == c, f].to_numpy(dtype=float)
                ax.errorbar(i + 0.42, u.mean(), yerr=u.std(ddof=1), fmt="s", color="#c44e52", capsize=3,
                            alpha=0.8, label="nearest to target, unmatched" if i == 0 else None)
        ax.set_xticks(range(len(cells)))
        ax.set_xticklabels([c.replace(",", "\n") for c in cells], fontsize=7)
        ax.set_title(describe(f)[0], fontsize=9)
        if naive is not None and f == features[0]:
            ax.legend(fontsize=6, loc="best")
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
