"""``generate``: images from a trained conditional generator, written as a run directory.

```
RUN/run.json           "kind": "generator", command, config, seed, generator and predictor ids, metrics
RUN/images/*.png       n images per target
RUN/items.csv          targets, the predictor's category probabilities and V/A/D, fitness
RUN/contact_sheet.png  targets as rows (or the V–A plane for a sweep), images as columns
```
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import io
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .. import __version__
from ..emotions import DIMENSIONS
from ..errors import SynthError
from ._generator import GENERATOR_FILE, Generator, grid_targets, predict_images, resolve_generator


@dataclass
class GenerateConfig:
    """What to generate: one target (V/A/D on 1–9 or an emotion) or a sweep over the training box."""

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
    command: str | None = None

    def check(self):
        if self.n < 1:
            raise SynthError(f"--n must be at least 1, got {self.n}")
        if not 16 <= self.size <= 2048:
            raise SynthError(f"--size must be 16-2048 px, got {self.size}")
        if self.sweep and self.grid < 2:
            raise SynthError(f"--grid must be at least 2, got {self.grid}")


def generator_id(directory: str | Path) -> str:
    """'folder:sha1-of-weights' — identifies a generator across machines."""
    directory = resolve_generator(directory)
    name = "default" if directory.resolve() == resolve_generator(None).resolve() else directory.name
    return f"{name}:{hashlib.sha1((directory / GENERATOR_FILE).read_bytes()).hexdigest()[:12]}"


def _target_names(gen: Generator, targets: torch.Tensor) -> list[str]:
    if gen.config.condition == "category":
        return [gen.labels[int(t)] for t in targets]
    return ["_".join(f"{d[0]}{float(v):.2f}" for d, v in zip(gen.dims, t)) for t in targets]


def generate(config: GenerateConfig, out_dir: str | Path) -> dict:
    """Generate and write the run directory ``out_dir`` (replaced whole, atomically); returns run.json."""
    from ..models.predictor import Predictor
    from ..rundir import write_items, write_png, write_run
    from ..models.registry import model_id
    from ..transforms import to_uint8

    cfg = config
    cfg.check()
    gen = Generator.load(cfg.generator)
    if cfg.sweep:
        if any(v is not None for v in (cfg.valence, cfg.arousal, cfg.dominance, cfg.emotion)):
            raise SynthError("--sweep covers the generator's whole training range; give no target with it")
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
    pred = predict_images(predictor, images)
    cats = list(predictor.categories_.names) if predictor.categories_ else []
    names = _target_names(gen, targets)
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.tmp-"))
    try:
        tmp.chmod(0o755)
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
            if cats:
                probs = pred["probabilities"][i]
                row["category"] = cats[int(probs.argmax())]
                row.update({f"p_{c}": float(v) for c, v in zip(cats, probs)})
            for j, d in enumerate(DIMENSIONS):
                if d in predictor.targets_:
                    row[d] = float(pred["vad"][i, j])
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
        meta = {"kind": "generator", "method": "generator", "command": cfg.command,
                "config": {k: v for k, v in cfg.__dict__.items()}, "seed": cfg.seed,
                "generator": {"path": str(cfg.generator), "id": generator_id(cfg.generator),
                              "condition": gen.config.condition, "config": gen.card_.get("config")},
                "model": model_id(pred_path), "targets": names, "emosynth_version": __version__,
                "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), "metrics": metrics}
        write_run(tmp, meta)
        if out_dir.exists():
            old = out_dir.with_name(f".{out_dir.name}.old-{tmp.name[-8:]}")
            out_dir.rename(old)
            tmp.rename(out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return meta


def contact_sheet(gen, targets, names, imgs, cfg, pred, cats, path: Path, thumb: int = 96):
    """A sweep: the V–A plane (valence →, arousal ↑), the first image of each target. Otherwise targets
    as rows and up to 8 images as columns, each titled with what the predictor says."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..rundir import atomic_write_bytes

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
