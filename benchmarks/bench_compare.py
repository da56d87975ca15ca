"""How fast the comparison study fits its heads once features are cached (the "warm" run).

Runs the head fitting of `emosynth compare` for one backbone over the grouped folds twice in the
same process: the study's setting (heads on 512 principal components, folds spread over processes)
against the baseline of fitting on all features, one fold after another. Prints both times and the
ratio, then the wall time of the whole warm comparison of the given backbones.

    .venv/bin/python benchmarks/bench_compare.py                       # Lite0, then all 5 backbones
    .venv/bin/python benchmarks/bench_compare.py --backbones efficientnet-lite0 --skip-full

Needs the data sets ($EMOSYNTH_DATA or ../shared/data); the first run also extracts features.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from emosynth.compare import DEFAULT_BACKBONES, CompareConfig, run_compare  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backbone", default="efficientnet-lite0")
    ap.add_argument("--backbones", default=",".join(DEFAULT_BACKBONES))
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--skip-full", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("EMOSYNTH_DATA", str(ROOT.parent / "shared" / "data"))

    def run(components, jobs, backbones):
        cfg = CompareConfig(backbones=backbones, folds=args.folds, components=components, jobs=jobs)
        return run_compare(cfg)

    run(512, 0, [args.backbone])  # features into the cache; workers' imports warmed
    base = run(0, 1, [args.backbone])
    fast = run(512, 0, [args.backbone])
    tb, tf = base.timings["fit_s"], fast.timings["fit_s"]
    key = ["dataset", "target", "metric", "representation", "via"]
    b = base.summary.set_index(key)["mean"]
    f = fast.summary.set_index(key)["mean"]
    worst = float(np.nanmax(np.abs((f - b.reindex(f.index)).to_numpy())))
    print(f"{args.backbone}, {args.folds} folds: head fits on all features, serial {tb:.1f} s; "
          f"on 512 components, {fast.timings['jobs']} processes {tf:.1f} s; ratio {tb / tf:.1f}x "
          f"(largest change of any mean metric: {worst:.3f})")
    if not args.skip_full:
        names = [n for n in args.backbones.split(",") if n]
        run(512, 0, names)  # cold for any backbone not yet cached
        full = run(512, 0, names)
        t = full.timings
        print(f"warm comparison of {len(names)} backbones: {t['total_s']:.1f} s "
              f"(features from cache {t['features_s']:.1f} s, {t['fits']} head fits {t['fit_s']:.1f} s)")


if __name__ == "__main__":
    main()
