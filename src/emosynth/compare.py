"""The comparison study: backbones × representations of emotion, on the same grouped folds.

For each backbone one predictor is fitted per outer fold (frozen features → PCA → ridge V/A/D +
softmax category head, as ``emosynth train`` does). Its outputs are then read as three
representations, each scored directly and through the others:

* ``category`` — the category head: accuracy, macro-F1 and KL on data sets with categories;
  mapped to V/A/D through each category's mean V/A/D in the *training* fold (the probability-
  weighted centroid), scored against rated V/A/D wherever a data set has them.
* ``va`` — the V and A ridge heads: r, MAE, CCC; mapped to a category by the nearest training-fold
  centroid in the VA plane.
* ``vad`` — V, A and D (D is lexicon-derived on OASIS and Emotion6): as ``va`` plus D, and the
  nearest centroid in VAD space.

The ridge heads are separate per dimension (each with its own regularisation), so V and A of the
``va`` and ``vad`` rows are the same numbers; what D adds shows in its own metrics and in the
nearest-centroid categories. Beside the models: the constant predictor (training mean / class
prior) on the same folds, and the noise ceiling where the data give raters' SD and N.

A backbone entry ``NAME@lexicon`` is NAME with the lexicon readout beside its features
(``PredictorConfig.readout``): the same features, the same folds, a paired test against the rest.

Everything is a function of (data, backbones, folds, seed): the same seed gives the same table.
Backbone features come from the feature cache; head fits run in parallel processes, each on one
BLAS thread.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd

from .config import ConfigError, check_finite, check_int_at_least
from .data import Dataset, combine, grouped_folds, load_datasets
from .emotions import DIMENSIONS
from .evaluate import category_metrics, regression_metrics
from .stats import category_centroids, dimensions_from_categories, mean_ci, nearest_centroid, paired_test

DEFAULT_BACKBONES = ("efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2", "mobilenetv2", "handcrafted")
REPRESENTATIONS = ("category", "va", "vad")
CONSTANT, CEILING = "constant predictor", "noise ceiling"
HIGHER_IS_BETTER = {"r": True, "ccc": True, "accuracy": True, "macro_f1": True, "mae": False, "kl": False}
#: The headline table: (data set, target, metric) columns.
HEADLINE = (("oasis", "valence", "r"), ("oasis", "arousal", "r"), ("emotion6", "valence", "r"),
            ("emotion6", "arousal", "r"), ("emotion6", "category", "accuracy"), ("emotion6", "category", "kl"))


def _packaged(name: str):
    """A setting of the packaged model's recipe (its model.json), the comparison's default protocol."""
    from .models.registry import packaged_config

    return getattr(packaged_config(), name)


@dataclass
class CompareConfig:
    """What to compare and on which protocol (defaults: the packaged model's recipe, and its backbones as the
    first row, beside each single backbone)."""

    datasets: list[str] = field(default_factory=lambda: ["oasis", "emotion6"])
    backbones: list[str] = field(default_factory=lambda: list(dict.fromkeys([_packaged("backbone"),
                                                                              *DEFAULT_BACKBONES])))
    folds: int = 5
    seed: int = 0
    pooling: str = field(default_factory=lambda: _packaged("pooling"))
    flip: bool = field(default_factory=lambda: _packaged("flip"))
    #: e.g. {"arousal": ["oasis"]}: which data sets teach a head (see PredictorConfig)
    target_datasets: dict[str, list[str]] = field(default_factory=lambda: dict(_packaged("target_datasets")))
    components: int = field(default_factory=lambda: _packaged("components"))
    #: processes fitting heads (0: one per core)
    jobs: int = 0
    level: float = 0.95
    #: the word norms ``NAME@lexicon`` entries read (Warriner et al. CSV or its folder); None: $EMOSYNTH_DATA/lexicons
    readout_lexicon: str | None = None

    def validate(self):
        """Check every setting before any data set is read (``ConfigError`` naming the parameter)."""
        if not self.backbones or len(set(self.backbones)) != len(self.backbones):
            raise ConfigError("backbones", f"must be one or more distinct backbone names, got {self.backbones!r}")
        if not self.datasets:
            raise ConfigError("datasets", "must name at least one data set")
        check_int_at_least("folds", self.folds, 2)
        check_int_at_least("jobs", self.jobs, 0, "(0: one per core)")
        if not 0 < check_finite("level", self.level) < 1:
            raise ConfigError("level", f"must lie between 0 and 1, got {self.level!r}")
        self.predictor_config(self.backbones[0]).validate()  # seed, components
        for entry in self.backbones:
            if "@" in entry:
                self.predictor_config(entry).validate()  # its readout

    def predictor_config(self, backbone: str):
        """The predictor one backbone entry fits (``NAME@lexicon``: NAME with the lexicon readout)."""
        from .models.predictor import PredictorConfig

        name, _, readout = backbone.partition("@")
        return PredictorConfig(backbone=name, pooling=self.pooling, flip=self.flip, seed=self.seed,
                               target_datasets=dict(self.target_datasets), components=self.components,
                               readout=readout.strip() or None, readout_lexicon=self.readout_lexicon)


@dataclass
class CompareResult:
    config: CompareConfig
    results: pd.DataFrame  # long: backbone, representation, via, dataset, fold, target, metric, value
    summary: pd.DataFrame  # per configuration × metric: mean, ci, n, best, diff_vs_best, p_vs_best
    data: Dataset
    origin: np.ndarray
    dataset_names: list[str]
    fold_of: np.ndarray  # outer fold of each row (as test)
    oof: dict  # backbone → {"vad": (n, 3), "probabilities": (n, K)} out-of-fold predictions
    centroids: np.ndarray  # (K, 3) rated category centroids over all rows with categories
    ceilings: dict
    timings: dict
    label_sources: dict


# ---------------------------------------------------------------------------- fitting


def _fit_fold(pcfg, train: Dataset, x_train: np.ndarray, x_test: np.ndarray) -> tuple[dict, float]:
    """One outer fold: fit a predictor on the training rows, predict the test rows (worker process).
    Returns the predictions and the CPU seconds spent."""
    from .models.predictor import Predictor

    c0 = time.process_time()
    pred = Predictor(pcfg).fit_features(train, x_train).predict_features(x_test)
    return pred, time.process_time() - c0


def _training_centroids(train: Dataset) -> np.ndarray | None:
    """Each category's mean V/A/D over the training rows that carry categories and all three."""
    m = train.has("category") & np.all([train.has(d) for d in DIMENSIONS], axis=0)
    if m.sum() < 10:
        return None
    return category_centroids(train.probabilities[m], train.vad[m])


