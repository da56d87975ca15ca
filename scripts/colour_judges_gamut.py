"""How the colour judges relate over the sRGB gamut (docs/results/synthesis.md, Palmer section).

Prints, over flat colours of a 33^3 grid of the RGB cube: the correlation of each pair of colour
judges' valence, and of Ou's valence with its own arousal; then, for the rated-span cells of the VA
8 x 8 grid (the cells OASIS and Emotion6's rated images fall in), the best r any archive could reach
under each judge: each cell's target moved to the nearest (V, A) that the judge can give some mix of
pixels (the convex hull of its per-pixel values).

    EMOSYNTH_DATA=../shared/data .venv/bin/python scripts/colour_judges_gamut.py
"""

from __future__ import annotations

import os

import numpy as np
import torch
from scipy.spatial import ConvexHull

from emosynth.data import load_datasets
from emosynth.judges import make_judge


def nearest_in_hull(points: np.ndarray, hull: ConvexHull, t: np.ndarray) -> np.ndarray:
    if all(np.dot(eq[:2], t) + eq[2] <= 1e-12 for eq in hull.equations):
        return t
    verts = points[hull.vertices]
    best, dist = t, np.inf
    for k in range(len(verts)):
        a, b = verts[k], verts[(k + 1) % len(verts)]
        u = np.clip(np.dot(t - a, b - a) / np.dot(b - a, b - a), 0, 1)
        q = a + u * (b - a)
        if np.linalg.norm(q - t) < dist:
            best, dist = q, np.linalg.norm(q - t)
    return best


def main() -> None:
    v = torch.linspace(0, 1, 33, dtype=torch.float64)
    rgb = torch.cartesian_prod(v, v, v).view(-1, 3, 1, 1)
    out = {n: make_judge(n)(rgb)["vad_raw"].numpy() for n in ("valdez-mehrabian", "palmer-2013", "ou")}
    r = lambda x, y: float(np.corrcoef(x, y)[0, 1])  # noqa: E731
    print("over the gamut's flat colours (33^3):")
    print(f"  r valence  ou ~ valdez-mehrabian {r(out['ou'][:, 0], out['valdez-mehrabian'][:, 0]):.2f}")
    print(f"  r valence  ou ~ palmer-2013      {r(out['ou'][:, 0], out['palmer-2013'][:, 0]):.2f}")
    print(f"  r valence  palmer ~ vm           {r(out['palmer-2013'][:, 0], out['valdez-mehrabian'][:, 0]):.2f}")
    print(f"  r ou valence ~ ou arousal        {r(out['ou'][:, 0], out['ou'][:, 1]):.2f}")

    sets = load_datasets(["oasis", "emotion6"], os.environ.get("EMOSYNTH_DATA", "../shared/data"))
    va = np.concatenate([s.vad for s in sets])[:, :2]
    va = va[np.isfinite(va).all(1)]
    cells = sorted(set(map(tuple, np.clip(np.floor(va - 1).astype(int), 0, 7).tolist())))
    targets = np.array([[1.5 + i, 1.5 + j] for i, j in cells])
    print(f"rated-span cells of the VA 8 x 8 grid: {len(targets)}")
    fine = torch.linspace(0, 1, 65, dtype=torch.float64)
    rgb = torch.cartesian_prod(fine, fine, fine).view(-1, 3, 1, 1)
    for name in ("ou", "valdez-mehrabian"):
        pts = make_judge(name)(rgb)["vad_raw"][:, :2].numpy()
        hull = ConvexHull(pts)
        q = np.array([nearest_in_hull(pts, hull, t) for t in targets])
        rv, ra = (r(targets[:, d], q[:, d]) for d in range(2))
        near = int((np.linalg.norm(q - targets, axis=1) < 0.5).sum())
        print(f"  {name}: best reachable r valence {rv:.2f} arousal {ra:.2f}; "
              f"{near} of {len(targets)} targets within 0.5 points of something it can read")


if __name__ == "__main__":
    main()
