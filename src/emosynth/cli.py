"""The ``emosynth`` command line: one thin command per capability; all logic lives in the library."""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from . import __version__
from .config import command_string
from .errors import ConfigError, EmosynthError

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  help="Predict the emotion an image conveys (category, valence, arousal, dominance on the "
                       "SAM 1-9 scale) and synthesise images for a chosen emotion.")
data_app = typer.Typer(no_args_is_help=True, help="Look at data sets before training on them.")
app.add_typer(data_app, name="data")

out = Console(soft_wrap=True)  # paths are printed whole, never broken across lines
err = Console(stderr=True)

DATASET_HELP = ("Data set: 'oasis' or 'emotion6' (under the data root, official layout), a CSV with a path "
                "column and category/valence/arousal/dominance columns, or a folder with one sub-folder per "
                "category. Repeat to combine.")
DATA_ROOT_HELP = "Folder holding oasis/, emotion6/ and lexicons/ (default: $EMOSYNTH_DATA)."
OVERWRITE_HELP = ("Replace an earlier output of this command at --out. Without it emosynth writes only into a new "
                  "or empty folder; a folder it did not write, or another command's output, is never replaced.")


#: The arguments main() was given (None: this process's sys.argv), for the command run.json records.
_ARGV: ContextVar[list[str] | None] = ContextVar("emosynth_argv", default=None)

#: Library parameters whose flag is not ``--`` + the name with ``_`` as ``-`` (see ``_flag``).
FLAGS = {"objectives": "--target", "scheduler_address": "--scheduler", "target_datasets": "--target-data",
         "datasets": "--dataset", "out": "--out", "runs": "--from"}


def _command() -> str:
    """The command line of this invocation, as recorded in run.json and reports."""
    return command_string(_ARGV.get())


def _flag(parameter: str) -> str:
    """A library parameter's command-line flag: ``lr`` → ``--lr``, ``export_size`` → ``--export-size``."""
    return FLAGS.get(parameter, "--" + parameter.replace("_", "-"))


@contextmanager
def _progress(total: int, what: str, quiet: bool):
    """A rich progress bar on stderr; yields an ``advance(k)`` callable."""
    if quiet or total == 0:
        yield lambda k=1: None
        return
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=err, transient=True) as bar:
        task = bar.add_task(what, total=total)
        yield lambda k=1: bar.advance(task, k)


