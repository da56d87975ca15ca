"""Run figures (matplotlib, Agg backend): ``progress.png`` and ``archive.png``."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from ..fsio import atomic_write_bytes


def _save(fig, path: Path):
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    atomic_write_bytes(path, buf.getvalue())


def progress_plot(history: list[dict], path: Path, title: str = ""):
    """Coverage (share of cells filled) and QD-score over evaluations."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ev = [h["evaluations"] for h in history]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
    for ax, key, label in zip(axes, ("coverage", "qd_score", "best"),
                              ("coverage (share of cells filled)", "QD-score", "objective")):
        ax.plot(ev, [h[key] for h in history], color="C0", label="best" if key == "best" else None)
        if key == "best":
            ax.plot(ev, [h["mean"] for h in history], color="C1", label="mean over elites")
            ax.legend(loc="lower right", fontsize=8)
        ax.set_xlabel("evaluations")
        ax.set_title(label, fontsize=10)
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=10)
    _save(fig, path)
    plt.close(fig)


def archive_mosaic(space, grid_index: np.ndarray, thumbs: np.ndarray, path: Path,
                   title: str = ""):
    """Elite thumbnails laid out by cell: category × descriptor, or the V–A plane (valence →,
    arousal ↑; one panel per dominance bin for VAD). Empty cells stay grey."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = thumbs.shape[1]
    dims = space.dims
    if space.name == "category":
        rows, cols = dims[0], (dims[1] if len(dims) > 1 else 1)
        panels = 1
    else:
        cols, rows = dims[0], dims[1]
        panels = dims[2] if len(dims) > 2 else 1
    canvas = np.full((panels, rows * t, cols * t, 3), 235, np.uint8)
    for g, img in zip(grid_index, thumbs):
        if space.name == "category":
            r, c, p = int(g[0]), int(g[1]) if len(g) > 1 else 0, 0
        else:
            c, r, p = int(g[0]), rows - 1 - int(g[1]), int(g[2]) if len(g) > 2 else 0  # arousal up
        canvas[p, r * t:(r + 1) * t, c * t:(c + 1) * t] = img
    fig, axes = plt.subplots(1, panels, figsize=(min(6 * panels, 24), 6.2), squeeze=False)
    for p, ax in enumerate(axes[0]):
        ax.imshow(canvas[p], interpolation="nearest")
        if space.name == "category":
            ax.set_yticks((np.arange(rows) + 0.5) * t, space.labels)
            ax.set_xticks((np.arange(cols) + 0.5) * t,
                          [f"{i / cols:.1f}-{(i + 1) / cols:.1f}" for i in range(cols)] if cols > 1 else [""])
            ax.set_xlabel("brightness" if cols > 1 else "")
        else:
            centres = space.centres(np.arange(max(dims))[:, None].repeat(len(dims), 1))[:, 0]
            ax.set_xticks((np.arange(cols) + 0.5) * t, [f"{v:.1f}" for v in centres[:cols]], fontsize=7)
            ax.set_yticks((np.arange(rows) + 0.5) * t, [f"{v:.1f}" for v in centres[:rows][::-1]], fontsize=7)
            ax.set_xlabel("valence (1-9)")
            ax.set_ylabel("arousal (1-9)")
            if panels > 1:
                ax.set_title(f"dominance {centres[p]:.1f}", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    _save(fig, path)
    plt.close(fig)
