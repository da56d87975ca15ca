"""How well the colour judges read people's ratings of photographs (docs/findings.md, issue 17).

The colour judges are models of what people feel from uniform colour patches. This prints, for the
rated photographs of OASIS and Emotion6, Pearson's r between each colour judge's V / A (per pixel,
averaged over the photo, as the judges always do) and people's mean ratings, and the r between the
judges themselves on the same photos.

    EMOSYNTH_DATA=../shared/data .venv/bin/python scripts/colour_judges_photos.py [--size 96]
"""

from __future__ import annotations

import argparse
import os

import numpy as np
import torch

from emosynth.data import load_datasets
from emosynth.imageio import read_array
from emosynth.judges import make_judge

JUDGES = ("valdez-mehrabian", "ou", "palmer-2013")


def load_images(paths, size: int) -> torch.Tensor:
    """The photos as one float tensor (N, 3, size, size) in [0, 1], read by emosynth's own rules."""
    xs = np.stack([read_array(p, size) for p in paths]).astype(np.float32) / 255
    return torch.from_numpy(xs).permute(0, 3, 1, 2).contiguous()


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson's r over the finite pairs."""
    ok = np.isfinite(a) & np.isfinite(b)
    return float(np.corrcoef(a[ok], b[ok])[0, 1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=96, help="side the photos are resized to (the colour "
                    "judges average per pixel, so the size barely matters)")
    ap.add_argument("--data-root", default=os.environ.get("EMOSYNTH_DATA", "../shared/data"))
    args = ap.parse_args()
    judges = {name: make_judge(name) for name in JUDGES}
    for name in ("oasis", "emotion6"):
        ds = load_datasets([name], args.data_root)[0]
        x = load_images(ds.paths, args.size)
        with torch.no_grad():
            out = {j: judges[j](x)["vad_raw"].double().numpy() for j in JUDGES}
        print(f"{name}: {len(x)} rated photos")
        print(f"  {'judge':<17} r with people's valence / arousal")
        for j, v in out.items():
            a = f"{pearson(v[:, 1], ds.vad[:, 1]):.2f}" if np.isfinite(v[:, 1]).any() else "  - "
            print(f"  {j:<17} {pearson(v[:, 0], ds.vad[:, 0]):.2f} / {a}")
        vm, ou, pa = out["valdez-mehrabian"], out["ou"], out["palmer-2013"]
        print(f"  between the judges: valence VM-Ou {pearson(vm[:, 0], ou[:, 0]):.2f}, "
              f"Palmer-Ou {pearson(pa[:, 0], ou[:, 0]):.2f}, VM-Palmer {pearson(vm[:, 0], pa[:, 0]):.2f}; "
              f"arousal VM-Ou {pearson(vm[:, 1], ou[:, 1]):.2f}; Ou valence-arousal {pearson(ou[:, 0], ou[:, 1]):.2f}")


if __name__ == "__main__":
    main()
