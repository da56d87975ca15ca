"""Differentiable quality diversity (CMA-MEGA, Fontaine & Nikolaidis 2021) with ribs.

Each iteration first asks every ``GradientArborescenceEmitter`` for its solution point θ, scores
it as any other image (the ``Evaluator``: the archive sees the same fast-path scores as for every
other solution) and takes the gradients of the objective and the measures with respect to θ
through the predictor's torch module (``GradientJudge``); then the emitters branch out along those
gradients (θ + Σ c_j ∇_j, coefficients from CMA-ES) and the batch is scored and told as usual.
"""

from __future__ import annotations

import json

import numpy as np
import torch
from ribs.emitters import GradientArborescenceEmitter

from ._encodings import make_encoding
from ._fitness import LUMA, JudgeSpec, judge_outputs, judges_input_size


class MegaEmitter(GradientArborescenceEmitter):
    """ribs' gradient arborescence emitter with two additions.

    * Box bounds on the genes (ribs leaves them out: bounding DQD is open). Here the bound is a
      projection: solutions are clipped to the box, and so is the solution point after each
      gradient step — projected gradient ascent, as for the pixels encoding's [0, 1] colours.
    * A ``label`` (category spaces): the emitter works for that label alone, so on a restart it
      starts again from one of that label's two weakest elites, not from any elite of the archive:
      with brightness bins, the cells of the label that lag are the ones revisited (with one cell
      per label, its one elite).
    * ``frontier`` (grid archives without a label, e.g. the VA plane): a restart starts from an elite
      with an empty neighbouring cell (of the 4 along the grid's axes), chosen at random, rather than
      from any elite: once the archive's middle is filled, most elites are surrounded by others, and a
      restart there climbs cells already held.

    Args:
        archive: The ribs archive the emitter fills.
        lower: Lower bound of every gene (None: unbounded below).
        upper: Upper bound of every gene (None: unbounded above).
        label: Category label the emitter works for alone (category spaces; None: any elite).
        frontier: Restart from an elite next to an empty cell (grid archives, no label).
        **kwargs: Passed on to ``GradientArborescenceEmitter`` (``seed`` also seeds the restart choice).
    """

    def __init__(self, archive, *, lower: float | None = None, upper: float | None = None,
                 label: int | None = None, frontier: bool = False, **kwargs):
        super().__init__(archive, **kwargs)
        self.lower, self.upper, self.label = lower, upper, label
        self.frontier = frontier and label is None
        self._restart_rng = np.random.default_rng(kwargs.get("seed"))

    @property
    def bounded(self) -> bool:
        return self.lower is not None or self.upper is not None

    def ask_dqd(self):
        if self.bounded:  # a restart from an elite or x0 is inside already; a gradient step may not be
            theta = self._grad_opt.theta
            np.clip(theta, self.lower, self.upper, out=theta)
        return super().ask_dqd()

    def ask(self):
        out = super().ask()
        return np.clip(out, self.lower, self.upper) if self.bounded else out

    def tell(self, solution, objective, measures, add_info, **fields):
        restarts = self.restarts
        super().tell(solution, objective, measures, add_info, **fields)
        if self.label is not None and self.restarts > restarts:
            data = self.archive.data(["solution", "measures", "objective"])
            mine = np.flatnonzero(np.floor(data["measures"][:, 0]).astype(int) == self.label)
            if len(mine):
                weakest = mine[np.argsort(data["objective"][mine], kind="stable")[:2]]
                self._grad_opt.reset(data["solution"][weakest[self._restart_rng.integers(len(weakest))]])
        elif self.frontier and self.restarts > restarts:
            edge = frontier_elites(self.archive)
            if len(edge):
                self._grad_opt.reset(edge[self._restart_rng.integers(len(edge))])


def frontier_elites(archive) -> np.ndarray:
    """The solutions of a grid archive's elites that have an empty neighbouring cell (one step along an
    axis, inside the grid), in the archive's order.

    Args:
        archive: A ribs ``GridArchive``.

    Returns:
        Array (n, solution_dim) of those elites' solutions; (0, solution_dim) when none has one.
    """
    data = archive.data(["solution", "index"])
    if not len(data["index"]):
        return np.zeros((0, archive.solution_dim))
    dims = np.asarray(archive.dims)
    grid = np.asarray(archive.int_to_grid_index(data["index"]))
    filled = np.zeros(dims, dtype=bool)
    filled[tuple(grid.T)] = True
    edge = np.zeros(len(grid), dtype=bool)
    for axis in range(len(dims)):
        for step in (-1, 1):
            nb = grid.copy()
            nb[:, axis] += step
            inside = (nb[:, axis] >= 0) & (nb[:, axis] < dims[axis])
            empty = np.zeros(len(grid), dtype=bool)
            empty[inside] = ~filled[tuple(nb[inside].T)]
            edge |= empty
    return data["solution"][edge]


