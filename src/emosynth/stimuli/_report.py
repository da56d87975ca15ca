"""balance.md, balance.html (+ balance.png) and methods.md of a stimulus folder."""

from __future__ import annotations

import base64
import html

import numpy as np

from ..fsio import atomic_write_text
from ._balance import balance_table, emotion_rows, fmt, fmt_p, html_table, md_table, plot_balance, table_rows
from ._features import WORK_SIZE, describe
from ._select import DIST_WEIGHT, MEAN_WEIGHT

SMD_GOAL = 0.2

_CSS = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
        "table{border-collapse:collapse;margin:1em 0;font-size:13px}td,th{border:1px solid #ccc;padding:3px 7px;"
        "text-align:left}th{background:#f3f3f3}img{max-width:100%}.warn{color:#a00}")


def _num_list(values) -> str:
    return ", ".join(f"{v:g}" for v in values)


def _contrast_sentence(equal: dict) -> tuple[str, bool]:
    """The sentence on what equalisation did to the emotion contrast, and whether it shrank."""
    parts, shrank = [], False
    for dim, b in equal["contrast_before"].items():
        a = equal["contrast_after"].get(dim, float("nan"))
        if dim == "category":
            parts.append(f"the share of images predicted as their cell's category went from {b:.0%} to {a:.0%}")
            shrank |= a < b
        else:
            change = (a - b) / abs(b) if abs(b) > 1e-9 else float("nan")
            parts.append(f"the predicted {dim} difference between the highest and lowest {dim} level went from "
                         f"{b:.2f} to {a:.2f} SAM points ({change:+.0%})")
            shrank |= abs(a) < abs(b) - 0.05
    return "; ".join(parts), shrank


