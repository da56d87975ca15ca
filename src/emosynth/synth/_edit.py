"""Photo edits a retoucher recognises, as a bounded, differentiable, resolution-independent encoding.

An edit is a vector of parameter values in human units (``PARAMS``: exposure in EV, temperature in
kelvin, saturation as a factor, ...), each bounded to a documented range with a neutral value at
which its operation is the identity. Genes in [-1, 1] map onto the ranges (piecewise linear around
the neutral value; contrast on a log2 scale), so ``EditEncoding`` is an encoding like ``pixels`` and
``cppn``: the same genome edits the photo at the predictor's size while optimising and at the photo's
full resolution for export. Lengths (blur radii, grain size) are fractions of the photo's short
side and positions are normalised to the frame, so an edit looks the same at every size.

The pipeline, in order (one operation per row of ``OPERATIONS``):

1. ``white_balance`` (linear light): gains of the white point of a black body at 6500 K over one at
   6500 K + ``temperature_k`` (Kim et al. 2002's cubic approximation of the Planckian locus in CIE
   xy, converted to linear sRGB): +ΔK corrects for bluer light, i.e. warms; ``tint`` scales green by
   2^(−0.4·tint) (+ magenta, − green); the gains keep a grey's luminance.
2. ``exposure`` (linear light): × 2^``exposure_ev``.
3. ``light``: a smooth 3 × 3 field of exposure offsets (EV, rows top to bottom), interpolated with
   normalised Gaussian weights (σ = 0.35 of the half-frame) so it never overshoots its nodes.
4. ``vignette``: × 2^(``vignette_ev`` · r²), r = distance from the centre, 1 at the corners
   (elliptical: it follows the frame).
5. ``tone`` (sRGB, per channel): ``blacks`` b: x + b(1 − x)² (black level; − crushes, + fades),
   ``shadows`` s: x + s·x(1 − x)² (±0.148 at x = 1/3), ``highlights`` h: x + h·x²(1 − x) (±0.148
   at 2/3), ``contrast`` γ: x^γ / (x^γ + (1 − x)^γ) (slope γ at mid-grey). Each curve is monotone
   over its whole range.
6. ``colour`` (BT.601 YCbCr): per hue band (``hue_<band>_deg``, bands centred on the hue angles of
   the sRGB primaries and secondaries, von Mises weights κ = 3) a rotation of the chroma plane;
   ``saturation`` scales chroma; ``vibrance`` v scales chroma by 1 + v / (1 + (c / 0.2)²), so muted
   colours move most.
7. ``detail`` (luminance unsharp mask, Gaussian blur): ``clarity`` (σ = 4 % of the short side) and
   ``sharpen`` (σ = 0.6 %): Y + a·(Y − blur(Y)); −1 replaces Y by its blur (soft), + sharpens.
8. ``grain``: N(0, 1) values on a grid of 250 cells across the short side, from the recipe's seed,
   resampled onto the image (antialiased) and added × ``grain`` to every channel. ``grain`` is the
   noise's standard deviation; its sign only inverts the pattern (so the operation is smooth
   through its neutral value 0).

Values leave each stage clamped to [0, 1]. ``make_recipe`` / ``apply_recipe`` write and re-apply
the values as JSON (``RECIPE_FORMAT``, version ``RECIPE_VERSION``).
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import SynthError
from ._encodings import Encoding

RECIPE_FORMAT = "emosynth-edit-recipe"
RECIPE_VERSION = 1
#: grain cells across the photo's short side
GRAIN_CELLS = 250
#: unsharp-mask radii, as fractions of the short side
CLARITY_SIGMA = 0.04
SHARPEN_SIGMA = 0.006
HUE_BANDS = ("red", "yellow", "green", "cyan", "blue", "magenta")


@dataclass(frozen=True)
class Param:
    """One edit parameter: its operation, unit, range [lo, hi] and neutral (identity) value.

    Attributes:
        name: The parameter's name, e.g. ``"exposure_ev"``.
        op: The operation it belongs to, e.g. ``"exposure"`` (see ``OPERATIONS``).
        unit: Its unit in words (``"K"``, ``"EV"``, ``"°"``, ``"×"``, or ``""`` for unitless).
        lo: The lowest value (gene −1), in ``unit``.
        hi: The highest value (gene +1), in ``unit``.
        neutral: The value that leaves the photo unchanged (gene 0), in ``unit``.
        scale: ``"linear"`` or ``"log2"``: how genes map to values.
        doc: What the parameter does, in words.
    """

    name: str
    op: str
    unit: str
    lo: float
    hi: float
    neutral: float
    #: "linear": gene −1 → lo, 0 → neutral, +1 → hi, linear in between; "log2": neutral · (hi/neutral)^gene
    scale: str = "linear"
    doc: str = ""


def _params() -> tuple[Param, ...]:
    p = [Param("temperature_k", "white_balance", "K", -2000, 2000, 0, doc="white-balance shift from 6500 K; + warmer"),
         Param("tint", "white_balance", "", -1, 1, 0, doc="green gain × 2^(−0.4·tint); + magenta, − green"),
         Param("exposure_ev", "exposure", "EV", -1.5, 1.5, 0, doc="× 2^EV in linear light")]
    for r, row in enumerate(("top", "middle", "bottom")):
        for c, col in enumerate(("left", "centre", "right")):
            p.append(Param(f"light_{row}_{col}_ev", "light", "EV", -1, 1, 0,
                           doc=f"local exposure offset at the {row} {col} of a smooth 3 × 3 field"))
    p += [Param("vignette_ev", "vignette", "EV", -1.5, 1, 0, doc="exposure at the corners (× r²); − darkens"),
          Param("blacks", "tone", "", -0.15, 0.15, 0, doc="black level: x + b(1 − x)²; − crushed, + faded"),
          Param("shadows", "tone", "", -1, 1, 0, doc="x + s·x(1 − x)²"),
          Param("highlights", "tone", "", -1, 1, 0, doc="x + h·x²(1 − x)"),
          Param("contrast", "tone", "×", 0.5, 2.0, 1.0, scale="log2", doc="S-curve slope at mid-grey")]
    p += [Param(f"hue_{b}_deg", "colour", "°", -30, 30, 0, doc=f"hue rotation of the {b} band")
          for b in HUE_BANDS]
    p += [Param("saturation", "colour", "×", 0, 2, 1, doc="chroma factor"),
          Param("vibrance", "colour", "", -1, 1, 0, doc="chroma × (1 + v/(1 + (c/0.2)²)): muted colours most"),
          Param("clarity", "detail", "", -1, 1, 0, doc=f"unsharp amount at σ {CLARITY_SIGMA:.1%} of the short side"),
          Param("sharpen", "detail", "", -1, 1.5, 0, doc=f"unsharp amount at σ {SHARPEN_SIGMA:.1%}; −1 blurs"),
          Param("grain", "grain", "", -0.08, 0.08, 0,
                doc="noise standard deviation (0–1 units); the sign inverts the pattern")]
    return tuple(p)


PARAMS: tuple[Param, ...] = _params()
PARAM_INDEX = {p.name: i for i, p in enumerate(PARAMS)}
#: operation → its parameters, in the order they are applied
OPERATIONS: dict[str, tuple[str, ...]] = {}
for _p in PARAMS:
    OPERATIONS.setdefault(_p.op, ())
    OPERATIONS[_p.op] += (_p.name,)
NEUTRAL = np.array([p.neutral for p in PARAMS], dtype=np.float64)


def _consts(x: torch.Tensor, values) -> torch.Tensor:
    return torch.as_tensor(values, dtype=x.dtype, device=x.device)


def genes_to_values(genes: torch.Tensor) -> torch.Tensor:
    """Map genes to parameter values in human units (differentiable).

    Args:
        genes: Genes (N, P) in ``PARAMS`` order, clipped to [-1, 1].

    Returns:
        Parameter values (N, P) in each parameter's unit.
    """
    g = genes.clamp(-1, 1)
    lo, hi, mid = (_consts(g, [getattr(p, k) for p in PARAMS]) for k in ("lo", "hi", "neutral"))
    log = _consts(g, [p.scale == "log2" for p in PARAMS]).bool()
    linear = mid + torch.where(g < 0, g * (mid - lo), g * (hi - mid))
    # log2 parameters: neutral · (hi/neutral)^g (symmetric: lo = neutral² / hi)
    ratio = torch.where(log, hi / torch.where(log, mid, torch.ones_like(mid)), torch.full_like(mid, 2.0))
    logv = mid * ratio ** g
    return torch.where(log, logv, linear)


def values_to_genes(values: np.ndarray) -> np.ndarray:
    """The inverse of ``genes_to_values``.

    Args:
        values: Parameter values (N, P) in human units, within each parameter's range.

    Returns:
        Genes (N, P) in [-1, 1], float64.
    """
    v = np.asarray(values, dtype=np.float64)
    out = np.zeros_like(v)
    for i, p in enumerate(PARAMS):
        if p.scale == "log2":
            out[:, i] = np.log(v[:, i] / p.neutral) / np.log(p.hi / p.neutral)
        else:
            below = (v[:, i] - p.neutral) / (p.neutral - p.lo)
            above = (v[:, i] - p.neutral) / (p.hi - p.neutral)
            out[:, i] = np.where(v[:, i] < p.neutral, below, above)
    return np.clip(out, -1, 1)


# ---------------------------------------------------------------------------------- colour science

_SRGB_FROM_XYZ = ((3.2406, -1.5372, -0.4986), (-0.9689, 1.8758, 0.0415), (0.0557, -0.2040, 1.0570))
_LUMA709 = (0.2126, 0.7152, 0.0722)
_YCC = ((0.299, 0.587, 0.114), (-0.168736, -0.331264, 0.5), (0.5, -0.418688, -0.081312))


def _planck_rgb(t: torch.Tensor) -> torch.Tensor:
    """Linear-sRGB colour (N, 3), green = 1, of a black body at ``t`` kelvin (4000–25000 K), after
    Kim et al. (2002)'s cubic fits of the Planckian locus in CIE 1931 xy."""
    x = -3.0258469e9 / t ** 3 + 2.1070379e6 / t ** 2 + 0.2226347e3 / t + 0.240390
    y = 3.0817580 * x ** 3 - 5.87338670 * x ** 2 + 3.75112997 * x - 0.37001483
    xyz = torch.stack([x / y, torch.ones_like(x), (1 - x - y) / y], dim=-1)
    rgb = xyz @ _consts(t, _SRGB_FROM_XYZ).T
    return rgb / rgb[..., 1:2]