def _image_paths(inputs: list[Path]) -> list[Path]:
    from .errors import ImageError
    from .imageio import IMAGE_SUFFIXES

    paths: list[Path] = []
    for p in inputs:
        if p.is_dir():
            found = sorted(q for q in p.rglob("*") if q.is_file() and q.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise ImageError(f"{p}: folder holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
            paths.extend(found)
        elif p.exists():
            paths.append(p)
        else:
            raise ImageError(f"{p}: no such file or folder")
    return paths


# ---------------------------------------------------------------------------- predict


@app.command()
def predict(
    images: List[Path] = typer.Argument(None, help="Image files or folders. None: the sample photos that ship "
                                                   "with emosynth."),
    model: Optional[Path] = typer.Option(None, "--model", help="A saved model folder (default: the packaged model)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per image, one per line."),
    engine: str = typer.Option("auto", help="auto (the fastest engine measured on this machine among those "
                                            "with eager fp32's predictions), onnx, openvino, torch, eager (plain "
                                            "fp32), or openvino-bf16 / onnx-int8 / onnx-int8-static / torch-bf16 "
                                            "(faster on some CPUs, less exact: openvino-bf16, on CPUs with native "
                                            "bf16, ran 8.6-10.1x eager and moved V by 0.04 on average, 0.23 at "
                                            "most, over OASIS; see docs/performance.md). --out resumes a run "
                                            "begun on a less exact engine only on that engine."),
    out_file: Optional[Path] = typer.Option(None, "--out", help="Score a corpus into this file, streaming and "
                                            "resumably: .csv, .jsonl or .parquet (by the extension). Unreadable "
                                            "images are skipped and listed in OUT.skipped.csv; run the same "
                                            "command again to resume an interrupted run."),
    recursive: bool = typer.Option(True, "--recursive/--no-recursive",
                                   help="Search folders' subfolders too (--no-recursive: a folder's own images)."),
    workers: Optional[int] = typer.Option(None, "--workers", help="With --out: processes that read and decode "
                                          "images (default: one per core beyond the first; 0: none)."),
    batch: int = typer.Option(64, "--batch", help="With --out: images per scoring batch."),
    shard_size: int = typer.Option(1024, "--shard-size", help="With --out: images per write of OUT (and per "
                                   "Dask task)."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="With --out: a dask.distributed scheduler "
                                            "(tcp://host:8786); each worker scores a shard, the output is the "
                                            "one a single machine writes. The images must be readable there."),
    overwrite: bool = typer.Option(False, "--overwrite", help="With --out: score everything again over an "
                                   "earlier output of this command (never over a file emosynth did not write)."),
    interval_dataset: Optional[str] = typer.Option(None, "--interval-dataset", help="Intervals that cover this "
                                                   "training data set's ratings (oasis or emotion6 for the packaged "
                                                   "model), calibrated on its own held-out scores. Default: the "
                                                   "data set a classifier assigns each image to, which misses 90 % "
                                                   "on OASIS arousal and dominance (docs/results/predictor.md)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
):
    """Predict each image's emotion: top category and its probability, valence, arousal, dominance (1-9).

    With --json each line is {"path", "category", "probabilities": {label: p}, "valence", "arousal",
    "dominance"}; V, A, D are on the SAM 1-9 scale (null where the model was not trained for that
    dimension) and the probabilities sum to 1. A model with intervals adds "interval": {"valence":
    [lo, hi], ...} and "familiarity"/"unfamiliar" (the table prints V 6.2 [5.1–7.3]).

    Trust: the packaged model's intervals are split-conformal, 90 % on held-out folds of its training
    data (photographs); "familiarity" (0-1, higher = more like the training images) and "unfamiliar"
    (past 99 % of held-out training images: flat colour fields, noise) say when not to trust them.
    Anger: the packaged model never names it. Its category head learns from Emotion6's raters, who
    chose anger as the top emotion for 31 of 1,980 photos (1.6 %); the head gives p(anger) at most
    0.15, so read p(anger) as a weak relative signal, never as a label (docs/results/predictor.md).

    With --out the images are scored as a corpus (emosynth.corpus): folders are walked lazily,
    decoded in worker processes and scored in batches, rows are written shard by shard with each
    file's sha1, and memory stays flat however many images there are.
    """
    from .models import Predictor
    from .samples import sample_paths

    corpus_only = {"--scheduler": scheduler is not None, "--overwrite": overwrite,
                   "--workers": workers is not None}
    if out_file is None and any(corpus_only.values()):
        flag = next(k for k, v in corpus_only.items() if v)
        raise ConfigError("out", f"is needed by {flag} (it scores a corpus into a file)")
    if out_file is not None:
        from .corpus import CorpusConfig, check_inputs, predict_corpus

        config = CorpusConfig(recursive=recursive, workers=workers, batch_size=batch, shard_size=shard_size,
                              engine=engine, scheduler=scheduler, overwrite=overwrite).validate()
        inputs = list(images) if images else sample_paths()
        check_inputs(inputs, recursive)
        predictor = Predictor.load(model).set_interval_dataset(interval_dataset)
        with _corpus_progress(quiet) as advance:
            res = predict_corpus(inputs, out_file, predictor, config, progress=advance)
        skipped = f"; {res.skipped} unreadable, listed in {res.skipped_file}" if res.skipped else ""
        already = f" ({res.already} already there)" if res.already else ""
        out.print(f"{res.out}: {res.scored} images scored{already}{skipped}, {res.seconds:.1f} s "
                  f"({res.rate:.1f} images/s)", highlight=False)
        return
    if images:
        from .corpus import check_inputs, walk_images

        check_inputs(images, recursive)
        paths = list(walk_images(images, recursive))
    else:
        paths = sample_paths()
    predictor = Predictor.load(model).set_interval_dataset(interval_dataset)
    with _progress(len(paths), "scoring", quiet or as_json) as advance:
        records = predictor.predict(paths, engine=engine, progress=advance)
    if as_json:
        for r in records:
            sys.stdout.write(json.dumps(r) + "\n")
        return
    coverage = round(100 * float(getattr(predictor.config, "coverage", 0.9) or 0.9))
    of = f" of {interval_dataset} ratings" if interval_dataset else ""
    table = Table(title=f"emotion ({predictor.config.backbone}; V, A, D on the SAM 1-9 scale"
                        f"{f'; [{coverage} % interval{of}]' if any('interval' in r for r in records) else ''})")
    familiarity = any("familiarity" in r for r in records)
    for col in ("image", "category", "p", "valence", "arousal", "dominance") + (("familiarity",) if familiarity
                                                                                   else ()):
        # In a narrow console (a pipe, CI: 80 columns) V/A/D wrap at the interval's space and the image keeps
        # a readable width, rather than rich squeezing the file name away.
        table.add_column(col, justify="left" if col in ("image", "category") else "right", overflow="fold",
                         no_wrap=col in ("category", "p"), min_width=12 if col == "image" else None)
    for r in records:
        cat = r.get("category", "-")
        p = f"{r['probabilities'][cat]:.2f}" if "probabilities" in r else "-"
        shown = Path(r["path"]).name if not images else r["path"]  # the samples: just their names
        vad = [_with_interval(r, k) for k in ("valence", "arousal", "dominance")]
        extra = []
        if familiarity:
            f = r.get("familiarity")
            extra = [("-" if f is None else f"{f:.2f}") + (" unfamiliar" if r.get("unfamiliar") else "")]
        table.add_row(shown, cat, p, *vad, *extra)
    out.print(table)
    if "lexicon" in predictor.sources_.get("dominance", ""):
        out.print("dominance: trained on lexicon-derived labels (Warriner et al. 2013), not rated dominance",
                  style="dim")


def _with_interval(record: dict, dim: str) -> str:
    """``6.2 [5.1–7.3]`` where the record has an interval for ``dim``, else ``6.20``; ``-`` for null."""
    v = record.get(dim)
    if v is None:
        return "-"
    iv = (record.get("interval") or {}).get(dim)
    if iv and iv[0] is not None and iv[1] is not None:
        return f"{v:.1f} [{iv[0]:.1f}–{iv[1]:.1f}]"
    return f"{v:.2f}"


@contextmanager
def _corpus_progress(quiet: bool):
    """A rich progress bar with rate and ETA for a corpus whose size is counted as it runs."""
    if quiet:
        yield None
        return
    from rich.progress import TaskProgressColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
                  TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("ETA"),
                  TimeRemainingColumn(), console=err, transient=True) as bar:
        task = bar.add_task("scoring", total=None, rate="")
        t0 = [None, 0]

        def advance(k: int, total: int | None):
            import time

            now = time.perf_counter()
            if t0[0] is None:
                t0[0] = now
            t0[1] += k
            dt = now - t0[0]
            rate = f"{t0[1] / dt:.1f} images/s" if dt > 0 else ""
            bar.update(task, advance=k, total=total, rate=rate)

        yield advance


# ---------------------------------------------------------------------------- train / evaluate


def _features(predictor, data, quiet):
    what = "activations" if predictor.config.finetune else "features"
    with _progress(len(data), f"{what} ({predictor.config.backbone})", quiet) as advance:
        return predictor.inputs(data, progress=advance)


TARGET_DATA_HELP = ("TARGET=DATASET[,DATASET]: learn TARGET (valence, arousal, dominance, category) only from "
                    "these data sets, e.g. arousal=oasis. Repeatable. Default: every data set carrying it.")


def _target_data(items: list[str] | None) -> dict[str, list[str]]:
    from .errors import EmosynthError

    out: dict[str, list[str]] = {}
    for item in items or []:
        target, sep, names = item.partition("=")
        if not sep or not names.strip():
            raise EmosynthError(f"--target-data {item!r}: write TARGET=DATASET[,DATASET], e.g. arousal=oasis")
        out[target.strip().lower()] = [n.strip() for n in names.split(",") if n.strip()]
    return out


def _config(backbone, weights, pooling, flip, seed, target_data=None, finetune=0, finetune_epochs=6,
            components=512):
    from .models import PredictorConfig

    cfg = PredictorConfig(backbone=backbone, weights=str(weights) if weights else None, pooling=pooling,
                           flip=flip, seed=seed, target_datasets=_target_data(target_data), finetune=finetune,
                           finetune_epochs=finetune_epochs, components=components)
    return cfg


READOUT_HELP = ("lexicon: the V/A/D heads also weigh the expected valence, arousal and dominance of the "
                "ImageNet class an efficientnet-lite backbone's own classifier sees, from word norms of the class "
                "names (Warriner et al. 2013, read from the data root's lexicons/). Default: backbone features only.")


def _readout(cfg, readout: str | None, data_root):
    """``--readout`` into the configuration (the norms from ``--data-root``'s lexicons/ when given)."""
    cfg.readout = readout
    if readout and data_root:
        cfg.readout_lexicon = str(Path(data_root) / "lexicons")
    return cfg


COMPONENTS_HELP = ("Fit the heads on this many leading principal components of the training features "
                   "(0: all features). 512 scores as all features do on OASIS/Emotion6, 5x faster.")


FINETUNE_HELP = ("Fine-tune the backbone's last N blocks (efficientnet-lite*, mobilenetv2) before fitting the "
                 "heads; 0 keeps it frozen. Slower; each CV fold fine-tunes on its own training rows.")


@app.command()
def train(
    dataset: List[str] = typer.Option(..., "--dataset", help=DATASET_HELP),
    out_dir: Path = typer.Option(..., "--out", help="Folder to write the model to (model.json + heads.npz)."),
    backbone: str = typer.Option("efficientnet-lite0", help="Backbone name (see 'emosynth backbones'); join "
                                                            "names with + to use several side by side."),
    weights: Optional[Path] = typer.Option(None, help="Checkpoint for torchvision-format backbones."),
    pooling: str = typer.Option("avg", help="avg, or avgmax (mean and max of the last feature map)."),
    flip: bool = typer.Option(False, help="Average features of the image and its mirror image."),
    target_data: Optional[List[str]] = typer.Option(None, "--target-data", help=TARGET_DATA_HELP),
    finetune: int = typer.Option(0, "--finetune", help=FINETUNE_HELP),
    finetune_epochs: int = typer.Option(6, "--finetune-epochs", help="Epochs of tail fine-tuning."),
    components: int = typer.Option(512, "--components", help=COMPONENTS_HELP),
    readout: Optional[str] = typer.Option(None, "--readout", help=READOUT_HELP),
    cv_folds: int = typer.Option(0, "--cv-folds", help="Also cross-validate with this many grouped folds and "
                                                       "write the metrics into the model card (0: skip)."),
    coverage: float = typer.Option(0.9, "--coverage", help="Nominal coverage of the V/A/D prediction intervals "
                                   "(split-conformal, calibrated on held-out grouped folds; 0.5-0.995)."),
    trust_folds: int = typer.Option(5, "--trust-folds", help="Grouped folds that calibrate the intervals, the "
                                    "familiarity flag and the category head's temperature (the --cv-folds ones "
                                    "when given; 0: none). Needs at least 100 images."),
    data_root: Optional[Path] = typer.Option(None, help=DATA_ROOT_HELP),
    scale: str = typer.Option("1-9", help="Rating scale of V/A/D columns in CSV data sets, e.g. 1-7."),
    seed: int = typer.Option(0, help="Seed for the inner and outer folds."),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
):
    """Train the predictor's heads on one or more data sets and save it with a model card."""
    from .data import combine, load_datasets
    from .evaluate import cross_validate
    from .fsio import check_output
    from .models import Predictor
    from .models.predictor import MODEL_KIND

    cfg = _readout(_config(backbone, weights, pooling, flip, seed, target_data, finetune, finetune_epochs,
                           components), readout, data_root)
    cfg.coverage = coverage
    predictor = Predictor(cfg)  # validates cfg before any data is read
    if trust_folds and trust_folds < 2:
        raise ConfigError("trust_folds", f"must be 0 (none) or at least 2, got {trust_folds}")
    check_output(out_dir, MODEL_KIND, overwrite)  # before any work: never replace what is not ours
    sets = load_datasets(dataset, data_root, scale=scale)
    data, _ = combine(sets)
    feats = _features(predictor, data, quiet)
    card: dict = {"backbone": backbone, "datasets": [s.name for s in sets],
                  "dataset_sizes": {s.name: len(s) for s in sets},
                  "label_sources": {s.name: s.sources for s in sets},
                  "emosynth_version": __version__,
                  "command": _command()}
    if cv_folds:
        with _progress(cv_folds, "cross-validating", quiet) as advance:
            metrics, oof = cross_validate(lambda: Predictor(cfg), sets, feats, cv_folds, seed, progress=advance,
                                          return_oof=True)
        card["evaluation"] = {"protocol": f"grouped {cv_folds}-fold CV (OASIS grouped by theme), seed {seed}, "
                                          "trained on all data sets, scored per data set; mean and sd over folds",
                              "datasets": metrics}
    predictor.fit_inputs(data, feats)
    if trust_folds and len(data) >= 100:
        folds = cv_folds or trust_folds
        with _progress(0 if cv_folds else folds, "calibrating intervals", quiet) as advance:
            predictor.fit_trust(data, feats, folds, oof=oof if cv_folds else None, progress=advance)
    elif trust_folds:
        card["trust"] = {"skipped": f"{len(data)} images: intervals, familiarity and calibration need at least 100"}
    predictor.save(out_dir, card, overwrite=overwrite)
    if not quiet:
        err.print(f"saved {out_dir} ({len(data)} images: {', '.join(f'{s.name} {len(s)}' for s in sets)})")
        if cv_folds:
            _print_metrics(card["evaluation"]["datasets"])


def _print_metrics(metrics: dict, title: str = "cross-validated (mean ± sd over folds)"):
    table = Table(title=title)
    for col in ("data set", "target", "metric", "value"):
        table.add_column(col)
    for name, targets in metrics.items():
        for target, ms in targets.items():
            for m, v in ms.items():
                if not m.endswith("_sd"):
                    table.add_row(name, target, m, f"{v:.3f} ± {ms.get(m + '_sd', 0):.3f}")
    out.print(table)


@app.command()
def evaluate(
    dataset: List[str] = typer.Option(..., "--dataset", help=DATASET_HELP),
    backbone: Optional[str] = typer.Option(None, help="Backbone name (see 'emosynth backbones'); join names with "
                                                      "+ to use several side by side. Default: the packaged model's "
                                                      "recipe (backbones, pooling, flip, target data, components)."),
    weights: Optional[Path] = typer.Option(None, help="Checkpoint for torchvision-format backbones."),
    pooling: Optional[str] = typer.Option(None, help="avg or avgmax (default: the packaged model's; avg with "
                                                     "--backbone)."),
    flip: Optional[bool] = typer.Option(None, "--flip/--no-flip", help="Average features of the image and its "
                                        "mirror image (default: the packaged model's; off with --backbone)."),
    target_data: Optional[List[str]] = typer.Option(None, "--target-data", help=TARGET_DATA_HELP),
    finetune: int = typer.Option(0, "--finetune", help=FINETUNE_HELP),
    finetune_epochs: int = typer.Option(6, "--finetune-epochs", help="Epochs of tail fine-tuning."),
    components: Optional[int] = typer.Option(None, "--components", help=COMPONENTS_HELP + " Default: the packaged "
                                             "model's; 512 with --backbone."),
    readout: Optional[str] = typer.Option(None, "--readout", help=READOUT_HELP),
    folds: int = typer.Option(5, help="Number of grouped folds."),
    seed: int = typer.Option(0, help="Seed of the fold assignment."),
    data_root: Optional[Path] = typer.Option(None, help=DATA_ROOT_HELP),
    scale: str = typer.Option("1-9", help="Rating scale of V/A/D columns in CSV data sets."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
):
    """Grouped k-fold cross-validation: Pearson r, MAE and CCC for V, A, D; accuracy, macro-F1 and
    KL(raters || model) for categories; mean and sd over folds, per data set. Without --backbone it
    evaluates the packaged model's recipe, so its figures are the model card's."""
    from .data import combine, load_datasets
    from .evaluate import constant_baseline, cross_validate, noise_ceilings
    from .models import Predictor, packaged_config

    if backbone is None:
        given = {"pooling": pooling, "flip": flip, "components": components,
                 "target_datasets": _target_data(target_data) if target_data else None}
        cfg = packaged_config(**{k: v for k, v in given.items() if v is not None}, seed=seed,
                              weights=str(weights) if weights else None, finetune=finetune,
                              finetune_epochs=finetune_epochs)
    else:
        cfg = _config(backbone, weights, pooling or "avg", bool(flip), seed, target_data, finetune, finetune_epochs,
                      512 if components is None else components)
    _readout(cfg, readout, data_root)
    predictor = Predictor(cfg)  # validates cfg before any data is read
    sets = load_datasets(dataset, data_root, scale=scale)
    if backbone is None and not target_data:  # the recipe's "arousal from OASIS" holds where OASIS is given
        cfg.target_datasets = {t: names for t, names in cfg.target_datasets.items()
                               if set(names) <= {s.name for s in sets}}
    data, _ = combine(sets)
    feats = _features(predictor, data, quiet or as_json)
    with _progress(folds, "cross-validating", quiet or as_json) as advance:
        metrics = cross_validate(lambda: Predictor(cfg), sets, feats, folds, seed, progress=advance)
    result = {"backbone": cfg.backbone, "pooling": cfg.pooling, "flip": cfg.flip, "components": cfg.components,
              "readout": cfg.readout, "folds": folds, "seed": seed,
              "target_datasets": cfg.target_datasets,
              "datasets": metrics,
              "constant_baseline": constant_baseline(sets, folds, seed),
              "noise_ceiling": noise_ceilings(sets),
              "label_sources": {s.name: s.sources for s in sets}}
    if as_json:
        sys.stdout.write(json.dumps(result) + "\n")
    else:
        _print_metrics(metrics)
        _print_metrics(result["constant_baseline"], "constant predictor (training mean / class prior), same folds")
        for name, dims in result["noise_ceiling"].items():
            out.print(f"noise ceiling ({name}, from raters' SD and N): "
                      + ", ".join(f"{d} r ≤ {v['r']:.3f}" for d, v in dims.items()))


@app.command()
def compare(
    dataset: List[str] = typer.Option(["oasis", "emotion6"], "--dataset", help=DATASET_HELP),
    backbones: Optional[str] = typer.Option(None, "--backbones",
                                            help="Comma-separated backbone names (see 'emosynth backbones'). "
                                                 "Default: the packaged model's backbones (the first row), then "
                                                 "efficientnet-lite0, -lite1, -lite2, mobilenetv2, handcrafted. "
                                                 "NAME@lexicon: NAME with the lexicon readout (see train "
                                                 "--readout), e.g. efficientnet-lite0,efficientnet-lite0@lexicon."),
    folds: int = typer.Option(5, help="Number of grouped folds."),
    seed: int = typer.Option(0, help="Seed of the fold assignment and inner CV."),
    out_dir: Path = typer.Option(Path("reports/compare"), "--out", help="Folder for report.md, report.html, "
                                                                        "results.csv, summary.csv and plots."),
    pooling: str = typer.Option("avgmax", help="avg or avgmax (CNN backbones)."),
    flip: bool = typer.Option(True, help="Average features of the image and its mirror image."),
    target_data: Optional[List[str]] = typer.Option(
        None, "--target-data", help=TARGET_DATA_HELP.replace("Default: every data set carrying it.",
                                                             "Default: arousal=oasis where OASIS is among the data "
                                                             "sets (its arousal is rated on photos alone), else "
                                                             "every data set carrying it.")),
    components: int = typer.Option(512, "--components", help=COMPONENTS_HELP),
    jobs: int = typer.Option(0, "--jobs", help="Processes fitting heads (0: one per core)."),
    publish: Optional[Path] = typer.Option(None, "--publish", help="Also copy report.md here (e.g. "
                                                                    "docs/results.md), plots beside it."),
    data_root: Optional[Path] = typer.Option(None, help=DATA_ROOT_HELP),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
):
    """Compare backbones x representations (category, VA, VAD) of emotion on the same grouped folds,
    beside a constant predictor and the noise ceiling: mean +- 95% CI, paired tests against the best,
    how each representation predicts the others, plots, report.md / report.html / results.csv."""
    from .compare import CompareConfig, run_compare
    from .report import headline_table, write_compare_report
    from .report import publish as publish_report

    names = {"backbones": [b.strip() for b in backbones.split(",") if b.strip()]} if backbones is not None else {}
    cfg = CompareConfig(datasets=list(dataset), **names, folds=folds, seed=seed, pooling=pooling,
                        flip=flip, components=components, jobs=jobs,
                        target_datasets=_target_data(target_data) if target_data is not None
                        else ({"arousal": ["oasis"]} if "oasis" in [d.lower() for d in dataset] else {}),
                        readout_lexicon=str(data_root / "lexicons") if data_root else None)
    from .fsio import check_output
    from .report.compare_report import REPORT_KIND

    check_output(out_dir, REPORT_KIND, overwrite)  # before the folds run: never replace what is not ours
    if publish:
        from .report import check_publish

        check_publish(publish)
    bars: dict = {}
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=err, transient=True, disable=quiet) as bar:
        def progress(stage, done, total):
            if stage not in bars:
                bars[stage] = bar.add_task(stage, total=total)
            bar.update(bars[stage], completed=done)

        result = run_compare(cfg, data_root, progress)
    write_compare_report(result, out_dir, command=_command(), overwrite=overwrite)
    if publish:
        publish_report(out_dir, publish)
    header, rows = headline_table(result, console=True)
    from rich import box

    table = Table(box=box.SIMPLE_HEAD, padding=(0, 1), title="mean over folds (CIs and paired tests: report.md)",
                  caption="bold: best; †: not significantly different from the "
                  "best (paired t-test); ᶜ: V/A through category centroids; ⁿ: category by nearest VA(D) centroid")
    for i, h in enumerate(header):
        table.add_column(h, no_wrap=i < 2, justify="left" if i < 2 else "right")
    for r in rows:
        table.add_row(*r)
    out.print(table)
    t = result.timings
    state = ("warm: all features cached" if not t["images_computed"]
             else f"{t['images_computed']} image features computed")
    out.print(f"{t['total_s']:.0f} s ({state}); report: {out_dir / 'report.md'}, {out_dir / 'report.html'}",
              highlight=False)


@app.command()
def visualize(
    out_dir: Path = typer.Option(..., "--out", help="Run directory to write (images/, items.csv, run.json, "
                                                    "mosaic.png)."),
    model: str = typer.Option("default", help="A saved model folder, or 'default' (the packaged model)."),
    target: Optional[List[str]] = typer.Option(None, "--target", help="What to maximise, repeatable: a category "
                                               "(joy), valence/arousal/dominance with + or -, a point on the 1-9 "
                                               "scale ('valence=8,arousal=2'), or channel=N (a backbone feature). "
                                               "Default: every output of the model, both ways for V/A/D."),
    seeds: int = typer.Option(3, help="Images per target, from different random starts."),
    steps: int = typer.Option(48, help="Optimisation steps."),
    size: int = typer.Option(224, help="Image side in pixels."),
    lr: float = typer.Option(0.05, help="Adam learning rate."),
    naive: bool = typer.Option(False, "--naive", help="Optimise raw pixels without transforms (to see why the "
                                                      "Fourier / decorrelated-colour parametrisation matters)."),
    seed: int = typer.Option(0, help="Random seed (starts and transforms)."),
    judges: str = typer.Option("default", "--judges", help="The objective's judges: 'default' (the predictor "
                               "above), 'consensus' (the network ensemble and the Valdez-Mehrabian colour "
                               "judge) or a comma list (see emosynth judges); with judges the targets are V/A "
                               "points (default: the four corners 2/8 x 2/8)."),
    check_judges: Optional[str] = typer.Option(None, "--check-judges", help="With --judges: held-out judges "
                                               "that score the images (never ones in the objective): "
                                               "'held-out' (default: lite2, ou), 'none' or a comma list."),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
):
    """Activation maximisation: images that drive one output of the predictor (lucent-style Fourier
    parametrisation in decorrelated colour, random jitter / scale / rotation / flip each step), or
    with --judges, V/A targets under the consensus of several judges."""
    from .explore import VisualizeConfig
    from .explore import visualize as run_visualize

    cfg = VisualizeConfig(model=None if model == "default" else model, objectives=list(target or []), seeds=seeds,
                          steps=steps, size=size, lr=lr, naive=naive, seed=seed, judges=judges,
                          check_judges=check_judges)
    with _progress(steps, "optimising", quiet) as advance:
        result = run_visualize(cfg, out_dir, progress=lambda done, total: advance(1), command=_command(),
                               overwrite=overwrite)
    if not quiet:
        meta = json.loads((result / "run.json").read_text())
        for name, m in meta["metrics"]["objectives"].items():
            extra = (f", probability {m['probability_start']:.2f} -> {m['probability_end']:.2f}"
                     if "probability_end" in m else "")
            out.print(f"{name}: score {m['score_start']:.2f} -> {m['score_end']:.2f}{extra}", highlight=False)
        for name, t in (meta.get("transfer") or {}).items():
            rs = ", ".join(f"{k[2:]} r {v:.2f}" for k, v in t.items() if k.startswith("r_") and v is not None)
            out.print(f"held out {name}: {rs or t.get('note', 'no figure')}", highlight=False)
        out.print(f"{result / 'mosaic.png'} ({meta['metrics']['seconds']:.0f} s)", highlight=False)


@app.command()
def analyze(
    runs: Optional[List[Path]] = typer.Argument(None, help="Run directories (images/, items.csv, run.json)."),
    dataset: Optional[List[str]] = typer.Option(None, "--dataset", help="Real images to set beside the runs "
                                                "(oasis, emotion6, a CSV or folder data set). Repeatable."),
    out_dir: Path = typer.Option(..., "--out", help="Folder for report.md, report.html, effects.csv, "
                                                    "agreement.csv and plots."),
    publish: Optional[Path] = typer.Option(None, "--publish", help="Also copy report.md here (e.g. "
                                                                    "docs/findings.md), plots beside it."),
    data_root: Optional[Path] = typer.Option(None, help=DATA_ROOT_HELP),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
):
    """Visual statistics per emotion (colour, texture, composition): effect sizes per category and VA
    region, and whether synthesised images move them the way rated real images do."""
    from .report import analyze as run_analyze
    from .report import check_publish
    from .report import publish as publish_report

    if publish:
        check_publish(publish)  # before the work: an unwritable --publish is one line, not a lost analysis
    result = run_analyze(list(runs or []), list(dataset or []), out_dir, data_root,
                         command=_command(), overwrite=overwrite)
    if publish:
        publish_report(out_dir, publish)
    if not quiet:
        for line in result["sentences"][:12]:
            out.print(line, highlight=False)
        out.print(f"{out_dir / 'report.md'} ({result['seconds']:.0f} s)", highlight=False)


# ---------------------------------------------------------------------------- data / backbones


@data_app.command("summary")
def data_summary(
    dataset: List[str] = typer.Option(..., "--dataset", help=DATASET_HELP),
    data_root: Optional[Path] = typer.Option(None, help=DATA_ROOT_HELP),
    scale: str = typer.Option("1-9", help="Rating scale of V/A/D columns in CSV data sets."),
    as_json: bool = typer.Option(False, "--json"),
):
    """Counts, label ranges (on 1-9, with where each label came from) and class balance."""
    from .data import load_datasets

    summaries = [d.summary() for d in load_datasets(dataset, data_root, scale=scale)]
    if as_json:
        sys.stdout.write(json.dumps(summaries) + "\n")
        return
    for s in summaries:
        out.print(f"[bold]{s['name']}[/bold]: {s['images']} images in {s['groups']} groups")
        for target, info in s["labels"].items():
            if target == "category":
                counts = ", ".join(f"{k} {v}" for k, v in info["argmax_counts"].items())
                out.print(f"  category ({info['source']}): raters' argmax: {counts}")
            else:
                out.print(f"  {target} ({info['source']}): n {info['n']}, {info['min']:.2f}-{info['max']:.2f}, "
                          f"mean {info['mean']:.2f} ± {info['sd']:.2f}")


@app.command()
def backbones():
    """List the backbones, their input size and where their weights come from."""
    from .errors import WeightsError
    from .models import BACKBONES
    from .models.handcrafted import FEATURE_NAMES, WORK_SIZE

    table = Table()
    for col in ("name", "input", "weights"):
        table.add_column(col, overflow="fold")
    for name, spec in BACKBONES.items():
        try:
            status = str(spec.weights_file(None))
        except WeightsError:
            status = "not on this machine (--weights PATH)"
        table.add_row(name, f"{spec.input_size} px", status)
    table.add_row("handcrafted", f"longest side {WORK_SIZE} px",
                  f"none: {len(FEATURE_NAMES)} named colour / texture / composition features")
    out.print(table)


def main(argv: list[str] | None = None):
    """Entry point: user errors print one line and exit 2, never a traceback.

    Usage errors (a missing option, a wrong type) are reported by typer/click, also with exit 2.
    """
    token = _ARGV.set(list(argv) if argv is not None else None)
    try:
        app(args=argv, prog_name="emosynth")
    except ConfigError as e:  # the library names parameters; the user typed flags
        err.print(f"error: {e.render(_flag)}", highlight=False, markup=False, soft_wrap=True)
        sys.exit(2)
    except EmosynthError as e:
        err.print(f"error: {e}", highlight=False, markup=False, soft_wrap=True)
        sys.exit(2)
    finally:
        _ARGV.reset(token)



# ---------------------------------------------------------------------------- judges


@app.command("judges")
def judges_command(
    as_json: bool = typer.Option(False, "--json", help="One JSON list: name, description, dims, labels, made_from, "
                                                     "held_out, presets per judge."),
):
    """The judges available to --judges and --check-judges: what each judges (dimensions on the SAM 1-9 scale,
    categories) and what it was made from. Presets: consensus = ensemble + valdez-mehrabian, consensus-palmer =
    ensemble + palmer-2013 (the edit's default), default = the packaged predictor; held out by default: lite2
    and ou. Any saved model folder or backbone name is a network judge too, and NAME:DIM[+DIM] keeps only
    those dimensions of a judge (e.g. valdez-mehrabian:arousal)."""
    from .judges import describe_judges

    rows = describe_judges()
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=1) + "\n")
        return
    for r in rows:
        tags = ", ".join(filter(None, ["held out" if r["held_out"] else "",
                                       *(f"in {p}" for p in r["presets"])]))
        dims = "/".join(d[0].upper() for d in r["dims"]) if r["dims"] else "?"
        cats = f" + {len(r['labels'])} categories" if r.get("labels") else ""
        out.print(f"{r['name']:17s} {dims}{cats}{' (' + tags + ')' if tags else ''}", highlight=False)
        out.print(f"{'':17s} {r['description']}" + (f" [not available: {r['error']}]" if r.get("error") else ""),
                  highlight=False)


