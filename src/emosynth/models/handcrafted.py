"""Handcrafted, interpretable image features for emotion: colour, texture and composition.

These follow the tradition of Machajdik & Hanbury (2010, "Affective image classification using
features inspired by psychology and art theory") and Valdez & Mehrabian (1994, "Effects of color
on emotions"). They serve two purposes:

* a baseline "backbone" named ``handcrafted`` (a fixed-length vector per image), and
* describing images in words, e.g. "the generated *sad* images are darker and less saturated".

So every feature has a NAME and a one-line DESCRIPTION (``FEATURES``) in plain terms with its
units and range. The three groups are:

``colour_*``
    Hue, saturation and brightness in the HSV colour model (hue is the colour's position on the
    colour wheel, saturation its purity — 0 for grey, 1 for a pure colour — and brightness, HSV
    "value", is 0 for black and 1 for the brightest possible colour). Hue is an angle, so it is
    summarised with circular statistics (sine and cosine of the mean angle, and a spread) and a
    12-bin hue histogram; hue statistics count only clearly coloured pixels, weighted by how
    saturated they are. Also the Valdez & Mehrabian emotion predictions from brightness and
    saturation, and Hasler & Süsstrunk (2003) colourfulness.
``texture_*``
    Grey-level co-occurrence matrix (GLCM) statistics (Haralick et al. 1973), the share of edge
    pixels, the amount of fine detail, and the variety of grey tones.
``composition_*``
    Where the visually salient content lies (centre third vs. the rule-of-thirds points),
    left-right mirror symmetry, the number of distinct tonal regions ("level of detail") and a
    shallow depth-of-field indicator (sharp centre, soft surroundings).

Everything is computed with numpy/scipy/Pillow (no scikit-image needed at run time; the GLCM
statistics match ``skimage.feature.graycomatrix``/``graycoprops``). About 20 ms per image on one
core; ``features_batch(..., workers=N)`` spreads a large batch over N processes.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

# Every image is resized (bicubic, aspect ratio kept) so that its LONGEST side is WORK_SIZE px,
# small images are enlarged too. Several features depend on the pixel scale: edge density and fine
# detail (Sobel/Laplacian act on neighbouring pixels), the GLCM at a distance of one pixel, and the
# region count. Fixing the scale makes these comparable between a 4000-px photo and a 256-px
# generated image (the same picture at the same "viewing size" gives the same numbers), and it
# bounds the cost (a 256-px image takes ~20 ms). 256 px keeps mid-scale texture while discarding
# camera noise and JPEG artefacts that a full-resolution analysis would pick up.
#: Bump when any feature's definition changes: it keys the feature cache.
VERSION = "1"
WORK_SIZE = 256

_GLCM_LEVELS = 32  # grey levels for the co-occurrence matrix (256 / 8)
_SALIENCY_SIZE = 64  # longest side of the image the spectral-residual saliency works on
_SALIENCY_SIGMA = 3.0  # Gaussian blur of the saliency map, px at _SALIENCY_SIZE
_EDGE_THRESHOLD = 0.1  # Sobel gradient (grey 0-1 per px) above which a pixel counts as an edge
_GREY_SATURATION = 0.1  # below this saturation a pixel counts as near-grey ...
_GREY_BRIGHTNESS = 0.1  # ... and below this brightness as near-black (no perceptible hue)
_REGION_LEVELS = 8  # grey levels for the tonal-region count
_REGION_MIN_SHARE = 0.001  # a region's interior must cover at least 0.1 % of the image

# 12 hue bins of 30 degrees each, CENTRED on the named hue (red = 345-15 degrees, orange = 15-45...)
_HUE_BINS = ("red", "orange", "yellow", "chartreuse", "green", "spring_green",
             "cyan", "azure", "blue", "violet", "magenta", "rose")
_HUE_CENTRES = {name: 30 * i for i, name in enumerate(_HUE_BINS)}
# Warm: rose, red, orange, yellow (hue 315-75 degrees). Cool: green to blue (105-255 degrees).
# The transitional hues yellow-green (chartreuse), violet and magenta count as neither.
_WARM_BINS = ("rose", "red", "orange", "yellow")
_COOL_BINS = ("green", "spring_green", "cyan", "azure", "blue")

FEATURES: list[tuple[str, str]] = [
    # ---- colour
    ("colour_hue_mean_sin", "sine of the circular mean hue of coloured pixels (saturation-weighted): "
                            "1 = yellow-green (90 deg), -1 = violet (270 deg), -1 to 1; 0 when no colour"),
    ("colour_hue_mean_cos", "cosine of the circular mean hue: 1 = red (0 deg), -1 = cyan (180 deg), "
                            "-1 to 1; 0 when no colour"),
    ("colour_hue_spread", "circular spread of hue, 1 - mean resultant length: 0 = one single hue, "
                          "1 = hues all around the wheel (or no colour), 0-1"),
    ("colour_saturation_mean", "mean HSV saturation (colour purity; 0 = grey, 1 = pure colour), 0-1"),
    ("colour_saturation_sd", "standard deviation of HSV saturation over pixels, 0-0.5"),
    ("colour_brightness_mean", "mean HSV value V (0 = black, 1 = brightest), 0-1"),
    ("colour_brightness_sd", "standard deviation of HSV value V over pixels (global contrast), 0-0.5"),
    ("colour_pleasure_vm", "Valdez & Mehrabian pleasure 0.69*brightness + 0.22*saturation "
                           "(image means), 0-0.91"),
    ("colour_arousal_vm", "Valdez & Mehrabian arousal -0.31*brightness + 0.60*saturation "
                          "(image means), -0.31-0.60"),
    ("colour_dominance_vm", "Valdez & Mehrabian dominance -0.76*brightness + 0.32*saturation "
                            "(image means), -0.76-0.32"),
    ("colour_colourfulness", "Hasler & Susstrunk colourfulness on 0-255 RGB: 0 = grey, ~15 slightly, "
                             "~59 quite, >109 extremely colourful"),
    ("colour_grey_share", "share of near-grey pixels (saturation < 0.1 or brightness < 0.1, i.e. no "
                          "visible hue), 0-1"),
    ("colour_warm_share", "share of the colour (saturation-weighted) in warm hues: rose, red, "
                          "orange, yellow (hue 315-75 deg), 0-1; 0 when no colour"),
    ("colour_cool_share", "share of the colour (saturation-weighted) in cool hues: green, cyan, "
                          "blue (hue 105-255 deg), 0-1; 0 when no colour"),
] + [
    (f"colour_hue_{name}", f"share of the colour (saturation-weighted) with hue "
                           f"{(_HUE_CENTRES[name] - 15) % 360}-{_HUE_CENTRES[name] + 15} deg "
                           f"({name.replace('_', ' ')}), 0-1; the 12 hue bins sum to 1 "
                           f"(all 0 when no colour)")
    for name in _HUE_BINS
] + [
    # ---- texture
    ("texture_glcm_contrast", "GLCM contrast: mean squared grey-level difference of neighbouring "
                              "pixels, 32 grey levels, 4 directions, 0 (flat) to 961"),
    ("texture_glcm_correlation", "GLCM correlation: how predictable a pixel's grey level is from its "
                                 "neighbour's, -1 to 1 (1 for smooth or flat images)"),
    ("texture_glcm_energy", "GLCM energy (sqrt of angular second moment): uniformity/orderliness of "
                            "texture, 0-1 (1 = flat)"),
    ("texture_glcm_homogeneity", "GLCM homogeneity: closeness of neighbouring grey levels, "
                                 "0-1 (1 = flat)"),
    ("texture_edge_density", "share of pixels on an edge (Sobel gradient > 0.1 of full grey range "
                             "per px), 0-1"),
    ("texture_fine_detail", "mean absolute Laplacian of grey (0-1 scale): amount of fine, "
                            "pixel-scale detail and sharpness, 0 (flat/blurred) upwards, ~0.02-0.1 "
                            "for photos"),
    ("texture_grey_entropy", "Shannon entropy of the grey-level histogram: variety of tones, "
                             "0 (one tone) to 8 bits (all 256 tones equally)"),
    # ---- composition
    ("composition_saliency_centre", "share of spectral-residual saliency in the central cell of a "
                                    "3x3 grid, 0-1 (uniform = 0.111)"),
    ("composition_saliency_thirds", "share of spectral-residual saliency near the four rule-of-thirds "
                                    "intersections (boxes of 1/6 x 1/6 of the image), 0-1 "
                                    "(uniform = 0.111)"),
    ("composition_symmetry", "left-right mirror symmetry: 1 = perfect mirror image, 0 = the two sides "
                             "no more alike than random pixel pairs, down to -1 = opposite sides"),
    ("composition_regions", "level of detail: number of tonal regions (8 grey bands after a light "
                            "blur; each at least 5 px thick and 0.1% of the image), 1 upwards"),
    ("composition_dof_centre", "low depth-of-field indicator: share of fine detail (|Laplacian|) in "
                               "the central half-by-half box, 0-1 (uniform = 0.25, high = sharp "
                               "centre on a soft background)"),
]
FEATURE_NAMES: list[str] = [n for n, _ in FEATURES]


# ------------------------------------------------------------------------------------ input


def _to_rgb(image) -> np.ndarray:
    """uint8 RGB (H, W, 3) array from a PIL image, a uint8 array or an image file path.

    Files are read, and PIL images of any mode decoded, by ``emosynth.imageio`` (transparency
    composited over white, 16-bit and float grey scaled by their range); grey images become three
    equal channels.
    """
    from ..imageio import read_image, to_rgb

    if isinstance(image, (str, Path)):
        image = read_image(image)
    if isinstance(image, Image.Image):
        return np.asarray(to_rgb(image), dtype=np.uint8)
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise TypeError(
            f"handcrafted features need a uint8 image (0-255), got dtype {arr.dtype}; convert a "
            "float image in 0-1 with (np.clip(x, 0, 1) * 255).round().astype(np.uint8)")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    elif arr.ndim == 3 and arr.shape[2] == 4:
        alpha = arr[:, :, 3:4].astype(np.float64) / 255.0
        arr = np.rint(arr[:, :, :3] * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
    elif not (arr.ndim == 3 and arr.shape[2] == 3):
        raise ValueError(f"expected an image of shape (H, W, 3), (H, W, 4) or (H, W), got {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"empty image of shape {arr.shape}")
    return np.ascontiguousarray(arr)


def _work_image(rgb: np.ndarray) -> np.ndarray:
    """Resize (bicubic) so the longest side is WORK_SIZE. Bicubic resampling keeps a mirror-symmetric
    image exactly mirror-symmetric (the box filter does not)."""
    h, w = rgb.shape[:2]
    scale = WORK_SIZE / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    if size == (w, h):
        return rgb
    return np.asarray(Image.fromarray(rgb).resize(size, Image.BICUBIC), dtype=np.uint8)


# ------------------------------------------------------------------------------------ colour


def _hsv(rgb: np.ndarray):
    """HSV of uint8 RGB: hue in degrees [0, 360), saturation and value in [0, 1]."""
    r, g, b = (rgb[:, :, k].astype(np.int16) for k in range(3))
    mx = np.maximum(np.maximum(r, g), b)
    mn = np.minimum(np.minimum(r, g), b)
    c = (mx - mn).astype(np.float64)
    v = mx / 255.0
    s = np.divide(c, mx, out=np.zeros_like(c), where=mx > 0)
    safe = np.where(c > 0, c, 1.0)
    h = np.where(mx == r, np.mod((g - b) / safe, 6.0),
                 np.where(mx == g, (b - r) / safe + 2.0, (r - g) / safe + 4.0))
    h = np.where(c > 0, h * 60.0, 0.0)
    return h, s, v


def _colour_features(rgb: np.ndarray) -> list[float]:
    hue, sat, val = _hsv(rgb)
    s_mean, s_sd = float(sat.mean()), float(sat.std())
    v_mean, v_sd = float(val.mean()), float(val.std())

    grey = (sat < _GREY_SATURATION) | (val < _GREY_BRIGHTNESS)
    weight = np.where(grey, 0.0, sat)  # hue statistics: coloured pixels, weighted by saturation
    total = float(weight.sum())
    if total > 0:
        rad = np.deg2rad(hue)
        cx = float((weight * np.cos(rad)).sum()) / total
        cy = float((weight * np.sin(rad)).sum()) / total
        length = math.hypot(cx, cy)
        if length > 1e-12:
            hue_sin, hue_cos = cy / length, cx / length
        else:
            hue_sin = hue_cos = 0.0
        spread = 1.0 - min(length, 1.0)
        idx = np.floor((hue + 15.0) / 30.0).astype(np.int64) % 12
        hist = np.bincount(idx.ravel(), weights=weight.ravel(), minlength=12) / total
    else:
        hue_sin = hue_cos = 0.0
        spread = 1.0
        hist = np.zeros(12)
    warm = float(sum(hist[_HUE_BINS.index(n)] for n in _WARM_BINS))
    cool = float(sum(hist[_HUE_BINS.index(n)] for n in _COOL_BINS))

    f = rgb.astype(np.float64)
    rg = f[:, :, 0] - f[:, :, 1]
    yb = 0.5 * (f[:, :, 0] + f[:, :, 1]) - f[:, :, 2]
    colourfulness = math.hypot(rg.std(), yb.std()) + 0.3 * math.hypot(rg.mean(), yb.mean())

    return [
        hue_sin, hue_cos, spread, s_mean, s_sd, v_mean, v_sd,
        0.69 * v_mean + 0.22 * s_mean,  # pleasure
        -0.31 * v_mean + 0.60 * s_mean,  # arousal
        -0.76 * v_mean + 0.32 * s_mean,  # dominance
        colourfulness, float(grey.mean()), warm, cool,
        *map(float, hist),
    ]


# ------------------------------------------------------------------------------------ texture


def _glcm_features(q: np.ndarray, levels: int) -> list[float]:
    """Contrast, correlation, energy and homogeneity of the symmetric, normalised GLCM at distance 1,
    averaged over 0, 45, 90 and 135 degrees (as skimage's graycomatrix(..., symmetric=True,
    normed=True) + graycoprops). Directions without any pixel pair (a one-row image) are skipped."""
    h, w = q.shape
    i, j = np.meshgrid(np.arange(levels), np.arange(levels), indexing="ij")
    stats = []
    # (row offset, col offset) for 0, 45, 90, 135 degrees, as in skimage
    for dr, dc in ((0, 1), (-1, 1), (-1, 0), (-1, -1)):
        r0, r1 = max(0, -dr), h - max(0, dr)
        c0, c1 = max(0, -dc), w - max(0, dc)
        if r1 <= r0 or c1 <= c0:
            continue
        a = q[r0:r1, c0:c1]
        b = q[r0 + dr:r1 + dr, c0 + dc:c1 + dc]
        m = np.bincount((a * levels + b).ravel(), minlength=levels * levels).reshape(levels, levels)
        m = (m + m.T).astype(np.float64)
        p = m / m.sum()
        contrast = float((p * (i - j) ** 2).sum())
        homogeneity = float((p / (1.0 + (i - j) ** 2)).sum())
        energy = math.sqrt(float((p ** 2).sum()))
        mu = float((p * i).sum())  # symmetric: same mean and sd for rows and columns
        var = float((p * (i - mu) ** 2).sum())
        if var < 1e-15:
            correlation = 1.0  # flat image: skimage's convention
        else:
            correlation = float((p * (i - mu) * (j - mu)).sum()) / var
        stats.append((contrast, correlation, energy, homogeneity))
    if not stats:  # a single pixel
        return [0.0, 1.0, 1.0, 1.0]
    return [float(x) for x in np.mean(stats, axis=0)]


def _interval_weights(n: int, lo: float, hi: float) -> np.ndarray:
    """How much of each pixel [k, k+1) lies inside [lo, hi) (fractional at the borders)."""
    k = np.arange(n, dtype=np.float64)
    return np.clip(np.minimum(k + 1, hi) - np.maximum(k, lo), 0.0, 1.0)


def _box_share(m: np.ndarray, wr: np.ndarray, wc: np.ndarray, uniform: float) -> float:
    total = float(m.sum())
    if not np.isfinite(total) or total <= 1e-12:
        return uniform
    return float(wr @ m @ wc) / total


def _saliency(grey255: np.ndarray) -> np.ndarray | None:
    """Spectral-residual saliency (Hou & Zhang 2007) at longest side _SALIENCY_SIZE; None when flat."""
    h, w = grey255.shape
    scale = _SALIENCY_SIZE / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = np.asarray(Image.fromarray(grey255.astype(np.float32)).resize(size, Image.BILINEAR),
                       dtype=np.float64) / 255.0
    if float(small.max() - small.min()) < 1e-6:
        return None
    # The mean (DC term) is removed first: on a plain background it would otherwise dominate the
    # residual and turn the map into a constant.
    spec = np.fft.fft2(small - small.mean())
    amp = np.abs(spec)
    log_amp = np.log(amp + 1e-6 * amp.max())
    residual = log_amp - ndimage.uniform_filter(log_amp, size=3, mode="wrap")
    sal = np.abs(np.fft.ifft2(np.exp(residual + 1j * np.angle(spec)))) ** 2
    return ndimage.gaussian_filter(sal, _SALIENCY_SIGMA, mode="reflect")


def _region_count(grey01: np.ndarray) -> float:
    """Number of tonal regions: after a light blur (Gaussian, sigma 1 px) the grey image is cut into
    _REGION_LEVELS equal grey bands; a region is a connected patch of one band that is at least 5 px
    thick (its 5x5-interior is non-empty, so the thin transition strips along edges do not count) and
    whose interior covers at least _REGION_MIN_SHARE of the image (so specks of noise do not count)."""
    smooth = ndimage.gaussian_filter(grey01, 1.0, mode="nearest")
    q = np.minimum((smooth * _REGION_LEVELS).astype(np.int8), _REGION_LEVELS - 1)
    # interior pixels: the whole 5x5 neighbourhood is in the same band. Interiors of different bands
    # can never touch, so one labelling separates all regions.
    interior = ndimage.minimum_filter(q, size=5, mode="nearest") == ndimage.maximum_filter(q, size=5, mode="nearest")
    labels, n = ndimage.label(interior)
    if n == 0:
        return 1.0
    sizes = np.bincount(labels.ravel())[1:]
    return float(max(int((sizes >= max(1.0, _REGION_MIN_SHARE * q.size)).sum()), 1))


def _texture_and_composition(rgb: np.ndarray) -> list[float]:
    f = rgb.astype(np.float64)
    grey255 = 0.299 * f[:, :, 0] + 0.587 * f[:, :, 1] + 0.114 * f[:, :, 2]  # ITU-R BT.601 luma
    grey = grey255 / 255.0
    h, w = grey.shape

    q = np.minimum((grey255 * (_GLCM_LEVELS / 256.0)).astype(np.int64), _GLCM_LEVELS - 1)
    glcm = _glcm_features(q, _GLCM_LEVELS)

    # Sobel gradient, scaled so that a step of height d (grey 0-1) gives a magnitude of d
    gx = ndimage.sobel(grey, axis=1, mode="nearest") / 4.0
    gy = ndimage.sobel(grey, axis=0, mode="nearest") / 4.0
    edge_density = float((np.hypot(gx, gy) > _EDGE_THRESHOLD).mean())

    lap = np.abs(ndimage.laplace(grey, mode="nearest"))
    fine_detail = float(lap.mean())

    tones = np.bincount(np.clip(np.rint(grey255), 0, 255).astype(np.int64).ravel(), minlength=256)
    p = tones[tones > 0] / grey.size
    entropy = float(-(p * np.log2(p)).sum()) + 0.0  # + 0.0: no -0.0

    # rule of thirds on the saliency map
    sal = _saliency(grey255)
    if sal is None:
        centre, thirds = 1.0 / 9.0, 1.0 / 9.0
    else:
        sh, sw = sal.shape
        centre = _box_share(sal, _interval_weights(sh, sh / 3, 2 * sh / 3),
                            _interval_weights(sw, sw / 3, 2 * sw / 3), 1.0 / 9.0)
        wr = _interval_weights(sh, sh / 4, 5 * sh / 12) + _interval_weights(sh, 7 * sh / 12, 3 * sh / 4)
        wc = _interval_weights(sw, sw / 4, 5 * sw / 12) + _interval_weights(sw, 7 * sw / 12, 3 * sw / 4)
        thirds = _box_share(sal, wr, wc, 1.0 / 9.0)

    # mirror symmetry, normalised by the Gini mean difference (mean |difference| of random pixel pairs)
    mad = float(np.abs(rgb.astype(np.int16) - rgb[:, ::-1].astype(np.int16)).mean())
    levels = np.arange(256, dtype=np.float64)
    dist = np.abs(levels[:, None] - levels[None, :])
    gmd = 0.0
    for k in range(3):
        pk = np.bincount(rgb[:, :, k].ravel(), minlength=256) / (h * w)
        gmd += float(pk @ dist @ pk) / 3.0
    symmetry = 1.0 if gmd <= 0 else 1.0 - mad / gmd

    regions = _region_count(grey)
    dof = _box_share(lap, _interval_weights(h, h / 4, 3 * h / 4), _interval_weights(w, w / 4, 3 * w / 4), 0.25)

    return [*glcm, edge_density, fine_detail, entropy, centre, thirds, symmetry, regions, dof]


# ------------------------------------------------------------------------------------ API


def features(image) -> np.ndarray:
    """The handcrafted feature vector of one image, in the order of ``FEATURE_NAMES``.

    ``image``: a uint8 RGB array (H, W, 3) — grey (H, W) and RGBA (H, W, 4) arrays are accepted
    too — a PIL image of any mode, or an image file path. Returns float64, all finite.
    """
    rgb = _work_image(_to_rgb(image))
    vec = np.array(_colour_features(rgb) + _texture_and_composition(rgb), dtype=np.float64)
    assert vec.shape == (len(FEATURE_NAMES),)
    if not np.all(np.isfinite(vec)):  # defensive: every branch above guards its divisions
        bad = [n for n, x in zip(FEATURE_NAMES, vec) if not np.isfinite(x)]
        raise FloatingPointError(f"non-finite handcrafted features: {bad}")
    return vec


def features_batch(images, workers: int = 1) -> np.ndarray:
    """Features of many images as an (N, D) float64 array.

    ``workers > 1`` spreads the images over a pool of threads: the heavy steps (Pillow resizing,
    NumPy and SciPy array code) release the GIL, so two threads run about 1.7× faster on two
    cores, and — unlike processes — threads work from any caller (scripts, notebooks, stdin).
    Results are identical to the serial ones.
    """
    images = list(images)
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if not images:
        return np.zeros((0, len(FEATURE_NAMES)), dtype=np.float64)
    workers = min(workers, len(images))
    if workers == 1:
        rows = [features(im) for im in images]
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            rows = list(pool.map(features, images))
    return np.stack(rows).astype(np.float64, copy=False)
