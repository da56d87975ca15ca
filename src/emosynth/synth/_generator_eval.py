"""``generator evaluate``: how well a trained generator's images carry their condition, and how varied they are.

Over a fixed grid of targets (``grid_targets``: a k×k grid over the V–A training box, or every label),
``per_target`` images each:

* **condition** — mean absolute V/A(/D) error on 1–9, or emotion accuracy, under the predictor the
  generator was trained through AND under an independently trained predictor on another backbone
  (``check``, by default EfficientNet-Lite2 trained here on OASIS + Emotion6). Beside each figure, the
  same images scored against shuffled targets: what an image from the generator scores whatever its
  condition, so the difference is what the condition does.
* **diversity** — within a target, the mean pairwise cosine distance (0–2) of the check predictor's
  backbone features; beside it the same for real images of that target (OASIS + Emotion6 images whose
  rated V/A falls in the target's grid cell, or Emotion6 images whose raters' majority is the label).
* with ``compare_run`` (a MAP-Elites run directory of the same space): the run's elites, grouped by the
  grid target nearest their own cell target, scored the same way against their own targets, so the two
  synthesis methods are compared on equal terms.

The result goes into the generator's ``model.json`` under ``"evaluation"`` (written atomically) and,
one row per (target, set, predictor), into ``evaluation.csv`` in the generator folder.
"""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..config import ConfigError, check_int_at_least, check_seed
from ..emotions import DIMENSIONS
from ..errors import SynthError
from ..fsio import atomic_write_bytes, write_json
from ._generator import (
    CARD_FILE,
    DEFAULT_GENERATOR_DIR,
    PACKAGED_GENERATORS,
    TRAIN_RANGES,
    Generator,
    grid_targets,
    resolve_generator,
)

EVAL_FILE = "evaluation.csv"
#: the summary, when written to ``--out`` rather than into the generator's card
SUMMARY_FILE = "evaluation.json"


@dataclass
class GeneratorEvalConfig:
    """How to evaluate a trained generator.

    Attributes:
        generator: A generator folder; ``"default"``: the packaged one.
        check_backbone: A second predictor backbone to judge the images with; None: the training
            predictor only.
        compare_run: An evolve run directory whose elites are compared with the generator, or None.
        per_target: Generated images per grid target (at least 2, diversity needs pairs).
        grid: Grid targets per dimension (at least 2).
        size: Side of the evaluated images in pixels (at least 16).
        seed: Random seed.
        real_per_target: Real images per target and data set, drawn at random (at least 2).
        data_root: Root of the data sets, or None for the default.
        judges: Comma-separated ``emosynth.judges`` names whose verdicts are reported, or None.
        out: A folder for ``evaluation.csv`` and ``evaluation.json`` (a new folder, or one without
            them), or None: a generator folder of the user's keeps them (the card's ``"evaluation"``);
            a generator packaged with emosynth is never rewritten, so its results are only returned.
    """

    generator: str = "default"
    check_backbone: str | None = "efficientnet-lite2"  # None: the training predictor only
    compare_run: str | None = None
    per_target: int = 8
    grid: int = 5
    size: int = 224
    seed: int = 1
    real_per_target: int = 40  # real images per target and data set, drawn at random (features are extracted)
    data_root: str | None = None
    #: judges (emosynth.judges names) whose verdicts on the generator's images are reported as
    #: r(target, judged) and MAE per dimension, ``judge_<name>_r_<dim>``; the card says which of them were
    #: in the generator's objective (a fit) and which were held out
    judges: str | None = "ou,valdez-mehrabian"
    out: str | None = None

    def validate(self):
        """Check every setting before the generator is loaded (``ConfigError`` naming the parameter)."""
        if self.out is not None:
            dest = Path(self.out)
            if dest.exists() and not dest.is_dir():
                raise ConfigError("out", f"{dest} is a file, not a folder")
            taken = [n for n in (EVAL_FILE, SUMMARY_FILE) if (dest / n).exists()]
            if taken:
                raise ConfigError("out", f"{dest} already holds {', '.join(taken)}; choose a new folder")
        check_int_at_least("per_target", self.per_target, 2, "(diversity needs pairs)")
        check_int_at_least("grid", self.grid, 2)
        check_int_at_least("size", self.size, 16)
        check_int_at_least("real_per_target", self.real_per_target, 2)
        check_seed("seed", self.seed)


