"""Scoring genomes: render → (random transforms) → predictor fast path, in chunks, serial or on Dask.

A chunk is always scored by the same code on the same inputs — whether in this process, a
local worker process or a remote Dask worker — and the random transforms of chunk c of
iteration t are drawn from ``default_rng([seed, t, c])``. So the scores, and the archive built
from them, do not depend on how many workers there are.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from ._encodings import make_encoding

#: luminance weights (Rec. 601) for the brightness descriptor
LUMA = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)


@dataclass(frozen=True)
class JudgeSpec:
    """Everything a worker needs to score genomes; small and picklable.

    Attributes:
        encoding: JSON of the encoding's ``spec()``.
        models: Model folders; their predictions are averaged.
        transforms: Random transforms per image and model (0: the image as rendered).
        engine: Inference engine of the fast path ('auto', or as the predictor accepts).
        threads: torch / ONNX Runtime threads in a worker (None: leave as is).
        judges: ``--judges`` spec ('consensus', 'a,b'); None: the predictors in ``models`` (default).
    """

    encoding: str  # JSON of the encoding's spec()
    models: tuple[str, ...]  # model folders; their predictions are averaged
    transforms: int = 0  # random transforms per image and model (0: the image as rendered)
    engine: str = "auto"
    threads: int | None = None  # torch / ONNX Runtime threads in a worker (None: leave as is)
    judges: str | None = None  # ``--judges`` spec ('consensus', 'a,b'); None: the predictors above (default)


def judges_input_size(judges) -> int:
    """The side (px) to render at for ``judges``: the largest network input among them.

    Args:
        judges: The judges (torch modules, as ``emosynth.judges.parse_judges`` returns them).

    Returns:
        The side in pixels (224 when only colour judges judge: they take any size).
    """
    sizes = [int(m.input_size) for j in judges for m in j.modules() if isinstance(getattr(m, "input_size", None), int)]
    return max(sizes, default=224)


def _batch_dependent(judge) -> bool:
    """A judge whose verdict on an image could depend on its batch: one that says it is not batch
    invariant, or (judges from elsewhere) one with random views inside that does not say."""
    return any(not getattr(m, "batch_invariant", not getattr(m, "transforms", 0)) for m in judge.modules())


def judge_outputs(judges, images: torch.Tensor, fast: bool = False,
                  engine: str = "auto") -> list[dict[str, torch.Tensor]]:
    """Each judge's output dict on ``images``.

    Every judge must give an image the same
    verdict in any batch (an ensemble applies one fixed set of views to every image), so scoring, the
    gradients, workers and a re-check of the archive all see one function of the image; a judge that
    does not say so judges each image alone.

    Args:
        judges: The judges.
        images: Float tensor (N, 3, H, W) in [0, 1].
        fast: Without gradients, through each judge's ``score`` on ``engine`` (ONNX Runtime for the networks).
        engine: Inference engine when ``fast``.

    Returns:
        One output dict per judge (torch tensors such as ``vad`` (N, 3) on the SAM 1–9 scale and
        ``probabilities``).
    """
    outs = []
    for j in judges:
        if fast:
            outs.append(j.score(images, engine))
        elif len(images) > 1 and _batch_dependent(j):
            parts = [j(images[i:i + 1]) for i in range(len(images))]
            outs.append({k: torch.cat([p[k] for p in parts]) for k in ("vad_raw", "vad", "probabilities")
                         if k in parts[0]})
        else:
            outs.append(j(images))
    return outs


def judge_scores(judges, images: torch.Tensor, engine: str = "auto") -> dict[str, np.ndarray]:
    """Each judge's verdict on ``images``, as NumPy arrays.

    Args:
        judges: The judges.
        images: Float tensor (N, 3, H, W) in [0, 1].
        engine: Inference engine of the judges' fast path.

    Returns:
        ``vad`` (J, n, 3) on the SAM 1–9 scale, NaN where a judge does not judge that dimension;
        ``probabilities`` (1, n, K): the mean of the judges with the first categorised judge's labels
        (zeros (1, n, 1) when none has categories).
    """
    outs = judge_outputs(judges, images, fast=True, engine=engine)
    vad = np.stack([o["vad"].double().numpy() for o in outs])
    labels = next((j.labels for j in judges if j.labels), [])
    probs = [o["probabilities"].double().numpy() for j, o in zip(judges, outs) if labels and j.labels == labels]
    p = np.mean(probs, axis=0) if probs else np.zeros((images.shape[0], 1))
    return {"vad": vad, "probabilities": p[None]}


class Judge:
    """The encoding and the ensemble of predictors (or the judges) for one ``JudgeSpec``, loaded once per process.

    Args:
        spec: What to load.
    """

    def __init__(self, spec: JudgeSpec):
        from ..models.ensemble import PredictorEnsemble
        from ..models.predictor import Predictor

        if spec.threads:
            torch.set_num_threads(spec.threads)
        self.spec = spec
        self.encoding = make_encoding(**json.loads(spec.encoding))
        if spec.judges:
            from ..judges import parse_judges

            self.judges, self.ensemble = parse_judges(spec.judges), None
            self.input_size = judges_input_size(self.judges)
        else:
            self.judges = None
            self.ensemble = PredictorEnsemble([Predictor.load(m) for m in spec.models], transforms=spec.transforms)
            self.input_size = self.ensemble.input_size

    def score(self, genomes: np.ndarray, key: tuple[int, ...]) -> dict[str, np.ndarray]:
        """Per genome: ``vad`` (R, n, 3) on 1–9 and ``probabilities`` (R, n, K) for each of the R
        (transform, model) pairs, and ``brightness`` (n,) the mean luminance in [0, 1] of the image.
        With judges (``spec.judges``): R is the judges, each judged through its own torch function
        (its transforms are its own, fixed by its seed), the colour judges on the same rendered image."""
        x = self.encoding.render(genomes, self.input_size)
        brightness = (x * LUMA).sum(1).mean(dim=(1, 2)).numpy().astype(np.float64)
        if self.judges is not None:
            return {**judge_scores(self.judges, x, self.spec.engine), "brightness": brightness}
        scores = self.ensemble.predict_members(x, np.random.default_rng(list(key)), engine=self.spec.engine)
        return {**scores, "brightness": brightness}


_JUDGES: dict[JudgeSpec, Judge] = {}


def score_chunk(spec: JudgeSpec, genomes: np.ndarray, key: tuple[int, ...]) -> dict[str, np.ndarray]:
    """Score one chunk; the judge (models, ONNX sessions) is loaded once per process.

    Args:
        spec: What scores the genomes.
        genomes: (n, solution_dim) genomes.
        key: Seed of the chunk's random transforms (e.g. seed, iteration, chunk).

    Returns:
        ``vad`` (R, n, 3) on the SAM 1–9 scale and ``probabilities`` (R, n, K) per (transform, model)
        pair or judge, and ``brightness`` (n,) the mean luminance in [0, 1] of each image.
    """
    if spec not in _JUDGES:
        _JUDGES.clear()  # one judge per process: models are large
        _JUDGES[spec] = Judge(spec)
    return _JUDGES[spec].score(genomes, key)


def _concat(parts: list[dict]) -> dict[str, np.ndarray]:
    return {"vad": np.concatenate([p["vad"] for p in parts], axis=1),
            "probabilities": np.concatenate([p["probabilities"] for p in parts], axis=1),
            "brightness": np.concatenate([p["brightness"] for p in parts])}


class Evaluator:
    """Scores a batch of genomes in fixed chunks, serially or on Dask.

    Serially, on local worker processes (``workers`` ≥ 1, a dask.distributed LocalCluster) or on an
    existing Dask cluster (``address``). Use as a context manager so the cluster stops; entering it
    raises ``SynthError`` when the Dask scheduler cannot be reached.

    Args:
        spec: What scores the genomes.
        chunk: Genomes per chunk.
        workers: Local worker processes (0: serial, unless ``address`` is given).
        address: An existing Dask scheduler, e.g. 'tcp://host:8786' (None: none).
    """

    def __init__(self, spec: JudgeSpec, chunk: int = 32, workers: int = 0, address: str | None = None):
        self.spec, self.chunk, self.workers, self.address = spec, chunk, workers, address
        self._client = self._cluster = None

    def __enter__(self):
        if self.address or self.workers:
            self._start()
        return self

    def _start(self):
        import logging

        from distributed import Client, LocalCluster

        from ..errors import SynthError

        for name in ("distributed", "distributed.worker", "distributed.scheduler", "distributed.nanny"):
            logging.getLogger(name).setLevel(logging.ERROR)
        try:
            if self.address:
                self._client = Client(self.address, timeout="20s")
            else:
                # Share the cores between the worker processes instead of oversubscribing them.
                threads = max(1, (os.cpu_count() or 1) // self.workers)
                self.spec = JudgeSpec(**{**self.spec.__dict__, "threads": threads})
                self._cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True,
                                             dashboard_address=None, silence_logs=logging.ERROR)
                self._client = Client(self._cluster)
        except (OSError, TimeoutError) as err:
            raise SynthError(f"cannot reach the Dask scheduler {self.address or 'LocalCluster'}: "
                             f"{str(err).splitlines()[0] if str(err) else type(err).__name__}") from None

    def __exit__(self, *exc):
        if self._client is not None:
            self._client.close()
        if self._cluster is not None:
            self._cluster.close()
        self._client = self._cluster = None

    def __call__(self, genomes: np.ndarray, key: tuple[int, ...]) -> dict[str, np.ndarray]:
        chunks = [genomes[i:i + self.chunk] for i in range(0, len(genomes), self.chunk)]
        keys = [(*key, c) for c in range(len(chunks))]
        if self._client is None:
            return _concat([score_chunk(self.spec, g, k) for g, k in zip(chunks, keys)])
        from ..cluster import wait_result

        def submit(g, k):
            return self._client.submit(score_chunk, self.spec, g, k, pure=False)

        futures = [submit(g, k) for g, k in zip(chunks, keys)]
        where = self.address or "LocalCluster"
        return _concat([wait_result(self._client, f, where, resubmit=lambda g=g, k=k: submit(g, k),
                                    then="run it again with --resume")
                        for f, g, k in zip(futures, chunks, keys)])


ScoreFn = Callable[[np.ndarray, tuple], dict]
