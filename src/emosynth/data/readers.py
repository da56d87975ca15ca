"""Readers for OASIS, Emotion6 (official layouts) and the generic formats users bring."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..emotions import EMOTION6_LABELS, CategorySet, Lexicon, parse_scale, to_sam
from ..errors import DataError, ScaleError
from ..imageio import IMAGE_SUFFIXES, list_images
from ._dataset import Dataset

OASIS_SCALE = (1.0, 7.0)
LEXICON_NOTE = "lexicon-derived (Warriner et al. 2013)"


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise DataError(f"{path}: cannot read ({err.strerror})") from None
    # OASIS.csv ends lines with CR only (old Mac); normalise every convention to LF.
    return raw.decode("utf-8-sig", errors="replace").replace("\r\n", "\n").replace("\r", "\n")


def _require_columns(df: pd.DataFrame, cols, path: Path):
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}; found {', '.join(map(str, df.columns))}")


def _numeric(df: pd.DataFrame, col: str, path: Path, row_offset: int = 2) -> np.ndarray:
    """A column as floats; a non-number names its row (row 1 is the header)."""
    v = pd.to_numeric(df[col], errors="coerce")
    bad = v.isna() & df[col].notna() & (df[col].astype(str).str.strip() != "")
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(f"{path} row {i + row_offset}: {col} is {df[col].iloc[i]!r}, not a number")
    values = v.to_numpy(dtype=float)
    off = np.isinf(values)  # 'inf' parses as a number, but no rating scale reaches it
    if off.any():
        i = int(np.flatnonzero(off)[0])
        raise ScaleError(f"{path} row {i + row_offset}: {col} is {df[col].iloc[i]!r}, not a finite rating")
    return values


def _check_row_lengths(text: str, path: Path):
    """Every row has as many fields as the header: a short row is a mistake, not missing labels
    (pandas would read its last columns as empty). Blank lines are skipped, as pandas does."""
    rows = (r for r in csv.reader(io.StringIO(text)) if r)
    try:
        header = next(rows)
    except (StopIteration, csv.Error):
        return  # pandas reports an empty or unparsable file in its own words
    try:
        for k, row in enumerate(rows):
            if len(row) < len(header):
                raise DataError(f"{path} row {k + 2}: no value for column {header[len(row)].strip()!r} (the row has "
                                f"{len(row)} of the header's {len(header)} fields); end it with commas if that is "
                                "meant to be empty")
    except csv.Error:
        return  # the same


def _scaled(values: np.ndarray, scale, col: str, path: Path, row_offset: int = 2) -> np.ndarray:
    low, high = parse_scale(scale)
    bad = np.isfinite(values) & ((values < low) | (values > high))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ScaleError(f"{path} row {i + row_offset}: {col} {values[i]:g} is outside its declared scale "
                         f"{low:g}-{high:g}")
    return to_sam(values, (low, high), what=col)


def theme_group(theme: str) -> str:
    """OASIS grouping key: the theme without its trailing number ("Baby 10" -> "Baby").

    Args:
        theme: An OASIS theme, e.g. ``"Baby 10"``.

    Returns:
        The group key, e.g. ``"Baby"``.
    """
    return re.sub(r"\s*\d+\s*$", "", theme.strip()) or theme.strip()


def read_oasis(root: str | Path, lexicon: Lexicon | None = None) -> Dataset:
    """OASIS in its official layout: ``OASIS.csv`` and ``images/<Theme>.jpg``.

    Valence and arousal (1–7) are mapped to 1–9, the originals kept in ``original``.
    Dominance (not rated) is estimated from the theme's words when ``lexicon`` is given.

    Args:
        root: The OASIS folder.
        lexicon: Word norms used to estimate dominance; without one, dominance is left unlabelled.

    Returns:
        The data set (V/A/D on SAM 1–9), grouped by theme.

    Raises:
        DataError: The table or an image is missing, or the table is empty or malformed.
    """
    root = Path(root)
    csv = root / "OASIS.csv"
    if not csv.is_file():
        raise DataError(f"OASIS table not found: {csv} (expected the official layout: OASIS.csv and images/)")
    df = pd.read_csv(io.StringIO(_read_text(csv)), dtype={"Theme": str})
    _require_columns(df, ["Theme", "Valence_mean", "Arousal_mean"], csv)
    if len(df) == 0:
        raise DataError(f"{csv}: no rows")
    themes = df["Theme"].fillna("").astype(str)
    paths, where = [], []
    for i, theme in enumerate(themes):
        # Two themes carry a trailing space in the table but not in the file name.
        p = root / "images" / f"{theme.strip()}.jpg"
        if not p.is_file():
            raise DataError(f"{csv} row {i + 2}: image not found: {p}")
        paths.append(p)
        where.append(f"{csv.name} row {i + 2}")
    v = _scaled(_numeric(df, "Valence_mean", csv), OASIS_SCALE, "Valence_mean", csv)
    a = _scaled(_numeric(df, "Arousal_mean", csv), OASIS_SCALE, "Arousal_mean", csv)
    d = np.full(len(df), np.nan)
    sources = {"valence": "rated (1-7 mapped to 1-9)", "arousal": "rated (1-7 mapped to 1-9)"}
    if lexicon is not None:
        d = np.array([lexicon.dominance_of_theme(t) for t in themes])
        sources["dominance"] = LEXICON_NOTE + " from theme words"
    original = df.rename(columns={df.columns[0]: "id"}) if df.columns[0].startswith("Unnamed") else df.copy()
    original["Theme"] = themes.str.strip()
    return Dataset(
        name="oasis", paths=paths, where=where,
        groups=np.array([theme_group(t) for t in themes]),
        vad=np.stack([v, a, d], axis=1), probabilities=None, categories=None,
        sources=sources, original=original,
    )


def read_emotion6(root: str | Path, lexicon: Lexicon | None = None) -> Dataset:
    """Emotion6 in its official layout: ``ground_truth.txt`` and ``images/<keyword>/<n>.jpg``.

    Categories are the raters' 7-way distribution (never the folder keyword); valence and
    arousal are already on 1–9. Dominance is the distribution-weighted lexicon estimate.

    Args:
        root: The Emotion6 folder.
        lexicon: Word norms used to estimate dominance; without one, dominance is left unlabelled.

    Returns:
        The data set (V/A/D on SAM 1–9, category distributions summing to 1).

    Raises:
        DataError: The ground truth or an image is missing, or the table is empty or malformed.
    """
    root = Path(root)
    gt = root / "ground_truth.txt"
    if not gt.is_file():
        raise DataError(f"Emotion6 ground truth not found: {gt} (expected ground_truth.txt and images/)")
    df = pd.read_csv(io.StringIO(_read_text(gt)), sep="\t")
    df.columns = [c.strip().strip("[]").strip() for c in df.columns]
    prob_cols = [f"prob. {c}" for c in EMOTION6_LABELS]
    _require_columns(df, ["image_filename", "valence", "arousal", *prob_cols], gt)
    if len(df) == 0:
        raise DataError(f"{gt}: no rows")
    paths, where = [], []
    for i, name in enumerate(df["image_filename"].astype(str)):
        p = root / "images" / name.strip()
        if not p.is_file():
            raise DataError(f"{gt} row {i + 2}: image not found: {p}")
        paths.append(p)
        where.append(f"{gt.name} row {i + 2}")
    v = _scaled(_numeric(df, "valence", gt), (1, 9), "valence", gt)
    a = _scaled(_numeric(df, "arousal", gt), (1, 9), "arousal", gt)
    probs = np.stack([_numeric(df, c, gt) for c in prob_cols], axis=1)
    _check_distribution(probs, gt)
    probs = probs / probs.sum(axis=1, keepdims=True)
    d = np.full(len(df), np.nan)
    sources = {"valence": "rated", "arousal": "rated", "category": "rated (7-way rater distribution)"}
    if lexicon is not None:
        d = lexicon.dominance_of_distribution(probs, CategorySet(EMOTION6_LABELS))
        sources["dominance"] = LEXICON_NOTE + " from category words weighted by the rater distribution"
    return Dataset(
        name="emotion6", paths=paths, where=where,
        groups=df["image_filename"].astype(str).to_numpy(),
        vad=np.stack([v, a, d], axis=1), probabilities=probs, categories=CategorySet(EMOTION6_LABELS),
        sources=sources, original=df,
    )


def _check_distribution(probs: np.ndarray, path: Path, row_offset: int = 2):
    bad = ~np.isfinite(probs).all(axis=1) | (probs < 0).any(axis=1) | (probs > 1 + 1e-6).any(axis=1)
    s = probs.sum(axis=1)
    bad |= ~np.isclose(s, 1.0, atol=0.02)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ScaleError(f"{path} row {i + row_offset}: category probabilities must lie in 0-1 and sum to 1 "
                         f"(they sum to {s[i]:.3g})")


def read_table(path: str | Path, scale="1-9", *, path_column: str = "path",
               categories: CategorySet | None = None) -> Dataset:
    """A user's CSV: a path column plus any of category / valence / arousal / dominance.

    ``scale`` declares the rating scale of the V/A/D columns ("1-9", "1-7", "0-1", ...);
    they are mapped onto 1–9. Image paths are relative to the CSV's folder. A ``group``
    column, if present, keeps related images in the same fold.

    Args:
        path: The CSV (or TSV/text) table.
        scale: The declared scale of the V/A/D columns ("1-9", "1-7", "0-1", ...).
        path_column: The column holding image paths.
        categories: The category set to read the ``category`` column against; by default, the
            labels found in the table.

    Returns:
        The data set, V/A/D mapped onto SAM 1–9.

    Raises:
        DataError: The table or an image is missing, unreadable, empty or lacks label columns.
        ScaleError: A rating lies outside the declared ``scale`` or is not finite.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"table not found: {path}")
    text = _read_text(path)
    try:
        df = pd.read_csv(io.StringIO(text), dtype={path_column: str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise DataError(f"{path}: not a readable CSV ({str(err).splitlines()[0]})") from None
    _check_row_lengths(text, path)
    df.columns = [str(c).strip() for c in df.columns]
    _require_columns(df, [path_column], path)
    dims = [c for c in ("valence", "arousal", "dominance") if c in df.columns]
    if not dims and "category" not in df.columns:
        raise DataError(f"{path}: needs at least one label column: category, valence, arousal or dominance")
    if len(df) == 0:
        raise DataError(f"data set {path.stem!r} is empty: {path} has no rows")
    paths, where = [], []
    for i, rel in enumerate(df[path_column]):
        if not isinstance(rel, str) or not rel.strip():
            raise DataError(f"{path} row {i + 2}: empty {path_column}")
        p = Path(rel.strip())
        p = p if p.is_absolute() else path.parent / p
        if not p.is_file():
            raise DataError(f"{path} row {i + 2}: image not found: {p}")
        paths.append(p)
        where.append(f"{path.name} row {i + 2}")
    vad = np.full((len(df), 3), np.nan)
    sources = {}
    for j, dim in enumerate(("valence", "arousal", "dominance")):
        if dim in df.columns:
            vad[:, j] = _scaled(_numeric(df, dim, path), scale, dim, path)
            sources[dim] = "rated" if parse_scale(scale) == (1.0, 9.0) else f"rated ({scale} mapped to 1-9)"
    probs, cats = None, None
    if "category" in df.columns:
        labels = df["category"].astype("string").str.strip()
        known = labels.dropna()
        known = known[known != ""]
        cats = categories or CategorySet(tuple(dict.fromkeys(sorted(known.unique()))))
        probs = np.full((len(df), len(cats)), np.nan)
        for i, lab in enumerate(labels):
            if pd.isna(lab) or lab == "":
                continue
            if lab not in cats.names:
                raise DataError(f"{path} row {i + 2}: unknown category {lab!r}; "
                                f"expected one of {', '.join(cats.names)}")
            probs[i] = cats.one_hot(lab)
        sources["category"] = "rated (one label per image)"
    groups = df["group"].astype(str).to_numpy() if "group" in df.columns else np.array([str(p) for p in paths])
    return Dataset(name=path.stem, paths=paths, where=where, groups=groups, vad=vad,
                   probabilities=probs, categories=cats, sources=sources, original=df)


def read_folders(root: str | Path) -> Dataset:
    """A folder per category: ``root/<category>/<image>``; the folder name is the label.

    Args:
        root: The folder holding one sub-folder per category.

    Returns:
        The data set, with categories only (no V/A/D).

    Raises:
        DataError: The folder is missing, has no category sub-folders or holds no images.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"folder not found: {root}")
    subdirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not subdirs:
        raise DataError(f"{root}: expected one sub-folder per category holding images")
    cats = CategorySet(tuple(d.name for d in subdirs))
    paths, labels = [], []
    for j, d in enumerate(subdirs):
        for p in list_images(d):
            paths.append(p)
            labels.append(j)
    if not paths:
        raise DataError(f"data set {root.name!r} is empty: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) "
                        f"in the category folders of {root}")
    probs = np.eye(len(cats))[labels]
    return Dataset(name=root.name, paths=paths, where=[f"folder {p.parent.name}/" for p in paths],
                   groups=np.array([str(p) for p in paths]), vad=np.full((len(paths), 3), np.nan),
                   probabilities=probs, categories=cats, sources={"category": "folder name"})


#: BASS (Kawai, Lukács & Ansorge 2021) was rated on 9-point scales, so its means are already on 1-9
#: (observed: valence 1.11-8.35, arousal 2.51-7.23 in the US sample; a 7-point scale could not reach 8.35).
BASS_SCALE = (1.0, 9.0)
BASS_SAMPLES = ("us", "ch")


def bass_group(file_name: str) -> str:
    """BASS grouping key: the file name without its number and suffix ("abuse2.png" -> "abuse").

    The numbered variants of one concept are near-duplicates (the same idea drawn again).

    Args:
        file_name: A BASS image file name, e.g. ``"abuse2.png"``.

    Returns:
        The group key, lower-case, e.g. ``"abuse"``.
    """
    stem = Path(file_name.strip()).stem.lower()
    return re.sub(r"[\s_-]*\d+$", "", stem) or stem


def read_bass(root: str | Path, lexicon: Lexicon | None = None, sample: str = "us") -> Dataset:
    """BASS in its official layout: ``BASS_data.csv`` and ``images/<file_name>``.

    583 black-and-white silhouettes and shapes with mean valence and arousal from a US (default) or a
    Chinese (``sample="ch"``; the data set is then named ``bass-ch``) sample, on the paper's 9-point scales
    (kept as they are: already 1–9).
    Dominance (not rated) is estimated from the image's keywords when ``lexicon`` is given, as for
    OASIS's themes. Groups join the numbered variants of one concept (``abuse``, ``abuse2``).

    Args:
        root: The BASS folder.
        lexicon: Word norms used to estimate dominance; without one, dominance is left unlabelled.
        sample: Which raters' means to read: ``"us"`` or ``"ch"``.

    Returns:
        The data set (V/A on SAM 1–9).

    Raises:
        DataError: ``sample`` is unknown, the table or an image is missing, or the table is empty.
    """
    root = Path(root)
    sample = str(sample).strip().lower()
    if sample not in BASS_SAMPLES:
        raise DataError(f"BASS sample {sample!r}: use 'us' (US raters, the default) or 'ch' (Chinese raters)")
    table = root / "BASS_data.csv"
    if not table.is_file():
        raise DataError(f"BASS table not found: {table} (expected the official layout: BASS_data.csv and images/)")
    df = pd.read_csv(io.StringIO(_read_text(table)), dtype={"file_name": str, "keywords": str})
    df.columns = [str(c).strip() for c in df.columns]
    vcol, acol = f"val_mean_{sample}", f"aro_mean_{sample}"
    _require_columns(df, ["file_name", vcol, acol], table)
    if len(df) == 0:
        raise DataError(f"{table}: no rows")
    paths, where = [], []
    names = df["file_name"].fillna("").astype(str).str.strip()
    for i, name in enumerate(names):
        if not name:
            raise DataError(f"{table} row {i + 2}: empty file_name")
        p = root / "images" / name
        if not p.is_file():
            raise DataError(f"{table} row {i + 2}: image not found: {p}")
        paths.append(p)
        where.append(f"{table.name} row {i + 2}")
    v = _scaled(_numeric(df, vcol, table), BASS_SCALE, vcol, table)
    a = _scaled(_numeric(df, acol, table), BASS_SCALE, acol, table)
    who = "US" if sample == "us" else "Chinese"
    sources = {"valence": f"rated (1-9, {who} sample)", "arousal": f"rated (1-9, {who} sample)"}
    d = np.full(len(df), np.nan)
    keywords = df["keywords"].fillna("").astype(str) if "keywords" in df.columns else pd.Series([""] * len(df))
    if lexicon is not None:
        # the keywords, else the file name's words (a handful of rows list none)
        d = np.array([lexicon.dominance_of_theme(k if k.strip() else bass_group(n))
                      for k, n in zip(keywords, names)])
        sources["dominance"] = LEXICON_NOTE + " from the image's keywords"
    original = df.copy()
    original["sample"] = sample
    return Dataset(
        name="bass" if sample == "us" else "bass-ch", paths=paths, where=where,
        groups=np.array([bass_group(n) for n in names]),
        vad=np.stack([v, a, d], axis=1), probabilities=None, categories=None,
        sources=sources, original=original,
    )
