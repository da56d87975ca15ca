"""The in-memory form every reader returns: images plus whatever labels they carry."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..emotions import DIMENSIONS, CategorySet
from ..errors import DataError


@dataclass
class Dataset:
    """Images and labels on the SAM 1–9 scale.

    Attributes:
        name: short name ("oasis", "emotion6", a file stem).
        paths: image files, one per row.
        where: for each row, where it was listed ("OASIS.csv row 12"), for error messages.
        groups: grouping key per row for fair splits (OASIS: the theme without its number).
        vad: (n, 3) valence, arousal, dominance on 1–9; NaN where a row lacks the label.
        probabilities: (n, k) category distribution over ``categories``; NaN rows where absent;
            None when the data set has no categories at all.
        categories: the label set of ``probabilities``.
        sources: per dimension, how its values were obtained: "rated", "rated (1-7 mapped to 1-9)",
            "lexicon-derived (Warriner et al. 2013)" — or absent when not available.
        original: the source table's columns (original scales kept) for reports.
        dataset_of: per row, the name of the data set it came from (differs from ``name`` only
            in combined sets).
    """

    name: str
    paths: list[Path]
    where: list[str]
    groups: np.ndarray
    vad: np.ndarray
    probabilities: np.ndarray | None
    categories: CategorySet | None
    sources: dict[str, str] = field(default_factory=dict)
    original: pd.DataFrame | None = None
    dataset_of: np.ndarray | None = None

    def __post_init__(self):
        n = len(self.paths)
        if n == 0:
            raise DataError(f"data set {self.name!r} is empty: no images were listed")
        if self.dataset_of is None:
            self.dataset_of = np.full(n, self.name)
        self.dataset_of = np.asarray(self.dataset_of).astype(str)
        self.groups = np.asarray(self.groups).astype(str)
        self.vad = np.asarray(self.vad, dtype=float).reshape(n, 3)
        if self.probabilities is not None:
            self.probabilities = np.asarray(self.probabilities, dtype=float).reshape(n, -1)
        if len(self.where) != n or len(self.groups) != n:
            raise ValueError("paths, where and groups must have one entry per row")

    def __len__(self) -> int:
        return len(self.paths)

    def has(self, target: str) -> np.ndarray:
        """Boolean mask of rows carrying ``target``.

        Args:
            target: ``"valence"``, ``"arousal"``, ``"dominance"`` or ``"category"``.

        Returns:
            (n,) bool array.
        """
        if target == "category":
            if self.probabilities is None:
                return np.zeros(len(self), bool)
            return np.isfinite(self.probabilities).all(axis=1)
        return np.isfinite(self.vad[:, DIMENSIONS.index(target)])

    @property
    def targets(self) -> list[str]:
        """The labels this data set carries for at least one row."""
        return [t for t in (*DIMENSIONS, "category") if self.has(t).any()]

    def subset(self, idx) -> "Dataset":
        """The rows ``idx`` as a new data set (same name, categories and sources).

        Args:
            idx: Integer row indices or a boolean mask.

        Returns:
            The subset.
        """
        idx = np.asarray(idx)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        return Dataset(
            name=self.name,
            paths=[self.paths[i] for i in idx],
            where=[self.where[i] for i in idx],
            groups=self.groups[idx],
            vad=self.vad[idx],
            probabilities=None if self.probabilities is None else self.probabilities[idx],
            categories=self.categories,
            sources=dict(self.sources),
            original=None if self.original is None else self.original.iloc[idx].reset_index(drop=True),
            dataset_of=self.dataset_of[idx],
        )

    def summary(self) -> dict:
        """Counts, label ranges (1–9) and class balance (raters' argmax), JSON-ready.

        Returns:
            The summary as a dict.
        """
        out: dict = {"name": self.name, "images": len(self), "groups": int(len(np.unique(self.groups)))}
        labels = {}
        for j, dim in enumerate(DIMENSIONS):
            m = self.has(dim)
            if m.any():
                v = self.vad[m, j]
                labels[dim] = {"n": int(m.sum()), "min": float(v.min()), "max": float(v.max()),
                               "mean": float(v.mean()), "sd": float(v.std(ddof=1)) if m.sum() > 1 else 0.0,
                               "source": self.sources.get(dim, "rated")}
        m = self.has("category")
        if m.any():
            arg = self.probabilities[m].argmax(axis=1)
            counts = np.bincount(arg, minlength=len(self.categories))
            labels["category"] = {"n": int(m.sum()),
                                  "labels": list(self.categories.names),
                                  "argmax_counts": {c: int(k) for c, k in zip(self.categories.names, counts)},
                                  "source": self.sources.get("category", "rated")}
        out["labels"] = labels
        return out


def combine(datasets: list[Dataset]) -> tuple[Dataset, np.ndarray]:
    """Concatenate data sets into one training set; returns it and the source index per row.

    Category sets must agree or one must contain the others (rows are mapped into the largest
    set). Groups are prefixed by the data set name so they never collide.

    Args:
        datasets: The data sets to concatenate.

    Returns:
        The combined data set and, per row, the index into ``datasets`` of its source.

    Raises:
        DataError: The category sets disagree (neither contains the other).
    """
    if len(datasets) == 1:
        return datasets[0], np.zeros(len(datasets[0]), int)
    cat_sets = [d.categories for d in datasets if d.categories is not None]
    categories = max(cat_sets, key=len) if cat_sets else None
    for c in cat_sets:
        if not set(c.names) <= set(categories.names):
            raise DataError(
                f"data sets have different category sets ({', '.join(c.names)} vs {', '.join(categories.names)}); "
                "a category head needs one label set: train them separately or map their labels")
    probs = []
    for d in datasets:
        p = np.full((len(d), len(categories) if categories else 0), np.nan)
        if d.probabilities is not None and categories is not None:
            p[:] = 0.0
            cols = [categories.index(n) for n in d.categories.names]
            p[:, cols] = d.probabilities
            p[~np.isfinite(d.probabilities).all(axis=1)] = np.nan
        probs.append(p)
    sources = {}
    for d in datasets:
        for k, v in d.sources.items():
            sources[k] = v if k not in sources or sources[k] == v else "mixed: " + "; ".join(
                f"{e.name}: {e.sources[k]}" for e in datasets if k in e.sources)
    combined = Dataset(
        name="+".join(d.name for d in datasets),
        paths=[p for d in datasets for p in d.paths],
        where=[w for d in datasets for w in d.where],
        groups=np.concatenate([np.char.add(d.name + ":", d.groups) for d in datasets]),
        vad=np.concatenate([d.vad for d in datasets]),
        probabilities=np.concatenate(probs) if categories is not None else None,
        categories=categories,
        sources=sources,
        dataset_of=np.concatenate([d.dataset_of for d in datasets]),
    )
    origin = np.concatenate([np.full(len(d), i) for i, d in enumerate(datasets)])
    return combined, origin
