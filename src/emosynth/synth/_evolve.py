"""The MAP-Elites loop: ribs GridArchive + emitters (Iso+LineDD, CMA-ME or CMA-MEGA) + Scheduler,
ask → render → score → tell.

``evolve(config, out)`` writes a run directory (see ``emosynth.rundir``) and a checkpoint
(``checkpoint.npz``: the ribs scheduler with its archive, emitters, CMA-ES / Adam state and random
generators' states, the history — data only, ``emosynth.statefile``: loading it runs no code) every
``checkpoint_every`` iterations, atomically; ``resume=True`` continues from it
and reaches the same archive as an unbroken run with the same seed.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from ribs.emitters import GradientArborescenceEmitter

from ..config import ConfigError, check_choice, check_int_at_least, check_positive, check_seed
from ..emotions import DIMENSIONS
from ..errors import SynthError
from ..fsio import check_output, mark_output
from ..models.registry import model_id, resolve_model
from ..rundir import IMAGES_DIR, prediction_columns, run_header, write_items, write_png, write_run
from ..statefile import StateError, load_state, save_state
from . import _transfer
from ._encodings import Encoding, make_encoding
from ._fitness import Evaluator, JudgeSpec
from ._spaces import make_space
from ._visualize import archive_mosaic, progress_plot

CHECKPOINT = "checkpoint.npz"
#: the pickle checkpoint of emosynth before 0.x: never loaded (a pickle can run code)
LEGACY_CHECKPOINT = "checkpoint.pkl"
CHECKPOINT_FORMAT = 2
#: the ownership kind of an evolve run directory (``emosynth.fsio``)
RUN_KIND = "run:evolve"
ENCODING_NAMES = ("pixels", "cppn", "edit")
EMITTER_NAMES = ("auto", "iso", "es", "mega")
#: where a V-A run's CMA-MEGA emitters start (``EvolveConfig.starts``)
STARTS = ("spread", "judges")
#: CMA-MEGA over category × brightness: iterations between an emitter's restarts at a lagging cell
MEGA_REVISIT = 40


@dataclass
class EvolveConfig:
    """What to evolve and how. Defaults: 300 iterations × 64 = 19,200 evaluations.

    Attributes:
        space: 'category', 'va' or 'vad'.
        cells: va / vad: cells per dimension over the SAM 1–9 scale.
        descriptor: category: a second measure ('brightness'), or None.
        bins: category with a descriptor: brightness bins.
        encoding: 'cppn', 'pixels' or 'edit' (edits of ``photo``).
        photo: edit: the photo whose edits are evolved (required with it, and only with it).
        grid: pixels: the low-resolution canvas side, in pixels.
        hidden: cppn: units per hidden layer.
        layers: cppn: hidden layers.
        iterations: MAP-Elites iterations.
        batch: Evaluations per iteration, split evenly over the emitters.
        emitters: Number of emitters.
        emitter: 'iso' (Iso+LineDD), 'es' (CMA-ME), 'mega' (CMA-MEGA) or 'auto' (es for cppn, mega for pixels).
        sigma: Mutation step in genome units (None: the encoding's own); mega: initial step of the gradient
            coefficients.
        lr: mega: Adam learning rate of the solution point (None: the encoding's).
        line_sigma: iso: step along the line to another elite.
        seed: Random seed.
        model: The predictor: None (the packaged default), a model folder or a backbone name.
        robust: Fitness is the mean over ``ensemble`` × ``transforms`` random transforms.
        ensemble: Predictors of the robust fitness.
        transforms: Random transforms per image and model under ``robust``.
        check_backbone: The earlier transfer flag: one held-out predictor (name or folder), or None.
        judges: The objective's judges: 'default' (the predictor(s) above), 'consensus' or a comma list.
        check_judges: Held-out judges scored after the run: None / 'held-out', 'none' or a comma list.
        checkpoint_every: Iterations between checkpoints.
        export_size: Side of the exported elite PNGs, in pixels.
        chunk: Genomes per scoring task (fixed, so workers do not change results).
        engine: Inference engine of the predictors' fast path.
    """

    space: str = "category"          # category, va or vad
    cells: int = 12                  # va / vad: cells per dimension over 1–9
    descriptor: str | None = None    # category: a second measure ('brightness') …
    bins: int = 5                    # … in this many bins
    encoding: str = "cppn"           # cppn, pixels or edit (edits of --photo)
    photo: str | None = None         # edit: the photo whose edits are evolved
    grid: int = 32                   # pixels: the low-resolution canvas side
    hidden: int = 16                 # cppn: units per hidden layer
    layers: int = 2                  # cppn: hidden layers
    iterations: int = 300
    batch: int = 64                  # evaluations per iteration, split evenly over the emitters
    emitters: int = 4
    emitter: str = "auto"            # iso (Iso+LineDD), es (CMA-ME: separable CMA-ES, improvement
                                     # ranking), mega (CMA-MEGA: gradient arborescence through the
                                     # predictor) or auto: es for cppn, mega for the bounded pixels
    sigma: float | None = None       # mutation step in genome units (None: the encoding's own);
                                     # mega: initial step of the gradient coefficients
    lr: float | None = None          # mega: Adam learning rate of the solution point (None: the encoding's)
    line_sigma: float = 0.2          # iso: step along the line to another elite
    seed: int = 0
    model: str | None = None         # None: the packaged default model; a folder or a backbone name
    robust: bool = False             # fitness: mean over an ensemble × random transforms
    ensemble: list[str] = field(default_factory=lambda: ["efficientnet-lite0", "mobilenetv2"])
    transforms: int = 2              # random transforms per image and model under --robust
    check_backbone: str | None = None  # the earlier transfer flag: one held-out predictor (name or folder)
    judges: str = "default"          # the objective's judges: 'default' (the predictor(s) above, as
                                     # ever), 'consensus' or a comma list (emosynth.judges.parse_judges)
    check_judges: str | None = None  # held-out judges scored after the run: None / 'held-out' (judges.
                                     # HELD_OUT, or check_backbone when given), 'none', or a comma list
    starts: str = "spread"           # V-A pixels under CMA-MEGA: where the emitters start ('spread': the
                                     # corners of lightness x chroma; 'judges': where the objective's colour
                                     # judges read the plane's corners, emosynth.judges.colour_starts)
    checkpoint_every: int = 10
    export_size: int = 512           # px side of the exported elites
    chunk: int = 32                  # genomes per scoring task (fixed, so workers do not change results)
    engine: str = "auto"

    #: fields that may change when a run is resumed (they do not change its result)
    RESUMABLE = ("iterations", "checkpoint_every", "check_backbone", "check_judges", "export_size")

    @property
    def uses_judges(self) -> bool:
        """True when ``judges`` names judges other than the default predictor path."""
        return self.judges.strip().lower() != "default"

    def validate(self):
        """Check every setting before any model is loaded (``ConfigError`` naming the parameter)."""
        check_choice("encoding", self.encoding, ENCODING_NAMES)
        if (self.encoding == "edit") != bool(self.photo):
            raise ConfigError("photo", "is required with {encoding} edit, and only with it (the photo whose "
                              "edits are evolved)")
        check_choice("emitter", self.emitter, EMITTER_NAMES)
        for name, least in (("iterations", 1), ("batch", 1), ("emitters", 1), ("checkpoint_every", 1),
                            ("export_size", 8), ("transforms", 1), ("grid", 2), ("hidden", 1), ("layers", 1),
                            ("chunk", 1), ("bins", 1)):
            check_int_at_least(name, getattr(self, name), least)
        check_seed("seed", self.seed)
        if self.emitter == "es" and self.encoding == "pixels":
            # ribs' CMA-ES redraws every out-of-bounds sample; on 3,072 genes in [0, 1] it never finishes
            raise ConfigError("emitter", "es cannot search the bounded pixels encoding (its samples fall outside "
                              "[0, 1]); use {emitter} iso or mega, or {encoding} cppn")
        if self.batch < self.emitters:
            raise ConfigError("batch", f"{self.batch} is smaller than {{emitters}} {self.emitters}")
        for name in ("sigma", "lr"):
            if getattr(self, name) is not None:
                check_positive(name, getattr(self, name))
        check_positive("line_sigma", self.line_sigma)
        if self.robust and len(self.ensemble) < 1:
            raise ConfigError("ensemble", "needs at least one predictor with {robust}")
        make_space(self.space, cells=self.cells, descriptor=self.descriptor, bins=self.bins)  # fail before loading
        if not isinstance(self.judges, str) or not self.judges.strip():
            raise ConfigError("judges", "needs 'default', 'consensus' or a comma-separated list of judges "
                              "(see emosynth judges)")
        if self.check_judges is not None and (not isinstance(self.check_judges, str) or not self.check_judges.strip()):
            raise ConfigError("check_judges", "needs 'held-out', 'none' or a comma-separated list of judges")
        check_choice("starts", self.starts, STARTS)
        if self.starts == "judges" and not self.uses_judges:
            raise ConfigError("starts", "judges starts from the colours the objective's colour judges read at the "
                              "plane's corners: it needs {judges} with colour judges (e.g. consensus)")
        if self.uses_judges:
            if self.space == "category":
                raise ConfigError("judges", f"{self.judges!r} cannot judge {{space}} category: the colour judges "
                                  "have no categories; use {space} va or vad, or {judges} default")
            if self.robust or self.model is not None:
                raise ConfigError("judges", f"{self.judges!r} leaves no place for {{robust}} or {{model}} (they "
                                  "choose the default judge): name the networks in the list instead (e.g. ensemble)")


def _check_scheduler_address(address: str):
    """A Dask scheduler address, ``tcp://HOST:PORT`` (or ``tls://``, ``ws://``, ``wss://``, ``ucx://``,
    ``inproc://``); checked before any work so a typo is one line, not a traceback from the client."""
    import re

    if not isinstance(address, str) or not re.fullmatch(
            r"(?:(?:tcp|tls|ws|wss|ucx)://)?(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+):\d{1,5}|inproc://\S+", address):
        raise ConfigError("scheduler_address", f"{address!r} is not a Dask scheduler address; write "
                          "tcp://HOST:PORT, e.g. tcp://127.0.0.1:8786")


def _identity(cfg: EvolveConfig) -> dict:
    return {k: v for k, v in asdict(cfg).items() if k not in EvolveConfig.RESUMABLE}


def _encoding(cfg: EvolveConfig):
    if cfg.encoding == "edit":  # an absolute path: Dask workers rebuild the encoding from its spec
        return make_encoding("edit", photo=str(Path(cfg.photo).resolve()), seed=cfg.seed)
    if cfg.encoding == "pixels":
        return make_encoding("pixels", grid=cfg.grid)
    return make_encoding("cppn", hidden=cfg.hidden, layers=cfg.layers)


def emitter_kind(cfg: EvolveConfig, enc) -> str:
    """The emitter a run uses: ``cfg.emitter``, or for 'auto' mega on a bounded encoding, else es.

    Args:
        cfg: The run's configuration.
        enc: The run's encoding (its ``bounds`` decide 'auto').

    Returns:
        'iso', 'es' or 'mega'.
    """
    if cfg.emitter != "auto":
        return cfg.emitter
    # The bounded pixel grid: CMA-ES cannot sample it (see validate) and Iso+LineDD's mutations
    # of thousands of genes barely move the predictor; gradients do (README: CMA-MEGA tables).
    lo, hi = enc.bounds
    return "mega" if lo is not None or hi is not None else "es"


def _emitter_count(cfg: EvolveConfig, enc, n_categories: int) -> int:
    """CMA-MEGA over categories dedicates each emitter to one label: a multiple of the label count."""
    if emitter_kind(cfg, enc) == "mega" and cfg.space == "category":
        return -(-cfg.emitters // n_categories) * n_categories
    return cfg.emitters


def emitter_labels(scheduler, space) -> np.ndarray | None:
    """The label each emitter works for (CMA-MEGA over categories), else None (the argmax label)."""
    labels = [getattr(e, "label", None) for e in scheduler.emitters]
    return None if space.name != "category" or None in labels else np.array(labels)


def make_scheduler(cfg: EvolveConfig, space, enc, n_categories: int, start_colours=None):
    """The ribs scheduler of a new run: the space's archive and the configured emitters, seeded from ``cfg.seed``.

    Args:
        cfg: The run's configuration.
        space: The behaviour space (its archive).
        enc: The encoding (solution dimension, bounds, random initial genomes, default steps).
        n_categories: Labels of the category head (1 when none); CMA-MEGA over categories runs a
            multiple of them, one label per emitter.
        start_colours: On a V–A plane, the colours the CMA-MEGA emitters start around (the
            encoding's ``starts``); None: the encoding's own.

    Returns:
        A ``ribs.schedulers.Scheduler``.

    Raises:
        SynthError: ``cfg.batch`` smaller than the number of emitters.
    """
    from ribs.emitters import EvolutionStrategyEmitter, IsoLineEmitter
    from ribs.schedulers import Scheduler

    from ._dqd import MegaEmitter

    n = _emitter_count(cfg, enc, n_categories)
    if cfg.batch < n:
        raise SynthError(f"--batch {cfg.batch} is smaller than the {n} emitters (CMA-MEGA over categories "
                         f"runs a multiple of the {n_categories} labels)")
    seeds = np.random.SeedSequence(cfg.seed).generate_state(n + 2)
    archive = space.archive(enc.solution_dim, n_categories, int(seeds[0]))
    init_rng = np.random.default_rng(int(seeds[1]))
    lo, hi = enc.bounds
    bounds = None if lo is None and hi is None else [(lo, hi)] * enc.solution_dim
    sizes = [cfg.batch // n + (i < cfg.batch % n) for i in range(n)]
    kind = emitter_kind(cfg, enc)
    sigma = cfg.sigma or enc.sigma
    if kind == "mega":
        # CMA-MEGA: each emitter keeps a solution point, steps it by Adam along the objective's and
        # measures' gradients and samples around it along them (CMA-ES on the coefficients).
        labels = np.arange(n) % n_categories if cfg.space == "category" else [None] * n
        # on a V-A plane the emitters start spread over the plane's colours (Encoding.starts: where the
        # objective's colour judges read its corners and edges, else lightness x chroma), and restart
        # from an elite next to an empty cell (MegaEmitter frontier); a category's emitters as before
        x0s = (Encoding.starts(enc, n, init_rng) if cfg.space == "category"
               else enc.starts(n, init_rng, start_colours))
        # A category's single cell per label rarely improves on every step: restarting whenever
        # none of the batch improved ("no_improvement") would throw the ascent away, so restart
        # only when CMA-ES converges ("basic"), and then from an elite of the emitter's own label.
        # With brightness bins an emitter climbs the bin it is in and leaves the label's other
        # bins behind (fear's five cells did not move from iteration 60 to 110): there it restarts
        # every MEGA_REVISIT iterations too, from one of its label's two weakest cells.
        emitters = [MegaEmitter(archive, lower=lo, upper=hi, label=None if labels[i] is None else int(labels[i]),
                                x0=x0s[i], batch_size=b, seed=int(seeds[2 + i]),
                                sigma0=cfg.sigma or enc.mega_sigma, lr=cfg.lr or enc.mega_lr, ranker="imp",
                                selection_rule="mu", grad_opt="adam",
                                restart_rule=("no_improvement" if cfg.space != "category" else
                                              "basic" if space.bins == 1 else MEGA_REVISIT),
                                frontier=cfg.space != "category")
                    for i, b in enumerate(sizes)]
    elif kind == "iso":
        emitters = [IsoLineEmitter(archive, iso_sigma=sigma, line_sigma=cfg.line_sigma,
                                   initial_solutions=enc.random(b, init_rng), bounds=bounds, batch_size=b,
                                   seed=int(seeds[2 + i])) for i, b in enumerate(sizes)]
    else:
        # CMA-ME: each emitter adapts a search distribution towards new and improved cells and
        # restarts from a random elite when it stops improving. Separable CMA-ES: its cost grows
        # linearly with the genome, so it also suits a large one.
        emitters = [EvolutionStrategyEmitter(archive, x0=enc.random(1, init_rng)[0], sigma0=sigma, ranker="2imp",
                                             es="sep_cma_es", bounds=bounds, batch_size=b, seed=int(seeds[2 + i]))
                    for i, b in enumerate(sizes)]
    return Scheduler(archive, emitters)


def _stats(archive, iteration: int, evaluations: int, seconds: float) -> dict:
    s = archive.stats
    return {"iteration": iteration, "evaluations": evaluations, "coverage": float(s.coverage),
            "filled": int(s.num_elites), "qd_score": float(s.qd_score),
            "best": None if s.obj_max is None else float(s.obj_max),
            "mean": None if s.obj_mean is None else float(s.obj_mean), "seconds": round(seconds, 3)}


def _load_checkpoint(path: Path, cfg: EvolveConfig) -> dict:
    try:
        state = load_state(path)  # data only: arrays and JSON, allow_pickle=False
    except StateError as err:
        raise SynthError(f"{path}: unreadable checkpoint ({err}); remove it to start afresh") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise SynthError(f"{path}: checkpoint from another emosynth version; remove it to start afresh")
    # checkpoints from before --judges / --starts: what those runs did
    theirs = {"judges": "default", "starts": "spread", **state["identity"]}
    ours = _identity(cfg)
    diff = [k for k in ours if theirs.get(k) != ours[k]]
    if diff:
        changed = ", ".join(f"{k}: was {theirs.get(k)!r}, now {ours[k]!r}" for k in diff[:3])
        raise SynthError(f"{path}: --resume with different settings ({changed})")
    return state


def _save_checkpoint(path: Path, cfg, scheduler, iteration, history, evaluations, models):
    state = {"format": CHECKPOINT_FORMAT, "identity": _identity(cfg), "config": asdict(cfg),
             "iteration": iteration, "scheduler": scheduler, "history": history,
             "evaluations": evaluations, "models": [str(m) for m in models]}
    save_state(path, state)


def _tell(tell, scheduler, space, solutions, scores, labels, jacobian=None):
    insertions = space.assess(scores, labels)
    fields = {"vad": space.mean_vad(scores), "probabilities": scores["probabilities"].mean(0),
              "brightness": scores["brightness"]}
    objective, measures, _ = insertions[0]
    if jacobian is None:
        tell(objective, measures, **fields)
    else:
        tell(objective, measures, jacobian, **fields)
    for obj, meas, rows in insertions[1:]:  # a category image also competes for the other labels' cells
        scheduler.archive.add(solutions[rows], obj, meas, **{k: v[rows] for k, v in fields.items()})


def step(scheduler, space, evaluate, key: tuple[int, ...], gradients=None) -> int:
    """One MAP-Elites iteration: ask → render + score (``evaluate``) → tell.

    With CMA-MEGA emitters (``gradients``: a ``GradientJudge``), first ask_dqd → score + jacobian →
    tell_dqd for each emitter's solution point; those evaluations are counted too.

    Args:
        scheduler: The ribs scheduler.
        space: The behaviour space that turns scores into objectives and measures.
        evaluate: Scores genomes: ``evaluate(genomes, key)`` (e.g. an ``Evaluator``).
        key: Seed of this iteration's random transforms (e.g. seed, iteration).
        gradients: A ``GradientJudge`` for CMA-MEGA emitters, else None.

    Returns:
        The number of evaluations made.
    """
    labels = emitter_labels(scheduler, space)
    done = 0
    if gradients is not None:
        points = scheduler.ask_dqd()
        scores = evaluate(points, (*key, 1 << 20))  # its own transforms key, apart from the batch chunks
        jacobian = gradients.jacobian(points, key, labels)
        _tell(scheduler.tell_dqd, scheduler, space, points, scores, labels, jacobian)
        done += len(points)
    solutions = scheduler.ask()
    scores = evaluate(solutions, key)
    if labels is not None:
        labels = np.repeat(labels, [e.batch_size for e in scheduler.emitters])
    _tell(scheduler.tell, scheduler, space, solutions, scores, labels)
    return done + len(solutions)


def evolve(config: EvolveConfig, out: str | Path, *, resume: bool = False, overwrite: bool = False,
           workers: int = 0, scheduler_address: str | None = None, data_root=None,
           progress: Callable[[int], None] | None = None, stop_after: int | None = None,
           command: str | None = None) -> dict:
    """Run MAP-Elites and write the run directory ``out``.

    Args:
        config: What to evolve (validated first).
        out: The run directory: new, empty, or an evolve run.
        resume: Continue from the checkpoint in ``out``.
        overwrite: Replace a run already in ``out``.
        workers: Score on that many local processes (dask.distributed; 0: in this process). It does not
            change the result.
        scheduler_address: Score on an existing Dask cluster, ``tcp://HOST:PORT`` (None: none).
        data_root: Data folder used to resolve (and train) the models.
        progress: Called as ``progress(k)`` when k more iterations finish.
        stop_after: Stop (after a checkpoint) once that many iterations are done in this call, as an
            interrupted run would (None: run to ``config.iterations``).
        command: Recorded in run.json.

    Returns:
        The run.json contents; ``{"complete": False, "iteration": n}`` when stopped early.

    Raises:
        ConfigError: A bad setting, a negative ``workers`` or a malformed ``scheduler_address``.
        SynthError: ``out`` holds a run (without ``resume`` or ``overwrite``) or a legacy pickle checkpoint,
            or the Dask scheduler cannot be reached.
    """
    from ..models.predictor import Predictor

    cfg = config
    cfg.validate()
    out = Path(out)
    ckpt = out / CHECKPOINT
    if (out / LEGACY_CHECKPOINT).is_file() and not ckpt.exists():
        raise SynthError(f"{out / LEGACY_CHECKPOINT}: a pickle checkpoint of an earlier emosynth; it is never "
                         "loaded (a pickle can run code): remove it to start afresh, or choose another --out")
    # The ownership rule: a new or empty folder, or an evolve run (finished or not) — never anything else.
    check_output(out, RUN_KIND, overwrite=True)
    if not resume and not overwrite and (ckpt.exists() or (out / "run.json").exists()):
        raise SynthError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
    check_int_at_least("workers", workers, 0, "(0: in this process)")
    if scheduler_address is not None:
        _check_scheduler_address(scheduler_address)
    enc = _encoding(cfg)

    state = _load_checkpoint(ckpt, cfg) if resume and ckpt.exists() else None
    starts = None  # the encoding's own starting colours
    if cfg.uses_judges:
        from ..judges import colour_starts, parse_judges

        judges = parse_judges(cfg.judges)  # an unknown name stops here, before any work
        if cfg.starts == "judges":  # where the objective's colour judges read the plane's corners
            starts = colour_starts(judges)
            if starts is None:
                raise SynthError(f"--starts judges: the colour judges in --judges {cfg.judges} do not judge both "
                                 "valence and arousal (see emosynth judges); use --starts spread")
        models = [str(f) for j in judges for f in _judge_folders(j)]
        labels = next((tuple(j.labels) for j in judges if j.labels), None)
        space = make_space(cfg.space, cells=cfg.cells, labels=labels, judges=[(j.name, j.dims) for j in judges])
        objective_names = _transfer.judge_names(judges)
        info = {"labels": list(labels or []), "targets": [d for d in DIMENSIONS if any(d in j.dims for j in judges)],
                "ids": [model_id(f) for j in judges for f in _judge_folders(j)]
                + [j.name for j in judges if not _judge_folders(j)]}
    else:
        if state:
            models = state["models"]
        else:
            specs = cfg.ensemble if cfg.robust else [cfg.model]
            models = [resolve_model(s, data_root) for s in specs]
        predictors = [Predictor.load(m) for m in models]
        first = predictors[0]
        labels = tuple(first.labels) or None
        space = make_space(cfg.space, cells=cfg.cells, descriptor=cfg.descriptor, bins=cfg.bins, labels=labels)
        for m, p in zip(models, predictors):
            space.check(p, f"model {m}")
        objective_names = ({str(s).strip().lower() for s in cfg.ensemble} if cfg.robust
                           else {str(cfg.model or "default").strip().lower()})
        info = {"labels": list(first.labels), "targets": list(first.targets_), "ids": [model_id(m) for m in models]}
    n_cat = len(labels) if labels else 1
    # The held-out judges, built (and refused when also in the objective) before any work.
    check_names = _transfer.check_spec_names(cfg.check_judges, cfg.check_backbone)
    explicit = cfg.check_judges is not None and cfg.check_judges.strip().lower() != _transfer.HELD_OUT_SPEC
    check = _transfer.make_check_judges(check_names, objective_names, required=explicit or bool(cfg.check_backbone))

    if state:
        scheduler, history = state["scheduler"], state["history"]
        done, evaluations = state["iteration"], state["evaluations"]
    else:
        if overwrite:
            for stale in (ckpt, out / "run.json"):
                stale.unlink(missing_ok=True)
        scheduler, history, done, evaluations = make_scheduler(cfg, space, enc, n_cat, starts), [], 0, 0
        mark_output(out, RUN_KIND)  # a half-done run is recognised as an evolve run
    archive = scheduler.archive
    if progress and done:
        progress(min(done, cfg.iterations))

    spec = JudgeSpec(encoding=json.dumps(enc.spec(), sort_keys=True), models=tuple(models),
                     transforms=cfg.transforms if cfg.robust else 0, engine=cfg.engine,
                     judges=cfg.judges.strip() if cfg.uses_judges else None)
    ran, start_evaluations = 0, evaluations
    t0 = time.perf_counter()
    gradients = None
    if isinstance(scheduler.emitters[0], GradientArborescenceEmitter):
        from ._dqd import GradientJudge

        gradients = GradientJudge(spec, space)
    with Evaluator(spec, chunk=cfg.chunk, workers=workers, address=scheduler_address) as evaluate:
        while done < cfg.iterations and (stop_after is None or ran < stop_after):
            t = time.perf_counter()
            evaluations += step(scheduler, space, evaluate, (cfg.seed, done), gradients)
            done += 1
            ran += 1
            history.append(_stats(archive, done, evaluations, time.perf_counter() - t))
            if done % cfg.checkpoint_every == 0 or done == cfg.iterations:
                _save_checkpoint(ckpt, cfg, scheduler, done, history, evaluations, models)
            if progress:
                progress(1)
    if done < cfg.iterations:
        _save_checkpoint(ckpt, cfg, scheduler, done, history, evaluations, models)
        return {"complete": False, "iteration": done}
    return _finish(cfg, out, space, enc, archive, history, models, data_root, time.perf_counter() - t0,
                   evaluations - start_evaluations, command, emitters=_emitters_used(scheduler), info=info,
                   check=check)


def _judge_folders(judge) -> list:
    """The model folders of the network judges inside ``judge`` (none for a colour judge)."""
    from ..judges import NetworkJudge

    return [m.folder for m in judge.modules() if isinstance(m, NetworkJudge) and m.folder is not None]


def _emitters_used(scheduler) -> dict:
    e = scheduler.emitters
    return {"kind": type(e[0]).__name__, "count": len(e), "batch_sizes": [int(x.batch_size) for x in e],
            # CMA-MEGA: each emitter's solution point is scored (with gradients) on top of its batch
            "gradient_points_per_iteration": len(e) if isinstance(e[0], GradientArborescenceEmitter) else 0,
            "labels": [int(x.label) for x in e] if all(getattr(x, "label", None) is not None for x in e) else None}


def _finish(cfg, out, space, enc, archive, history, models, data_root, seconds, new_evaluations,
            command, emitters=None, info=None, check=None) -> dict:
    """Export elites (PNG at ``export_size``), items.csv, figures, held-out judges and run.json.

    ``info``: the objective's ``labels``, learnt ``targets`` and model ``ids``; ``check``: (held-out
    judges, notes for the default ones that could not be built)."""
    data = archive.data()
    order = np.argsort(data["index"])
    data = {k: v[order] for k, v in data.items()}
    grid = archive.int_to_grid_index(data["index"]) if len(order) else np.zeros((0, len(space.dims)), int)
    labels, targets = info["labels"], info["targets"]
    check_judges, check_notes = check if check is not None else ([], {})
    held = _transfer.verdicts(check_judges, enc, data["solution"])
    images = out / IMAGES_DIR
    images.mkdir(parents=True, exist_ok=True)
    for old in images.glob("*.png"):  # a resumed or re-run export replaces the previous elites
        old.unlink()
    rows, thumbs = [], []
    for start in range(0, len(order), 16):
        sl = slice(start, start + 16)
        big = (enc.render_export(data["solution"][sl], cfg.export_size) if hasattr(enc, "render_export")
               else enc.render_uint8(data["solution"][sl], cfg.export_size))
        thumbs.append(enc.render_uint8(data["solution"][sl], 64))
        for j, img in enumerate(big):
            i = start + j
            name = f"{int(data['index'][i]):04d}-{space.cell_name(grid[i])}.png"
            write_png(images / name, img)
            row = {"file": name, **space.target(grid[i]),
                   **prediction_columns(labels, data["vad"][i], data["probabilities"][i], targets),
                   "fitness": float(data["objective"][i]), "cell": int(data["index"][i])}
            for name_, m in zip(space.measure_names, data["measures"][i]):
                row[f"measure_{name_}"] = (labels[int(m)] if name_ == "category" else float(m))
            row["brightness"] = float(data["brightness"][i])  # mean luminance 0-1, whatever the space
            if cfg.photo:  # the edit encoding: the photo each elite is an edit of
                row["source"] = cfg.photo
            for j, v in zip(check_judges, held):  # each held-out judge's V/A
                row.update(_transfer.item_columns(j, v["vad"][i]))
            rows.append(row)
    write_items(out, rows)
    thumbs = np.concatenate(thumbs) if thumbs else np.zeros((0, 64, 64, 3), np.uint8)
    what = f"{cfg.space} × {cfg.encoding}, seed {cfg.seed}, {history[-1]['evaluations']} evaluations"
    progress_plot(history, out / "progress.png", what)
    archive_mosaic(space, grid, thumbs, out / "archive.png", what)

    meta = {
        **run_header("evolve", command, asdict(cfg), cfg.seed, info["ids"]),
        "model_dirs": models,
        "space": space.describe(),
        "encoding": {**enc.spec(), "solution_dim": enc.solution_dim},
        "emitters": emitters,
        "metrics": {**history[-1],
                    # wall time of this call, start-up included (benchmarks/bench_evolve.py times iterations)
                    "evaluations_per_second_this_call": round(new_evaluations / seconds, 2) if seconds > 0 else None},
        "history": history,
        "complete": True,
    }
    if cfg.space != "category":
        meta["rated"] = _rated_cells(space, archive, data_root)
    transfer = dict(check_notes)
    for j, v in zip(check_judges, held):
        transfer[_transfer.column_prefix(j)] = _transfer.summary(j, v, space, grid, data["vad"], labels)
    if cfg.check_backbone and check_judges and cfg.check_judges is None:
        # the earlier flag's flat keys, beside the per-judge entry, for readers of earlier runs
        transfer.update(_transfer.legacy_view(transfer[_transfer.column_prefix(check_judges[0])]))
    meta["transfer"] = transfer or None
    write_run(out, meta)
    return meta


def _rated_cells(space, archive, data_root) -> dict | None:
    """How many of the cells that the training data's rated images span are filled."""
    from ..data import load_datasets
    from ..errors import DataError

    try:
        sets = load_datasets(["oasis", "emotion6"], data_root)
    except DataError as err:
        return {"note": f"training data not found ({err}); rated span not computed"}
    vad = np.concatenate([s.vad for s in sets])[:, : len(space.dims)]
    vad = vad[np.isfinite(vad).all(1)]
    rated = set(np.unique(archive.index_of(vad)).tolist())
    filled = set(archive.data("index").tolist())
    return {"cells": len(rated), "filled": len(rated & filled),
            "coverage": len(rated & filled) / len(rated) if rated else None,
            "images": int(len(vad)), "datasets": ["oasis", "emotion6"],
            "note": "dominance is lexicon-derived (Warriner et al. 2013)" if len(space.dims) == 3 else None}


def transfer_check(cfg, space, enc, data, grid, labels, data_root) -> dict:
    """The elites under a second predictor: category agreement (vs chance) or Pearson r per dimension.

    For va / vad the r is between each elite's cell target and the check predictor's V / A (/ D), both on
    the SAM 1–9 scale (``r_<dim>``), with the run's own judge's r beside it (``r_<dim>_judge``).

    Args:
        cfg: The run's configuration (``check_backbone``: the check predictor; ``engine``).
        space: The run's space.
        enc: The run's encoding, to render the elites.
        data: The archive's elites: ``solution`` genomes and ``vad`` (n, 3).
        grid: The elites' grid indices (n, measures).
        labels: The category labels (their count gives chance).
        data_root: Data folder used to resolve the check predictor.

    Returns:
        ``check_model``, ``elites``, and ``agreement`` / ``chance`` / ``mean_p_target`` (category) or
        ``r_<dim>`` / ``r_<dim>_judge`` (None where undefined).
    """
    from scipy.stats import pearsonr

    from ..models.predictor import Predictor

    folder = resolve_model(cfg.check_backbone, data_root)
    check = Predictor.load(folder)
    space.check(check, f"check model {cfg.check_backbone}")
    preds = {"vad": [], "probabilities": []}
    for start in range(0, len(data["solution"]), 32):
        x = enc.render(data["solution"][start:start + 32], check.input_size)
        p = check.predict_tensor(x, engine=cfg.engine)
        preds["vad"].append(p["vad"])
        preds["probabilities"].append(p.get("probabilities", np.zeros((len(x), 1))))
    vad = np.concatenate(preds["vad"]) if preds["vad"] else np.zeros((0, 3))
    out = {"check_model": model_id(folder), "elites": int(len(vad))}
    if space.name == "category":
        probs = np.concatenate(preds["probabilities"])
        agree = probs.argmax(1) == grid[:, 0]
        out.update({"agreement": float(agree.mean()) if len(agree) else None, "chance": 1 / len(labels),
                    "mean_p_target": float(probs[np.arange(len(probs)), grid[:, 0]].mean()) if len(probs) else None})
    else:
        targets = space.centres(grid)
        for j, d in enumerate(space.measure_names):
            ok = len(vad) > 2 and np.ptp(targets[:, j]) > 0 and np.ptp(vad[:, j]) > 0
            out[f"r_{d}"] = float(pearsonr(targets[:, j], vad[:, j])[0]) if ok else None
            # the judge's own view, for comparison (near 1 by construction)
            ok = len(vad) > 2 and np.ptp(data["vad"][:, j]) > 0 and np.ptp(targets[:, j]) > 0
            out[f"r_{d}_judge"] = float(pearsonr(targets[:, j], data["vad"][:, j])[0]) if ok else None
    return out
