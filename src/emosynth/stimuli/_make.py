"""``make_stimuli``: from candidate images to a balanced stimulus folder (the ``stimuli`` output kind).

```
OUT/emosynth.json   kind "stimuli", the configuration, the command, the figures (max |SMD| per feature)
OUT/images/*.png    the chosen images (re-encoded as PNG; equalised when asked)
OUT/stimuli.csv     file (images/…), cell, source_run, source_file, source, target_<factor>, distance,
                    predicted valence/arousal/dominance (+ interval_*_lo/hi, <judge>_valence/_arousal
                    where the candidates had them), category, every balanced feature
OUT/balance.md      the balance table (+ balance.html, balance.png): per cell mean ± sd, max |SMD|, tests
OUT/methods.md      a paragraph for a paper's method section, every number filled in
```
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..config import check_seed
from ..errors import ConfigError, DataError
from ._candidates import interval_columns, judge_columns, load_candidates
from ._design import DIMENSIONS, parse_design
from ._equalise import METHODS, equalise
from ._features import features_of, resolve_features
from ._select import assign_cells, choose

KIND = "stimuli"
DEFAULT_BALANCE = ("luminance", "contrast", "colourfulness", "slope")


@dataclass
class StimuliConfig:
    """What ``make_stimuli`` chooses.

    Attributes:
        sources: Run directories or folders of images (repeatable ``--from``).
        design: The design, e.g. ``"valence=2,5,8 x arousal=3,7"`` (``parse_design``).
        per_cell: Images per cell (at least 2).
        balance: Feature names (``feature_names()``), a sequence or a comma-separated string.
        tolerance: How far (SAM points, per dimension, above 0 and at most 8) a candidate's predicted
            emotion may lie from its cell's level.
        equalise: None, ``histogram`` or ``spectrum``.
        restarts: Restarts of the swap search (1-100).
        seed: Fixes ties, restarts and equalisation.
        workers: Threads computing the image features.
        engine: How the packaged predictor runs where it scores images (``emosynth.models.ENGINES``).
    """

    sources: list = field(default_factory=list)
    design: str = ""
    per_cell: int = 12
    balance: tuple = DEFAULT_BALANCE
    tolerance: float = 1.0
    equalise: str | None = None
    restarts: int = 4
    seed: int = 0
    workers: int = 2
    engine: str = "auto"

    def validate(self) -> None:
        """Check the configuration and resolve its design and feature names.

        Raises:
            ConfigError: For no sources, a bad design or feature name, or a parameter out of its range.
        """
        if not self.sources:
            raise ConfigError("runs", "needs at least one run directory or image folder")
        self.design_ = parse_design(self.design)
        names = self.balance.split(",") if isinstance(self.balance, str) else list(self.balance)
        self.features_ = resolve_features(names)
        if isinstance(self.per_cell, bool) or not isinstance(self.per_cell, (int, np.integer)) or self.per_cell < 2:
            raise ConfigError("per_cell", f"must be an integer of at least 2, got {self.per_cell!r}")
        if not isinstance(self.tolerance, (int, float)) or not np.isfinite(self.tolerance) or \
                not 0 < self.tolerance <= 8:
            raise ConfigError("tolerance", f"must be a number of SAM points above 0 and at most 8, got "
                              f"{self.tolerance!r}")
        if self.equalise is not None and self.equalise not in METHODS:
            raise ConfigError("equalise", f"must be one of {', '.join(METHODS)}, got {self.equalise!r}")
        if isinstance(self.restarts, bool) or not isinstance(self.restarts, int) or not 1 <= self.restarts <= 100:
            raise ConfigError("restarts", f"must be an integer from 1 to 100, got {self.restarts!r}")
        check_seed("seed", self.seed)
        from ..models import ENGINES

        if self.engine not in ENGINES:
            raise ConfigError("engine", f"must be one of {', '.join(ENGINES)}, got {self.engine!r}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["sources"] = [str(s) for s in self.sources]
        d["balance"] = list(self.features_)
        return d


class _Packaged:
    """The packaged predictor, loaded on first use, predicting with the configured engine."""

    def __init__(self, engine: str):
        self.engine, self._p = engine, None

    def predict(self, paths, progress=None):
        if self._p is None:
            from ..models import Predictor

            self._p = Predictor.load()
        return self._p.predict(paths, engine=self.engine, progress=progress)


def _read(path: str, within: str) -> np.ndarray:
    from ..imageio import read_array

    return read_array(path, within=within)


def _check_pools(cand: pd.DataFrame, design, cell_of: np.ndarray, per_cell: int, tolerance: float) -> None:
    for factor, levels in design.factors:
        col = cand[factor] if factor in cand else pd.Series(dtype=float)
        if factor == "category":
            if not (col.astype(str) != "").any():
                raise DataError("no candidate has a predicted category; a category design needs runs or a "
                                "model with a category head")
        elif not pd.to_numeric(col, errors="coerce").notna().any():
            raise DataError(f"no candidate has a predicted {factor}; choose a design over the dimensions "
                            "the runs predict")
    counts = np.bincount(cell_of[cell_of >= 0], minlength=len(design.cells))
    short = [(c.name, int(n)) for c, n in zip(design.cells, counts) if n < per_cell]
    if short:
        listed = "; ".join(f"{name} has {n}" for name, n in short[:4]) + ("; …" if len(short) > 4 else "")
        raise DataError(f"too few candidates for --per-cell {per_cell} within ±{tolerance:g} of the cell targets "
                        f"({listed}); add images with --from, widen --tolerance or lower --per-cell")


def _emotion_contrast(df: pd.DataFrame, design, prefix: str = "") -> dict:
    """Per numeric factor: mean predicted value at its highest level minus at its lowest (SAM points);
    for a category factor: the share of images predicted as their cell's category."""
    out = {}
    for factor, levels in design.factors:
        if factor == "category":
            col = df[prefix + "category"] if prefix + "category" in df else None
            if col is not None:
                out["category"] = float((col.astype(str) == df["target_category"].astype(str)).mean())
            continue
        col = prefix + factor
        if col not in df or df[col].isna().all():
            continue
        hi, lo = max(levels), min(levels)
        t = df[f"target_{factor}"].astype(float)
        out[factor] = float(df.loc[t == hi, col].mean() - df.loc[t == lo, col].mean())
    return out


