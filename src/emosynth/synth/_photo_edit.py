"""Emotion editing of photographs: Adam over an edit's genes (``_edit``) toward V/A/D targets.

``edit_photos(photos, targets, judge, config)`` edits every photo toward every target, batched:
each step renders the edits at the judge's working size, draws a random jitter / scale / rotation /
flip per image (``emosynth.transforms``) so the edit must survive them, and minimises

    Σ_set (V_d − target_d)²  +  keep · Σ_unset (V_d − before_d)²  +  ssim_weight · max(0, floor − SSIM)
    +  gene_l2 · mean(gene²)

over genes = tanh(u) (bounded, neutral at u = 0): the set dimensions move toward their targets, the
unset ones (of valence and arousal) keep the photo's own predicted value, and the content stays
(SSIM on grey, Gaussian window σ 1.5 px, against the unedited photo at the same size). The result
is re-applied at the photo's full resolution from its recipe, judged again and its SSIM measured at
that size. A judge is any callable taking float (N, 3, H, W) in [0, 1] and returning a dict with
``"vad_raw"`` (N, 3), unclamped V/A/D on the SAM 1–9 scale (``Predictor.module(flip=False)``).

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
from ._edit import PARAMS, EditEncoding, _blur, apply_recipe, edit_tensor, genes_to_values, make_recipe, recipe_summary

RUN_KIND = "run:edit"
Judge = Callable[[torch.Tensor], Mapping[str, torch.Tensor]]


@dataclass
class EditConfig:
    """How to edit. Targets and SSIM are on the SAM 1–9 scale and SSIM's 0–1 respectively."""

    steps: int = 48
    #: Adam's learning rate on the unbounded genes u (genes = tanh(u))
    lr: float = 0.1
    #: the side of the square the edit is optimised at (the judge's input size)
    size: int = 224
    #: content preservation: SSIM below this floor is penalised (× ssim_weight per unit of SSIM)
    ssim_floor: float = 0.8
    ssim_weight: float = 30.0
    #: weight of keeping the unset dimensions (of valence, arousal) at the photo's own prediction
    keep_weight: float = 0.5
    #: weight of the mean squared gene: the smallest edit that reaches the target
    gene_l2: float = 0.05
    #: random jitter / scale / rotation / flips per step (False: none)
    transforms: bool = True
    jitter: float = 0.05
    scale: tuple = (0.9, 1.1)
    degrees: float = 5.0
    colour: float = 0.0
    #: edits optimised together (photos × targets are split into batches of this many)
    batch: int = 16
    #: the photo's longest side in the output (None: full resolution); the recipe applies at any size
    max_side: int | None = None
    seed: int = 0
    command: str | None = None

    def validate(self) -> None:
        check_int_at_least("steps", self.steps, 0)
        check_positive("lr", self.lr)
        check_int_at_least("size", self.size, 32)
        check_range("ssim_floor", self.ssim_floor, 0, 1)
        for name in ("ssim_weight", "keep_weight", "gene_l2", "jitter", "degrees", "colour"):
            check_positive(name, getattr(self, name), allow_zero=True)
        if len(self.scale) != 2 or not 0 < check_finite("scale", self.scale[0]) <= check_finite("scale", self.scale[1]):
            raise ConfigError("scale", f"must be two factors 0 < low ≤ high, got {self.scale!r}")
        check_int_at_least("batch", self.batch, 1)
        if self.max_side is not None:
            check_int_at_least("max_side", self.max_side, 16)
        check_seed("seed", self.seed)