def write_reports(folder, table, before, naive, design, names, cells, config, equal: dict, counts: dict,
                  pool_sd: dict) -> dict:
    bal = balance_table(table, names, cells, pool_sd)
    bal_naive = balance_table(naive, names, cells, pool_sd)
    dims = [d for d in ("valence", "arousal", "dominance") if d in table and table[d].notna().any()]
    head, rows = table_rows(bal, cells)
    ehead, erows = emotion_rows(table, cells, dims)
    nhead, nrows = table_rows(bal_naive, cells)
    plot_balance(table, names, cells, folder / "balance.png", naive=naive)
    # after equalisation the within-cell SDs collapse: judge the features by their cell-mean differences in
    # units of the candidate pool's SD (an SMD of a difference in the third decimal can exceed 1)
    judged = "max_abs_diff_pool_sd" if equal else "max_abs_smd"
    worst = float(bal["features"][judged].max())
    reached = bool(worst <= SMD_GOAL)
    n = len(table)

    eq_text, shrank = ("", False)
    if equal:
        eq_text, shrank = _contrast_sentence(equal)
    bal_before = balance_table(before, names, cells, pool_sd) if equal else None

    # ---------------------------------------------------------------- balance.md
    lines = [f"# Stimulus balance: {design.describe()}, {config.per_cell} images per cell", "",
             f"{n} images from {counts['eligible']} eligible of {counts['candidates']} candidates "
             f"(eligible: predicted emotion within ±{config.tolerance:g} SAM points of the cell's level).",
             "",
             "SMD = standardised mean difference of two cells, (mean_a − mean_b) / sqrt((sd_a² + sd_b²) / 2); "
             "'max |SMD|' is the largest over all pairs of cells. Conventionally |SMD| < 0.1 is negligible and "
             f"≤ {SMD_GOAL} small. 'max |Δ| / pool SD' is the largest difference of cell means in units of the "
             "feature's SD over all eligible candidates. ANOVA and Kruskal–Wallis test whether the cells' means "
             "(ranks) differ.", ""]
    if equal:
        lines += [f"The images were equalised ({equal['method']}) after choosing; the table describes the "
                  "equalised images, and the predicted emotion is the packaged predictor's on them. Equalising "
                  "collapses the within-cell SDs, so the balance is judged by max |Δ| / pool SD.", ""]
    lines += ["## Low-level features per cell", "", md_table(head, rows), ""]
    lines += [("All balanced features reach" if reached else "**Not reached:** the pool does not allow")
              + f" {'max |Δ| / pool SD' if equal else 'max |SMD|'} ≤ {SMD_GOAL} (largest: {worst:.2f}).", ""]
    lines += ["## Predicted emotion per cell (SAM 1–9)", "", md_table(ehead, erows), ""]
    if equal:
        lines += ["## Equalisation and emotion", "", f"{equal['method']} equalisation: {eq_text}.", ""]
        if shrank:
            lines += ["**The emotion contrast shrank after equalisation**: the low-level features removed carried "
                      "part of what the predictor reads as emotion. Check the cells still differ as intended "
                      "(the table above) before using the equalised set.", ""]
        bh, br = table_rows(bal_before, cells)
        lines += ["### Features before equalisation", "", md_table(bh, br), ""]
    lines += ["## Without matching (the images nearest each cell's target)", "", md_table(nhead, nrows), "",
              "![balance](balance.png)", ""]
    atomic_write_text(folder / "balance.md", "\n".join(lines))

    # ---------------------------------------------------------------- balance.html
    png = base64.b64encode((folder / "balance.png").read_bytes()).decode()
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>Stimulus balance</title>"
             f"<style>{_CSS}</style></head><body>",
             f"<h1>Stimulus balance: {html.escape(design.describe())}, {config.per_cell} images per cell</h1>",
             f"<p>{n} images from {counts['eligible']} eligible of {counts['candidates']} candidates. SMD = "
             "standardised mean difference between two cells (pooled SD); max |SMD| over all pairs.</p>",
             "<h2>Low-level features per cell</h2>", html_table(head, rows),
             f"<p class='{'' if reached else 'warn'}'>{'max |Δ| / pool SD' if equal else 'max |SMD|'} {worst:.2f} "
             f"({'≤' if reached else '>'} {SMD_GOAL})</p>",
             "<h2>Predicted emotion per cell</h2>", html_table(ehead, erows)]
    if equal:
        parts += [f"<h2>Equalisation ({html.escape(equal['method'])})</h2><p class='{'warn' if shrank else ''}'>"
                  f"{html.escape(eq_text)}.{' The emotion contrast shrank.' if shrank else ''}</p>"]
    parts += ["<h2>Without matching (nearest to target)</h2>", html_table(nhead, nrows),
              f"<h2>Distributions</h2><img alt='balance' src='data:image/png;base64,{png}'>", "</body></html>"]
    atomic_write_text(folder / "balance.html", "\n".join(parts))

    # ---------------------------------------------------------------- methods.md
    feats = (bal_before if equal else bal)["features"].set_index("feature")  # the matched selection
    levels = "; ".join(f"{f} {_num_list(lv) if f != 'category' else ', '.join(lv)}" for f, lv in design.factors)
    models = (f"from the predictions of {', '.join(counts['models'])}" if counts["models"]
              else "from the source runs' items.csv")
    feat_words = ", ".join(f"{describe(f)[0]} ({describe(f)[1]})" for f in names)
    smd_words = ", ".join(f"{describe(f)[0]} {feats.loc[f, 'max_abs_smd']:.2f}" for f in names)
    naive_f = bal_naive["features"].set_index("feature")
    naive_words = ", ".join(f"{describe(f)[0]} {naive_f.loc[f, 'max_abs_smd']:.2f}" for f in names)
    tests = "; ".join(f"{describe(f)[0]}: F({int(feats.loc[f, 'df1'])}, {int(feats.loc[f, 'df2'])}) = "
                      f"{fmt(feats.loc[f, 'F'], 2)}, p {_p_words(feats.loc[f, 'p_anova'])}" for f in names)
    emo = []
    for d in dims:
        means = table.groupby("cell")[d].mean().reindex(cells)
        sds = table.groupby("cell")[d].std(ddof=1).reindex(cells)
        emo.append(f"{d} " + ", ".join(f"{m:.2f} ± {s:.2f}" if np.isfinite(s) else "not available"
                                       for m, s in zip(means, sds)))
    from .. import __version__

    pools = ", ".join(str(v) for v in counts["per_cell_pool"].values())
    what = "histograms" if equal and equal["method"] == "histogram" else "amplitude spectra"
    para = (
        f"**Stimuli.** We selected {n} images, {config.per_cell} for each cell of a {design.describe()} design "
        f"(levels on the 9-point Self-Assessment Manikin scale: {levels}), from {counts['candidates']} candidate "
        f"images. Each candidate's emotion (SAM 1-9) was taken {models}; a candidate was eligible for a cell "
        f"when each predicted dimension lay within ±{config.tolerance:g} scale points of the cell's level "
        f"({counts['eligible']} eligible candidates; per cell {pools}). "
        f"Within these constraints the images were chosen with emosynth {__version__} (seed {config.seed}) by a "
        f"swap search that minimised the largest standardised mean difference (SMD) between any two cells "
        f"(plus {MEAN_WEIGHT:g} × the mean |SMD| and {DIST_WEIGHT:g} × the mean distance to the cell target, "
        f"{config.restarts} restarts) on {feat_words}, each computed on the image resized to {WORK_SIZE} px on its "
        f"longest side. After matching, the largest |SMD| between cells was {smd_words} (choosing the images "
        f"nearest each target without matching: {naive_words}); one-way ANOVAs across cells: {tests}. "
        f"Predicted emotion per cell (mean ± SD, in the order {', '.join(cells)}): {'; '.join(emo)}.")
    if equal:
        para += (f" After selection the images' luminance {what} "
                 f"were equalised (SHINE-style {equal['method']} matching on BT.601 luma, chroma kept); {eq_text}"
                 + (" — equalisation reduced the emotion contrast." if shrank else "."))
    if equal:
        after = bal["features"].set_index("feature")
        para += (" After equalisation the largest difference between cell means was " + ", ".join(
            f"{describe(f)[0]} {after.loc[f, 'max_abs_diff_pool_sd']:.2f}" for f in names)
            + " standard deviations of the candidate pool.")
    if not reached:
        para += (f" Note: the candidate pool did not allow every |SMD| ≤ {SMD_GOAL} (largest {worst:.2f}); "
                 "add candidates or relax the design before using this set.")
    methods = ["# Methods paragraph", "",
               "Adapt freely; every number below was computed from this stimulus folder.", "", para, "",
               "Reference for SMD thresholds: Austin (2009), Stat Med 28:3083 (|SMD| < 0.1 negligible). "
               "SHINE: Willenbockel et al. (2010), Behav Res Methods 42:671.", ""]
    atomic_write_text(folder / "methods.md", "\n".join(methods))

    final = bal["features"].set_index("feature")
    return {"balance": {f: round(float(feats.loc[f, "max_abs_smd"]), 4) for f in names},
            **({"balance_equalised": {f: round(float(final.loc[f, "max_abs_diff_pool_sd"]), 4) for f in names}}
               if equal else {}),
            "balance_unmatched": {f: round(float(naive_f.loc[f, "max_abs_smd"]), 4) for f in names},
            "p_anova": {f: float(feats.loc[f, "p_anova"]) for f in names},
            "smd_goal_reached": reached, "images": n, **counts,
            **({"equalise": {**equal, "emotion_contrast_shrank": shrank}} if equal else {})}


def _p_words(p: float) -> str:
    s = fmt_p(p)
    return s if s.startswith("<") else f"= {s}"

