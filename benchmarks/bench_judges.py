"""The consensus objective's cost: network ensemble + colour judge against the ensemble alone.

    python benchmarks/bench_judges.py                    # 8 images of 256 px, 4 transforms, 5 repeats
    python benchmarks/bench_judges.py --batch 16 --size 128 --repeats 3

Times one objective evaluation with its backward pass (what a gradient step or a CMA-MEGA Jacobian
costs) for ``Consensus([ensemble, valdez-mehrabian])`` and for ``Consensus([ensemble])``, both in
the same run on the same images, and prints the best time of each and their ratio. Then the same
without gradients on the judges' fast path (``Judge.score``: every view of every image in one batch,
the network members on ONNX Runtime; what each CMA-ME evaluation and each CMA-MEGA sample costs),
against the ensemble's torch module without gradients, the path before it. Issue 17 asks for a ratio
(with colour / ensemble alone) of at most 1.3.
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from emosynth.judges import Consensus, make_judge
from emosynth.models.features import cpu_name


def seconds(objectives, images, target, repeats: int) -> list[float]:
    """Best time of each objective (+ backward); the objectives take turns, so a load that comes
    and goes on a shared machine falls on all of them alike."""
    best = [float("inf")] * len(objectives)
    for r in range(repeats + 1):  # the first round is a warm-up
        for i, objective in enumerate(objectives):
            x = images.clone().requires_grad_(True)
            t = time.perf_counter()
            objective(x, target).sum().backward()
            if r:
                best[i] = min(best[i], time.perf_counter() - t)
    return best


def fast_seconds(calls, images, repeats: int) -> list[float]:
    """Best time of each no-gradient call (taking turns, as ``seconds``)."""
    best = [float("inf")] * len(calls)
    with torch.no_grad():
        for r in range(repeats + 1):
            for i, call in enumerate(calls):
                t = time.perf_counter()
                call(images)
                if r:
                    best[i] = min(best[i], time.perf_counter() - t)
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--transforms", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--fast-batch", type=int, default=32, help="images of the no-gradient (fast path) timing")
    args = ap.parse_args()

    ensemble = make_judge("ensemble", transforms=args.transforms)
    colour = make_judge("valdez-mehrabian")
    images = torch.rand(args.batch, 3, args.size, args.size, generator=torch.Generator().manual_seed(0))
    target = (7.0, 3.0)
    alone = Consensus([ensemble])
    both = Consensus([ensemble, colour])
    t_colour, t_alone, t_both = seconds([Consensus([colour]), alone, both], images, target, args.repeats)
    print(f"CPU: {cpu_name()}  torch {torch.__version__}  threads {torch.get_num_threads()}")
    print(f"{args.batch} images of {args.size} px, ensemble of the packaged model x {args.transforms} transforms, "
          f"objective + backward, best of {args.repeats}")
    print(f"  colour judge alone        {t_colour * 1000:9.1f} ms")
    print(f"  network ensemble alone    {t_alone * 1000:9.1f} ms")
    print(f"  ensemble + colour judge   {t_both * 1000:9.1f} ms")
    print(f"  ratio (with colour / ensemble alone): {t_both / t_alone:.3f}  (issue 17 goal <= 1.3); "
          f"(ensemble + colour alone) / ensemble: {(t_alone + t_colour) / t_alone:.3f}")
    print(f"  load average {os.getloadavg()[0]:.2f} (after the gradient timings)")

    # the fast path: what scoring a batch costs (CMA-ME evaluations, CMA-MEGA samples)
    fast = torch.rand(args.fast_batch, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    t_module, t_ens, t_col, t_cons = fast_seconds(
        [ensemble, lambda x: ensemble.score(x), lambda x: colour.score(x),
         lambda x: [j.score(x) for j in both.judges]], fast, max(1, args.repeats // 2))
    print(f"{args.fast_batch} images of 224 px, no gradients, best of {max(1, args.repeats // 2)}")
    print(f"  ensemble, torch module (before)  {t_module * 1000:9.1f} ms  ({args.fast_batch / t_module:.1f} images/s)")
    print(f"  ensemble, fast path (ONNX RT)    {t_ens * 1000:9.1f} ms  ({args.fast_batch / t_ens:.1f} images/s, "
          f"{t_module / t_ens:.2f}x the module)")
    print(f"  colour judge, fast path          {t_col * 1000:9.1f} ms")
    print(f"  ensemble + colour, fast path     {t_cons * 1000:9.1f} ms")
    print(f"  ratio (with colour / ensemble alone), fast path: {t_cons / t_ens:.3f}  (issue 17 goal <= 1.3)")
    print(f"  load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
