"""The run directory: what every synthesis method writes and every viewer reads.

```
RUN/run.json      what made it: command, config, seed, model id, code version, metrics
RUN/images/*.png  the images
RUN/items.csv     one row per image (ITEM_COLUMNS, then p_<label> per category, then measure_<name>)
```

Writers replace files atomically (temporary file + ``os.replace``), so a reader never sees a
half-written file; ``run.json`` is written last, so a run directory with ``run.json`` is complete.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import RunDirError

RUN_FILE = "run.json"
ITEMS_FILE = "items.csv"
IMAGES_DIR = "images"

#: items.csv columns every run has, in this order (empty where not applicable). V/A/D and their
#: targets are on the SAM 1–9 scale; ``fitness`` is the method's objective (higher is better);
#: category probabilities follow as ``p_<label>`` and descriptors as ``measure_<name>``.
ITEM_COLUMNS = ("file", "target_category", "target_valence", "target_arousal", "target_dominance",
                "category", "valence", "arousal", "dominance", "fitness", "cell")


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; run files are as shareable as any other
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


@contextmanager
def atomic_directory(path: str | Path):
    """Yield a fresh temporary folder beside ``path``; when the block succeeds it replaces ``path``
    (an earlier folder there is removed), when it fails it is deleted — nothing half-written remains."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.tmp-"))
    try:
        tmp.chmod(0o755)  # mkdtemp makes it private; the result is as shareable as any other folder
        yield tmp
        if path.exists():
            old = path.with_name(f".{path.name}.old-{tmp.name.rsplit('-', 1)[-1]}")
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_json(path: str | Path, obj) -> Path:
    return atomic_write_bytes(path, (json.dumps(obj, indent=2, allow_nan=False, default=_jsonable) + "\n").encode())


def _jsonable(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return None if not np.isfinite(o) else float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON-serialisable: {type(o).__name__}")


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
    """Write ``run.json`` (do this last: its presence marks a complete run)."""
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
    """Read a complete run directory; a missing or malformed one raises ``RunDirError`` (one line)."""
    path = Path(path)
    if not (path / RUN_FILE).is_file():
        raise RunDirError(f"{path}: not a finished run directory (no {RUN_FILE})")
    try:
        meta = json.loads((path / RUN_FILE).read_text())
    except (OSError, ValueError) as err:
        raise RunDirError(f"{path / RUN_FILE}: unreadable ({err})") from None
    try:
        items = pd.read_csv(path / ITEMS_FILE)
    except FileNotFoundError:
        raise RunDirError(f"{path}: run directory without {ITEMS_FILE}") from None
    except (OSError, ValueError) as err:
        raise RunDirError(f"{path / ITEMS_FILE}: unreadable ({err})") from None
    missing = [c for c in ITEM_COLUMNS if c not in items.columns]
    if missing:
        raise RunDirError(f"{path / ITEMS_FILE}: missing column(s) {', '.join(missing)}")
    absent = [f for f in items["file"] if not (path / IMAGES_DIR / str(f)).is_file()]
    if absent:
        raise RunDirError(f"{path}: {len(absent)} image(s) listed in {ITEMS_FILE} are missing, e.g. {absent[0]}")
    return Run(path, meta, items)
