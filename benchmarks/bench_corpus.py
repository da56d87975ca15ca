"""``emosynth predict --out`` over a corpus: its rate against the engine's batch rate, and its memory.

    python benchmarks/bench_corpus.py                  # 10,000 images (OASIS, Emotion6, BASS repeated)
    python benchmarks/bench_corpus.py --n 1000 --out-format csv --workers 1
    python benchmarks/bench_corpus.py --engine openvino-bf16   # the opt-in engine, on CPUs with native bf16

Builds a corpus of ``--n`` files in nested folders (50 a folder) (hard links to the data sets' photos, repeated:
distinct paths, real JPEGs), then runs the real command, ``emosynth predict CORPUS --out
scores.parquet -q``, in a subprocess, twice: on a quarter of the corpus and on all of it. Prints
each run's images/s and its peak resident memory (``wait4``'s ru_maxrss: the largest process), and
the engine's batch rate (the same model and engine scoring one preloaded batch, no decoding or
writing), measured in the same run before and after. Memory is flat when the full run's peak is
no larger than the quarter's by more than noise.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from emosynth.models import Predictor
from emosynth.models.features import cpu_name


def build_corpus(root: Path, n: int, data_root: Path) -> Path:
    photos = sorted((data_root / "oasis" / "images").glob("*.jpg"))
    photos += sorted((data_root / "emotion6" / "images").rglob("*.jpg"))
    photos += sorted((data_root / "bass").rglob("*.png")) + sorted((data_root / "bass").rglob("*.jpg"))
    corpus = root / "corpus"
    for i in range(n):
        src = photos[i % len(photos)]
        d = corpus / f"{i // 1000:03d}" / f"{(i // 50) % 20:02d}"
        d.mkdir(parents=True, exist_ok=True)
        dst = d / f"{i:07d}{src.suffix.lower()}"
        try:
            os.link(src, dst)
        except OSError:
            shutil.copyfile(src, dst)
    return corpus


def batch_rate(predictor: Predictor, images: np.ndarray, engine: str, repeats: int = 2) -> float:
    predictor.predict_arrays(images, engine=engine)  # warm-up of the timed shape
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        predictor.predict_arrays(images, engine=engine)
        best = min(best, time.perf_counter() - t)
    return len(images) / best


def run_predict(inputs: list[Path], out: Path, args) -> tuple[float, float, str]:
    """(images/s as the command reports it — from the start of the corpus run, model loaded —, peak RSS in
    MiB, the command's summary line) of one ``emosynth predict --out`` subprocess."""
    cmd = [sys.executable, "-m", "emosynth.cli", "predict", *map(str, inputs), "--out", str(out), "-q",
           "--batch", str(args.batch), "--engine", args.engine]
    if args.workers is not None:
        cmd += ["--workers", str(args.workers)]
    with tempfile.TemporaryFile() as so, tempfile.TemporaryFile() as se:
        proc = subprocess.Popen(cmd, stdout=so, stderr=se)
        _, status, usage = os.wait4(proc.pid, 0)
        so.seek(0)
        se.seek(0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"predict failed: {se.read().decode()[-400:]}")
        line = so.read().decode().strip()
    rate = float(line.rsplit("(", 1)[1].split(" images/s")[0])
    return rate, usage.ru_maxrss / 1024, line


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--out-format", default="parquet", choices=["csv", "jsonl", "parquet"])
    ap.add_argument("--engine", default="auto", help="the engine of both the command and the batch rate")
    ap.add_argument("--data-root", default=os.environ.get("EMOSYNTH_DATA", "../shared/data"))
    args = ap.parse_args()

    predictor = Predictor.load()
    ex = predictor.extractor(args.engine)
    with tempfile.TemporaryDirectory(prefix="bench-corpus-") as tmp:
        tmp = Path(tmp)
        corpus = build_corpus(tmp, args.n, Path(args.data_root))
        some = sorted(corpus.rglob("*.jpg"))[: args.batch]
        images = np.stack([ex.load_image(p) for p in some])
        load0 = os.getloadavg()[0]
        print(f"CPU {cpu_name()}, {os.cpu_count()} cores; model {predictor.config.backbone}, engine "
              f"{','.join(p.engine for p in (ex.parts or [ex]))}; {args.n} images, batch {args.batch}; "
              f"load {load0:.1f}", flush=True)
        before = batch_rate(predictor, images, args.engine)
        leaves = sorted(d for d in corpus.glob("*/*") if d.is_dir())  # 50 images each
        quarter = leaves[: max(1, len(leaves) // 4)]
        q_rate, q_rss, q_line = run_predict(quarter, tmp / f"quarter.{args.out_format}", args)
        f_rate, f_rss, f_line = run_predict([corpus], tmp / f"scores.{args.out_format}", args)
        after = batch_rate(predictor, images, args.engine)
        engine = (before + after) / 2
        print(f"engine batch rate      {engine:8.2f} images/s (before {before:.2f}, after {after:.2f})")
        print(f"predict --out, quarter {q_rate:8.2f} images/s, peak RSS {q_rss:7.1f} MiB  [{q_line}]")
        print(f"predict --out, all     {f_rate:8.2f} images/s, peak RSS {f_rss:7.1f} MiB  [{f_line}]")
        print(f"corpus rate / engine batch rate: {f_rate / engine:.2f}; peak RSS all / quarter: "
              f"{f_rss / q_rss:.2f}; load {load0:.1f} → {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
