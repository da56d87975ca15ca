"""Colour-emotion judges: what people report feeling from colour, from published studies.

Both judges work per pixel in CIELAB and average over the image. Colour coordinates: the image is
read as sRGB (IEC 61966-2-1, D65 white, 2° observer), linearised, turned into CIE XYZ and then
CIE 1976 L*a*b* (L* 0 black – 100 white; a*, b* roughly −100…100), with chroma
C*ab = √(a*² + b*²) and hue angle h_ab. Every step is differentiable; C*ab is smoothed at grey
(√(a*² + b*² + ε²) − ε, ε = 0.01) so its gradient exists there.

**Per pixel, then the mean**, not the formula on the mean colour: the studies rated uniform colour
patches, and Ou, Luo, Woodcock & Wright (2004, Part II, Color Res. Appl. 29(4):292–298) found that
the colour emotions of a two-colour combination are predicted by *averaging* those of its colours.
Averaging the colours first would instead cancel the chroma of complementary colours (a red and a
green half would read as a grey).

**Calibration onto SAM 1–9**: each model's output is mapped linearly so that its range over flat
colour fields of the whole sRGB gamut (a 33 × 33 × 33 grid of the RGB cube) spans 1–9: the most
negative flat colour the model can see is 1, the most positive 9. The studies' own outputs are on
no rating scale a SAM rating can be compared with (standardised regression scores, factor scores),
so we take the one anchor every model has — its range over the colours a screen can show — which
makes every SAM target reachable by some colour and keeps each model's ordering of colours and
images exactly. Because an image's value is a mean of pixel values, every image also lands in 1–9.
The same grid (uniform over the RGB cube) is the population the Valdez–Mehrabian brightness and
saturation are standardised over.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch

from ..emotions import SAM_MAX, SAM_MIN
from ._base import DimensionsJudge, Judge, nan_columns

#: sRGB (linear) → CIE XYZ, D65 (IEC 61966-2-1)
SRGB_TO_XYZ = ((0.4124564, 0.3575761, 0.1804375),
               (0.2126729, 0.7151522, 0.0721750),
               (0.0193339, 0.1191920, 0.9503041))
#: D65 reference white (Y = 1)
WHITE_D65 = (0.95047, 1.0, 1.08883)
CHROMA_EPS = 0.01  # C*ab units: smooths √ at grey so the gradient exists
GRID = 33  # flat colour fields per RGB axis for the calibration


def srgb_to_lab(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Convert sRGB images to CIE L*a*b* (D65 white). Values outside [0, 1] are clamped.

    Args:
        images: Float tensor (N, 3, H, W), sRGB in [0, 1].

    Returns:
        ``(L, a, b)``, each a tensor (N, H, W): L* in [0, 100], a* and b* unbounded.
    """
    c = images.clamp(0, 1)
    lin = torch.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    m = torch.tensor(SRGB_TO_XYZ, dtype=images.dtype, device=images.device)
    xyz = torch.einsum("ij,njhw->nihw", m, lin)
    white = torch.tensor(WHITE_D65, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    t = xyz / white
    d = 6 / 29
    # cube root on clamped input: the unused branch must not produce an infinite gradient at 0
    f = torch.where(t > d ** 3, t.clamp(min=d ** 3) ** (1 / 3), t / (3 * d * d) + 4 / 29)
    L = 116 * f[:, 1] - 16
    a = 500 * (f[:, 0] - f[:, 1])
    b = 200 * (f[:, 1] - f[:, 2])
    return L, a, b


def chroma(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """C*ab, smoothed at grey (differentiable everywhere; off by < 0.01 only near grey)."""
    return torch.sqrt(a * a + b * b + CHROMA_EPS ** 2) - CHROMA_EPS


def _gamut() -> torch.Tensor:
    """Flat colour fields over the sRGB cube, as a (GRID³, 3, 1, 1) float64 batch."""
    v = torch.linspace(0, 1, GRID, dtype=torch.float64)
    rgb = torch.cartesian_prod(v, v, v)
    return rgb.view(-1, 3, 1, 1)


class ColourJudge(Judge):
    """Base of the colour judges: ``pixel_terms`` gives each dimension's source-unit value per
    pixel; the judge averages them over the image and maps them onto 1–9 by the gamut range."""

    def pixel_terms(self, L, a, b) -> dict[str, torch.Tensor]:  # pragma: no cover - abstract
        """Each judged dimension's model value per pixel, in the source's own units; subclasses implement it.

        Args:
            L: L* (N, H, W), 0–100.
            a: a* (N, H, W).
            b: b* (N, H, W).

        Returns:
            Dimension name → (N, H, W) tensor.
        """
        raise NotImplementedError

    def source_terms(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each judged dimension's model value in the source's own units, per image (N,)."""
        L, a, b = srgb_to_lab(images)
        return {k: v.mean(dim=(1, 2)) for k, v in self.pixel_terms(L, a, b).items()}

    def calibration(self) -> dict[str, tuple[float, float]]:
        """dimension → (lowest, highest) source value over the sRGB gamut's flat colour fields."""
        return _calibration(type(self))

    def judge(self, images):
        terms = self.source_terms(images)
        cal = self.calibration()
        sam = {d: SAM_MIN + (SAM_MAX - SAM_MIN) * (terms[d] - lo) / (hi - lo) for d, (lo, hi) in cal.items()}
        return {"vad_raw": nan_columns(sam, images[:, 0, 0, 0]),
                "source": nan_columns({d: terms[d] for d in cal}, images[:, 0, 0, 0]),
                **{k: v for k, v in terms.items() if k not in cal}}


@lru_cache(maxsize=None)
def _calibration(cls) -> dict[str, tuple[float, float]]:
    terms = cls().source_terms(_gamut())
    return {d: (float(terms[d].min()), float(terms[d].max())) for d in cls.dims}


@lru_cache(maxsize=None)
def gamut_lab_stats() -> dict[str, float]:
    """Mean and SD of L* and C*ab over the sRGB gamut's flat colour fields (the standardising
    population of the Valdez–Mehrabian judge)."""
    L, a, b = srgb_to_lab(_gamut())
    C = chroma(a, b)
    return {"L_mean": float(L.mean()), "L_sd": float(L.std(unbiased=False)),
            "C_mean": float(C.mean()), "C_sd": float(C.std(unbiased=False))}


class ValdezMehrabianJudge(ColourJudge):
    """Valdez & Mehrabian (1994): pleasure, arousal and dominance from brightness and saturation."""

    name = "valdez-mehrabian"
    dims = ("valence", "arousal", "dominance")
    description = ("colour: Valdez & Mehrabian (1994) pleasure / arousal / dominance from brightness "
                   "(CIELAB L*) and saturation (chroma C*), per pixel")
    #: standardised regression weights (brightness, saturation), from the paper's abstract
    WEIGHTS = {"valence": (0.69, 0.22), "arousal": (-0.31, 0.60), "dominance": (-0.76, 0.32)}
    made_from = (
        "Valdez, P. & Mehrabian, A. (1994). Effects of color on emotions. Journal of Experimental "
        "Psychology: General 123(4), 394-409: people rated Munsell colour chips on the "
        "Pleasure-Arousal-Dominance scales; regression on standardised brightness B (Munsell value) and "
        "saturation S (Munsell chroma) gave pleasure = .69 B + .22 S, arousal = -.31 B + .60 S, "
        "dominance = -.76 B + .32 S. Here B is CIELAB lightness L* (Munsell value is about L*/10) and S "
        "is CIELAB chroma C*ab (Munsell chroma is roughly proportional to it), each standardised over "
        "flat colour fields of the sRGB gamut (L* mean 57.7, SD 20.7; C* mean 58.7, SD 27.0: the "
        "scale factors of the Munsell approximation cancel under standardisation, the population does "
        "not: it stands in for the paper's chip set). Computed per pixel and averaged over the image. "
        "The paper's hue findings (blue, blue-green, green, purple most pleasant, yellow and "
        "green-yellow least) carry no published coefficients and are not used. Calibration: each "
        "dimension's range over the gamut's flat colours maps linearly onto SAM 1-9 (the "
        "darkest-greyest colour is 1 on valence, the lightest 9).")

    def pixel_terms(self, L, a, b):
        s = gamut_lab_stats()
        zb = (L - s["L_mean"]) / s["L_sd"]
        zs = (chroma(a, b) - s["C_mean"]) / s["C_sd"]
        return {d: wb * zb + ws * zs for d, (wb, ws) in self.WEIGHTS.items()}


#: Ou et al. (2004, Part III) colour-preference reference colour (L*, a*, b*)
OU_PREFERENCE_REFERENCE = (50.0, -8.0, 30.0)


class OuColourJudge(ColourJudge):
    """Ou, Luo, Woodcock & Wright (2004): colour activity (→ arousal) and colour preference
    (→ valence) of single colours, from CIELAB. A held-out judge: a different study, different
    observers and a different colour space than Valdez & Mehrabian."""

    name = "ou"
    dims = ("valence", "arousal")
    description = ("colour (held out): Ou et al. (2004) colour activity -> arousal, distance from the "
                   "least-liked colour -> valence; colour weight and heat reported too")
    made_from = (
        "Ou, L.-C., Luo, M. R., Woodcock, A. & Wright, A. (2004). A study of colour emotion and colour "
        "preference. Part I: Colour emotions for single colours. Color Research and Application "
        "29(3), 232-240 (31 British and Chinese observers, 20 colours, 10 scales; factors colour "
        "activity, weight and heat): colour activity CA = -2.1 + 0.06 [(L*-50)^2 + (a*-3)^2 + "
        "((b*-17)/1.4)^2]^(1/2), colour weight CW = -1.8 + 0.04 (100-L*) + 0.45 cos(h-100 deg), "
        "colour heat CH = -0.5 + 0.02 (C*)^1.07 cos(h-50 deg), on CIELAB (the formulas as cited in "
        "the literature and matched by an independent public implementation; the full text, not available "
        "here, was not checked; its abstract confirms the three factors). "
        "Arousal is colour activity (active-passive). Valence: Part III (Color Res. Appl. 29(5), "
        "381-389, 2004) models single-colour preference by the colour difference from the reference "
        "colour (L*, a*, b*) = (50, -8, 30), a dull olive; its coefficients could not be verified here, "
        "so valence is the plain CIELAB distance dE*ab from that colour, increasing (the olive taken as "
        "the least liked colour, as dark yellow/yellow-green are in Palmer & Schloss 2010 and Valdez & "
        "Mehrabian 1994). Under the linear calibration a linear model's slope and offset drop out, "
        "only the direction and the reference colour matter. Per pixel, averaged over the image "
        "(Part II's additivity). The hue terms cos(h - h0) are computed as (a* cos h0 + b* sin h0) / C*, "
        "which fades to 0 for greys, where hue is undefined. Calibration: each dimension's range over "
        "the sRGB gamut's flat "
        "colours maps linearly onto SAM 1-9. Dominance is not judged; colour weight and heat are "
        "returned as 'ou_weight' and 'ou_heat' in their own units.")

    def pixel_terms(self, L, a, b):
        activity = -2.1 + 0.06 * torch.sqrt((L - 50) ** 2 + (a - 3) ** 2 + ((b - 17) / 1.4) ** 2
                                            + CHROMA_EPS ** 2)
        L0, a0, b0 = OU_PREFERENCE_REFERENCE
        preference = torch.sqrt((L - L0) ** 2 + (a - a0) ** 2 + (b - b0) ** 2 + CHROMA_EPS ** 2)
        C = chroma(a, b)
        # cos(h - h0) = (a cos h0 + b sin h0) / C: no atan2, differentiable at grey
        r100, r50 = math.radians(100), math.radians(50)
        cos100 = (a * math.cos(r100) + b * math.sin(r100)) / (C + CHROMA_EPS)
        weight = -1.8 + 0.04 * (100 - L) + 0.45 * cos100
        heat = -0.5 + 0.02 * (C + CHROMA_EPS) ** 0.07 * (a * math.cos(r50) + b * math.sin(r50))
        return {"valence": preference, "arousal": activity, "ou_weight": weight, "ou_heat": heat}


#: Palmer et al. (2013)'s 37 colours with people's mean happy / sad / angry associations (the data file)
PALMER_DATA = "palmer2013_bcp37.csv"
#: the terms of the Palmer judge's regression of happy-minus-sad on CIELAB (see ``PalmerColourJudge``)
PALMER_TERMS = ("1", "L", "L^2", "C", "C cos h", "C sin h", "C cos 2h", "C sin 2h")
PALMER_RIDGE = 1e-3  # on terms scaled by 1/100: only keeps the 8 x 8 solve well conditioned


def _palmer_terms(L, a, b):
    """The regression's terms per pixel, each scaled to about 0-1 (L*/100, C*/100)."""
    C = chroma(a, b)
    # C cos h = a, C sin h = b; C cos 2h = (a^2 - b^2) / C and C sin 2h = 2ab / C, which fade to 0 at grey
    return [torch.ones_like(L), L / 100, (L / 100) ** 2, C / 100, a / 100, b / 100,
            (a * a - b * b) / (100 * (C + CHROMA_EPS)), 2 * a * b / (100 * (C + CHROMA_EPS))]


@lru_cache(maxsize=None)
def palmer_data() -> dict[str, np.ndarray]:
    """Palmer et al. (2013)'s Berkeley Color Project colours: CIELAB and people's mean associations.

    Returns:
        ``colour`` (names), ``L``, ``a``, ``b`` (CIELAB, D65), ``happy``, ``sad``, ``angry`` (mean
        association ratings, -100..100) and ``valence`` = (happy - sad) / 2, each an array of 37.
    """
    from importlib.resources import files

    import pandas as pd

    with files(__package__).joinpath(PALMER_DATA).open("r", encoding="utf-8") as fh:
        t = pd.read_csv(fh)
    out = {c: t[c].to_numpy(dtype=np.float64) for c in ("L", "a", "b", "happy", "sad", "angry")}
    out["colour"] = t["colour"].to_numpy(dtype=str)
    out["valence"] = (out["happy"] - out["sad"]) / 2
    return out


def _palmer_design() -> tuple[np.ndarray, np.ndarray]:
    """The 37 colours' regression terms (37, 8) and their valence (37,)."""
    d = palmer_data()
    X = torch.stack(_palmer_terms(*(torch.tensor(d[k]) for k in "Lab")), dim=1).numpy()
    return X, d["valence"]


def _palmer_fit(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Ridge least squares of ``y`` on the terms ``X``."""
    return np.linalg.solve(X.T @ X + PALMER_RIDGE * np.eye(X.shape[1]), X.T @ y)


@lru_cache(maxsize=None)
def palmer_weights() -> tuple[float, ...]:
    """The Palmer judge's regression weights, fitted to all 37 colours.

    Returns:
        One weight per ``PALMER_TERMS`` entry, for terms in L*/100 and C*/100.
    """
    return tuple(float(w) for w in _palmer_fit(*_palmer_design()))


def palmer_leave_one_out() -> np.ndarray:
    """Each of the 37 colours' valence predicted by the regression fitted to the other 36.

    Returns:
        Array of 37 predictions, in the data file's order (compare with ``palmer_data()["valence"]``).
    """
    X, y = _palmer_design()
    keep = ~np.eye(len(X), dtype=bool)
    return np.array([X[i] @ _palmer_fit(X[keep[i]], y[keep[i]]) for i in range(len(X))])


class PalmerColourJudge(ColourJudge):
    """Palmer, Schloss, Xu & Prado-León (2013): how happy or sad people find each of 37 colours,
    as a smooth function of CIELAB lightness, chroma and hue (valence only)."""

    name = "palmer-2013"
    dims = ("valence",)
    description = ("colour: Palmer et al. (2013) happy-sad associations of 37 colours, regressed on "
                   "CIELAB lightness, chroma and hue, per pixel -> valence")
    made_from = (
        "Palmer, S. E., Schloss, K. B., Xu, Z. & Prado-Leon, L. R. (2013). Music-color associations are "
        "mediated by emotion. PNAS 110(22), 8836-8841: US participants rated how happy and how sad (and "
        "how angry) each of the 37 Berkeley Color Project colours is (32 chromatic: saturated, light, "
        "muted and dark versions of 8 hues; 5 greys from black to white), on line scales scored -100..100; "
        "the mean ratings and the colours' CIELAB (D65) coordinates are as published in the data set of "
        "Schloss, Witzel & Lai (2020), 'Blue hues don't bring the blues', Color Res. Appl. 45(1) "
        "(src/emosynth/judges/palmer2013_bcp37.csv). Valence = (happy - sad) / 2 per colour (the two "
        "correlate at -0.94). A regression makes it a function of any colour: valence = w0 + w1 L + "
        "w2 L^2 + C (w3 + w4 cos h + w5 sin h + w6 cos 2h + w7 sin 2h), with L = L*/100, C = C*ab/100 "
        "and h the hue angle (two hue harmonics whose effect scales with chroma, so greys depend on "
        "lightness alone), fitted by least squares to the 37 colours: r 0.97 with people's means, 0.95 "
        "leave-one-colour-out. It says: saturated colours are happy (saturated yellow and orange most), "
        "greys and dark yellows sad, black sad and white happy. Per pixel, averaged over the image (as "
        "Ou et al. 2004 Part II found for colour pairs). Calibration: its range over the sRGB gamut's "
        "flat colours maps linearly onto SAM 1-9 (the gamut's most saturated colours lie beyond the "
        "study's, so the highest values are an extrapolation of the chroma trend).")

    def pixel_terms(self, L, a, b):
        w = palmer_weights()
        return {"valence": sum(wk * t for wk, t in zip(w, _palmer_terms(L, a, b)))}


def flat_fields(rgb, size: int = 4) -> torch.Tensor:
    """Turn colours into flat colour-field images.

    Args:
        rgb: (K, 3) array-like of sRGB colours in [0, 1].
        size: The side of each field in pixels.

    Returns:
        Float64 tensor (K, 3, size, size) in [0, 1], each image one flat colour.
    """
    rgb = torch.as_tensor(np.asarray(rgb, dtype=np.float64))
    return rgb.view(-1, 3, 1, 1).expand(-1, 3, size, size).contiguous()


#: the V–A points (SAM 1–9) whose colours ``colour_starts`` finds: the plane's four quadrant corners
#: first, then the midpoints of its four edges
START_TARGETS = ((2.5, 2.5), (2.5, 7.5), (7.5, 2.5), (7.5, 7.5), (2.5, 5.0), (7.5, 5.0), (5.0, 2.5), (5.0, 7.5))


def _colour_part(judge) -> bool:
    """True for a colour judge, or a colour judge restricted to some dimensions."""
    return isinstance(judge.inner if isinstance(judge, DimensionsJudge) else judge, ColourJudge)


def colour_starts(judges, targets=START_TARGETS) -> tuple[tuple[float, float, float], ...] | None:
    """The flat colours that an objective's own colour judges read at each of ``targets``.

    Where a search over the V–A plane starts matters (docs/results/synthesis.md): emitters started from
    mid-range fields all begin where colour judges read the plane's middle. This gives, for each
    target, the colour of the sRGB gamut's flat fields (the 33³ calibration grid) that the colour
    judges among ``judges`` read nearest it: per dimension the mean over the colour judges that judge
    it (as a consensus space's cell is), and the worst dimension's distance minimised. Network judges
    are not consulted: the colours say only where the people's colour codes in the objective place
    the plane's corners, and the search then moves from them under every judge.

    Args:
        judges: The objective's judges (any; only the colour judges among them are read).
        targets: (valence, arousal) points on SAM 1–9.

    Returns:
        One sRGB colour (r, g, b) in [0, 1] per target, or None when the colour judges do not cover
        both valence and arousal between them (then there is no colour code to start from).
    """
    colour = [j for j in judges if _colour_part(j)]
    if not colour:
        return None
    g = _gamut().float()
    with torch.no_grad():
        vad = torch.stack([j.judge(g)["vad_raw"].float()[:, :2] for j in colour]).numpy()  # (J, K, 2)
    ok = np.isfinite(vad)
    if not ok.any(axis=(0, 1)).all():
        return None
    mean = np.where(ok, vad, 0.0).sum(0) / ok.sum(0)  # (K, 2): per dimension over the judges judging it
    rgb = g.view(-1, 3).numpy().astype(np.float64)
    out = []
    for t in targets:
        i = int(np.argmin(np.abs(mean - np.asarray(t, dtype=np.float64)[None]).max(1)))
        out.append(tuple(round(float(c), 4) for c in rgb[i]))
    return tuple(out)
