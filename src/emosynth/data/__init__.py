"""Data sets: readers for OASIS, Emotion6 and users' own tables/folders, and grouped splits."""

from __future__ import annotations

import os
from pathlib import Path

from ..emotions import Lexicon
from ..errors import DataError
from ._dataset import Dataset, combine
from .readers import bass_group, read_bass, read_emotion6, read_folders, read_oasis, read_table, theme_group
from .splits import grouped_folds

__all__ = ["Dataset", "combine", "load_dataset", "load_datasets", "resolve_data_root", "grouped_folds",
           "read_oasis", "read_emotion6", "read_bass", "read_table", "read_folders", "theme_group", "bass_group"]

#: data sets known by name under the data root; ``bass`` is BASS with its US raters, ``bass-ch`` with its
#: Chinese raters (both read ``bass/``)
BUILTIN = ("oasis", "emotion6", "bass", "bass-ch")
FOLDER = {"bass-ch": "bass"}


def resolve_data_root(data_root: str | Path | None = None) -> Path | None:
    """The data root: the argument, else ``$EMOSYNTH_DATA``; None when neither is set.

    Args:
        data_root: The folder holding the named data sets, or None.

    Returns:
        The data root with ``~`` expanded, or None.
    """
    root = data_root or os.environ.get("EMOSYNTH_DATA")
    return Path(root).expanduser() if root else None


def _lexicon(root: Path | None) -> Lexicon | None:
    if root is None:
        return None
    p = root / "lexicons" / Lexicon.FILE
    return Lexicon.load(p) if p.is_file() else None


def load_dataset(spec: str, data_root: str | Path | None = None, *, scale: str = "1-9") -> Dataset:
    """Load a data set by name (``oasis``, ``emotion6``, ``bass`` (US raters), ``bass-ch`` (Chinese raters):
    under the data root) or by path.

    A path may be an OASIS or Emotion6 folder in its official layout, a CSV table (``scale``
    declares its V/A/D scale) or a folder with one sub-folder per category.

    Args:
        spec: A data set name or a path.
        data_root: The folder holding the named data sets; defaults to ``$EMOSYNTH_DATA``.
        scale: The V/A/D scale of a CSV table ("1-9", "1-7", "0-1", ...); mapped onto SAM 1–9.

    Returns:
        The data set, V/A/D on SAM 1–9.

    Raises:
        DataError: A named set without a data root, an unknown name or path, or an unreadable set.
    """
    root = resolve_data_root(data_root)
    name = spec.strip().lower()
    if name in BUILTIN:
        if root is None:
            raise DataError(f"data set {spec!r} needs a data root: pass --data-root DIR or set EMOSYNTH_DATA "
                            f"(DIR holds {name}/ in its official layout)")
        folder = root / FOLDER.get(name, name)
        if not folder.is_dir():
            raise DataError(f"data set {spec!r} not found: {folder} does not exist")
        if name.startswith("bass"):
            return read_bass(folder, lexicon=_lexicon(root), sample="ch" if name == "bass-ch" else "us")
        reader = read_oasis if name == "oasis" else read_emotion6
        return reader(folder, lexicon=_lexicon(root))
    p = Path(spec).expanduser()
    if not p.exists():
        raise DataError(f"unknown data set {spec!r}: not one of {', '.join(BUILTIN)} and no such file or folder")
    if p.is_file():
        if p.suffix.lower() not in (".csv", ".tsv", ".txt"):
            raise DataError(f"{p}: a data set file must be a CSV table with a path column")
        return read_table(p, scale=scale)
    lex = _lexicon(root) or _lexicon(p.parent)
    if (p / "OASIS.csv").is_file():
        return read_oasis(p, lexicon=lex)
    if (p / "ground_truth.txt").is_file():
        return read_emotion6(p, lexicon=lex)
    if (p / "BASS_data.csv").is_file():
        return read_bass(p, lexicon=lex)
    return read_folders(p)


def load_datasets(specs: list[str], data_root=None, *, scale: str = "1-9") -> list[Dataset]:
    """Load several data sets, each as :func:`load_dataset` does.

    Args:
        specs: Data set names or paths.
        data_root: The folder holding the named data sets; defaults to ``$EMOSYNTH_DATA``.
        scale: The V/A/D scale of CSV tables; mapped onto SAM 1–9.

    Returns:
        The data sets, in the order of ``specs``.

    Raises:
        DataError: ``specs`` is empty, or a data set cannot be loaded.
    """
    if not specs:
        raise DataError("no data set given: pass --dataset NAME (oasis, emotion6, bass, bass-ch) or a path")
    return [load_dataset(s, data_root, scale=scale) for s in specs]
