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
    """An ordered set of category names; the order is the order of probability vectors."""

    names: tuple[str, ...] = EMOTION6_LABELS

    def __post_init__(self):
        if len(set(self.names)) != len(self.names) or not self.names:
            raise DataError(f"a category set needs distinct, non-empty names, got {list(self.names)}")

    def __len__(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise DataError(f"unknown category {name!r}; expected one of {', '.join(self.names)}") from None

    def one_hot(self, name: str) -> np.ndarray:
        v = np.zeros(len(self.names))
        v[self.index(name)] = 1.0
        return v


DEFAULT_CATEGORIES = CategorySet()


def parse_scale(text: str | tuple[float, float]) -> tuple[float, float]:
    """Parse a scale such as ``"1-7"`` or ``(1, 7)`` into (low, high)."""
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
    """Map ratings linearly from ``scale`` (low, high) onto the SAM 1–9 scale.

    Values outside ``scale`` raise ``ScaleError``; NaN (a missing rating) passes through.
    """
    low, high = parse_scale(scale)
    v = np.asarray(values, dtype=float)
    bad = np.isfinite(v) & ((v < low - 1e-9) | (v > high + 1e-9))
    if bad.any():
        first = float(v[bad][0])
        raise ScaleError(f"{what} {first:g} is outside its declared scale {low:g}–{high:g}")
    return SAM_MIN + (v - low) * (SAM_MAX - SAM_MIN) / (high - low)


def from_sam(values, scale=(1.0, 7.0)) -> np.ndarray:
    """Inverse of ``to_sam``: SAM 1–9 back onto ``scale``."""
    low, high = parse_scale(scale)
    v = np.asarray(values, dtype=float)
    return low + (v - SAM_MIN) * (high - low) / (SAM_MAX - SAM_MIN)


def clip_sam(values) -> np.ndarray:
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
        """VAD of one word (1–9), trying the lemma forms of a plural; None if unknown."""
        w = word.lower()
        plural = (w[:-3] + "y" if w.endswith("ies") else None, w[:-2] if w.endswith("es") else None,
                  w[:-1] if w.endswith("s") else None)
        for cand in (w, *plural):
            if cand and cand in self.table.index:
                return self.table.loc[cand].to_numpy(dtype=float)
        return None

    def phrase(self, text: str) -> np.ndarray | None:
        """Mean VAD of the known words in ``text`` (e.g. an OASIS theme, "Dog attack 2")."""
        hits = [v for w in _WORD.findall(text.lower()) if (v := self.lookup(w)) is not None]
        return np.mean(hits, axis=0) if hits else None

    def dominance_of_theme(self, theme: str) -> float:
        v = self.phrase(theme)
        return float(v[2]) if v is not None else float("nan")

    def dominance_of_distribution(self, probabilities, categories: CategorySet = DEFAULT_CATEGORIES) -> np.ndarray:
        """Dominance as the rater-distribution-weighted mean of the category words' dominance.

        ``probabilities``: (n, k) rows over ``categories``. Categories unknown to the lexicon
        are dropped and the weights renormalised.
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
