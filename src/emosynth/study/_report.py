"""``emosynth study report``: what people rated against what the system intended (and predicted).

Exclusion rule (stated in the report): a participant is excluded when they failed more than
``max_fail_share`` (default a quarter) of the attention checks they answered — with 4 checks, 2 or
more failures. A check passes when all three answers are 1 (the leftmost figure). Practice trials and
attention checks never enter the statistics.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import StudyError
from ..fsio import output_directory, write_json
from ..stats import mean_ci
from ._db import sessions
from ._service import DIMENSIONS, ratings_frame
from ._stats import icc2k, krippendorff_alpha_interval, mae, pearson, share_on_intended_side

MARKER = ".emosynth-study-report"
#: the ownership kind of a study report (``emosynth.fsio``)
REPORT_KIND = "study-report"


@dataclass
class Analysis:
    """The report's numbers: per-participant attention, per-image and per-target summaries, and
    per-dimension agreement between intended, rated (human mean) and predicted values.

    V/A/D values (ratings, means, targets, predictions) are on the SAM 1-9 scale.

    Attributes:
        participants: One row per participant: participant, checks, failed, ratings, finished, excluded.
        images: One row per image: image, n, ``<dim>_mean`` and ``<dim>_ci`` (95% CI half-width) per
            dimension, and the image's targets and predictions.
        targets: One row per target: target, images, n, participants, and per dimension the mean and CI
            half-width over participants' means and the mean intended value ``target_<dim>``.
        metrics: Dimension -> {metric name: value}: Pearson r, MAE and share on the intended side
            (intended vs rated, predicted vs rated), ICC(2,k) and Krippendorff's alpha.
        rule: The exclusion rule, in words.
        n_ratings: The number of ratings analysed (main trials of kept participants).
    """

    participants: pd.DataFrame
    images: pd.DataFrame
    targets: pd.DataFrame
    metrics: dict = field(default_factory=dict)  # dimension -> {name: value}
    rule: str = ""
    n_ratings: int = 0


def analyse(df: pd.DataFrame, max_fail_share: float = 0.25) -> Analysis:
    """Analyse an export-format ratings frame (``ratings_frame`` / ``study export``).

    A participant is excluded when they failed more than ``max_fail_share`` of the attention checks they
    answered; practice trials and attention checks are not analysed.

    Args:
        df: The ratings, one row per rated trial (``EXPORT_COLUMNS``; V/A/D on SAM 1-9).
        max_fail_share: The share of failed attention checks above which a participant is excluded.

    Returns:
        The analysis.

    Raises:
        StudyError: If there are no ratings, or no ratings of study images from kept participants.
    """
    if df.empty:
        raise StudyError("the study has no ratings yet")
    rule = (f"a participant is excluded when they failed more than {max_fail_share:.0%} of the attention "
            "checks they answered (a check passes when all three answers are 1, the leftmost figure); "
            "participants who answered no check are kept")
    att = df[df["kind"] == "attention"]
    parts = pd.DataFrame({"participant": sorted(df["participant"].unique())})
    checks = att.groupby("participant")["attention_pass"].agg(lambda s: int(len(s))).rename("checks")
    fails = att.groupby("participant")["attention_pass"].agg(lambda s: int((~s.astype(bool)).sum())).rename("failed")
    main_n = df[df["kind"] == "main"].groupby("participant").size().rename("ratings")
    finished = df.groupby("participant")["participant_finished"].max().rename("finished")
    parts = parts.join(checks, on="participant").join(fails, on="participant").join(main_n, on="participant") \
        .join(finished, on="participant").fillna({"checks": 0, "failed": 0, "ratings": 0})
    parts[["checks", "failed", "ratings"]] = parts[["checks", "failed", "ratings"]].astype(int)
    parts["excluded"] = (parts["checks"] > 0) & (parts["failed"] > max_fail_share * parts["checks"])
    keep = set(parts.loc[~parts["excluded"], "participant"])

    main = df[(df["kind"] == "main") & df["participant"].isin(keep)]
    if main.empty:
        raise StudyError("no ratings of study images to analyse yet (practice and attention checks do not count; "
                         f"{int(parts['excluded'].sum())} participant(s) excluded)")
    meta_cols = ["image", "target", "source_run", "source_file", "target_category", "target_valence",
                 "target_arousal", "target_dominance", "pred_category", "pred_valence", "pred_arousal",
                 "pred_dominance"]
    first = df[df["kind"] == "main"].drop_duplicates("image").set_index("image")[meta_cols[1:]]
    img_rows = []
    for image, g in main.groupby("image", sort=True):
        row = {"image": image, "n": len(g)}
        for dim in DIMENSIONS:
            m, h = mean_ci(g[dim].to_numpy(float))
            row[f"{dim}_mean"], row[f"{dim}_ci"] = m, h
        img_rows.append(row)
    images = pd.DataFrame(img_rows, columns=["image", "n"] + [f"{d}_{s}" for d in DIMENSIONS for s in ("mean", "ci")])
    images = images.join(first, on="image")

    tgt_rows = []
    for target, g in main.groupby("target", sort=True):
        # Ratings of one participant are not independent: the interval is over participants' means.
        per_person = g.groupby("participant")[list(DIMENSIONS)].mean()
        row = {"target": target, "images": g["image"].nunique(), "n": len(g), "participants": len(per_person)}
        for dim in DIMENSIONS:
            m, h = mean_ci(per_person[dim].to_numpy(float))
            row[f"{dim}_mean"], row[f"{dim}_ci"] = m, h
            row[f"target_{dim}"] = g[f"target_{dim}"].astype(float).mean()
        tgt_rows.append(row)
    targets = pd.DataFrame(tgt_rows)

    # the ICC needs a complete table: the images x raters who rated every image
    table_all = {dim: main.pivot_table(index="image", columns="participant", values=dim, aggfunc="first")
                 for dim in DIMENSIONS}
    metrics = {}
    for dim in DIMENSIONS:
        t = table_all[dim]
        complete = t.loc[:, t.notna().all(axis=0)] if not t.empty else t
        intended = images[f"target_{dim}"].astype(float).to_numpy()
        rated = images[f"{dim}_mean"].to_numpy(float)
        pred = images[f"pred_{dim}"].astype(float).to_numpy()
        share, n_side = share_on_intended_side(intended, rated)
        metrics[dim] = {
            "images_with_target": int(np.isfinite(intended).sum()),
            "r_intended_rated": pearson(intended, rated), "mae_intended_rated": mae(intended, rated),
            "share_intended_side": share, "images_off_midpoint": n_side,
            "r_predicted_rated": pearson(pred, rated), "mae_predicted_rated": mae(pred, rated),
            "r_intended_predicted": pearson(intended, pred),
            "icc2k": icc2k(complete.to_numpy()) if complete.shape[1] >= 2 else float("nan"),
            "icc_raters": int(complete.shape[1]),
            "alpha_interval": krippendorff_alpha_interval(t.to_numpy()) if not t.empty else float("nan"),
        }
    return Analysis(parts, images, targets, metrics, rule, int(len(main)))


def _fmt(v, nd=2) -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v) if v is not None else ""
    return "" if not np.isfinite(f) else f"{f:.{nd}f}"


def _plots(a: Analysis, folder: Path) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = []
    im = a.images
    fig, axes = plt.subplots(1, 3, figsize=(12, 4.2))
    for ax, dim in zip(axes, DIMENSIONS):
        x = im[f"target_{dim}"].astype(float)
        ax.plot([1, 9], [1, 9], color="#999", lw=1, ls="--", label="identity")
        ok = x.notna()
        ax.errorbar(x[ok], im.loc[ok, f"{dim}_mean"], yerr=im.loc[ok, f"{dim}_ci"].fillna(0), fmt="o",
                    color="#1f5fbf", ms=5, capsize=2, label="people (mean ± 95% CI)")
        ax.scatter(x[ok], im.loc[ok, f"pred_{dim}"].astype(float), marker="x", color="#d62728", label="model")
        ax.set(xlim=(0.5, 9.5), ylim=(0.5, 9.5), xlabel=f"intended {dim} (1-9)", ylabel=f"rated {dim} (1-9)",
               title=f"{dim}: r = {_fmt(a.metrics[dim]['r_intended_rated'])}")
        ax.set_aspect("equal")
    axes[0].legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(folder / "intended_vs_rated.png", dpi=110)
    plt.close(fig)
    out.append(("intended_vs_rated.png", "Intended vs rated valence, arousal and dominance per image (people: "
                                          "mean ± 95% CI; model: its own prediction); images without an intended "
                                          "value on a dimension are left out of that panel."))

    fig, ax = plt.subplots(figsize=(6, 6))
    ok = im["target_valence"].notna() & im["target_arousal"].notna()
    for _, r in im[ok].iterrows():
        ax.annotate("", xy=(r["valence_mean"], r["arousal_mean"]),
                    xytext=(float(r["target_valence"]), float(r["target_arousal"])),
                    arrowprops=dict(arrowstyle="->", color="#1f5fbf", lw=1.2))
    ax.scatter(im.loc[ok, "target_valence"].astype(float), im.loc[ok, "target_arousal"].astype(float), s=18,
               color="#999", label="intended")
    ax.scatter(im["valence_mean"], im["arousal_mean"], s=22, color="#1f5fbf", label="rated (mean)")
    ax.axhline(5, color="#ddd", lw=1)
    ax.axvline(5, color="#ddd", lw=1)
    ax.set(xlim=(1, 9), ylim=(1, 9), xlabel="valence (1 unpleasant - 9 pleasant)",
           ylabel="arousal (1 calm - 9 excited)", title="Valence-arousal: intended -> rated")
    ax.set_aspect("equal")
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(folder / "va_plane.png", dpi=110)
    plt.close(fig)
    out.append(("va_plane.png", "Each image's intended valence-arousal (grey) with an arrow to the people's mean "
                                "rating (blue)."))
    return out


def write_report(a: Analysis, out: Path, title: str) -> Path:
    """Write report.md, report.html (self-contained), images.csv, targets.csv, participants.csv,
    summary.json and the plots into ``out`` (a temporary folder renamed into place; an existing
    ``out`` is replaced only if it is an earlier study report).

    Args:
        a: The analysis (``analyse``).
        out: The report folder.
        title: The report's title.

    Returns:
        The report folder ``out``.

    Raises:
        StudyError: If ``out`` exists and is not an earlier study report.
    """
    from ..report import Document

    out = Path(out)
    if out.exists() and not (out / MARKER).is_file():
        raise StudyError(f"{out}: exists and is not an earlier study report; choose another --out")
    # a report is a view of the database, rebuilt from it: an earlier one is replaced without asking
    with output_directory(out, REPORT_KIND, overwrite=True) as tmp:
        plots = _plots(a, tmp)
        doc = Document(title)
        p = a.participants
        doc.para(f"{len(p)} participants, {int(p['excluded'].sum())} excluded; {a.n_ratings} ratings of "
                 f"{len(a.images)} images analysed (practice trials and attention checks left out). "
                 "Ratings are on the SAM 1-9 scale; the intended values are the run's targets, the model's "
                 "are the predictions stored in the run's items.csv.")
        doc.heading("Intended vs rated")
        rows = []
        for dim in DIMENSIONS:
            m = a.metrics[dim]
            rows.append([dim, m["images_with_target"], _fmt(m["r_intended_rated"]), _fmt(m["mae_intended_rated"]),
                         f"{_fmt(m['share_intended_side'])} of {m['images_off_midpoint']}",
                         _fmt(m["r_predicted_rated"]), _fmt(m["mae_predicted_rated"]),
                         _fmt(m["r_intended_predicted"])])
        doc.table(["dimension", "images with a target", "r intended-rated", "MAE intended-rated",
                   "share on intended side of 5", "r model-rated", "MAE model-rated", "r intended-model"], rows)
        doc.para("r: Pearson over images (image = mean of its ratings); the share counts images whose intended "
                 "value is off the midpoint 5 and whose rated mean lies on the same side of it.")
        doc.heading("Agreement between raters")
        doc.table(["dimension", "ICC(2,k)", "raters in ICC", "Krippendorff's alpha (interval)"],
                  [[d, _fmt(a.metrics[d]["icc2k"]), a.metrics[d]["icc_raters"],
                    _fmt(a.metrics[d]["alpha_interval"])] for d in DIMENSIONS])
        doc.para("ICC(2,k): two-way random, absolute agreement, reliability of the mean of the k raters who "
                 "rated every image; alpha uses every kept rating.")
        for path, caption in plots:
            doc.image(path, caption)
        doc.heading("Per target")
        doc.table(["target", "images", "ratings"] + [f"{d} (mean ± CI) / intended" for d in DIMENSIONS],
                  [[r["target"], r["images"], r["n"]] + [
                      f"{_fmt(r[f'{d}_mean'])} ± {_fmt(r[f'{d}_ci'])} / {_fmt(r[f'target_{d}'], 1)}"
                      for d in DIMENSIONS] for _, r in a.targets.iterrows()])
        doc.heading("Per image: people beside the model")
        doc.table(["image", "target", "ratings"] + [f"{d}: people / model" for d in DIMENSIONS],
                  [[r["image"], r["target"], r["n"]] + [
                      f"{_fmt(r[f'{d}_mean'])} ± {_fmt(r[f'{d}_ci'])} / {_fmt(r[f'pred_{d}'])}"
                      for d in DIMENSIONS] for _, r in a.images.iterrows()])
        doc.heading("Attention checks and exclusions")
        doc.para("Rule: " + a.rule + ".")
        doc.table(["participant", "main ratings", "checks", "failed", "finished", "excluded"],
                  [[r["participant"], r["ratings"], r["checks"], r["failed"], "yes" if r["finished"] else "no",
                    "**yes**" if r["excluded"] else "no"] for _, r in p.iterrows()])
        (tmp / "report.md").write_text(doc.markdown())
        (tmp / "report.html").write_text(doc.html(tmp))
        a.images.to_csv(tmp / "images.csv", index=False)
        a.targets.to_csv(tmp / "targets.csv", index=False)
        p.to_csv(tmp / "participants.csv", index=False)
        write_json(tmp / "summary.json", {"rule": a.rule, "ratings": a.n_ratings,
                                          "participants": int(len(p)), "excluded": int(p["excluded"].sum()),
                                          "metrics": {d: {k: (None if isinstance(v, float) and not np.isfinite(v)
                                                              else v) for k, v in m.items()}
                                                      for d, m in a.metrics.items()}})
        (tmp / MARKER).write_text("")
    return out


def report_study(db: str, name: str, out: Path, max_fail_share: float = 0.25) -> Analysis:
    """Analyse study ``name`` and write its report into ``out``.

    Args:
        db: The study database URL.
        name: The study's name.
        out: The report folder (see ``write_report``).
        max_fail_share: The share of failed attention checks above which a participant is excluded, in [0, 1).

    Returns:
        The analysis.

    Raises:
        StudyError: For ``max_fail_share`` out of range, an unknown study or database, nothing to analyse,
            or an ``out`` that is not an earlier study report.
    """
    if not 0 <= max_fail_share < 1:
        raise StudyError(f"--max-fail-share must be in [0, 1) (got {max_fail_share})")
    a = analyse(ratings_frame(sessions(db), name), max_fail_share)
    write_report(a, Path(out), f"Human validation study: {name}")
    return a


def export_study(db: str, name: str, out: Path) -> int:
    """Write the study's ratings (long format, one row per rated trial) to ``out`` atomically.

    Args:
        db: The study database URL.
        name: The study's name.
        out: The CSV file to write.

    Returns:
        The number of rows written.

    Raises:
        StudyError: If ``out`` is a folder or cannot be written, or for an unknown study or database.
    """
    from ..fsio import atomic_write_bytes
    from ._service import ratings_frame as frame

    out = Path(out)
    if out.is_dir():
        raise StudyError(f"{out}: is a folder; give a file name for the CSV")
    df = frame(sessions(db), name)
    try:
        atomic_write_bytes(out, df.to_csv(index=False).encode())
    except OSError as e:
        raise StudyError(f"{out}: cannot write ({e.strerror or e})") from None
    return len(df)
