"""Can int8 keep the packaged model's predictions? Post-training quantisation variants, one backbone at a time.

    python benchmarks/bench_int8.py                 # ONNX Runtime static int8, five calibrations
    python benchmarks/bench_int8.py --nncf          # also NNCF's OpenVINO int8 (needs `pip install nncf`)

The packaged model is two backbones side by side (EfficientNet-Lite0 + MobileNetV2). Each variant
quantises ONE backbone and leaves the other on ONNX Runtime fp32, so the figures say which backbone
breaks the agreement bound and by how much: the largest |ΔV|, |ΔA|, |ΔD| (SAM 1-9) of the packaged
model's predictions against fp32 on ``--n`` OASIS photos, and the quantised backbone's images/s
(batch 32) beside its fp32 rate in the same run. The bound ``auto`` requires is 0.05.

Calibration never uses OASIS: it is the packaged sample photos under seeded random crops and flips
(what ``--engine onnx-int8-static`` uses, 16 of them), or 64 of them. Variants: MinMax (the engine's
own), MinMax on 64, Percentile (99.999) and Entropy on 64, and MinMax on 64 with the last 2 convolutions
left in fp32; with ``--nncf``, NNCF's ``quantize`` (MIXED preset, fast and full bias correction) compiled
by OpenVINO. Prints the CPU and whether it has VNNI (8-bit weights with it, 7-bit without, as the engine).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from emosynth.data import load_dataset
from emosynth.models import Predictor
from emosynth.models.features import (
    AGREEMENT_BOUND,
    calibration_images,
    cpu_has_native_bf16,
    cpu_has_vnni,
    cpu_name,
)


def ort_session(path: Path):
    """An ONNX Runtime CPU session on this process's torch thread count (as the engine makes them)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = torch.get_num_threads()
    so.log_severity_level = 3
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def ort_runner(path: Path):
    """features = run(x) on an ONNX Runtime session of ``path``."""
    s = ort_session(path)
    return lambda a: s.run(None, {"images": a})[0]


def ort_static(src: Path, tmp: Path, calib: np.ndarray, method: str, exclude_last: int) -> Path:
    """ONNX Runtime static QDQ int8 of ``src``, per-channel weights, calibrated on ``calib``."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    pre = tmp / f"{src.stem}-pre.onnx"
    if not pre.exists():
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
    convs = [n.name for n in onnx.load(str(pre)).graph.node if n.op_type == "Conv"]

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter([{"images": (calib[i:i + 8].transpose(0, 3, 1, 2) / 255.0).astype(np.float32)}
                            for i in range(0, len(calib), 8)])

        def get_next(self):
            return next(self.it, None)

    out = tmp / f"{src.stem}-{method}-{len(calib)}-{exclude_last}.onnx"
    quantize_static(str(pre), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    reduce_range=not cpu_has_vnni(), calibrate_method=getattr(CalibrationMethod, method),
                    nodes_to_exclude=convs[-exclude_last:] if exclude_last else [])
    return out


def nncf_int8(src: Path, calib: np.ndarray, fast_bias_correction: bool):
    """NNCF's post-training int8 of ``src`` (MIXED preset), compiled by OpenVINO in fp32 for the rest."""
    import nncf
    import openvino as ov

    core = ov.Core()
    data = [(calib[i:i + 1].transpose(0, 3, 1, 2) / 255.0).astype(np.float32) for i in range(len(calib))]
    q = nncf.quantize(core.read_model(str(src)), nncf.Dataset(data), subset_size=len(data),
                      preset=nncf.QuantizationPreset.MIXED, fast_bias_correction=fast_bias_correction)
    model = core.compile_model(q, "CPU", {"INFERENCE_NUM_THREADS": torch.get_num_threads(),
                                          "PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"})
    return lambda a: np.asarray(model(a)[0])


def rate(run, x: np.ndarray, batch: int = 32, repeats: int = 3) -> float:
    """Images/s of ``run`` on a batch of ``x``, best of ``repeats`` after a warm-up of the same shape."""
    b = x[:batch]
    run(b)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        run(b)
        best = min(best, time.perf_counter() - t)
    return len(b) / best


