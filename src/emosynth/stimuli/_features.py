"""Low-level image features a stimulus set is balanced on.

Six named features a reviewer asks about first, each computed on the image resized (bicubic, aspect
kept) so that its longest side is ``WORK_SIZE`` px — the scale ``emosynth.models.handcrafted`` works
at, so a 4000-px photo and a 256-px synthesised image are measured alike:

``luminance``      mean luma Y' = 0.299 R + 0.587 G + 0.114 B of the sRGB values (ITU-R BT.601, the
                   grey SHINE's toolbox and Pillow's ``L``/``YCbCr`` use), 0 (black) – 1 (white)
``contrast``       RMS contrast: the standard deviation of that luma over pixels (Peli 1990), 0 – 0.5
``colourfulness``  Hasler & Süsstrunk (2003) colourfulness on 0–255 RGB: 0 grey, ~15 slightly,
                   ~59 quite, > 109 extremely colourful
``saturation``     mean HSV saturation, 0 (grey) – 1 (pure colours)
``slope``          slope α of the rotationally averaged amplitude spectrum of the luma, A(f) ∝ f^α,
                   fitted by least squares in log–log between 4 and 64 cycles per image (Hann window,
                   mean removed); natural photographs lie near −1 to −1.5, noise near 0, blur below −2
``edge_density``   share of pixels on an edge (Sobel gradient > 0.1 of the grey range per px), as
                   ``texture_edge_density`` of the handcrafted features

Any of the handcrafted features (``emosynth.models.handcrafted.FEATURE_NAMES``, e.g.
``colour_warm_share``) can be named as well; ``colorfulness`` and ``rms_contrast`` are accepted spellings.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image
from scipy import ndimage

from ..errors import ConfigError
from ..models import handcrafted

WORK_SIZE = handcrafted.WORK_SIZE
_SLOPE_BAND = (4.0, 64.0)  # cycles per image (at WORK_SIZE), the band the spectral slope is fitted in
_EDGE_THRESHOLD = 0.1

#: the named stimulus features: name → (short label for tables, description with units)
STIMULUS_FEATURES: dict[str, tuple[str, str]] = {
    "luminance": ("mean luminance", "mean luma Y' (BT.601) of the sRGB image, 0-1"),
    "contrast": ("RMS contrast", "standard deviation of luma over pixels, 0-0.5"),
    "colourfulness": ("colourfulness", "Hasler & Suesstrunk colourfulness, 0-255 RGB units"),
    "saturation": ("saturation", "mean HSV saturation, 0-1"),
    "slope": ("spectral slope", "slope of the log amplitude spectrum over log spatial frequency, "
                                "4-64 cycles/image"),
    "edge_density": ("edge density", "share of pixels with Sobel gradient > 0.1, 0-1"),
}
ALIASES = {"colorfulness": "colourfulness", "rms_contrast": "contrast", "edges": "edge_density",
           "spectral_slope": "slope", "brightness": "luminance"}


def feature_names() -> list[str]:
    """Every name ``--balance`` accepts: the six stimulus features, then the handcrafted ones.

    Returns:
        The canonical feature names.
    """
    return list(STIMULUS_FEATURES) + [n for n in handcrafted.FEATURE_NAMES if n not in STIMULUS_FEATURES]


def resolve_features(names) -> list[str]:
    """Canonical feature names, in order, duplicates dropped; an unknown one is a ``ConfigError``.

    Args:
        names: Feature names (case-insensitive, '-' for '_', aliases such as ``colorfulness`` or
            ``rms_contrast`` accepted; empty ones skipped).

    Returns:
        The canonical names (see ``feature_names``).

    Raises:
        ConfigError: For an unknown name, or when no name is left.
    """
    known = set(feature_names())
    out: list[str] = []
    for raw in names:
        name = str(raw).strip().lower().replace("-", "_")
        if not name:
            continue
        name = ALIASES.get(name, name)
        if name not in known:
            raise ConfigError("balance", f"names an unknown feature {raw!r}; choose from "
                              f"{', '.join(STIMULUS_FEATURES)} or a handcrafted feature such as "
                              "colour_warm_share (emosynth backbones lists them)")
        if name not in out:
            out.append(name)
    if not out:
        raise ConfigError("balance", "needs at least one feature, e.g. luminance,contrast")
    return out


def describe(name: str) -> tuple[str, str]:
    """(label, description) of a feature name."""
    if name in STIMULUS_FEATURES:
        return STIMULUS_FEATURES[name]
    desc = dict(handcrafted.FEATURES).get(name, "")
    return name.replace("_", " "), desc


def work_image(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB resized (bicubic) so its longest side is WORK_SIZE."""
    h, w = rgb.shape[:2]
    scale = WORK_SIZE / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    if size == (w, h):
        return rgb
    return np.asarray(Image.fromarray(rgb).resize(size, Image.BICUBIC), dtype=np.uint8)


def luma(rgb: np.ndarray) -> np.ndarray:
    """BT.601 luma of uint8 RGB, 0-1 (float32)."""
    c = np.moveaxis(np.asarray(rgb), 2, 0).astype(np.float32)
    return (np.float32(0.299 / 255) * c[0] + np.float32(0.587 / 255) * c[1] + np.float32(0.114 / 255) * c[2])


