"""The run directory: what every synthesis method writes and every viewer reads — one declared contract.

```
RUN/run.json      one header for every kind (``run_header``; schema: emosynth/run.schema.json):
                  kind, method, command, created, seed, emosynth_version, model (a list of ids),
                  config, metrics — and whatever the method adds beside them
RUN/images/*.png  the images
RUN/items.csv     one row per image (ITEM_COLUMNS, then p_<label> per category, then measure_<name>);
                  the prediction columns of a row come from ``prediction_columns``, each held-out
                  judge's V/A from ``judge_columns`` (``<judge>_valence``, ``<judge>_arousal``)
```

Writers replace files atomically (``emosynth.fsio``), so a reader never sees a half-written file;
``run.json`` is written last, so a run directory with ``run.json`` is complete. ``read_run`` checks
run.json against the schema; a run written before the header was declared (``code_version``, a
string ``model``) is upgraded in one place, ``upgrade_header``.
"""

from __future__ import annotations

import datetime as _dt
import io
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from .errors import RunDirError
from .fsio import atomic_write_bytes, write_json

RUN_FILE = "run.json"
ITEMS_FILE = "items.csv"
IMAGES_DIR = "images"
SCHEMA_FILE = Path(__file__).resolve().parent / "run.schema.json"
DIMENSIONS = ("valence", "arousal", "dominance")

#: items.csv columns every run has, in this order (empty where not applicable). V/A/D and their
#: targets are on the SAM 1–9 scale; ``fitness`` is the method's objective (higher is better);
#: category probabilities follow as ``p_<label>`` and descriptors as ``measure_<name>``.
ITEM_COLUMNS = ("file", "target_category", "target_valence", "target_arousal", "target_dominance",
                "category", "valence", "arousal", "dominance", "fitness", "cell")


def run_header(kind: str, command: str | None, config: dict, seed: int | None, models: str | Sequence[str],
               method: str | None = None) -> dict:
    """The keys every run.json starts with; the writer adds ``metrics`` and its own keys.

    Args:
        kind: the run's kind (``evolve``, ``generator``, ``edit``, ``visualize``, ...): what may replace it.
        command: the command line that made the run (``config.command_string()``), or None from Python.
        config: the method's configuration, JSON-serialisable.
        seed: the run's seed (0 … 2^32 − 1), or None for a deterministic method.
        models: the judging predictor's id (``model_id``), or several (an ensemble) — always stored as a list.
        method: the method within the kind (defaults to ``kind``).

    Returns:
        A dict with ``kind``, ``method``, ``command``, ``created`` (UTC, ISO 8601), ``seed``,
        ``emosynth_version``, ``model``, ``config`` and an empty ``metrics``.
    """
    from . import __version__

    return {"kind": kind, "method": method or kind, "command": command,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "seed": None if seed is None else int(seed), "emosynth_version": __version__,
            "model": [models] if isinstance(models, str) else [str(m) for m in models],
            "config": dict(config), "metrics": {}}


def prediction_columns(labels: Sequence[str], vad, probabilities=None, targets: Sequence[str] = DIMENSIONS) -> dict:
    """One items.csv row's prediction columns: ``category`` (the argmax label) and ``p_<label>`` when the
    model has categories (``labels`` non-empty and ``probabilities`` given), then valence / arousal /
    dominance (1–9) — None for a dimension the model never learnt (``targets``), not the midpoint."""
    out: dict = {}
    if len(labels) and probabilities is not None:
        probs = np.asarray(probabilities, dtype=float)
        out["category"] = labels[int(probs.argmax())]
        out.update({f"p_{c}": float(p) for c, p in zip(labels, probs)})
    vad = np.asarray(vad, dtype=float)
    for j, d in enumerate(DIMENSIONS):
        out[d] = float(vad[j]) if d in targets and j < len(vad) else None
    return out


def judge_columns(judge: str, vad, dims: Sequence[str] = DIMENSIONS) -> dict:
    """One items.csv row's columns for a held-out judge's verdict: ``<judge>_valence`` and
    ``<judge>_arousal`` (1–9; None for a dimension that judge does not judge, e.g. a colour model
    without an arousal term). They follow the standard columns (``write_items``: "any others")."""
    vad = np.asarray(vad, dtype=float)
    return {f"{judge}_{d}": float(vad[j]) if d in dims and np.isfinite(vad[j]) else None
            for j, d in enumerate(DIMENSIONS[:2])}


@lru_cache(maxsize=1)
def run_schema() -> dict:
    """The JSON Schema of run.json (package data: emosynth/run.schema.json)."""
    return json.loads(SCHEMA_FILE.read_text())


def upgrade_header(meta: dict) -> dict:
    """The one place where run.json written by earlier emosynth versions is read: ``code_version`` becomes
    ``emosynth_version``, a string ``model`` a one-item list, a missing ``method`` the ``kind``; a missing
    ``metrics`` an empty one. Anything else missing is not guessed (``read_run`` says so)."""
    meta = dict(meta)
    if "emosynth_version" not in meta and "code_version" in meta:
        meta["emosynth_version"] = str(meta.pop("code_version"))
    if isinstance(meta.get("model"), str):
        meta["model"] = [meta["model"]]
    if "method" not in meta and isinstance(meta.get("kind"), str):
        meta["method"] = meta["kind"]
    meta.setdefault("metrics", {})
    return meta