def _white_balance_gains(temperature_k: torch.Tensor, tint: torch.Tensor) -> torch.Tensor:
    """Per-channel linear gains (N, 3) that keep a grey's luminance."""
    ref = _planck_rgb(torch.full_like(temperature_k, 6500.0))
    gains = ref / _planck_rgb(6500.0 + temperature_k)
    gains = gains * torch.stack([torch.ones_like(tint), 2.0 ** (-0.4 * tint), torch.ones_like(tint)], dim=-1)
    return gains / (gains @ _consts(gains, _LUMA709))[:, None]


def _to_linear(x):
    return torch.where(x <= 0.04045, x / 12.92, ((x.clamp(min=0) + 0.055) / 1.055) ** 2.4)


def _to_srgb(x):
    return torch.where(x <= 0.0031308, 12.92 * x, 1.055 * x.clamp(min=0.0031308) ** (1 / 2.4) - 0.055)


def _ycc(x):
    return torch.einsum("ij,njhw->nihw", _consts(x, _YCC), x)


def _rgb(ycc):
    inv = torch.linalg.inv(torch.tensor(_YCC, dtype=torch.float64)).to(ycc.dtype)
    return torch.einsum("ij,njhw->nihw", inv, ycc)


def _band_angles() -> np.ndarray:
    """Hue angle (radians, atan2(Cr, Cb)) of red, yellow, green, cyan, blue and magenta."""
    rgb = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 1, 1], [0, 0, 1], [1, 0, 1]], dtype=np.float64)
    ycc = rgb @ np.array(_YCC).T
    return np.arctan2(ycc[:, 2], ycc[:, 1])