class GradientJudge:
    """Jacobians of a space's objective and measures with respect to genomes, through the predictors' torch modules.

    The same function the fast path scores, mirror-image averaging
    included: a gradient of one view alone climbs that view, and for a label such as anger the
    scores of an image and its mirror image then drift apart (0.75 against 0.21) while their
    mean, the told objective, stalls. Under random transforms the outputs of every
    (model, transform) pair are averaged, as the scores are.

    Args:
        spec: What scores the images: the encoding, and the judges or the predictor models.
        space: The behaviour space whose ``differentiable`` objective and measures are differentiated.
    """

    def __init__(self, spec: JudgeSpec, space):
        from ..models.ensemble import PredictorEnsemble
        from ..models.predictor import Predictor

        self.spec, self.space = spec, space
        self.encoding = make_encoding(**json.loads(spec.encoding))
        if spec.judges:
            from ..judges import parse_judges

            self.judges, self.ensemble = parse_judges(spec.judges), None
            self.input_size = judges_input_size(self.judges)
        else:
            self.judges = None
            self.ensemble = PredictorEnsemble([Predictor.load(m) for m in spec.models], transforms=spec.transforms)
            self.input_size = self.ensemble.input_size

    def jacobian(self, genomes: np.ndarray, key: tuple[int, ...], labels=None, chunk: int = 4) -> np.ndarray:
        """(n, 1 + measures, solution_dim): the objective's gradient, then each measure's (zero
        where the measure is constant for an emitter, e.g. the category column).

        The networks run ``chunk`` genomes at a time: their activations, kept for the backward
        pass, are what costs memory (14 emitters' points through two backbones, both mirror
        views, took 8 GB at once). Rows are independent images (eval mode), so the gradient of a
        chunk's sum is each row's own; the random transforms are drawn once for the whole batch."""
        g = torch.tensor(np.asarray(genomes), dtype=torch.float32, requires_grad=True)
        x = self.encoding.render_torch(g, self.input_size)
        brightness = (x * LUMA).sum(1).mean(dim=(1, 2))
        if self.judges is not None:
            return self._judges_jacobian(g, x, brightness, labels)
        rng = np.random.default_rng([*key, 1 << 21])  # apart from the scoring chunks (seed, it, chunk)
        views = self.ensemble.views(x, rng)
        n = len(genomes)
        jac = None
        for start in range(0, n, chunk):
            rows = slice(start, min(start + chunk, n))
            outputs = self.ensemble.forward([view[rows] for view in views], flip=True)
            objective, measures = self.space.differentiable(
                outputs, brightness[rows], None if labels is None else np.asarray(labels)[rows])
            funcs = [objective, *measures]
            if jac is None:
                jac = np.zeros((n, len(funcs), g.shape[1]))
            for j, f in enumerate(funcs):
                if f is not None:  # the render and transforms are shared by all chunks: keep their graph
                    (grad,) = torch.autograd.grad(f.sum(), g, retain_graph=True)
                    jac[rows, j] = grad[rows].numpy()
            del outputs, objective, measures, funcs  # frees this chunk's activations
        return jac

    def _judges_jacobian(self, g, x, brightness, labels) -> np.ndarray:
        """With judges: the gradient of the function the points were scored by (``judge_outputs``:
        an ensemble judge's fixed views per image), the colour judges' own gradients included."""
        outputs = judge_outputs(self.judges, x)
        objective, measures = self.space.differentiable(outputs, brightness, labels)
        funcs = [objective, *measures]
        jac = np.zeros((g.shape[0], len(funcs), g.shape[1]))
        for j, f in enumerate(funcs):
            if f is not None:
                (grad,) = torch.autograd.grad(f.sum(), g, retain_graph=j < len(funcs) - 1)
                jac[:, j] = grad.numpy()
        return jac
