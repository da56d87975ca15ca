"""Scoring images with a backbone, fast, and caching the result on disk.

Engines (``engine=``):

* ``"auto"`` — the fast path: a GPU when present (channels_last + fp16 autocast); on CPU the
  backbone exported once to ONNX and run by ONNX Runtime (on this project's AMD CPUs it is
  an order of magnitude faster than eager PyTorch, whose MKL kernels fall back to slow code
  there); PyTorch channels_last (bf16 autocast on CPUs with native bf16) if ONNX Runtime is
  missing.
* ``"torch"`` — PyTorch with channels_last (+ autocast where the hardware has it).
* ``"eager"`` — plain eager fp32, the reference every benchmark compares against.

Features are cached per image, keyed by backbone, weights, preprocessing and the image
file's content, so a second ``train`` or ``evaluate`` over the same images skips the backbone.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import BackboneError
from ..fsio import atomic_write_bytes
from ..imageio import read_image, resize_square
from .backbones import build_feature_net, get_backbone, weights_id

# Bump when preprocessing changes, so old cache entries are never reused. 2: 16-bit, 32-bit and
# float grey images are scaled by their range (they read as all white / all black before).
PREP_VERSION = "2"
ENGINES = ("auto", "onnx", "torch", "eager")
HANDCRAFTED = "handcrafted"
# One thread per core: handcrafted features are NumPy/SciPy code that releases the GIL.
HANDCRAFTED_WORKERS = max(1, min(4, os.cpu_count() or 1))


def cache_root() -> Path:
    """``$EMOSYNTH_CACHE`` or ``~/.cache/emosynth``; a cache that is a file, or under one, or cannot be
    made, is one ``OutputError`` line naming the variable (the path alone would not say where it came from)."""
    from ..errors import OutputError

    root = Path(os.environ.get("EMOSYNTH_CACHE") or Path.home() / ".cache" / "emosynth").expanduser()
    if root.is_dir() and os.access(root, os.W_OK | os.X_OK):
        return root
    try:
        root.mkdir(parents=True, exist_ok=True)
        if not os.access(root, os.W_OK | os.X_OK):
            raise PermissionError("not writable")
    except OSError as err:
        raise OutputError(f"{root}: cannot be used as the feature cache ({err.strerror or err}); set EMOSYNTH_CACHE "
                          "to a writable folder") from None
    return root


@dataclass(frozen=True)
class FeatureConfig:
    """Which features: backbone name, its weights file (None: the packaged one), pooling, flip TTA,
    and an optional fine-tuned tail."""

    backbone: str = "efficientnet-lite0"
    weights: str | None = None
    pooling: str = "avg"
    flip: bool = False
    #: fine-tuned tail (``backbone_tail.pt``) replacing the last ``finetune_blocks`` blocks' weights
    tail: str | None = None
    finetune_blocks: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def file_digest(path: Path) -> str:
    return hashlib.sha1(Path(path).read_bytes()).hexdigest()


def cpu_has_native_bf16() -> bool:
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:
        return False


class FeatureExtractor:
    """Backbone features for images: ``extract(paths)`` (cached) or ``from_arrays(batch)``."""

    def __init__(self, config: FeatureConfig = FeatureConfig(), *, engine: str = "auto", batch_size: int = 64,
                 cache: bool = True, device: str | None = None):
        if engine not in ENGINES:
            raise BackboneError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
        self.config = config
        self.batch_size = batch_size
        self.use_cache = cache
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.requested_engine = engine
        self._net: nn.Module | None = None
        self._ort = None
        names = [n.strip() for n in config.backbone.split("+")]
        # "a+b": features of several backbones side by side, each cached under its own key.
        self.parts: list[FeatureExtractor] = []
        if len(names) > 1:
            if config.weights or config.tail or config.finetune_blocks:
                raise BackboneError("--weights and --finetune apply to a single backbone, not to a combination")
            self.parts = [FeatureExtractor(FeatureConfig(n, None, config.pooling, config.flip), engine=engine,
                                           batch_size=batch_size, cache=cache, device=device) for n in names]
            self.spec = None
            self._wid = "+".join(p._wid for p in self.parts)
        elif names[0].lower() == HANDCRAFTED:
            if config.weights or config.tail or config.finetune_blocks:
                raise BackboneError("handcrafted features have no weights to load or fine-tune")
            from . import handcrafted

            self.spec = None
            self._wid = f"v{handcrafted.VERSION}"
        else:
            self.spec = get_backbone(names[0])
            self._wid = weights_id(self.spec, config.weights)  # also fails early if weights are missing
            if config.tail:
                self._wid += f"-ft{config.finetune_blocks}-{file_digest(Path(config.tail))[:12]}"

    # ------------------------------------------------------------------ identity

    @property
    def input_size(self) -> int:
        if self.parts:
            return max(p.input_size for p in self.parts)
        if self.is_handcrafted:
            from .handcrafted import WORK_SIZE

            return WORK_SIZE
        return self.spec.input_size

    @property
    def is_handcrafted(self) -> bool:
        return not self.parts and self.spec is None

    @property
    def key(self) -> str:
        """Identifies backbone + weights + preprocessing; the feature cache is split by it."""
        c = self.config
        if self.parts:
            return "+".join(p.key for p in self.parts)
        if self.is_handcrafted:
            return f"{HANDCRAFTED}-{self._wid}-p{PREP_VERSION}"
        return f"{c.backbone}-{self._wid}-{c.pooling}{'-flip' if c.flip else ''}-p{PREP_VERSION}"

    @property
    def engine(self) -> str:
        e = self.requested_engine
        if e != "auto":
            return e
        if self.device.type == "cuda":
            return "torch"
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            return "torch"
        return "onnx"

    @property
    def net(self) -> nn.Module:
        """The differentiable torch module (images in [0, 1], any size → features)."""
        if self.is_handcrafted:
            raise BackboneError("handcrafted features are not differentiable: gradients need a CNN backbone")
        if self._net is None:
            if self.parts:
                self._net = ConcatFeatureNet([p.net for p in self.parts]).eval()
            else:
                self._net = build_feature_net(self.config.backbone, self.config.weights,
                                              self.config.pooling, self.config.flip)
                if self.config.tail:
                    _load_tail(self._net, Path(self.config.tail))
        return self._net

    @property
    def finetune_blocks(self) -> int:
        return self.config.finetune_blocks

    @property
    def feature_dim(self) -> int:
        if self.parts:
            return sum(p.feature_dim for p in self.parts)
        if self.is_handcrafted:
            from .handcrafted import FEATURE_NAMES

            return len(FEATURE_NAMES)
        return self.net.feature_dim

    # ------------------------------------------------------------------ engines

    def _onnx_session(self):
        if self._ort is None:
            import onnxruntime as ort

            path = cache_root() / "onnx" / f"{self.key}.onnx"
            if not path.is_file():
                self._export_onnx(path)
            so = ort.SessionOptions()
            so.intra_op_num_threads = torch.get_num_threads()
            so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            so.log_severity_level = 3
            self._ort = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        return self._ort

    def _export_onnx(self, path: Path):
        import io
        import warnings

        s = self.input_size
        buf = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(self.net.cpu().eval(), (torch.rand(2, 3, s, s),), buf, dynamo=False,
                              input_names=["images"], output_names=["features"],
                              dynamic_axes={"images": {0: "n"}, "features": {0: "n"}}, opset_version=17)
        atomic_write_bytes(path, buf.getvalue())

    def from_tensor(self, x: torch.Tensor) -> np.ndarray:
        """Features of a float batch (N, 3, S, S) in [0, 1] at the backbone's size, on the chosen engine."""
        if self.parts:
            outs = []
            for p in self.parts:
                xp = x
                if x.shape[-1] != p.input_size:
                    xp = F.interpolate(x, size=(p.input_size, p.input_size), mode="bilinear",
                                       align_corners=False, antialias=True)
                outs.append(p.from_tensor(xp))
            return np.concatenate(outs, axis=1)
        if self.is_handcrafted:
            arrays = (x.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()
            return self._score(list(arrays))
        engine = self.engine
        if engine == "onnx":
            return self._onnx_session().run(None, {"images": x.float().cpu().numpy()})[0]
        net = self.net.to(self.device)
        with torch.inference_mode():
            x = x.to(self.device)
            if engine == "eager":
                return net(x).float().cpu().numpy()
            net = net.to(memory_format=torch.channels_last)
            x = x.contiguous(memory_format=torch.channels_last)
            if self.device.type == "cuda":
                with torch.autocast("cuda", dtype=torch.float16):
                    return net(x).float().cpu().numpy()
            if cpu_has_native_bf16():
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    return net(x).float().cpu().numpy()
            return net(x).float().cpu().numpy()

    def from_arrays(self, images: np.ndarray) -> np.ndarray:
        """Features of uint8 images (N, S, S, 3), batched."""
        out = []
        for i in range(0, len(images), self.batch_size):
            b = torch.from_numpy(np.ascontiguousarray(images[i:i + self.batch_size])).permute(0, 3, 1, 2)
            out.append(self.from_tensor(b.float() / 255.0))
        return np.concatenate(out).astype(np.float32)

    def load_image(self, path, where: str | None = None) -> np.ndarray:
        """uint8 RGB at the backbone's square input size (handcrafted: the whole image, its own shape)."""
        img = read_image(path, where=where)
        if self.is_handcrafted:
            return np.array(img, dtype=np.uint8)
        return resize_square(img, self.input_size)

    def _score(self, images: list[np.ndarray]) -> np.ndarray:
        """Features of a list of uint8 images as ``load_image`` returns them."""
        if self.is_handcrafted:
            from .handcrafted import features_batch

            return features_batch(images, workers=HANDCRAFTED_WORKERS).astype(np.float32)
        return self.from_arrays(np.stack(images))

    # ------------------------------------------------------------------ cached extraction

    def _cache_file(self, digest: str) -> Path:
        return cache_root() / "features" / self.key / digest[:2] / f"{digest}.npy"

    def _extract_parts(self, paths, where, progress):
        feats = []
        for i, p in enumerate(self.parts):
            # Progress counts images once, over all parts.
            share = (lambda k, i=i: progress(k / len(self.parts))) if progress else None
            feats.append(p.extract(paths, where, progress=share))
        return np.concatenate(feats, axis=1)

    def missing(self, paths: Sequence[Path]) -> int:
        """How many of ``paths`` have no cached features yet (what ``extract`` would compute)."""
        if self.parts:
            return max(p.missing(paths) for p in self.parts)
        if not self.use_cache:
            return len(paths)
        return sum(not (Path(p).is_file() and self._cache_file(file_digest(p)).is_file()) for p in paths)

    def extract(self, paths: Sequence[Path], where: Sequence[str] | None = None,
                progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Features (n, D) float32 for image files; cached ones are read, the rest scored in batches.

        A bad image stops the run with an ``ImageError`` naming it; the entries already cached
        are complete and valid, so nothing half-written remains. ``progress(k)`` is called as k
        more images are done.
        """
        if self.parts:
            return self._extract_parts(paths, where, progress)
        where = list(where) if where is not None else [None] * len(paths)
        digests = [file_digest(p) if Path(p).is_file() else None for p in paths]
        feats: list[np.ndarray | None] = [None] * len(paths)
        todo = []
        for i, (p, d) in enumerate(zip(paths, digests)):
            f = self._cache_file(d) if (d and self.use_cache) else None
            if f is not None and f.is_file():
                try:
                    feats[i] = np.load(f)
                    continue
                except (OSError, ValueError):
                    pass  # a damaged entry is recomputed
            todo.append(i)
        if progress and len(paths) - len(todo):
            progress(len(paths) - len(todo))
        step = 256 if self.is_handcrafted else self.batch_size
        for start in range(0, len(todo), step):
            idx = todo[start:start + step]
            out = self._score([self.load_image(paths[i], where[i]) for i in idx])
            for i, f in zip(idx, out):
                feats[i] = f
                if self.use_cache:
                    buf = _npy_bytes(f)
                    atomic_write_bytes(self._cache_file(digests[i]), buf)
            if progress:
                progress(len(idx))
        if not feats:
            return np.zeros((0, self.feature_dim), np.float32)
        return np.stack(feats).astype(np.float32)


def _load_tail(net: nn.Module, path: Path):
    """Put fine-tuned tail tensors into a freshly built backbone (only keys it has)."""
    from ..errors import WeightsError

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001
        raise WeightsError(f"{path}: not a loadable fine-tuned tail ({type(err).__name__})") from None
    own = net.trunk.state_dict()
    bad = [k for k, v in state.items() if k not in own or own[k].shape != v.shape]
    if bad:
        raise WeightsError(f"{path}: tail does not fit this backbone (e.g. {bad[0]})")
    net.trunk.load_state_dict(state, strict=False)


class ConcatFeatureNet(nn.Module):
    """Several backbones' features side by side; each part resizes the images to its own size."""

    def __init__(self, parts):
        super().__init__()
        self.parts = nn.ModuleList(parts)

    @property
    def feature_dim(self) -> int:
        return sum(p.feature_dim for p in self.parts)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([p(x) for p in self.parts], dim=1)


def _npy_bytes(a: np.ndarray) -> bytes:
    import io

    b = io.BytesIO()
    np.save(b, a)
    return b.getvalue()