def check_target(target: Mapping[str, float | None]) -> dict[str, float]:
    """A target {dimension: value on 1–9}; None values are dropped (that dimension keeps the photo's own)."""
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
    """SSIM (N,) of two image batches (N, 3, H, W) in [0, 1] on grey (BT.601 luma), Gaussian window
    ``sigma`` px, reflected borders; differentiable."""
    w = torch.tensor([0.299, 0.587, 0.114], dtype=a.dtype)[None, :, None, None]
    x, y = (a * w).sum(1, keepdim=True), (b * w).sum(1, keepdim=True)
    s = torch.full((a.shape[0],), float(sigma), dtype=a.dtype)
    blur = lambda t: _blur(t, s, s)  # noqa: E731
    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx ** 2, blur(y * y) - my ** 2, blur(x * y) - mx * my
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    m = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2))
    return m.mean(dim=(1, 2, 3))


@dataclass
class EditResult:
    """One photo edited toward one target. V/A/D on 1–9 (clamped); ``after`` judged on the full-size
    edit resized to the working size, without transforms."""

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

    @property
    def summary(self) -> str:
        return recipe_summary(self.recipe)


def _to_tensor(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(img)).float().permute(2, 0, 1)[None] / 255


def _judge_all(judge: Judge, x: torch.Tensor, chunk: int = 32) -> dict[str, np.ndarray]:
    outs = []
    with torch.no_grad():
        for i in range(0, len(x), chunk):
            o = judge(x[i:i + chunk])
            outs.append({k: o[k].detach().float() for k in ("vad_raw", "probabilities") if k in o})
    return {k: torch.cat([o[k] for o in outs]).numpy() for k in outs[0]}


def _square(images: torch.Tensor, size: int) -> torch.Tensor:
    from ..transforms import resize

    return resize(images, size).clamp(0, 1)


