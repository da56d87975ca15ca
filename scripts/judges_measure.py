"""Issue 17's "today" figures under the judges, and the measurement behind the consensus rule.

    emosynth generate --sweep --grid 5 --n 16 --seed 7 --out runs/sweep
    python scripts/judges_measure.py runs/sweep [--lite2]

1. The correlation between the sweep's target valence / arousal and each colour judge's verdict:
   the handcrafted HSV-based Valdez–Mehrabian feature (what the issue measured), the CIELAB
   ``valdez-mehrabian`` judge, the held-out ``ou`` judge; and the networks' (default, lite2).
2. Consensus selection: every image of the sweep is a candidate for every target; for each target
   and each combination rule (mean, softmin, mean − λ·sd, min) over the optimised judges (the
   packaged network and the Valdez–Mehrabian colour judge), pick the 16 images the rule scores
   best and report, over the 25 targets: each optimised judge's RMS error on the picks, the worst
   judge's, and the held-out judges' correlation with the targets and RMS error.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from emosynth.judges import combine, make_judge, target_tensor


def load(run: Path):
    rows = list(csv.DictReader(open(run / "items.csv")))
    imgs = [np.asarray(Image.open(run / "images" / Path(r["file"]).name).convert("RGB")) for r in rows]
    x = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float() / 255
    tv = np.array([float(r["target_valence"]) for r in rows])
    ta = np.array([float(r["target_arousal"]) for r in rows])
    return x, tv, ta


def judged(judge, x, batch=25):
    outs = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            outs.append(judge(x[i:i + batch])["vad_raw"])
    return torch.cat(outs)


def r(a, b):
    return float(np.corrcoef(a, b)[0, 1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path)
    ap.add_argument("--lite2", action="store_true", help="also the held-out Lite2 network (trains once)")
    ap.add_argument("--k", type=int, default=16)
    ap.add_argument("--cache", action="store_true", help="keep each judge's verdicts in RUN/.judged-*.npy")
    args = ap.parse_args()
    x, tv, ta = load(args.run)
    print(f"{len(x)} images, {len(set(zip(tv, ta)))} targets")

    from emosynth.models.handcrafted import FEATURE_NAMES, features

    u8 = (x.permute(0, 2, 3, 1) * 255).round().byte().numpy()
    hsv = np.array([features(np.asarray(im)) for im in u8])
    pv, pa = hsv[:, FEATURE_NAMES.index("colour_pleasure_vm")], hsv[:, FEATURE_NAMES.index("colour_arousal_vm")]
    print(f"handcrafted HSV Valdez-Mehrabian: r(target V, pleasure) {r(tv, pv):.3f}  "
          f"r(target A, arousal) {r(ta, pa):.3f}")

    names = ["default", "valdez-mehrabian", "ou"] + (["lite2"] if args.lite2 else [])
    preds = {}
    for n in names:
        cache = args.run / f".judged-{n}.npy" if args.cache else None
        if cache is not None and cache.is_file():
            preds[n] = torch.from_numpy(np.load(cache))
        else:
            preds[n] = judged(make_judge(n), x)
            if cache is not None:
                np.save(cache, preds[n].numpy())
        v, a = preds[n][:, 0].numpy(), preds[n][:, 1].numpy()
        print(f"{n:18s} r(target V) {r(tv, v):.3f}  r(target A) {r(ta, a):.3f}   "
              f"RMS V {np.sqrt(np.mean((v - tv) ** 2)):.2f}  A {np.sqrt(np.mean((a - ta) ** 2)):.2f}")

    optimised = ["default", "valdez-mehrabian"]
    held = [n for n in names if n not in optimised]
    targets = sorted(set(zip(tv, ta)))
    rules = [("mean", {}), ("softmin", {"tau": 1.0}), ("softmin", {"tau": 0.25}),
             ("mean-disagreement", {"lam": 1.0}), ("min", {})]
    print(f"\nselection: best {args.k} of all {len(x)} images per target, {len(targets)} targets, "
          f"optimised {optimised}, held out {held}")
    header = ["rule"] + [f"rms {n}" for n in optimised] + ["rms worst"] + \
             [f"{n} r V/A" for n in held] + [f"{n} rms V/A" for n in held]
    print(" | ".join(header))
    for method, kw in rules:
        picked_t, picked = [], []
        for t in targets:
            tt = target_tensor(t, len(x))
            per = torch.stack([-(((preds[n][:, :2] - tt[:, :2]) ** 2).mean(1)) for n in optimised])
            score = combine(per, method, **kw)
            idx = torch.topk(score, args.k).indices
            picked.append(idx)
            picked_t.append(np.tile(t, (args.k, 1)))
        idx = torch.cat(picked).numpy()
        T = np.concatenate(picked_t)
        cells = [f"{method}{'' if not kw else ' ' + ','.join(f'{k}={v}' for k, v in kw.items())}"]
        errs = []
        for n in optimised:
            e = np.sqrt(((preds[n][idx, :2].numpy() - T) ** 2).mean(1))  # per pick, RMS over V, A
            errs.append(e)
            cells.append(f"{e.mean():.2f}")
        cells.append(f"{np.maximum(*errs).mean():.2f}")
        for n in held:
            p = preds[n][idx, :2].numpy()
            cells.append(f"{r(T[:, 0], p[:, 0]):.2f}/{r(T[:, 1], p[:, 1]):.2f}")
        for n in held:
            p = preds[n][idx, :2].numpy()
            cells.append(f"{np.sqrt(((p[:, 0] - T[:, 0]) ** 2).mean()):.2f}/"
                         f"{np.sqrt(((p[:, 1] - T[:, 1]) ** 2).mean()):.2f}")
        print(" | ".join(cells))



if __name__ == "__main__":
    main()