# ---------------------------------------------------------------------------- evolve / demo (synthesis)


def _print_run(meta: dict, out_dir: Path):
    m = meta["metrics"]
    space = meta["space"]
    line = (f"{out_dir}: {m['filled']} of {space['cells']} cells filled ({m['coverage']:.0%}), "
            f"QD-score {m['qd_score']:.2f}, best {m['best']:.3f}, mean {m['mean']:.3f} "
            f"after {m['evaluations']} evaluations")
    out.print(line, highlight=False)
    rated = meta.get("rated") or {}
    if rated.get("cells"):
        out.print(f"  cells spanned by rated training images: {rated['filled']} of {rated['cells']} filled "
                  f"({rated['coverage']:.0%})", highlight=False)
    for name, t in (meta.get("transfer") or {}).items():  # one entry per held-out judge
        if not isinstance(t, dict):
            continue  # the flat keys of the earlier --check-backbone view
        if t.get("agreement") is not None:
            out.print(f"  held-out {name}: agrees on {t['agreement']:.0%} of elites (chance {t['chance']:.0%})",
                      highlight=False)
        elif t.get("note"):
            out.print(f"  held-out {name}: {t['note']}", highlight=False)
        else:
            rs = ", ".join(f"{k[2:]} r = {v:.2f}" for k, v in t.items()
                           if k.startswith("r_") and not k.endswith("_objective") and v is not None)
            out.print(f"  held-out {name}: cell target vs judged: {rs or 'too few elites for r'}", highlight=False)
    out.print(f"  {out_dir / 'archive.png'}, {out_dir / 'progress.png'}, {out_dir / 'items.csv'}", highlight=False)


