"""How far plain gradient ascent lifts one label's probability on the pixels encoding, per grid size.

    .venv/bin/python scripts/label_ascent.py --label anger --grid 32 64 128 --steps 900

Projected Adam on the genes (kept in [0, 1]) of one random pixels genome, maximising the label's
log-probability under the default model's torch module — the same function the fast path scores,
mirror-image average included — and printing the probability every 100 steps. It is the ceiling
CMA-MEGA's emitters climb towards; the README's CMA-MEGA section quotes it to explain why the
category runs use ``--grid 128``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from emosynth.models import Predictor
from emosynth.synth import make_encoding


def ascend(module, size: int, label: int, grid: int, steps: int, lr: float, seed: int):
    enc = make_encoding("pixels", grid=grid)
    g = torch.tensor(enc.random(1, np.random.default_rng(seed)), dtype=torch.float32, requires_grad=True)
    opt = torch.optim.Adam([g], lr=lr)
    t = time.perf_counter()
    for step in range(1, steps + 1):
        logp = torch.log_softmax(module(enc.render_torch(g, size))["logits"], 1)[0, label]
        opt.zero_grad()
        (-logp).backward()
        opt.step()
        with torch.no_grad():
            g.clamp_(0, 1)
        if step % 100 == 0 or step == steps:
            print(f"grid {grid:4d}  step {step:5d}  p {logp.exp().item():.3f}  ({time.perf_counter() - t:.0f} s)",
                  flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--label", default="anger")
    ap.add_argument("--grid", type=int, nargs="+", default=[32, 64, 128])
    ap.add_argument("--steps", type=int, default=900)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    predictor = Predictor.load(None)
    names = predictor.labels
    if args.label not in names:
        raise SystemExit(f"unknown label {args.label!r}; choose one of {', '.join(names)}")
    module = predictor.module(flip=True)
    size = predictor.input_size
    for grid in args.grid:
        ascend(module, size, names.index(args.label), grid, args.steps, args.lr, args.seed)


if __name__ == "__main__":
    main()
