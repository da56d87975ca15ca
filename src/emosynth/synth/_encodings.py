"""Encodings: a flat genome (a float vector that ribs emitters mutate) → an RGB image.

Every encoding is a pure function of the genome: rendering is batched, deterministic and
resolution-independent (the same genome renders at the predictor's 224 px while evolving and
at 512 px for export). ``random(n, rng)`` draws the first generation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import SynthError


class Encoding:
    """Base class. Subclasses set ``name`` and implement ``solution_dim``, ``bounds``, ``random``, ``render``."""

    name = "encoding"
    #: typical mutation step for an isotropic Gaussian in genome units (used by the emitters)
    sigma = 0.1
    #: CMA-MEGA: initial step of the gradient coefficients (the gradients are normalised to
    #: length 1, so this is a step length in genome space) and the Adam learning rate (per gene)
    mega_sigma = 1.0
    mega_lr = 0.05

    @property
    def solution_dim(self) -> int:
        raise NotImplementedError

    @property
    def bounds(self) -> tuple[float | None, float | None]:
        """(lower, upper) bound of every gene; None: unbounded."""
        return (None, None)

    def random(self, n: int, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def starts(self, n: int, rng: np.random.Generator, colours=None) -> np.ndarray:
        """(n, solution_dim) starting points for n emitters on a V–A plane: one ``random`` genome each
        (``colours``, the colours a pixel canvas would start around, are not used by this encoding)."""
        return np.concatenate([self.random(1, rng) for _ in range(n)])

    def render(self, genomes: np.ndarray, size: int) -> torch.Tensor:
        """Images (N, 3, size, size) float32 in [0, 1] for genomes (N, solution_dim)."""
        raise NotImplementedError

    def render_torch(self, genomes: torch.Tensor, size: int) -> torch.Tensor:
        """The same images as ``render`` for a float32 tensor of genomes, differentiable with respect
        to them (no in-place operations, no ``no_grad``): what gradient-based emitters need."""
        raise NotImplementedError

    def render_uint8(self, genomes: np.ndarray, size: int) -> np.ndarray:
        """Images (N, size, size, 3) uint8, as the predictor's fast path and PNG files take them."""
        x = self.render(genomes, size)
        return (x.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()

    def spec(self) -> dict:
        """Everything needed to rebuild this encoding (``make_encoding(**spec)``)."""
        raise NotImplementedError

    def _genomes(self, genomes) -> torch.Tensor:
        g = np.asarray(genomes, dtype=np.float32)
        if g.ndim != 2 or g.shape[1] != self.solution_dim:
            raise SynthError(f"{self.name} genomes must have shape (n, {self.solution_dim}), got {g.shape}")
        return torch.from_numpy(g)


@dataclass(frozen=True)
class PixelEncoding(Encoding):
    """The direct encoding: a ``grid`` × ``grid`` RGB image (genes in [0, 1]), upsampled smoothly to any size.

    The upsampling is bicubic, clamped — a low-resolution canvas, so that mutations change regions
    rather than single pixels of the 224 px image.

    Attributes:
        grid: Side of the canvas in pixels (2–256); the genome holds grid × grid × 3 colours in [0, 1].
    """

    grid: int = 32
    name = "pixels"
    sigma = 0.06
    mega_sigma = 1.0
    mega_lr = 0.05

    @property
    def solution_dim(self) -> int:
        return 3 * self.grid * self.grid

    @property
    def bounds(self):
        return (0.0, 1.0)

    def random(self, n, rng):
        # Smooth random fields (a coarse grid upsampled) read as images; white noise would not.
        coarse = rng.uniform(0, 1, size=(n, 3, 4, 4)).astype(np.float32)
        x = F.interpolate(torch.from_numpy(coarse), size=(self.grid, self.grid), mode="bicubic",
                          align_corners=False).clamp(0, 1).numpy()
        x = x + rng.normal(0, 0.05, size=x.shape).astype(np.float32)
        return np.clip(x, 0, 1).reshape(n, -1).astype(np.float64)

    #: the colours emitters on a V–A plane start around, in turn (``starts``): dark and light greys, a deep
    #: red and a light yellow — the corners of lightness × chroma, where the colour judges read the
    #: plane's corners (Valdez–Mehrabian: pleasure up with brightness, arousal up with saturation)
    START_COLOURS = ((0.15, 0.15, 0.15), (0.85, 0.85, 0.85), (0.55, 0.05, 0.10), (0.95, 0.80, 0.15))

    def starts(self, n, rng, colours=None):
        """Emitter i starts at ``colours[i % len(colours)]`` plus 0.35 × (a ``random`` field − 0.5);
        ``colours`` defaults to ``START_COLOURS``, and ``evolve`` passes the colours the objective's own
        colour judges read at the plane's corners and edges (``emosynth.judges.colour_starts``) when
        they judge both valence and arousal. Started
        together from mid-range random fields, the emitters of a consensus run all began where the colour
        judge reads the plane's middle, and after 2,040 evaluations held 17 of the 48 rated-span cells of
        a VA 8 × 8 grid; started at these corners (and restarting from the frontier), 28
        (docs/results/synthesis.md)."""
        out = []
        for i in range(n):
            field = self.random(1, rng).reshape(3, self.grid, self.grid)
            palette = colours or self.START_COLOURS
            colour = np.asarray(palette[i % len(palette)])[:, None, None]
            out.append(np.clip(colour + 0.35 * (field - 0.5), 0, 1).reshape(1, -1))
        return np.concatenate(out)

    def render(self, genomes, size):
        with torch.no_grad():
            return self.render_torch(self._genomes(genomes), size)

    def render_torch(self, genomes, size):
        g = genomes.reshape(-1, 3, self.grid, self.grid)
        return F.interpolate(g, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 1)

    def spec(self):
        return {"name": self.name, "grid": self.grid}


# The CPPN's unit types: each hidden layer's units are split into four contiguous blocks of
# (nearly) equal size, in this order (contiguous so each function runs on one slice).
ACTIVATIONS = ("sin", "sigmoid", "gaussian", "linear")


def _edges(units: int) -> list[int]:
    """Where the four blocks of unit types start and end along a layer's ``units``."""
    return [round(k * units / 4) for k in range(5)]


def _activate(h: torch.Tensor) -> torch.Tensor:
    """Apply the four activations, in place, to the four blocks of units (axis 1) of ``h`` (N, units, P)."""
    edges = _edges(h.shape[1])
    h[:, edges[0]:edges[1]].sin_()
    h[:, edges[1]:edges[2]].sigmoid_()
    g = h[:, edges[2]:edges[3]]
    g.mul_(g).neg_().exp_()
    return h  # the last block is linear


@dataclass(frozen=True)
class CPPNEncoding(Encoding):
    """A compositional pattern-producing network with a fixed topology, evolved on its weights.

    Topology (fully connected, feed-forward): inputs (x, y, d, bias) with x, y in [-1, 1] over
    the image and d = sqrt(x² + y²) / sqrt(2) → ``layers`` hidden layers of ``hidden`` units
    each, with a bias per unit; each layer's units are four equal blocks of sin, sigmoid,
    Gaussian exp(-z²) and linear units → 3 sigmoid output units (R, G, B). With the defaults (2 layers of
    16): 4·16 + 16 + 16·16 + 16 + 16·3 + 3 = 403 genes; a weight is its
    gene × ``input_gain`` in the first layer and gene / sqrt(fan-in) after it; a bias is its gene. Because the
    image is a function of continuous coordinates, it renders at any size.

    Attributes:
        hidden: Units per hidden layer (at least 1).
        layers: Number of hidden layers (at least 1).
        init_scale: Random genomes are drawn ~ N(0, init_scale²).
        input_gain: First-layer weight per unit gene (coordinates span [-1, 1]: 3 gives about one sine period).
    """

    hidden: int = 16
    layers: int = 2
    #: initial genes ~ N(0, init_scale²)
    init_scale: float = 1.0
    #: first-layer weight per unit gene (coordinates span [-1, 1]: 3 gives about one sine period)
    input_gain: float = 3.0
    name = "cppn"
    sigma = 0.5
    mega_sigma = 1.0
    mega_lr = 0.1

    @property
    def shapes(self) -> list[tuple[int, int]]:
        """(fan_in, fan_out) per layer; each layer's weight matrix is followed by its bias."""
        dims = [4] + [self.hidden] * self.layers + [3]
        return list(zip(dims[:-1], dims[1:]))

    @property
    def solution_dim(self) -> int:
        return sum(i * o + o for i, o in self.shapes)

    def random(self, n, rng):
        return rng.normal(0, self.init_scale, size=(n, self.solution_dim))

    @staticmethod
    def coordinates(size: int) -> torch.Tensor:
        """(4, size²) inputs x, y, d, bias at pixel centres (row-major pixels)."""
        t = (torch.arange(size, dtype=torch.float32) + 0.5) / size * 2 - 1
        y, x = torch.meshgrid(t, t, indexing="ij")
        d = torch.sqrt(x ** 2 + y ** 2) / math.sqrt(2)
        return torch.stack([x, y, d, torch.ones_like(x)]).reshape(4, -1)

    def render(self, genomes, size):
        g = self._genomes(genomes)
        n = g.shape[0]
        # Units on axis 1, pixels on axis 2: each activation block is one contiguous slice.
        with torch.no_grad():
            h = self.coordinates(size).expand(n, -1, -1)
            for k, w, b in self._layers(g):
                h = torch.baddbmm(b, w, h)
                h = h.sigmoid_() if k == len(self.shapes) - 1 else _activate(h)
            return h.reshape(n, 3, size, size)

    def _layers(self, g: torch.Tensor):
        """(layer index, weights (n, out, in), biases (n, out, 1)) per layer of genomes ``g`` (n, genes).
        Genes are scaled so unit-variance genes give a few sine periods across the image (first layer)
        and unit-variance sums after it (1/sqrt(fan_in))."""
        n, pos = g.shape[0], 0
        for k, (i, o) in enumerate(self.shapes):
            gain = self.input_gain if k == 0 else 1.0 / math.sqrt(i)
            w = g[:, pos:pos + i * o].reshape(n, i, o).transpose(1, 2) * gain
            b = g[:, pos + i * o:pos + i * o + o].reshape(n, o, 1)
            pos += i * o + o
            yield k, w, b

    def render_torch(self, genomes, size):
        n = genomes.shape[0]
        h = self.coordinates(size).expand(n, -1, -1)
        for k, w, b in self._layers(genomes):
            h = torch.baddbmm(b, w, h)
            if k == len(self.shapes) - 1:
                h = torch.sigmoid(h)
            else:  # the four unit types of _activate, out of place
                e = _edges(h.shape[1])
                h = torch.cat([torch.sin(h[:, e[0]:e[1]]), torch.sigmoid(h[:, e[1]:e[2]]),
                               torch.exp(-h[:, e[2]:e[3]] ** 2), h[:, e[3]:e[4]]], dim=1)
        return h.reshape(n, 3, size, size)

    def spec(self):
        return {"name": self.name, "hidden": self.hidden, "layers": self.layers, "init_scale": self.init_scale,
                "input_gain": self.input_gain}


ENCODINGS = {"pixels": PixelEncoding, "cppn": CPPNEncoding, "edit": None}  # edit: _edit.EditEncoding


def make_encoding(name: str, **params) -> Encoding:
    """An encoding by name with its parameters.

    Args:
        name: 'pixels', 'cppn' or 'edit'.
        **params: The encoding's parameters (e.g. grid=32, hidden=16; edit: photo=PATH, seed=0, max_side=None).

    Returns:
        The encoding.

    Raises:
        SynthError: An unknown name, an edit encoding without a photo, a pixel grid outside 2–256, or a
            CPPN with no hidden layer or unit.
    """
    if name not in ENCODINGS:
        raise SynthError(f"unknown encoding {name!r}; choose one of {', '.join(ENCODINGS)}")
    if name == "edit":
        from ._edit import EditEncoding  # it builds on this module: imported on use

        if not params.get("photo"):
            raise SynthError("the edit encoding needs a photo (--photo PATH)")
        return EditEncoding(**params)
    enc = ENCODINGS[name](**params)
    if isinstance(enc, PixelEncoding) and not 2 <= enc.grid <= 256:
        raise SynthError(f"--grid must be between 2 and 256 pixels, got {enc.grid}")
    if isinstance(enc, CPPNEncoding) and (enc.hidden < 1 or enc.layers < 1):
        raise SynthError("a CPPN needs at least one hidden layer of at least one unit")
    return enc