def pairwise_diversity(feats: np.ndarray) -> float:
    """Mean cosine distance over all pairs of rows.

    Args:
        feats: Feature vectors, shape (n, d).

    Returns:
        The mean pairwise cosine distance (0–2); nan for fewer than 2 rows.
    """
    if len(feats) < 2:
        return float("nan")
    f = feats / np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-12)
    sim = f @ f.T
    iu = np.triu_indices(len(f), 1)
    return float(np.mean(1 - sim[iu]))


def layout_diversity(images) -> float:
    """Mean over all pairs of ``layout_distance`` between images' low-pass centred luminance.

    How much the coarse light-dark composition differs, whatever the colours.

    Args:
        images: Float images (N, 3, H, W) in [0, 1] (a tensor or array).

    Returns:
        The mean pairwise layout distance (0–2); nan for fewer than 2 images.
    """
    from ._generator import layout_distance, layout_features

    if len(images) < 2:
        return float("nan")
    with torch.no_grad():
        f = layout_features(torch.as_tensor(images).float())
    i, j = np.triu_indices(len(f), 1)
    return float(layout_distance(f[i], f[j]).mean())


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two sequences.

    Args:
        a: First values, shape (n,).
        b: Second values, shape (n,).

    Returns:
        Pearson r; nan for fewer than 2 values or when either is constant.
    """
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < 2 or a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def assign(condition: str, targets: np.ndarray, values: np.ndarray, k: int) -> np.ndarray:
    """Index of the grid target each row of ``values`` belongs to, or -1.

    For V/A(/D), the target whose grid cell (half a grid step either side of it, along each
    dimension) holds the value; for categories, the label index itself.

    Args:
        condition: ``"va"``, ``"vad"`` or ``"category"``.
        targets: Grid targets, shape (T, dims), V/A/D on the SAM 1–9 scale (as from ``grid_targets``).
        values: Values to assign, shape (n, dims) on 1–9; for categories, label indices (n,).
        k: Grid targets per dimension.

    Returns:
        Integer target indices, shape (n,); -1 where a value lies in no cell.
    """
    if condition == "category":
        return values.astype(int)
    dims = DIMENSIONS[: targets.shape[1]]
    half = np.array([(TRAIN_RANGES[d][1] - TRAIN_RANGES[d][0]) / (k - 1) / 2 for d in dims])
    d = np.abs(values[:, None, :] - targets[None, :, :]) / half  # (n, T, dims), ≤ 1 inside the cell
    inside = (d <= 1).all(2)
    return np.where(inside.any(1), inside.argmax(1), -1)


def _errors(condition: str, pred: dict, targets: np.ndarray, labels) -> np.ndarray:
    """(n, d) absolute errors on 1–9, or (n, 1) 1/0 for the target label predicted."""
    if condition == "category":
        return (pred["probabilities"].argmax(1) == targets.astype(int)).astype(float)[:, None]
    return np.abs(pred["vad"][:, : targets.shape[1]] - targets)


# Over 80 lines: the three image sets (generator, real, evolve run) are scored by the same predictors in one pass.
def evaluate(cfg: GeneratorEvalConfig, progress=None) -> dict:
    """Evaluate a generator; store the results in its card and ``evaluation.csv``.

    Generated images (and real images, and an evolve run's elites with ``compare_run``) are scored by
    the same predictors: fit to the targets, diversity, and the judges' verdicts.

    Args:
        cfg: What to evaluate; validated first.
        progress: A callable taking a message string, or None for silence.

    Returns:
        The summary dict (also stored under ``"evaluation"`` in the generator's card).

    Raises:
        ConfigError: A setting in ``cfg`` is invalid.
        SynthError: ``check_backbone`` is the training predictor, the predictors lack a category head
            for a category generator, or ``compare_run`` does not fit the generator.
    """
    from ..models.predictor import Predictor
    from ..models.registry import model_id, resolve_model
    from ..transforms import resize, to_uint8

    cfg.validate()
    gen = Generator.load(cfg.generator)
    cond, labels = gen.config.condition, gen.labels
    note = progress or (lambda msg: None)
    card_path = gen.card_.get("predictor", {}).get("path")
    found = card_path and (Path(card_path) / "model.json").is_file()
    train_dir = card_path if found else resolve_model(gen.config.model)
    predictors = {"training": Predictor.load(train_dir)}
    ids = {"training": model_id(train_dir)}
    if cfg.check_backbone:
        note(f"check predictor {cfg.check_backbone} (trained here on first use)")
        check_dir = resolve_model(cfg.check_backbone, cfg.data_root)
        if Path(check_dir).resolve() == Path(train_dir).resolve():
            raise SynthError("--check-backbone is the predictor the generator was trained through; choose another")
        predictors["check"] = Predictor.load(check_dir)
        ids["check"] = model_id(check_dir)
    feat_model = predictors.get("check", predictors["training"])
    if cond == "category" and any(not p.labels for p in predictors.values()):
        raise SynthError("a category generator needs predictors with a category head")

    targets_t = grid_targets(cond, cfg.grid, labels)
    targets = targets_t.numpy().astype(np.float64)
    n_t = len(targets)
    note(f"generating {n_t} targets x {cfg.per_target} images")
    images = gen.generate(targets_t, cfg.per_target, cfg.size, cfg.seed)
    reps = np.repeat(targets, cfg.per_target, axis=0)
    owner = np.repeat(np.arange(n_t), cfg.per_target)
    shuffled = reps[np.random.default_rng(cfg.seed).permutation(len(reps))]
    fsize = feat_model.extractor().input_size
    sets = {"generator": {"features": feat_model.extractor().from_arrays(to_uint8(resize(images, fsize))),
                          "owner": owner, "preds": {k: p.predict_tensor(images) for k, p in predictors.items()},
                          "targets": reps}}

    # real images of each target
    real, real_note = _real_sets(cond, targets, cfg, labels, feat_model)
    if real is not None:
        sets["real"] = real
    elif real_note:
        note(real_note)

    if cfg.compare_run:
        sets["evolve"] = _run_set(cfg, cond, targets, labels, predictors, feat_model)

    dims = list(gen.dims) if cond != "category" else []
    rows = []
    for name, s in sets.items():
        for t in range(n_t):
            m = s["owner"] == t
            base = {"target": _target_name(cond, targets[t], labels), "set": name, "n": int(m.sum()),
                    "diversity": pairwise_diversity(s["features"][m])}
            if "preds" not in s:
                rows.append({**base, "predictor": None})
                continue
            for pname, pred in s["preds"].items():
                pm = {k: v[m] for k, v in pred.items()}
                err = _errors(cond, pm, s["targets"][m], labels) if m.any() else np.zeros((0, max(len(dims), 1)))
                row = {**base, "predictor": pname}
                if cond == "category":
                    row["accuracy"] = float(err.mean()) if len(err) else float("nan")
                else:
                    row.update({f"mae_{d}": float(err[:, j].mean()) if len(err) else float("nan")
                                for j, d in enumerate(dims)})
                rows.append(row)
    table = pd.DataFrame(rows)

    summary: dict = {"grid": n_t, "per_target": cfg.per_target, "size": cfg.size, "seed": cfg.seed,
                     "predictors": ids, "diversity_features": ids.get("check", ids["training"]),
                     "compare_run": cfg.compare_run, "real_note": real_note,
                     "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    for pname, pred in sets["generator"]["preds"].items():
        err = _errors(cond, pred, reps, labels)
        err_s = _errors(cond, pred, shuffled, labels)
        if cond == "category":
            summary[f"{pname}_accuracy"] = float(err.mean())
            summary[f"{pname}_accuracy_shuffled"] = float(err_s.mean())
            summary["chance"] = 1 / len(labels)
        else:
            for j, d in enumerate(dims):
                summary[f"{pname}_mae_{d}"] = float(err[:, j].mean())
                summary[f"{pname}_mae_{d}_shuffled"] = float(err_s[:, j].mean())
                summary[f"{pname}_r_{d}"] = correlation(reps[:, j], pred["vad"][:, j])
    if cond != "category":
        summary.update(_judge_figures(cfg, gen, images, reps, dims, note))
        summary["layout_diversity_generator"] = float(np.nanmean(
            [layout_diversity(images[owner == t]) for t in range(n_t)]))
    for name in sets:
        div = table[(table["set"] == name)].drop_duplicates("target")["diversity"]
        summary[f"diversity_{name}"] = float(np.nanmean(div)) if div.notna().any() else None
    if "evolve" in sets:
        ev = table[table["set"] == "evolve"]
        summary["evolve_elites"] = int(len(sets["evolve"]["owner"]))
        for pname in predictors:
            e = sets["evolve"]
            pred = e["preds"][pname]
            err = _errors(cond, pred, e["targets"], labels)
            if cond == "category":
                summary[f"evolve_{pname}_accuracy"] = float(err.mean()) if len(err) else None
            else:
                for j, d in enumerate(dims):
                    summary[f"evolve_{pname}_mae_{d}"] = float(err[:, j].mean()) if len(err) else None
        summary["evolve_targets_covered"] = int((ev.drop_duplicates("target")["n"] > 0).sum())

    folder = resolve_generator(cfg.generator)
    record = {**summary, "config": asdict(cfg)}
    if cfg.out is not None:
        dest = Path(cfg.out)
        dest.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(dest / EVAL_FILE, table.to_csv(index=False).encode())
        write_json(dest / SUMMARY_FILE, record)
        summary["written"] = [str(dest / SUMMARY_FILE), str(dest / EVAL_FILE)]
    elif is_packaged(folder):
        summary["written"] = []  # emosynth's own card stays as shipped
    else:
        atomic_write_bytes(folder / EVAL_FILE, table.to_csv(index=False).encode())
        card = json.loads((folder / CARD_FILE).read_text())
        card["evaluation"] = record
        write_json(folder / CARD_FILE, card)
        summary["written"] = [f"{folder / CARD_FILE} (evaluation)", str(folder / EVAL_FILE)]
    return summary


def is_packaged(folder) -> bool:
    """Whether ``folder`` is one of the generators shipped inside emosynth (never rewritten by a run).

    Args:
        folder: A generator folder.

    Returns:
        True for the packaged generators: the default and those in ``PACKAGED_GENERATORS``.
    """
    here = Path(folder).resolve()
    return any(here == Path(p).resolve() for p in (DEFAULT_GENERATOR_DIR, *PACKAGED_GENERATORS.values()))


def _judge_figures(cfg, gen, images, reps, dims, note) -> dict:
    """r(target, judged) and MAE of each ``cfg.judges`` judge on the generator's images, and which
    judges were in the generator's objective (``judges_in_objective``: their figures are fits)."""
    from ._generator import named_judge, objective_names

    if not cfg.judges or cfg.judges.strip().lower() == "none":
        return {}
    spec = (gen.card_.get("judges") or {}).get("spec") or "default"
    used = set(objective_names(spec)) if spec.lower() != "default" else {"default"}
    out: dict = {"judges_in_objective": sorted(used)}
    for name in [n.strip() for n in cfg.judges.split(",") if n.strip()]:
        note(f"judge {name}")
        judge = named_judge(name, cfg.data_root)
        with torch.no_grad():
            vad = torch.cat([judge(images[i:i + 32])["vad"] for i in range(0, len(images), 32)]).numpy()
        for j, d in enumerate(dims):
            if d in judge.dims:
                out[f"judge_{name}_r_{d}"] = correlation(reps[:, j], vad[:, j])
                out[f"judge_{name}_mae_{d}"] = float(np.abs(reps[:, j] - vad[:, j]).mean())
    return out


def _target_name(cond, t, labels) -> str:
    if cond == "category":
        return labels[int(t[0]) if np.ndim(t) else int(t)]
    return "_".join(f"{d[0]}{v:.2f}" for d, v in zip(DIMENSIONS, t))


def _real_sets(cond, targets, cfg, labels, feat_model):
    """Real images that belong to each target (features of the diversity backbone)."""
    from ..data import load_datasets
    from ..errors import DataError

    try:
        data = load_datasets(["oasis", "emotion6"] if cond != "category" else ["emotion6"], cfg.data_root)
    except DataError as err:
        return None, f"no real images to compare diversity with: {err}"
    paths, where, owner = [], [], []
    for ds in data:
        if cond == "category":
            if ds.probabilities is None or ds.categories is None:
                continue
            names = list(ds.categories.names)
            idx = np.array([labels.index(names[j]) if names[j] in labels else -1
                            for j in ds.probabilities.argmax(1)])
        else:
            vad = ds.vad[:, : targets.shape[1]]
            ok = np.isfinite(vad).all(1)
            idx = np.where(ok, assign(cond, targets, np.nan_to_num(vad), cfg.grid), -1)
        keep = np.flatnonzero(idx >= 0)
        rng = np.random.default_rng(cfg.seed)
        keep = np.sort(np.concatenate([rng.permutation(keep[idx[keep] == t])[: cfg.real_per_target]
                                       for t in np.unique(idx[keep])])) if len(keep) else keep
        paths += [ds.paths[i] for i in keep]
        where += [ds.where[i] for i in keep]
        owner += idx[keep].tolist()
    if not paths:
        return None, "no real image lies in the evaluation grid"
    feats = feat_model.extractor().extract(paths, where)
    return {"features": feats, "owner": np.array(owner)}, None


def _run_set(cfg, cond, targets, labels, predictors, feat_model):
    """The elites of a MAP-Elites run, grouped by the grid target nearest their own cell target."""
    from ..rundir import IMAGES_DIR, RunDirError, read_run
    from ..transforms import resize, to_uint8

    try:
        run = read_run(cfg.compare_run)
    except RunDirError as err:
        raise SynthError(str(err)) from None
    items = run.items
    if cond == "category":
        if "target_category" not in items.columns or items["target_category"].isna().all():
            raise SynthError(f"{cfg.compare_run}: not a category run (no target_category column)")
        unknown = sorted(set(items["target_category"]) - set(labels))
        if unknown:
            raise SynthError(f"{cfg.compare_run}: categories {unknown} are not this generator's labels")
        own = np.array([labels.index(c) for c in items["target_category"]], dtype=float)[:, None]
        owner = own[:, 0].astype(int)
    else:
        cols = [f"target_{d}" for d in DIMENSIONS[: targets.shape[1]]]
        if any(c not in items.columns or items[c].isna().all() for c in cols):
            raise SynthError(f"{cfg.compare_run}: not a {cond.upper()} run (needs columns {', '.join(cols)})")
        own = items[cols].to_numpy(float)
        owner = assign(cond, targets, own, cfg.grid)
    from PIL import Image

    from ..imageio import read_image

    keep = np.flatnonzero(owner >= 0)
    images = Path(run.path) / IMAGES_DIR
    # the one image reader: a zero-byte or non-image elite, or one outside images/, is one line
    arrays = [np.asarray(read_image(images / str(items["file"].iloc[i]), within=images,
                                    where=f"{Path(run.path) / 'items.csv'} row {i + 2}")
                         .resize((cfg.size, cfg.size), Image.Resampling.BILINEAR)) for i in keep]
    if not arrays:
        raise SynthError(f"{cfg.compare_run}: none of its elites lies in the evaluation grid")
    x = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 255

    fsize = feat_model.extractor().input_size
    return {"features": feat_model.extractor().from_arrays(to_uint8(resize(x, fsize))), "owner": owner[keep],
            "preds": {k: p.predict_tensor(x) for k, p in predictors.items()},
            "targets": own[keep] if cond != "category" else own[keep][:, 0]}