def check_header(meta, where: Path | str = RUN_FILE) -> None:
    """Raise ``RunDirError`` (one line) where ``meta`` does not follow run.schema.json."""
    import jsonschema

    errors = sorted(jsonschema.Draft202012Validator(run_schema()).iter_errors(meta), key=lambda e: list(e.path))
    if errors:
        e = errors[0]
        at = "/".join(str(p) for p in e.path) or "top level"
        raise RunDirError(f"{where}: not an emosynth run header ({at}: {e.message[:120]}); re-run the command "
                          "that made it with this emosynth to rewrite it")


def write_png(path: str | Path, image: np.ndarray) -> Path:
    """Write a uint8 (H, W, 3) image as PNG, atomically."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buf, format="PNG")
    return atomic_write_bytes(path, buf.getvalue())


def write_items(run_dir: str | Path, rows: list[dict]) -> Path:
    """Write ``items.csv``: the standard columns first, then ``p_*``, ``measure_*`` and any others."""
    df = pd.DataFrame(rows)
    for c in ITEM_COLUMNS:
        if c not in df.columns:
            df[c] = np.nan
    rest = [c for c in df.columns if c not in ITEM_COLUMNS]
    order = (list(ITEM_COLUMNS) + sorted((c for c in rest if c.startswith("p_")), key=rest.index)
             + [c for c in rest if c.startswith("measure_")]
             + [c for c in rest if not c.startswith(("p_", "measure_"))])
    return atomic_write_bytes(Path(run_dir) / ITEMS_FILE, df[order].to_csv(index=False).encode())


def write_run(run_dir: str | Path, meta: dict) -> Path:
    """Write ``run.json`` atomically (do this last: its presence marks a complete run).

    Args:
        run_dir: the run directory (already holding ``images/`` and ``items.csv``).
        meta: the header, following ``run.schema.json`` (start it with ``run_header``).

    Returns:
        The path of the written ``run.json``.

    Raises:
        RunDirError: ``meta`` does not follow the schema.
    """
    check_header(meta, Path(run_dir) / RUN_FILE)
    return write_json(Path(run_dir) / RUN_FILE, meta)


@dataclass
class Run:
    """A run directory as read back: its folder, ``run.json`` and ``items.csv``."""

    path: Path
    meta: dict
    items: pd.DataFrame

    @property
    def categories(self) -> list[str]:
        """The label set of the ``p_*`` columns, in order."""
        return [c[2:] for c in self.items.columns if c.startswith("p_")]

    def image_paths(self) -> list[Path]:
        return [self.path / IMAGES_DIR / f for f in self.items["file"]]


def read_run(path: str | Path) -> Run:
    """Read a complete run directory.

    Args:
        path: the run directory (holding ``run.json``, ``images/``, ``items.csv``).

    Returns:
        A ``Run``: ``meta`` (run.json, upgraded to the current header) and ``items`` (items.csv as a
        DataFrame; V/A/D columns on the SAM 1–9 scale).

    Raises:
        RunDirError: no ``run.json`` (an unfinished or foreign folder), an unreadable or off-schema header,
            a missing ``items.csv`` or image, or a row naming a file outside ``images/`` — always one line.
    """
    path = Path(path)
    if not (path / RUN_FILE).is_file():
        raise RunDirError(f"{path}: not a finished run directory (no {RUN_FILE})")
    try:
        meta = json.loads((path / RUN_FILE).read_text())
    except (OSError, ValueError) as err:
        raise RunDirError(f"{path / RUN_FILE}: unreadable ({err})") from None
    if not isinstance(meta, dict):
        raise RunDirError(f"{path / RUN_FILE}: not an emosynth run header (a JSON object is expected)")
    meta = upgrade_header(meta)
    check_header(meta, path / RUN_FILE)
    try:
        items = pd.read_csv(path / ITEMS_FILE)
    except FileNotFoundError:
        raise RunDirError(f"{path}: run directory without {ITEMS_FILE}") from None
    except (OSError, ValueError) as err:
        raise RunDirError(f"{path / ITEMS_FILE}: unreadable ({err})") from None
    missing = [c for c in ITEM_COLUMNS if c not in items.columns]
    if missing:
        raise RunDirError(f"{path / ITEMS_FILE}: missing column(s) {', '.join(missing)}")
    images = (path / IMAGES_DIR).resolve()
    outside = [f for f in items["file"] if not (images / str(f)).resolve().is_relative_to(images)]
    if outside:
        raise RunDirError(f"{path / ITEMS_FILE}: file {outside[0]!r} leaves the run's {IMAGES_DIR}/; "
                          "a run lists only its own images")
    absent = [f for f in items["file"] if not (path / IMAGES_DIR / str(f)).is_file()]
    if absent:
        raise RunDirError(f"{path}: {len(absent)} image(s) listed in {ITEMS_FILE} are missing, e.g. {absent[0]}")
    return Run(path, meta, items)
