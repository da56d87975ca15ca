"""Spaces: how scores become a MAP-Elites archive's cells, measures and objectives.

* ``category`` — one cell per label (optionally × brightness bins); an image is offered to
  every label's cell, with that label's predicted probability (0–1) as its objective.
* ``va`` / ``vad`` — a grid of ``cells`` per dimension over the SAM 1–9 scale; an image lands
  in the cell holding its predicted (V, A[, D]) and its objective is minus the Euclidean
  distance (scale points) between its predictions and that cell's centre, the cell's target.
  With random transforms or an ensemble, the cell comes from the mean prediction and the
  objective is the mean over the (model, transform) pairs of minus that distance.
* ``va`` / ``vad`` with judges (``ConsensusSpace``, ``evolve --judges``) — the cell comes from the
  mean over the judges of each judge's V/A(/D) (a dimension is averaged over the judges that judge
  it), each judge's objective is minus its distance to the cell's centre over the dimensions it
  judges, and the judges' objectives are combined by ``emosynth.judges.combine`` (softmin: never
  better than the worst judge's objective plus ``tau``·log J, so an image one judge places far
  from its cell gets a low objective whatever the others say). A category space has no judges
  other than the default: the colour judges have no categories (``evolve`` refuses the combination).
"""

from __future__ import annotations

import math

import numpy as np
from ribs.archives import GridArchive

from ..config import ConfigError
from ..emotions import DIMENSIONS, SAM_MAX, SAM_MIN
from ..errors import ModelError, SynthError

SPACES = ("category", "va", "vad")
DESCRIPTORS = ("brightness",)
GRID_EPSILON = 1e-6  # GridArchive's default epsilon
#: consensus (``ConsensusSpace``): the rule of ``emosynth.judges.combine`` and its temperature, in scale
#: points. The objective here is a distance (points), not the squared error (points²) the judges
#: package measured its τ = 1 on; 0.5 points keeps softmin's bound (worst judge + τ·log J: 0.35 points
#: for two judges) within half a cell of an 8 × 8 grid while its gradient still reaches every judge.
CONSENSUS_METHOD = "softmin"
CONSENSUS_TAU = 0.5


class Space:
    """Base: ``dims`` cells per measure over ``ranges``; ``assess`` turns scores into objectives.

    Args:
        dims: Number of cells along each measure.
        ranges: (low, high) of each measure (V/A/D: the SAM 1–9 scale).
    """

    name = "space"
    measure_names: tuple[str, ...] = ()

    def __init__(self, dims: list[int], ranges: list[tuple[float, float]]):
        self.dims, self.ranges = list(dims), list(ranges)

    @property
    def cells(self) -> int:
        return int(np.prod(self.dims))

    def archive(self, solution_dim: int, n_categories: int, seed: int) -> GridArchive:
        return GridArchive(solution_dim=solution_dim, dims=self.dims, ranges=self.ranges, seed=seed,
                           epsilon=GRID_EPSILON,
                           qd_score_offset=self.qd_offset,
                           extra_fields={"vad": ((3,), np.float64), "probabilities": ((n_categories,), np.float64),
                                         "brightness": ((), np.float64)})

    qd_offset = 0.0

    def check(self, model, where: str):
        """Raise ModelError when ``model`` lacks a head this space needs."""

    def assess(self, scores: dict, labels: np.ndarray | None = None) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """(objective, measures, rows) insertions; the first covers every row and is told to the
        emitters, the rest (if any) go straight into the archive. ``labels`` (category only): the
        label each row's emitter works for, told in place of the argmax label."""
        raise NotImplementedError

    def mean_vad(self, scores: dict) -> np.ndarray:
        """(n, 3) the V/A/D stored with each elite: the mean over the judging pairs (or judges)."""
        return scores["vad"].mean(0)

    def differentiable(self, outputs: list[dict], brightness, labels: np.ndarray | None = None):
        """The told objective and measures as torch functions of the predictor's outputs, for their
        gradients: ``outputs`` holds one {"logits", "vad_raw"} per (model, transform) pair (n rows
        each), ``brightness`` (n,) the images' mean luminance. Returns (objective (n,), [measure
        (n,) or None where its gradient is zero]), consistent with ``assess``."""
        raise NotImplementedError

    def centres(self, grid_index: np.ndarray) -> np.ndarray:
        """Cell centres (n, measures) for grid indices (n, measures)."""
        lo = np.array([r[0] for r in self.ranges])
        width = np.array([(r[1] - r[0]) / d for r, d in zip(self.ranges, self.dims)])
        return lo + (np.asarray(grid_index) + 0.5) * width

    def target(self, grid_index) -> dict:
        """items.csv target columns for one cell."""
        raise NotImplementedError

    def cell_name(self, grid_index) -> str:
        raise NotImplementedError

    def describe(self) -> dict:
        return {"name": self.name, "dims": self.dims, "ranges": self.ranges, "measures": list(self.measure_names),
                "cells": self.cells}


