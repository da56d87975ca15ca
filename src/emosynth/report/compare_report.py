"""The comparison study's report: results.csv, summary.csv, PNG plots, report.md and report.html."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from ..compare import (
    CEILING,
    CONSTANT,
    HEADLINE,
    HIGHER_IS_BETTER,
    REPRESENTATIONS,
    CompareResult,
    best_configuration,
    config_dict,
)
from ..emotions import DIMENSIONS
from ..errors import OutputError
from ..fsio import atomic_write_text, check_output, mark_output, output_directory, output_kind
from ._document import Document

#: the ownership kinds (``emosynth.fsio``) of a compare report and of a published report's plots
REPORT_KIND = "compare"
ASSETS_KIND = "published-plots"

METRIC_NAMES = {"r": "Pearson r", "mae": "MAE", "ccc": "CCC", "accuracy": "accuracy", "macro_f1": "macro-F1",
                "kl": "KL (nats)"}
REP_NAMES = {"category": "category", "va": "VA", "vad": "VAD", "none": "—"}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _fmt(mean, ci, digits=3) -> str:
    if not np.isfinite(mean):
        return "—"
    return f"{mean:.{digits}f}" + (f" ± {ci:.{digits}f}" if np.isfinite(ci) else "")


def _row(summary: pd.DataFrame, backbone, rep, dataset, target, metric, via=None):
    s = summary[(summary.backbone == backbone) & (summary.representation == rep) & (summary.dataset == dataset)
                & (summary.target == target) & (summary.metric == metric)]
    if via is None and not s.empty:
        via = "direct" if (s.via == "direct").any() else s.via.iloc[0]  # its own output, else a mapping
    s = s[s.via == via]
    return None if s.empty else s.iloc[0]


def _cell(summary: pd.DataFrame, backbone, rep, dataset, target, metric, via=None, mark=True,
          console=False) -> str:
    """'mean ± ci', bold where best, † where not significantly different from the best; a figure reached
    through a mapping says so ('(category centroids)' in documents, a superscript on the console)."""
    row = _row(summary, backbone, rep, dataset, target, metric, via)
    if row is None:
        return "—"
    text = f"{row['mean']:.2f}" if console else _fmt(row["mean"], row["ci"])
    best = mark and row["best"]
    if mark and not best and np.isfinite(row["p_vs_best"]) and row["p_vs_best"] >= 0.05:
        text += "†" if console else " †"
    if best:
        text = f"[bold]{text}[/bold]" if console else f"**{text}**"
    if via is None and row["via"] in ("category centroids", "nearest centroid"):
        text += ("ᶜ" if row["via"] == "category centroids" else "ⁿ") if console else f" ({row['via']})"
    return text


# ---------------------------------------------------------------------------- plots


def headline_columns(summary: pd.DataFrame, dataset_names) -> list[tuple[str, str, str]]:
    """The headline's (data set, target, metric) columns: the packaged protocol's (``HEADLINE``) for OASIS and
    Emotion6, and for any other data set (a user's CSV) its valence and arousal Pearson r and category accuracy
    and KL, each where the summary holds it."""
    cols = [c for c in HEADLINE if c[0] in dataset_names]
    known = {c[0] for c in HEADLINE}
    for ds in dataset_names:
        if ds in known:
            continue
        for target, metric in (("valence", "r"), ("arousal", "r"), ("category", "accuracy"), ("category", "kl")):
            if ((summary.dataset == ds) & (summary.target == target) & (summary.metric == metric)).any():
                cols.append((ds, target, metric))
    return cols


def plot_heatmaps(summary: pd.DataFrame, backbones, path: Path, columns=HEADLINE):
    """Backbone × representation heatmap for each headline metric (each representation's own path);
    ``columns``: (data set, target, metric) per panel (``headline_columns``)."""
    plt = _plt()
    columns = list(columns)
    ncols = 3 if len(columns) > 4 else max(1, min(len(columns), 2))
    nrows = max(1, -(-len(columns) // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(5 * ncols, 4.25 * nrows), squeeze=False)
    for ax in axes.ravel()[len(columns):]:
        ax.axis("off")
    for ax, (ds, target, metric) in zip(axes.ravel(), columns):
        M = np.full((len(backbones), len(REPRESENTATIONS)), np.nan)
        for i, bb in enumerate(backbones):
            for j, rep in enumerate(REPRESENTATIONS):
                row = _row(summary, bb, rep, ds, target, metric)
                if row is not None:
                    M[i, j] = row["mean"]
        cmap = "viridis" if HIGHER_IS_BETTER.get(metric, True) else "viridis_r"
        im = ax.imshow(M, cmap=cmap, aspect="auto")
        for i in range(M.shape[0]):
            for j in range(M.shape[1]):
                if np.isfinite(M[i, j]):
                    r, g, b, _ = im.cmap(im.norm(M[i, j]))
                    ax.text(j, i, f"{M[i, j]:.3f}", ha="center", va="center", fontsize=9,
                            color="black" if 0.3 * r + 0.6 * g + 0.1 * b > 0.5 else "white")
                else:
                    ax.text(j, i, "n/a", ha="center", va="center", fontsize=8, color="grey")
        ax.set_xticks(range(len(REPRESENTATIONS)), [REP_NAMES[r] for r in REPRESENTATIONS])
        ax.set_yticks(range(len(backbones)), backbones)
        ax.set_title(f"{ds} {target} {METRIC_NAMES[metric]}", fontsize=11)
        fig.colorbar(im, ax=ax, fraction=0.046)
    fig.suptitle("Backbone × representation (mean over folds; V/A of the category model via its centroids, "
                 "accuracy of VA/VAD via the nearest centroid)", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_scatter(result: CompareResult, backbone: str, path: Path):
    """Out-of-fold predicted vs rated V and A per data set, identity line dashed."""
    plt = _plt()
    data, pred = result.data, result.oof[backbone]["vad"]
    panels = [(i, name, j) for i, name in enumerate(result.dataset_names) for j in (0, 1)
              if data.has(DIMENSIONS[j])[result.origin == i].sum() > 2]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.3), squeeze=False)
    for ax, (i, name, j) in zip(axes[0], panels):
        m = (result.origin == i) & data.has(DIMENSIONS[j])
        y, p = data.vad[m, j], pred[m, j]
        ax.scatter(y, p, s=5, alpha=0.35, color="tab:blue" if j == 0 else "tab:red", edgecolors="none")
        lo, hi = 1, 9
        ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="identity")
        r = np.corrcoef(y, p)[0, 1]
        ax.set(xlim=(lo, hi), ylim=(lo, hi), xlabel=f"rated {DIMENSIONS[j]} (1–9)",
               ylabel=f"predicted {DIMENSIONS[j]}", title=f"{name}: r = {r:.3f} (n = {m.sum()})")
        ax.set_aspect("equal")
        ax.legend(loc="upper left", fontsize=8)
    fig.suptitle(f"{backbone}, VA model, out-of-fold predictions", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def confusion(result: CompareResult, backbone: str) -> np.ndarray:
    """Row-normalised confusion matrix (raters' argmax × predicted argmax), out of fold."""
    data = result.data
    m = data.has("category")
    t = data.probabilities[m].argmax(1)
    p = result.oof[backbone]["probabilities"][m].argmax(1)
    K = len(data.categories)
    C = np.zeros((K, K))
    np.add.at(C, (t, p), 1)
    return C / np.clip(C.sum(1, keepdims=True), 1, None)


def plot_confusion(result: CompareResult, backbone: str, path: Path):
    plt = _plt()
    C = confusion(result, backbone)
    names = result.data.categories.names
    fig, ax = plt.subplots(figsize=(6.2, 5.4))
    im = ax.imshow(C, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(names)):
        for j in range(len(names)):
            ax.text(j, i, f"{C[i, j]:.2f}", ha="center", va="center", fontsize=8,
                    color="white" if C[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set(xlabel="predicted (argmax)", ylabel="raters' argmax",
           title=f"{backbone} category model, out of fold (rows sum to 1)")
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def predicted_centroids(result: CompareResult, backbone: str) -> np.ndarray:
    """Each category's mean predicted V/A/D (out of fold), weighted by the raters' distribution."""
    from ..stats import category_centroids

    data = result.data
    m = data.has("category")
    return category_centroids(data.probabilities[m], result.oof[backbone]["vad"][m])


def plot_va_plane(result: CompareResult, backbone: str, path: Path):
    plt = _plt()
    rated, pred = result.centroids, predicted_centroids(result, backbone)
    names = result.data.categories.names
    fig, ax = plt.subplots(figsize=(6.5, 6))
    colours = plt.get_cmap("tab10")
    for k, name in enumerate(names):
        c = colours(k)
        ax.scatter(*rated[k, :2], s=70, color=c, marker="o", edgecolors="black", zorder=3)
        ax.scatter(*pred[k, :2], s=70, color=c, marker="s", edgecolors="black", zorder=3)
        ax.annotate("", xy=pred[k, :2], xytext=rated[k, :2], arrowprops=dict(arrowstyle="->", color=c, lw=1.5))
        ax.annotate(name, rated[k, :2], textcoords="offset points", xytext=(6, 6), fontsize=9)
    ax.scatter([], [], marker="o", color="grey", label="rated centroid")
    ax.scatter([], [], marker="s", color="grey", label="predicted centroid (out of fold)")
    lo = min(np.nanmin(rated[:, :2]), np.nanmin(pred[:, :2])) - 0.5
    hi = max(np.nanmax(rated[:, :2]), np.nanmax(pred[:, :2])) + 0.5
    ax.set(xlim=(lo, hi), ylim=(lo, hi), xlabel="valence (unpleasant → pleasant, 1–9)",
           ylabel="arousal (calm → excited, 1–9)", title=f"Emotion6 categories in the VA plane ({backbone}, VA model)")
    ax.axhline(5, color="grey", lw=0.5)
    ax.axvline(5, color="grey", lw=0.5)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


# ---------------------------------------------------------------------------- document


def _headline_rows(result: CompareResult, console: bool = False) -> tuple[list[str], list[list[str]]]:
    s = result.summary
    cols = headline_columns(s, result.dataset_names)
    header = ["backbone", "representation"] + [f"{ds} {t} {METRIC_NAMES[m]}" for ds, t, m in cols]
    rows = []
    for bb in result.config.backbones:
        for rep in REPRESENTATIONS:
            rows.append([bb, REP_NAMES[rep]] + [_cell(s, bb, rep, ds, t, m, console=console)
                                                for ds, t, m in cols])
    for name in (CONSTANT, CEILING):
        rows.append([name, "—"] + [_cell(s, name, "none", ds, t, m, mark=False, console=console)
                                   for ds, t, m in cols])
    return header, rows


SHORT = {"oasis": "OASIS", "emotion6": "E6", "valence": "V", "arousal": "A", "category": "",
         "r": "r", "accuracy": "acc", "kl": "KL"}


def headline_table(result: CompareResult, console: bool = False) -> tuple[list[str], list[list[str]]]:
    """The headline table (header, rows) atop the report; ``console``: short headers, rich markup,
    superscript ᶜ for V/A through category centroids and ⁿ for categories through the nearest centroid.

    Args:
        result: The comparison's result.
        console: Short headers and rich markup, for the terminal.

    Returns:
        ``(header, rows)``: the column names and one list of cell strings per row.
    """
    header, rows = _headline_rows(result, console)
    if console:
        header = ["backbone", "repr."] + [" ".join(w for w in (SHORT.get(ds, ds), SHORT[t], SHORT[m]) if w)
                               for ds, t, m in headline_columns(result.summary, result.dataset_names)]
    return header, rows


def _timing_line(h: dict, label: str) -> str:
    kind = "warm: every feature from the cache" if h["images_computed"] == 0 else \
        f"cold: {h['images_computed']} of {h['images']} image features computed"
    text = (f"{label} ({kind}): **{h['total_s']:.0f} s** — features {h['features_s']:.0f} s, {h['fits']} head "
            f"fits {h['fit_s']:.0f} s on {h['jobs']} processes ({h['date']}")
    if "fit_cpu_s" in h and h.get("load_average") == h.get("load_average"):  # not NaN
        text += (f"; load average {h['load_average']:.1f} on {h.get('cpus', '?')} cores at the start, "
                 f"head fits {h['fit_cpu_s']:.0f} CPU-s in all")
    return text + ")."


def _timing_lines(history: list[dict]) -> list[str]:
    last = history[-1]
    lines = [_timing_line(last, "This run")]
    cold = [h for h in history[:-1] if h.get("images_computed", 0) > 0]
    warm = [h for h in history[:-1] if h.get("images_computed", 0) == 0]
    if cold and last["images_computed"] == 0:
        lines.append(_timing_line(cold[-1], "Last cold run in this folder"))
    if warm and last["images_computed"] > 0:
        lines.append(_timing_line(warm[-1], "Last warm run in this folder"))
    return lines


def build_report(result: CompareResult, out_dir: Path, command: str | None = None, overwrite: bool = False) -> Path:
    """Write everything into a temporary sibling folder, then swap it in (nothing half-written).
    ``out_dir`` must be new or empty, or (with ``overwrite``) an earlier compare report (``emosynth.fsio``).

    Args:
        result: The comparison's result.
        out_dir: The report folder (results.csv, summary.csv, config.json, timings.json, the report, plots).
        command: The command line to show in the report, or None.
        overwrite: Replace an earlier compare report in ``out_dir``.

    Returns:
        ``out_dir``.

    Raises:
        OutputError: ``out_dir`` may not or cannot be written.
    """
    from ..compare import record_timing

    out_dir = Path(out_dir)
    check_output(out_dir, REPORT_KIND, overwrite)
    history = record_timing(out_dir, result.timings)
    with output_directory(out_dir, REPORT_KIND, overwrite) as tmp:
        _write(result, tmp, command, history)
        atomic_write_text(tmp / "timings.json", json.dumps(history, indent=1) + "\n")
    return out_dir


def _write(result: CompareResult, d: Path, command: str | None, history: list[dict]):
    cfg, s = result.config, result.summary
    result.results.to_csv(d / "results.csv", index=False, float_format="%.6g")
    s.to_csv(d / "summary.csv", index=False, float_format="%.6g")
    (d / "config.json").write_text(json.dumps(config_dict(cfg), indent=1) + "\n")

    plots = _plots(result, d)
    doc = _introduction(result, command, history)
    doc.heading("Headline")
    header, rows = headline_table(result)
    doc.table(header, rows)
    doc.para("**Bold**: the best configuration for that column; †: not significantly different from it (paired "
             "t-test over the same folds, p ≥ 0.05). A category model's valence/arousal come through its "
             "categories' training-fold centroids; a VA/VAD model's accuracy through the nearest centroid. "
             "The constant predictor ignores the image (training mean, class prior): its r is undefined, so it "
             "speaks through accuracy and KL here and MAE below. The noise ceiling is the highest r the OASIS "
             "ratings allow (√ reliability of the mean ratings, from raters' SD and N).")

    _bar_section(doc, result)
    _cross_section(doc, result)
    doc.heading("Plots")
    for f, cap in plots:
        doc.image(f, cap)

    _all_metrics(doc, result)
    (d / "report.md").write_text(doc.markdown())
    (d / "report.html").write_text(doc.html(d))




def _plots(result: CompareResult, d: Path) -> list[tuple[str, str]]:
    """Draw the figures into ``d``; (file, caption) of each."""
    cfg, s = result.config, result.summary
    best_va = best_configuration(s, result.dataset_names[0], "valence", "r") if "valence" in s.target.values \
        else None
    best_cat = best_configuration(s, "emotion6", "category", "accuracy") if "emotion6" in result.dataset_names \
        else None
    plots = []
    plot_heatmaps(s, cfg.backbones, d / "heatmaps.png", headline_columns(s, result.dataset_names))
    plots.append(("heatmaps.png", "Backbone × representation for each headline metric (mean over folds)."))
    if best_va:
        plot_scatter(result, best_va[0], d / "scatter_va.png")
        plots.append(("scatter_va.png", f"Predicted against rated valence and arousal, out of fold, for the best "
                                        f"valence model ({best_va[0]}); dashed: identity."))
    if best_cat and result.data.categories is not None:
        plot_confusion(result, best_cat[0], d / "confusion.png")
        plots.append(("confusion.png", f"Confusion matrix of the best category model ({best_cat[0]}), out of "
                                       "fold, rows normalised."))
        if best_va:
            plot_va_plane(result, best_va[0], d / "va_plane.png")
            plots.append(("va_plane.png", "Each Emotion6 category's centroid in the valence–arousal plane: "
                                          "rated (circles) and predicted by the best valence model (squares), "
                                          "weighted by the raters' distribution."))

    return plots


def _introduction(result: CompareResult, command: str | None, history: list[dict]) -> Document:
    cfg = result.config
    doc = Document("emosynth comparison: backbones × representations of emotion")
    sizes = ", ".join(f"{n} ({int((result.origin == i).sum())} images)" for i, n in enumerate(result.dataset_names))
    doc.para(f"Data: {sizes}. Protocol: grouped {cfg.folds}-fold cross-validation (OASIS grouped by theme, so "
             "near-duplicate images never straddle train and test; stratified by the raters' argmax and data set), "
             f"seed {cfg.seed}; every model is trained on the training folds of all data sets and scored on each "
             f"data set's held-out images. Features: {cfg.pooling} pooling"
             f"{', averaged with the mirror image' if cfg.flip else ''}; heads fitted on "
             f"{cfg.components or 'all'} principal components with grouped inner CV for regularisation"
             + ("; " + ", ".join(f"{t} learnt from {' and '.join(v)} only" for t, v in cfg.target_datasets.items())
                if cfg.target_datasets else "") + ". Intervals are "
             f"{cfg.level:.0%} t-intervals over the {cfg.folds} folds.")
    if command:
        doc.code(command)
    for line in _timing_lines(history):
        doc.para(line)

    return doc


def _bar_section(doc: Document, result: CompareResult):
    """Which backbones reach the predictor issue's bar, on this protocol."""
    cfg, s = result.config, result.summary
    doc.heading("Which backbones reach the predictor's bar?")
    bar = [("oasis", "valence", "r", "va", 0.58, True), ("oasis", "arousal", "r", "va", 0.60, True),
           ("emotion6", "category", "accuracy", "category", 0.53, True),
           ("emotion6", "category", "kl", "category", 0.9, False)]
    bar = [b for b in bar if b[0] in result.dataset_names]
    if bar:
        hdr = ["backbone"] + [f"{ds} {t} {METRIC_NAMES[m]} {'≥' if hi else '≤'} {v}" for ds, t, m, _, v, hi in bar]
        rows, passing = [], []
        for bb in cfg.backbones:
            ok_all, cells = True, []
            for ds, t, m, rep, v, hi in bar:
                row = _row(s, bb, rep, ds, t, m, "direct")
                ok = row is not None and (row["mean"] >= v if hi else row["mean"] <= v)
                ok_all &= ok
                cells.append("—" if row is None else f"{row['mean']:.3f} {'✓' if ok else '✗'}")
            rows.append([bb] + cells)
            if ok_all:
                passing.append(bb)
        doc.table(hdr + ["all"], [r + ["yes" if r[0] in passing else "no"] for r in rows])
        doc.para("The bar is the default model's target from the predictor issue, on this same protocol "
                 "(valence and arousal from the VA model, categories from the category model of one backbone). "
                 + (f"Reached by: {', '.join(passing)}." if passing else "No single backbone reaches all of it."))



def _cross_section(doc: Document, result: CompareResult):
    """How well each representation predicts the others (needs Emotion6's categories)."""
    cfg, s = result.config, result.summary
    if "emotion6" in result.dataset_names and result.data.categories is not None:
        doc.heading("How well does each representation predict the others?")
        hdr = ["backbone", "accuracy: category head", "accuracy: VA → nearest centroid",
               "accuracy: VAD → nearest centroid", "E6 valence r: VA head", "E6 valence r: category → centroids",
               "E6 arousal r: VA head", "E6 arousal r: category → centroids"]
        if "oasis" in result.dataset_names:
            hdr += ["OASIS valence r: VA head", "OASIS valence r: category → centroids"]
        rows = []
        for bb in cfg.backbones:
            r = [bb, _cell(s, bb, "category", "emotion6", "category", "accuracy", "direct", False),
                 _cell(s, bb, "va", "emotion6", "category", "accuracy", "nearest centroid", False),
                 _cell(s, bb, "vad", "emotion6", "category", "accuracy", "nearest centroid", False),
                 _cell(s, bb, "va", "emotion6", "valence", "r", "direct", False),
                 _cell(s, bb, "category", "emotion6", "valence", "r", "category centroids", False),
                 _cell(s, bb, "va", "emotion6", "arousal", "r", "direct", False),
                 _cell(s, bb, "category", "emotion6", "arousal", "r", "category centroids", False)]
            if "oasis" in result.dataset_names:
                r += [_cell(s, bb, "va", "oasis", "valence", "r", "direct", False),
                      _cell(s, bb, "category", "oasis", "valence", "r", "category centroids", False)]
            rows.append(r)
        doc.table(hdr, rows)
        doc.para("Centroids are each category's mean V/A/D over the training fold's Emotion6 images, weighted by "
                 "the raters' distribution; a category model's V/A is the probability-weighted mean of the "
                 "centroids, a VA(D) model's category the nearest centroid. The ridge heads are separate per "
                 "dimension, so the VA and VAD models share their V and A figures; dominance is "
                 "lexicon-derived on both data sets (see label sources below), so D-based results measure "
                 "agreement with word norms, not with rated dominance.")



def _all_metrics(doc: Document, result: CompareResult):
    s = result.summary
    doc.heading("All metrics")
    for ds in result.dataset_names:
        sub = s[s.dataset == ds]
        metrics = [(t, m) for t in (*DIMENSIONS, "category") for m in METRIC_NAMES
                   if ((sub.target == t) & (sub.metric == m)).any()]
        header = ["backbone", "representation", "via"] + [f"{t} {METRIC_NAMES[m]}" for t, m in metrics]
        rows = []
        configs = sub[["backbone", "representation", "via"]].drop_duplicates().itertuples(index=False)
        for bb, rep, via in configs:
            rows.append([bb, REP_NAMES[rep], via] + [_cell(s, bb, rep, ds, t, m, via) for t, m in metrics])
        doc.heading(ds, 3)
        doc.table(header, rows)
    doc.para("Label sources: " + "; ".join(f"{n}: " + ", ".join(f"{k} {v}" for k, v in src.items())
                                          for n, src in result.label_sources.items()) + ".")
    doc.para("Files: `results.csv` (one row per backbone × representation × mapping × data set × fold × metric), "
             "`summary.csv` (mean, CI, best, paired test against the best), the PNG plots, `timings.json`.")


def check_publish(markdown_path: str | Path) -> None:
    """Stop (one ``OutputError`` line) before any work when ``publish`` could not write there: a folder
    in place of the Markdown file, an unwritable place, a plots folder emosynth did not write.

    Args:
        markdown_path: The Markdown file ``publish`` would write.

    Raises:
        OutputError: ``publish`` could not write there.
    """
    md = Path(markdown_path)
    if md.is_dir():
        raise OutputError(f"{md}: is a folder; give the Markdown file to publish to")
    assets = md.with_suffix("")
    if assets.is_dir() and output_kind(assets) is None and any(assets.iterdir()) and all(
            p.is_file() and p.suffix == ".png" for p in assets.iterdir()):
        return  # an earlier emosynth's published plots: publish marks and replaces them
    check_output(assets, ASSETS_KIND, overwrite=True)


def publish(out_dir: str | Path, markdown_path: str | Path) -> Path:
    """Copy a report to ``markdown_path`` (e.g. docs/results.md), its images beside it in a folder of
    the same stem, with the links rewritten.

    Args:
        out_dir: A report folder holding report.md and its PNG plots.
        markdown_path: The Markdown file to write.

    Returns:
        ``markdown_path`` as a ``Path``.

    Raises:
        OutputError: ``markdown_path`` is a folder, or the plots folder may not or cannot be written.
    """
    out_dir, md = Path(out_dir), Path(markdown_path)
    assets = md.with_suffix("")
    text = (out_dir / "report.md").read_text()
    if md.is_dir():
        raise OutputError(f"{md}: is a folder; give the Markdown file to publish to")
    if assets.is_dir() and output_kind(assets) is None and any(assets.iterdir()) and all(
            p.is_file() and p.suffix == ".png" for p in assets.iterdir()):
        mark_output(assets, ASSETS_KIND)  # published by an earlier emosynth: only its plots are there
    with output_directory(assets, ASSETS_KIND, overwrite=True) as tmp:
        for png in sorted(out_dir.glob("*.png")):
            shutil.copyfile(png, tmp / png.name)
            text = text.replace(f"]({png.name})", f"]({assets.name}/{png.name})")
    atomic_write_text(md, text)
    return md