def _score(rep: str, test: Dataset, pred: dict, centroids: np.ndarray | None):
    """(target, metric, via, value) for representation ``rep`` on ``test``."""
    out = []
    has_cat = test.has("category")
    if rep == "category":
        if "probabilities" not in pred:
            return out
        if has_cat.sum() > 2:
            for k, v in category_metrics(test.probabilities[has_cat], pred["probabilities"][has_cat]).items():
                out.append(("category", k, "direct", v))
        if centroids is not None:
            implied = dimensions_from_categories(pred["probabilities"], centroids)
            for j, dim in enumerate(DIMENSIONS):
                m = test.has(dim)
                if m.sum() > 2:
                    for k, v in regression_metrics(test.vad[m, j], implied[m, j]).items():
                        out.append((dim, k, "category centroids", v))
        return out
    dims = 2 if rep == "va" else 3
    for j, dim in enumerate(DIMENSIONS[:dims]):
        m = test.has(dim)
        if m.sum() > 2:
            for k, v in regression_metrics(test.vad[m, j], pred["vad"][m, j]).items():
                out.append((dim, k, "direct", v))
    if centroids is not None and has_cat.sum() > 2:
        from sklearn.metrics import f1_score

        t = test.probabilities[has_cat].argmax(1)
        p = nearest_centroid(pred["vad"][has_cat, :dims], centroids[:, :dims])
        out.append(("category", "accuracy", "nearest centroid", float((t == p).mean())))
        out.append(("category", "macro_f1", "nearest centroid",
                    float(f1_score(t, p, average="macro", labels=np.unique(t), zero_division=0))))
    return out


