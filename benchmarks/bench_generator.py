"""Speed of the conditional generator (issue 5), each against a baseline measured in the same run.

* training: seconds per step of the default configuration (batch 12, the generator rendering at 96 px,
  the optimisation module — one view per backbone with random flips, channels_last — at the backbone's
  224 px), against the same step through the predictor's own module (both views averaged, contiguous)
  with the generator rendering at 224 px. Projects the default run (GeneratorConfig().steps steps)
  against the 20-minute target.
* generating: 64 images at 256 px with the packaged generator (inference mode: no autograd, in-place
  activations) against the same images rendered with autograd on, as during training; target < 2 s.

    .venv/bin/python benchmarks/bench_generator.py [--steps 6]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def seconds_per_step(gen, judge, train_size: int, steps: int) -> float:
    import numpy as np
    import torch

    from emosynth.synth import sample_targets, step_losses
    from emosynth.transforms import TransformConfig

    opt = torch.optim.Adam(gen.net.parameters(), lr=1e-3)
    g, rng, tcfg = torch.Generator().manual_seed(0), np.random.default_rng(0), TransformConfig()
    gen.config.train_size = train_size
    for i in range(steps + 1):
        if i == 1:
            t = time.perf_counter()  # the first step warms up
        targets = sample_targets("va", gen.config.batch // 2, g, 0).repeat_interleave(2, dim=0)
        z = torch.randn(gen.config.batch, gen.config.z_dim, generator=g)
        cond, div = step_losses(gen, judge, targets, z, rng, tcfg)
        opt.zero_grad()
        (cond - 0.1 * div).backward()
        opt.step()
    return (time.perf_counter() - t) / steps


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=6)
    args = ap.parse_args()
    os.environ.setdefault("EMOSYNTH_DATA", str(ROOT.parent / "shared" / "data"))

    import torch

    from emosynth.synth import Generator, GeneratorConfig, grid_targets, training_judge

    cfg = GeneratorConfig()
    judge = training_judge(cfg)
    fast = seconds_per_step(Generator(GeneratorConfig()), judge, cfg.train_size, args.steps)

    class plain_judge:  # noqa: N801 — the predictor's own view: both mirror images, as the fast path sees them
        module = judge.predictor.module(flip=True)

    plain = seconds_per_step(Generator(GeneratorConfig()), plain_judge, judge.size, args.steps)
    print(f"training step, batch {cfg.batch}: {fast:.2f} s (one-view module, render {cfg.train_size} px) vs "
          f"{plain:.2f} s (predictor's own module, render {judge.size} px): {plain / fast:.1f}x")
    print(f"  default run, {cfg.steps} steps: {cfg.steps * fast / 60:.1f} min projected (target <= 20 min)")

    gen = Generator.load(None)
    targets = grid_targets("va", 8)[:64]
    z = gen.noise(64, 0)
    gen.render(z[:2], targets[:2], 64)  # warm up

    def timed(fn, reps=3):
        best = float("inf")
        for _ in range(reps):
            t = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t)
        return best

    with torch.no_grad():
        infer = timed(lambda: gen.render(z, targets, 256))
    grad = timed(lambda: gen.render(z, targets, 256).sum())
    print(f"generating 64 images at 256 px: {infer:.2f} s (inference) vs {grad:.2f} s (autograd on): "
          f"{grad / infer:.1f}x; target < 2 s")


if __name__ == "__main__":
    main()
