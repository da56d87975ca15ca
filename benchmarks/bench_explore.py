"""Speed of `emosynth visualize` and `emosynth analyze`, each against its naive baseline in the same run.

* visualize: seconds per image-step (forward + backward at 224 px through the default model) of the
  optimisation module (one view per backbone with random flips, channels_last) against the
  predictor's own module (both views averaged, contiguous), batch 8. Projects the issue's workload:
  every output of the default model × 3 seeds × 48 steps.
* analyze: handcrafted features of N Emotion6 images with the worker pool against one thread
  (cold: a private feature cache). Projects 2,000 images.

    .venv/bin/python benchmarks/bench_explore.py [--images 200]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def per_image_step(module, batch=8, steps=3):
    import torch

    from emosynth.explore import make_image

    image = make_image(batch, 224)
    opt = torch.optim.Adam(image.parameters(), lr=0.05)
    for i in range(steps + 1):
        if i == 1:
            t = time.perf_counter()  # the first step warms up
        out = module(image())
        loss = -torch.log_softmax(out["logits"], -1)[:, 3].sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return (time.perf_counter() - t) / (steps * batch)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=200)
    args = ap.parse_args()
    os.environ.setdefault("EMOSYNTH_DATA", str(ROOT.parent / "shared" / "data"))

    import torch

    from emosynth.explore import default_objectives
    from emosynth.models import Predictor

    p = Predictor.load()
    plain = p.module(flip=True).to(memory_format=torch.contiguous_format)  # both mirror views, as the fast path
    fast = p.module(flip=False)  # what visualize optimises through: one view, channels_last
    tb = per_image_step(plain)
    tf = per_image_step(fast)
    n_obj = len(default_objectives(p.labels, list(p.targets_)))
    work = n_obj * 3 * 48
    print(f"visualize: {tb:.2f} s per image-step with the predictor's module, {tf:.2f} s optimised; ratio "
          f"{tb / tf:.1f}x. Default workload ({n_obj} outputs x 3 seeds x 48 steps): {work * tf / 60:.1f} min "
          f"(baseline {work * tb / 60:.1f} min)")

    import numpy as np

    import emosynth.models.features as fm
    from emosynth.data import load_dataset
    from emosynth.models.features import FeatureConfig, FeatureExtractor

    d = load_dataset("emotion6")
    paths = [d.paths[i] for i in np.random.default_rng(0).choice(len(d), args.images, replace=False)]
    timings = {}
    for workers in (1, handcrafted_workers()):
        with tempfile.TemporaryDirectory() as cache:
            os.environ["EMOSYNTH_CACHE"] = cache
            fm.HANDCRAFTED_WORKERS = workers
            t = time.perf_counter()
            FeatureExtractor(FeatureConfig("handcrafted")).extract(paths)
            timings[workers] = time.perf_counter() - t
    one, pool = timings[1], timings[handcrafted_workers()]
    print(f"analyze features, {args.images} images cold: one thread {one:.1f} s, {handcrafted_workers()} workers "
          f"{pool:.1f} s; ratio {one / pool:.1f}x. 2,000 images: {2000 * pool / args.images:.0f} s "
          f"(baseline {2000 * one / args.images:.0f} s)")


def handcrafted_workers():
    return max(2, min(4, os.cpu_count() or 1))


if __name__ == "__main__":
    main()
