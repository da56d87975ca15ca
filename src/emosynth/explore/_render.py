"""The render loop of activation maximisation: parametrisation × objective × transforms.

Every (objective, seed) pair is one image of one batch, optimised together with Adam; each step
draws a random jitter / scale / rotation (and mild colour change) per image before the predictor
sees it, so only patterns that survive them are rewarded. ``--naive`` optimises raw pixels without
transforms, which is what produces high-frequency adversarial noise.
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
    """What to visualise and how. ``objectives`` empty: one per output of the model."""

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


def _model(model: str | None):
    from ..models.predictor import Predictor

    p = Predictor.load(model)
    if p.extractor().is_handcrafted:
        raise EmosynthError("activation maximisation needs a CNN backbone; this model uses handcrafted features")
    return p


def visualize(config: VisualizeConfig, out_dir: str | Path, progress=None, *, command: str | None = None,
              overwrite: bool = False) -> Path:
    """Optimise one image per (objective, seed); write a run directory with ``mosaic.png``.
    ``command`` (the command line that made it) is recorded in run.json. ``out_dir`` must be new or
    empty, or (with ``overwrite``) an earlier visualize run (``emosynth.fsio``'s ownership rule)."""
    from ..transforms import TransformConfig, random_flip, random_transforms

    cfg = config
    cfg.validate()
    check_output(out_dir, RUN_KIND, overwrite)  # before the work: never replace what is not ours
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
    torch.manual_seed(cfg.seed)
    jobs = [(o, s) for o in objectives for s in range(cfg.seeds)]
    image = make_image(len(jobs), cfg.size, cfg.naive, cfg.seed)
    opt = torch.optim.Adam(image.parameters(), lr=cfg.lr)
    rng = np.random.default_rng(cfg.seed)
    tcfg = TransformConfig(jitter=cfg.jitter, scale=tuple(cfg.scale), degrees=cfg.degrees, colour=cfg.colour)
    groups = {}
    for i, (o, _) in enumerate(jobs):
        groups.setdefault(o, []).append(i)

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
        if cats:
            k = int(pred["probabilities"][i].argmax())
            label = f"{cats[k]} {pred['probabilities'][i, k]:.2f} · " + label
        ax.set_title(label, fontsize=7)
        if s == 0:
            ax.set_ylabel(o.name, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