class CategorySpace(Space):
    """One cell per label of the model's category head, × ``bins`` brightness bins when ``bins`` > 1.

    Args:
        labels: The category head's labels, one cell column each.
        bins: Brightness bins (mean luma in [0, 1]) per label; 1: no brightness measure.
    """

    name = "category"

    def __init__(self, labels: tuple[str, ...], bins: int = 1):
        self.labels, self.bins = tuple(labels), bins
        dims, ranges = [len(labels)], [(0.0, float(len(labels)))]
        if bins > 1:
            dims.append(bins)
            ranges.append((0.0, 1.0))
        super().__init__(dims, ranges)
        self.measure_names = ("category", "brightness") if bins > 1 else ("category",)

    def check(self, model, where):
        if not model.labels:
            raise ModelError(f"{where} has no category head, which --space category needs; "
                             "use a model trained on a data set with categories (e.g. emotion6)")
        if tuple(model.labels) != self.labels:
            raise ModelError(f"{where} predicts categories {model.labels}, "
                             f"not {list(self.labels)} as the other models do")

    def assess(self, scores, labels=None):
        probs = scores["probabilities"].mean(0)  # mean over (model, transform): that of each label's p
        n, k = probs.shape
        rows = np.arange(n)
        best = probs.argmax(1) if labels is None else np.asarray(labels)
        out = []
        # The argmax (or emitter's) label first (told to the emitters), then every other label's cell.
        for shift in range(k):
            label = (best + shift) % k
            measures = (label + 0.5)[:, None]
            if self.bins > 1:
                measures = np.column_stack([measures, np.clip(scores["brightness"], 0, 1)])
            out.append((probs[rows, label], measures, rows))
        return out

    def differentiable(self, outputs, brightness, labels=None):
        import torch

        rows = torch.arange(brightness.shape[0])
        if labels is None:  # as assess: the argmax of the mean probabilities
            labels = torch.stack([torch.softmax(o["logits"].float(), 1) for o in outputs]).mean(0).argmax(1)
        lab = torch.as_tensor(np.asarray(labels), dtype=torch.long)
        # The label's log-probability (mean over pairs): its gradient does not vanish as p → 0 or 1,
        # and ribs normalises gradients, so only the direction matters.
        objective = torch.stack([torch.log_softmax(o["logits"].float(), 1)[rows, lab] for o in outputs]).mean(0)
        measures = [None] + ([brightness] if self.bins > 1 else [])  # the label column is fixed per emitter
        return objective, measures

    def target(self, grid_index):
        t = {"target_category": self.labels[int(grid_index[0])]}
        if self.bins > 1:
            b = int(grid_index[1])
            t["target_brightness"] = f"{b / self.bins:.2f}-{(b + 1) / self.bins:.2f}"
        return t

    def cell_name(self, grid_index):
        name = self.labels[int(grid_index[0])]
        return f"{name}-b{int(grid_index[1])}" if self.bins > 1 else name


