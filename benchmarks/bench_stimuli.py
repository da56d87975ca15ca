"""Stimulus selection (issue 19 §1): 2,000 candidate photos, a 3 × 2 design × 12 images per cell chosen and
balanced on luminance, RMS contrast, colourfulness and spectral slope; time and every SMD.

    EMOSYNTH_DATA=/work/shared/data nice -n 10 .venv/bin/python benchmarks/bench_stimuli.py \
        --json /tmp/bench_stimuli.json

Candidates: all 900 OASIS photos and a seeded 1,100 of Emotion6's 1,980, as two rated run directories
(items.csv valence/arousal/dominance = the data sets' normative ratings on 1–9), so eligibility is by human
ratings, not by a model. Timed: ``make_stimuli`` end to end (reading the runs, features of every eligible
candidate on 2 threads, the swap search, writing images, tables, plots). Baseline in the same run: the
set of the 12 images nearest each cell's target without matching (its SMDs), and the same search with one
start instead of the default four (its time and SMDs).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from emosynth.models.features import cpu_name


def rated_run(folder: Path, data, rows) -> Path:
    from emosynth.rundir import run_header, write_items, write_run

    (folder / "images").mkdir(parents=True)
    items = []
    for i in rows:
        p = Path(data.paths[i])
        f = f"{i:04d}{p.suffix.lower()}"
        shutil.copyfile(p, folder / "images" / f)
        items.append({"file": f, "source": str(p), "valence": data.vad[i, 0], "arousal": data.vad[i, 1],
                      "dominance": data.vad[i, 2]})
    write_items(folder, items)
    write_run(folder, run_header("ratings", None, {"dataset": data.name}, None, [], method="ratings"))
    return folder


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--design", default="valence=2,5,8 x arousal=3,7")
    ap.add_argument("--per-cell", type=int, default=12)
    ap.add_argument("--candidates", type=int, default=2000)
    ap.add_argument("--balance", default="luminance,contrast,colourfulness,slope")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    from emosynth.data import load_dataset
    from emosynth.stimuli import StimuliConfig, make_stimuli

    root = os.environ.get("EMOSYNTH_DATA", str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    oasis, e6 = load_dataset("oasis", root), load_dataset("emotion6", root)
    rng = np.random.default_rng(args.seed)
    n_e6 = max(0, args.candidates - len(oasis))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        runs = [rated_run(tmp / "oasis", oasis, range(min(len(oasis), args.candidates))),
                rated_run(tmp / "emotion6", e6, sorted(rng.choice(len(e6), n_e6, replace=False)))]
        results = {}
        for label, restarts in (("default (4 starts)", 4), ("one start", 1)):
            cfg = StimuliConfig(sources=runs, design=args.design, per_cell=args.per_cell, balance=args.balance,
                                restarts=restarts, seed=args.seed)
            t = time.perf_counter()
            meta = make_stimuli(cfg, tmp / f"out-{restarts}")
            wall = time.perf_counter() - t
            results[label] = {"seconds": round(wall, 2), "seconds_features": meta["seconds_features"],
                              "seconds_choose": meta["seconds_choose"], "max_abs_smd": meta["balance"],
                              "unmatched_max_abs_smd": meta["balance_unmatched"],
                              "reached_0.2": meta["smd_goal_reached"], "candidates": meta["candidates"],
                              "eligible": meta["eligible"], "per_cell_pool": meta["per_cell_pool"]}
    out = {"design": args.design, "per_cell": args.per_cell, "cpu": cpu_name(), "cores": os.cpu_count(),
           "load_after": [round(x, 2) for x in os.getloadavg()], "results": results}
    d = results["default (4 starts)"]
    print(f"{d['candidates']} candidates ({d['eligible']} eligible), {args.design} x {args.per_cell}: "
          f"{d['seconds']:.1f} s (features {d['seconds_features']:.1f} s, search {d['seconds_choose']:.2f} s); "
          f"one start: search {results['one start']['seconds_choose']:.2f} s")
    for f in d["max_abs_smd"]:
        print(f"  {f:14s} max |SMD| {d['max_abs_smd'][f]:.3f} (one start {results['one start']['max_abs_smd'][f]:.3f}, "
              f"unmatched {d['unmatched_max_abs_smd'][f]:.3f})")
    print(f"  CPU {out['cpu']}, load {out['load_after']}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
