"""Scoring images with a backbone, fast, and caching the result on disk.

Engines (``engine=``):

* ``"auto"`` — the fast path: a GPU when present (channels_last + fp16 autocast); on CPU the
  fastest of the engines whose predictions equal eager fp32's (``AUTO_CANDIDATES``: max |ΔV|,
  |ΔA| ≤ 0.05 on OASIS, asserted by tests/test_engines.py), *measured* on this machine the first
  time a backbone is used and remembered in the cache (``engines/``; see ``choose_engine``).
* ``"onnx"`` — the backbone exported once to ONNX and run by ONNX Runtime, fp32, with the
  mirror-image pass (``flip``) folded into the batch: one pass over 2N images instead of two over N.
* ``"onnx-int8"`` / ``"onnx-int8-static"`` — ONNX Runtime after int8 quantisation
  (``onnxruntime.quantization``): dynamic (weights int8, activations quantised per batch) or
  static (QDQ, per-channel weights, activations calibrated on the packaged sample photos under
  random crops and flips).
* ``"openvino"`` — the ONNX export compiled by OpenVINO for the CPU (when ``openvino`` is installed).
* ``"openvino-bf16"`` — the same in bf16, on CPUs with native bf16 (AVX512_BF16 or AMX) only: the fastest
  engine measured on a 2-core AVX512_BF16 EPYC (8.6–10.1 × eager), and off eager fp32's valence by 0.04 on
  average and 0.23 at most over OASIS's 900 photos, outside the bound ``auto`` keeps (docs/performance.md).
* ``"torch"`` — PyTorch with channels_last, fp32 on CPU (a candidate of ``auto``, whose engines compute
  eager fp32's function: with bf16 autocast on an AMD EPYC with AVX512_BF16 its V/A/D were 0.028 off the
  differentiable module's, and the synthesis judges' gradients must be those of what is scored).
* ``"torch-bf16"`` — PyTorch channels_last + bf16 autocast whatever the CPU (slow without native bf16).
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
ENGINES = ("auto", "onnx", "onnx-int8", "onnx-int8-static", "openvino", "openvino-bf16", "torch", "torch-bf16",
           "eager")
#: the bound on max |ΔV|, |ΔA| (SAM 1-9) against eager fp32 on OASIS for an engine ``auto`` may choose
AGREEMENT_BOUND = 0.05
#: engines ``auto`` may choose on a CPU: those whose predictions equal eager fp32's within
#: ``AGREEMENT_BOUND`` on OASIS (benchmarks/bench_engines.py measures it, tests/test_engines.py asserts
#: it); the fastest of those installed, measured here, wins. The int8 engines are not among them: on
#: OASIS they move V and A by 0.28 (static) and 2.0 (dynamic) — see docs/performance.md.
AUTO_CANDIDATES = ("openvino", "onnx", "torch")
#: bump to measure every machine's choice again (the cached ``engines/*.json`` are ignored)
CHOICE_VERSION = "2"
HANDCRAFTED = "handcrafted"
# One thread per core: handcrafted features are NumPy/SciPy code that releases the GIL.
HANDCRAFTED_WORKERS = max(1, min(4, os.cpu_count() or 1))


def cache_root() -> Path:
    """``$EMOSYNTH_CACHE`` or ``~/.cache/emosynth``; a cache that is a file, or under one, or cannot be
    made, is one ``OutputError`` line naming the variable (the path alone would not say where it came from).

    Returns:
        The cache folder, created if missing.

    Raises:
        OutputError: The folder is a file, lies under one, cannot be made or is not writable.
    """
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
    and an optional fine-tuned tail.

    Attributes:
        backbone: A backbone name, or several joined by ``+`` (features side by side).
        weights: The backbone's weights file; None: the packaged one.
        pooling: ``"avg"`` or ``"avgmax"``.
        flip: Average the features of each image and its mirror image.
        tail: A fine-tuned tail (``backbone_tail.pt``) replacing the last ``finetune_blocks`` blocks' weights.
        finetune_blocks: How many of the last blocks ``tail`` replaces.
    """

    backbone: str = "efficientnet-lite0"
    weights: str | None = None
    pooling: str = "avg"
    flip: bool = False
    #: fine-tuned tail (``backbone_tail.pt``) replacing the last ``finetune_blocks`` blocks' weights
    tail: str | None = None
    finetune_blocks: int = 0

    def to_dict(self) -> dict:
        """The fields as a dict.

        Returns:
            ``dataclasses.asdict`` of this configuration.
        """
        return asdict(self)