def edit_photos(photos: Sequence, targets: Sequence[Mapping[str, float | None]], judge: Judge,
                config: EditConfig | None = None, *, held_out: Mapping[str, Judge] | None = None,
                names: Sequence[str] | None = None, progress=None) -> list[EditResult]:
    """Edit every photo toward every target (photo-major order).

    ``photos``: paths, PIL images or uint8 (H, W, 3) arrays; ``targets``: dicts such as
    ``{"valence": 8}`` or ``{"valence": 2, "arousal": 7}`` (1–9; unset dimensions keep the photo's own
    predicted value); ``judge``: see the module docstring; ``held_out``: judges never optimised
    against, reported before and after; ``progress(done, total)``: called once per step."""
    from ..transforms import TransformConfig, random_flip, random_transforms

    cfg = config or EditConfig()
    cfg.validate()
    targets = [check_target(t) for t in targets]
    if not photos:
        raise ConfigError("photos", "must list at least one photo")
    encs = [EditEncoding(p, seed=cfg.seed, max_side=cfg.max_side) for p in photos]
    names = list(names) if names is not None else [Path(e.path).name if e.path else f"photo{i}"
                                                   for i, e in enumerate(encs)]
    squares = torch.cat([e.square(cfg.size) for e in encs])
    before = _judge_all(judge, squares)
    jobs = [(i, t) for i in range(len(encs)) for t in targets]
    rng = np.random.default_rng(cfg.seed)
    tcfg = TransformConfig(jitter=cfg.jitter, scale=tuple(cfg.scale), degrees=cfg.degrees, colour=cfg.colour)
    genes_out = np.zeros((len(jobs), len(PARAMS)))
    ssim_work = np.zeros(len(jobs))
    losses = np.zeros(len(jobs))
    total = cfg.steps * ((len(jobs) + cfg.batch - 1) // cfg.batch)
    done = 0
    for start in range(0, len(jobs), cfg.batch):
        part = jobs[start:start + cfg.batch]
        idx = [i for i, _ in part]
        base = squares[idx]
        frames, seeds = [encs[i].frame for i in idx], [cfg.seed] * len(part)
        tgt = torch.tensor([[t.get(d, np.nan) for d in DIMENSIONS] for _, t in part], dtype=torch.float32)
        own = torch.from_numpy(before["vad_raw"][idx]).float()
        set_ = ~torch.isnan(tgt)
        keep = (~set_) & torch.tensor([True, True, False])[None]  # unset valence / arousal stay
        goal = torch.where(set_, tgt, own)
        weight = set_.float() + cfg.keep_weight * keep.float()
        u = torch.zeros(len(part), len(PARAMS), requires_grad=True)
        opt = torch.optim.Adam([u], lr=cfg.lr)
        per = torch.zeros(len(part))
        for _ in range(cfg.steps):
            genes = torch.tanh(u)
            x = edit_tensor(base, genes_to_values(genes), frames=frames, seeds=seeds)
            ssim = ssim_grey(x, base)
            if cfg.transforms:
                x = random_flip(random_transforms(x, rng, tcfg), rng)
            vad = judge(x)["vad_raw"]
            per = ((vad - goal) ** 2 * weight).sum(1) + cfg.ssim_weight * torch.relu(cfg.ssim_floor - ssim) \
                + cfg.gene_l2 * (genes ** 2).mean(1)
            opt.zero_grad()
            per.sum().backward()
            opt.step()
            done += 1
            if progress:
                progress(done, total)
        with torch.no_grad():
            genes = torch.tanh(u)
            ssim_work[start:start + len(part)] = ssim_grey(
                edit_tensor(base, genes_to_values(genes), frames=frames, seeds=seeds), base).numpy()
        genes_out[start:start + len(part)] = genes.detach().numpy()
        losses[start:start + len(part)] = per.detach().numpy()

    # re-apply each recipe at full resolution; judge and measure there
    recipes = [make_recipe(genes_to_values(torch.from_numpy(g)[None])[0].numpy(), cfg.seed) for g in genes_out]
    images = [apply_recipe(r, encs[i].photo) for r, (i, _) in zip(recipes, jobs)]
    small = torch.cat([_square(_to_tensor(im), cfg.size) for im in images])
    after = _judge_all(judge, small)
    ssim_full = [float(ssim_grey(_to_tensor(im), encs[i]._full)[0]) for im, (i, _) in zip(images, jobs)]
    held = {}
    for name, hj in (held_out or {}).items():
        b, a = _judge_all(hj, squares)["vad_raw"], _judge_all(hj, small)["vad_raw"]
        held[name] = (b, a)
    originals = [np.asarray(e.photo) for e in encs]
    out = []
    for k, (i, t) in enumerate(jobs):
        probs_b, probs_a = before.get("probabilities"), after.get("probabilities")
        out.append(EditResult(
            source=names[i], target=dict(t), recipe=recipes[k], image=images[k],
            before=np.clip(before["vad_raw"][i], 1, 9), after=np.clip(after["vad_raw"][k], 1, 9),
            ssim=ssim_full[k], ssim_work=float(ssim_work[k]), loss=float(losses[k]),
            before_probabilities=None if probs_b is None else probs_b[i],
            after_probabilities=None if probs_a is None else probs_a[k],
            held_out={n: (np.clip(b[i], 1, 9), np.clip(a[k], 1, 9)) for n, (b, a) in held.items()},
            original=originals[i]))
    return out


def sweep_targets(grid: int = 5, span: tuple[float, float] = (2.0, 8.0)) -> list[dict]:
    """A grid × grid valence–arousal lattice over ``span`` (1–9): rows from high arousal to low,
    valence rising along each row."""
    check_int_at_least("grid", grid, 2)
    lo, hi = (check_range("span", s, 1, 9) for s in span)
    levels = np.linspace(lo, hi, grid)
    return [{"valence": float(v), "arousal": float(a)} for a in levels[::-1] for v in levels]


def sweep_photo(photo, judge: Judge, grid: int = 5, config: EditConfig | None = None,
                span: tuple[float, float] = (2.0, 8.0), **kwargs) -> list[EditResult]:
    """A grid × grid V–A atlas of one photo (``sweep_targets``), optimised as one batch by default."""
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
                   method: str = "edit", overwrite: bool = False, seconds: float | None = None) -> Path:
    """Write an edit run directory (see the module docstring); ``models``: the judge's id(s)
    (``model_id``); ``labels``: its category names, for the ``p_<label>`` columns."""
    from ..fsio import output_directory, write_json
    from ..rundir import prediction_columns, run_header, write_items, write_png, write_run

    out_dir = Path(out_dir)
    with output_directory(out_dir, RUN_KIND, overwrite) as tmp:
        rows, seen = [], set()
        for r in results:
            stem = _slug(Path(r.source).stem)
            name = f"{stem}_{_target_tag(r.target)}"
            k = 2
            while name in seen:
                name, k = f"{stem}_{_target_tag(r.target)}_{k}", k + 1
            seen.add(name)
            write_png(tmp / "images" / f"{name}.png", r.image)
            write_json(tmp / "recipes" / f"{name}.json", r.recipe)
            row = {"file": f"{name}.png", "source": r.source}
            row.update({f"target_{d}": r.target.get(d) for d in DIMENSIONS})
            row.update(prediction_columns(labels, r.after, r.after_probabilities, targets_learnt))
            row.update({f"before_{d}": float(r.before[j]) for j, d in enumerate(DIMENSIONS) if d in targets_learnt})
            if len(labels) and r.before_probabilities is not None:
                row["before_category"] = labels[int(np.argmax(r.before_probabilities))]
            row.update({"fitness": -r.loss, "ssim": r.ssim, "recipe_file": f"recipes/{name}.json",
                        "recipe": r.summary})
            for n, (b, a) in r.held_out.items():
                for j, d in enumerate(DIMENSIONS[:2]):
                    row[f"{n}_{d}_before"], row[f"{n}_{d}"] = float(b[j]), float(a[j])
            values = {k: v for op in r.recipe["operations"] for k, v in op.items() if k != "op"}
            row.update({f"edit_{k}": v for k, v in values.items()})
            rows.append(row)
        write_items(tmp, rows)
        _contact_sheet(results, tmp / "before_after.png")
        cfg = asdict(config)
        meta = run_header("edit", config.command, cfg, config.seed, list(models), method=method)
        meta["metrics"] = _metrics(results, seconds)
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
            "judge": _shift_toward(results, lambda r: (r.before, r.after)), "seconds": seconds}


