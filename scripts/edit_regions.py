"""Which edit operations each emotion region of a sweep used (issue 18: ``docs/findings.md``).

Reads an ``emosynth edit --sweep`` run directory (its ``items.csv`` and ``recipes/``), puts each edit in
a region by its targets (valence and arousal each low (< 5), mid (= 5) or high (> 5) on the SAM 1–9
scale) and prints, per region, the parameters with the largest mean gene (−1 … +1: each parameter's
range mapped onto the same scale, 0 neutral) as a Markdown table, with the held-out judges' mean
verdicts where the run has them.

    .venv/bin/python scripts/edit_regions.py runs/atlas [--top 6]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd


def _level(t: float) -> str:
    return "low" if t < 5 else "high" if t > 5 else "mid"


def main(argv=None) -> int:
    from emosynth.synth import PARAMS, load_recipe, recipe_values, values_to_genes

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path, help="an emosynth edit --sweep run directory")
    ap.add_argument("--top", type=int, default=6, help="parameters listed per region")
    a = ap.parse_args(argv)
    items = a.run / "items.csv"
    if not items.is_file():
        print(f"error: {items} not found: give an emosynth edit run directory", file=sys.stderr)
        return 2
    df = pd.read_csv(items)
    if df[["target_valence", "target_arousal"]].isna().any().any():
        print("error: every edit of the run needs a valence and an arousal target (an --sweep run)", file=sys.stderr)
        return 2
    genes = values_to_genes(np.stack([recipe_values(load_recipe(a.run / f))[0] for f in df["recipe_file"]]))
    df["region"] = [f"V {_level(v)} / A {_level(ar)}" for v, ar in zip(df["target_valence"], df["target_arousal"])]
    held = [c for c in ("lite2_valence", "lite2_arousal", "ou_valence") if c in df.columns]
    print(f"| region (targets) | edits | {' | '.join(f'mean {c}' for c in held)} | largest mean genes (−1 … +1) |")
    print("|---|---|" + "---|" * len(held) + "---|")
    order = [f"V {v} / A {ar}" for v in ("high", "mid", "low") for ar in ("high", "mid", "low")]
    for region in order:
        m = (df["region"] == region).to_numpy()
        if not m.any():
            continue
        g = genes[m].mean(0)
        top = np.argsort(-np.abs(g))[:a.top]
        names = ", ".join(f"{PARAMS[i].name} {g[i]:+.2f}".replace("-", "−") for i in top)
        verdicts = " | ".join(f"{df.loc[m, c].mean():.2f}" for c in held)
        print(f"| {region} | {int(m.sum())} | {verdicts} | {names} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
