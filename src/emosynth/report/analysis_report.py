"""The analysis report: per-emotion visual statistics of image sets, real against synthesised."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from ..fsio import check_output, output_directory
from ._document import Document
from .analysis import KEY_FEATURES, agreement, effects, extract, gather, sentences

#: the ownership kind of an analysis report (``emosynth.fsio``)
REPORT_KIND = "analysis"

HUE_BINS = ("red", "orange", "yellow", "chartreuse", "green", "spring_green", "cyan", "azure", "blue", "violet",
            "magenta", "rose")


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_effects(eff: pd.DataFrame, grouping: str, path: Path) -> bool:
    """For each group, the key features' d per image set (bars, 95% interval whiskers)."""
    e = eff[(eff.grouping == grouping) & eff.feature.isin([f for f, _, _ in KEY_FEATURES])]
    if e.empty:
        return False
    plt = _plt()
    groups = sorted(e.group.unique())
    sets = list(dict.fromkeys(e.set))
    feats = [f for f, _, _ in KEY_FEATURES]
    cols = min(4, len(groups))
    rows = int(np.ceil(len(groups) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.3 * cols, 3.6 * rows), squeeze=False, sharex=True)
    width = 0.8 / len(sets)
    for ax, g in zip(axes.ravel(), groups):
        for k, s in enumerate(sets):
            sub = e[(e.group == g) & (e.set == s)].set_index("feature").reindex(feats)
            y = np.arange(len(feats)) + k * width
            ax.barh(y, sub["d"], height=width, label=s, color=f"C{k}",
                    xerr=[sub["d"] - sub["d_low"], sub["d_high"] - sub["d"]], error_kw={"lw": 0.6})
        ax.axvline(0, color="black", lw=0.6)
        ax.set_yticks(np.arange(len(feats)) + 0.4 - width / 2, [f.split("_", 1)[1] for f in feats], fontsize=7)
        ax.set_title(g, fontsize=10)
        ax.invert_yaxis()
    for ax in axes.ravel()[len(groups):]:
        ax.axis("off")
    axes[0, 0].legend(fontsize=7, loc="lower right")
    fig.supxlabel("Cohen's d against the rest of the same set (95% interval)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return True


def plot_hue(sets, grouping: str, path: Path) -> bool:
    """Each group's mean saturation-weighted hue histogram as a circular (polar) bar chart, per set."""
    from .analysis import feature_names

    names = feature_names()
    idx = [names.index(f"colour_hue_{b}") for b in HUE_BINS]
    panels = []
    for s in sets:
        labels = s.category if grouping == "category" else s.region
        for g in sorted(set(labels) - {""}):
            m = labels == g
            if m.sum() >= 3:
                panels.append((s.name, g, s.features[m][:, idx].mean(0)))
    if not panels:
        return False
    plt = _plt()
    groups = sorted({g for _, g, _ in panels})
    set_names = list(dict.fromkeys(n for n, _, _ in panels))
    fig, axes = plt.subplots(len(set_names), len(groups), figsize=(2.2 * len(groups), 2.4 * len(set_names)),
                             subplot_kw={"projection": "polar"}, squeeze=False)
    theta = np.deg2rad(np.arange(12) * 30)
    colours = plt.get_cmap("hsv")(np.arange(12) / 12)
    for ax in axes.ravel():
        ax.set_axis_off()
    for name, g, h in panels:
        ax = axes[set_names.index(name), groups.index(g)]
        ax.set_axis_on()
        ax.bar(theta, h, width=np.deg2rad(28), color=colours, edgecolor="none")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"{name}: {g}", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return True


def _copy_reduced(src: Path, dst: Path, max_side: int = 1600):
    """Copy a run's mosaic into the report, at most ``max_side`` px and 256 colours: a mosaic of
    noisy synthetic images is megabytes at full size, and the report only needs to show it."""
    from ..imageio import read_image

    im = read_image(src, within=src.parent)  # the run's own file: no link out of the run, no bomb
    im.thumbnail((max_side, max_side))
    im.quantize(256).save(dst, optimize=True)


def _fmt_d(row) -> str:
    return f"{row['d']:+.2f} [{row['d_low']:+.2f}, {row['d_high']:+.2f}]" + (" *" if row["q"] < 0.05 else "")


def analyze(runs, datasets, out_dir: str | Path, data_root=None, command: str | None = None, progress=None,
            overwrite: bool = False) -> dict:
    """Analyse run directories and data sets; write report.md / report.html, effects.csv,
    agreement.csv and plots into ``out_dir`` (atomically). Returns {"effects", "agreement", "sentences"}.
    ``out_dir`` must be new or empty, or (with ``overwrite``) an earlier analysis (``emosynth.fsio``).

    Args:
        runs: Run directories.
        datasets: Data set names or paths.
        out_dir: The report folder.
        data_root: The folder holding the named data sets; defaults to ``$EMOSYNTH_DATA``.
        command: The command line to show in the report, or None.
        progress: A progress callback for the feature extraction, or None.
        overwrite: Replace an earlier analysis in ``out_dir``.

    Returns:
        ``{"effects": DataFrame, "agreement": DataFrame, "sentences": list of str, "seconds": float}``.

    Raises:
        OutputError: ``out_dir`` may not or cannot be written.
        EmosynthError: Nothing to analyse, two sets sharing a name, or a run or data set that cannot be read.
    """
    check_output(out_dir, REPORT_KIND, overwrite)  # before the work: never replace what is not ours
    t0 = time.perf_counter()
    sets = gather(runs, datasets, data_root)
    extract(sets, progress)
    eff = pd.concat([effects(s, g) for s in sets for g in ("category", "region")], ignore_index=True)
    agr = agreement(eff)
    words = sentences(eff)
    seconds = time.perf_counter() - t0

    out_dir = Path(out_dir)
    with output_directory(out_dir, REPORT_KIND, overwrite) as tmp:
        eff.to_csv(tmp / "effects.csv", index=False, float_format="%.5g")
        agr.to_csv(tmp / "agreement.csv", index=False, float_format="%.4g")
        doc = Document("emosynth analysis: visual statistics per emotion")
        if command:
            doc.code(command)
        n_img = sum(len(s.paths) for s in sets)
        doc.para(f"{len(sets)} image sets, {n_img} images, analysed in {seconds:.0f} s. Effect sizes are Cohen's d "
                 "of each group against the rest of its own set (so a set's overall style cancels out), with a 95% "
                 "interval; * marks features significant after Benjamini–Hochberg correction over the "
                 f"{eff.feature.nunique() if len(eff) else 0} handcrafted features (q < 0.05). Groups: "
                 "**category** (a run's target, a data set's raters' argmax) and **VA region** (the quadrant of "
                 "the valence–arousal plane around 5).")
        doc.table(["set", "kind", "images", "category groups", "VA regions"],
                  [[s.name, s.kind, str(len(s.paths)), str(len(set(s.category) - {""})),
                    str(len(set(s.region) - {""}))] for s in sets])
        doc.heading("Findings")
        doc.bullets(words or ["No synthetic set has a key-feature effect of |d| ≥ 0.5 that survives correction."])
        if len(agr):
            doc.heading("Do synthesised images move the features as real images do?")
            doc.table(["synthetic set", "method", "real set", "grouping", "group", "clear real effects",
                       "sign agreement", "r of d"],
                      [[r.set, r.method, r.real_set, r.grouping, r.group, str(r.clear_features),
                        "—" if not np.isfinite(r.sign_agreement) else f"{r.sign_agreement:.2f}",
                        "—" if not np.isfinite(r.r) else f"{r.r:+.2f}"] for r in agr.itertuples()])
            doc.para("Sign agreement: the share of the features with a clear real effect (|d| ≥ 0.2, q < 0.05) whose "
                     "synthetic d points the same way (chance: 0.5). r: the correlation of the two sets' d over all "
                     "features.")
        doc.heading("Plots")
        for grouping, label in (("category", "category"), ("region", "VA region")):
            if plot_effects(eff, grouping, tmp / f"effects_{grouping}.png"):
                doc.image(f"effects_{grouping}.png", f"Key features per {label}: Cohen's d against the rest of "
                                                     "the same set, one bar per image set.")
            if plot_hue(sets, grouping, tmp / f"hue_{grouping}.png"):
                doc.image(f"hue_{grouping}.png", f"Hue (saturation-weighted, 12 bins from red clockwise) per "
                                                 f"{label} and image set.")
        for s, r in zip(sets, list(runs) + [None] * len(datasets)):
            if r is None:
                continue
            for name in ("mosaic.png", "archive.png", "contact_sheet.png"):
                if (Path(r) / name).is_file():
                    _copy_reduced(Path(r) / name, tmp / f"{s.name}_{name}")
                    doc.image(f"{s.name}_{name}", f"{s.name}: {name}")
                    break
        doc.heading("Strongest effects per group")
        for (sname, grouping), e in eff.groupby(["set", "grouping"], sort=False):
            rows = []
            for g, eg in e.groupby("group"):
                top = eg.reindex(eg["d"].abs().sort_values(ascending=False).index).head(3)
                rows.append([g, str(int(eg["n"].iloc[0]))] + [f"{f}: {_fmt_d(r)}" for f, (_, r) in
                                                              zip(top.feature, top.iterrows())])
            doc.heading(f"{sname} — by {grouping}", 3)
            doc.table(["group", "n", "1st", "2nd", "3rd"], rows)
        doc.para("Files: `effects.csv` (set × grouping × group × feature: d, interval, p, q), `agreement.csv`.")
        (tmp / "report.md").write_text(doc.markdown())
        (tmp / "report.html").write_text(doc.html(tmp))
    return {"effects": eff, "agreement": agr, "sentences": words, "seconds": seconds}