class AffectSpace(Space):
    """A ``cells``-per-dimension grid over the SAM 1–9 scale for valence–arousal or V–A–dominance.

    Args:
        name: 'va' (valence–arousal) or 'vad' (valence–arousal–dominance).
        cells: Cells per dimension.
    """

    def __init__(self, name: str, cells: int):
        self.name = name
        self.ndim = 2 if name == "va" else 3
        self.measure_names = DIMENSIONS[: self.ndim]
        super().__init__([cells] * self.ndim, [(SAM_MIN, SAM_MAX)] * self.ndim)
        # The worst error inside a cell (centre to corner): QD-score counts objective - offset ≥ 0,
        # so it only grows as cells fill and improve.
        self.qd_offset = -math.sqrt(self.ndim) * (SAM_MAX - SAM_MIN) / cells / 2

    def check(self, model, where):
        missing = [d for d in self.measure_names if d not in model.targets_]
        if missing:
            raise ModelError(f"{where} has no {' or '.join(missing)} head, which --space {self.name} needs")

    def _targets(self, measures: np.ndarray) -> np.ndarray:
        dims = np.array(self.dims)
        # The cell exactly as ribs' GridArchive.index_of computes it (its epsilon included).
        grid = np.clip(((dims * (measures - SAM_MIN) + GRID_EPSILON) / (SAM_MAX - SAM_MIN)).astype(np.int32),
                       0, dims - 1)
        return self.centres(grid)

    def assess(self, scores, labels=None):
        vad = scores["vad"][:, :, : self.ndim]  # (R, n, d)
        measures = np.clip(vad.mean(0), SAM_MIN, SAM_MAX)
        target = self._targets(measures)
        objective = -np.linalg.norm(vad - target[None], axis=2).mean(0)
        return [(objective, measures, np.arange(len(objective)))]

    def differentiable(self, outputs, brightness, labels=None):
        import torch

        # Unclamped heads: the clamp to 1–9 would stop the gradient at the scale's ends.
        vad = torch.stack([o["vad_raw"].float()[:, : self.ndim] for o in outputs])  # (R, n, d)
        measures = vad.mean(0)
        target = torch.as_tensor(self._targets(np.clip(measures.detach().numpy(), SAM_MIN, SAM_MAX)),
                                 dtype=vad.dtype)
        objective = -torch.linalg.vector_norm(vad - target[None], dim=2).mean(0)
        return objective, [measures[:, j] for j in range(self.ndim)]

    def target(self, grid_index):
        c = self.centres(np.asarray(grid_index)[None])[0]
        return {f"target_{d}": float(v) for d, v in zip(self.measure_names, c)}

    def cell_name(self, grid_index):
        c = self.centres(np.asarray(grid_index)[None])[0]
        return "_".join(f"{d[0]}{v:.2f}" for d, v in zip(self.measure_names, c))


