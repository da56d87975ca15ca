"""The visual statistics of image sets, per emotion, and whether synthesis moves them as real images do.

An *image set* is a run directory (grouped by its targets) or a data set (grouped by the raters).
Two groupings exist: **category** (a run's target category; a data set's raters' argmax) and **VA
region** (the quadrant of the valence–arousal plane around the scale's midpoint 5: pleasant/unpleasant
× excited/calm; a run's target point, a data set's mean rating). For every set, group and handcrafted
feature (``models/handcrafted.py``), the effect size is Cohen's d of the group against the rest of
its own set, with a 95% interval and a Welch t-test; p-values are corrected over features by
Benjamini–Hochberg. A synthetic set agrees with a real one on a group when its d's point the same
way: the share of sign agreement over the features where the real effect is clear (|d| ≥ 0.2 and
significant), and the correlation of the two d vectors over all features.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as st

from ..errors import EmosynthError, ImageError

MIDPOINT = 5.0
#: features the report plots and words its summary with: (name, word when higher, word when lower)
KEY_FEATURES = (
    ("colour_brightness_mean", "brighter", "darker"),
    ("colour_saturation_mean", "more saturated", "less saturated"),
    ("colour_colourfulness", "more colourful", "less colourful"),
    ("colour_warm_share", "warmer in hue", "cooler in hue"),
    ("colour_brightness_sd", "higher in contrast", "lower in contrast"),
    ("texture_edge_density", "busier in edges", "smoother"),
    ("texture_fine_detail", "more finely detailed", "less finely detailed"),
    ("composition_symmetry", "more symmetric", "less symmetric"),
    ("composition_regions", "richer in regions", "plainer in regions"),
)
WORDS = {name: (hi, lo) for name, hi, lo in KEY_FEATURES}


@dataclass
class ImageSet:
    """A set of images with its per-image groupings and, once extracted, its handcrafted features.

    Attributes:
        name: The set's name (a run folder's name or a data set's).
        kind: ``"real"`` or the run's method (``"evolve"``, ``"visualize"``, ``"generator"``, …).
        paths: The image files.
        category: Per image: a category label or ``""``.
        region: Per image: a VA region (``"pleasant–excited"``, …) or ``""``.
        features: (n, F) handcrafted features, or None before :func:`extract`.
    """

    name: str
    kind: str  # "real" or the run's method ("evolve", "visualize", "generator", …)
    paths: list[Path]
    category: np.ndarray  # per image: a category label or ""
    region: np.ndarray  # per image: a VA region or ""
    features: np.ndarray | None = None  # (n, F) handcrafted


def va_region(valence, arousal) -> np.ndarray:
    v, a = np.asarray(valence, float), np.asarray(arousal, float)
    out = np.where(v >= MIDPOINT, "pleasant", "unpleasant").astype(object) + "–" + \
        np.where(a >= MIDPOINT, "excited", "calm").astype(object)
    return np.where(np.isfinite(v) & np.isfinite(a), out, "").astype(str)


def from_run(path: str | Path) -> ImageSet:
    """An image set from a run directory, grouped by its targets (category and V/A region).

    Args:
        path: A complete run directory.

    Returns:
        The image set, named after the folder, of the run's method as ``kind``.

    Raises:
        RunDirError: The run directory is missing, incomplete or malformed.
        ImageError: An image listed lies outside the run's ``images/`` folder.
    """
    from ..imageio import check_within
    from ..rundir import IMAGES_DIR, ITEMS_FILE, read_run

    run = read_run(path)
    items = run.items
    images = run.path / IMAGES_DIR
    for i, p in enumerate(run.image_paths()):  # a shared run may name ../ or a link: read only images/
        try:
            check_within(p, images)
        except ImageError as err:
            raise ImageError(f"{err} (listed at {run.path / ITEMS_FILE} row {i + 2})") from None
    cat = items["target_category"].fillna("").astype(str).to_numpy()
    region = va_region(items["target_valence"], items["target_arousal"])
    kind = run.meta["method"]  # read_run checked the header (rundir.run_header)
    return ImageSet(Path(path).name, str(kind), run.image_paths(), cat, region)


def from_dataset(name: str, data_root=None) -> ImageSet:
    """An image set from a data set, grouped by the raters (argmax category, mean V/A's region).

    Args:
        name: A data set name or path, as :func:`emosynth.data.load_dataset` takes.
        data_root: The folder holding the named data sets; defaults to ``$EMOSYNTH_DATA``.

    Returns:
        The image set, of kind ``"real"``.

    Raises:
        DataError: The data set cannot be loaded.
    """
    from ..data import load_dataset

    d = load_dataset(name, data_root)
    cat = np.full(len(d), "", dtype=object)
    m = d.has("category")
    if m.any():
        cat[m] = np.array(d.categories.names)[d.probabilities[m].argmax(1)]
    region = va_region(d.vad[:, 0], d.vad[:, 1])
    return ImageSet(d.name, "real", list(d.paths), cat.astype(str), region)


def extract(sets: list[ImageSet], progress=None) -> None:
    """Handcrafted features for every set (per-image cache; a thread pool across cores).

    Sets each set's ``features`` in place.

    Args:
        sets: The image sets.
        progress: A progress callback, or None.
    """
    from ..models.features import FeatureConfig, FeatureExtractor

    ex = FeatureExtractor(FeatureConfig("handcrafted"))
    for s in sets:
        s.features = ex.extract(s.paths, progress=progress)


def feature_names() -> list[str]:
    """The handcrafted features' names, in column order.

    Returns:
        The feature names.
    """
    from ..models.handcrafted import FEATURE_NAMES

    return list(FEATURE_NAMES)


def cohens_d(a: np.ndarray, b: np.ndarray):
    """Cohen's d of columns of ``a`` against ``b`` (pooled SD), its 95% interval and Welch's p."""
    na, nb = len(a), len(b)
    va, vb = a.var(0, ddof=1), b.var(0, ddof=1)
    pooled = np.sqrt(((na - 1) * va + (nb - 1) * vb) / (na + nb - 2))
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # constant features: p is set to 1 below
        d = (a.mean(0) - b.mean(0)) / pooled
        se = np.sqrt((na + nb) / (na * nb) + d**2 / (2 * (na + nb)))
        p = st.ttest_ind(a, b, equal_var=False).pvalue
    d = np.where(pooled > 0, d, 0.0)
    p = np.where(np.isfinite(p), p, 1.0)
    return d, d - 1.96 * se, d + 1.96 * se, p


def effects(s: ImageSet, grouping: str, min_images: int = 3) -> pd.DataFrame:
    """One row per group × feature: d (group vs the rest of the set), CI, p, BH-adjusted q.

    Args:
        s: An image set with its features extracted.
        grouping: ``"category"``, or any other value for the VA region.
        min_images: Leave out a group with fewer images than this, in it or in the rest of the set.

    Returns:
        Columns ``set, kind, grouping, group, n, feature, d, d_low, d_high, p, q`` (d: Cohen's d,
        ``d_low``/``d_high``: its 95% interval).
    """
    labels = s.category if grouping == "category" else s.region
    names = feature_names()
    rows = []
    for g in sorted(set(labels) - {""}):
        m = labels == g
        rest = (labels != g) & (labels != "")
        if m.sum() < min_images or rest.sum() < min_images:
            continue
        d, lo, hi, p = cohens_d(s.features[m], s.features[rest])
        q = st.false_discovery_control(p)
        for j, name in enumerate(names):
            rows.append((s.name, s.kind, grouping, g, int(m.sum()), name, d[j], lo[j], hi[j], p[j], q[j]))
    df = pd.DataFrame(rows, columns=["set", "kind", "grouping", "group", "n", "feature", "d", "d_low", "d_high",
                                     "p", "q"])
    return df.astype({"n": int, "d": float, "d_low": float, "d_high": float, "p": float, "q": float})


def agreement(eff: pd.DataFrame, clear: float = 0.2, alpha: float = 0.05) -> pd.DataFrame:
    """For every synthetic set × real set × shared group: sign agreement and correlation of d.

    Args:
        eff: Effects of several sets, as :func:`effects` returns them, concatenated.
        clear: The smallest |d| of a real effect counted as clear.
        alpha: The BH-adjusted q below which a real effect is significant.

    Returns:
        Columns ``set, method, real_set, grouping, group, clear_features, sign_agreement, r``
        (``sign_agreement``: share over the clear features; ``r``: correlation over all features).
    """
    rows = []
    real = eff[eff.kind == "real"]
    synth = eff[eff.kind != "real"]
    for (rs, grouping, g), r in real.groupby(["set", "grouping", "group"]):
        r = r.set_index("feature")
        for ss, s in synth[(synth.grouping == grouping) & (synth.group == g)].groupby("set"):
            s = s.set_index("feature").reindex(r.index)
            sel = (r["d"].abs() >= clear) & (r["q"] < alpha)
            agree = float((np.sign(s["d"][sel]) == np.sign(r["d"][sel])).mean()) if sel.any() else np.nan
            ok = np.isfinite(s["d"]) & np.isfinite(r["d"])
            corr = float(np.corrcoef(s["d"][ok], r["d"][ok])[0, 1]) if ok.sum() > 2 and s["d"][ok].std() > 0 \
                else np.nan
            rows.append((ss, s["kind"].iloc[0], rs, grouping, g, int(sel.sum()), agree, corr))
    return pd.DataFrame(rows, columns=["set", "method", "real_set", "grouping", "group", "clear_features",
                                       "sign_agreement", "r"])


def sentences(eff: pd.DataFrame, n: int = 2, threshold: float = 0.5) -> list[str]:
    """Plain-language findings: per synthetic set and group, its strongest key-feature effects beside
    the same features' effects in real images of that emotion."""
    out = []
    synth = eff[(eff.kind != "real") & eff.feature.isin(WORDS)]
    real = eff[eff.kind == "real"]
    for (ss, grouping, g), s in synth.groupby(["set", "grouping", "group"]):
        cand = s[(s["d"].abs() >= threshold) & (s["q"] < 0.05)]
        top = cand.loc[cand["d"].abs().sort_values(ascending=False).index].head(n)
        if top.empty:
            continue
        parts = [f"{WORDS[f][0] if d > 0 else WORDS[f][1]} (d = {d:+.1f})" for f, d in zip(top.feature, top["d"])]
        text = f"In {ss}, images made for {g} are " + " and ".join(parts)
        ref = []
        for rs, r in real[(real.grouping == grouping) & (real.group == g)].groupby("set"):
            r = r.set_index("feature")
            ds = [r.loc[f, "d"] for f in top.feature]
            said = ", ".join(f"{WORDS[f][0] if d > 0 else WORDS[f][1]} (d = {d:+.1f})" for f, d in zip(top.feature, ds))
            clear = [abs(d) >= 0.2 for d in ds]
            same = [np.sign(a) == np.sign(b) for a, b in zip(ds, top["d"])]
            if all(c and m for c, m in zip(clear, same)):
                ref.append(f"as rated {g} images in {rs} are {said}")
            elif any(c and not m for c, m in zip(clear, same)):
                ref.append(f"whereas rated {g} images in {rs} are {said}")
            elif any(clear):
                ref.append(f"partly as rated {g} images in {rs} are {said}")
            else:
                ref.append(f"while rated {g} images in {rs} hardly differ in these "
                           f"(d = {', '.join(f'{d:+.1f}' for d in ds)})")
        out.append(text + ("; " + "; ".join(ref) if ref else "") + ".")
    return out


def gather(runs: list[str | Path], datasets: list[str], data_root=None) -> list[ImageSet]:
    """The image sets of run directories and data sets.

    Args:
        runs: Run directories.
        datasets: Data set names or paths.
        data_root: The folder holding the named data sets; defaults to ``$EMOSYNTH_DATA``.

    Returns:
        The runs' sets, then the data sets'.

    Raises:
        EmosynthError: Nothing given, or two sets share a name.
    """
    sets = [from_run(r) for r in runs] + [from_dataset(d, data_root) for d in datasets]
    if not sets:
        raise EmosynthError("give one or more run directories and/or --dataset NAME")
    names = [s.name for s in sets]
    if len(set(names)) != len(names):
        raise EmosynthError(f"two image sets share a name ({', '.join(names)}); give runs distinct folder names")
    return sets
