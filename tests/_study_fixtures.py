"""Small real run directories for the study tests: crops of the packaged sample photos (CC0), with
VA targets (a VA run) and a category target (a category run), written with ``emosynth.rundir``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from emosynth.rundir import run_header, write_items, write_png, write_run
from emosynth.samples import sample_paths

VA_TARGETS = [(2.0, 2.0), (2.0, 8.0), (8.0, 2.0), (8.0, 8.0)]


def _crops(n: int, size: int = 96, offset: int = 0) -> list[np.ndarray]:
    photos = [np.asarray(Image.open(p).convert("RGB").resize((2 * size, 2 * size))) for p in sample_paths()]
    out = []
    for i in range(n):
        ph = photos[(i + offset) % len(photos)]
        y, x = ((i // len(photos)) % 2) * size, ((i // (2 * len(photos))) % 2) * size
        out.append(ph[y:y + size, x:x + size])
    return out


def make_runs(root: Path, per_target: int = 2) -> list[Path]:
    """Two run directories under ``root``: 'va-pixels' (4 VA targets x per_target images, predicted
    V/A/D beside each) and 'fearful' (target category fear, with a target V/A/D)."""
    va = root / "va-pixels"
    rows = []
    for i, img in enumerate(_crops(len(VA_TARGETS) * per_target)):
        tv, ta = VA_TARGETS[i % len(VA_TARGETS)]
        f = f"elite_{i:03d}.png"
        write_png(va / "images" / f, img)
        rows.append({"file": f, "target_valence": tv, "target_arousal": ta, "category": "joy",
                     "valence": 5 + 0.3 * (tv - 5) + 0.1 * i, "arousal": 5 + 0.2 * (ta - 5), "dominance": 5.0,
                     "fitness": -0.5, "cell": i % len(VA_TARGETS), "p_joy": 0.6, "p_fear": 0.4})
    write_items(va, rows)
    write_run(va, {**run_header("evolve", None, {}, 1, ["default"], method="map-elites"), "space": {"name": "va"}})
    fe = root / "fearful"
    rows = []
    for i, img in enumerate(_crops(3, offset=1)):
        f = f"fear_{i}.png"
        write_png(fe / "images" / f, img)
        rows.append({"file": f, "target_category": "fear", "target_valence": 2.5, "target_arousal": 7.0,
                     "target_dominance": 3.0, "category": "fear", "valence": 3.1 + 0.2 * i, "arousal": 5.5,
                     "dominance": 4.2, "fitness": 0.3, "p_joy": 0.2, "p_fear": 0.8})
    write_items(fe, rows)
    write_run(fe, run_header("generator", None, {}, 2, ["default"]))
    return [va, fe]