@app.command()
def evolve(
    out_dir: Path = typer.Option(..., "--out", help="Run directory: run.json, images/, items.csv, checkpoint.pkl, "
                                                    "progress.png, archive.png."),
    space: str = typer.Option("category", help="category (one cell per label), va or vad (a grid over 1-9)."),
    cells: int = typer.Option(12, help="va / vad: cells per dimension over the 1-9 scale (at least 2)."),
    descriptor: Optional[str] = typer.Option(None, help="category: a second measure, 'brightness', so each "
                                                        "label holds several different elites."),
    bins: int = typer.Option(5, help="Bins of the descriptor."),
    encoding: str = typer.Option("cppn", help="cppn (a fixed-topology CPPN's weights), pixels (a low-res "
                                              "RGB grid, smoothly upsampled) or edit (retouching edits of "
                                              "--photo, as 'emosynth edit' makes them)."),
    photo: Optional[Path] = typer.Option(None, "--photo", help="edit: the photo whose edits are evolved."),
    grid: int = typer.Option(32, help="pixels: side of the low-resolution grid (over categories with CMA-MEGA, "
                                      "128 reaches higher probabilities: see the README)."),
    iterations: int = typer.Option(300, help="ask/tell iterations (each scores --batch images)."),
    batch: int = typer.Option(64, help="Images scored per iteration."),
    emitters: int = typer.Option(4, help="ribs emitters sharing the batch."),
    emitter: str = typer.Option("auto", help="es (CMA-ME: separable CMA-ES, improvement ranking), iso "
                                             "(Iso+LineDD), mega (CMA-MEGA: differentiable QD, each emitter "
                                             "climbs the predictor's gradients of the objective and measures; "
                                             "over categories one emitter per label) or auto (es for cppn, "
                                             "mega for pixels)."),
    sigma: Optional[float] = typer.Option(None, help="Mutation step in genome units (default: the encoding's: "
                                                     "cppn 0.5, pixels 0.06); mega: the initial step of the "
                                                     "gradient coefficients (default 1.0)."),
    lr: Optional[float] = typer.Option(None, help="mega: Adam learning rate of each emitter's solution point, "
                                                  "per gene (default: pixels 0.05, cppn 0.1)."),
    seed: int = typer.Option(0, help="Seed; the same seed gives the same archive."),
    model: Optional[str] = typer.Option(None, "--model", help="Judge: a saved model folder or a backbone name "
                                                             "(default: the packaged model)."),
    robust: bool = typer.Option(False, "--robust", help="Fitness: mean over --ensemble predictors of the "
                                                       "objective under random jitter/scale/rotation/colour."),
    ensemble: str = typer.Option("efficientnet-lite0,mobilenetv2", help="--robust: comma-separated predictors "
                                 "(backbone names, trained on OASIS + Emotion6 and cached, or model folders)."),
    transforms: int = typer.Option(2, help="--robust: random transforms per image and predictor."),
    judges: str = typer.Option("default", "--judges", help="The objective's judges: 'default' (the predictor "
                               "chosen by --model / --robust, as ever), 'consensus' (the network ensemble and the "
                               "Valdez-Mehrabian colour judge: an image is rewarded only for what all agree on) or "
                               "a comma-separated list; see 'emosynth judges'. va / vad only."),
    starts: str = typer.Option("spread", "--starts", help="pixels on a V-A plane (CMA-MEGA): where the emitters "
                               "start. spread: the corners of lightness x chroma; judges: the colours the "
                               "objective's own colour judges read at the plane's corners and edges (needs colour "
                               "judges on both valence and arousal, e.g. "
                               "ensemble,palmer-2013,valdez-mehrabian:arousal; see docs/results/synthesis.md)."),
    check_judges: Optional[str] = typer.Option(None, "--check-judges", help="Held-out judges that score the final "
                                               "elites (never in the objective): comma-separated, or 'none'; "
                                               "default lite2,ou. Written per judge as 'transfer' in run.json and "
                                               "as <judge>_valence / <judge>_arousal in items.csv."),
    check_backbone: Optional[str] = typer.Option(None, "--check-backbone", help="The earlier name of "
                                                 "--check-judges for one predictor (a backbone name or a model "
                                                 "folder)."),
    checkpoint_every: int = typer.Option(10, help="Write checkpoint.pkl every N iterations."),
    export_size: int = typer.Option(512, help="Side in pixels of the exported elite images."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its checkpoint."),
    workers: int = typer.Option(0, help="Score on N local worker processes (dask.distributed); same result."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Score on an existing Dask cluster, "
                                                                      "e.g. tcp://host:8786; same result."),
    data_root: Optional[Path] = typer.Option(None, help=DATA_ROOT_HELP + " Used to train --ensemble / "
                                                        "--check-backbone predictors and to count rated cells."),
    engine: str = typer.Option("auto", help="Scoring engine: auto (fast path), onnx, torch or eager."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or summary."),
):
    """Evolve images for emotions with MAP-Elites (ribs), judged by the emotion predictor.

    Each cell of the archive holds the best image found for its target: a category's
    probability, or the closest predicted (valence, arousal[, dominance]) to the cell's centre
    on the SAM 1-9 scale. Checkpoints every --checkpoint-every iterations; --resume continues.
    """
    from .synth import EvolveConfig
    from .synth import evolve as run_evolve

    cfg = EvolveConfig(space=space, cells=cells, descriptor=descriptor, bins=bins, encoding=encoding, grid=grid,
                       photo=str(photo) if photo else None,
                       iterations=iterations, batch=batch, emitters=emitters, emitter=emitter, sigma=sigma,
                       lr=lr, seed=seed, model=model,
                       robust=robust, ensemble=[e.strip() for e in ensemble.split(",") if e.strip()],
                       transforms=transforms, check_backbone=check_backbone, checkpoint_every=checkpoint_every,
                       export_size=export_size, engine=engine, judges=judges, check_judges=check_judges,
                       starts=starts)
    with _progress(iterations, f"evolving ({space}, {encoding})", quiet) as advance:
        meta = run_evolve(cfg, out_dir, resume=resume, workers=workers, scheduler_address=scheduler,
                          data_root=data_root, progress=advance, command=_command())
    if not quiet:
        _print_run(meta, out_dir)


@app.command()
def demo(
    out_dir: Path = typer.Option(Path("out/demo"), "--out", help="Where the two demo runs go."),
    seed: int = typer.Option(0, help="Seed of both runs."),
    iterations: Optional[int] = typer.Option(None, help="Iterations per run, at least 1 (default 20: about 1,300 "
                                                        "images)."),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
):
    """A few-minute tour: the sample photos' predicted emotions, then a short MAP-Elites run over
    the valence-arousal plane (CMA-MEGA on pixels: what fills the plane fastest) and one over the
    categories, with their mosaics, and the packaged generators' sweeps over the valence-arousal plane:
    the consensus-trained default beside the model-only one (sweeps.png), into out/demo/, and the
    gallery of them all in out/demo/gallery/."""
    from .report import build_gallery
    from .synth import DEMO_SWEEPS, demo_configs, run_demo, run_demo_sweeps

    demo_configs(seed, iterations)  # a bad --seed or --iterations stops here, before any output
    if not quiet:
        import inspect

        # predict's other options at their defaults (typer's OptionInfo holds each default)
        params = inspect.signature(predict).parameters
        defaults = {k: getattr(p.default, "default", p.default) for k, p in params.items()}
        predict(**{**defaults, "images": None, "model": None, "as_json": False, "engine": "auto", "quiet": True})

    results = run_demo(out_dir, seed, iterations,
                       progress_for=lambda name, total: _progress(total, f"evolving {name}", quiet),
                       command=_command())
    # The second synthesis method: the packaged generators over a 5 x 5 grid of the V-A plane, side by side.
    sweeps = run_demo_sweeps(out_dir, seed)
    site = build_gallery([out_dir / name for name in results] + [out_dir / name for name in sweeps],
                         out_dir / "gallery", "emosynth demo")
    if not quiet:
        for name, meta in results.items():
            _print_run(meta, out_dir / name)
        for name, _, title in DEMO_SWEEPS:
            out.print(f"{title}:", highlight=False)
            _print_generator_metrics(sweeps[name]["metrics"], out_dir / name)
        out.print(f"  {out_dir / 'sweeps.png'} (the two sweeps side by side)", highlight=False)
        out.print(f"gallery: {site / 'index.html'}", highlight=False)


# ---------------------------------------------------------------------------- gallery


@app.command()
def gallery(
    runs: List[Path] = typer.Argument(..., metavar="RUN...",
                                      help="Run directories (each with run.json, images/ and items.csv)."),
    title: str = typer.Option("emosynth gallery", "--title", help="The site's title, on every page."),
    out_dir: Path = typer.Option(Path("site"), "--out", help="Folder for the site (replaced if it holds an "
                                                             "earlier gallery; any other folder is refused)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or summary."),
):
    """Build a static exhibition site from run directories: an index of runs, each VA(D) run's images
    on the valence-arousal plane, each category run's elites in one panel per emotion, and a page per
    image. Plain HTML/CSS/JS: open OUT/index.html from disk or put OUT on any web server."""
    from .report import build_gallery, count_images

    with _progress(count_images(runs), "building gallery", quiet) as advance:
        site = build_gallery(runs, out_dir, title, progress=advance)
    if not quiet:
        out.print(f"{site / 'index.html'} ({len(runs)} run{'s' if len(runs) != 1 else ''})", highlight=False)


# ---------------------------------------------------------------------------- stimuli (balanced sets, exports)

stimuli_app = typer.Typer(help="Choose a balanced stimulus set (emosynth stimuli --from ... --design ... --out DIR) "
                               "and export it for jsPsych, PsychoPy or as CSV (emosynth stimuli export DIR ...).")
app.add_typer(stimuli_app, name="stimuli")


@stimuli_app.callback(invoke_without_command=True)
def stimuli_command(
    ctx: typer.Context,
    sources: Optional[List[Path]] = typer.Option(None, "--from", help="A run directory (its items.csv predictions) "
                                                 "or a folder of images (scored by the packaged predictor); "
                                                 "repeat."),
    design: Optional[str] = typer.Option(None, "--design", help="Cells: factors joined by ' x ', e.g. "
                                         "\"valence=2,5,8 x arousal=3,7\" or \"category=joy,fear,sadness\" "
                                         "(levels on the SAM 1-9 scale)."),
    per_cell: int = typer.Option(12, "--per-cell", help="Images per cell."),
    balance: str = typer.Option("luminance,contrast,colourfulness,slope", "--balance",
                                help="Features to balance, comma-separated: luminance, contrast (RMS), "
                                     "colourfulness, saturation, slope (spatial-frequency amplitude spectrum), "
                                     "edge_density, or any handcrafted feature by name."),
    tolerance: float = typer.Option(1.0, "--tolerance", help="How far (SAM points, each dimension) a candidate's "
                                                             "emotion may lie from its cell's level."),
    equalise: Optional[str] = typer.Option(None, "--equalise", help="After choosing, SHINE-style equalisation: "
                                           "histogram (luminance histograms) or spectrum (amplitude spectra); "
                                           "the packaged predictor then re-scores the images."),
    restarts: int = typer.Option(4, "--restarts", help="Random restarts of the swap search."),
    engine: str = typer.Option("auto", "--engine", help="How the packaged predictor runs where it scores images "
                                                        "(folders, --equalise): auto, onnx, torch or eager."),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="Stimulus folder to write (images/, stimuli.csv, "
                                                               "balance.md/.html, methods.md)."),
    seed: int = typer.Option(0, "--seed", help="Seed of ties, restarts and equalisation; same seed, same set."),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or summary."),
):
    """Choose --per-cell images for each cell of --design so that the cells differ in the intended emotion and
    not in low-level features: candidates within --tolerance of a cell's target, then a swap search minimising
    the largest standardised mean difference (SMD) between cells on the --balance features. Writes the images,
    stimuli.csv, a balance table (mean +- sd per cell, SMDs, ANOVA and Kruskal-Wallis; balance.md/.html) and
    methods.md, a methods paragraph with every number filled in."""
    if ctx.invoked_subcommand is not None:
        return
    if not sources and design is None and out_dir is None:
        out.print(ctx.get_help(), highlight=False)
        return
    missing = [f for f, v in (("--from", sources), ("--design", design), ("--out", out_dir)) if not v]
    if missing:
        raise EmosynthError(f"emosynth stimuli needs {', '.join(missing)} (see emosynth stimuli --help)")
    from .stimuli import StimuliConfig, make_stimuli

    cfg = StimuliConfig(sources=list(sources), design=design, per_cell=per_cell, balance=balance,
                        tolerance=tolerance, equalise=equalise, restarts=restarts, seed=seed, engine=engine)
    meta = make_stimuli(cfg, out_dir, overwrite=overwrite, command=_command())
    if not quiet:
        out.print(f"{out_dir}: {meta['images']} images in {len(meta['cells'])} cells from {meta['eligible']} "
                  f"eligible of {meta['candidates']} candidates", highlight=False)
        out.print("  max |SMD| " + ", ".join(f"{k} {v:.2f}" for k, v in meta["balance"].items())
                  + ("" if meta["smd_goal_reached"] else "  (above 0.2: the pool does not allow it)"),
                  highlight=False)
        eq = meta.get("equalise")
        if eq and eq["emotion_contrast_shrank"]:
            out.print(f"  {eq['method']} equalisation shrank the emotion contrast (see balance.md)", highlight=False)
        out.print(f"  {out_dir / 'balance.html'}, {out_dir / 'methods.md'}", highlight=False)


@stimuli_app.command("export")
def stimuli_export(
    folder: Path = typer.Argument(..., help="A stimulus folder written by emosynth stimuli."),
    fmt: str = typer.Option(..., "--format", help="jspsych (a study folder that runs from disk and saves CSV), "
                                                  "psychopy (conditions.csv for a Builder loop) or csv."),
    out_dir: Path = typer.Option(..., "--out", help="Folder to write the export to."),
    dominance: bool = typer.Option(False, "--dominance", help="jspsych: also rate dominance (1-9)."),
    title: Optional[str] = typer.Option(None, "--title", help="The study's name (default: the folder's name)."),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
):
    """Export a stimulus folder: a jsPsych 8.3.0 study (vendored, offline; a SAM rating per image, the ratings
    saved as CSV), a PsychoPy conditions file, or plain CSV; the images travel with it."""
    from .stimuli import export_stimuli

    main_file = export_stimuli(folder, fmt, out_dir, dominance=dominance, title=title, overwrite=overwrite)
    out.print(f"{main_file}", highlight=False)


# ---------------------------------------------------------------------------- study (human validation)

study_app = typer.Typer(no_args_is_help=True, help="The human validation study: people rate synthesised images on "
                                                   "the Self-Assessment Manikin (valence, arousal, dominance, 1-9).")
app.add_typer(study_app, name="study")
STUDY_DB_HELP = "Study database (SQLAlchemy URL): sqlite:///studies.db (default) or postgresql://user@host/db."


@study_app.command("create")
def study_create(
    name: str = typer.Option(..., "--name", help="The study's name (letters, digits, '.', '_', '-')."),
    runs: List[Path] = typer.Option(..., "--from", help="A run directory or a stimulus folder (emosynth stimuli) "
                                                        "to sample images from; repeat."),
    per_target: int = typer.Option(3, "--per-target", help="Images drawn from each (run, target) stratum "
                                                           "(with --content-matched: source photos)."),
    attention_checks: int = typer.Option(4, "--attention-checks", help="Attention checks per participant "
                                                                        "('choose the leftmost figure')."),
    db: str = typer.Option("sqlite:///studies.db", "--db", help=STUDY_DB_HELP),
    folder: Optional[Path] = typer.Option(None, "--folder", help="Where the study's own copy of its images goes "
                                                                 "(default: studies/NAME; must not exist)."),
    consent: Optional[Path] = typer.Option(None, "--consent", help="A text file with the consent page's text "
                                                                   "(paragraphs split by blank lines)."),
    completion_code: Optional[str] = typer.Option(None, "--completion-code", help="Shown on the thank-you page."),
    seed: int = typer.Option(0, "--seed", help="Seed of the sampling and of each participant's order."),
    platform: str = typer.Option("none", "--platform", help="Recruiting platform: prolific, mturk, sona or none. "
                                 "Decides the URL parameters recorded and the ID allowed one participation."),
    completion_url: Optional[str] = typer.Option(None, "--completion-url", help="http(s) address the thank-you "
                                                 "page sends people to; {PARAM} takes their URL parameter."),
    lists: int = typer.Option(1, "--lists", help="K Latin-square counterbalanced lists; participant n sees list "
                                                 "(n-1) mod K."),
    counterbalance_scale: bool = typer.Option(False, "--counterbalance-scale", help="Every second participant "
                                              "sees the SAM rows from 9 (left) to 1."),
    min_agreement: Optional[float] = typer.Option(None, "--min-agreement", help="Keep only images on which this "
                                                  "share (0-1) of the held-out judges' verdicts is on the "
                                                  "intended side of 5."),
    content_matched: bool = typer.Option(False, "--content-matched", help="Photo edits: sample source photos "
                                         "edited toward every condition, each shown in every one."),
):
    """Sample images from run directories or stimulus folders, stratified by target, copy them into the
    study's folder and record the study in the database."""
    from .errors import StudyError
    from .study import StudyConfig, create_study

    kw = {}
    if consent is not None:
        try:
            kw["consent_text"] = consent.read_text()
        except (OSError, UnicodeDecodeError) as e:
            raise StudyError(f"{consent}: cannot read the consent text ({e.__class__.__name__})") from None
    info = create_study(StudyConfig(name=name, runs=list(runs), per_target=per_target,
                                    attention_checks=attention_checks, db=db, folder=folder,
                                    completion_code=completion_code, seed=seed, platform=platform,
                                    completion_url=completion_url, lists=lists,
                                    counterbalance_scale=counterbalance_scale, min_agreement=min_agreement,
                                    content_matched=content_matched, **kw))
    out.print(f"study {info['name']}: {info['images']} images from {info['strata']} targets, "
              f"{info['practice']} practice, {info['attention_checks']} attention checks; images in {info['folder']}",
              highlight=False, soft_wrap=True)


@study_app.command("serve")
def study_serve(
    db: str = typer.Option("sqlite:///studies.db", "--db", help=STUDY_DB_HELP),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on (0.0.0.0 for a lab network)."),
    port: int = typer.Option(8000, "--port"),
    admin_token: Optional[str] = typer.Option(None, "--admin-token", envvar="EMOSYNTH_ADMIN_TOKEN",
                                              help="Admin token (default: a new random one, printed)."),
    upgrade: bool = typer.Option(False, "--upgrade", help="Upgrade a database of an older schema first "
                                                          "(back it up before)."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, max=64,
                                          help="Server processes sharing the port, each using at most one "
                                               "core. Default: 1 on SQLite (processes queue for the file), "
                                               "one per core (at most 4) on a database server."),
):
    """Serve the studies in the database: participant pages at /join/NAME, admin pages at /admin.
    Prints the admin token and each study's participant link. A database of a newer schema is refused;
    an older one is upgraded only with --upgrade."""
    from .study import serve

    serve(db, host, port, admin_token, announce=lambda line: out.print(line, highlight=False, soft_wrap=True),
          upgrade=upgrade, workers=workers)


@study_app.command("export")
def study_export(
    name: str = typer.Option(..., "--name"),
    out_file: Path = typer.Option(..., "--out", help="CSV to write: long format, one row per rated trial."),
    db: str = typer.Option("sqlite:///studies.db", "--db", help=STUDY_DB_HELP),
):
    """Export a study's ratings: one row per rated trial (participant number, trial kind, image, its target
    and predicted V/A/D, the three ratings 1-9, attention-check result)."""
    from .study import export_study

    n = export_study(db, name, out_file)
    out.print(f"{out_file}: {n} ratings", highlight=False)


@study_app.command("report")
def study_report(
    name: str = typer.Option(..., "--name"),
    out_dir: Path = typer.Option(..., "--out", help="Folder for report.md, report.html, CSVs and plots."),
    db: str = typer.Option("sqlite:///studies.db", "--db", help=STUDY_DB_HELP),
    max_fail_share: float = typer.Option(0.25, "--max-fail-share", help="Exclude participants who failed more "
                                                                        "than this share of their attention checks."),
):
    """Analyse a study: mean ratings ± CI per image and per target against the intended V/A/D (Pearson r,
    MAE, share on the intended side of 5), the model's predictions beside them, ICC(2,k) and
    Krippendorff's alpha, attention checks and exclusions, plots."""
    from .study import report_study

    a = report_study(db, name, out_dir, max_fail_share)
    for dim, m in a.metrics.items():
        out.print(f"{dim:9s} r intended-rated {m['r_intended_rated']:.2f}  MAE {m['mae_intended_rated']:.2f}  "
                  f"ICC(2,k) {m['icc2k']:.2f}  alpha {m['alpha_interval']:.2f}", highlight=False)
    out.print(f"{out_dir / 'report.html'}", highlight=False)


# ---------------------------------------------------------------------------- generator (conditional synthesis)

generator_app = typer.Typer(no_args_is_help=True, help="A conditional generator: noise + a target emotion -> an "
                                                       "image, trained through the frozen predictor.")
app.add_typer(generator_app, name="generator")


@generator_app.command("train")
def generator_train(
    out_dir: Path = typer.Option(..., "--out", help="Generator folder: generator.pt, model.json (the card), "
                                                    "checkpoint.pt, train.csv."),
    condition: str = typer.Option("va", help="va or vad (targets on the SAM 1-9 scale) or category."),
    steps: int = typer.Option(1000, help="Training steps (Adam); the default takes about 15 minutes on 2 cores."),
    batch: int = typer.Option(12, help="Images per step (even: each target is drawn with two noise vectors)."),
    lr: float = typer.Option(2e-3, help="Adam learning rate."),
    diversity: float = typer.Option(1.0, help="Weight of the mode-seeking term (different z, different images)."),
    train_size: int = typer.Option(128, help="Side in px the generator renders at while training (it is "
                                             "resolution-free: the same picture at any --size)."),
    seed: int = typer.Option(0, help="Seed; the same seed gives the same generator."),
    model: Optional[str] = typer.Option(None, "--model", help="The predictor to train through: a saved model "
                                                             "folder or a backbone name (default: the packaged one)."),
    judges: str = typer.Option("default", "--judges", help="The objective's judges: 'default' (the --model "
                               "predictor alone), 'consensus' (the packaged network under random views and the "
                               "Valdez-Mehrabian colour judge, soft minimum) or a comma-separated list "
                               "(emosynth judges)."),
    held_out: str = typer.Option("auto", "--held-out", help="Judges the finished generator is scored against and "
                                 "never trained on: 'auto' (lite2 and ou, less any in --judges), 'none', or a "
                                 "comma-separated list."),
    layout_diversity: float = typer.Option(1.0, help="Weight of the layout term: different z, different coarse "
                                                     "light-dark layout (not only different colours)."),
    warp: int = typer.Option(4, help="Noise-driven displacement waves of the coordinates (0: one shared layout, "
                                     "as format-1 generators)."),
    phases: bool = typer.Option(True, "--phases/--no-phases", help="Noise-driven phases of the Fourier features."),
    z_dim: int = typer.Option(32, help="Length of the noise vector z."),
    init: Optional[str] = typer.Option(None, "--init", help="Start from another generator's weights where names "
                                                            "and shapes match ('model-only', 'default', "
                                                            "'consensus-base', 'consensus-palmer' or a "
                                                            "folder)."),
    predictor_size: Optional[int] = typer.Option(None, help="Side in px the judges' networks see in training "
                                                            "(default: their input size)."),
    realism: Optional[str] = typer.Option(None, help="Add a discriminator that tells this data set's photographs "
                                                     "(emotion6, oasis) from generated images, given the condition; "
                                                     "off by default."),
    realism_weight: float = typer.Option(0.05, help="Weight of the discriminator's loss for the generator."),
    checkpoint_every: int = typer.Option(50, help="Write checkpoint.pt and train.csv every N steps."),
    resume: bool = typer.Option(False, "--resume", help="Continue the training in --out from its checkpoint."),
    data_root: Optional[Path] = typer.Option(None, help=DATA_ROOT_HELP + " Used to train a --model backbone."),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or summary."),
):
    """Train a conditional generator (a CPPN-style coordinate network modulated by noise and the target)
    so that the frozen predictor sees the target emotion in its images: squared error to the target
    V/A(/D) on 1-9, or cross-entropy to the target category, under random jitter/scale/rotation/flip;
    with --judges consensus, the soft minimum of every judge's squared error (an image gains only what all
    agree on). The card reports the targets against held-out judges (--held-out)."""
    from .synth import GeneratorConfig, train_generator

    cfg = GeneratorConfig(condition=condition, model=model, seed=seed, steps=steps, batch=batch, lr=lr,
                          diversity=diversity, train_size=train_size, checkpoint_every=checkpoint_every,
                          realism=realism, realism_weight=realism_weight, judges=judges, held_out=held_out,
                          layout_diversity=layout_diversity, warp=warp, phases=phases, z_dim=z_dim, init=init,
                          predictor_size=predictor_size)
    with _progress(steps, f"training generator ({condition})", quiet) as advance:
        done = [0]

        def progress(step, total):
            advance(step - done[0])
            done[0] = step

        gen = train_generator(cfg, out_dir, resume=resume, data_root=data_root, progress=progress,
                              command=_command(), overwrite=overwrite)
    if not quiet:
        _print_generator_metrics(gen.card_.get("metrics", {}), out_dir)


@generator_app.command("evaluate")
def generator_evaluate(
    generator: str = typer.Option(..., "--generator", help="A trained generator folder ('default': the packaged "
                                                           "one)."),
    check_backbone: str = typer.Option("efficientnet-lite2", help="An independently trained predictor (a backbone "
                                                                  "name or a model folder) for the transfer figures "
                                                                  "and the diversity features; 'none' to skip."),
    compare_run: Optional[Path] = typer.Option(None, help="A MAP-Elites run directory of the same space, "
                                                          "scored the same way."),
    per_target: int = typer.Option(8, help="Images per grid target."),
    grid: int = typer.Option(5, help="Targets per dimension (V-A generators)."),
    seed: int = typer.Option(1, help="Seed of the noise."),
    judges: str = typer.Option("ou,valdez-mehrabian", "--judges", help="Judges whose verdicts are reported as "
                               "r(target, judged) and MAE ('none' to skip); the card says which were in the "
                               "generator's objective (those figures are fits)."),
    data_root: Optional[Path] = typer.Option(None, help=DATA_ROOT_HELP),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="A new folder for evaluation.json and "
                                           "evaluation.csv; without it a generator you trained keeps them "
                                           "(model.json's \"evaluation\"), and a packaged one is only printed."),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
):
    """Score a trained generator over a fixed grid of targets: condition error (or emotion accuracy) under
    the predictor it was trained through and under an independent one, against shuffled conditions;
    within-target diversity against real images of that target; optionally the same for a MAP-Elites run.
    Stored in the generator's model.json ("evaluation") and evaluation.csv, or in --out; the generators
    packaged with emosynth are never rewritten."""
    from .synth import GeneratorEvalConfig
    from .synth import run_generator_evaluation as evaluate

    cfg = GeneratorEvalConfig(generator=str(generator),
                              check_backbone=None if check_backbone.lower() == "none" else check_backbone,
                              compare_run=str(compare_run) if compare_run else None, per_target=per_target,
                              grid=grid, seed=seed, data_root=str(data_root) if data_root else None,
                              judges=judges, out=str(out_dir) if out_dir else None)
    s = evaluate(cfg, progress=None if quiet else (lambda msg: out.print(msg, highlight=False)))
    if quiet:
        return
    for key, value in s.items():
        if isinstance(value, float):
            out.print(f"  {key.replace('_', ' '):32s} {value:.3f}", highlight=False)
    if s["written"]:
        out.print(f"  {', '.join(s['written'])}", highlight=False)
    else:
        out.print("  (a packaged generator: its card is not rewritten; --out DIR keeps these results)",
                  highlight=False)


