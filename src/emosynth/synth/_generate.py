"""``generate``: images from a trained conditional generator, written as a run directory.

```
RUN/run.json           "kind": "generator", command, config, seed, generator and predictor ids, metrics
RUN/images/*.png       n images per target
RUN/items.csv          targets, the predictor's category probabilities and V/A/D, fitness
RUN/contact_sheet.png  targets as rows (or the V–A plane for a sweep), images as columns
```
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..config import ConfigError, check_int_at_least, check_sam, check_seed
from ..emotions import DIMENSIONS
from ._generator import GENERATOR_FILE, TRAIN_RANGES, Generator, grid_targets, resolve_generator

#: the ownership kind of a generate run directory (``emosynth.fsio``)
RUN_KIND = "run:generator"


@dataclass
class GenerateConfig:
    """What to generate: one target (V/A/D on 1–9 or an emotion) or a sweep over the training box.

    Attributes:
        generator: A generator folder; ``"default"``: the packaged VA generator.
        valence: Target valence on the SAM 1–9 scale, or None.
        arousal: Target arousal on the SAM 1–9 scale, or None.
        dominance: Target dominance on the SAM 1–9 scale, or None.
        emotion: A target emotion label (category generators), or None.
        sweep: Generate a grid over the generator's whole training range instead of one target.
        grid: With ``sweep``: targets per dimension (at least 2).
        n: Images per target (at least 1).
        size: Side of the square output images in pixels (16–2048).
        seed: Random seed.
    """

    generator: str = "default"  # a generator folder; "default": the packaged VA generator
    valence: float | None = None
    arousal: float | None = None
    dominance: float | None = None
    emotion: str | None = None
    sweep: bool = False
    grid: int = 5  # --sweep: targets per dimension
    n: int = 16  # images per target
    size: int = 256
    seed: int = 0

    def validate(self):
        """Check every setting before the generator is loaded (``ConfigError`` naming the parameter)."""
        check_int_at_least("n", self.n, 1)
        if not isinstance(self.size, int) or not 16 <= self.size <= 2048:
            raise ConfigError("size", f"must be 16-2048 px, got {self.size!r}")
        if self.sweep:
            check_int_at_least("grid", self.grid, 2)
            if any(v is not None for v in (self.valence, self.arousal, self.dominance, self.emotion)):
                raise ConfigError("sweep", "covers the generator's whole training range; give no target with it")
        check_seed("seed", self.seed)
        for name in DIMENSIONS:
            if getattr(self, name) is not None:
                check_sam(name, getattr(self, name))


def generator_id(directory: str | Path) -> str:
    """Identify a generator across machines as ``'folder:sha1-of-weights'``.

    Args:
        directory: A generator folder, or ``"default"`` / ``"model-only"`` (see ``resolve_generator``).

    Returns:
        ``"<folder name or default>:<first 12 hex digits of the weights' SHA-1>"``.
    """
    directory = resolve_generator(directory)
    name = "default" if directory.resolve() == resolve_generator(None).resolve() else directory.name
    return f"{name}:{hashlib.sha1((directory / GENERATOR_FILE).read_bytes()).hexdigest()[:12]}"


def _target_names(gen: Generator, targets: torch.Tensor) -> list[str]:
    if gen.config.condition == "category":
        return [gen.labels[int(t)] for t in targets]
    return ["_".join(f"{d[0]}{float(v):.2f}" for d, v in zip(gen.dims, t)) for t in targets]


def outside_training_range(gen: Generator, targets: torch.Tensor) -> dict:
    """The targets' values that lie outside the range ``gen`` was trained on: there it extrapolates, and
    no held-out figure says how well (``docs/results/generator.md`` measures the 5 × 5 training grid).

    Args:
        gen: The generator.
        targets: (n, d) V/A(/D) targets on the SAM 1–9 scale (category targets have no range).

    Returns:
        ``{dimension: {"values": [...], "trained": [lo, hi]}}`` for each dimension with a value outside;
        empty when every value is inside (or the generator is conditioned on categories).
    """
    if gen.config.condition == "category":
        return {}
    ranges = gen.card_.get("train_ranges") or {d: list(TRAIN_RANGES[d]) for d in gen.dims}
    out = {}
    for j, d in enumerate(gen.dims):
        lo, hi = (float(x) for x in ranges.get(d, TRAIN_RANGES[d]))
        vals = sorted({round(float(v), 4) for v in targets[:, j] if not lo - 1e-6 <= float(v) <= hi + 1e-6})
        if vals:
            out[d] = {"values": vals, "trained": [lo, hi]}
    return out


def generate(config: GenerateConfig, out_dir: str | Path, *, command: str | None = None,
             overwrite: bool = False) -> dict:
    """Generate images and write the run directory ``out_dir`` (replaced whole, atomically).

    Each image (PNG) is judged by the generator's predictor; ``items.csv`` records its target, fitness
    and predictions, and a contact sheet is written alongside.

    Args:
        config: What to generate; validated first.
        out_dir: The run directory. It must be new or empty, or (with ``overwrite``) an earlier
            generate run (``emosynth.fsio``'s ownership rule).
        command: The command line that made it, recorded in run.json.
        overwrite: Allow replacing an earlier generate run at ``out_dir``.

    Returns:
        The run.json contents (with the generator's id, the target names, ``metrics``: image
        count and accuracy or per-dimension MAE in SAM scale points, and ``outside_training_range``:
        target values the generator was not trained on, see :func:`outside_training_range`).

    Raises:
        ConfigError: A setting in ``config`` is invalid.
    """
    from ..fsio import check_output, output_directory
    from ..models.predictor import Predictor
    from ..models.registry import model_id
    from ..rundir import prediction_columns, run_header, write_items, write_png, write_run
    from ..transforms import to_uint8

    cfg = config
    cfg.validate()
    check_output(out_dir, RUN_KIND, overwrite)  # before the work: never replace what is not ours
    gen = Generator.load(cfg.generator)
    if cfg.sweep:
        targets = grid_targets(gen.config.condition, cfg.grid, gen.labels)
    else:
        targets = gen.targets(valence=cfg.valence, arousal=cfg.arousal, dominance=cfg.dominance, emotion=cfg.emotion)
    pred_info = gen.card_.get("predictor", {})
    pred_path = pred_info.get("path")
    if not pred_path or not (Path(pred_path) / "model.json").is_file():
        from ..models.registry import resolve_model

        pred_path = resolve_model(gen.config.model)  # the card's path is of another machine
    predictor = Predictor.load(pred_path)
    images = gen.generate(targets, cfg.n, cfg.size, cfg.seed)
    reps = targets.repeat_interleave(cfg.n, dim=0)
    pred = predictor.predict_tensor(images)
    cats = predictor.labels
    names = _target_names(gen, targets)
    with output_directory(out_dir, RUN_KIND, overwrite) as tmp:
        imgs = to_uint8(images)
        rows = []
        for i in range(len(reps)):
            t, k = i // cfg.n, i % cfg.n
            name = f"{names[t]}_{k:03d}.png"
            write_png(tmp / "images" / name, imgs[i])
            row: dict = {"file": name, "cell": names[t], "sample": k}
            if gen.config.condition == "category":
                row["target_category"] = gen.labels[int(reps[i])]
                if cats:
                    row["fitness"] = float(pred["probabilities"][i, cats.index(row["target_category"])])
            else:
                row.update({f"target_{d}": float(v) for d, v in zip(gen.dims, reps[i])})
                # the evolve VA objective: minus the distance (scale points) to the target
                row["fitness"] = -float(np.linalg.norm(pred["vad"][i, :len(gen.dims)] - reps[i].numpy()))
            probs = pred["probabilities"][i] if cats else None
            row.update(prediction_columns(cats, pred["vad"][i], probs, predictor.targets_))
            rows.append(row)
        write_items(tmp, rows)
        contact_sheet(gen, targets, names, imgs, cfg, pred, cats, tmp / "contact_sheet.png")
        metrics = {"images": len(rows)}
        fit = [r["fitness"] for r in rows if "fitness" in r]
        if gen.config.condition == "category" and cats:
            metrics["accuracy"] = float(np.mean([r["category"] == r["target_category"] for r in rows]))
        elif fit:
            err = np.abs(pred["vad"][:, :len(gen.dims)] - reps.numpy())
            metrics.update({f"mae_{d}": float(err[:, j].mean()) for j, d in enumerate(gen.dims)})
        meta = {**run_header("generator", command, dict(cfg.__dict__), cfg.seed, [model_id(pred_path)]),
                "generator": {"path": str(cfg.generator), "id": generator_id(cfg.generator),
                              "condition": gen.config.condition, "config": gen.card_.get("config")},
                "targets": names, "metrics": metrics,
                "outside_training_range": outside_training_range(gen, targets)}
        write_run(tmp, meta)
    return meta


def contact_sheet(gen, targets, names, imgs, cfg, pred, cats, path: Path, thumb: int = 96):
    """A sweep: the V–A plane (valence →, arousal ↑), the first image of each target. Otherwise targets
    as rows and up to 8 images as columns, each titled with what the predictor says.

    Args:
        gen: The generator.
        targets: The targets generated for.
        names: The targets' names.
        imgs: The images, uint8 (N, H, W, 3), target-major.
        cfg: The ``GenerateConfig``.
        pred: The predictor's output on the images.
        cats: The predictor's category labels (None or empty: none).
        path: The PNG file to write.
        thumb: Side of each thumbnail in pixels.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..fsio import atomic_write_bytes

    small = torch.nn.functional.interpolate(torch.from_numpy(imgs).permute(0, 3, 1, 2).float(), size=(thumb, thumb),
                                            mode="bilinear", antialias=True, align_corners=False)
    small = small.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    if cfg.sweep and gen.config.condition in ("va", "vad") and len(gen.dims) == 2:
        vs, as_ = sorted(set(targets[:, 0].tolist())), sorted(set(targets[:, 1].tolist()))
        fig, axes = plt.subplots(len(as_), len(vs), figsize=(1.5 * len(vs), 1.6 * len(as_)), squeeze=False)
        for t, (v, a) in enumerate(targets.tolist()):
            ax = axes[len(as_) - 1 - as_.index(a), vs.index(v)]
            i = t * cfg.n
            ax.imshow(small[i])
            ax.set_title(f"V {pred['vad'][i, 0]:.1f} A {pred['vad'][i, 1]:.1f}", fontsize=7)
            ax.set_xticks([])
            ax.set_yticks([])
            if vs.index(v) == 0:
                ax.set_ylabel(f"A {a:.1f}", fontsize=8)
            if as_.index(a) == 0:
                ax.set_xlabel(f"V {v:.1f}", fontsize=8)
        fig.suptitle("target valence → / arousal ↑ (1-9); titles: predicted", fontsize=9)
    else:
        cols = min(cfg.n, 8)
        fig, axes = plt.subplots(len(names), cols, figsize=(1.5 * cols, 1.7 * len(names)), squeeze=False)
        for t, name in enumerate(names):
            for k in range(cols):
                ax, i = axes[t, k], t * cfg.n + k
                ax.imshow(small[i])
                ax.set_xticks([])
                ax.set_yticks([])
                label = f"V {pred['vad'][i, 0]:.1f} A {pred['vad'][i, 1]:.1f}"
                if gen.config.condition == "category" and cats:
                    j = int(pred["probabilities"][i].argmax())
                    label = f"{cats[j]} {pred['probabilities'][i, j]:.2f}"
                ax.set_title(label, fontsize=7)
                if k == 0:
                    ax.set_ylabel(name, fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
