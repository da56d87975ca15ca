"""The render loop of activation maximisation: parametrisation × objective × transforms.

Every (objective, seed) pair is one image of one batch, optimised together with Adam; each step
draws a random jitter / scale / rotation (and mild colour change) per image before the predictor
sees it, so only patterns that survive them are rewarded. ``--naive`` optimises raw pixels without
transforms, which is what produces high-frequency adversarial noise.

``judges`` other than ``"default"`` (``"consensus"`` or a comma list, ``emosynth.judges.parse_judges``)
optimise V/A(/D) target points under the consensus of those judges (``emosynth.judges.Consensus``:
softmin of each judge's minus squared error, τ = 1 point²), e.g. the network ensemble *and* the
Valdez-Mehrabian colour judge; ``valence+`` / ``valence-`` mean the scale's end (9 / 1). The images are
then reported against held-out judges (``check_judges``: default ``emosynth.judges.HELD_OUT``, never
ones in the objective): their V/A in items.csv (``<judge>_valence``/``_arousal``), r and MAE in run.json
``transfer``; the objective's own judges' V/A go into ``judge_<name>_valence``/``_arousal``.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..config import ConfigError, check_int_at_least, check_positive, check_seed
from ..errors import EmosynthError
from ..fsio import check_output, output_directory
from ._objectives import default_objectives, parse_objective
from ._param import make_image

#: the ownership kind of a visualize run directory (``emosynth.fsio``)
RUN_KIND = "run:visualize"


@dataclass
class VisualizeConfig:
    """What to visualise and how. ``objectives`` empty: one per output of the model.

    Attributes:
        model: A saved model folder; None: the packaged default.
        objectives: Objective strings (see ``parse_objective``); empty: one per output of the model.
        seeds: Images per objective, each from its own start.
        seed: Random seed.
        steps: Optimisation steps.
        size: Side of the images, in pixels (at least 32).
        lr: Adam learning rate.
        naive: Optimise raw pixels (``PixelImage``) instead of the Fourier parametrisation.
        jitter: Random translation per step, as a fraction of the side.
        scale: (low, high) range of the random scale factor per step.
        degrees: Random rotation per step, degrees either way.
        colour: Random brightness / contrast / saturation multipliers in [1 - colour, 1 + colour].
        judges: The objective's judges: 'default' (the predictor above), 'consensus' or a comma list.
        check_judges: Held-out judges scored after a judges run: None / 'held-out', 'none' or a comma list.
    """

    model: str | None = None  # a saved model folder; None: the packaged default
    objectives: list[str] = field(default_factory=list)
    seeds: int = 3
    seed: int = 0
    steps: int = 48
    size: int = 224
    lr: float = 0.05
    naive: bool = False
    #: random transforms per step: translation (fraction of the side), scale range, degrees
    jitter: float = 0.06
    scale: tuple = (0.9, 1.1)
    degrees: float = 8.0
    colour: float = 0.05
    #: the objective's judges: "default" (the predictor above, as ever), "consensus" or a comma list
    judges: str = "default"
    #: held-out judges scored after a judges run: None / "held-out" (judges.HELD_OUT), "none" or a list
    check_judges: str | None = None

    @property
    def uses_judges(self) -> bool:
        return isinstance(self.judges, str) and self.judges.strip().lower() != "default"

    def validate(self):
        """Check every setting before the model is loaded (``ConfigError`` naming the parameter)."""
        check_int_at_least("seeds", self.seeds, 1)
        check_int_at_least("steps", self.steps, 1)
        check_int_at_least("size", self.size, 32, "px")
        check_seed("seed", self.seed)
        check_positive("lr", self.lr)
        for name in ("jitter", "degrees", "colour"):
            check_positive(name, getattr(self, name), allow_zero=True)
        if len(self.scale) != 2 or \
                not 0 < check_positive("scale", self.scale[0]) <= check_positive("scale", self.scale[1]):
            raise ConfigError("scale", f"must be two finite numbers 0 < low ≤ high, got {self.scale!r}")
        if not isinstance(self.judges, str) or not self.judges.strip():
            raise ConfigError("judges", "needs 'default', 'consensus' or a comma-separated list of judges "
                              "(see emosynth judges)")
        if self.uses_judges and self.model is not None:
            raise ConfigError("judges", f"{self.judges!r} leaves no place for {{model}}: name the network in the "
                              "list instead")


#: judges runs: the default targets, the four corners of the V-A plane's rated span
JUDGES_DEFAULT_OBJECTIVES = ("valence=2,arousal=2", "valence=2,arousal=8", "valence=8,arousal=2",
                             "valence=8,arousal=8")


def _judge_objective(text: str, dims: set[str]):
    """A V/A(/D) point objective for a judges run (``valence+``: the point valence=9)."""
    from ._objectives import Objective, ObjectiveError

    dims_list = [d for d in ("valence", "arousal", "dominance") if d in dims]
    words = ("with --judges the targets are V/A/D points such as 'valence=8,arousal=2' or valence+ / valence- "
             "(the colour judges have no categories or channels)")
    try:
        o = parse_objective(text, [], 1, dims_list)
    except ObjectiveError as err:
        if "=" in text and "channel" not in text.lower():
            raise  # a point off the scale or on a dimension no judge judges: that message says it
        raise ObjectiveError(f"objective {text!r}: {words}") from err
    if o.kind == "dimension":
        v = 9.0 if o.sign > 0 else 1.0
        d = ("valence", "arousal", "dominance")[o.index]
        return Objective("point", f"{d[0]}{v:g}", point=((o.index, v),))
    if o.kind != "point":
        raise ObjectiveError(f"objective {text!r}: {words}")
    return o


def _model(model: str | None):
    from ..models.predictor import Predictor

    p = Predictor.load(model)
    if p.extractor().is_handcrafted:
        raise EmosynthError("activation maximisation needs a CNN backbone; this model uses handcrafted features")
    return p


def _render_loop_state(cfg, objectives):
    """What both render loops start from, seeded by ``cfg.seed``: (jobs = (objective, seed) pairs, the
    parametrised images, their Adam optimiser, the transforms' generator and configuration, each objective's
    image indices)."""
    from ..transforms import TransformConfig

    torch.manual_seed(cfg.seed)
    jobs = [(o, s) for o in objectives for s in range(cfg.seeds)]
    image = make_image(len(jobs), cfg.size, cfg.naive, cfg.seed)
    opt = torch.optim.Adam(image.parameters(), lr=cfg.lr)
    rng = np.random.default_rng(cfg.seed)
    tcfg = TransformConfig(jitter=cfg.jitter, scale=tuple(cfg.scale), degrees=cfg.degrees, colour=cfg.colour)
    groups: dict = {}
    for i, (o, _) in enumerate(jobs):
        groups.setdefault(o, []).append(i)
    return jobs, image, opt, rng, tcfg, groups


def visualize(config: VisualizeConfig, out_dir: str | Path, progress=None, *, command: str | None = None,
              overwrite: bool = False) -> Path:
    """Optimise one image per (objective, seed); write a run directory with ``mosaic.png``.

    Args:
        config: What to visualise (validated first).
        out_dir: The run directory: new or empty, or (with ``overwrite``) an earlier visualize run
            (``emosynth.fsio``'s ownership rule).
        progress: Called as ``progress(step, total)`` after each optimisation step (None: no progress).
        command: The command line that made the run, recorded in run.json.
        overwrite: Replace an earlier visualize run in ``out_dir``.

    Returns:
        The run directory.

    Raises:
        ConfigError: A bad setting.
        ObjectiveError: An objective the model (or the judges) cannot score.
        EmosynthError: The same objective given twice, or a model with handcrafted features.
    """
    from ..transforms import random_flip, random_transforms

    cfg = config
    cfg.validate()
    check_output(out_dir, RUN_KIND, overwrite)  # before the work: never replace what is not ours
    if cfg.uses_judges:
        return _visualize_judges(cfg, out_dir, progress, command, overwrite)
    predictor = _model(cfg.model)
    cats = predictor.labels
    targets = list(predictor.targets_)
    # one view: random flips mirror half the images each step; averaging both views would double the cost
    module = predictor.module(flip=False)
    n_features = len(predictor.feature_mean_)
    texts = cfg.objectives or default_objectives(cats, targets)
    objectives = [parse_objective(t, cats, n_features, targets) for t in texts]
    if len({o.name for o in objectives}) != len(objectives):
        raise EmosynthError("the same objective is given twice")
    jobs, image, opt, rng, tcfg, groups = _render_loop_state(cfg, objectives)

    def scores(images):
        with torch.no_grad():
            out = module(images)
            f = out["features"]
            return torch.stack([jobs[i][0].score({k: v[i:i + 1] for k, v in out.items()}, f[i:i + 1])[0]
                                for i in range(len(jobs))])

    start = scores(image())
    t0 = time.perf_counter()
    history = []
    for step in range(cfg.steps):
        img = image()
        x = img if cfg.naive else random_flip(random_transforms(img, rng, tcfg), rng)
        out = module(x)
        f = out["features"]
        loss = 0.0
        for o, idx in groups.items():
            sel = torch.tensor(idx)
            loss = loss - o.score({k: v[sel] for k, v in out.items()}, f[sel]).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.append(float(loss.detach()) / len(jobs))
        if progress:
            progress(step + 1, cfg.steps)
    seconds = time.perf_counter() - t0
    final = image().detach()
    end = scores(final)
    return _write(cfg, out_dir, predictor, jobs, final, start.numpy(), end.numpy(), history, seconds, command,
                  overwrite)


def _names(judges) -> set[str]:
    from ..judges import Judge

    return {m.name.strip().lower() for j in judges for m in j.modules() if isinstance(m, Judge)}


def _check_judges(spec: str | None, judges):
    """The held-out judges (``spec``: None / 'held-out' → ``judges.HELD_OUT``, 'none', or a comma list),
    refused when in the objective; a default one that cannot be built is left out with a note."""
    from ..judges import HELD_OUT, make_judge

    key = (spec or "held-out").strip().lower()
    names = list(HELD_OUT) if key == "held-out" else [] if key == "none" else [n.strip() for n in spec.split(",")]
    if any(not n for n in names):
        raise ConfigError("check_judges", f"{spec!r}: an empty name in the list")
    ours, check, notes = _names(judges), [], {}
    for name in names:
        try:
            j = make_judge(name)
        except EmosynthError as err:
            if key != "held-out":
                raise
            notes[name] = {"note": f"not checked: {str(err).splitlines()[0]}"}
            continue
        both = _names([j]) & ours
        if both or name.strip().lower() in ours:
            raise ConfigError("check_judges", f"names {sorted(both or {name})[0]!r}, which is in the objective "
                              "({judges}) too: a held-out judge must be one the search never optimised")
        check.append(j)
    return check, notes


def _prefix(judge) -> str:
    name = str(judge.name)
    return Path(name).name if ("/" in name or "\\" in name) else name


def _visualize_judges(cfg, out_dir, progress, command, overwrite) -> Path:
    """The render loop under the consensus of ``cfg.judges`` (see the module docstring)."""
    from ..judges import Consensus, parse_judges
    from ..transforms import random_flip, random_transforms

    judges = parse_judges(cfg.judges)  # an unknown name stops here, before any work
    dims = {d for j in judges for d in j.dims}
    texts = cfg.objectives or list(JUDGES_DEFAULT_OBJECTIVES)
    objectives = [_judge_objective(t, dims) for t in texts]
    if len({o.name for o in objectives}) != len(objectives):
        raise EmosynthError("the same objective is given twice")
    check, notes = _check_judges(cfg.check_judges, judges)
    cons = Consensus(judges)
    jobs, image, opt, rng, tcfg, groups = _render_loop_state(cfg, objectives)
    # one target per objective: a judge's objective covers the dimensions that objective targets
    targets = {o: tuple(dict(o.point).get(k, float("nan")) for k in range(3)) for o in groups}

    def objective(images):
        out = torch.zeros(len(jobs), dtype=images.dtype)
        for o, idx in groups.items():
            sel = torch.tensor(idx)
            out = out.index_put((sel,), cons.objective(images[sel], targets[o]))
        return out

    def scores(images):
        with torch.no_grad():
            return objective(images)

    start = scores(image())
    t0 = time.perf_counter()
    history = []
    for step in range(cfg.steps):
        img = image()
        x = img if cfg.naive else random_flip(random_transforms(img, rng, tcfg), rng)
        loss = -objective(x).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.append(float(loss.detach()) / len(jobs))
        if progress:
            progress(step + 1, cfg.steps)
    seconds = time.perf_counter() - t0
    final = image().detach()
    with torch.no_grad():
        end = objective(final)
        own = [j.score(final) for j in judges]
        held = [j.score(final) for j in check]
    return _write_judges(cfg, out_dir, judges, check, notes, jobs, final, start.numpy(), end.numpy(), own, held,
                         history, seconds, command, overwrite)


def _write_judges(cfg, out_dir, judges, check, notes, jobs, final, start, end, own, held, history, seconds,
                  command, overwrite):
    from ..emotions import DIMENSIONS
    from ..models.registry import model_id
    from ..rundir import judge_columns, prediction_columns, run_header, write_items, write_png, write_run
    from ..transforms import to_uint8

    out_dir = Path(out_dir)
    vad = torch.stack([o["vad"] for o in own]).double().numpy()  # (J, n, 3), NaN: not judged
    ok = np.isfinite(vad)
    mean = np.divide(np.where(ok, vad, 0).sum(0), ok.sum(0), out=np.full(vad.shape[1:], np.nan),
                     where=ok.sum(0) > 0)
    labels = next((list(j.labels) for j in judges if j.labels), [])
    probs = next((o["probabilities"].double().numpy() for j, o in zip(judges, own) if j.labels), None)
    learnt = [d for d in DIMENSIONS if any(d in j.dims for j in judges)]
    with output_directory(out_dir, RUN_KIND, overwrite) as tmp:
        imgs = to_uint8(final)
        rows = []
        for i, (o, s) in enumerate(jobs):
            name = f"{o.name}_seed{s}.png"
            write_png(tmp / "images" / name, imgs[i])
            row = {"file": name, **o.target_columns(), "fitness": float(end[i]), "cell": o.name,
                   "objective": o.name, "objective_start": float(start[i]), "seed": s}
            row.update(prediction_columns(labels, mean[i], probs[i] if probs is not None else None, learnt))
            for j, v in zip(judges, vad):
                row.update({f"judge_{k}": x for k, x in judge_columns(_prefix(j), v[i], j.dims).items()})
            for j, h in zip(check, held):
                row.update(judge_columns(_prefix(j), h["vad"][i].double().numpy(), j.dims))
            rows.append(row)
        write_items(tmp, rows)
        _mosaic(jobs, imgs, cfg.seeds, tmp / "mosaic.png", {"vad": mean, "probabilities": probs},
                labels if probs is not None else [])
        per_objective = {}
        for o in dict.fromkeys(o for o, _ in jobs):
            idx = [i for i, (oo, _) in enumerate(jobs) if oo == o]
            per_objective[o.name] = {"score_start": float(np.mean(start[idx])), "score_end": float(np.mean(end[idx]))}
        transfer = dict(notes)
        tgt = np.array([[dict(o.point).get(k, np.nan) for k in range(3)] for o, _ in jobs])
        for j, h in zip(check, held):
            v = h["vad"].double().numpy()
            entry = {"judge": j.name, "n": len(jobs), "dims": list(j.dims)}
            for k, d in enumerate(DIMENSIONS):
                if d not in j.dims or not np.isfinite(tgt[:, k]).any():
                    continue
                t, x = tgt[:, k], v[:, k]
                use = np.isfinite(t) & np.isfinite(x)
                r = (float(np.corrcoef(t[use], x[use])[0, 1])
                     if use.sum() > 2 and np.ptp(t[use]) > 0 and np.ptp(x[use]) > 0 else None)
                entry[f"r_{d}"] = r
                entry[f"mae_{d}"] = float(np.abs(x[use] - t[use]).mean()) if use.any() else None
            transfer[_prefix(j)] = entry
        folders = [m.folder for j in judges for m in j.modules() if getattr(m, "folder", None) is not None]
        ids = [model_id(f) for f in folders] + [j.name for j in judges if not any(
            getattr(m, "folder", None) is not None for m in j.modules())]
        meta = {**run_header("visualize", command, asdict(cfg), cfg.seed, ids),
                "parametrisation": "pixels (naive)" if cfg.naive
                else "Fourier, 1/f scaled, decorrelated colour, sigmoid",
                "transforms": None if cfg.naive else {"jitter": cfg.jitter, "scale": list(cfg.scale),
                                                      "degrees": cfg.degrees, "colour": cfg.colour},
                "judges": {"objective": [j.name for j in judges], "consensus": {"method": "softmin", "tau": 1.0,
                                                                                "units": "scale points squared"}},
                "transfer": transfer or None,
                "metrics": {"objectives": per_objective, "seconds": seconds, "steps": cfg.steps,
                            "images": len(jobs), "loss": history[::max(1, len(history) // 50)]}}
        write_run(tmp, meta)
    return out_dir


def _write(cfg, out_dir, predictor, jobs, final, start, end, history, seconds, command, overwrite):
    from ..models.predictor import DEFAULT_MODEL_DIR
    from ..models.registry import model_id
    from ..rundir import prediction_columns, run_header, write_items, write_png, write_run
    from ..transforms import to_uint8

    out_dir = Path(out_dir)
    with output_directory(out_dir, RUN_KIND, overwrite) as tmp:
        imgs = to_uint8(final)
        pred = predictor.predict_tensor(final)
        cats = predictor.labels
        rows = []
        for i, (o, s) in enumerate(jobs):
            name = f"{o.name}_seed{s}.png"
            write_png(tmp / "images" / name, imgs[i])
            row = {"file": name, **o.target_columns(), "fitness": float(end[i]), "cell": o.name,
                   "objective": o.name, "objective_start": float(start[i]), "seed": s}
            row.update(prediction_columns(cats, pred["vad"][i], pred["probabilities"][i] if cats else None,
                                          predictor.targets_))
            rows.append(row)
        write_items(tmp, rows)
        _mosaic(jobs, imgs, cfg.seeds, tmp / "mosaic.png", pred, cats)
        per_objective = {}
        for o in dict.fromkeys(o for o, _ in jobs):
            idx = [i for i, (oo, _) in enumerate(jobs) if oo == o]
            entry = {"score_start": float(np.mean(start[idx])), "score_end": float(np.mean(end[idx]))}
            if o.kind == "category" and cats:
                entry["probability_end"] = float(np.mean(pred["probabilities"][idx, o.index]))
                entry["probability_start"] = float(np.mean(np.exp(start[idx])))
            per_objective[o.name] = entry
        model_dir = Path(cfg.model) if cfg.model else DEFAULT_MODEL_DIR
        meta = {**run_header("visualize", command, asdict(cfg), cfg.seed, [model_id(model_dir)]),
                "parametrisation": "pixels (naive)" if cfg.naive
                else "Fourier, 1/f scaled, decorrelated colour, sigmoid",
                "transforms": None if cfg.naive else {"jitter": cfg.jitter, "scale": list(cfg.scale),
                                                      "degrees": cfg.degrees, "colour": cfg.colour},
                "metrics": {"objectives": per_objective, "seconds": seconds, "steps": cfg.steps,
                            "images": len(jobs), "loss": history[::max(1, len(history) // 50)]}}
        write_run(tmp, meta)
    return out_dir


def _mosaic(jobs, imgs, seeds, path, pred, cats):
    """Objectives as rows, seeds as columns, each tile titled with what the predictor now says."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(o.name for o, _ in jobs))
    fig, axes = plt.subplots(len(names), seeds, figsize=(2.1 * seeds, 2.3 * len(names)), squeeze=False)
    for i, (o, s) in enumerate(jobs):
        ax = axes[names.index(o.name), s]
        ax.imshow(imgs[i])
        ax.set_xticks([])
        ax.set_yticks([])
        label = f"V {pred['vad'][i, 0]:.1f} A {pred['vad'][i, 1]:.1f}"
        if cats and pred.get("probabilities") is not None:
            k = int(pred["probabilities"][i].argmax())
            label = f"{cats[k]} {pred['probabilities'][i, k]:.2f} · " + label
        ax.set_title(label, fontsize=7)
        if s == 0:
            ax.set_ylabel(o.name, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
