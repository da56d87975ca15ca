"""The consensus objective's cost: network ensemble + colour judge against the ensemble alone.

    python benchmarks/bench_judges.py                    # 8 images of 256 px, 4 transforms, 5 repeats
    python benchmarks/bench_judges.py --batch 16 --size 128 --repeats 3

Times one objective evaluation with its backward pass (what a gradient step or a CMA-MEGA Jacobian
costs) for ``Consensus([ensemble, valdez-mehrabian])`` and for ``Consensus([ensemble])``, both in
the same run on the same images, and prints the best time of each and their ratio. Issue 17 asks
for a ratio of at most 1.3.
"""

from __future__ import annotations

import argparse
import platform
import time

import torch

from emosynth.judges import Consensus, make_judge


def cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


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


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--transforms", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=5)
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


if __name__ == "__main__":
    main()
