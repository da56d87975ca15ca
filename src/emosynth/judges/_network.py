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
    """A trained predictor as a judge: images → its V/A(/D) heads on 1–9 and its categories.

    ``model``: a ``Predictor``, a saved model folder, ``"default"`` (the packaged model) or a
    backbone name that ``resolve_model`` trains and caches (``"lite2"``: several minutes the first
    time). ``flip``: average each image's and its mirror image's features where the model does (as
    its fast path); False halves the cost, for use under random flips."""

    description = "network: an emosynth predictor's V/A(/D) heads and categories"

    def __init__(self, model="default", flip: bool = True, name: str | None = None):
        super().__init__()
        self.predictor, self.folder = _load(model)
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


class EnsembleJudge(Judge):
    """The mean of several judges, each under the same ``transforms`` random views of the image
    (lucent-style jitter, scale, rotation, colour, then a random mirror flip); 0: the images as
    they are. Each call draws its views from a fresh ``np.random.default_rng(seed)``, so the same
    images always get the same views: the judge is a deterministic, differentiable function
    (finite differences and repeated scoring agree), like today's ``--robust`` fitness."""

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
        if not self.transforms:
            return [images]
        t = _transforms()
        rng = np.random.default_rng(self.seed)
        cfg = t.TransformConfig()
        # the transforms build their grids in float32: keep the caller's precision
        return [t.random_flip(t.random_transforms(images.float(), rng, cfg), rng).to(images.dtype)
                for _ in range(self.transforms)]

    def judge(self, images):
        raws, probs = [], []
        for view in self.views(images):
            for m in self.members:
                out = m(view)
                raws.append(out["vad_raw"])
                if self.labels:
                    probs.append(out["probabilities"])
        raw = torch.stack(raws).mean(0)  # NaN where any member does not judge: matches self.dims
        res = {"vad_raw": raw}
        if self.labels:
            res["probabilities"] = torch.stack(probs).mean(0)
        return res