def noise(predictor: Predictor, oasis, n: int):
    """Is the int8 engine's error a bias a calibration could remove? Both backbones on ``onnx-int8-static``
    against ``onnx`` fp32 on ``n`` seeded OASIS photos: the error's mean, SD and maximum, and what is left
    after the best affine map of int8 onto fp32, fitted on those same photos (an optimistic bound)."""
    ex = predictor.extractor()
    idx = np.random.default_rng(1).choice(len(oasis.paths), size=min(n, len(oasis.paths)), replace=False)
    images = np.stack([ex.load_image(oasis.paths[i]) for i in sorted(idx)])
    ref = predictor.predict_features(ex.from_arrays(images, "onnx"))["vad"]
    q = predictor.predict_features(ex.from_arrays(images, "onnx-int8-static"))["vad"]
    print(f"onnx-int8-static, both backbones ({ex.feature_dim} features), on {len(images)} OASIS photos:")
    for k, dim in enumerate(("V", "A", "D")):
        e = q[:, k] - ref[:, k]
        a, b = np.polyfit(q[:, k], ref[:, k], 1)
        left = np.abs(a * q[:, k] + b - ref[:, k]).max()
        print(f"  {dim}: error mean {e.mean():+.4f}, SD {e.std():.4f}, max |error| {np.abs(e).max():.4f}; "
              f"after the best affine map fitted on these photos, max {left:.4f}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=64, help="OASIS photos for the agreement")
    ap.add_argument("--nncf", action="store_true", help="also NNCF's int8 on OpenVINO (nncf must be installed)")
    ap.add_argument("--noise", type=int, default=200,
                    help="OASIS photos for the error structure of the int8 engine (0: skip)")
    ap.add_argument("--skip-variants", action="store_true", help="only the error structure")
    ap.add_argument("--data-root", default=os.environ.get("EMOSYNTH_DATA", "../shared/data"))
    args = ap.parse_args()

    predictor = Predictor.load(None)
    ex = predictor.extractor()
    oasis = load_dataset("oasis", args.data_root)
    idx = np.random.default_rng(0).choice(len(oasis.paths), size=min(args.n, len(oasis.paths)), replace=False)
    images = np.stack([ex.load_image(oasis.paths[i]) for i in sorted(idx)])
    x = (images.transpose(0, 3, 1, 2) / 255.0).astype(np.float32)
    parts = {p.config.backbone: p.onnx_path("fp32") for p in ex.parts}
    names = list(parts)
    fp32 = {n: ort_session(parts[n]) for n in names}
    base = {n: np.concatenate([fp32[n].run(None, {"images": x[i:i + 32]})[0] for i in range(0, len(x), 32)])
            for n in names}
    ref = predictor.predict_features(np.concatenate([base[n] for n in names], 1))["vad"]
    print(f"CPU {cpu_name()} (VNNI: {cpu_has_vnni()}, native bf16: {cpu_has_native_bf16()}), "
          f"{torch.get_num_threads()} threads; agreement on {len(x)} OASIS photos; bound {AGREEMENT_BOUND}; "
          f"load {os.getloadavg()[0]:.1f}", flush=True)
    cal16, cal64 = calibration_images(ex.input_size, 16), calibration_images(ex.input_size, 64)
    variants = [("ORT MinMax, 16 (the engine)", dict(calib=cal16, method="MinMax", exclude_last=0)),
                ("ORT MinMax, 64", dict(calib=cal64, method="MinMax", exclude_last=0)),
                ("ORT Percentile, 64", dict(calib=cal64, method="Percentile", exclude_last=0)),
                ("ORT Entropy, 64", dict(calib=cal64, method="Entropy", exclude_last=0)),
                ("ORT MinMax, 64, last 2 convs fp32", dict(calib=cal64, method="MinMax", exclude_last=2))]
    if args.nncf:
        variants += [("NNCF MIXED, fast bias corr.", dict(nncf=True, fast=True)),
                     ("NNCF MIXED, bias correction", dict(nncf=True, fast=False))]
    if args.noise:
        noise(predictor, oasis, args.noise)
    if args.skip_variants:
        return
    print(f"{'variant':36s} {'backbone':20s} {'int8 img/s':>10s} {'fp32 img/s':>10s} "
          f"{'max|dV|':>8s} {'max|dA|':>8s} {'max|dD|':>8s}")
    with tempfile.TemporaryDirectory() as tmp:
        for label, kw in variants:
            for n in names:
                if kw.get("nncf"):
                    run = nncf_int8(parts[n], cal64, kw["fast"])
                else:
                    run = ort_runner(ort_static(parts[n], Path(tmp), **kw))
                feats = dict(base)
                feats[n] = np.concatenate([run(x[i:i + 32]) for i in range(0, len(x), 32)])
                d = np.abs(predictor.predict_features(np.concatenate([feats[k] for k in names], 1))["vad"]
                           - ref).max(0)
                r_q = rate(run, x)
                r_f = rate(lambda a, n=n: fp32[n].run(None, {"images": a})[0], x)
                print(f"{label:36s} {n:20s} {r_q:10.1f} {r_f:10.1f} {d[0]:8.4f} {d[1]:8.4f} {d[2]:8.4f}",
                      flush=True)


if __name__ == "__main__":
    main()