def make_stimuli(config: StimuliConfig, out: str | Path, overwrite: bool = False, command: str | None = None,
                 progress=None) -> dict:
    """Choose ``per_cell`` images per design cell and write the stimulus folder ``out``; returns its
    summary (also in ``emosynth.json``). Bad input raises before anything is written.

    Args:
        config: The stimulus set's configuration.
        out: The stimulus folder to write.
        overwrite: Whether to replace an earlier stimulus folder at ``out``.
        command: The command line to record in ``emosynth.json``, if any.
        progress: A callable called with 1 after each candidate's features are computed, if given.

    Returns:
        The summary written to ``emosynth.json``: kind, emosynth_version, command, config, design, cells
        and the figures of the reports (e.g. max |SMD| per feature).

    Raises:
        ConfigError: For an invalid configuration.
        DataError: For unusable sources, or too few candidates within ``tolerance`` of a cell.
        OutputError: If ``out`` cannot be written under the ownership rule.
    """
    from .. import __version__
    from ..fsio import atomic_write_text, check_output, output_directory, write_json
    from ..rundir import write_png
    from ._report import write_reports

    config.validate()
    design, names = config.design_, config.features_
    check_output(out, KIND, overwrite)
    t0 = time.perf_counter()
    packaged = _Packaged(config.engine)
    cand = load_candidates(config.sources, lambda: packaged, progress=None)
    cell_of, dist = assign_cells(cand, design, config.tolerance)
    _check_pools(cand, design, cell_of, config.per_cell, config.tolerance)

    idx = np.flatnonzero(cell_of >= 0)
    X = features_of([(cand.at[i, "path"], cand.at[i, "within"]) for i in idx], names,
                    read=lambda pw: _read(*pw), workers=config.workers, progress=progress)
    t_feat = time.perf_counter() - t0
    groups, info = choose(X, cell_of[idx], dist[idx], len(design.cells), config.per_cell, config.seed,
                          config.restarts)
    t_choose = time.perf_counter() - t0 - t_feat
    cells = design.cells
    cell_names = [c.name for c in cells]

    def frame(sel_groups) -> pd.DataFrame:
        rows = []
        for c, g in zip(cells, sel_groups):
            g = sorted(g, key=lambda r: (dist[idx[r]], cand.at[idx[r], "path"]))
            for r in g:
                i = idx[r]
                row = {"cell": c.name}
                for factor, level in c.targets:
                    row[f"target_{factor}"] = level
                row["distance"] = float(dist[i])
                row.update({n: float(X[r, j]) for j, n in enumerate(names)})
                row["_i"] = i
                rows.append(row)
        return pd.DataFrame(rows)

    chosen, naive = frame(groups), frame(info["naive"])
    n_pool = int(len(idx))

    extra = judge_columns(cand.columns) + interval_columns(cand.columns)
    with output_directory(out, KIND, overwrite, marker=False) as folder:
        (folder / "images").mkdir()
        files, originals = [], []
        for k, i in enumerate(chosen["_i"]):
            stem = Path(str(cand.at[i, "source_file"])).stem
            files.append(f"images/{k + 1:03d}_{stem[:40]}.png")
            originals.append(_read(cand.at[i, "path"], cand.at[i, "within"]))
        final = originals
        equal = {}
        if config.equalise:
            final = equalise(originals, config.equalise, config.seed)
        for f, im in zip(files, final):
            write_png(folder / f, im)
        table = pd.DataFrame({"file": files, "cell": chosen["cell"]})
        for col in ("source_run", "source_file", "source"):
            table[col] = [cand.at[i, col] for i in chosen["_i"]]
        for col in [c for c in chosen.columns if c.startswith("target_")] + ["distance"]:
            table[col] = chosen[col].to_numpy()
        for d in DIMENSIONS:
            table[d] = [cand.at[i, d] for i in chosen["_i"]]
        table["category"] = [cand.at[i, "category"] for i in chosen["_i"]]
        for col in extra:
            table[col] = [cand.at[i, col] for i in chosen["_i"]]
        before = chosen.copy()
        if config.equalise:
            # both the originals and the equalised images by the packaged predictor: a like-for-like contrast
            orig_paths = [cand.at[i, "path"] for i in chosen["_i"]]
            pre = packaged.predict(orig_paths)
            post = packaged.predict([folder / f for f in files])
            for d in DIMENSIONS:
                table[f"original_{d}"] = table[d]
                table[f"packaged_before_{d}"] = [r.get(d) for r in pre]
                table[d] = [r.get(d) for r in post]
            if post and "category" in post[0]:
                table["packaged_before_category"] = [r.get("category") for r in pre]
                table["category"] = [r.get("category") for r in post]
            feats = features_of(final, names, workers=config.workers)
            for j, n in enumerate(names):
                table[n] = feats[:, j]
            ref = table.rename(columns={f"packaged_before_{d}": f"b_{d}" for d in DIMENSIONS})
            ref = ref.assign(b_category=table.get("packaged_before_category", ""))
            equal = {"method": config.equalise,
                     "contrast_before": _emotion_contrast(ref, design, "b_"),
                     "contrast_after": _emotion_contrast(table, design)}
        else:
            for n in names:
                table[n] = chosen[n].to_numpy()
        for d in DIMENSIONS:
            table[d] = pd.to_numeric(table[d], errors="coerce")
        atomic_write_text(folder / "stimuli.csv", table.to_csv(index=False))
        summary = write_reports(folder, table, before, naive, design, names, cell_names, config, equal,
                                {"candidates": int(len(cand)), "eligible": n_pool,
                                 "per_cell_pool": {c: int(n) for c, n in zip(cell_names, np.bincount(
                                     cell_of[idx], minlength=len(cells)))},
                                 "models": sorted({m for m in cand["model"].astype(str) if m}),
                                 "seconds_features": round(t_feat, 2), "seconds_choose": round(t_choose, 2)},
                                {n: float(X[:, j].std(ddof=1)) for j, n in enumerate(names)})
        meta = {"kind": KIND, "emosynth_version": __version__, "command": command,
                "config": config.to_dict(), "design": str(design), "cells": cell_names, **summary}
        write_json(folder / "emosynth.json", meta)
    return meta
