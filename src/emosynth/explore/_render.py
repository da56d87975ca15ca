"""The render loop of activation maximisation: parametrisation × objective × transforms.

Every (objective, seed) pair is one image of one batch, optimised together with Adam; each step
draws a random jitter / scale / rotation (and mild colour change) per image before the predictor
sees it, so only patterns that survive them are rewarded. ``--naive`` optimises raw pixels without
transforms, which is what produces high-frequency adversarial noise.
"""

from __future__ import annotations

import datetime as _dt
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from .. import __version__
from ..emotions import DIMENSIONS
from ..errors import EmosynthError
from ..rundir import atomic_directory
from ._objectives import default_objectives, parse_objective
from ._param import make_image


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
    command: str | None = None


def _model(model: str | None):
    from ..models.predictor import Predictor

    p = Predictor.load(model)
    if p.extractor().is_handcrafted:
        raise EmosynthError("activation maximisation needs a CNN backbone; this model uses handcrafted features")
    return p


def _optimisation_module(predictor, flip: bool = False):
    """The predictor as a torch module for optimising through: a copy in channels_last memory order
    (faster convolutions on CPU) whose backbones see one view unless ``flip`` (where random
    transforms flip half the images, averaging both views would double the cost for little)."""
    import copy

    from ..models.backbones import FeatureNet

    module = copy.deepcopy(predictor.module())  # the predictor's own net feeds its ONNX export: leave it
    for m in module.modules():
        if isinstance(m, FeatureNet):
            m.flip = m.flip and flip
    for p in module.parameters():
        p.requires_grad_(False)
    return module.to(memory_format=torch.channels_last).eval()


def _random_flip(x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    flip = torch.from_numpy(rng.random(x.shape[0]) < 0.5)
    return torch.where(flip[:, None, None, None], torch.flip(x, dims=[3]), x)


def _forward(module, images: torch.Tensor, size: int):
    """Features and unclamped head outputs (the clamp to 1–9 would stop gradients at the ends)."""
    x = images.contiguous(memory_format=torch.channels_last)
    if x.shape[-1] != size:
        x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False,
                                            antialias=True)
    f = module.features(x)
    h = module.heads
    z = (f - h.mean) / h.scale
    logits = h.category(z)
    vad = h.vad(z)
    return f, {"logits": logits, "vad_raw": vad, "vad": vad.clamp(1, 9)}


def visualize(config: VisualizeConfig, out_dir: str | Path, progress=None) -> Path:
    """Optimise one image per (objective, seed); write a run directory with ``mosaic.png``."""
    from ..transforms import TransformConfig, random_transforms

    cfg = config
    if cfg.seeds < 1 or cfg.steps < 1 or cfg.size < 32:
        raise EmosynthError("--seeds and --steps must be at least 1 and --size at least 32 px")
    predictor = _model(cfg.model)
    cats = list(predictor.categories_.names) if predictor.categories_ else []
    targets = list(predictor.targets_)
    module = _optimisation_module(predictor)
    n_features = len(predictor.feature_mean_)
    texts = cfg.objectives or default_objectives(cats, targets)
    objectives = [parse_objective(t, cats, n_features, targets) for t in texts]
    if len({o.name for o in objectives}) != len(objectives):
        raise EmosynthError("the same objective is given twice")
    torch.manual_seed(cfg.seed)
    jobs = [(o, s) for o in objectives for s in range(cfg.seeds)]
    size_in = predictor.extractor().input_size
    image = make_image(len(jobs), cfg.size, cfg.naive, cfg.seed)
    opt = torch.optim.Adam(image.parameters(), lr=cfg.lr)
    rng = np.random.default_rng(cfg.seed)
    tcfg = TransformConfig(jitter=cfg.jitter, scale=tuple(cfg.scale), degrees=cfg.degrees, colour=cfg.colour)
    groups = {}
    for i, (o, _) in enumerate(jobs):
        groups.setdefault(o, []).append(i)

    def scores(images):
        with torch.no_grad():
            f, out = _forward(module, images, size_in)
            return torch.stack([jobs[i][0].score({k: v[i:i + 1] for k, v in out.items()}, f[i:i + 1])[0]
                                for i in range(len(jobs))])

    start = scores(image())
    t0 = time.perf_counter()
    history = []
    for step in range(cfg.steps):
        img = image()
        x = img if cfg.naive else _random_flip(random_transforms(img, rng, tcfg), rng)
        f, out = _forward(module, x, size_in)
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
    return _write(cfg, out_dir, predictor, jobs, final, start.numpy(), end.numpy(), history, seconds)


def _write(cfg, out_dir, predictor, jobs, final, start, end, history, seconds):
    from ..models.predictor import DEFAULT_MODEL_DIR
    from ..rundir import write_items, write_png, write_run
    from ..models.registry import model_id
    from ..transforms import to_uint8

    out_dir = Path(out_dir)
    with atomic_directory(out_dir) as tmp:
        imgs = to_uint8(final)
        size_in = predictor.extractor().input_size
        small = to_uint8(torch.nn.functional.interpolate(final, size=(size_in, size_in), mode="bilinear",
                                                         align_corners=False, antialias=True))
        pred = predictor.predict_arrays(small)
        cats = list(predictor.categories_.names) if predictor.categories_ else []
        rows = []
        for i, (o, s) in enumerate(jobs):
            name = f"{o.name}_seed{s}.png"
            write_png(tmp / "images" / name, imgs[i])
            row = {"file": name, **o.target_columns(), "fitness": float(end[i]), "cell": o.name,
                   "objective": o.name, "objective_start": float(start[i]), "seed": s}
            if cats:
                probs = pred["probabilities"][i]
                row["category"] = cats[int(probs.argmax())]
                row.update({f"p_{c}": float(v) for c, v in zip(cats, probs)})
            for j, dim in enumerate(DIMENSIONS):
                if dim in predictor.targets_:
                    row[dim] = float(pred["vad"][i, j])
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
        meta = {"kind": "visualize", "method": "visualize", "command": cfg.command, "config": asdict(cfg), "seed": cfg.seed,
                "model": model_id(model_dir), "parametrisation": "pixels (naive)" if cfg.naive
                else "Fourier, 1/f scaled, decorrelated colour, sigmoid",
                "transforms": None if cfg.naive else {"jitter": cfg.jitter, "scale": list(cfg.scale),
                                                      "degrees": cfg.degrees, "colour": cfg.colour},
                "emosynth_version": __version__,
                "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
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
