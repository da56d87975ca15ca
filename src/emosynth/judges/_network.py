"""Network judges: a trained emosynth predictor, and an ensemble of them under random transforms."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..emotions import DIMENSIONS
from ._base import Judge, JudgeError


def _transforms():
    from .. import transforms

    return transforms


def _module(predictor, flip: bool):
    """The predictor's frozen differentiable module (``Predictor.module(flip=...)``)."""
    if "flip" in inspect.signature(predictor.module).parameters:
        return predictor.module(flip=flip)
    # older Predictor without the tensor view: build the same copy here
    import copy

    from ..models.backbones import FeatureNet

    module = copy.deepcopy(predictor.module())
    for m in module.modules():
        if isinstance(m, FeatureNet):
            m.flip = m.flip and flip
    for p in module.parameters():
        p.requires_grad_(False)
    return module.to(memory_format=torch.channels_last).eval()


def _load(model):
    from ..models.predictor import Predictor

    if isinstance(model, Predictor):
        return model, None
    from ..models.registry import resolve_model

    folder = resolve_model(None if model in (None, "default") else str(model))
    return Predictor.load(folder), folder


class NetworkJudge(Judge):
    """A trained predictor as a judge: images → its V/A(/D) heads on SAM 1–9 and its categories.

    Args:
        model: A ``Predictor``, a saved model folder, ``"default"`` (the packaged model) or a
            backbone name that ``resolve_model`` trains and caches (``"lite2"``: several minutes the
            first time).
        flip: Average each image's and its mirror image's features where the model does (as its
            fast path); False halves the cost, for use under random flips.
        name: The judge's name; defaults to ``model`` (a name or path) or the model's backbone.
    """

    description = "network: an emosynth predictor's V/A(/D) heads and categories"

    def __init__(self, model="default", flip: bool = True, name: str | None = None):
        super().__init__()
        self.predictor, self.folder = _load(model)
        self.flip = bool(flip)
        self.net = _module(self.predictor, flip)
        cats = self.predictor.categories_
        self.labels = list(cats.names) if cats else []
        self.input_size = int(self.predictor.extractor().input_size)
        targets = set(self.predictor.targets_)
        self.dims = tuple(d for d in DIMENSIONS if d in targets)
        cfg = self.predictor.config
        self.name = name or (str(model) if isinstance(model, (str, Path)) else cfg.backbone)
        card = getattr(self.predictor, "card_", {}) or {}
        trained = card.get("trained_on") or card.get("datasets") or "its training data"
        if isinstance(trained, dict):  # {"valence": ["emotion6", "oasis"], ...}
            trained = "; ".join(f"{k} on {', '.join(v)}" for k, v in trained.items())
        elif isinstance(trained, (list, tuple)):
            trained = ", ".join(map(str, trained))
        self.made_from = (
            f"An emosynth predictor ({self.folder or 'in memory'}): frozen {cfg.backbone} ImageNet "
            f"features ({cfg.pooling} pooling{', mirror-averaged' if cfg.flip and flip else ''}) with "
            f"ridge-regression V/A/D heads and a softmax category head fitted on {trained}; V/A/D on "
            f"the SAM 1-9 scale of the raters (the heads regress the ratings directly, no further "
            f"calibration); judges {', '.join(self.dims) or 'no dimension'}"
            f"{', categories ' + ', '.join(self.labels) if self.labels else ''}. Images of any size "
            f"are resized (antialiased bilinear) to {self.input_size} px.")

    def judge(self, images):
        """The network's verdict, differentiable.

        Args:
            images: Float tensor (N, 3, H, W) in [0, 1], any size (resized to ``input_size``).

        Returns:
            ``vad_raw`` (N, 3), unclamped SAM 1–9 with NaN for dimensions not learnt, and
            ``probabilities`` (N, K) where the model has categories.
        """
        t = _transforms()
        x = t.resize(images.float(), self.input_size).contiguous(memory_format=torch.channels_last)
        out = self.net(x)
        if "vad_raw" in out:
            raw = out["vad_raw"]
        else:  # older EmotionModel: only the clamped head; recompute the linear head unclamped
            h = self.net.heads
            raw = h.vad((self.net.features(x) - h.mean) / h.scale)
        raw = raw.to(images.dtype)
        mask = self.dim_mask.to(raw.device)
        raw = torch.where(mask, raw, torch.full_like(raw, float("nan")))
        res = {"vad_raw": raw}
        if self.labels:
            res["probabilities"] = out["probabilities"].to(images.dtype)
        return res

    def extractor(self, engine: str = "auto"):
        """The backbones as a ``FeatureExtractor`` on ``engine`` (ONNX Runtime for "auto" where it is
        installed), with this judge's mirror averaging; None when the model has a fine-tuned tail (its
        fast path is the torch module) or the engine is torch/eager.

        Args:
            engine: The inference engine (``"auto"``: ONNX Runtime).

        Returns:
            The cached ``FeatureExtractor``, or None.
        """
        from ..models import features

        fc = self.predictor.config.features
        if engine in ("torch", "eager") or getattr(self.predictor, "tail_path_", None) is not None or fc.tail:
            return None
        # "auto" is ONNX Runtime outright: the features module's per-machine timing of the engines costs
        # minutes in a fresh cache, and ONNX Runtime fp32 was 3.8x the torch module here (bench_judges)
        engine = "onnx" if engine == "auto" else engine
        if not features.engine_available(engine):
            return None
        cache = self.__dict__.setdefault("_extractors", {})
        if engine not in cache:
            cache[engine] = features.FeatureExtractor(
                features.FeatureConfig(fc.backbone, fc.weights, fc.pooling, fc.flip and self.flip),
                engine=engine, cache=False)
        return cache[engine]

    def judge_fast(self, images, engine: str = "auto", batch: int = 64):
        """``judge`` without gradients, the backbones on ONNX Runtime in batches of ``batch`` (the
        heads are the judge's own): the same function as the torch module to ~1e-5 points.

        Args:
            images: Float tensor (N, 3, H, W) in [0, 1].
            engine: The inference engine (``"auto"``: ONNX Runtime).
            batch: Images per ONNX Runtime call.

        Returns:
            As ``judge``.
        """
        ex = self.extractor(engine)
        if ex is None:
            return self.judge(images)
        t = _transforms()
        x = t.resize(images.float(), self.input_size)
        feats = np.concatenate([ex.from_tensor(x[i:i + batch]) for i in range(0, len(x), batch)])
        out = self.net.heads(torch.from_numpy(feats).float())
        raw = out["vad_raw"].to(images.dtype)
        mask = self.dim_mask.to(raw.device)
        res = {"vad_raw": torch.where(mask, raw, torch.full_like(raw, float("nan")))}
        if self.labels:
            res["probabilities"] = out["probabilities"].to(images.dtype)
        return res