def _print_generator_metrics(m: dict, where: Path):
    parts = [f"{k.replace('_', ' ')} {v:.2f}" for k, v in m.items() if isinstance(v, float)
             and ("mae" in k or "accuracy" in k or "_r_" in k)]
    out.print(f"{where}: " + ("; ".join(parts) or "no metrics"), highlight=False, soft_wrap=True)


@app.command()
def generate(
    out_dir: Path = typer.Option(..., "--out", help="Run directory: run.json, images/, items.csv, contact_sheet.png."),
    generator: str = typer.Option("default", "--generator", help="A trained generator folder, 'default': the "
                                                                   "packaged VA generator (trained under the "
                                                                   "consensus of judges, with a discriminator "
                                                                   "against photographs), 'model-only': the "
                                                                   "packaged one trained through the predictor "
                                                                   "alone, 'consensus-base': the default's start "
                                                                   "(the default until 2026-12-04), or "
                                                                   "'consensus-palmer': consensus-base "
                                                                   "trained on under the network and Palmer's "
                                                                   "colour judge (valence closer to people's "
                                                                   "colour codes, arousal less)."),
    valence: Optional[float] = typer.Option(None, help="Target valence, 1-9 (va/vad generators)."),
    arousal: Optional[float] = typer.Option(None, help="Target arousal, 1-9 (va/vad generators)."),
    dominance: Optional[float] = typer.Option(None, help="Target dominance, 1-9 (vad generators)."),
    emotion: Optional[str] = typer.Option(None, help="Target category (category generators), e.g. joy."),
    sweep: bool = typer.Option(False, "--sweep", help="A grid of targets over the generator's training range "
                                                      "(the V-A plane; every label for category generators)."),
    grid: int = typer.Option(5, help="--sweep: targets per dimension."),
    n: int = typer.Option(16, "--n", help="Images per target."),
    size: int = typer.Option(256, help="Side of the images in px (the generator is resolution-free)."),
    seed: int = typer.Option(0, help="Seed of the noise; the same seed gives the same images."),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
):
    """Generate images for a target emotion with a trained generator; the predictor's verdict on each
    image goes into items.csv beside its target. A target outside the range the generator was trained
    on (the packaged ones: valence 2-8, arousal 2.5-7) gets a one-line note on stderr and is listed in
    run.json's outside_training_range: the generator extrapolates there."""
    from .synth import GenerateConfig
    from .synth import generate as run_generate

    meta = run_generate(GenerateConfig(generator=str(generator), valence=valence, arousal=arousal,
                                       dominance=dominance, emotion=emotion, sweep=sweep, grid=grid, n=n, size=size,
                                       seed=seed), out_dir, command=_command(), overwrite=overwrite)
    for dim, o in meta.get("outside_training_range", {}).items():
        vals = ", ".join(f"{v:g}" for v in o["values"])
        err.print(f"note: {dim} {vals} is outside the {o['trained'][0]:g}-{o['trained'][1]:g} this generator was "
                  "trained on; it extrapolates there, and no held-out figure covers it", highlight=False,
                  markup=False, soft_wrap=True)
    if not quiet:
        _print_generator_metrics(meta["metrics"], out_dir)
        out.print(f"  {out_dir / 'contact_sheet.png'}, {out_dir / 'items.csv'}", highlight=False)