def _transfer(results) -> dict:
    names = sorted({n for r in results for n in r.held_out})
    return {n: _shift_toward([r for r in results if n in r.held_out], lambda r, n=n: r.held_out[n]) for n in names}


def _contact_sheet(results, path: Path, thumb: int = 160, per_row: int = 6) -> None:
    """One block per source photo: the original, then its edits, each titled with the judged V/A."""
    import io

    from PIL import Image, ImageDraw

    from ..fsio import atomic_write_bytes

    groups: dict[str, list[EditResult]] = {}
    for r in results:
        groups.setdefault(r.source, []).append(r)
    cells = []  # (image, title) rows, one list per output row
    for src, rs in groups.items():
        title = f"{Path(src).stem[:14]} V{rs[0].before[0]:.1f} A{rs[0].before[1]:.1f}"
        row = [(_thumb_of(rs[0], thumb, original=True), title)]
        for r in rs:
            tag = " ".join(f"{d[0].upper()}{r.target[d]:g}" for d in DIMENSIONS if d in r.target)
            row.append((_thumb_of(r, thumb), f"to {tag}: V{r.after[0]:.1f} A{r.after[1]:.1f}"))
        for k in range(0, len(row), per_row + 1):
            cells.append(row[k:k + per_row + 1])
    cols = max(len(c) for c in cells)
    pad, label = 4, 14
    sheet = Image.new("RGB", (cols * (thumb + pad) + pad, len(cells) * (thumb + label + pad) + pad), "white")
    draw = ImageDraw.Draw(sheet)
    for y, row in enumerate(cells):
        for x, (im, title) in enumerate(row):
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