class EnsembleJudge(Judge):
    """The mean of several judges, each under the same ``transforms`` random views of the image
    (lucent-style jitter, scale, rotation, colour, then a random mirror flip); 0: the images as
    they are. Each call draws its views from a fresh ``np.random.default_rng(seed)``, so the same
    images always get the same views: the judge is a deterministic, differentiable function
    (finite differences and repeated scoring agree), like today's ``--robust`` fitness.

    Args:
        members: The judges to average (at least one).
        transforms: The number of random views per image (≥ 0); 0: the images as they are.
        seed: Seed for the views, drawn afresh on every call.
        name: The judge's name.

    Raises:
        JudgeError: No members, or ``transforms`` < 0.
    """

    description = "ensemble: the mean of judges under random transforms (today's --robust)"

    def __init__(self, members: Sequence[Judge], transforms: int = 4, seed: int = 0, name: str = "ensemble"):
        super().__init__()
        if not members:
            raise JudgeError("an ensemble judge needs at least one member")
        if transforms < 0:
            raise JudgeError(f"transforms must be ≥ 0, got {transforms}")
        self.members = torch.nn.ModuleList(members)
        self.transforms, self.seed, self.name = int(transforms), int(seed), name
        self.dims = tuple(d for d in DIMENSIONS if all(d in m.dims for m in members))
        labels = [m.labels for m in members]
        self.labels = labels[0] if all(lab == labels[0] for lab in labels) else []
        self.made_from = (
            f"The mean of {len(members)} judge(s) ({', '.join(m.name for m in members)}) over "
            + (f"{transforms} random views of each image (jitter 8 %, scale 0.85-1.15, rotation 10 deg, "
               f"brightness/contrast/saturation 15 %, random mirror; seed {seed}, the same views every "
               f"call)" if transforms else "the image as it is")
            + "; SAM 1-9 as the members. Members: " + " | ".join(m.made_from for m in members))

    def views(self, images: torch.Tensor) -> list[torch.Tensor]:
        """The ``transforms`` views of every image: one set of random parameters per call (drawn from
        ``default_rng(seed)`` as for a single image) applied to the whole batch, so each image's views
        are the ones it gets alone and the judge is one function of the image in any batch.

        Args:
            images: Float tensor (N, 3, H, W) in [0, 1].

        Returns:
            ``transforms`` tensors (N, 3, H, W) (``[images]`` when ``transforms`` is 0).
        """
        if not self.transforms:
            return [images]
        t = _transforms()
        rng = np.random.default_rng(self.seed)
        cfg = t.TransformConfig()
        # the transforms build their grids in float32: keep the caller's precision
        return [t.shared_view(images.float(), rng, cfg).to(images.dtype) for _ in range(self.transforms)]

    def _mean(self, images, call):
        views = self.views(images)
        n = images.shape[0]
        big = torch.cat(views) if len(views) > 1 else views[0]  # every view of every image in one batch
        raws, probs = [], []
        for m in self.members:
            out = call(m, big)
            raws.append(out["vad_raw"].view(len(views), n, -1))
            if self.labels:
                probs.append(out["probabilities"].view(len(views), n, -1))
        raw = torch.cat(raws).mean(0)  # NaN where any member does not judge: matches self.dims
        res = {"vad_raw": raw}
        if self.labels:
            res["probabilities"] = torch.cat(probs).mean(0)
        return res

    def judge(self, images):
        """The members' mean verdict over the views, differentiable.

        Args:
            images: Float tensor (N, 3, H, W) in [0, 1].

        Returns:
            ``vad_raw`` (N, 3) on SAM 1–9 (NaN where any member does not judge) and, where the members
            share labels, ``probabilities`` (N, K).
        """
        return self._mean(images, lambda m, x: m(x))

    def judge_fast(self, images, engine: str = "auto"):
        """The mean without gradients: every view of every image in one batch through each member's
        fast path (ONNX Runtime for network members).

        Args:
            images: Float tensor (N, 3, H, W) in [0, 1].
            engine: The inference engine for network members.

        Returns:
            As ``judge``.
        """
        return self._mean(images, lambda m, x: m.score(x, engine))
