"""Every fast-path engine against eager fp32, in one run: speed and agreement of the predictions.

    python benchmarks/bench_engines.py                     # the packaged model, batch 32, 64 OASIS photos
    python benchmarks/bench_engines.py --n 200 --batch 64 --engines onnx,openvino

For each engine: images/s through the whole predictor (features + heads) on a batch of real photos
(OASIS, at the model's input size), the ratio to eager fp32 measured in the same run, and the
largest |ΔV|, |ΔA| (SAM 1-9) of its predictions against eager fp32 on ``--n`` OASIS photos — the
bound ``auto`` requires (≤ 0.05). ``onnx-2pass`` is the ONNX export before the mirror-image pass
was folded into the batch (two passes of N instead of one of 2N); ``openvino-bf16`` runs only on CPUs with
native bf16.

Each engine is timed in a process of its own (``--shared-process`` for all in this one): engines timed
in one process disturb each other — on an EPYC with AVX-512 eager fp32 ran at 5.0 to 11.8 images/s
and ORT at 23.8 to 40.1 depending on which engines ran before them. Rounds are round-robin, the best
of each engine's passes counts. Prints the CPU, the threads, the load before and after, and the
projected time for 1 million images on the fastest engine that keeps the bound. Other work on the
machine changes the absolute figures: read the ratios.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import time
import warnings

import numpy as np
import torch

from emosynth.data import load_dataset
from emosynth.models import Predictor
from emosynth.models.features import (
    ENGINES,
    FeatureExtractor,
    cpu_has_native_bf16,
    cpu_has_vnni,
    cpu_name,
    engine_available,
)

BOUND = 0.05


class TwoPass:
    """The pre-folding ONNX export (mirror pass as a second pass over the batch), for comparison."""

    def __init__(self, ex: FeatureExtractor):
        import onnxruntime as ort

        parts = ex.parts or [ex]
        self.sessions = []
        for p in parts:
            buf = io.BytesIO()
            s = p.input_size
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(p.net.cpu().eval(), (torch.rand(2, 3, s, s),), buf, dynamo=False,
                                  input_names=["images"], output_names=["features"],
                                  dynamic_axes={"images": {0: "n"}, "features": {0: "n"}}, opset_version=17)
            so = ort.SessionOptions()
            so.intra_op_num_threads = torch.get_num_threads()
            so.log_severity_level = 3
            so.add_session_config_entry("session.intra_op.allow_spinning", "0")
            self.sessions.append(ort.InferenceSession(buf.getvalue(), so, providers=["CPUExecutionProvider"]))

    def __call__(self, images: np.ndarray) -> np.ndarray:
        x = (images.transpose(0, 3, 1, 2) / 255.0).astype(np.float32)
        return np.concatenate([s.run(None, {"images": x})[0] for s in self.sessions], axis=1)


def predict(predictor: Predictor, images: np.ndarray, engine: str, batch: int, two_pass=None) -> np.ndarray:
    """V, A, D (n, 3) for uint8 images through ``engine``."""
    ex = predictor.extractor()
    out = []
    for i in range(0, len(images), batch):
        b = images[i:i + batch]
        feats = two_pass(b) if two_pass is not None else ex.from_arrays(b, engine)
        out.append(predictor.predict_features(feats)["vad"])
    return np.concatenate(out)


def runner_for(ex: FeatureExtractor, engine: str):
    """The benchmark-only runner for ``engine`` (None: the library's engine of that name)."""
    return TwoPass(ex) if engine == "onnx-2pass" else None


def timed_batch(ex: FeatureExtractor, data_root: str, n: int, batch: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``n`` seeded OASIS photos at the model's size, and the timed batch of ``batch`` made of them."""
    oasis = load_dataset("oasis", data_root)
    idx = np.random.default_rng(0).choice(len(oasis.paths), size=min(n, len(oasis.paths)), replace=False)
    images = np.stack([ex.load_image(oasis.paths[i]) for i in sorted(idx)])
    return images, np.concatenate([images] * (batch // len(images) + 1))[:batch]


def timed_in_child(args, engine: str) -> float:
    """Seconds of the best timed pass of ``engine`` in a fresh process (after a warm-up of the same shape)."""
    cmd = [sys.executable, __file__, "--time-one", engine, "--n", str(args.n), "--batch", str(args.batch),
           "--data-root", args.data_root] + (["--model", args.model] if args.model else [])
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])["seconds"]


def time_one(args):
    """The child process: warm ``args.time_one`` up on the timed batch, time 2 passes, print the best."""
    predictor = Predictor.load(args.model)
    ex = predictor.extractor()
    _, batch = timed_batch(ex, args.data_root, args.n, args.batch)
    tp = runner_for(ex, args.time_one)
    engine = "eager" if args.time_one == "onnx-2pass" else args.time_one
    predict(predictor, batch, engine, len(batch), tp)
    best = float("inf")
    for _ in range(2):
        t = time.perf_counter()
        predict(predictor, batch, engine, len(batch), tp)
        best = min(best, time.perf_counter() - t)
    print(json.dumps({"engine": args.time_one, "seconds": best}))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="a saved model folder (default: the packaged model)")
    ap.add_argument("--n", type=int, default=64, help="OASIS photos for the agreement bound")
    ap.add_argument("--batch", type=int, default=32, help="images per timed batch")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--engines", default=None, help="comma-separated (default: every engine installed here)")
    ap.add_argument("--data-root", default=os.environ.get("EMOSYNTH_DATA", "../shared/data"))
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    ap.add_argument("--shared-process", action="store_true", help="time every engine in this process")
    ap.add_argument("--time-one", default=None, help=argparse.SUPPRESS)  # the child: time one engine, print JSON
    args = ap.parse_args()
    if args.time_one:
        return time_one(args)

    predictor = Predictor.load(args.model)
    ex = predictor.extractor()
    images, batch = timed_batch(ex, args.data_root, args.n, args.batch)
    runs_here = [e for e in ENGINES if e not in ("auto", "eager") and engine_available(e)
                 and (e != "openvino-bf16" or cpu_has_native_bf16())]
    engines = args.engines.split(",") if args.engines else runs_here + ["onnx-2pass"]
    load0 = os.getloadavg()
    c = predictor.config
    print(f"model {c.backbone} ({c.pooling}{', flip' if c.flip else ''}) at {ex.input_size} px; CPU {cpu_name()} "
          f"(native bf16: {cpu_has_native_bf16()}, VNNI: {cpu_has_vnni()}), {os.cpu_count()} cores, torch "
          f"{torch.__version__} with {torch.get_num_threads()} threads; batch {args.batch}, agreement on "
          f"{len(images)} OASIS photos; load {load0[0]:.1f}", flush=True)
    ref = predict(predictor, images, "eager", args.batch)
    runners = {"eager": None}
    for e in engines:
        try:
            tp = runner_for(ex, e)
            predict(predictor, batch[:4], e, len(batch), tp)  # warm-up: export, quantise, compile
            runners[e] = tp
        except Exception as err:  # noqa: BLE001 — an engine that cannot run here is reported, not fatal
            print(f"{e:18s} failed: {type(err).__name__}: {str(err)[:100]}")
    # Round-robin repeats: every engine is timed in every round, so a change of load hits all alike.
    best = {e: float("inf") for e in runners}
    for _ in range(args.repeats):
        for e, tp in runners.items():
            if args.shared_process:
                t = time.perf_counter()
                predict(predictor, batch, e, len(batch), tp)
                best[e] = min(best[e], time.perf_counter() - t)
            else:
                best[e] = min(best[e], timed_in_child(args, e))
    eager = len(batch) / best["eager"]
    rows = {}
    print(f"{'engine':18s} {'images/s':>9s} {'x eager':>8s} {'max|dV|':>8s} {'max|dA|':>8s}")
    for e, tp in runners.items():
        r = len(batch) / best[e]
        d = np.abs(predict(predictor, images, e, args.batch, tp) - ref)
        rows[e] = {"images_per_s": r, "ratio": r / eager, "max_dV": float(d[:, 0].max()),
                   "max_dA": float(d[:, 1].max())}
        ok = "" if max(d[:, 0].max(), d[:, 1].max()) <= BOUND else f"  (over the {BOUND} bound)"
        print(f"{e:18s} {r:9.2f} {r / eager:8.2f} {d[:, 0].max():8.4f} {d[:, 1].max():8.4f}{ok}", flush=True)
    good = {e: v for e, v in rows.items()
            if max(v["max_dV"], v["max_dA"]) <= BOUND and e != "onnx-2pass"}
    best = max(good, key=lambda e: good[e]["images_per_s"])
    load1 = os.getloadavg()
    hours = 1e6 / good[best]["images_per_s"] / 3600
    print(f"fastest within the bound: {best} ({good[best]['ratio']:.1f}x eager); 1 M images ≈ {hours:.1f} h on "
          f"{torch.get_num_threads()} threads at this load ({load0[0]:.1f} → {load1[0]:.1f})")
    auto = ",".join(p.engine for p in (ex.parts or [ex]))
    print(f"auto chooses here: {auto}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cpu": cpu_name(), "threads": torch.get_num_threads(), "load": [load0[0], load1[0]],
                       "batch": args.batch, "n": len(images), "engines": rows, "best": best,
                       "auto": auto}, f, indent=2)


if __name__ == "__main__":
    main()
