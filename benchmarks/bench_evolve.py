"""MAP-Elites speed: evaluations/s of one ask → render → score → tell iteration.

    python benchmarks/bench_evolve.py                          # batch 256, CPPN, VA space, default model
    python benchmarks/bench_evolve.py --workers 0 1 2 --repeats 2

Runs the library's own iteration (``emosynth.synth.step``) with the packaged default
model and prints evaluations/s on the fast path against plain eager fp32 in the same run (the
issue asks for a ratio of at least 3), then on the fast path with N local worker processes
(dask.distributed; 0 = in this process). Warm-up iterations (model loading, ONNX export, worker
start-up) are not timed; the best of ``--repeats`` timed iterations is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import torch

from emosynth.models import resolve_model
from emosynth.synth import Evaluator, EvolveConfig, JudgeSpec, make_encoding, make_scheduler, make_space, step


def evals_per_second(cfg: EvolveConfig, engine: str, workers: int, repeats: int) -> float:
    enc = make_encoding("cppn")
    space = make_space(cfg.space, cells=cfg.cells)
    scheduler = make_scheduler(cfg, space, enc, 7)
    spec = JudgeSpec(encoding=json.dumps(enc.spec()), models=(resolve_model(None),), engine=engine)
    with Evaluator(spec, chunk=cfg.chunk, workers=workers) as evaluate:
        step(scheduler, space, evaluate, (cfg.seed, 0))  # warm-up (not timed)
        best = float("inf")
        for r in range(repeats):
            t = time.perf_counter()
            n = step(scheduler, space, evaluate, (cfg.seed, r + 1))
            best = min(best, time.perf_counter() - t)
    return n / best


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--workers", type=int, nargs="*", default=[0, 1, 2])
    ap.add_argument("--skip-eager", action="store_true", help="only the workers scaling")
    args = ap.parse_args()

    cfg = EvolveConfig(space="va", cells=12, encoding="cppn", batch=args.batch, emitters=4, seed=0)
    print(f"one iteration of {args.batch} evaluations (CPPN 224 px, VA space, default model); "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    if not args.skip_eager:
        eager = evals_per_second(cfg, "eager", 0, args.repeats)
        fast = evals_per_second(cfg, "auto", 0, args.repeats)
        print(f"eager fp32       {eager:8.1f} evaluations/s")
        print(f"fast path        {fast:8.1f} evaluations/s")
        print(f"ratio fast/eager {fast / eager:7.2f}x")
    base = None
    for w in args.workers:
        eps = evals_per_second(cfg, "auto", w, args.repeats)
        base = base or eps
        print(f"fast path, --workers {w}: {eps:8.1f} evaluations/s ({eps / base:.2f}x of --workers {args.workers[0]})")


if __name__ == "__main__":
    main()
