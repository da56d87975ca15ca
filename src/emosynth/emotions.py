"""The three representations of emotion and the one scale they share.

* **category**: a probability distribution over an ordered label set (``CategorySet``);
  the default is Emotion6's seven labels.
* **VA** / **VAD**: valence, arousal (and dominance) on the Self-Assessment Manikin
  (SAM) scale, 1 (unpleasant / calm / controlled) to 9 (pleasant / excited / in control).

Data rated on other scales are mapped linearly onto 1–9 (``to_sam``); the originals are
kept beside the mapped values by the readers. Dominance is missing from both image data
sets; ``Lexicon`` estimates it from the Warriner et al. (2013) word norms, and every value
obtained that way is marked lexicon-derived where it is stored or reported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import DataError, ScaleError

SAM_MIN, SAM_MAX = 1.0, 9.0
SAM_MID = 5.0
DIMENSIONS = ("valence", "arousal", "dominance")

#: Emotion6's category order, as in its ground_truth.txt (neutral last).
EMOTION6_LABELS = ("anger", "disgust", "fear", "joy", "sadness", "surprise", "neutral")


@dataclass(frozen=True)
class CategorySet:
    """An ordered set of category names; the order is the order of probability vectors.

    Args:
        names: distinct category names; Emotion6's seven (anger … surprise, neutral last) by default.

    Raises:
        DataError: names repeat or the set is empty.
    """

    names: tuple[str, ...] = EMOTION6_LABELS

    def __post_init__(self):
        if len(set(self.names)) != len(self.names) or not self.names:
            raise DataError(f"a category set needs distinct, non-empty names, got {list(self.names)}")

    def __len__(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        """Position of a category in probability vectors.

        Raises:
            DataError: ``name`` is not in the set.
        """
        try:
            return self.names.index(name)
        except ValueError:
            raise DataError(f"unknown category {name!r}; expected one of {', '.join(self.names)}") from None

    def one_hot(self, name: str) -> np.ndarray:
        """A probability vector (k,) with all its mass on ``name``.

        Raises:
            DataError: ``name`` is not in the set.
        """
        v = np.zeros(len(self.names))
        v[self.index(name)] = 1.0
        return v


DEFAULT_CATEGORIES = CategorySet()


def parse_scale(text: str | tuple[float, float]) -> tuple[float, float]:
    """Parse a rating scale such as ``"1-7"`` or ``(1, 7)``.

    Args:
        text: ``"LOW-HIGH"`` (also ``–``, ``..``, ``:`` or ``,`` between the numbers) or a (low, high) tuple.

    Returns:
        (low, high) as floats, low < high.

    Raises:
        DataError: the text is not a scale, or high is not above low.
    """
    if isinstance(text, tuple):
        low, high = text
    else:
        m = re.fullmatch(r"\s*(-?\d+(?:\.\d+)?)\s*(?:-|–|\.\.|:|,)\s*(-?\d+(?:\.\d+)?)\s*", str(text))
        if not m:
            raise DataError(f"cannot read scale {text!r}; write it as LOW-HIGH, for example 1-7")
        low, high = float(m.group(1)), float(m.group(2))
    if not high > low:
        raise DataError(f"scale {text!r} must go from low to high")
    return float(low), float(high)


def to_sam(values, scale=(1.0, 7.0), *, what: str = "rating") -> np.ndarray:
    """Map ratings linearly from ``scale`` onto the SAM 1–9 scale (low → 1, high → 9).

    Args:
        values: ratings on ``scale``, any array-like; NaN (a missing rating) passes through.
        scale: the ratings' (low, high) or ``"LOW-HIGH"``; OASIS's is 1–7.
        what: what the values are, for the error message.

    Returns:
        Float array of the same shape on 1–9.

    Raises:
        ScaleError: a finite value lies outside ``scale``.
        DataError: ``scale`` cannot be read.
    """
    low, high = parse_scale(scale)
    v = np.asarray(values, dtype=float)
    bad = np.isfinite(v) & ((v < low - 1e-9) | (v > high + 1e-9))
    if bad.any():
        first = float(v[bad][0])
        raise ScaleError(f"{what} {first:g} is outside its declared scale {low:g}–{high:g}")
    return SAM_MIN + (v - low) * (SAM_MAX - SAM_MIN) / (high - low)


def from_sam(values, scale=(1.0, 7.0)) -> np.ndarray:
    """Inverse of ``to_sam``: values on the SAM 1–9 scale back onto ``scale``.

    Args:
        values: values on 1–9, any array-like.
        scale: the target (low, high) or ``"LOW-HIGH"``.

    Returns:
        Float array of the same shape on ``scale`` (no clipping).
    """
    low, high = parse_scale(scale)
    v = np.asarray(values, dtype=float)
    return low + (v - SAM_MIN) * (high - low) / (SAM_MAX - SAM_MIN)


def clip_sam(values) -> np.ndarray:
    """Clip values into the SAM scale.

    Args:
        values: any array-like of numbers.

    Returns:
        Float array of the same shape, each value in [1, 9] (NaN stays NaN).
    """
    return np.clip(np.asarray(values, dtype=float), SAM_MIN, SAM_MAX)


_WORD = re.compile(r"[a-z]+")


class Lexicon:
    """Warriner, Kuperman & Brysbaert (2013) VAD norms for English lemmas, on the 1–9 scale.

    Used to estimate dominance for images that lack it from the words that describe them.
    """

    FILE = "Ratings_Warriner_et_al.csv"

    def __init__(self, table: pd.DataFrame):
        self.table = table  # index: word; columns: valence, arousal, dominance

    @classmethod
    def load(cls, path: str | Path) -> "Lexicon":
        """Read the Warriner et al. CSV.

        Args:
            path: the CSV, or a folder holding ``Ratings_Warriner_et_al.csv`` (the data root's ``lexicons/``).

        Returns:
            A lexicon indexed by lower-case word, valence / arousal / dominance on 1–9.

        Raises:
            DataError: the file is missing or lacks ``Word``, ``V.Mean.Sum``, ``A.Mean.Sum``, ``D.Mean.Sum``.
        """
        path = Path(path)
        if path.is_dir():
            path = path / cls.FILE
        if not path.is_file():
            raise DataError(f"word norms not found at {path}; expected the Warriner et al. CSV ({cls.FILE})")
        df = pd.read_csv(path)
        needed = {"Word", "V.Mean.Sum", "A.Mean.Sum", "D.Mean.Sum"}
        if not needed <= set(df.columns):
            raise DataError(f"{path}: missing column(s) {', '.join(sorted(needed - set(df.columns)))}")
        df = df.rename(columns={"Word": "word", "V.Mean.Sum": "valence", "A.Mean.Sum": "arousal",
                                "D.Mean.Sum": "dominance"})
        df["word"] = df["word"].astype(str).str.lower()
        return cls(df.set_index("word")[["valence", "arousal", "dominance"]])

    def lookup(self, word: str) -> np.ndarray | None:
        """Valence, arousal, dominance of one word.

        Args:
            word: an English word, any case; a plural is also tried as its singular.

        Returns:
            Array (3,) of V, A, D on 1–9, or None when the word is not in the norms.
        """
        w = word.lower()
        plural = (w[:-3] + "y" if w.endswith("ies") else None, w[:-2] if w.endswith("es") else None,
                  w[:-1] if w.endswith("s") else None)
        for cand in (w, *plural):
            if cand and cand in self.table.index:
                return self.table.loc[cand].to_numpy(dtype=float)
        return None

    def phrase(self, text: str) -> np.ndarray | None:
        """Mean valence, arousal, dominance of the known words of a phrase.

        Args:
            text: a phrase, e.g. an OASIS theme (``"Dog attack 2"``); digits and punctuation are ignored.

        Returns:
            Array (3,) of V, A, D on 1–9, or None when no word is known.
        """
        hits = [v for w in _WORD.findall(text.lower()) if (v := self.lookup(w)) is not None]
        return np.mean(hits, axis=0) if hits else None

    def dominance_of_theme(self, theme: str) -> float:
        """Lexicon-derived dominance of an OASIS theme.

        Args:
            theme: the theme, e.g. ``"Dog attack 2"``.

        Returns:
            Dominance on 1–9 (the mean of its known words), NaN when none is known.
        """
        v = self.phrase(theme)
        return float(v[2]) if v is not None else float("nan")

    def dominance_of_distribution(self, probabilities, categories: CategorySet = DEFAULT_CATEGORIES) -> np.ndarray:
        """Lexicon-derived dominance of images rated by category: the rater-distribution-weighted mean of the
        category words' dominance.

        Args:
            probabilities: (n, k) rows over ``categories`` (or one row (k,)); categories unknown to the lexicon
                are dropped and the weights renormalised.
            categories: the label set the columns follow (Emotion6's by default).

        Returns:
            Array (n,) of dominance on 1–9 (NaN for a row with no weight on a known category).

        Raises:
            DataError: none of the category words is in the lexicon.
        """
        p = np.atleast_2d(np.asarray(probabilities, dtype=float))
        d = np.array([(v[2] if (v := self.lookup(c)) is not None else np.nan) for c in categories.names])
        known = np.isfinite(d)
        if not known.any():
            raise DataError("none of the category words is in the lexicon")
        w = p[:, known]
        s = w.sum(axis=1)
        out = np.full(len(p), np.nan)
        ok = s > 0
        out[ok] = (w[ok] @ d[known]) / s[ok]
        return out