_BAND_ANGLES = _band_angles()


# ------------------------------------------------------------------------------------- geometry

def _coords(h: int, w: int, like: torch.Tensor):
    """Normalised pixel-centre coordinates v (h,), u (w,) in [-1, 1]."""
    v = (torch.arange(h, dtype=like.dtype, device=like.device) + 0.5) / h * 2 - 1
    u = (torch.arange(w, dtype=like.dtype, device=like.device) + 0.5) / w * 2 - 1
    return v, u


def _gauss_kernels(sigma: torch.Tensor, radius: int) -> torch.Tensor:
    """Normalised 1-D Gaussian kernels (N, 2·radius + 1) for sigmas (N,) in pixels."""
    t = torch.arange(-radius, radius + 1, dtype=sigma.dtype, device=sigma.device)
    k = torch.exp(-0.5 * (t[None] / sigma[:, None].clamp(min=1e-3)) ** 2)
    return k / k.sum(dim=1, keepdim=True)


#: up to this side (px) a blur is two batched products with banded matrices, which on 2 cores ran a
#: 224 px edit's forward and backward pass several times faster than the grouped 1-D convolutions it
#: replaced (the same sums, to float rounding); above it the matrices' H² cost loses to convolution
BLUR_MATRIX_MAX = 640


def _blur_matrices(sigma: torch.Tensor, size: int, radius: int) -> torch.Tensor:
    """(N, size, size) matrices M with (M @ t)[i] = Σ_k g_k · t[reflect(i + k)]: a 1-D Gaussian of each
    sigma (pixels) with ``F.pad``'s reflected border folded in (radius < size)."""
    k = _gauss_kernels(sigma, radius)  # (N, 2r + 1)
    i = torch.arange(size, device=sigma.device)
    j = i[:, None] + torch.arange(-radius, radius + 1, device=sigma.device)[None]  # (size, 2r + 1)
    j = torch.where(j < 0, -j, j)
    j = torch.where(j >= size, 2 * (size - 1) - j, j)
    m = torch.zeros(sigma.shape[0], size, size, dtype=sigma.dtype, device=sigma.device)
    return m.scatter_add(2, j[None].expand(sigma.shape[0], -1, -1), k[:, None, :].expand(-1, size, -1))