class ConsensusSpace(AffectSpace):
    """A V–A(–D) grid judged by several judges at once (see the module docstring).

    Scores are ``vad`` (J, n, 3) on the SAM 1–9 scale, NaN where a judge does not judge.

    Args:
        name: 'va' or 'vad'.
        cells: Cells per dimension.
        judges: (name, dims) per judge, in the order their scores come (``dims``: the dimensions
            that judge judges, e.g. ``("valence", "arousal")``).
        method: The consensus rule of ``emosynth.judges.combine``.
        tau: The rule's temperature, in scale points.

    Raises:
        SynthError: No judges, a judge that judges none of the space's dimensions, or a dimension no
            judge judges.
    """

    def __init__(self, name: str, cells: int, judges, method: str = CONSENSUS_METHOD, tau: float = CONSENSUS_TAU):
        super().__init__(name, cells)
        self.judge_names = [str(n) for n, _ in judges]
        # (J, d): which of the space's dimensions each judge judges
        self.cover = np.array([[d in dims for d in self.measure_names] for _, dims in judges], dtype=bool)
        self.method, self.tau = method, float(tau)
        if not len(self.judge_names):
            raise SynthError("a consensus space needs at least one judge")
        for n, row in zip(self.judge_names, self.cover):
            if not row.any():
                raise SynthError(f"judge {n} judges none of {', '.join(self.measure_names)}, which --space "
                                 f"{self.name} needs; leave it out of --judges")
        for j, d in enumerate(self.measure_names):
            if not self.cover[:, j].any():
                raise SynthError(f"no judge in --judges judges {d}, which --space {self.name} needs")

    def check(self, model, where):  # the judges were checked when the space was made
        pass

    def _mean(self, vad):
        """(J, n, d) → (n, d): per dimension, the mean over the judges that judge it."""
        m = self.cover[:, None, :]
        return np.where(m, vad, 0.0).sum(0) / m.sum(0)

    def mean_vad(self, scores):
        vad = scores["vad"]  # (J, n, 3)
        ok = np.isfinite(vad)
        count = ok.sum(0)
        total = np.where(ok, vad, 0.0).sum(0)
        return np.divide(total, count, out=np.full(total.shape, np.nan), where=count > 0)

    def _combine(self, objectives):

        from ..judges import combine

        return combine(objectives, self.method, self.tau)

    def assess(self, scores, labels=None):
        import torch

        vad = np.asarray(scores["vad"], dtype=np.float64)[:, :, : self.ndim]  # (J, n, d)
        measures = np.clip(self._mean(vad), SAM_MIN, SAM_MAX)
        target = self._targets(measures)
        diff = np.where(self.cover[:, None, :], vad - target[None], 0.0)
        per_judge = -np.sqrt((diff * diff).sum(2))  # (J, n) minus each judge's distance, scale points
        objective = self._combine(torch.from_numpy(per_judge)).numpy()
        return [(objective, measures, np.arange(len(objective)))]

    def per_judge(self, scores) -> np.ndarray:
        """(J, n) each judge's objective (minus its distance to the cell centre), as ``assess`` combines."""
        vad = np.asarray(scores["vad"], dtype=np.float64)[:, :, : self.ndim]
        target = self._targets(np.clip(self._mean(vad), SAM_MIN, SAM_MAX))
        diff = np.where(self.cover[:, None, :], vad - target[None], 0.0)
        return -np.sqrt((diff * diff).sum(2))

    def differentiable(self, outputs, brightness, labels=None):
        import torch

        # one output per judge; unclamped heads, as the default space
        vad = torch.stack([o["vad_raw"].float()[:, : self.ndim] for o in outputs])  # (J, n, d), NaN: not judged
        m = torch.as_tensor(self.cover)[:, None, :]
        zero = torch.zeros_like(vad)
        measures = torch.where(m, vad, zero).sum(0) / m.sum(0)
        target = torch.as_tensor(self._targets(np.clip(measures.detach().numpy(), SAM_MIN, SAM_MAX)),
                                 dtype=vad.dtype)
        diff = torch.where(m, vad - target[None], zero)
        objective = self._combine(-torch.linalg.vector_norm(diff, dim=2))
        return objective, [measures[:, j] for j in range(self.ndim)]

    def describe(self):
        return {**super().describe(), "judges": self.judge_names,
                "consensus": {"method": self.method, "tau": self.tau, "units": "scale points (1-9)"}}


def make_space(name: str, *, cells: int = 12, descriptor: str | None = None, bins: int = 5,
               labels: tuple[str, ...] | None = None, judges=None) -> Space:
    """A space by name.

    Args:
        name: 'category', 'va' or 'vad'.
        cells: Cells per dimension (va / vad; 2–64).
        descriptor: Extra measure of a category space ('brightness') or None.
        bins: Brightness bins with a descriptor (at least 2).
        labels: The category head's labels (category space only; None: the Emotion6 labels).
        judges: (name, dims) per judge (va / vad only): makes a ``ConsensusSpace``; None: the default judge.

    Returns:
        A ``CategorySpace``, ``AffectSpace`` or ``ConsensusSpace``.

    Raises:
        SynthError: An unknown space or descriptor, or judges with the category space.
        ConfigError: Fewer than 2 bins with a descriptor, or cells outside 2–64.
    """
    if name not in SPACES:
        raise SynthError(f"unknown space {name!r}; choose one of {', '.join(SPACES)}")
    if name == "category" and judges is not None:
        raise SynthError("--space category cannot be judged by --judges other than default: the colour judges "
                         "have no categories (use --space va or vad, or --judges default)")
    if name == "category":
        if descriptor is not None and descriptor not in DESCRIPTORS:
            raise SynthError(f"unknown descriptor {descriptor!r}; choose {', '.join(DESCRIPTORS)}")
        if descriptor and bins < 2:
            raise ConfigError("bins", f"must be at least 2 with a {{descriptor}}, got {bins}")
        from ..emotions import EMOTION6_LABELS

        return CategorySpace(tuple(labels or EMOTION6_LABELS), bins if descriptor else 1)
    if not isinstance(cells, int) or cells < 2:
        raise ConfigError("cells", f"must be at least 2 per dimension, got {cells}")
    if cells > 64:
        raise ConfigError("cells", f"{cells} is more than 64 per dimension; the archive would be mostly empty")
    if judges is not None:
        return ConsensusSpace(name, cells, judges)
    return AffectSpace(name, cells)