def spectral_slope(grey: np.ndarray) -> float:
    """Slope of log amplitude over log radial frequency (cycles/image of the longest side).

    Fitted by least squares over the rotationally averaged amplitude spectrum (Hann window, mean
    removed) between 4 and 64 cycles per image (at most a quarter of the longest side).

    Args:
        grey: A 2-D luma image (H, W), e.g. 0-1 floats.

    Returns:
        The slope α of A(f) ∝ f^α (natural photographs near −1 to −1.5); 0.0 for an image too small to fit.
    """
    from scipy import fft as sfft

    grey = np.asarray(grey, dtype=np.float32)
    h, w = grey.shape
    if min(h, w) < 8:
        return 0.0
    win = np.outer(np.hanning(h), np.hanning(w)).astype(np.float32)
    amp = np.abs(sfft.rfft2((grey - grey.mean()) * win, workers=1))
    fy = np.fft.fftfreq(h) * max(h, w)
    fx = np.fft.rfftfreq(w) * max(h, w)
    f = np.hypot(fy[:, None], fx[None, :])
    lo, hi = _SLOPE_BAND
    hi = min(hi, max(h, w) / 4)
    m = (f >= lo) & (f <= hi)
    if m.sum() < 8:
        return 0.0
    # rotational average in log-spaced bins, then a straight line through the bin means (the half-plane
    # of the real FFT holds every frequency once, up to the mirrored column 0, which counts as its own)
    edges = np.geomspace(lo, hi, 17)
    idx = np.digitize(f[m], edges) - 1
    sums = np.bincount(idx, weights=amp[m], minlength=len(edges))[:len(edges) - 1]
    counts = np.bincount(idx, minlength=len(edges))[:len(edges) - 1]
    ok = (counts > 0) & (sums > 0)
    if ok.sum() < 3:
        return 0.0
    centres = np.log(np.sqrt(edges[:-1] * edges[1:]))
    return float(np.polyfit(centres[ok], np.log(sums[ok] / counts[ok]), 1)[0])


def _stimulus_features(rgb: np.ndarray) -> dict[str, float]:
    c = np.moveaxis(np.asarray(rgb, dtype=np.uint8), 2, 0)
    r, g, b = (c[k].astype(np.float32) for k in range(3))
    y = (np.float32(0.299 / 255) * r + np.float32(0.587 / 255) * g + np.float32(0.114 / 255) * b)
    rg = r - g
    yb = 0.5 * (r + g) - b
    colourfulness = float(np.hypot(rg.std(dtype=np.float64), yb.std(dtype=np.float64))
                          + 0.3 * np.hypot(rg.mean(dtype=np.float64), yb.mean(dtype=np.float64)))
    mx = np.maximum(np.maximum(c[0], c[1]), c[2])
    mn = np.minimum(np.minimum(c[0], c[1]), c[2])
    mxf = mx.astype(np.float32)
    sat = np.divide(mxf - mn, mxf, out=np.zeros_like(mxf), where=mx > 0)
    gx = ndimage.sobel(y, axis=1, mode="nearest")
    gy = ndimage.sobel(y, axis=0, mode="nearest")
    # Sobel is 4x the gradient per px: |grad| > 0.1  <=>  gx² + gy² > (0.4)²
    edges = (gx * gx + gy * gy) > np.float32((4 * _EDGE_THRESHOLD) ** 2)
    return {"luminance": float(y.mean(dtype=np.float64)), "contrast": float(y.std(dtype=np.float64)),
            "colourfulness": colourfulness, "saturation": float(sat.mean(dtype=np.float64)),
            "slope": spectral_slope(y), "edge_density": float(edges.mean())}


def image_features(rgb: np.ndarray, names: list[str]) -> np.ndarray:
    """The named features (canonical names, ``resolve_features``) of one uint8 RGB image.

    The image is first resized (bicubic, aspect kept) so that its longest side is ``WORK_SIZE`` px.

    Args:
        rgb: The image, a uint8 array (H, W, 3).
        names: Canonical feature names.

    Returns:
        The features in the order of ``names``, a float64 array (len(names),), each in its own units
        (``STIMULUS_FEATURES``).
    """
    small = work_image(np.asarray(rgb, dtype=np.uint8))
    out = {}
    if any(n in STIMULUS_FEATURES for n in names):
        out.update(_stimulus_features(small))
    if any(n not in STIMULUS_FEATURES for n in names):
        out.update(zip(handcrafted.FEATURE_NAMES, handcrafted.features(small)))
    return np.array([out[n] for n in names], dtype=np.float64)


def features_of(images, names: list[str], read=None, workers: int = 2, progress=None) -> np.ndarray:
    """(n, len(names)) features of ``images``: uint8 RGB arrays, or anything ``read`` turns into one
    (e.g. a path and ``imageio.read_array``). Threads: the work is NumPy/SciPy code releasing the GIL.

    Args:
        images: The images: uint8 arrays (H, W, 3), or items ``read`` turns into one.
        names: Canonical feature names (``resolve_features``).
        read: A callable turning an item of ``images`` into a uint8 array (H, W, 3); None: the items are
            arrays already.
        workers: Threads to use (1 or fewer: none).
        progress: A callable called with 1 after each image, if given.

    Returns:
        The features, a float64 array (n images, len(names)).
    """
    items = list(images)

    def one(item):
        arr = read(item) if read is not None else item
        vec = image_features(arr, names)
        if progress is not None:
            progress(1)
        return vec

    if not items:
        return np.zeros((0, len(names)))
    if workers <= 1 or len(items) < 4:
        rows = [one(it) for it in items]
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            rows = list(pool.map(one, items))
    return np.stack(rows)
