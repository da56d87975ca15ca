"""Plain-torch copies of five torchvision ImageNet classifiers.

The modules here reproduce torchvision's ``state_dict()`` layout exactly (same
keys, order and shapes), so torchvision checkpoints such as
``resnet18-f37072fd.pth`` load with ``load_state_dict(strict=True)`` without
torchvision being installed.

Every module built here exposes:

* ``forward(x)`` -> ImageNet logits, shape (N, 1000), as torchvision;
* ``forward_features(x)`` -> pooled penultimate features, shape
  (N, feature_dim);
* ``forward_maps(x)`` -> the last convolutional feature map (N, C, h, w), the
  tensor torchvision feeds into its global pooling.

Inputs are float images (N, 3, S, S), S = ``ARCHITECTURES[name]["input_size"]``,
normalised with the ImageNet mean/std like every torchvision classifier.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Mapping

import torch
from torch import nn
from torch.nn import functional as F

from emosynth.errors import EmosynthError, WeightsError, WeightsNotFoundError

# checkpoint_prefix: how torchvision's downloaded files are named in the torch
# hub cache ("<prefix><hash>.pth"). "alexnet-" covers both alexnet-owt-*.pth
# and older alexnet-*.pth; "vgg16-" does not match vgg16_bn-*.pth.
ARCHITECTURES: dict[str, dict] = {
    "resnet18": {"input_size": 224, "feature_dim": 512, "checkpoint_prefix": "resnet18-"},
    "resnet50": {"input_size": 224, "feature_dim": 2048, "checkpoint_prefix": "resnet50-"},
    "alexnet": {"input_size": 224, "feature_dim": 4096, "checkpoint_prefix": "alexnet-"},
    "vgg16": {"input_size": 224, "feature_dim": 4096, "checkpoint_prefix": "vgg16-"},
    "inception_v3": {
        "input_size": 299,
        "feature_dim": 2048,
        "checkpoint_prefix": "inception_v3_google-",
    },
}

_NUM_CLASSES = 1000


# --------------------------------------------------------------------- ResNet


class _BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int, downsample: nn.Module | None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class _Bottleneck(nn.Module):
    # torchvision's "ResNet v1.5": the stride sits on the 3x3 conv.
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int, downsample: nn.Module | None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """torchvision's ResNet; features are the 512*expansion-dim avgpool output."""

    def __init__(self, block: type[_BasicBlock] | type[_Bottleneck], layers: list[int]):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(block, 64, layers[0], 1)
        self.layer2 = self._make_layer(block, 128, layers[1], 2)
        self.layer3 = self._make_layer(block, 256, layers[2], 2)
        self.layer4 = self._make_layer(block, 512, layers[3], 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, _NUM_CLASSES)

    def _make_layer(self, block, planes: int, blocks: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride, bias=False),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes, 1, None) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward_maps(self, x: torch.Tensor) -> torch.Tensor:
        """layer4 output, (N, 512*expansion, S/32, S/32)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Global-average-pooled layer4, (N, 512*expansion)."""
        return torch.flatten(self.avgpool(self.forward_maps(x)), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """ImageNet logits, (N, 1000)."""
        return self.fc(self.forward_features(x))


# -------------------------------------------------------------- AlexNet / VGG


class _ConvClassifier(nn.Module):
    """``features`` -> adaptive avgpool -> ``classifier``, as torchvision's AlexNet and VGG.

    ``forward_features`` runs the classifier up to and including its second
    ReLU (index ``feature_end - 1``), giving the 4096-dim "fc7" activations.
    """

    def __init__(
        self, features: nn.Sequential, pool: int, classifier: nn.Sequential, feature_end: int
    ):
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((pool, pool))
        self.classifier = classifier
        self._feature_end = feature_end

    def forward_maps(self, x: torch.Tensor) -> torch.Tensor:
        """Output of ``features`` (last conv + ReLU + max-pool), (N, 256|512, h, w)."""
        return self.features(x)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Second fully connected layer after ReLU, (N, 4096)."""
        x = torch.flatten(self.avgpool(self.forward_maps(x)), 1)
        return self.classifier[: self._feature_end](x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """ImageNet logits, (N, 1000)."""
        return self.classifier[self._feature_end :](self.forward_features(x))


def _alexnet() -> _ConvClassifier:
    features = nn.Sequential(
        nn.Conv2d(3, 64, 11, 4, 2),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 192, 5, padding=2),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(3, 2),
        nn.Conv2d(192, 384, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(384, 256, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(256, 256, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(3, 2),
    )
    classifier = nn.Sequential(
        nn.Dropout(0.5),
        nn.Linear(256 * 6 * 6, 4096),
        nn.ReLU(inplace=True),
        nn.Dropout(0.5),
        nn.Linear(4096, 4096),
        nn.ReLU(inplace=True),
        nn.Linear(4096, _NUM_CLASSES),
    )
    return _ConvClassifier(features, 6, classifier, feature_end=6)


# VGG configuration "D": conv widths, "M" = 2x2 max-pool.
_VGG16_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M"] + [512, 512, 512, "M"] * 2


def _vgg16() -> _ConvClassifier:
    layers: list[nn.Module] = []
    in_channels = 3
    for v in _VGG16_CFG:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(in_channels, v, 3, padding=1), nn.ReLU(inplace=True)]
            in_channels = v
    classifier = nn.Sequential(
        nn.Linear(512 * 7 * 7, 4096),
        nn.ReLU(True),
        nn.Dropout(0.5),
        nn.Linear(4096, 4096),
        nn.ReLU(True),
        nn.Dropout(0.5),
        nn.Linear(4096, _NUM_CLASSES),
    )
    return _ConvClassifier(nn.Sequential(*layers), 7, classifier, feature_end=5)


# --------------------------------------------------------------- Inception v3


class _BasicConv2d(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, **kwargs):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=False, **kwargs)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)), inplace=True)


class _InceptionA(nn.Module):
    def __init__(self, in_channels: int, pool_features: int):
        super().__init__()
        self.branch1x1 = _BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch5x5_1 = _BasicConv2d(in_channels, 48, kernel_size=1)
        self.branch5x5_2 = _BasicConv2d(48, 64, kernel_size=5, padding=2)
        self.branch3x3dbl_1 = _BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = _BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = _BasicConv2d(96, 96, kernel_size=3, padding=1)
        self.branch_pool = _BasicConv2d(in_channels, pool_features, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        bp = self.branch_pool(F.avg_pool2d(x, kernel_size=3, stride=1, padding=1))
        return torch.cat([b1, b5, b3, bp], 1)


class _InceptionB(nn.Module):
    def __init__(self, in_channels: int):
        super().__init__()
        self.branch3x3 = _BasicConv2d(in_channels, 384, kernel_size=3, stride=2)
        self.branch3x3dbl_1 = _BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = _BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = _BasicConv2d(96, 96, kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3(x)
        bd = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        bp = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([b3, bd, bp], 1)


class _InceptionC(nn.Module):
    def __init__(self, in_channels: int, channels_7x7: int):
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = _BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7_1 = _BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7_2 = _BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7_3 = _BasicConv2d(c7, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = _BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7dbl_2 = _BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = _BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = _BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = _BasicConv2d(c7, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch_pool = _BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        bd = self.branch7x7dbl_1(x)
        bd = self.branch7x7dbl_3(self.branch7x7dbl_2(bd))
        bd = self.branch7x7dbl_5(self.branch7x7dbl_4(bd))
        bp = self.branch_pool(F.avg_pool2d(x, kernel_size=3, stride=1, padding=1))
        return torch.cat([b1, b7, bd, bp], 1)


class _InceptionD(nn.Module):
    def __init__(self, in_channels: int):
        super().__init__()
        self.branch3x3_1 = _BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch3x3_2 = _BasicConv2d(192, 320, kernel_size=3, stride=2)
        self.branch7x7x3_1 = _BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7x3_2 = _BasicConv2d(192, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7x3_3 = _BasicConv2d(192, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7x3_4 = _BasicConv2d(192, 192, kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = self.branch7x7x3_2(self.branch7x7x3_1(x))
        b7 = self.branch7x7x3_4(self.branch7x7x3_3(b7))
        bp = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([b3, b7, bp], 1)


class _InceptionE(nn.Module):
    def __init__(self, in_channels: int):
        super().__init__()
        self.branch1x1 = _BasicConv2d(in_channels, 320, kernel_size=1)
        self.branch3x3_1 = _BasicConv2d(in_channels, 384, kernel_size=1)
        self.branch3x3_2a = _BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3_2b = _BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = _BasicConv2d(in_channels, 448, kernel_size=1)
        self.branch3x3dbl_2 = _BasicConv2d(448, 384, kernel_size=3, padding=1)
        self.branch3x3dbl_3a = _BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = _BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch_pool = _BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        bd = torch.cat([self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd)], 1)
        bp = self.branch_pool(F.avg_pool2d(x, kernel_size=3, stride=1, padding=1))
        return torch.cat([b1, b3, bd, bp], 1)


class _InceptionAux(nn.Module):
    def __init__(self, in_channels: int, num_classes: int):
        super().__init__()
        self.conv0 = _BasicConv2d(in_channels, 128, kernel_size=1)
        self.conv1 = _BasicConv2d(128, 768, kernel_size=5)
        self.fc = nn.Linear(768, num_classes)


class InceptionV3(nn.Module):
    """torchvision's Inception3 with ``aux_logits=True`` (the official checkpoint's layout).

    ``transform_input`` (default True, as torchvision sets it when loading the
    pretrained Google weights): inputs arrive ImageNet mean/std-normalised like
    the other models and are re-mapped per channel to the [-1, 1] scaling
    those weights were trained with. Set it False for weights trained on
    mean/std-normalised inputs.

    ``AuxLogits`` only exists so checkpoints load strictly; it is never run,
    so ``forward`` returns plain logits in train mode too (torchvision returns
    an ``InceptionOutputs`` tuple there).
    """

    def __init__(self, transform_input: bool = True):
        super().__init__()
        self.transform_input = transform_input
        self.Conv2d_1a_3x3 = _BasicConv2d(3, 32, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = _BasicConv2d(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = _BasicConv2d(32, 64, kernel_size=3, padding=1)
        self.maxpool1 = nn.MaxPool2d(kernel_size=3, stride=2)
        self.Conv2d_3b_1x1 = _BasicConv2d(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = _BasicConv2d(80, 192, kernel_size=3)
        self.maxpool2 = nn.MaxPool2d(kernel_size=3, stride=2)
        self.Mixed_5b = _InceptionA(192, pool_features=32)
        self.Mixed_5c = _InceptionA(256, pool_features=64)
        self.Mixed_5d = _InceptionA(288, pool_features=64)
        self.Mixed_6a = _InceptionB(288)
        self.Mixed_6b = _InceptionC(768, channels_7x7=128)
        self.Mixed_6c = _InceptionC(768, channels_7x7=160)
        self.Mixed_6d = _InceptionC(768, channels_7x7=160)
        self.Mixed_6e = _InceptionC(768, channels_7x7=192)
        self.AuxLogits = _InceptionAux(768, _NUM_CLASSES)
        self.Mixed_7a = _InceptionD(768)
        self.Mixed_7b = _InceptionE(1280)
        self.Mixed_7c = _InceptionE(2048)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=0.5)
        self.fc = nn.Linear(2048, _NUM_CLASSES)

    def _transform_input(self, x: torch.Tensor) -> torch.Tensor:
        if not self.transform_input:
            return x
        # Undo ImageNet mean/std, then apply (x - 0.5) / 0.5, as torchvision does.
        x_ch0 = torch.unsqueeze(x[:, 0], 1) * (0.229 / 0.5) + (0.485 - 0.5) / 0.5
        x_ch1 = torch.unsqueeze(x[:, 1], 1) * (0.224 / 0.5) + (0.456 - 0.5) / 0.5
        x_ch2 = torch.unsqueeze(x[:, 2], 1) * (0.225 / 0.5) + (0.406 - 0.5) / 0.5
        return torch.cat((x_ch0, x_ch1, x_ch2), 1)

    def forward_maps(self, x: torch.Tensor) -> torch.Tensor:
        """Mixed_7c output, (N, 2048, 8, 8) at 299x299 input."""
        x = self._transform_input(x)
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = self.maxpool1(x)
        x = self.maxpool2(self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x)))
        x = self.Mixed_5d(self.Mixed_5c(self.Mixed_5b(x)))
        x = self.Mixed_6a(x)
        x = self.Mixed_6e(self.Mixed_6d(self.Mixed_6c(self.Mixed_6b(x))))
        return self.Mixed_7c(self.Mixed_7b(self.Mixed_7a(x)))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Global-average-pooled Mixed_7c, (N, 2048)."""
        return torch.flatten(self.avgpool(self.forward_maps(x)), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """ImageNet logits, (N, 1000)."""
        return self.fc(self.dropout(self.forward_features(x)))


# ------------------------------------------------------------ build and load

_BUILDERS = {
    "resnet18": lambda: ResNet(_BasicBlock, [2, 2, 2, 2]),
    "resnet50": lambda: ResNet(_Bottleneck, [3, 4, 6, 3]),
    "alexnet": _alexnet,
    "vgg16": _vgg16,
    "inception_v3": InceptionV3,
}


def _check_name(name: str) -> None:
    if name not in ARCHITECTURES:
        raise EmosynthError(f"unknown architecture {name!r}; known: {', '.join(ARCHITECTURES)}")


def build(name: str) -> nn.Module:
    """Randomly initialised ``name`` module (PyTorch default init, train mode)."""
    _check_name(name)
    return _BUILDERS[name]()


def _hub_checkpoint_dir() -> pathlib.Path:
    # Same resolution as torch.hub.get_dir() without a set_dir() override.
    torch_home = os.environ.get("TORCH_HOME")
    if not torch_home:
        cache = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
        torch_home = os.path.join(cache, "torch")
    return pathlib.Path(torch_home).expanduser() / "hub" / "checkpoints"


def find_checkpoint(name: str, weights: str | os.PathLike | None = None) -> pathlib.Path:
    """Checkpoint path for ``name``: ``weights`` if given, else a torchvision file in the hub cache.

    Several matching cache files (e.g. resnet50's V1 and V2 weights): the
    first in sorted name order is used, so the choice is reproducible.
    """
    _check_name(name)
    if weights is not None:
        path = pathlib.Path(weights).expanduser()
        if not path.is_file():
            raise WeightsNotFoundError(f"weights file not found: {path}")
        return path
    pattern = ARCHITECTURES[name]["checkpoint_prefix"] + "*.pth"
    directory = _hub_checkpoint_dir()
    found = sorted(p for p in directory.glob(pattern) if p.is_file())
    if not found:
        raise WeightsNotFoundError(
            f"no {name} checkpoint found: looked for {pattern} in {directory}; "
            f"use --weights PATH to point at a torchvision {name} checkpoint"
        )
    return found[0]


def _short_reason(err: BaseException) -> str:
    text = str(err)
    # torch's weights_only refusals open with generic advice to disable the
    # safety check; the cause (e.g. "Unsupported global: ...") follows this marker.
    marker = "WeightsUnpickler error:"
    if marker in text:
        text = text.split(marker, 1)[1].strip().split(". ")[0]
    lines = text.strip().splitlines()
    return f"{type(err).__name__}: {lines[0][:200]}" if lines else type(err).__name__


def _mismatch(expected: Mapping[str, torch.Tensor], got: Mapping[str, torch.Tensor]) -> str:
    """One-line summary of key and shape differences, at most 3 examples each."""
    # BatchNorm fills in a missing num_batches_tracked for old checkpoints itself.
    missing = [k for k in expected if k not in got and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in got if k not in expected]
    shapes = [
        f"{k} {tuple(got[k].shape)} != {tuple(v.shape)}"
        for k, v in expected.items()
        if k in got and got[k].shape != v.shape
    ]
    parts = []
    for label, items in (
        ("missing keys", missing),
        ("unexpected keys", unexpected),
        ("wrong shapes", shapes),
    ):
        if items:
            more = f" (+{len(items) - 3} more)" if len(items) > 3 else ""
            parts.append(f"{len(items)} {label}: {', '.join(items[:3])}{more}")
    return "; ".join(parts)


def load_pretrained(name: str, weights: str | os.PathLike | None = None) -> nn.Module:
    """``name`` with weights from :func:`find_checkpoint`, strictly loaded, in eval mode.

    The file may hold a raw state_dict or a dict wrapping one under
    "state_dict" or "model".
    """
    path = find_checkpoint(name, weights)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch.load raises many types for foreign files
        raise WeightsError(
            f"{path}: not a loadable PyTorch checkpoint ({_short_reason(err)}); "
            "expected a file written by torch.save(model.state_dict(), PATH)"
        ) from None
    if isinstance(obj, Mapping):
        for wrapper in ("state_dict", "model"):
            if isinstance(obj.get(wrapper), Mapping):
                obj = obj[wrapper]
                break
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsError(f"{path}: does not contain a state_dict of tensors")
    model = build(name)
    try:
        model.load_state_dict(obj, strict=True)
    except RuntimeError as err:
        detail = _mismatch(model.state_dict(), obj) or _short_reason(err)
        raise WeightsError(f"{path}: not a torchvision {name} checkpoint: {detail}") from None
    return model.eval()
