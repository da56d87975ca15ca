"""The emotion predictor: one multi-task model on frozen backbone features.

* a category head — softmax regression trained on the raters' distributions (cross-entropy,
  i.e. KL to the distribution), where a data set carries categories;
* a V/A/D head — ridge regression per dimension, on the SAM 1–9 scale.

Data sets with different labels train together: each head learns only from the rows that
carry its label. ``fit`` / ``predict`` / ``save`` / ``load`` follow scikit-learn; the fitted
state ends in ``_``. ``module()`` returns a torch module, differentiable with respect to the
input image, for synthesis and activation maximisation.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import io
import json
import shutil
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from ..config import ConfigError, check_int_at_least, check_positive, check_range, check_seed
from ..data import Dataset, combine
from ..emotions import DIMENSIONS, SAM_MAX, SAM_MIN, CategorySet
from ..errors import DataError, ModelError
from ..fsio import atomic_write_bytes, atomic_write_text, output_directory
from ..rundir import prediction_columns
from . import conformal as _conformal
from . import familiarity as _familiarity
from .features import FeatureConfig, FeatureExtractor, cache_root
from .heads import RIDGE_ALPHAS, SOFTMAX_L2, fit_ridge, fit_softmax, principal_axes, softmax

MODEL_FORMAT = 1
TAIL_FILE = "backbone_tail.pt"
#: the ownership kind of a saved model folder (``emosynth.fsio``)
MODEL_KIND = "model"
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent.parent / "default_model"


def _folded(module: EmotionModel, unfolded) -> EmotionModel:
    """``module`` (a private copy) with its backbones' BatchNorm folded into their convolutions in place, or
    ``unfolded()`` when folding does not keep the same V/A/D and logits (to 1e-3) on a random batch."""
    from .backbones import fold_batchnorm

    x = torch.rand(2, 3, module.input_size, module.input_size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        a = module(x)
        if not fold_batchnorm(module):
            return module
        b = module(x)
    same = all(torch.allclose(a[k], b[k], rtol=1e-3, atol=1e-3) for k in ("vad_raw", "logits"))
    return module if same else unfolded()


@dataclass
class PredictorConfig:
    """Configuration only (scikit-learn style): what to build, not what was learned.

    Attributes:
        backbone: A backbone name (``"a+b"``: several side by side).
        weights: The backbone's weights file; None: the packaged one.
        pooling: ``"avg"`` or ``"avgmax"``.
        flip: Average the features of each image and its mirror image.
        ridge_alphas: Ridge penalties the V/A/D heads choose from by inner cross-validation.
        softmax_l2: L2 penalties the category head chooses from by inner cross-validation.
        inner_folds: Inner cross-validation folds (at least 2).
        seed: Seed, 0 ≤ seed < 2**32.
        target_datasets: Which data sets teach each head, e.g. ``{"arousal": ["oasis"]}``.
        finetune: Fine-tune the backbone's last N blocks (0: frozen backbone).
        finetune_epochs: Epochs of fine-tuning (at least 1).
        components: Fit the heads on this many leading principal components (0: all features).
        coverage: Nominal coverage of the V/A/D prediction intervals, 0.5–0.995.
        interval_dataset: The training data set whose ratings the intervals cover (calibrated on that
            data set's own held-out scores); None: each image's is the data set a classifier assigns
            it to.
        readout: ``"lexicon"``: the V/A/D heads also weigh what the backbone's own ImageNet classifier
            sees, read through word norms (``emosynth.models.readout``); None: backbone features only.
        readout_lexicon: The Warriner et al. norms the readout reads (the CSV or its folder); None:
            ``$EMOSYNTH_DATA/lexicons``.
    """

    backbone: str = "efficientnet-lite0"
    weights: str | None = None
    pooling: str = "avg"
    flip: bool = False
    ridge_alphas: list[float] = field(default_factory=lambda: RIDGE_ALPHAS.tolist())
    softmax_l2: list[float] = field(default_factory=lambda: SOFTMAX_L2.tolist())
    inner_folds: int = 3
    seed: int = 0
    #: Which data sets teach each head, e.g. {"arousal": ["oasis"]}; a target not named here
    #: learns from every data set that carries it.
    target_datasets: dict[str, list[str]] = field(default_factory=dict)
    #: fine-tune the backbone's last N blocks (0: frozen backbone, the fast default)
    finetune: int = 0
    finetune_epochs: int = 6
    #: fit the heads on the leading principal components of the standardised training features
    #: (0: on all features). The fitted heads are mapped back, so a saved model is the same shape.
    components: int = 512
    #: the nominal coverage of the V/A/D prediction intervals (split-conformal; see ``fit_trust``)
    coverage: float = 0.9
    #: the training data set whose ratings the intervals cover (its own calibration scores); None: the
    #: data set a classifier on the image's features assigns it to (``set_interval_dataset``)
    interval_dataset: str | None = None
    #: "lexicon": the V/A/D heads also weigh the expected V/A/D of the ImageNet class the backbone's own
    #: classifier sees (word norms of the class names); None: backbone features only
    readout: str | None = None
    #: the word norms the readout reads (Warriner et al. CSV or its folder); None: $EMOSYNTH_DATA/lexicons
    readout_lexicon: str | None = None

    def validate(self):
        """Check every setting before any feature is computed (``ConfigError`` naming the parameter)."""
        check_seed("seed", self.seed)
        check_int_at_least("finetune", self.finetune, 0, "(0: a frozen backbone)")
        check_int_at_least("finetune_epochs", self.finetune_epochs, 1)
        check_int_at_least("components", self.components, 0, "(0: all features)")
        check_int_at_least("inner_folds", self.inner_folds, 2)
        check_range("coverage", self.coverage, 0.5, 0.995)
        for name in ("ridge_alphas", "softmax_l2"):
            values = getattr(self, name)
            if not values:
                raise ConfigError(name, "must list at least one value")
            for v in values:
                check_positive(name, v)
        if not isinstance(self.target_datasets, dict):
            raise ConfigError("target_datasets", f"must map a target to data set names, got {self.target_datasets!r}")
        if self.readout is not None:
            from .readout import READOUTS, readout_columns

            if self.readout not in READOUTS:
                raise ConfigError("readout", f"must be one of {', '.join(READOUTS)}, got {self.readout!r}")
            if self.finetune:
                raise ConfigError("readout", "reads the frozen backbone's ImageNet classifier; it cannot be "
                                             "combined with {finetune}")
            readout_columns(self.backbone, self.pooling)  # a backbone with a classifier to read

    @property
    def features(self) -> FeatureConfig:
        """The frozen backbone's features (a fitted predictor adds its fine-tuned tail)."""
        return FeatureConfig(self.backbone, self.weights, self.pooling, self.flip, finetune_blocks=self.finetune)


#: A head is fitted on at least this many labelled rows (its inner cross-validation needs them);
#: fewer stops training with one line naming the head, rather than saving a head that predicts
#: its prior (5.00 on the 1-9 scale) as if it had learnt something.
MIN_ROWS = 10


def _check_enough_rows(has: dict[str, np.ndarray]):
    for target, m in has.items():
        n = int(m.sum())
        if 0 < n < MIN_ROWS:
            raise DataError(f"the {target} head has {n} labelled training row{'s' if n != 1 else ''}; it needs at "
                            f"least {MIN_ROWS}: label more images, or leave {target} out of the data")


#: The readout's standardised columns enter the ridge scaled by this, so their penalty is 1/READOUT_WEIGHT²
#: of a feature's: three numbers beside hundreds of components keep a weight the data can set.
READOUT_WEIGHT = 10.0


def _coverage_by_dataset(inside: np.ndarray, names: np.ndarray) -> dict:
    """The share of rows inside their interval, over all and per data set."""
    out = {"all": float(inside.mean())}
    for name in dict.fromkeys(names):
        out[str(name)] = float(inside[names == name].mean())
    return out


class EmotionHeads(nn.Module):
    """Standardised features → category logits and V/A/D (SAM 1–9, clamped to the scale).

    Args:
        dim: The feature dimension.
        n_categories: The number of categories (0: none; one dummy logit is kept).
        readout: The lexicon readout (``emosynth.models.readout.LexiconReadout``), or None.
    """

    def __init__(self, dim: int, n_categories: int, readout: nn.Module | None = None):
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("scale", torch.ones(dim))
        self.category = nn.Linear(dim, max(n_categories, 1))
        self.vad = nn.Linear(dim, 3)
        # the lexicon readout (features -> its V/A/D on 1-9) and its weight in each of V/A/D
        self.readout = readout
        self.readout_vad = nn.Linear(3, 3, bias=False) if readout is not None else None

    def forward(self, f: torch.Tensor) -> dict[str, torch.Tensor]:
        """Apply the heads.

        Args:
            f: (N, dim) backbone features.

        Returns:
            ``logits`` and ``probabilities`` (N, K), ``vad`` (N, 3) clamped to SAM 1–9, ``vad_raw``
            (N, 3) unclamped, ``z`` (N, dim) standardised features.
        """
        z = (f - self.mean) / self.scale
        logits = self.category(z)
        vad = self.vad(z)
        if self.readout is not None:
            vad = vad + self.readout_vad(self.readout(f))
        # vad_raw: unclamped, for losses (the clamp to 1–9 would stop gradients at the ends of the scale)
        return {"logits": logits, "probabilities": torch.softmax(logits, dim=-1),
                "vad": vad.clamp(SAM_MIN, SAM_MAX), "vad_raw": vad, "z": z}


class EmotionModel(nn.Module):
    """Images in [0, 1] (N, 3, H, W), any size → {"logits", "probabilities", "vad" (1–9), "vad_raw",
    "features" (pooled backbone features), "z" (standardised features)}; differentiable.

    The images are resized (antialiased bilinear) to ``input_size`` first; each backbone then resizes
    to its own size where that differs.

    Args:
        features: The feature network: images → pooled features (N, dim).
        heads: The emotion heads on those features.
        categories: The category set the heads' logits follow.
        input_size: The side (px) images are resized to first.
    """

    def __init__(self, features: nn.Module, heads: EmotionHeads, categories: CategorySet, input_size: int):
        super().__init__()
        self.features, self.heads, self.categories = features, heads, categories
        self.input_size = input_size

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Judge images, differentiably.

        Args:
            images: Float tensor (N, 3, H, W) in [0, 1], any size.

        Returns:
            As ``EmotionHeads.forward``, plus ``features`` (N, dim).
        """
        from ..transforms import resize

        x = resize(images.contiguous(memory_format=torch.channels_last), self.input_size)
        f = self.features(x)
        return {**self.heads(f), "features": f}


class Predictor:
    """Predict emotion (category distribution + V, A, D on SAM 1–9) from images.

    Args:
        config: What to build; None: a ``PredictorConfig`` from ``kwargs``.
        **kwargs: ``PredictorConfig`` fields, used when ``config`` is None.

    Raises:
        ConfigError: A setting of the configuration is out of range.
    """

    def __init__(self, config: PredictorConfig | None = None, **kwargs):
        self.config = config or PredictorConfig(**kwargs)
        self.config.validate()
        self._extractor: FeatureExtractor | None = None
        self.tail_path_: Path | None = None

    # ------------------------------------------------------------------ features

    def extractor(self, engine: str = "auto") -> FeatureExtractor:
        """Features as this predictor sees them (with its fine-tuned tail, once fitted).

        Args:
            engine: The inference engine (``FeatureExtractor``'s ``engine``).

        Returns:
            The feature extractor, reused while the engine and features stay the same.
        """
        fc = self.config.features
        if self.tail_path_ is not None:
            fc = FeatureConfig(fc.backbone, fc.weights, fc.pooling, fc.flip, str(self.tail_path_), fc.finetune_blocks)
        if self._extractor is None or self._extractor.requested_engine != engine or self._extractor.config != fc:
            self._extractor = FeatureExtractor(fc, engine=engine)
        return self._extractor

    def inputs(self, data: Dataset, progress=None) -> np.ndarray:
        """What the heads' fitting starts from: backbone features, or — when fine-tuning — the frozen
        part's activations (the tail is trained on them). Computed once, reused across CV folds.

        Args:
            data: The training data.
            progress: A progress callback, or None.

        Returns:
            (n, F) array, one row per image of ``data``.
        """
        if self.config.finetune:
            from .finetune import frozen_activations

            return frozen_activations(FeatureExtractor(self.config.features), data.paths, data.where, progress)
        return FeatureExtractor(self.config.features).extract(data.paths, data.where, progress=progress)

    # ------------------------------------------------------------------ fitting

    def fit(self, datasets: Dataset | Sequence[Dataset], progress=None) -> "Predictor":
        """Fit the heads (and the fine-tuned tail, when configured) on one or more data sets.

        Args:
            datasets: A data set or several (combined as :func:`emosynth.data.combine` does).
            progress: A progress callback for the feature extraction, or None.

        Returns:
            ``self``, fitted.

        Raises:
            DataError: The data sets cannot be combined, carry no labels, or ``target_datasets`` names
                a target or data set that is not there.
        """
        data, _ = combine([datasets] if isinstance(datasets, Dataset) else list(datasets))
        return self.fit_inputs(data, self.inputs(data, progress))

    def fit_inputs(self, data: Dataset, inputs: np.ndarray, progress=None) -> "Predictor":
        """Fit from ``inputs()``: fine-tune the tail first when configured, then the heads.

        Args:
            data: The training data.
            inputs: ``inputs(data)``.
            progress: A progress callback for fine-tuning, or None.

        Returns:
            ``self``, fitted.
        """
        if not self.config.finetune:
            return self.fit_features(data, inputs)
        from .finetune import FinetuneConfig, split_trunk, tail_features, tail_state, train_tail

        self._check_target_datasets(data)
        base = FeatureExtractor(self.config.features).net
        _, tail = split_trunk(base, self.config.finetune)
        rows = {t: self._rows(data, t) for t in (*DIMENSIONS, "category")}
        train_tail(tail, inputs, data, rows, self.config.pooling,
                   FinetuneConfig(self.config.finetune, self.config.finetune_epochs, seed=self.config.seed),
                   progress=progress)
        self._tail = tail
        state = tail_state(base, tail)
        buf = io.BytesIO()
        torch.save(state, buf)
        digest = hashlib.sha1(buf.getvalue()).hexdigest()
        path = cache_root() / "tails" / f"{digest}.pt"
        if not path.is_file():
            atomic_write_bytes(path, buf.getvalue())
        self.tail_path_ = path
        self._extractor = None
        return self.fit_features(data, tail_features(tail, inputs, self.config.pooling, self.config.flip))

    def predict_inputs(self, inputs: np.ndarray) -> dict[str, np.ndarray]:
        """``predict_features`` from ``inputs()`` (activations pass through the fitted tail).

        Args:
            inputs: ``inputs()`` of the images to predict.

        Returns:
            As ``predict_features``.
        """
        if self.config.finetune:
            from .finetune import tail_features

            return self.predict_features(tail_features(self._tail, inputs, self.config.pooling, self.config.flip))
        return self.predict_features(inputs)

    def _check_target_datasets(self, data: Dataset):
        for target, names in self.config.target_datasets.items():
            if target not in (*DIMENSIONS, "category"):
                raise DataError(f"unknown target {target!r} in target_datasets; use valence, arousal, dominance "
                                "or category")
            missing = set(names) - set(data.dataset_of)
            if missing:
                raise DataError(f"{target} is to be learnt from {', '.join(sorted(missing))}, which is not among "
                                f"the data sets given ({', '.join(sorted(set(data.dataset_of)))})")

    def fit_features(self, data: Dataset, features: np.ndarray) -> "Predictor":
        """Fit the heads on precomputed backbone features of ``data``'s rows.

        Args:
            data: The training data.
            features: (n, F) backbone features, one row per image of ``data``.

        Returns:
            ``self``, fitted.

        Raises:
            DataError: ``data`` carries no labels, or ``target_datasets`` names a target or data set
                that is not there.
        """
        from threadpoolctl import threadpool_limits

        # One BLAS thread: the products and decompositions here are small, and multithreaded
        # LAPACK on a busy machine (CV folds in parallel, a browser, a second job) runs 10-40x
        # slower than one thread. Parallelism belongs one level up, across folds and backbones.
        with threadpool_limits(1):
            return self._fit_features(data, features)

    def _fit_features(self, data: Dataset, features: np.ndarray) -> "Predictor":
        c = self.config
        self.__dict__.pop("_modules", None)  # torch views of the previous fit
        X = np.asarray(features, dtype=np.float64)
        self.feature_mean_ = X.mean(0)
        self.feature_scale_ = X.std(0) + 1e-6
        Z = (X - self.feature_mean_) / self.feature_scale_
        self._check_target_datasets(data)
        for key in ("familiarity_calibration_", "conformal_", "calibration_", "trust_", "raw_cat_", "domains_"):
            self.__dict__.pop(key, None)  # what fit_trust calibrated belongs to the previous heads
        basis = None  # (D, k) orthonormal; heads fitted on Z @ basis map back through it
        if 0 < c.components < min(Z.shape):
            basis = principal_axes(Z, c.components, c.seed)
        self.familiarity_model_ = _familiarity.fit(X, seed=c.seed)
        if basis is not None:
            Z = Z @ basis
        ZR = Z  # what the V/A/D heads see: Z, and with a readout its standardised V/A/D beside it
        for key in ("readout_", "readout_classes_", "readout_norms_"):  # read again from this config's norms
            self.__dict__.pop(key, None)
        if c.readout:
            R = self._readout_of(X)
            self.readout_mean_, self.readout_scale_ = R.mean(0), R.std(0) + 1e-6
            ZR = np.hstack([Z, READOUT_WEIGHT * (R - self.readout_mean_) / self.readout_scale_])
        has = {t: self._rows(data, t) for t in (*DIMENSIONS, "category")}
        self.targets_ = [t for t, m in has.items() if m.any()]
        if not self.targets_:
            raise DataError(f"data set {data.name!r} carries no labels to learn from")
        self.vad_coef_ = np.zeros((3, Z.shape[1]))
        self.vad_intercept_ = np.full(3, 5.0)
        self.vad_readout_coef_ = np.zeros((3, 3)) if c.readout else None
        self.alphas_ = {}
        _check_enough_rows(has)
        # Dimensions labelled on the same rows (V and A nearly always) share one decomposition.
        masks: dict[bytes, list[int]] = {}
        for j, dim in enumerate(DIMENSIONS):
            m = has[dim]
            if m.any():
                masks.setdefault(np.packbits(m).tobytes(), []).append(j)
        for dims in masks.values():
            m = has[DIMENSIONS[dims[0]]]
            coef, b, alpha = fit_ridge(ZR[m], data.vad[np.ix_(m, dims)], data.groups[m],
                                       np.array(c.ridge_alphas), c.inner_folds, c.seed)
            k = Z.shape[1]
            for t, j in enumerate(dims):
                self.vad_coef_[j], self.vad_intercept_[j] = coef[:k, t], b[t]
                if c.readout:  # back to the readout's own units (V/A/D on 1-9)
                    w = coef[k:, t] * READOUT_WEIGHT / self.readout_scale_
                    self.vad_readout_coef_[j] = w
                    self.vad_intercept_[j] -= w @ self.readout_mean_
                self.alphas_[DIMENSIONS[j]] = float(alpha[t])
        self.categories_ = data.categories
        m = has["category"]
        if m.any():
            W, b, l2 = fit_softmax(Z[m], data.probabilities[m], data.groups[m], np.array(c.softmax_l2),
                                   c.inner_folds, c.seed)
            self.cat_coef_, self.cat_intercept_, self.l2_ = W.T, b, l2
        else:
            self.categories_ = None
            self.cat_coef_ = np.zeros((1, Z.shape[1]))
            self.cat_intercept_ = np.zeros(1)
            self.l2_ = None
        if basis is not None:
            self.vad_coef_ = self.vad_coef_ @ basis.T
            self.cat_coef_ = self.cat_coef_ @ basis.T
        self.sources_ = dict(data.sources)
        self.n_train_ = {t: int(has[t].sum()) for t in self.targets_}
        self.trained_on_ = {t: sorted(set(data.dataset_of[has[t]])) for t in self.targets_}
        return self

    def _rows(self, data: Dataset, target: str) -> np.ndarray:
        """Rows that teach ``target``: those carrying it, from the data sets chosen for it."""
        m = data.has(target)
        chosen = self.config.target_datasets.get(target)
        if chosen:
            m &= np.isin(data.dataset_of, chosen)
        return m

    def _readout_parts(self) -> tuple:
        """The lexicon readout's ``(offset, W, b, classes, norms)``: classifier and norms loaded once."""
        from . import readout as _readout

        if "readout_" not in self.__dict__:
            name, offset = _readout.readout_columns(self.config.backbone, self.config.pooling)
            W, b = _readout.classifier(name, self.config.weights if "+" not in self.config.backbone else None)
            if getattr(self, "readout_norms_", None) is None:
                self.readout_classes_, self.readout_norms_ = _readout.cached_class_norms(self.config.readout_lexicon)
            self.readout_ = (offset, W, b)
        return (*self.readout_, self.readout_classes_, self.readout_norms_)

    def _readout_of(self, features: np.ndarray) -> np.ndarray:
        """The lexicon readout's V/A/D (n, 3) of backbone features."""
        from .readout import lexicon_readout

        return lexicon_readout(features, *self._readout_parts())

    def _vad_of(self, features: np.ndarray, Z: np.ndarray) -> np.ndarray:
        """V/A/D on 1–9 from features and their standardised form (with the readout's share)."""
        vad = Z @ self.vad_coef_.T + self.vad_intercept_
        if getattr(self, "vad_readout_coef_", None) is not None:
            vad = vad + self._readout_of(features) @ self.vad_readout_coef_.T
        return np.clip(vad, SAM_MIN, SAM_MAX)

    def _check_fitted(self):
        if not hasattr(self, "vad_coef_"):
            raise ModelError("this predictor is not fitted: call fit() or Predictor.load(DIR)")

    # ------------------------------------------------------------------ prediction

    def predict_features(self, features: np.ndarray) -> dict[str, np.ndarray]:
        """Predictions from backbone features.

        Always ``"vad"`` (n, 3) on 1–9 and, with a category head, ``"probabilities"`` (n, k) (temperature-
        calibrated when the model was, see ``fit_trust``). A model fitted with ``fit_trust`` adds:

        * ``"interval_valence"``, ``"interval_arousal"``, ``"interval_dominance"``: (n, 2) [lo, hi] on 1–9,
          split-conformal intervals of nominal coverage ``config.coverage`` (for the dimensions it learnt);
        * ``"familiarity"`` (n,): in (0, 1], higher = more like the training images — the share of held-out
          training images at least as far from the training data in the heads' feature space;
        * ``"unfamiliar"`` (n,) bool: farther than 99 % of those held-out images.

        Args:
            features: (n, F) backbone features.

        Returns:
            The predictions, numpy arrays keyed as above.

        Raises:
            ModelError: The predictor is not fitted.
        """
        self._check_fitted()
        Z = (np.asarray(features, np.float64) - self.feature_mean_) / self.feature_scale_
        vad = self._vad_of(features, Z)
        out = {"vad": vad}
        if self.categories_ is not None:
            out["probabilities"] = softmax(Z @ self.cat_coef_.T + self.cat_intercept_)
        if getattr(self, "familiarity_calibration_", None) is not None:
            d = _familiarity.distance(self.familiarity_model_, features)
            out["familiarity"] = _familiarity.familiarity(self.familiarity_calibration_, d)
            out["unfamiliar"] = d > self.unfamiliar_threshold_
            if getattr(self, "conformal_", None):
                P = _familiarity.project(self.familiarity_model_, features)
                declared = getattr(self.config, "interval_dataset", None)
                if declared is not None:  # every image calibrated on that data set's own scores
                    domain = np.full(len(P), self.domains_["names"].index(declared))
                else:
                    domain = _conformal.domain_of(self.domains_, P)
                for dim, cm in self.conformal_.items():
                    j = DIMENSIONS.index(dim)
                    sigma = _conformal.sigma_of(P, d, cm["coef"], cm["intercept"], cm["low"], cm["high"])
                    q = _conformal.half_width_factor(cm["declared"] if declared is not None else cm["scores"],
                                                     domain, self.config.coverage)
                    out[f"interval_{dim}"] = _conformal.intervals(vad[:, j], sigma, q)
        return out

    def raw_features(self, features: np.ndarray) -> dict[str, np.ndarray]:
        """What ``fit_trust`` calibrates: {"vad", "logits" (None without a category head), "distance"
        (the familiarity model's uncalibrated d(x))} from backbone features.

        Args:
            features: (n, F) backbone features.

        Returns:
            ``vad`` (n, 3) on SAM 1–9, ``logits``, ``distance`` and ``P`` (the familiarity model's
            projection); the last three None where the model lacks them.
        """
        self._check_fitted()
        Z = (np.asarray(features, np.float64) - self.feature_mean_) / self.feature_scale_
        fm = getattr(self, "familiarity_model_", None)
        return {"vad": self._vad_of(features, Z),
                "logits": Z @ self.cat_coef_.T + self.cat_intercept_ if self.categories_ is not None else None,
                "distance": _familiarity.distance(fm, features) if fm is not None else None,
                "P": _familiarity.project(fm, features) if fm is not None else None}

    def raw_inputs(self, inputs: np.ndarray) -> dict[str, np.ndarray]:
        """``raw_features`` from ``inputs()`` (through the fine-tuned tail when there is one).

        Args:
            inputs: ``inputs()`` of the images.

        Returns:
            As ``raw_features``.
        """
        return self.raw_features(self._features_of(inputs))

    def _features_of(self, inputs: np.ndarray) -> np.ndarray:
        if self.config.finetune:
            from .finetune import tail_features

            return tail_features(self._tail, inputs, self.config.pooling, self.config.flip)
        return inputs

    @property
    def has_trust(self) -> bool:
        """Whether this model carries intervals, familiarity and a calibrated category head."""
        return getattr(self, "familiarity_calibration_", None) is not None

    def set_coverage(self, coverage: float) -> "Predictor":
        """Intervals of another nominal coverage (0.5–0.995) from the same calibration scores.

        Args:
            coverage: The nominal coverage, 0.5–0.995.

        Returns:
            ``self``.

        Raises:
            ConfigError: ``coverage`` is out of range.
        """
        check_range("coverage", coverage, 0.5, 0.995)
        self.config.coverage = float(coverage)
        return self

    @property
    def interval_datasets(self) -> list[str]:
        """The training data sets an interval can be declared to cover (``set_interval_dataset``)."""
        cms = getattr(self, "conformal_", None) or {}
        if not cms or not all("declared" in cm for cm in cms.values()):
            return []
        return list(self.domains_["names"])

    def set_interval_dataset(self, name: str | None) -> "Predictor":
        """Intervals that cover the ratings of one training data set: each is calibrated on that data
        set's own held-out scores, not on those of the data set a classifier assigns the image to. The
        data sets' errors differ in how their ratings were made (e.g. dominance from theme words or
        category words), which an image does not show (``trust.held_out_coverage_declared``).

        Args:
            name: One of ``interval_datasets``; None: the classifier's data set for each image.

        Returns:
            ``self``.

        Raises:
            ConfigError: The model has no per-data-set scores, or ``name`` is not one of its data sets.
        """
        if name is not None:
            names = self.interval_datasets
            if not names:
                raise ConfigError("interval_dataset", "this model has no per-data-set interval scores: train it "
                                                      "again with this version to declare a data set")
            if name not in names:
                raise ConfigError("interval_dataset", f"must be one of {', '.join(names)}, got {name!r}")
        self.config.interval_dataset = name
        return self

    # ------------------------------------------------------------------ trust: intervals, familiarity, calibration

    def fit_trust(self, data: Dataset, inputs: np.ndarray, folds: int = 5, oof: dict | None = None,
                  progress=None) -> "Predictor":
        """Calibrate what tells a user how far to trust a prediction, on held-out grouped folds of the
        training data (a fitted predictor, ``data`` and ``inputs`` as given to ``fit_inputs``):

        * split-conformal V/A/D intervals (``emosynth.models.conformal``): out-of-fold residuals, each
          from a model fitted without the image's fold, so a theme's near-duplicates never calibrate
          each other;
        * the familiarity score and the ``unfamiliar`` threshold (99th percentile of held-out
          training images, ``emosynth.models.familiarity``);
        * temperature scaling of the category head (``emosynth.models.calibration``), folded into its
          weights, with the expected calibration error before and after.

        ``oof``: ``emosynth.models.oof.out_of_fold``'s result for these rows, when already computed (the
        same folds as the cross-validation, so training does each fold once).

        Args:
            data: The training data, as given to ``fit_inputs``.
            inputs: ``inputs(data)``, as given to ``fit_inputs``.
            folds: Grouped folds for the held-out predictions.
            oof: Out-of-fold results for these rows, or None to compute them.
            progress: A progress callback, or None.

        Returns:
            ``self``, calibrated.

        Raises:
            ModelError: The predictor is not fitted, or was saved without its feature-space summary.
        """
        from . import calibration as _calibration
        from .oof import out_of_fold

        self._check_fitted()
        if not hasattr(self, "familiarity_model_"):
            raise ModelError("this model was saved without its feature-space summary (an earlier version): "
                             "train it again to calibrate intervals and familiarity")
        c = self.config
        if oof is None:
            oof = out_of_fold(lambda: Predictor(c), data, inputs, folds, c.seed, progress=progress)
        fold = oof["fold"]
        raw = self.raw_inputs(inputs)
        self.familiarity_calibration_ = np.sort(oof["distance"])
        self.unfamiliar_threshold_ = _familiarity.threshold(self.familiarity_calibration_)
        P = raw["P"]
        self.domains_ = _conformal.fit_domains(P, data.dataset_of)
        domain = _conformal.domain_of(self.domains_, P)
        nd = len(self.domains_["names"])
        self.conformal_ = {}
        coverage, declared = {}, {}
        own = np.array([self.domains_["names"].index(n) for n in data.dataset_of])  # each row's own data set
        for j, dim in enumerate(DIMENSIONS):
            m = data.has(dim)
            if dim not in self.targets_ or m.sum() < 20:
                continue
            residual = data.vad[m, j] - oof["vad"][m, j]
            # "scores": grouped by the data set a classifier assigns each row to (the default);
            # "declared": by the data set each row comes from (``set_interval_dataset``)
            groupings = {"scores": domain[m], "declared": own[m]}
            self.conformal_[dim] = _conformal.calibrate(P[m], oof["distance"][m], residual, fold[m], groupings, nd)
            inside = _conformal.held_out_coverage(P[m], oof["distance"][m], residual, fold[m], groupings, nd,
                                                  c.coverage)
            coverage[dim] = _coverage_by_dataset(inside["scores"], data.dataset_of[m])
            declared[dim] = _coverage_by_dataset(inside["declared"], data.dataset_of[m])
        self.calibration_ = None
        if self.categories_ is not None and oof.get("logits") is not None:
            m = data.has("category")
            if m.sum() >= 20:
                if not hasattr(self, "raw_cat_"):
                    self.raw_cat_ = (self.cat_coef_.copy(), self.cat_intercept_.copy())
                self.calibration_ = _calibration.calibrate(oof["logits"][m], data.probabilities[m], fold[m],
                                                           self.labels)
                T = self.calibration_["temperature"]
                self.cat_coef_, self.cat_intercept_ = self.raw_cat_[0] / T, self.raw_cat_[1] / T
                self.__dict__.pop("_modules", None)
        self.trust_ = {
            "folds": int(len(np.unique(fold))), "seed": c.seed,
            "protocol": "out-of-fold predictions on grouped folds of the training data (OASIS by theme, BASS by "
                        "concept), each fold scored by a model fitted on the others",
            "unfamiliar_quantile": _familiarity.UNFAMILIAR_QUANTILE,
            "unfamiliar_threshold": self.unfamiliar_threshold_,
            "familiarity_components": int(self.familiarity_model_["basis"].shape[1]),
            "domains": self.domains_["names"],
            "domain_accuracy": float((np.array(self.domains_["names"])[domain] == data.dataset_of).mean()),
            "held_out_coverage": coverage,
            "held_out_coverage_declared": declared,
        }
        return self

    def predict(self, paths: Sequence[str | Path], engine: str = "auto", progress=None) -> list[dict]:
        """One record per image: path, category, probabilities, valence, arousal, dominance (1–9).

        Args:
            paths: Image files.
            engine: The inference engine.
            progress: A progress callback, or None.

        Returns:
            One JSON-ready dict per image (see ``records``); V/A/D on SAM 1–9, None where not learnt.

        Raises:
            ModelError: The predictor is not fitted.
        """
        self._check_fitted()
        paths = [Path(p) for p in paths]
        feats = self.extractor(engine).extract(paths, progress=progress)
        return self.records(paths, self.predict_features(feats))

    def predict_arrays(self, images: np.ndarray, engine: str = "auto") -> dict[str, np.ndarray]:
        """Predictions for uint8 images (N, S, S, 3) at the backbone's input size (the fast path).

        Args:
            images: uint8 array (N, S, S, 3), S = ``input_size``.
            engine: The inference engine.

        Returns:
            As ``predict_features``.

        Raises:
            ModelError: The predictor is not fitted.
        """
        self._check_fitted()
        return self.predict_features(self.extractor(engine).from_arrays(images))

    def records(self, paths, pred: dict) -> list[dict]:
        """Turn predictions into one JSON-ready record per image, as ``predict`` returns them.

        Args:
            paths: The images' paths, in the order of ``pred``'s rows.
            pred: Predictions as ``predict_features`` returns them.

        Returns:
            Per image: ``path``, ``category`` and ``probabilities`` (with a category head), ``valence``,
            ``arousal``, ``dominance`` (SAM 1–9; None where not learnt) and, for a model with trust,
            ``interval``, ``familiarity`` and ``unfamiliar``.
        """
        out = []
        for i, p in enumerate(paths):
            # the items.csv columns (rundir.prediction_columns), in predict's JSON shape: probabilities nested;
            # a dimension the model never learnt is null, not the scale's midpoint
            cols = prediction_columns(self.labels, pred["vad"][i],
                                      pred["probabilities"][i] if self.categories_ is not None else None,
                                      self.targets_)
            rec: dict = {"path": str(p)}
            if "category" in cols:
                rec["category"] = cols["category"]
                rec["probabilities"] = {c: cols[f"p_{c}"] for c in self.labels}
            rec.update({d: cols[d] for d in DIMENSIONS})
            if "familiarity" in pred:
                # the interval of a dimension the model never learnt is null, as its value is
                rec["interval"] = {d: ([float(pred[f"interval_{d}"][i, 0]), float(pred[f"interval_{d}"][i, 1])]
                                       if f"interval_{d}" in pred and rec[d] is not None else None)
                                   for d in DIMENSIONS}
                rec["familiarity"] = float(pred["familiarity"][i])
                rec["unfamiliar"] = bool(pred["unfamiliar"][i])
            out.append(rec)
        return out

    # ------------------------------------------------------------------ torch module

    @property
    def labels(self) -> list[str]:
        """The category head's labels; [] when the model has none."""
        return list(self.categories_.names) if getattr(self, "categories_", None) else []

    @property
    def input_size(self) -> int:
        """The side (px, square) the backbone(s) see; images of other sizes are resized to it."""
        return self.extractor().input_size

    def predict_tensor(self, images: torch.Tensor, engine: str = "auto") -> dict[str, np.ndarray]:
        """The fast path for float images (N, 3, H, W) in [0, 1] of any size: resized to ``input_size``,
        quantised to uint8 as ``predict_arrays`` expects.

        Args:
            images: Float tensor (N, 3, H, W) in [0, 1].
            engine: The inference engine.

        Returns:
            ``{"vad": (N, 3) on SAM 1–9, "probabilities": (N, K)}`` numpy arrays (as ``predict_features``).
        """
        from ..transforms import resize, to_uint8

        return self.predict_arrays(to_uint8(resize(images, self.input_size)), engine=engine)

    def module(self, flip: bool = True, size: int | None = None, backbone_size: int | None = None,
               fold_batchnorm: bool = False) -> EmotionModel:
        """A differentiable torch module (a private frozen copy, channels_last): images in [0, 1] of any
        size → logits, probabilities, V/A/D (clamped and raw), features, z (see ``EmotionModel``).

        ``flip``: as the fast path, average each image's and its mirror image's features where the model
        does (its config's ``flip``); False: one view, for optimising under random flips, where averaging
        both views would double the cost for little. ``size``: the side images are resized to before the
        backbones (default ``input_size``); each backbone then resizes to its own input size, unless
        ``backbone_size`` says at what side the backbones run (cheaper, and the heads, fitted on features
        at the backbones' own sizes, then read features of another scale: for optimising, not for verdicts).
        ``fold_batchnorm``: fold each backbone's BatchNorm layers into its convolutions
        (``backbones.fold_batchnorm``), checked against the unfolded copy on a random batch: the same
        function to float rounding (not bit for bit), a cheaper forward and backward pass.

        Args:
            flip: Average each image's and its mirror image's features where the model does.
            size: The side (px) images are resized to before the backbones; None: ``input_size``.
            backbone_size: The side (px) the backbones run at; None: each backbone's own input size.
            fold_batchnorm: Fold the backbones' BatchNorm layers into their convolutions.

        Returns:
            The module (cached per ``flip``, ``size`` and ``backbone_size``).

        Raises:
            ModelError: The predictor is not fitted.
        """
        import copy

        from .backbones import FeatureNet

        self._check_fitted()
        key = (flip, size, backbone_size, fold_batchnorm)
        cache = self.__dict__.setdefault("_modules", {})
        if key in cache:
            return cache[key]
        fnet = copy.deepcopy(self.extractor().net)  # the extractor's own net feeds its ONNX export: leave it
        for m in fnet.modules():
            if isinstance(m, FeatureNet):
                m.flip = m.flip and flip
                m.run_size = backbone_size
        readout = None
        if getattr(self, "vad_readout_coef_", None) is not None:
            from .readout import LexiconReadout

            readout = LexiconReadout(*self._readout_parts())
        heads = EmotionHeads(len(self.feature_mean_), len(self.categories_) if self.categories_ else 1, readout)
        with torch.no_grad():
            if readout is not None:
                heads.readout_vad.weight.copy_(torch.from_numpy(self.vad_readout_coef_).float())
            heads.mean.copy_(torch.from_numpy(self.feature_mean_).float())
            heads.scale.copy_(torch.from_numpy(self.feature_scale_).float())
            heads.category.weight.copy_(torch.from_numpy(self.cat_coef_).float())
            heads.category.bias.copy_(torch.from_numpy(self.cat_intercept_).float())
            heads.vad.weight.copy_(torch.from_numpy(self.vad_coef_).float())
            heads.vad.bias.copy_(torch.from_numpy(self.vad_intercept_).float())
        module = EmotionModel(fnet, heads, self.categories_, size or self.input_size)
        for p in module.parameters():
            p.requires_grad_(False)
        module = module.to(memory_format=torch.channels_last).eval()
        if fold_batchnorm:
            module = _folded(module, lambda: self.module(flip, size, backbone_size))
        cache[key] = module
        return module

    # ------------------------------------------------------------------ persistence

    def save(self, directory: str | Path, card: dict | None = None, overwrite: bool = False) -> Path:
        """Write ``heads.npz`` and the model card ``model.json`` to ``directory`` atomically.

        ``directory`` must be new or empty, or (with ``overwrite``) a saved model (``emosynth.fsio``'s
        ownership rule); a failed save leaves what was there as it was.

        Args:
            directory: The model folder.
            card: Entries added to ``model.json`` (e.g. the data sets, a purpose).
            overwrite: Replace a saved model in ``directory``.

        Returns:
            ``directory`` as a ``Path``.

        Raises:
            ModelError: The predictor is not fitted.
            OutputError: ``directory`` may not or cannot be written.
        """
        self._check_fitted()
        directory = Path(directory)
        with output_directory(directory, MODEL_KIND, overwrite) as tmp:
            arrays = dict(feature_mean=self.feature_mean_, feature_scale=self.feature_scale_,
                          vad_coef=self.vad_coef_, vad_intercept=self.vad_intercept_,
                          cat_coef=self.cat_coef_, cat_intercept=self.cat_intercept_)
            if getattr(self, "vad_readout_coef_", None) is not None:
                arrays.update(readout_coef=self.vad_readout_coef_, readout_classes=self.readout_classes_,
                              readout_norms=self.readout_norms_)
            if self.has_trust:
                fm = self.familiarity_model_
                arrays.update(fam_mean=fm["mean"], fam_basis=fm["basis"], fam_points=fm["points"],
                              fam_resid=fm["resid"], fam_var=fm["var"], fam_calibration=self.familiarity_calibration_,
                              fam_threshold=np.array(self.unfamiliar_threshold_))
                arrays.update(domain_coef=self.domains_["coef"], domain_intercept=self.domains_["intercept"])
                for dim, cm in self.conformal_.items():
                    arrays.update({f"conf_{dim}_coef": cm["coef"],
                                   f"conf_{dim}_bounds": np.array([cm["intercept"], cm["low"], cm["high"]])})
                    arrays.update({f"conf_{dim}_scores_{g}": sc for g, sc in enumerate(cm["scores"])})
                    if "declared" in cm:
                        arrays.update({f"conf_{dim}_declared_{g}": sc for g, sc in enumerate(cm["declared"])})
            np.savez(tmp / "heads.npz", **arrays)
            meta = {
                "kind": MODEL_KIND,
                "format": MODEL_FORMAT,
                "config": {k: v for k, v in self.config.__dict__.items()},
                "categories": self.labels or None,
                "targets": self.targets_,
                "label_sources_combined": self.sources_,
                "n_train": self.n_train_,
                "trained_on": self.trained_on_,
                "regularisation": {"ridge_alpha": self.alphas_, "softmax_l2": self.l2_},
                "scale": "SAM 1-9 (valence: unpleasant-pleasant, arousal: calm-excited, "
                         "dominance: controlled-in control)",
                "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            }
            if self.has_trust:
                meta["trust"] = {**self.trust_, "coverage": self.config.coverage,
                                 "intervals": sorted(self.conformal_),
                                 "calibration": self.calibration_}
            meta.update(card or {})
            if self.tail_path_ is not None:
                shutil.copyfile(self.tail_path_, tmp / TAIL_FILE)
            atomic_write_text(tmp / "model.json", json.dumps(meta, indent=2) + "\n")
        return directory

    @classmethod
    def load(cls, directory: str | Path | None = None) -> "Predictor":
        """Load a saved model; None loads the default model that ships with the package.

        Args:
            directory: A saved model folder, or None for the packaged model.

        Returns:
            The fitted predictor.

        Raises:
            ModelError: The folder lacks ``model.json`` or ``heads.npz``, or they are malformed.
        """
        directory = Path(directory) if directory else DEFAULT_MODEL_DIR
        card, heads = directory / "model.json", directory / "heads.npz"
        if not card.is_file() or not heads.is_file():
            raise ModelError(f"{directory}: not a saved emosynth model (needs model.json and heads.npz)")
        part = card.name
        try:
            meta = json.loads(card.read_text())
            config = PredictorConfig(**meta["config"])
            part = heads.name
            arrays = np.load(heads)
            self = cls(config)
            self.feature_mean_ = arrays["feature_mean"]
            self.feature_scale_ = arrays["feature_scale"]
            self.vad_coef_ = arrays["vad_coef"]
            self.vad_intercept_ = arrays["vad_intercept"]
            self.cat_coef_ = arrays["cat_coef"]
            self.cat_intercept_ = arrays["cat_intercept"]
            if config.readout:
                self.vad_readout_coef_ = arrays["readout_coef"]
                self.readout_classes_, self.readout_norms_ = arrays["readout_classes"], arrays["readout_norms"]
            if "fam_basis" in arrays.files:
                self.familiarity_model_ = {k: arrays[f"fam_{k}"] for k in ("mean", "basis", "points", "resid", "var")}
                self.familiarity_calibration_ = arrays["fam_calibration"]
                self.unfamiliar_threshold_ = float(arrays["fam_threshold"])
                trust = meta.get("trust") or {}
                names = list(trust["domains"])
                self.domains_ = {"names": names, "coef": arrays["domain_coef"],
                                 "intercept": arrays["domain_intercept"]}
                self.conformal_ = {}
                for dim in DIMENSIONS:
                    if f"conf_{dim}_coef" in arrays.files:
                        b, lo, hi = arrays[f"conf_{dim}_bounds"].tolist()
                        self.conformal_[dim] = {"coef": arrays[f"conf_{dim}_coef"], "intercept": b, "low": lo,
                                                "high": hi,
                                                "scores": [arrays[f"conf_{dim}_scores_{g}"] for g in range(len(names))]}
                        if f"conf_{dim}_declared_0" in arrays.files:
                            self.conformal_[dim]["declared"] = [arrays[f"conf_{dim}_declared_{g}"]
                                                                for g in range(len(names))]
                self.trust_ = {k: v for k, v in trust.items() if k not in ("coverage", "intervals", "calibration")}
                self.calibration_ = trust.get("calibration")
                if self.calibration_:  # the head as fitted, before its temperature was folded in
                    T = float(self.calibration_["temperature"])
                    self.raw_cat_ = (self.cat_coef_ * T, self.cat_intercept_ * T)
        except (ValueError, KeyError, TypeError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as err:
            # a truncated heads.npz is a BadZipFile or zlib error: one line, not a traceback
            raise ModelError(f"{directory}: malformed model ({part}: {type(err).__name__}: {str(err)[:120]}); "
                             "train or copy it again") from None
        if config.finetune:
            if not (directory / TAIL_FILE).is_file():
                raise ModelError(f"{directory}: fine-tuned model without its {TAIL_FILE}")
            self.tail_path_ = directory / TAIL_FILE
        cats = meta.get("categories")
        self.categories_ = CategorySet(tuple(cats)) if cats else None
        self.n_train_ = meta.get("n_train", {})
        # A head saved from fewer than MIN_ROWS rows (by earlier versions) only predicts its prior:
        # it is not a prediction, so the model does not offer that target.
        self.targets_ = [t for t in meta.get("targets", []) if self.n_train_.get(t, MIN_ROWS) >= MIN_ROWS]
        if self.categories_ is not None and self.n_train_.get("category", MIN_ROWS) < MIN_ROWS:
            self.categories_ = None
        self.sources_ = meta.get("label_sources_combined", {})
        self.trained_on_ = meta.get("trained_on", {})
        reg = meta.get("regularisation", {})
        self.alphas_, self.l2_ = reg.get("ridge_alpha", {}), reg.get("softmax_l2")
        self.card_ = meta
        return self