def _constant_rows(train: Dataset, test: Dataset) -> list:
    """The image-blind predictor: training means for V/A/D, the training class prior for categories."""
    out = []
    for j, dim in enumerate(DIMENSIONS):
        m, mt = test.has(dim), train.has(dim)
        if m.sum() > 2 and mt.any():
            mean = np.nanmean(train.vad[mt, j])
            out.append((dim, "mae", "direct", float(np.abs(test.vad[m, j] - mean).mean())))
    m, mt = test.has("category"), train.has("category")
    if m.sum() > 2 and mt.any():
        prior = np.tile(train.probabilities[mt].mean(0), (int(m.sum()), 1))
        for k, v in category_metrics(test.probabilities[m], prior).items():
            if k != "macro_f1":
                out.append(("category", k, "direct", v))
    return out


# Over 80 lines: one protocol read top to bottom (load → features → folds → fits → summary); its parts share the folds.
def run_compare(config: CompareConfig | None = None, data_root=None, progress=None,
                datasets: list[Dataset] | None = None) -> CompareResult:
    """Run the study. ``progress(stage, done, total)`` reports feature extraction and fitting.
    ``datasets`` (already loaded, e.g. subsets) replaces loading ``config.datasets``."""
    from .evaluate import noise_ceilings
    from .models.features import FeatureExtractor
    from .models.predictor import Predictor

    cfg = config or CompareConfig()
    cfg.validate()
    t0, c0 = time.perf_counter(), time.process_time()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    sets = list(datasets) if datasets is not None else load_datasets(cfg.datasets, data_root)
    data, origin = combine(sets)
    folds = list(grouped_folds(data, cfg.folds, cfg.seed, origin=origin))
    fold_of = np.empty(len(data), int)
    for k, (_, te) in enumerate(folds):
        fold_of[te] = k

    # Features, one backbone at a time (each extraction already uses every core).
    feats, computed = {}, 0
    for i, bb in enumerate(cfg.backbones):
        pcfg = cfg.predictor_config(bb)
        ex = FeatureExtractor(pcfg.features)  # raises a clear error for an unknown backbone
        computed += ex.missing(data.paths)
        done = [0]

        def step(k, i=i, done=done):
            done[0] += k
            if progress:
                progress("features", i * len(data) + done[0], len(cfg.backbones) * len(data))

        feats[bb] = Predictor(pcfg).inputs(data, step)
    t_features, c_features = time.perf_counter() - t0, time.process_time() - c0

    # Head fits: backbone × fold, in parallel processes.
    tasks = [(bb, k) for bb in cfg.backbones for k in range(len(folds))]
    jobs = cfg.jobs or os.cpu_count() or 1
    preds: dict = {}
    cpu: dict = {}

    def args(bb, k):
        tr, te = folds[k]
        return cfg.predictor_config(bb), data.subset(tr), feats[bb][tr], feats[bb][te]

    t1 = time.perf_counter()
    if jobs == 1:
        for n, (bb, k) in enumerate(tasks):
            preds[bb, k], cpu[bb, k] = _fit_fold(*args(bb, k))
            if progress:
                progress("fitting", n + 1, len(tasks))
    else:
        with ProcessPoolExecutor(max_workers=min(jobs, len(tasks)), mp_context=get_context("spawn")) as pool:
            futures = {pool.submit(_fit_fold, *args(bb, k)): (bb, k) for bb, k in tasks}
            for n, fut in enumerate(futures):
                preds[futures[fut]], cpu[futures[fut]] = fut.result()
                if progress:
                    progress("fitting", n + 1, len(tasks))
    t_fit = time.perf_counter() - t1

    # Scores per backbone × representation × data set × fold.
    rows = []
    n_cat = len(data.categories) if data.categories is not None else 0
    oof = {bb: {"vad": np.full((len(data), 3), np.nan), "probabilities": np.full((len(data), n_cat), np.nan)}
           for bb in cfg.backbones}
    for k, (tr, te) in enumerate(folds):
        train, test = data.subset(tr), data.subset(te)
        centroids = _training_centroids(train)
        for i, d in enumerate(sets):
            m = origin[te] == i
            sub = test.subset(m)
            for target, metric, via, value in _constant_rows(train, sub):
                rows.append((CONSTANT, "none", via, d.name, k, target, metric, value))
            for bb in cfg.backbones:
                p = {key: v[m] for key, v in preds[bb, k].items()}
                for rep in REPRESENTATIONS:
                    for target, metric, via, value in _score(rep, sub, p, centroids):
                        rows.append((bb, rep, via, d.name, k, target, metric, value))
        for bb in cfg.backbones:
            for key, v in preds[bb, k].items():
                oof[bb][key][te] = v
    ceilings = noise_ceilings(sets)
    for name, dims in ceilings.items():
        for dim, v in dims.items():
            rows.append((CEILING, "none", "raters", name, -1, dim, "r", v["r"]))
    results = pd.DataFrame(rows, columns=["backbone", "representation", "via", "dataset", "fold", "target",
                                          "metric", "value"])
    rated = data.has("category") & np.all([data.has(d) for d in DIMENSIONS], axis=0)
    centroids = (category_centroids(data.probabilities[rated], data.vad[rated]) if rated.sum() >= 10
                 else np.full((max(n_cat, 1), 3), np.nan))
    timings = {"features_s": t_features, "fit_s": t_fit, "total_s": time.perf_counter() - t0,
               "images_computed": int(computed), "images": len(data) * len(cfg.backbones),
               "fits": len(tasks), "jobs": jobs, "cpus": os.cpu_count(),
               # CPU seconds (feature extraction's include its worker threads): with the wall times and
               # the load average they tell a busy machine's figure from a quiet one's.
               "features_cpu_s": c_features, "fit_cpu_s": float(sum(cpu.values())), "load_average": load}
    return CompareResult(cfg, results, summarise(results, cfg.level), data, origin, [d.name for d in sets],
                         fold_of, oof, centroids, ceilings, timings, {d.name: d.sources for d in sets})