def file_digest(path: Path) -> str:
    return hashlib.sha1(Path(path).read_bytes()).hexdigest()


def cpu_has_native_bf16() -> bool:
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:
        return False


def _check_native_bf16(engine: str):
    if engine == "openvino-bf16" and not cpu_has_native_bf16():
        # OpenVINO would run it in fp32 or emulate bf16: a name that promises what this CPU cannot do
        raise BackboneError("engine 'openvino-bf16' needs a CPU with native bf16 (AVX512_BF16 or AMX) and "
                            "this one has neither: use 'openvino' or 'auto'")


class FeatureExtractor:
    """Backbone features for images: ``extract(paths)`` (cached) or ``from_arrays(batch)``.

    Args:
        config: Which features.
        engine: The inference engine: one of ``ENGINES`` (``"auto"`` chooses).
        batch_size: Images per forward pass.
        cache: Cache features on disk under :func:`cache_root`.
        device: The torch device; None: CUDA when available, else the CPU.

    Raises:
        BackboneError: An unknown engine or backbone, ``openvino-bf16`` on a CPU without native bf16, or
            weights/fine-tuning asked of a combination or of the handcrafted features.
    """

    def __init__(self, config: FeatureConfig = FeatureConfig(), *, engine: str = "auto", batch_size: int = 64,
                 cache: bool = True, device: str | None = None):
        if engine not in ENGINES:
            raise BackboneError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
        _check_native_bf16(engine)
        self.config = config
        self.batch_size = batch_size
        self.use_cache = cache
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.requested_engine = engine
        self._net: nn.Module | None = None
        self._sessions: dict = {}
        self._auto: str | None = None
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
        """The engine that runs: the one asked for, or — for ``auto`` — the one chosen on this machine."""
        e = self.requested_engine
        if e != "auto":
            return e
        if self._auto is None:
            self._auto = self._choose_auto()
        return self._auto

    def _choose_auto(self) -> str:
        if self.device.type == "cuda" or self.parts or self.is_handcrafted:
            return "torch" if self.device.type == "cuda" else _first_available(("onnx", "torch"))
        return choose_engine(self)

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

    def onnx_path(self, variant: str = "fp32") -> Path:
        """The cached ONNX export (``fp32``, ``int8`` dynamic or ``int8-static``), made on first use.

        Args:
            variant: ``"fp32"``, ``"int8"`` or ``"int8-static"``.

        Returns:
            The ONNX file under the cache root.
        """
        base = cache_root() / "onnx" / f"{self.key}-fold.onnx"
        if not base.is_file():
            self._export_onnx(base)
        if variant == "fp32":
            return base
        path = base.with_name(f"{self.key}-fold-{variant}.onnx")
        if not path.is_file():
            _quantize(base, path, variant, self)
        return path

    def _session(self, engine: str):
        s = self._sessions.get(engine)
        if s is None:
            _check_native_bf16(engine)
            if engine in ("openvino", "openvino-bf16"):
                s = _openvino_model(self.onnx_path("fp32"), "bf16" if engine == "openvino-bf16" else "f32")
            else:
                variant = {"onnx": "fp32", "onnx-int8": "int8", "onnx-int8-static": "int8-static"}[engine]
                s = _ort_session(self.onnx_path(variant))
            self._sessions[engine] = s
        return s

    def _export_onnx(self, path: Path):
        import io
        import warnings

        s = self.input_size
        buf = io.BytesIO()
        # The wrapper must be in eval mode too: the export restores the mode of the module it was given,
        # recursively, and a fresh nn.Module is in training mode, so exporting FoldedFlip(net) as it was
        # left ``net`` in training mode, its BatchNorm then normalising by batch statistics (features up to
        # 6.0 off) and updating its running statistics on every later torch forward pass.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(FoldedFlip(self.net.cpu().eval()).eval(), (torch.rand(2, 3, s, s),), buf,
                              dynamo=False, input_names=["images"], output_names=["features"],
                              dynamic_axes={"images": {0: "n"}, "features": {0: "n"}}, opset_version=17)
        self.net.eval()
        atomic_write_bytes(path, buf.getvalue())

    def from_tensor(self, x: torch.Tensor, engine: str | None = None) -> np.ndarray:
        """Features of a float batch (N, 3, S, S) in [0, 1] at the backbone's size, on the chosen engine
        (``engine``: another one, for benchmarks).

        Args:
            x: Float tensor (N, 3, S, S) in [0, 1], S = ``input_size``.
            engine: An engine other than this extractor's, or None.

        Returns:
            (N, D) float32 features.
        """
        if self.parts:
            outs = []
            for p in self.parts:
                xp = x
                if x.shape[-1] != p.input_size:
                    xp = F.interpolate(x, size=(p.input_size, p.input_size), mode="bilinear",
                                       align_corners=False, antialias=True)
                outs.append(p.from_tensor(xp, engine))
            return np.concatenate(outs, axis=1)
        if self.is_handcrafted:
            arrays = (x.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()
            return self._score(list(arrays))
        engine = engine or self.engine
        if engine == "auto":
            engine = self.engine
        if engine in ("onnx", "onnx-int8", "onnx-int8-static"):
            return self._session(engine).run(None, {"images": x.float().cpu().numpy()})[0]
        if engine in ("openvino", "openvino-bf16"):
            return np.asarray(self._session(engine)(x.float().cpu().numpy())[0])
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
            if engine == "torch-bf16":
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    return net(x).float().cpu().numpy()
            return net(x).float().cpu().numpy()

    def from_arrays(self, images: np.ndarray, engine: str | None = None) -> np.ndarray:
        """Features of uint8 images (N, S, S, 3), batched (``engine``: another than this extractor's).

        Args:
            images: uint8 array (N, S, S, 3), S = ``input_size``.
            engine: An engine other than this extractor's, or None.

        Returns:
            (N, D) float32 features.
        """
        out = []
        for i in range(0, len(images), self.batch_size):
            b = torch.from_numpy(np.ascontiguousarray(images[i:i + self.batch_size])).permute(0, 3, 1, 2)
            out.append(self.from_tensor(b.float() / 255.0, engine))
        return np.concatenate(out).astype(np.float32)

    def load_image(self, path, where: str | None = None) -> np.ndarray:
        """uint8 RGB at the backbone's square input size (handcrafted: the whole image, its own shape).

        Args:
            path: The image file.
            where: Where it was listed (``"OASIS.csv row 12"``), for error messages, or None.

        Returns:
            uint8 array (S, S, 3), or (H, W, 3) for handcrafted features.

        Raises:
            ImageError: The image is missing, unreadable or truncated.
        """
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
        """How many of ``paths`` have no cached features yet (what ``extract`` would compute).

        Args:
            paths: Image files.

        Returns:
            The number not yet cached.
        """
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

        Args:
            paths: Image files.
            where: For each file, where it was listed (``"OASIS.csv row 12"``), for error messages.
            progress: Called with k as k more images are done, or None.

        Returns:
            (n, D) float32 features, in the order of ``paths``.

        Raises:
            ImageError: An image is missing, unreadable or truncated.
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


class FoldedFlip(nn.Module):
    """A ``FeatureNet`` (or ``ConcatFeatureNet``) whose mirror-image pass is folded into the batch:
    features of [x; flip(x)] in one pass, then the two halves averaged — the same features, one
    larger batch instead of two passes (what the ONNX export runs)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from .backbones import FeatureNet

        net = self.net
        if not isinstance(net, FeatureNet) or not net.flip:
            return net(x)
        x = net.prepare(x)
        n = x.shape[0]
        f = net._pooled(torch.cat([x, torch.flip(x, dims=[3])], dim=0))
        return 0.5 * (f[:n] + f[n:])


def _ort_session(path: Path):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = torch.get_num_threads()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    # No busy-waiting between operators: on a shared, loaded machine spinning threads steal the
    # cores the other thread needs (measured: 8.3 → 9.2 images/s at load 10 on 2 cores).
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def _openvino_model(path: Path, precision: str = "f32"):
    try:
        import openvino as ov
    except ImportError:
        raise BackboneError("engine 'openvino' needs the openvino package: pip install openvino") from None
    core = ov.Core()
    # "f32" for the "openvino" engine: on CPUs with native bf16 (AVX512_BF16, AMX) OpenVINO otherwise runs in
    # bf16 by default, and on an AMD EPYC with AVX512_BF16 its features were up to 0.58 off eager fp32's (5,266
    # of 10,240 values outside 1e-3; tests/test_backbones.py test_fast_path_matches_eager_fp32 failed).
    # "bf16" only for the "openvino-bf16" engine, which says so.
    return core.compile_model(core.read_model(str(path)), "CPU",
                              {"INFERENCE_NUM_THREADS": torch.get_num_threads(), "PERFORMANCE_HINT": "LATENCY",
                               "INFERENCE_PRECISION_HINT": precision})


def cpu_has_vnni() -> bool:
    """Whether the CPU has int8 dot-product instructions (AVX-512 VNNI or AVX-VNNI)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_vnni" in flags or "avx_vnni" in flags


def calibration_images(size: int, n: int = 16, seed: int = 0) -> np.ndarray:
    """uint8 (n, size, size, 3): the packaged sample photos under seeded random crops and flips —
    static quantisation's calibration set (never the data sets it is evaluated on)."""
    from PIL import Image

    from ..samples import sample_paths

    rng = np.random.default_rng(seed)
    photos = [read_image(p) for p in sample_paths()]
    out = []
    for i in range(n):
        img = photos[i % len(photos)]
        w, h = img.size
        f = rng.uniform(0.5, 1.0)
        cw, ch = int(w * f), int(h * f)
        x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        crop = img.crop((x0, y0, x0 + cw, y0 + ch))
        if rng.random() < 0.5:
            crop = crop.transpose(Image.FLIP_LEFT_RIGHT)
        out.append(resize_square(crop, size))
    return np.stack(out)


def _quantize(src: Path, dst: Path, variant: str, extractor: "FeatureExtractor"):
    """int8 copy of the ONNX export ``src`` (``int8``: dynamic; ``int8-static``: QDQ, calibrated)."""
    import tempfile

    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory() as tmp:
        pre, out = Path(tmp) / "pre.onnx", Path(tmp) / "q.onnx"
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        # Without VNNI, u8 x s8 products can saturate 16-bit intermediates: 7-bit weights avoid it.
        reduce = not cpu_has_vnni()
        if variant == "int8":
            quantize_dynamic(str(pre), str(out), weight_type=QuantType.QInt8, reduce_range=reduce)
        else:
            images = calibration_images(extractor.input_size)

            class Reader(CalibrationDataReader):
                def __init__(self):
                    self.batches = iter([{"images": (images[i:i + 8].transpose(0, 3, 1, 2) / 255.0)
                                         .astype(np.float32)} for i in range(0, len(images), 8)])

                def get_next(self):
                    return next(self.batches, None)

            quantize_static(str(pre), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, reduce_range=reduce)
        atomic_write_bytes(dst, out.read_bytes())


def _first_available(engines) -> str:
    for e in engines:
        if engine_available(e):
            return e
    return "torch"


def engine_available(engine: str) -> bool:
    """Whether ``engine``'s package is installed here."""
    import importlib.util

    need = {"onnx": "onnxruntime", "onnx-int8": "onnxruntime", "onnx-int8-static": "onnxruntime",
            "openvino": "openvino", "openvino-bf16": "openvino"}.get(engine)
    return need is None or importlib.util.find_spec(need) is not None


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else ``platform.processor()``."""
    import platform

    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def images_per_second(extractor: "FeatureExtractor", images: np.ndarray, engine: str, repeats: int = 2) -> float:
    """Best of ``repeats`` timed passes of ``images`` (uint8 N×S×S×3) through ``engine``, after a warm-up
    pass of the same shape.

    Args:
        extractor: the feature extractor to time.
        images: the batch to time, uint8 (N, S, S, 3).
        engine: the engine to run it on.
        repeats: timed passes; the best counts.

    Returns:
        Images per second of the best pass.
    """
    import time

    # The warm-up has the timed batch's shape: OpenVINO specialises a dynamic-shape model to each new input
    # shape on first use, and ONNX Runtime grows its memory arena, both inside the first call of a shape. A
    # warm-up on 2 images left that cost in the one timed pass of 4, and on an AVX512_BF16 EPYC auto chose
    # PyTorch for MobileNetV2 (72 images/s against 47 for ORT at batch 4) although PyTorch runs it at 32
    # images/s at batch 32 and ORT / OpenVINO at 113 / 102 (docs/performance.md).
    extractor.from_arrays(images, engine)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        extractor.from_arrays(images, engine)
        best = min(best, time.perf_counter() - t)
    return len(images) / best


def engine_choice_path(extractor: "FeatureExtractor", candidates=AUTO_CANDIDATES) -> Path:
    """Where :func:`choose_engine` remembers its choice for this backbone, CPU, thread count and set of
    installed candidates.

    Args:
        extractor: the feature extractor whose backbone the choice is for.
        candidates: the engines auto may choose among (installed ones count).

    Returns:
        The path of the JSON record under ``cache_root()/engines/``.
    """
    avail = [e for e in candidates if engine_available(e)]
    name = hashlib.sha1(f"{CHOICE_VERSION}|{cpu_name()}|{os.cpu_count()}|{torch.get_num_threads()}|"
                        f"{','.join(avail)}|{extractor.key}".encode()).hexdigest()[:16]
    return cache_root() / "engines" / f"{name}.json"


def choose_engine(extractor: "FeatureExtractor", candidates=AUTO_CANDIDATES, n: int = 16,
                  repeats: int = 2) -> str:
    """The fastest of ``candidates`` (installed ones) for this backbone on this machine, measured once on
    ``n`` calibration images and remembered in ``cache_root()/engines/`` with the figures and the CPU.

    Args:
        extractor: the feature extractor (one backbone) to choose for.
        candidates: the engines it may choose among (those installed count).
        n: images per timed batch.
        repeats: timed passes per engine, after a warm-up of the same shape; the best counts.

    Returns:
        The chosen engine's name.
    """
    import json

    avail = [e for e in candidates if engine_available(e)]
    if len(avail) <= 1:
        return avail[0] if avail else "torch"
    threads = torch.get_num_threads()
    path = engine_choice_path(extractor, candidates)
    try:
        choice = json.loads(path.read_text())["engine"]
        if choice in avail:
            return choice
    except (OSError, ValueError, KeyError, TypeError):
        pass
    images = calibration_images(extractor.input_size, n)
    rates = {}
    for e in avail:
        try:
            rates[e] = images_per_second(extractor, images, e, repeats=repeats)
        except Exception:  # noqa: BLE001 — an engine that fails here is simply not chosen
            rates[e] = 0.0
    best = max(rates, key=rates.get)
    atomic_write_bytes(path, (json.dumps({"engine": best, "images_per_s": rates, "cpu": cpu_name(),
                                          "threads": threads, "load": os.getloadavg()[0], "batch": n,
                                          "repeats": repeats, "backbone": extractor.key}, indent=2) + "\n").encode())
    return best


def _npy_bytes(a: np.ndarray) -> bytes:
    import io

    b = io.BytesIO()
    np.save(b, a)
    return b.getvalue()