def gaussian_blur(y: torch.Tensor, sy: torch.Tensor, sx: torch.Tensor, method: str = "auto") -> torch.Tensor:
    """Gaussian blur with per-image sigmas, reflected borders (``F.pad``'s "reflect"), radius ceil(3σ) of
    the batch's largest sigma; sigmas of 3 px and more blur on a reduced grid and are resampled.

    Args:
        y: Float images (N, C, H, W).
        sy: Sigmas (N,) in pixels along y.
        sx: Sigmas (N,) in pixels along x.
        method: ``"matrix"`` (banded matrices), ``"conv"`` (grouped 1-D convolutions) or ``"auto"``:
            matrices up to ``BLUR_MATRIX_MAX`` px, convolutions above. The same sums to float rounding.

    Returns:
        The blurred images (N, C, H, W).
    """
    if method not in ("auto", "matrix", "conv"):
        raise SynthError(f"blur method must be auto, matrix or conv, got {method!r}")
    n, c, h, w = y.shape
    r = max(1, int(float(torch.minimum(sy, sx).min()) // 1.5))
    small = y
    if r > 1:
        small = F.interpolate(y, size=(max(1, h // r), max(1, w // r)), mode="bilinear", align_corners=False,
                              antialias=True)
        sy, sx = sy * small.shape[2] / h, sx * small.shape[3] / w
    hs, ws = small.shape[2], small.shape[3]
    ry = min(int(math.ceil(3 * float(sy.max()))), hs - 1)
    rx = min(int(math.ceil(3 * float(sx.max()))), ws - 1)
    if method == "matrix" or (method == "auto" and max(hs, ws) <= BLUR_MATRIX_MAX):
        out = small
        if ry > 0:
            out = torch.einsum("nij,ncjw->nciw", _blur_matrices(sy.to(y.dtype), hs, ry), out)
        if rx > 0:
            out = torch.einsum("nchj,nij->nchi", out, _blur_matrices(sx.to(y.dtype), ws, rx))
    else:
        out = small.reshape(1, n * c, hs, ws)
        if ry > 0:
            ky = _gauss_kernels(sy, ry).repeat_interleave(c, 0).reshape(n * c, 1, -1, 1)
            out = F.conv2d(F.pad(out, (0, 0, ry, ry), mode="reflect"), ky, groups=n * c)
        if rx > 0:
            kx = _gauss_kernels(sx, rx).repeat_interleave(c, 0).reshape(n * c, 1, 1, -1)
            out = F.conv2d(F.pad(out, (rx, rx, 0, 0), mode="reflect"), kx, groups=n * c)
        out = out.reshape(n, c, hs, ws)
    if r > 1:
        out = F.interpolate(out, size=(h, w), mode="bilinear", align_corners=False)
    return out


def grain_field(seed: int, frame: tuple[int, int], size: tuple[int, int], dtype=torch.float32) -> torch.Tensor:
    """The grain pattern of ``seed`` for a photo, the same continuous field at every size.

    Args:
        seed: The grain seed.
        frame: The photo's own size (H0, W0) in pixels.
        size: The size (H, W) in pixels to render the field at.
        dtype: The torch dtype of the result.

    Returns:
        The noise field (1, 1, H, W): a coarse grid of standard-normal cells, bilinearly
        interpolated to ``size``.
    """
    h0, w0 = frame
    s0 = min(h0, w0)
    gh, gw = max(1, round(GRAIN_CELLS * h0 / s0)), max(1, round(GRAIN_CELLS * w0 / s0))
    gen = torch.Generator().manual_seed(int(seed))
    cells = torch.randn(1, 1, gh, gw, generator=gen, dtype=torch.float64)
    out = F.interpolate(cells, size=size, mode="bilinear", align_corners=False, antialias=True)
    return out.to(dtype)


@functools.lru_cache(maxsize=64)
def _grain(seed: int, frame: tuple, size: tuple, dtype) -> torch.Tensor:
    """``grain_field``, kept: an edit's every step draws the same fields (never modified in place)."""
    return grain_field(seed, frame, size, dtype)


# ------------------------------------------------------------------------------------ the edit

def edit_tensor(images: torch.Tensor, values: torch.Tensor, frames=None, seeds=None) -> torch.Tensor:
    """Apply edits to images; differentiable in both the images and the values.

    Args:
        images: Float images (N, 3, H, W) in [0, 1].
        values: Edit values (N, P) in human units, ``PARAMS`` order.
        frames: Each photo's own pixel size, N × (H0, W0), where the images are resized copies (e.g.
            squashed to the predictor's square), so that lengths follow the photo's geometry; None:
            the images are the photos.
        seeds: Each image's grain seed (N ints); None: 0 for every image.

    Returns:
        The edited images (N, 3, H, W), float in [0, 1].

    Raises:
        SynthError: ``values`` is not of shape (N, P).
    """
    n, _, h, w = images.shape
    x = images
    if values.shape != (n, len(PARAMS)):
        raise SynthError(f"edit values must have shape ({n}, {len(PARAMS)}), got {tuple(values.shape)}")
    frames = [(h, w)] * n if frames is None else [tuple(int(a) for a in f) for f in frames]
    seeds = [0] * n if seeds is None else [int(s) for s in seeds]
    val = {p.name: values[:, i] for i, p in enumerate(PARAMS)}
    col = lambda t: t[:, None, None, None]  # noqa: E731
    v, u = _coords(h, w, x)

    # 1-4: gains in linear light
    lin = _to_linear(x)
    wb = _white_balance_gains(val["temperature_k"], val["tint"])
    nodes = _consts(x, [-2 / 3, 0.0, 2 / 3])
    wv = torch.exp(-0.5 * ((v[:, None] - nodes[None]) / 0.35) ** 2)
    wu = torch.exp(-0.5 * ((u[:, None] - nodes[None]) / 0.35) ** 2)
    wv, wu = wv / wv.sum(1, keepdim=True), wu / wu.sum(1, keepdim=True)
    light = torch.stack([val[p.name] for p in PARAMS if p.op == "light"], dim=1).reshape(n, 3, 3)
    field = torch.einsum("hi,nij,wj->nhw", wv, light, wu)
    r2 = (v[:, None] ** 2 + u[None, :] ** 2) / 2
    ev = col(val["exposure_ev"])[:, 0] + field + val["vignette_ev"][:, None, None] * r2[None]
    lin = lin * wb[:, :, None, None] * torch.exp2(ev)[:, None]
    x = _to_srgb(lin).clamp(0, 1)

    # 5: tone curves, per channel
    x = (x + col(val["blacks"]) * (1 - x) ** 2).clamp(0, 1)
    x = x + col(val["shadows"]) * x * (1 - x) ** 2
    x = x + col(val["highlights"]) * x ** 2 * (1 - x)
    xc = x.clamp(1e-6, 1 - 1e-6)
    g = col(val["contrast"])
    a, b = xc ** g, (1 - xc) ** g
    x = x + (a / (a + b) - xc)  # exactly x at γ = 1, and differentiable there

    # 6: colour in YCbCr
    ycc = _ycc(x)
    luma, cb, cr = ycc[:, :1], ycc[:, 1:2], ycc[:, 2:3]
    rad = torch.sqrt(cb ** 2 + cr ** 2 + 1e-8)
    ang = _consts(x, _BAND_ANGLES)
    cos_d = (cb * torch.cos(ang)[None, :, None, None] + cr * torch.sin(ang)[None, :, None, None]) / rad
    wts = torch.exp(3.0 * (cos_d - 1))
    wts = wts / wts.sum(dim=1, keepdim=True)
    shifts = torch.stack([val[f"hue_{b}_deg"] for b in HUE_BANDS], dim=1) * (math.pi / 180)
    dth = (wts * shifts[:, :, None, None]).sum(dim=1, keepdim=True)
    cb, cr = cb * torch.cos(dth) - cr * torch.sin(dth), cb * torch.sin(dth) + cr * torch.cos(dth)
    chroma = col(val["saturation"]) * (1 + col(val["vibrance"]) / (1 + (rad / 0.2) ** 2))
    x = _rgb(torch.cat([luma, cb * chroma, cr * chroma], dim=1)).clamp(0, 1)

    # 7: detail, on luminance
    s0 = torch.tensor([min(f) for f in frames], dtype=x.dtype, device=x.device)
    py = s0 * h / torch.tensor([f[0] for f in frames], dtype=x.dtype)  # pixels per short side, along y
    px = s0 * w / torch.tensor([f[1] for f in frames], dtype=x.dtype)
    luma = _ycc(x)[:, :1]
    for name, sigma in (("clarity", CLARITY_SIGMA), ("sharpen", SHARPEN_SIGMA)):
        amount = val[name]
        if bool((amount != 0).any()) or amount.requires_grad:
            x = x + col(amount) * (luma - gaussian_blur(luma, sigma * py, sigma * px))
    x = x.clamp(0, 1)

    # 8: grain
    amount = val["grain"]
    if bool((amount != 0).any()) or amount.requires_grad:
        noise = torch.cat([_grain(s, f, (h, w), x.dtype) for s, f in zip(seeds, frames)])
        x = (x + col(amount) * noise).clamp(0, 1)
    return x


# ------------------------------------------------------------------------------------- recipes

def make_recipe(values, seed: int = 0, version: str | None = None) -> dict:
    """A JSON-ready recipe for one edit.

    Args:
        values: The edit's P values in human units, ``PARAMS`` order.
        seed: The grain seed.
        version: The emosynth version to record; None: this one.

    Returns:
        The recipe dict: format, version, emosynth version, seed and the values grouped by operation
        in the order they are applied.

    Raises:
        SynthError: ``values`` does not hold P values.
    """
    from .. import __version__

    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if v.shape != (len(PARAMS),):
        raise SynthError(f"an edit has {len(PARAMS)} values, got {v.shape[0]}")
    ops = []
    for op, names in OPERATIONS.items():
        entry = {"op": op}
        entry.update({nm: round(float(v[PARAM_INDEX[nm]]), 6) for nm in names})
        ops.append(entry)
    return {"format": RECIPE_FORMAT, "version": RECIPE_VERSION, "emosynth_version": version or __version__,
            "seed": int(seed), "operations": ops}


def recipe_values(recipe: dict) -> tuple[np.ndarray, int]:
    """The values and grain seed of a recipe, checked.

    Parameters a recipe leaves out are neutral.

    Args:
        recipe: A recipe dict (as from ``make_recipe`` or ``load_recipe``).

    Returns:
        ``(values, seed)``: values (P,) float64 in human units, ``PARAMS`` order, and the grain seed.

    Raises:
        SynthError: Another format or version, a non-integer seed, an unknown operation or
            parameter, or a value that is not finite or outside its range (one line).
    """
    if not isinstance(recipe, dict) or recipe.get("format") != RECIPE_FORMAT:
        raise SynthError(f"not an emosynth edit recipe (format must be {RECIPE_FORMAT!r})")
    if recipe.get("version") != RECIPE_VERSION:
        raise SynthError(f"edit recipe version {recipe.get('version')!r} is not supported "
                         f"(this emosynth reads version {RECIPE_VERSION})")
    seed = recipe.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise SynthError(f"edit recipe seed must be an integer, got {seed!r}")
    ops = recipe.get("operations")
    if not isinstance(ops, list):
        raise SynthError("edit recipe has no list of operations")
    values = NEUTRAL.copy()
    for entry in ops:
        op = entry.get("op") if isinstance(entry, dict) else None
        if op not in OPERATIONS:
            raise SynthError(f"edit recipe has an unknown operation {op!r}; known: {', '.join(OPERATIONS)}")
        for key, val in entry.items():
            if key == "op":
                continue
            if key not in OPERATIONS[op]:
                raise SynthError(f"edit recipe operation {op!r} has an unknown parameter {key!r}; "
                                 f"known: {', '.join(OPERATIONS[op])}")
            p = PARAMS[PARAM_INDEX[key]]
            if isinstance(val, bool) or not isinstance(val, (int, float)) or not math.isfinite(val):
                raise SynthError(f"edit recipe {key} must be a finite number, got {val!r}")
            if not p.lo - 1e-9 <= val <= p.hi + 1e-9:
                raise SynthError(f"edit recipe {key} = {val} is outside its range [{p.lo}, {p.hi}] {p.unit}".rstrip())
            values[PARAM_INDEX[key]] = float(val)
    return values, seed


def load_recipe(path: str | Path) -> dict:
    """Read and check a recipe file.

    Args:
        path: The recipe's JSON file.

    Returns:
        The recipe dict.

    Raises:
        SynthError: The file cannot be read, is not JSON or is not a valid recipe (one line).
    """
    path = Path(path)
    try:
        recipe = json.loads(path.read_text())
    except OSError as err:
        raise SynthError(f"{path}: cannot read the edit recipe ({err.strerror or err})") from None
    except ValueError as err:
        raise SynthError(f"{path}: not JSON ({err})") from None
    try:
        recipe_values(recipe)
    except SynthError as err:
        raise SynthError(f"{path}: {err}") from None
    return recipe


def _as_tensor(image) -> torch.Tensor:
    """(1, 3, H, W) float32 in [0, 1] from a PIL image, a uint8 (H, W, 3) array or a (3, H, W) tensor."""
    if isinstance(image, torch.Tensor):
        t = image.float()
        return t[None] if t.ndim == 3 else t
    arr = np.asarray(image.convert("RGB") if hasattr(image, "convert") else image)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise SynthError(f"an image to edit must be RGB (H, W, 3), got shape {arr.shape}")
    scale = 255.0 if arr.dtype == np.uint8 else 1.0
    return torch.from_numpy(np.array(arr)).float().permute(2, 0, 1)[None] / scale


def apply_recipe(recipe: dict, image) -> np.ndarray:
    """Re-apply a recipe to a photo at its own size; the same recipe and photo give the same pixels.

    Args:
        recipe: A recipe dict.
        image: A PIL image, a uint8 array (H, W, 3) (or float in [0, 1]), or a float tensor
            (3, H, W) / (1, 3, H, W) in [0, 1].

    Returns:
        The edited photo, uint8 (H, W, 3).

    Raises:
        SynthError: The recipe is invalid, or the image is not RGB.
    """
    values, seed = recipe_values(recipe)
    x = _as_tensor(image)
    with torch.no_grad():
        out = edit_tensor(x, torch.from_numpy(values).float()[None], seeds=[seed])
    return (out[0].clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).contiguous().numpy()


def recipe_summary(recipe: dict, tol: float = 0.02) -> str:
    """The recipe's non-neutral values in words, largest first.

    Args:
        recipe: A recipe dict.
        tol: Values whose gene is within ``tol`` of 0 (neutral) are left out.

    Returns:
        E.g. ``'exposure_ev −0.40 EV, saturation ×0.70, …'``, or ``'no change'``.

    Raises:
        SynthError: The recipe is invalid.
    """
    values, _ = recipe_values(recipe)
    genes = values_to_genes(values[None])[0]
    parts = []
    for i in np.argsort(-np.abs(genes)):
        p = PARAMS[i]
        if abs(genes[i]) < tol:
            continue
        v = values[i]
        if p.unit == "×":
            parts.append(f"{p.name} ×{v:.2f}")
        elif p.unit == "K":
            parts.append(f"{p.name} {v:+.0f} K")
        elif p.unit == "°":
            parts.append(f"{p.name} {v:+.0f}°")
        else:
            parts.append(f"{p.name} {v:+.2f}{' ' + p.unit if p.unit else ''}")
    return ", ".join(parts) or "no change"


# ------------------------------------------------------------------------------------ encoding

class EditEncoding(Encoding):
    """Edits of one photo as an encoding (genes in [-1, 1], one per ``PARAMS`` entry).

    ``render`` returns the edited photo squashed to size × size (what the predictor sees; lengths
    follow the photo's own geometry), ``render_full`` the edited photo at its full resolution.

    Args:
        photo: A photo file path, a PIL image or a uint8 array (H, W, 3).
        seed: The grain seed of every edit.
        max_side: Downscale the photo so its longest side is at most this many pixels; None: keep it.
    """

    name = "edit"
    sigma = 0.15
    mega_sigma = 0.5
    mega_lr = 0.05

    def __init__(self, photo, seed: int = 0, max_side: int | None = None):
        from PIL import Image

        self.path = None
        if isinstance(photo, (str, Path)):
            from ..imageio import read_image

            self.path = str(photo)
            photo = read_image(photo)
        if not isinstance(photo, Image.Image):
            photo = Image.fromarray(np.asarray(photo, dtype=np.uint8))
        photo = photo.convert("RGB")
        if max_side and max(photo.size) > max_side:
            k = max_side / max(photo.size)
            photo = photo.resize((max(1, round(photo.width * k)), max(1, round(photo.height * k))), Image.BICUBIC)
        self.photo = photo
        self.max_side = max_side
        self.seed = int(seed)
        self.frame = (photo.height, photo.width)
        self._full = _as_tensor(photo)
        self._squares: dict[int, torch.Tensor] = {}

    @property
    def solution_dim(self) -> int:
        return len(PARAMS)

    @property
    def bounds(self):
        return (-1.0, 1.0)

    def random(self, n, rng):
        return np.clip(rng.normal(0, 0.3, size=(n, self.solution_dim)), -1, 1)

    def square(self, size: int) -> torch.Tensor:
        """The unedited photo (1, 3, size, size), antialiased."""
        if size not in self._squares:
            self._squares[size] = F.interpolate(self._full, size=(size, size), mode="bilinear",
                                                align_corners=False, antialias=True).clamp(0, 1)
        return self._squares[size]

    def render(self, genomes, size):
        with torch.no_grad():
            return self.render_torch(self._genomes(genomes), size)

    def render_torch(self, genomes, size):
        n = genomes.shape[0]
        base = self.square(size).to(genomes.dtype).expand(n, -1, -1, -1)
        return edit_tensor(base, genes_to_values(genomes), frames=[self.frame] * n, seeds=[self.seed] * n)

    def render_full(self, genome) -> np.ndarray:
        """The edit of one genome at the photo's full resolution, uint8 (H, W, 3)."""
        return apply_recipe(self.recipe(genome), self.photo)

    def recipe(self, genome) -> dict:
        """The recipe of one genome.

        Args:
            genome: P genes in [-1, 1], ``PARAMS`` order.

        Returns:
            The recipe dict (``make_recipe``), with this encoding's grain seed.
        """
        g = torch.as_tensor(np.asarray(genome, dtype=np.float64).reshape(1, -1))
        return make_recipe(genes_to_values(g)[0].numpy(), self.seed)

    def render_export(self, genomes, size: int) -> list[np.ndarray]:
        """The edits at the photo's own geometry (longest side ``size`` px at most), uint8 (H, W, 3)
        each: what a run exports, rather than the square the predictor sees."""
        photo = self.photo
        if max(photo.size) > size:
            from PIL import Image

            k = size / max(photo.size)
            photo = photo.resize((max(1, round(photo.width * k)), max(1, round(photo.height * k))), Image.BICUBIC)
        return [apply_recipe(self.recipe(g), photo) for g in np.asarray(genomes)]

    def spec(self):
        out = {"name": self.name, "photo": self.path, "seed": self.seed}
        if self.max_side:
            out["max_side"] = self.max_side
        return out