# ---------------------------------------------------------------------------- edit (photographs)


@app.command()
def edit(
    photos: List[Path] = typer.Argument(None, metavar="PHOTO...", help="Photos or folders of photos (searched "
                                                                      "recursively)."),
    out_dir: Path = typer.Option(..., "--out", help="Run directory: run.json, images/, recipes/, items.csv, "
                                                    "before_after.png."),
    valence: Optional[float] = typer.Option(None, help="Target valence, 1-9 (unset: the photo's own is kept)."),
    arousal: Optional[float] = typer.Option(None, help="Target arousal, 1-9 (unset: the photo's own is kept)."),
    dominance: Optional[float] = typer.Option(None, help="Target dominance, 1-9."),
    sweep: bool = typer.Option(False, "--sweep", help="A --grid x --grid valence-arousal lattice (2-8) of edits "
                                                      "of each photo."),
    grid: int = typer.Option(5, help="--sweep: targets per dimension."),
    recipe: Optional[Path] = typer.Option(None, "--recipe", help="Re-apply this saved recipe (a run's "
                                                                 "recipes/NAME.json) to the photos: no "
                                                                 "optimisation, the same pixels every time."),
    judges: str = typer.Option("consensus-palmer", "--judges", help="What the edit is optimised against: "
                               "'consensus-palmer' (the packaged network under random transforms and the Palmer "
                               "2013 colour judge must agree on valence; arousal is the network's), 'consensus' "
                               "(the network and the Valdez-Mehrabian colour judge, on valence and arousal), "
                               "'default' (the packaged network alone) or a comma-separated list (see "
                               "'emosynth judges')."),
    check_judges: str = typer.Option("default", "--check-judges", help="Held-out judges, reported in items.csv "
                                     "and run.json and never optimised against: 'default' (judges.HELD_OUT: "
                                     "lite2, ou), a comma-separated list, or 'none'."),
    steps: int = typer.Option(24, help="Adam steps per edit. Over 84 held-out photos, 24 moved the held-out "
                                       "Lite2 judge's valence by 1.62 points (toward 8 against toward 2) where 16 "
                                       "moved it 1.39, at 1.5 times the time (a 512 px photo 2.1 s against 1.4 s "
                                       "on a 2-core AMD EPYC); pass 16 when the wait matters more."),
    lr: float = typer.Option(0.3, help="Adam learning rate of the edit's genes."),
    start: str = typer.Option("prior", "--start", help="Where the genes start: 'prior' (the packaged warm start, "
                              "fitted on OASIS edits: how far the target lies from the photo's own prediction "
                              "picks a first edit) or 'neutral' (the unedited photo)."),
    judge_size: int = typer.Option(160, "--judge-size", help="Side in px the consensus' networks see while "
                                   "optimising (one view a step; 0: their own size, 224). The results are "
                                   "always judged at the networks' own size."),
    ssim_floor: float = typer.Option(0.8, "--ssim-floor", help="Content preservation: SSIM to the photo (grey, at "
                                                               "the working size) below this is penalised."),
    ssim_bound: float = typer.Option(0.6, "--ssim-bound", help="A hard bound on SSIM (at most --ssim-floor is "
                                     "used): an edit that ends below it is drawn back toward the photo until it "
                                     "reaches it (0: none)."),
    batch: int = typer.Option(16, help="Edits optimised together."),
    stop_tol: float = typer.Option(0.15, "--stop-tol", help="Early stop: an edit stops once every targeted "
                                   "dimension is within this many points of its target under every optimised "
                                   "judge, at SSIM >= --ssim-floor, two steps in a row (0: run every step)."),
    max_side: Optional[int] = typer.Option(None, "--max-side", help="Longest side of the output images in px "
                                           "(default: each photo's own; the edit is optimised on a 224 px square)."),
    seed: int = typer.Option(0, help="Seed of the transforms and the grain; the same photo and seed give the "
                                     "same edit."),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or summary."),
):
    """Edit photographs toward an emotion with bounded retouching operations (white balance, exposure,
    local light, vignette, tone curves, hue bands, saturation, clarity, grain), keeping what they show.

    Each edit's recipe (the values in readable units) is saved in recipes/ and summarised in items.csv
    beside the photo's predicted emotion before and after, the held-out judges' verdicts and SSIM.
    """
    from .synth import EditConfig, run_edit

    cfg = EditConfig(steps=steps, lr=lr, ssim_floor=ssim_floor, ssim_bound=ssim_bound, batch=batch,
                     stop_tol=stop_tol, max_side=max_side, seed=seed, judge_size=judge_size or None, start=start)
    target = {"valence": valence, "arousal": arousal, "dominance": dominance}
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=err, transient=True, disable=quiet) as bar:
        task = bar.add_task("editing", total=None)

        def progress(done, steps_total):
            bar.update(task, completed=done, total=steps_total)

        meta = run_edit(list(photos or []), out_dir, target=target, sweep=sweep, grid=grid, recipe=recipe,
                        judges=judges, check_judges=check_judges, config=cfg, overwrite=overwrite,
                        command=_command(), progress=progress)
    if not quiet:
        m = meta["metrics"]
        out.print(f"{out_dir}: {m['edits']} edit{'s' if m['edits'] != 1 else ''} of {m['photos']} photo"
                  f"{'s' if m['photos'] != 1 else ''}, mean SSIM {m['ssim_mean']:.2f}, {m['seconds']:.0f} s",
                  highlight=False)
        for name, d in (m.get("valence_direction") or {}).items():
            out.print(f"  held-out {name}: valence moves the target's way on {d['fraction_photos']:.0%} of "
                      f"{d['photos']} photos", highlight=False)
        out.print(f"  {out_dir / 'before_after.png'}, {out_dir / 'items.csv'}, {out_dir / 'recipes'}",
                  highlight=False)


if __name__ == "__main__":
    main()
