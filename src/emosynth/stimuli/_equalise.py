"""SHINE-style equalisation of a stimulus set (Willenbockel et al. 2010, the SHINE toolbox).

Both work on the luma Y' (BT.601, Pillow's ``YCbCr``) and keep each image's chroma (Cb, Cr):

``histogram``  exact histogram specification (SHINE ``histMatch``): every image's luma histogram becomes
               the set's average histogram. Pixels are ranked by luma (ties broken by a seeded jitter),
               and the k-th darkest pixel takes the k-th value of the target distribution.
``spectrum``   amplitude-spectrum matching (SHINE ``specMatch``): every image is centre-cropped to a
               square and resized to a common side, and its luma's Fourier amplitude replaced by the
               set's mean amplitude, its phase kept; values are clipped to the 0–1 range.

After either, mean luminance and RMS contrast (histogram) or the spectral slope and luminance
(spectrum) no longer differ between images beyond rounding and clipping; the emotion the images
convey may change too, which is why the predictor re-scores them.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from ..errors import ConfigError

METHODS = ("histogram", "spectrum")
SPECTRUM_MAX_SIDE = 512


def _split(rgb: np.ndarray):
    ycc = np.asarray(Image.fromarray(rgb, "RGB").convert("YCbCr"), dtype=np.float64)
    return ycc[..., 0] / 255.0, ycc[..., 1:]


def _merge(y: np.ndarray, chroma: np.ndarray) -> np.ndarray:
    ycc = np.concatenate([np.clip(y * 255.0, 0, 255)[..., None], chroma], axis=2)
    ycc = np.clip(np.rint(ycc), 0, 255).astype(np.uint8)
    return np.asarray(Image.fromarray(ycc, "YCbCr").convert("RGB"), dtype=np.uint8)


def equalise_histograms(images: list[np.ndarray], seed: int = 0) -> list[np.ndarray]:
    """Every image's 256-level luma histogram set to the average (normalised) histogram of all.

    Chroma (Cb, Cr) is kept; ties in luma are broken by a seeded jitter.

    Args:
        images: RGB images, uint8 arrays (H, W, 3); sizes may differ.
        seed: Seed of the tie-breaking jitter.

    Returns:
        The equalised images, uint8 arrays (H, W, 3) of the input sizes.
    """
    rng = np.random.default_rng(seed)
    parts = [_split(im) for im in images]
    levels = np.arange(256)
    hist = np.zeros(256)
    for y, _ in parts:
        q = np.clip(np.rint(y * 255), 0, 255).astype(np.int64)
        hist += np.bincount(q.ravel(), minlength=256) / q.size
    target_cdf = np.cumsum(hist / hist.sum())
    out = []
    for y, chroma in parts:
        n = y.size
        # the target distribution as n sorted values: level L for ranks in [cdf(L-1)·n, cdf(L)·n)
        bounds = np.rint(target_cdf * n).astype(np.int64)
        counts = np.diff(np.concatenate([[0], bounds]))
        values = np.repeat(levels, counts)[:n]
        if len(values) < n:
            values = np.concatenate([values, np.full(n - len(values), 255)])
        order = np.lexsort((rng.random(n), y.ravel()))  # by luma, ties at random
        new = np.empty(n)
        new[order] = values / 255.0
        out.append(_merge(new.reshape(y.shape), chroma))
    return out


def _square(rgb: np.ndarray, side: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    im = Image.fromarray(rgb[top:top + s, left:left + s])
    if s != side:
        im = im.resize((side, side), Image.BICUBIC)
    return np.asarray(im, dtype=np.uint8)


def equalise_spectra(images: list[np.ndarray]) -> list[np.ndarray]:
    """Every image centre-cropped square at the smallest side of the set (≤ 512 px) and given the set's
    mean luma amplitude spectrum, phase kept.

    Chroma (Cb, Cr) is kept; luma is clipped to the 0–1 range after the inverse transform.

    Args:
        images: RGB images, uint8 arrays (H, W, 3); sizes may differ.

    Returns:
        The equalised images, uint8 arrays (S, S, 3), S the smallest side in the set (at most 512).
    """
    side = min(SPECTRUM_MAX_SIDE, min(min(im.shape[:2]) for im in images))
    sq = [_square(im, side) for im in images]
    parts = [_split(im) for im in sq]
    spectra = [np.fft.fft2(y) for y, _ in parts]
    amp = np.mean([np.abs(s) for s in spectra], axis=0)
    out = []
    for (y, chroma), s in zip(parts, spectra):
        new = np.real(np.fft.ifft2(amp * np.exp(1j * np.angle(s))))
        out.append(_merge(np.clip(new, 0.0, 1.0), chroma))
    return out


def equalise(images: list[np.ndarray], method: str, seed: int = 0) -> list[np.ndarray]:
    """Equalise a stimulus set SHINE-style: ``histogram`` (luma histograms) or ``spectrum`` (amplitude spectra).

    Args:
        images: RGB images, uint8 arrays (H, W, 3).
        method: ``"histogram"`` (``equalise_histograms``) or ``"spectrum"`` (``equalise_spectra``).
        seed: Seed of the histogram method's tie-breaking jitter (unused by ``spectrum``).

    Returns:
        The equalised images, uint8 arrays (H, W, 3); ``spectrum`` crops them to a common square.

    Raises:
        ConfigError: For an unknown method.
    """
    if method == "histogram":
        return equalise_histograms(images, seed)
    if method == "spectrum":
        return equalise_spectra(images)
    raise ConfigError("equalise", f"must be one of {', '.join(METHODS)}, got {method!r}")