# ---------------------------------------------------------------------------- statistics


def summarise(results: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Mean ± CI over folds per configuration and metric; the best model configuration per
    (data set, target, metric) and a paired t-test of every other configuration against it."""
    keys = ["backbone", "representation", "via", "dataset", "target", "metric"]
    rows = []
    for key, g in results.groupby(keys, sort=False):
        g = g.sort_values("fold")
        mean, ci = mean_ci(g["value"].to_numpy(), level)
        rows.append((*key, mean, ci, len(g), g["value"].to_numpy()))
    s = pd.DataFrame(rows, columns=[*keys, "mean", "ci", "n", "_values"])
    s["best"] = False
    s["diff_vs_best"] = np.nan
    s["p_vs_best"] = np.nan
    models = ~s["backbone"].isin([CONSTANT, CEILING])
    for (ds, target, metric), g in s[models].groupby(["dataset", "target", "metric"], sort=False):
        higher = HIGHER_IS_BETTER.get(metric, True)
        best = g["mean"].idxmax() if higher else g["mean"].idxmin()
        s.loc[best, "best"] = True
        b = s.loc[best, "_values"]
        for i in g.index:
            if i == best:
                continue
            v = s.loc[i, "_values"]
            if len(v) == len(b) and len(v) > 1:
                diff, p = paired_test(v, b)
                s.loc[i, "diff_vs_best"], s.loc[i, "p_vs_best"] = diff, p
    return s.drop(columns="_values")


def best_configuration(summary: pd.DataFrame, dataset: str, target: str, metric: str, via: str = "direct"):
    """The (backbone, representation) with the best mean for one metric, reached ``via`` one path."""
    s = summary[(summary.dataset == dataset) & (summary.target == target) & (summary.metric == metric)
                & (summary.via == via) & ~summary.backbone.isin([CONSTANT, CEILING])]
    if s.empty:
        return None
    row = s.loc[s["mean"].idxmax() if HIGHER_IS_BETTER.get(metric, True) else s["mean"].idxmin()]
    return row["backbone"], row["representation"]


# ---------------------------------------------------------------------------- output


def record_timing(out_dir: Path, timings: dict) -> list[dict]:
    """Append this run's timing to ``out_dir/timings.json``; returns the history (oldest first)."""
    path = Path(out_dir) / "timings.json"
    history = []
    if path.is_file():
        try:
            history = json.loads(path.read_text())
        except ValueError:
            history = []
    history.append(dict(timings, date=time.strftime("%Y-%m-%d %H:%M:%S")))
    return history


def config_dict(config: CompareConfig) -> dict:
    return asdict(config)
