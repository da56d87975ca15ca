"""Predictor scoring speed: the fast path against plain eager fp32, measured in the same run.

    python benchmarks/bench_predict.py                       # the default model's backbone
    python benchmarks/bench_predict.py --backbone mobilenetv2 --batch 64 --repeats 3

Scores a batch of real photos (the packaged samples, tiled to the batch size) at the backbone's
input size through the whole predictor (features + heads) and prints images/s for each engine
and the ratio fast / eager. The issue asks for a ratio of at least 3.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch

from emosynth.models.features import FeatureExtractor
from emosynth.models.predictor import Predictor, PredictorConfig
from emosynth.samples import sample_paths


def images_per_second(predictor: Predictor, batch: np.ndarray, engine: str, repeats: int) -> float:
    predictor.predict_arrays(batch[:8], engine=engine)  # warm-up: export, allocation, first-call costs
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        predictor.predict_arrays(batch, engine=engine)
        best = min(best, time.perf_counter() - t)
    return len(batch) / best


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backbone", default=None, help="default: the packaged model's backbone")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    if args.backbone:
        # Heads do not change the speed; fit throw-away heads on random features to time the full path.
        predictor = Predictor(PredictorConfig(backbone=args.backbone))
        ex = predictor.extractor()
        dim = ex.net.feature_dim
        predictor.feature_mean_, predictor.feature_scale_ = np.zeros(dim), np.ones(dim)
        predictor.vad_coef_, predictor.vad_intercept_ = np.zeros((3, dim)), np.full(3, 5.0)
        predictor.cat_coef_, predictor.cat_intercept_ = np.zeros((7, dim)), np.zeros(7)
        from emosynth.emotions import CategorySet

        predictor.categories_ = CategorySet()
    else:
        predictor = Predictor.load()
    ex: FeatureExtractor = predictor.extractor()
    imgs = np.stack([ex.load_image(p) for p in sample_paths()])
    batch = np.concatenate([imgs] * (args.batch // len(imgs) + 1))[: args.batch]

    c = predictor.config
    print(f"backbone {c.backbone} ({c.pooling}{', flip' if c.flip else ''}), batch {args.batch} at "
          f"{ex.input_size} px; {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, fast engine: {ex.engine}")
    eager = images_per_second(predictor, batch, "eager", args.repeats)
    fast = images_per_second(predictor, batch, "auto", args.repeats)
    print(f"eager fp32      {eager:8.1f} images/s")
    print(f"fast path       {fast:8.1f} images/s")
    print(f"ratio fast/eager {fast / eager:7.2f}x")


if __name__ == "__main__":
    main()
