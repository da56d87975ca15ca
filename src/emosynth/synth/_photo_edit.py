"""Emotion editing of photographs: Adam over an edit's genes (``_edit``) toward V/A/D targets.

``edit_photos(photos, targets, judge, config)`` edits every photo toward every target, batched:
each step renders the edits at the judge's working size, draws a random jitter / scale / rotation /
flip per image (``emosynth.transforms``) so the edit must survive them, and minimises

    Σ_set (V_d − target_d)²  +  keep · Σ_unset (V_d − before_d)²  +  ssim_weight · max(0, floor − SSIM)
    +  gene_l2 · mean(gene²)

over genes = tanh(u) (bounded, neutral at u = 0; u starts at the packaged warm start ``EditPrior``, a
fitted map of how far the valence target lies from the photo's own, or at 0 with ``start="neutral"``)
— an edit stops early, its genes frozen as they were checked, once on target (``EditConfig.stop_tol``)
— : the set dimensions move toward their targets, the
unset ones (of valence and arousal) keep the photo's own predicted value, and the content stays
(SSIM on grey, Gaussian window σ 1.5 px, against the unedited photo at the same size). The result
is re-applied at the photo's full resolution from its recipe, judged again and its SSIM measured at
that size. A judge is any callable taking float (N, 3, H, W) in [0, 1] and returning a dict with
``"vad_raw"`` (N, 3), unclamped V/A/D on the SAM 1–9 scale (``Predictor.module(flip=False)``).

Or several judges at once: a ``judges.Consensus``. Then the target term is the consensus objective
(``Consensus.objective``: each judge's −mean squared error over the target dimensions it covers,
combined by a soft minimum, so an edit gains only what every judge agrees on), the keep term is the
mean over judges of each judge's own Σ_unset (V_d − before_d)² (a network ensemble among the judges
is optimised on the step's one random view, ``EditConfig.one_view``), and each result records the consensus
objective of the full-size edit (resized to the working size, judged one image at a time) and every
judge's verdict before and after.

``run_edit`` is the whole ``emosynth edit`` command: photos (files or folders) toward a target, a
V–A sweep or a saved recipe, judged by ``--judges`` and reported against held-out judges.

``write_edit_run`` writes the run directory: run.json, images/, recipes/<name>.json, items.csv
(``source``, before/after predictions, target, SSIM, the recipe's values) and before_after.png.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
import torch

from ..config import ConfigError, check_finite, check_int_at_least, check_positive, check_range, check_seed
from ..emotions import DIMENSIONS
from ._edit import (
    PARAMS,
    EditEncoding,
    apply_recipe,
    edit_tensor,
    gaussian_blur,
    genes_to_values,
    make_recipe,
    recipe_summary,
)

RUN_KIND = "run:edit"
#: ``EditConfig.start``'s choices
START_CHOICES = ("prior", "neutral")
#: the packaged warm start (``scripts/fit_edit_prior.py`` writes it)
EDIT_PRIOR_PATH = Path(__file__).with_name("edit_prior.json")
EDIT_PRIOR_FORMAT = "emosynth-edit-prior"
EDIT_PRIOR_VERSION = 1
#: the prior's features of (dV, dA), the target less the photo's own prediction (0 where unset)
PRIOR_FEATURES = ("tanh(max(dV, 0) / 2)", "tanh(min(dV, 0) / 2)", "tanh(max(dA, 0) / 2)", "tanh(min(dA, 0) / 2)")
Judge = Callable[[torch.Tensor], Mapping[str, torch.Tensor]]


@dataclass
class EditConfig:
    """How to edit. Targets and SSIM are on the SAM 1–9 scale and SSIM's 0–1 respectively.

    Attributes:
        steps: Adam steps (at least 0).
        lr: Adam's learning rate on the unbounded genes u (genes = tanh(u)).
        size: Side in pixels of the square the edit is optimised at (the judge's input size, ≥ 32).
        ssim_floor: Content preservation: SSIM (0–1) below this floor is penalised.
        ssim_weight: Penalty per unit of SSIM below ``ssim_floor``.
        ssim_bound: A hard lower bound on SSIM (0–1; at most ``ssim_floor`` is used): an edit that ends
            below it is drawn back along its genes toward the photo until it reaches it (0: no bound).
        keep_weight: Weight of keeping the unset dimensions (of valence, arousal) at the photo's own
            prediction.
        gene_l2: Weight of the mean squared gene: the smallest edit that reaches the target.
        transforms: Random jitter / scale / rotation / flips per step (False: none).
        warmup_steps: With ``transforms``, the first steps judge the edit as it is, no random view.
        jitter: Random translation per step, either way, as a fraction of the image side.
        scale: Random zoom per step, ``(low, high)`` factors, 0 < low ≤ high.
        degrees: Random rotation per step, up to this many degrees either way.
        colour: Random brightness / contrast / saturation multipliers per step, in
            [1 - colour, 1 + colour] (0: none).
        batch: Edits optimised together (photos × targets are split into batches of this many).
        stop_tol: Early stop: an edit stops once every set dimension is within this many SAM points of
            its target under every optimised judge, at SSIM ≥ ``ssim_floor``; 0: always run ``steps``.
        stop_patience: Steps in a row on target before an edit stops early.
        one_view: Under per-step transforms, optimise a consensus' network ensembles on the step's one
            random view instead of their own fixed views (×4 the cost); results are always scored by
            the judges as given.
        judge_size: With ``one_view``, the side (px) the consensus' networks see while optimising, one
            unmirrored view (the per-step random flips average the mirror over the steps); None: their
            own input size, mirror-averaged. Results are scored by the judges as given.
        max_side: The photo's longest side in pixels in the output (None: full resolution); the
            recipe applies at any size.
        seed: Random seed (also the grain seed of the edits).
        command: The command line recorded in run.json, or None.
    """

    #: Adam steps; 24 at lr 0.3 with judge_size 160: over 84 held-out photos the Lite2 valence gap is 1.62
    #: where 16 gave 1.39 (lr 0.45 at 16 steps: 1.40); a 512 px photo in 2.1 s and a 5 x 5 sweep in 36 s
    #: on a 2-core AMD EPYC (docs/results/editing.md, benchmarks/bench_edit.py)
    steps: int = 24
    #: Adam's learning rate on the unbounded genes u (genes = tanh(u))
    lr: float = 0.3
    #: the side of the square the edit is optimised at (the judge's input size)
    size: int = 224
    #: content preservation: SSIM below this floor is penalised (× ssim_weight per unit of SSIM)
    ssim_floor: float = 0.8
    ssim_weight: float = 30.0
    #: a hard bound below the soft floor: an edit that the target term pulled under it is drawn back along
    #: its genes toward the photo (bisection) until its SSIM reaches it; 2 of 336 benchmark edits had ended
    #: at 0.12 and 0.25 (docs/results/editing.md)
    ssim_bound: float = 0.6
    #: weight of keeping the unset dimensions (of valence, arousal) at the photo's own prediction
    keep_weight: float = 0.5
    #: weight of the mean squared gene: the smallest edit that reaches the target
    gene_l2: float = 0.05
    #: random jitter / scale / rotation / flips per step (False: none)
    transforms: bool = True
    #: with transforms, the first this many steps judge the edit as it is (no random view): the clean
    #: gradient, not one view's, decides which way each operation starts (docs/results/editing.md)
    warmup_steps: int = 3
    jitter: float = 0.05
    scale: tuple = (0.9, 1.1)
    degrees: float = 5.0
    colour: float = 0.0
    #: edits optimised together (photos × targets are split into batches of this many)
    batch: int = 16
    #: early stop: an edit stops (its genes frozen, no more compute) once every set dimension is
    #: within this many points of its target under every optimised judge, at SSIM ≥ ssim_floor,
    #: on ``stop_patience`` steps in a row; 0: always run ``steps`` steps
    stop_tol: float = 0.15
    stop_patience: int = 2
    #: under per-step transforms, a network ensemble in a consensus is optimised on the step's one
    #: random view (the expectation over views is taken across steps) instead of its own fixed
    #: views each step (×4 the cost); results are always scored by the judges as given
    one_view: bool = True
    #: with one_view, the side the consensus' networks see while optimising, unmirrored (None: their own
    #: input size, mirror-averaged); results are scored at the judges' own sizes (benchmarks/bench_edit.py)
    judge_size: int | None = 160
    #: the photo's longest side in the output (None: full resolution); the recipe applies at any size
    max_side: int | None = None
    #: where the genes start: "prior" (the packaged warm start, ``EditPrior``: a linear map of how far
    #: each set dimension's target lies from the photo's own prediction, fitted on OASIS edits; the
    #: genes are neutral wherever the target is the photo's own) or "neutral" (genes 0: the identity)
    start: str = "prior"
    seed: int = 0
    command: str | None = None

    def validate(self) -> None:
        """Check every setting.

        Raises:
            ConfigError: A setting is invalid (naming the parameter).
        """
        check_int_at_least("steps", self.steps, 0)
        check_positive("lr", self.lr)
        check_int_at_least("size", self.size, 32)
        check_range("ssim_floor", self.ssim_floor, 0, 1)
        check_range("ssim_bound", self.ssim_bound, 0, 1)
        for name in ("ssim_weight", "keep_weight", "gene_l2", "jitter", "degrees", "colour"):
            check_positive(name, getattr(self, name), allow_zero=True)
        if len(self.scale) != 2 or not 0 < check_finite("scale", self.scale[0]) <= check_finite("scale", self.scale[1]):
            raise ConfigError("scale", f"must be two factors 0 < low ≤ high, got {self.scale!r}")
        check_int_at_least("batch", self.batch, 1)
        check_positive("stop_tol", self.stop_tol, allow_zero=True)
        check_int_at_least("stop_patience", self.stop_patience, 1)
        check_int_at_least("warmup_steps", self.warmup_steps, 0)
        if self.start not in START_CHOICES:
            raise ConfigError("start", f"must be one of {', '.join(START_CHOICES)}, got {self.start!r}")
        if self.max_side is not None:
            check_int_at_least("max_side", self.max_side, 16)
        if self.judge_size is not None:
            check_int_at_least("judge_size", self.judge_size, 32)
        check_seed("seed", self.seed)


def prior_features(delta: np.ndarray) -> np.ndarray:
    """The warm start's features (``PRIOR_FEATURES``) of how far targets lie from the photos' own.

    Args:
        delta: (N, 2) target − own prediction of valence and arousal in SAM points (0 where unset).

    Returns:
        (N, 4) features, each 0 at delta 0 and bounded by ±1: the two directions of each dimension apart,
        each saturating (the genes that reach a far target are not a multiple of a near one's).
    """
    d = np.nan_to_num(np.asarray(delta, dtype=np.float64).reshape(-1, 2))
    return np.tanh(np.stack([np.maximum(d[:, 0], 0), np.minimum(d[:, 0], 0),
                             np.maximum(d[:, 1], 0), np.minimum(d[:, 1], 0)], 1) / 2)


@dataclass(frozen=True)
class EditPrior:
    """Where an edit's genes start (``EditConfig.start = "prior"``): genes = clip(features · W, ±``limit``),
    ``features = prior_features(target − own)``; no intercept, so a target at the photo's own prediction
    starts neutral. Fitted by ridge regression on the genes that edits of OASIS photos reached
    (``scripts/fit_edit_prior.py``; ``meta`` records the command, photos, judges and steps).

    Attributes:
        weights: (4, P) in ``PRIOR_FEATURES`` × ``PARAMS`` order.
        limit: The largest |gene| a start takes (tanh's slope stays usable).
        meta: How it was fitted.
    """

    weights: np.ndarray
    limit: float = 0.9
    meta: dict = field(default_factory=dict)

    def genes(self, delta: np.ndarray) -> np.ndarray:
        """The starting genes.

        Args:
            delta: (N, 2) target − own prediction of valence and arousal (0 where unset).

        Returns:
            (N, P) genes in [-limit, limit].
        """
        return np.clip(prior_features(delta) @ self.weights, -self.limit, self.limit)


_PRIOR_CACHE: dict = {}


def load_edit_prior(path: str | Path | None = None) -> EditPrior:
    """Read a warm start written by ``scripts/fit_edit_prior.py`` (data only: JSON numbers).

    Args:
        path: The JSON file; None: the packaged ``EDIT_PRIOR_PATH``.

    Returns:
        The ``EditPrior``.

    Raises:
        ConfigError: The file is missing, of another format or version, or its parameters are not
            ``PARAMS``.
    """
    import json

    path = Path(path) if path is not None else EDIT_PRIOR_PATH
    key = str(path.resolve())
    if key in _PRIOR_CACHE:
        return _PRIOR_CACHE[key]
    try:
        d = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ConfigError("start", f"cannot read the edit prior {path}: {e}") from None
    if not isinstance(d, dict) or d.get("format") != EDIT_PRIOR_FORMAT or d.get("version") != EDIT_PRIOR_VERSION:
        raise ConfigError("start", f"{path} is not an {EDIT_PRIOR_FORMAT} version {EDIT_PRIOR_VERSION} file")
    if d.get("params") != [p.name for p in PARAMS] or d.get("features") != list(PRIOR_FEATURES):
        raise ConfigError("start", f"{path} was fitted for other edit parameters or features")
    w = np.asarray(d["weights"], dtype=np.float64)
    if w.shape != (len(PRIOR_FEATURES), len(PARAMS)) or not np.isfinite(w).all():
        raise ConfigError("start", f"{path}: weights must be {len(PRIOR_FEATURES)} x {len(PARAMS)} finite numbers")
    prior = EditPrior(weights=w, limit=float(d.get("limit", 0.9)), meta=d.get("fitted", {}))
    _PRIOR_CACHE[key] = prior
    return prior


def check_target(target: Mapping[str, float | None]) -> dict[str, float]:
    """Check an edit target.

    Args:
        target: ``{dimension: value}`` with dimensions ``valence``, ``arousal`` or ``dominance`` on
            the SAM 1–9 scale; None values are dropped (that dimension keeps the photo's own).

    Returns:
        The target without its None values.

    Raises:
        ConfigError: An unknown dimension, a value outside 1–9, or no dimension set.
    """
    out = {}
    for dim, v in dict(target).items():
        if dim not in DIMENSIONS:
            raise ConfigError("target", f"names an unknown dimension {dim!r} (valence, arousal or dominance)")
        if v is None:
            continue
        out[dim] = check_range(dim, v, 1, 9)
    if not out:
        raise ConfigError("target", "sets no dimension: give valence, arousal or dominance on the 1–9 scale")
    return out


def ssim_grey(a: torch.Tensor, b: torch.Tensor, sigma: float = 1.5) -> torch.Tensor:
    """SSIM of two image batches on grey (BT.601 luma), reflected borders; differentiable.

    Args:
        a: Float images (N, 3, H, W) in [0, 1].
        b: Float images (N, 3, H, W) in [0, 1], the same size as ``a``.
        sigma: The Gaussian window's standard deviation in pixels.

    Returns:
        The mean SSIM (N,) of each pair (1 for identical images).
    """
    w = torch.tensor([0.299, 0.587, 0.114], dtype=a.dtype)[None, :, None, None]
    x, y = (a * w).sum(1, keepdim=True), (b * w).sum(1, keepdim=True)
    s = torch.full((a.shape[0],), float(sigma), dtype=a.dtype)
    mx, my, xx, yy, xy = gaussian_blur(torch.cat([x, y, x * x, y * y, x * y], 1), s, s).unbind(1)  # one pass, 5 maps
    vx, vy, cxy = xx - mx ** 2, yy - my ** 2, xy - mx * my
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    m = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2))
    return m.mean(dim=(1, 2))


@dataclass
class EditResult:
    """One photo edited toward one target.

    V/A/D on the SAM 1–9 scale (clamped); ``after`` is judged on the full-size edit resized to the
    working size, without transforms.

    Attributes:
        source: The photo's name.
        target: The target ``{dimension: value on 1–9}`` (empty for a re-applied recipe).
        recipe: The edit's recipe (``make_recipe``).
        image: The edit at full resolution, uint8 (H, W, 3).
        before: The judge's V/A/D (3,) of the unedited photo.
        after: The judge's V/A/D (3,) of the edit.
        ssim: Grey SSIM (0–1) to the original at the output size.
        ssim_work: Grey SSIM at the working size, as the objective saw it.
        loss: The edit's final loss (nan for a re-applied recipe).
        before_probabilities: Category probabilities of the unedited photo, or None.
        after_probabilities: Category probabilities of the edit, or None.
        held_out: Held-out judge name → (before V/A/D, after V/A/D).
        original: The photo before the edit, uint8 (H, W, 3) at the output size.
        objective: The target term of the result (higher is better, 0 on target; points²): the
            consensus objective under a ``Consensus``, else −Σ_set (V_d − target_d)² under the one judge.
        judged: With a ``Consensus``: each optimised judge's name → (before V/A/D, after V/A/D), unclamped.
        steps: Adam steps the edit ran (fewer than ``EditConfig.steps`` when it stopped early on target).
    """

    source: str
    target: dict
    recipe: dict
    image: np.ndarray  # uint8 (H, W, 3), the edit at full resolution
    before: np.ndarray
    after: np.ndarray
    ssim: float  # grey SSIM to the original at the output size
    ssim_work: float  # at the working size, as the objective saw it
    loss: float
    before_probabilities: np.ndarray | None = None
    after_probabilities: np.ndarray | None = None
    #: held-out judge name → (before V/A/D, after V/A/D)
    held_out: dict = field(default_factory=dict)
    #: the photo before the edit, uint8 (H, W, 3) at the output size
    original: np.ndarray | None = None
    #: the target term of the result (higher is better, 0 on target; points²): the consensus
    #: objective under a ``Consensus``, else −Σ_set (V_d − target_d)² under the one judge
    objective: float | None = None
    #: with a ``Consensus``: each optimised judge's name → (before V/A/D, after V/A/D), unclamped
    judged: dict = field(default_factory=dict)
    #: Adam steps the edit ran (fewer than ``EditConfig.steps`` when it stopped early on target)
    steps: int | None = None

    @property
    def summary(self) -> str:
        """The recipe's non-neutral values in words (``recipe_summary``)."""
        return recipe_summary(self.recipe)


def _to_tensor(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(img)).float().permute(2, 0, 1)[None] / 255


def _judge_all(judge: Judge, x: torch.Tensor, chunk: int = 32) -> dict[str, np.ndarray]:
    """Verdicts without gradients, ``chunk`` images at a time: a ``judges.Judge`` on its fast path
    (``Judge.score``: network backbones on ONNX Runtime, every view in one batch; the same function as
    its torch module to ~1e-5 points), any other module (``--judges default``'s) as it is."""
    from ..judges import Judge as _Judge

    run = judge.score if isinstance(judge, _Judge) else judge
    outs = []
    with torch.no_grad():
        for i in range(0, len(x), chunk):
            o = run(x[i:i + chunk])
            outs.append({k: o[k].detach().float() for k in ("vad_raw", "probabilities") if k in o})
    return {k: torch.cat([o[k] for o in outs]).numpy() for k in outs[0]}


def _square(images: torch.Tensor, size: int) -> torch.Tensor:
    from ..transforms import resize

    return resize(images, size).clamp(0, 1)


def _consensus(judge) -> bool:
    from ..judges import Consensus

    return isinstance(judge, Consensus)


def _target_rows(jobs) -> torch.Tensor:
    """(N, 3) targets on 1–9, NaN where a job leaves a dimension unset."""
    return torch.tensor([[t.get(d, np.nan) for d in DIMENSIONS] for _, t in jobs], dtype=torch.float32)


def consensus_objective(consensus, images: torch.Tensor, targets: torch.Tensor, outputs=None) -> torch.Tensor:
    """``consensus.objective`` of each image toward its own target row; differentiable.

    Rows that target different dimensions are combined apart (a consensus covers one set of
    dimensions per call).

    Args:
        consensus: A ``judges.Consensus``.
        images: Float images (N, 3, H, W) in [0, 1].
        targets: Targets (N, 3), V/A/D on the SAM 1–9 scale; NaN: not targeted.
        outputs: The consensus' outputs on ``images`` if already computed; None: computed here.

    Returns:
        The objective (N,), higher is better.
    """
    outputs = outputs if outputs is not None else consensus.outputs(images)
    pattern = torch.isfinite(targets)
    keys = [tuple(r.tolist()) for r in pattern]
    if len(set(keys)) == 1:
        return consensus.objective(images, targets, outputs=outputs)
    obj = torch.zeros(len(images), dtype=images.dtype)
    for key in dict.fromkeys(keys):
        rows = torch.tensor([i for i, k in enumerate(keys) if k == key])
        part = [{k: v[rows] for k, v in o.items()} for o in outputs]
        obj = obj.index_put((rows,), consensus.objective(images[rows], targets[rows], outputs=part))
    return obj


def _on_target(raws: Sequence[torch.Tensor], target: torch.Tensor, tol: float) -> torch.Tensor:
    """(N,) bool: every dimension set in ``target`` (N, 3; NaN unset) is within ``tol`` points of it
    under every judge's ``vad_raw`` (N, 3) that judges it."""
    ok = torch.ones(target.shape[0], dtype=torch.bool)
    set_ = torch.isfinite(target)
    for raw in raws:
        use = set_ & torch.isfinite(raw)
        err = torch.where(use, (raw - target.nan_to_num()).abs(), torch.zeros_like(raw))
        ok &= (err <= tol).all(1)
    return ok


def _one_view(consensus, size: int | None = None):
    """The consensus with each network ensemble replaced by its members on the image as given (one
    view: the caller draws a random view per step); with ``size``, each network member sees that side
    and one unmirrored view (the caller's random flips average the mirror over the steps)."""
    from ..judges import Consensus, EnsembleJudge, NetworkJudge

    def small(m):
        if size is None or not isinstance(m, NetworkJudge):
            return m
        j = NetworkJudge(m.predictor, flip=False, name=m.name)
        j.net = m.predictor.module(flip=False, size=size, backbone_size=size, fold_batchnorm=True)
        j.input_size = int(size)
        return j

    judges = [EnsembleJudge([small(m) for m in j.members], transforms=0, name=j.name)
              if isinstance(j, EnsembleJudge) and j.transforms > 1 else j for j in consensus.judges]
    return Consensus(judges, method=consensus.method, tau=consensus.tau, lam=consensus.lam)


def _within_bound(genes: torch.Tensor, ssim: torch.Tensor, base: torch.Tensor, frames, cfg: EditConfig,
                  iterations: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw each edit whose SSIM ended below the bound (``cfg.ssim_bound``, at most the floor) back along
    its genes toward the photo (genes × t, t found by bisection on [0, 1]; genes 0 are the photo itself,
    SSIM 1) to the largest t found whose SSIM reaches the bound; the others are returned as they are."""
    bound = min(cfg.ssim_bound, cfg.ssim_floor)
    low = torch.nonzero(ssim < bound)[:, 0]
    if bound <= 0 or len(low) == 0:
        return genes, ssim
    g, b, fr = genes[low], base[low], [frames[i] for i in low.tolist()]
    lo, hi = torch.zeros(len(low)), torch.ones(len(low))
    s_lo = torch.ones(len(low))
    for _ in range(iterations):
        mid = (lo + hi) / 2
        s_mid = ssim_grey(edit_tensor(b, genes_to_values(g * mid[:, None]), frames=fr,
                                      seeds=[cfg.seed] * len(low)), b)
        ok = s_mid >= bound
        lo, s_lo = torch.where(ok, mid, lo), torch.where(ok, s_mid, s_lo)
        hi = torch.where(ok, hi, mid)
    genes, ssim = genes.clone(), ssim.clone()
    genes[low], ssim[low] = g * lo[:, None], s_lo
    return genes, ssim


def edit_photos(photos: Sequence, targets: Sequence[Mapping[str, float | None]], judge: Judge,
                config: EditConfig | None = None, *, held_out: Mapping[str, Judge] | None = None,
                names: Sequence[str] | None = None, progress=None) -> list[EditResult]:
    """Edit every photo toward every target (photo-major order).

    Args:
        photos: Paths, PIL images or uint8 (H, W, 3) arrays.
        targets: Dicts such as ``{"valence": 8}`` or ``{"valence": 2, "arousal": 7}`` (SAM 1–9;
            unset dimensions keep the photo's own predicted value).
        judge: One judge or a ``judges.Consensus`` (see the module docstring).
        config: How to edit; None: ``EditConfig()``.
        held_out: Judges never optimised against, reported before and after, by name.
        names: The photos' names in the results; None: their file names (or ``photo<i>``).
        progress: ``progress(done, total)``, called once per step, or None.

    Returns:
        One ``EditResult`` per photo and target.

    Raises:
        ConfigError: A setting or target is invalid, or ``photos`` is empty.
    """
    from ..transforms import TransformConfig, shared_view

    cfg = config or EditConfig()
    cfg.validate()
    targets = [check_target(t) for t in targets]
    if not photos:
        raise ConfigError("photos", "must list at least one photo")
    encs = [EditEncoding(p, seed=cfg.seed, max_side=cfg.max_side) for p in photos]
    names = list(names) if names is not None else [Path(e.path).name if e.path else f"photo{i}"
                                                   for i, e in enumerate(encs)]
    squares = torch.cat([e.square(cfg.size) for e in encs])
    consensus = _consensus(judge)
    judges = list(judge.judges) if consensus else [judge]
    before_each = [_judge_all(j, squares) for j in judges]
    jobs = [(i, t) for i in range(len(encs)) for t in targets]
    rng = np.random.default_rng(cfg.seed)
    tcfg = TransformConfig(jitter=cfg.jitter, scale=tuple(cfg.scale), degrees=cfg.degrees, colour=cfg.colour)
    genes_out = np.zeros((len(jobs), len(PARAMS)))
    ssim_work = np.zeros(len(jobs))
    losses = np.zeros(len(jobs))
    total = cfg.steps * ((len(jobs) + cfg.batch - 1) // cfg.batch)
    opt_judge = _one_view(judge, cfg.judge_size) if (consensus and cfg.one_view and cfg.transforms) else judge
    done = 0
    steps_run = np.zeros(len(jobs), dtype=int)
    for start in range(0, len(jobs), cfg.batch):
        part = jobs[start:start + cfg.batch]
        idx = [i for i, _ in part]
        base_all = squares[idx]
        frames_all = [encs[i].frame for i in idx]
        tgt_all = _target_rows(part)
        set_all = ~torch.isnan(tgt_all)
        keep_all = (~set_all) & torch.tensor([True, True, False])[None]  # unset valence / arousal stay
        owns_all = [torch.from_numpy(b["vad_raw"][idx]).float() for b in before_each]
        goal_all = torch.where(set_all, tgt_all, owns_all[0])
        weight_all = set_all.float() + cfg.keep_weight * keep_all.float()
        u = torch.zeros(len(part), len(PARAMS))
        if cfg.start == "prior":
            delta = torch.where(set_all[:, :2], tgt_all[:, :2] - owns_all[0][:, :2], torch.zeros(()))
            u = torch.atanh(torch.from_numpy(load_edit_prior().genes(delta.numpy())).float())
        u.requires_grad_(True)
        opt = torch.optim.Adam([u], lr=cfg.lr)
        per_all = torch.full((len(part),), float("nan"))
        active = torch.ones(len(part), dtype=torch.bool)
        streak = torch.zeros(len(part), dtype=torch.long)
        frozen = torch.zeros(len(part), len(PARAMS))  # u of the edits that stopped early
        for step in range(cfg.steps):
            act = torch.nonzero(active)[:, 0]
            if len(act) == 0:
                done += 1
                if progress:
                    progress(done, total)
                continue
            a = act.tolist()
            base, tgt, keep = base_all[act], tgt_all[act], keep_all[act]
            owns = [o[act] for o in owns_all]
            genes = torch.tanh(u[act])
            x = edit_tensor(base, genes_to_values(genes), frames=[frames_all[k] for k in a],
                            seeds=[cfg.seed] * len(a))
            ssim = ssim_grey(x, base)
            if cfg.transforms:
                # One view per step for the whole batch, drawn as for a single edit, so an edit sees the
                # views it would see alone (drawn per edit, a daisy's sweep cell ended at V 6.8 where the
                # same edit alone ended at 5.6). The first warmup_steps steps judge the edit as it is, the
                # view drawn all the same: from genes 0 one view's gradient could start an operation the
                # wrong way into a basin it never left (2 of a daisy's 15 valence-2 edits; none with 3).
                view = shared_view(x, rng, tcfg)
                x = view if step >= cfg.warmup_steps else x
            if consensus:
                outs = opt_judge.outputs(x)
                kept = []
                for o, own in zip(outs, owns):
                    raw = o["vad_raw"]
                    ok = keep & torch.isfinite(own) & torch.isfinite(raw.detach())
                    d = torch.where(ok, raw - own, torch.zeros_like(raw))  # NaN never reaches a gradient
                    kept.append((d ** 2).sum(1))
                fit = -consensus_objective(opt_judge, x, tgt, outs) + cfg.keep_weight * torch.stack(kept).mean(0)
                raws = [o["vad_raw"].detach() for o in outs]
            else:
                raw = judge(x)["vad_raw"]
                fit = ((raw - goal_all[act]) ** 2 * weight_all[act]).sum(1)
                raws = [raw.detach()]
            per = fit + cfg.ssim_weight * torch.relu(cfg.ssim_floor - ssim) + cfg.gene_l2 * (genes ** 2).mean(1)
            opt.zero_grad()
            per.sum().backward()
            opt.step()
            with torch.no_grad():
                per_all[act] = per.detach()
                steps_run[start + act.numpy()] += 1
                if cfg.stop_tol > 0:
                    near = _on_target(raws, tgt, cfg.stop_tol) & (ssim.detach() >= cfg.ssim_floor)
                    streak[act] = torch.where(near, streak[act] + 1, torch.zeros_like(streak[act]))
                    # the genes that reached the target (before this step's update moved them)
                    stop = act[streak[act] >= cfg.stop_patience]
                    if len(stop):
                        frozen[stop] = torch.atanh(genes.detach()[streak[act] >= cfg.stop_patience]
                                                   .clamp(-1 + 1e-7, 1 - 1e-7))
                        active[stop] = False
            done += 1
            if progress:
                progress(done, total)
        with torch.no_grad():
            u_final = torch.where(active[:, None], u.detach(), frozen)
            genes = torch.tanh(u_final)
            ssim_end = ssim_grey(
                edit_tensor(base_all, genes_to_values(genes), frames=frames_all, seeds=[cfg.seed] * len(part)),
                base_all)
            genes, ssim_end = _within_bound(genes, ssim_end, base_all, frames_all, cfg)
            ssim_work[start:start + len(part)] = ssim_end.numpy()
        genes_out[start:start + len(part)] = genes.numpy()
        losses[start:start + len(part)] = per_all.numpy()
    recipes = [make_recipe(genes_to_values(torch.from_numpy(g)[None])[0].numpy(), cfg.seed) for g in genes_out]
    images = [apply_recipe(r, encs[i].photo) for r, (i, _) in zip(recipes, jobs)]
    return _results(encs, names, jobs, recipes, images, judge, before_each, cfg, held_out,
                    ssim_work=ssim_work, losses=losses, steps=steps_run)


def _results(encs, names, jobs, recipes, images, judge, before_each, cfg, held_out, ssim_work=None,
             losses=None, steps=None) -> list[EditResult]:
    """Judge each full-resolution edit (resized to the working size, no transforms), measure its SSIM
    there, and gather the results."""
    squares = torch.cat([e.square(cfg.size) for e in encs])
    small = torch.cat([_square(_to_tensor(im), cfg.size) for im in images])
    consensus = _consensus(judge)
    judges = list(judge.judges) if consensus else [judge]
    tgt = _target_rows(jobs)
    # a consensus' network ensemble draws its views per batch: judge one image at a time, so that a
    # result's verdict and objective do not depend on what it was batched with
    after_each = [_judge_all(j, small, chunk=1 if consensus else 32) for j in judges]
    before, after = before_each[0], after_each[0]
    if consensus:
        with torch.no_grad():
            outs = [{k: torch.from_numpy(v) for k, v in a.items()} for a in after_each]
            objective = np.full(len(jobs), np.nan)
            has = torch.isfinite(tgt).any(1)
            if bool(has.any()):
                rows = torch.nonzero(has)[:, 0]
                objective[rows.numpy()] = consensus_objective(
                    judge, small[rows], tgt[rows], [{k: v[rows] for k, v in o.items()} for o in outs]).numpy()
    else:
        raw = torch.from_numpy(after["vad_raw"])
        set_ = torch.isfinite(tgt)
        objective = -torch.where(set_, (raw - tgt.nan_to_num()) ** 2, torch.zeros_like(raw)).sum(1).numpy()
        objective[~set_.any(1).numpy()] = np.nan
    ssim_full = [float(ssim_grey(_to_tensor(im), encs[i]._full)[0]) for im, (i, _) in zip(images, jobs)]
    if ssim_work is None:
        ssim_work = ssim_grey(small, squares[[i for i, _ in jobs]]).numpy()
    held = {}
    for name, hj in (held_out or {}).items():
        held[name] = (_judge_all(hj, squares)["vad_raw"], _judge_all(hj, small)["vad_raw"])
    names_each = [getattr(j, "name", f"judge{k}") for k, j in enumerate(judges)] if consensus else []
    originals = [np.asarray(e.photo) for e in encs]
    out = []
    for k, (i, t) in enumerate(jobs):
        probs_b, probs_a = before.get("probabilities"), after.get("probabilities")
        out.append(EditResult(
            source=names[i], target=dict(t), recipe=recipes[k], image=images[k],
            before=np.clip(before["vad_raw"][i], 1, 9), after=np.clip(after["vad_raw"][k], 1, 9),
            ssim=ssim_full[k], ssim_work=float(ssim_work[k]),
            loss=float("nan") if losses is None else float(losses[k]),
            before_probabilities=None if probs_b is None else probs_b[i],
            after_probabilities=None if probs_a is None else probs_a[k],
            held_out={n: (np.clip(b[i], 1, 9), np.clip(a[k], 1, 9)) for n, (b, a) in held.items()},
            original=originals[i],
            objective=None if not np.isfinite(objective[k]) else float(objective[k]),
            judged={n: (b["vad_raw"][i], a["vad_raw"][k]) for n, b, a in zip(names_each, before_each, after_each)},
            steps=None if steps is None else int(steps[k])))
    return out


def reapply_recipe(photos: Sequence, recipe: dict, judge: Judge, config: EditConfig | None = None, *,
                   held_out: Mapping[str, Judge] | None = None, names: Sequence[str] | None = None
                   ) -> list[EditResult]:
    """Apply one saved recipe to every photo and judge the results as ``edit_photos`` does.

    No optimisation: the same photo and recipe give the same pixels; the results' targets are empty.

    Args:
        photos: Paths, PIL images or uint8 (H, W, 3) arrays.
        recipe: A recipe dict (``make_recipe`` / ``load_recipe``).
        judge: One judge or a ``judges.Consensus``.
        config: Working size, ``max_side`` and seed; None: ``EditConfig()``.
        held_out: Judges reported before and after, by name.
        names: The photos' names in the results; None: their file names (or ``photo<i>``).

    Returns:
        One ``EditResult`` per photo.

    Raises:
        ConfigError: A setting is invalid, or ``photos`` is empty.
        SynthError: The recipe is invalid.
    """
    from ._edit import recipe_values

    cfg = config or EditConfig()
    cfg.validate()
    recipe_values(recipe)  # one line for a recipe this version cannot read
    if not photos:
        raise ConfigError("photos", "must list at least one photo")
    encs = [EditEncoding(p, seed=cfg.seed, max_side=cfg.max_side) for p in photos]
    names = list(names) if names is not None else [Path(e.path).name if e.path else f"photo{i}"
                                                   for i, e in enumerate(encs)]
    judges = list(judge.judges) if _consensus(judge) else [judge]
    squares = torch.cat([e.square(cfg.size) for e in encs])
    before_each = [_judge_all(j, squares) for j in judges]
    jobs = [(i, {}) for i in range(len(encs))]
    recipes = [dict(recipe) for _ in jobs]
    images = [apply_recipe(recipe, e.photo) for e in encs]
    return _results(encs, names, jobs, recipes, images, judge, before_each, cfg, held_out)


def sweep_targets(grid: int = 5, span: tuple[float, float] = (2.0, 8.0)) -> list[dict]:
    """A grid × grid valence–arousal lattice: rows from high arousal to low, valence rising along each row.

    Args:
        grid: Levels per dimension (at least 2).
        span: The lowest and highest level on the SAM 1–9 scale.

    Returns:
        ``grid²`` targets ``{"valence": v, "arousal": a}``.

    Raises:
        ConfigError: ``grid`` is below 2 or ``span`` leaves 1–9.
    """
    check_int_at_least("grid", grid, 2)
    lo, hi = (check_range("span", s, 1, 9) for s in span)
    levels = np.linspace(lo, hi, grid)
    return [{"valence": float(v), "arousal": float(a)} for a in levels[::-1] for v in levels]


def sweep_photo(photo, judge: Judge, grid: int = 5, config: EditConfig | None = None,
                span: tuple[float, float] = (2.0, 8.0), **kwargs) -> list[EditResult]:
    """A grid × grid V–A atlas of one photo (``sweep_targets``), optimised as one batch by default.

    Args:
        photo: A path, PIL image or uint8 (H, W, 3) array.
        judge: One judge or a ``judges.Consensus``.
        grid: Levels per dimension (at least 2).
        config: How to edit; None: ``EditConfig`` with ``batch`` = grid².
        span: The lowest and highest level on the SAM 1–9 scale.
        **kwargs: Passed on to ``edit_photos`` (``held_out``, ``names``, ``progress``).

    Returns:
        One ``EditResult`` per target, in ``sweep_targets`` order.
    """
    targets = sweep_targets(grid, span)
    cfg = config or EditConfig(batch=len(targets))
    return edit_photos([photo], targets, judge, cfg, **kwargs)


# ------------------------------------------------------------------------------------ run directory

def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "photo"


def _target_tag(target: dict) -> str:
    return "_".join(f"{d[0]}{target[d]:g}".replace(".", "p") for d in DIMENSIONS if d in target)


def write_edit_run(out_dir: str | Path, results: Sequence[EditResult], config: EditConfig, *,
                   models: Sequence[str] = (), labels: Sequence[str] = (), targets_learnt=DIMENSIONS,
                   method: str = "edit", overwrite: bool = False, seconds: float | None = None,
                   judges: Mapping | None = None) -> Path:
    """Write an edit run directory (see the module docstring), replaced whole, atomically.

    Args:
        out_dir: The run directory: new, empty, or (with ``overwrite``) an earlier edit run.
        results: The edits to write (images, recipes, items.csv, a before/after sheet).
        config: The configuration the edits were made with, recorded in run.json.
        models: The judge's id(s) (``model_id``).
        labels: The judge's category names, for the ``p_<label>`` columns.
        targets_learnt: The dimensions the judge predicts, for the prediction columns.
        method: The run's method, recorded in run.json.
        overwrite: Allow replacing an earlier edit run at ``out_dir``.
        seconds: The time the edits took, recorded in the metrics, or None.
        judges: How the edits were judged (recorded in run.json's config under "judges"), or None.

    Returns:
        ``out_dir`` as a ``Path``.
    """
    from ..fsio import output_directory, write_json
    from ..rundir import prediction_columns, run_header, write_items, write_png, write_run

    out_dir = Path(out_dir)
    with output_directory(out_dir, RUN_KIND, overwrite) as tmp:
        rows, seen = [], set()
        for r in results:
            stem = _slug(Path(r.source).stem)
            tag = _target_tag(r.target)
            name = f"{stem}_{tag}" if tag else stem
            k = 2
            while name in seen:
                name, k = (f"{stem}_{tag}_{k}" if tag else f"{stem}_{k}"), k + 1
            seen.add(name)
            write_png(tmp / "images" / f"{name}.png", r.image)
            write_json(tmp / "recipes" / f"{name}.json", r.recipe)
            row = {"file": f"{name}.png", "source": r.source}
            row.update({f"target_{d}": r.target.get(d) for d in DIMENSIONS})
            row.update(prediction_columns(labels, r.after, r.after_probabilities, targets_learnt))
            row.update({f"before_{d}": float(r.before[j]) for j, d in enumerate(DIMENSIONS) if d in targets_learnt})
            if len(labels) and r.before_probabilities is not None:
                row["before_category"] = labels[int(np.argmax(r.before_probabilities))]
            row.update({"fitness": None if not np.isfinite(r.loss) else -r.loss, "objective": r.objective,
                        "ssim": r.ssim, "recipe_file": f"recipes/{name}.json", "recipe": r.summary})
            for n, (b, a) in r.judged.items():
                for j, d in enumerate(DIMENSIONS):
                    if np.isfinite(a[j]):
                        row[f"judge_{n}_{d}_before"], row[f"judge_{n}_{d}"] = float(b[j]), float(a[j])
            for n, (b, a) in r.held_out.items():
                for j, d in enumerate(DIMENSIONS[:2]):
                    row[f"{n}_{d}_before"], row[f"{n}_{d}"] = float(b[j]), float(a[j])
            values = {k: v for op in r.recipe["operations"] for k, v in op.items() if k != "op"}
            row.update({f"edit_{k}": v for k, v in values.items()})
            rows.append(row)
        write_items(tmp, rows)
        # a sweep's edits one lattice row per sheet row (arousal falling down, valence rising along)
        _contact_sheet(results, tmp / "before_after.png", per_row=(judges or {}).get("grid") or 6)
        cfg = asdict(config)
        if judges is not None:
            cfg["judges"] = dict(judges)
        meta = run_header("edit", config.command, cfg, config.seed, list(models), method=method)
        meta["metrics"] = _metrics(results, seconds)
        direction = _valence_direction(results)
        if direction:
            meta["metrics"]["valence_direction"] = direction
        meta["transfer"] = _transfer(results) or None
        meta["edit"] = {"operations": [{"name": p.name, "op": p.op, "unit": p.unit, "range": [p.lo, p.hi],
                                        "neutral": p.neutral, "doc": p.doc} for p in PARAMS],
                        "recipe_format": results[0].recipe["format"] if results else None}
        write_run(tmp, meta)
    return out_dir


def _shift_toward(results, get) -> dict:
    """Per dimension: mean judged shift (after − before) in the target's direction, and the fraction of
    edits that moved that way."""
    out = {}
    for j, d in enumerate(DIMENSIONS):
        moves = [np.sign(r.target[d] - b[j]) * (a[j] - b[j]) for r in results if d in r.target
                 for b, a in [get(r)] if abs(r.target[d] - b[j]) > 0.25]
        if moves:
            out[d] = {"mean_shift_toward_target": float(np.mean(moves)),
                      "fraction_toward_target": float(np.mean(np.array(moves) > 0)), "n": len(moves)}
    return out


def _metrics(results, seconds) -> dict:
    ssim = np.array([r.ssim for r in results])
    return {"edits": len(results), "photos": len({r.source for r in results}),
            "ssim_mean": float(ssim.mean()) if len(ssim) else None,
            "ssim_min": float(ssim.min()) if len(ssim) else None,
            "judge": _shift_toward(results, lambda r: (r.before, r.after)), "seconds": seconds,
            "steps_mean": (float(np.mean([r.steps for r in results]))
                           if results and all(r.steps is not None for r in results) else None)}


def _valence_direction(results) -> dict:
    """Per held-out judge: the share of photos whose judged valence is higher after the edit toward
    their highest valence target than after the one toward their lowest (issue 18's "agrees in
    direction", goal ≥ 90 %); only photos edited toward two or more valence levels count."""
    groups: dict[str, list[EditResult]] = {}
    for r in results:
        if "valence" in r.target:
            groups.setdefault(r.source, []).append(r)
    groups = {s: rs for s, rs in groups.items() if len({r.target["valence"] for r in rs}) > 1}
    if not groups:
        return {}
    out = {}
    for n in sorted({n for r in results for n in r.held_out}):
        agree = []
        for rs in groups.values():
            hi, lo = max(r.target["valence"] for r in rs), min(r.target["valence"] for r in rs)
            up = np.mean([r.held_out[n][1][0] for r in rs if r.target["valence"] == hi])
            down = np.mean([r.held_out[n][1][0] for r in rs if r.target["valence"] == lo])
            agree.append(bool(up > down))
        out[n] = {"fraction_photos": float(np.mean(agree)), "photos": len(agree), "goal": 0.9}
    return out


def _transfer(results) -> dict:
    names = sorted({n for r in results for n in r.held_out})
    return {n: _shift_toward([r for r in results if n in r.held_out], lambda r, n=n: r.held_out[n]) for n in names}


def _contact_sheet(results, path: Path, thumb: int = 160, per_row: int = 6) -> None:
    """One block per source photo: the original, then its edits ``per_row`` to a row (later rows leave
    the original's column empty), each titled with the judged V/A."""
    import io

    from PIL import Image, ImageDraw

    from ..fsio import atomic_write_bytes

    groups: dict[str, list[EditResult]] = {}
    for r in results:
        groups.setdefault(r.source, []).append(r)
    cells = []  # (image, title) rows, one list per output row
    for src, rs in groups.items():
        title = f"{Path(src).stem[:14]} V{rs[0].before[0]:.1f} A{rs[0].before[1]:.1f}"
        edits = []
        for r in rs:
            tag = " ".join(f"{d[0].upper()}{r.target[d]:g}" for d in DIMENSIONS if d in r.target)
            head = f"to {tag}" if tag else "recipe"
            edits.append((_thumb_of(r, thumb), f"{head}: V{r.after[0]:.1f} A{r.after[1]:.1f}"))
        for k in range(0, len(edits), per_row):
            first = (_thumb_of(rs[0], thumb, original=True), title) if k == 0 else None
            cells.append([first, *edits[k:k + per_row]])
    cols = max(len(c) for c in cells)
    pad, label = 4, 14
    sheet = Image.new("RGB", (cols * (thumb + pad) + pad, len(cells) * (thumb + label + pad) + pad), "white")
    draw = ImageDraw.Draw(sheet)
    for y, row in enumerate(cells):
        for x, cell in enumerate(row):
            if cell is None:
                continue
            im, title = cell
            ox, oy = pad + x * (thumb + pad), pad + y * (thumb + label + pad)
            sheet.paste(im, (ox + (thumb - im.width) // 2, oy + label))
            draw.text((ox, oy), title, fill="black")
    buf = io.BytesIO()
    sheet.save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())


def _thumb_of(r: EditResult, size: int, original: bool = False):
    from PIL import Image

    im = Image.fromarray(r.original if original and r.original is not None else r.image)
    im.thumbnail((size, size))
    return im


# ------------------------------------------------------------------------------------ the command

def photo_paths(inputs: Sequence[str | Path]) -> list[Path]:
    """Image files from files and folders (folders searched recursively, in sorted order).

    Args:
        inputs: Image files and folders.

    Returns:
        The image paths, in the order given.

    Raises:
        ImageError: A path does not exist, or a folder holds no images.
        ConfigError: ``inputs`` is empty.
    """
    from ..errors import ImageError
    from ..imageio import IMAGE_SUFFIXES

    paths: list[Path] = []
    for p in map(Path, inputs):
        if p.is_dir():
            found = sorted(q for q in p.rglob("*") if q.is_file() and q.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise ImageError(f"{p}: folder holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
            paths.extend(found)
        elif p.exists():
            paths.append(p)
        else:
            raise ImageError(f"{p}: no such file or folder")
    if not paths:
        raise ConfigError("photos", "give at least one photo or folder of photos", lead=False)
    return paths


def _judge_names(spec) -> list[str]:
    """The lower-case names a --judges / --check-judges value stands for (presets expanded)."""
    from ..judges import PRESETS

    if spec is None:
        return []
    items = [spec] if isinstance(spec, str) else list(spec)
    names = []
    for item in items:
        for n in str(item).split(","):
            n = n.strip().lower()
            if n in ("", "none"):
                continue
            names.extend(PRESETS.get(n, (n,)))
    return names


def _members(judge) -> list:
    """A judge and, for an ensemble, its members (recursively)."""
    out = [judge]
    for m in getattr(judge, "members", ()):
        out += _members(m)
    return out


def _model_ids(judges) -> list[str]:
    from ..models.registry import model_id

    ids = []
    for j in judges:
        for m in _members(j):
            folder = getattr(m, "folder", None)
            if folder is not None:
                ids.append(model_id(folder))
            elif not getattr(m, "members", None):
                ids.append(str(m.name))
    return list(dict.fromkeys(ids))


def edit_judge(spec: str = "consensus-palmer", method: str = "softmin"):
    """The judge ``edit_photos`` optimises against for a ``--judges`` value, and the judges it is made of.

    One network judge alone (e.g. ``"default"``) is its predictor's one-view module (the edit mirrors
    its views at random already), exactly what ``edit_photos`` took before consensus; any other list is
    their ``judges.Consensus``: ``"consensus-palmer"`` (the default) the packaged network under transforms
    and the Palmer et al. (2013) colour judge, which judges valence only, so arousal is the network's;
    ``"consensus"`` the network and the Valdez–Mehrabian colour judge on both. Over 36 photos the
    Palmer consensus moved the held-out Ou colour model's valence the intended way on every photo (81 %
    under ``"consensus"``) and the held-out Lite2's arousal by 0.71 points (0.57), its valence by 1.31
    (1.43): docs/results/editing.md.

    Args:
        spec: A ``--judges`` value (``judges.parse_judges``).
        method: The consensus' combining method (e.g. ``"softmin"``).

    Returns:
        ``(judge, judges)``: the judge to optimise against and the list of parsed judges.
    """
    from ..judges import Consensus, NetworkJudge, parse_judges

    judges = parse_judges(spec)
    if len(judges) == 1 and isinstance(judges[0], NetworkJudge):
        return judges[0].predictor.module(flip=False), judges
    return Consensus(judges, method=method), judges


def run_edit(inputs: Sequence[str | Path], out: str | Path, *, target: Mapping[str, float | None] | None = None,
             sweep: bool = False, grid: int = 5, recipe: str | Path | dict | None = None,
             judges: str = "consensus-palmer", check_judges="default", config: EditConfig | None = None,
             overwrite: bool = False, command: str | None = None, progress=None) -> dict:
    """``emosynth edit``: edit photos and write the run directory ``out``.

    Photos are edited toward ``target``, over a ``grid`` × ``grid`` V–A ``sweep``, or by re-applying a
    saved ``recipe`` (exactly one of the three). Bad input (a setting, a photo, a recipe, ``out`` not
    ours) raises one ``EmosynthError`` before any model loads; nothing is written then.

    Args:
        inputs: Photo files or folders (``photo_paths``).
        out: The run directory.
        target: ``{dimension: value}`` on the SAM 1–9 scale; unset dimensions keep each photo's own.
        sweep: Edit toward a ``grid`` × ``grid`` valence–arousal lattice (``sweep_targets``).
        grid: With ``sweep``: levels per dimension.
        recipe: A saved recipe (a file or dict) to re-apply, no optimisation.
        judges: What the edit is optimised against (``edit_judge``).
        check_judges: Held-out judges (names, comma-separated or a list; ``"default"``:
            ``judges.HELD_OUT``; ``"none"``), reported and never optimised against.
        config: How to edit; None: ``EditConfig()``.
        overwrite: Allow replacing an earlier edit run at ``out``.
        command: The command line, recorded in run.json.
        progress: ``progress(done, total)``, called once per optimisation step, or None.

    Returns:
        run.json's contents.

    Raises:
        ConfigError: A setting is invalid, no or conflicting modes are given, or a held-out judge is
            also optimised against.
        ImageError: A photo path does not exist or a folder holds no images.
        SynthError: The recipe is invalid.
    """
    import dataclasses
    import json
    import time

    from ..fsio import check_output
    from ..imageio import read_image
    from ..judges import HELD_OUT, make_judge
    from ._edit import load_recipe, recipe_values

    cfg = dataclasses.replace(config or EditConfig(), command=command) if command else (config or EditConfig())
    cfg.validate()
    target = {k: v for k, v in dict(target or {}).items() if v is not None}
    given = [m for m, on in (("target", bool(target)), ("sweep", sweep), ("recipe", recipe is not None)) if on]
    if not given:
        raise ConfigError("valence", "give a target ({valence}, {arousal} or {dominance} on the 1-9 scale), "
                          "{sweep} or {recipe}", lead=False)
    if "recipe" in given and len(given) > 1:
        raise ConfigError("recipe", "is applied as it is: leave out {sweep} and the targets")
    if "sweep" in given and len(given) > 1:
        raise ConfigError("sweep", "sets valence and arousal over a grid: leave out the targets")
    targets = sweep_targets(grid) if sweep else [check_target(target)] if target else []
    check = list(HELD_OUT) if check_judges == "default" else _judge_names(check_judges)
    both = sorted(set(check) & set(_judge_names(judges)))
    if both:
        raise ConfigError("check_judges", f"names {', '.join(both)}, also in {{judges}}: a held-out judge is "
                          "never optimised against")
    check_output(out, RUN_KIND, overwrite)  # the ownership rule, before any photo or model is read
    if isinstance(recipe, dict):
        recipe_values(recipe)
    elif recipe is not None:
        recipe = load_recipe(recipe)
    paths = photo_paths(inputs)
    photos = [read_image(p) for p in paths]

    judge, parts = edit_judge(judges)
    opt_names = {str(m.name).lower() for j in parts for m in _members(j)}
    held = {}
    for n in check:
        hj = make_judge(n)
        clash = {str(m.name).lower() for m in _members(hj)} & opt_names
        if clash:
            raise ConfigError("check_judges", f"{n!r} judges with {', '.join(sorted(clash))}, which {{judges}} "
                              "optimises against: a held-out judge must be another one")
        held[str(hj.name)] = hj
    names = [str(p) for p in paths]
    t0 = time.perf_counter()
    if recipe is not None:
        results = reapply_recipe(photos, recipe, judge, cfg, held_out=held, names=names)
    else:
        results = edit_photos(photos, targets, judge, cfg, held_out=held, names=names, progress=progress)
    seconds = time.perf_counter() - t0
    info = {"judges": judges, "objective": ("consensus" if _consensus(judge) else "squared error"),
            "names": [str(j.name) for j in parts], "check_judges": list(held),
            "mode": given[0], "grid": grid if sweep else None,
            "recipe": None if recipe is None else recipe_summary(recipe)}
    if _consensus(judge):
        info.update({"method": judge.method, "tau": judge.tau, "lam": judge.lam})
    labels = next((list(j.labels) for j in parts if getattr(j, "labels", None)), [])
    write_edit_run(out, results, cfg, models=_model_ids(parts), labels=labels, overwrite=overwrite,
                   seconds=seconds, judges=info, method=given[0])
    return json.loads((Path(out) / "run.json").read_text())
