"""A conditional generator: noise z + a target emotion c → an image, trained through the frozen predictor.

The network is a CPPN-style coordinate MLP: every pixel's (x, y, r) and fixed random Fourier features of
(x, y) go through a small MLP whose hidden layers are FiLM-modulated (per-channel scale and shift) by an
embedding of (z, c). Why this and not a convolutional decoder: it is resolution-free (the same weights
render 64 px for training and 512 px for export), its images are smooth compositions rather than texture
noise, and it is cheap on CPU, because the first layer's response to the coordinates is shared by the whole
batch and only the modulation differs per image.

Conditions (``GeneratorConfig.condition``):

* ``va`` / ``vad`` — a point on the SAM 1–9 scale; the condition loss is the squared error (scale
  points²) between the target and the predictor's unclamped V/A(/D);
* ``category`` — one of the predictor's labels; the condition loss is the cross-entropy to that label.

Training samples conditions uniformly over ``TRAIN_RANGES`` (the range the training data's ratings
cover) and pairs every condition with two noise vectors: a mode-seeking term rewards the pair for
differing in the predictor's feature space (relative to how much their z differ), so different z give
different images. Before the predictor sees an image it is jittered, scaled, rotated, colour-shifted and
flipped at random, so that the generator cannot win with adversarial pixel patterns.

A generator folder holds ``generator.pt`` (weights and config), ``model.json`` (the card: config, the
training command, the predictor's model id, metrics; written last, so its presence marks a finished
generator), ``checkpoint.pt`` (resumable training state) and ``train.csv`` (the loss log).
"""

from __future__ import annotations

import datetime as _dt
import functools
import io
import json
import math
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from .. import __version__
from ..config import ConfigError, check_choice, check_int_at_least, check_positive, check_seed
from ..emotions import DIMENSIONS, SAM_MAX, SAM_MIN
from ..errors import SynthError
from ..fsio import atomic_write_bytes, write_json
from ._spaces import CONSENSUS_METHOD, CONSENSUS_TAU

CONDITIONS = ("va", "vad", "category")
GENERATOR_FILE = "generator.pt"
CARD_FILE = "model.json"
CHECKPOINT_FILE = "checkpoint.pt"
LOG_FILE = "train.csv"
FORMAT = 1
#: the ownership kind of a generator folder (``emosynth.fsio``; its model.json says "kind": "generator")
GENERATOR_KIND = "generator"
#: the generator that ships with the package: the consensus one below trained 400 steps more under consensus
#: (the packaged network under random views and the Valdez-Mehrabian colour judge) with a discriminator against
#: OASIS photographs (``--realism oasis``); its model.json says how and what it scored
DEFAULT_GENERATOR_DIR = Path(__file__).resolve().parent.parent / "default_generator"
#: the packaged VA generator trained through the packaged predictor alone (``--judges default``): ``--generator
#: model-only``.
MODEL_ONLY_GENERATOR_DIR = DEFAULT_GENERATOR_DIR / "model-only"
#: the packaged VA generator trained 1,000 steps under consensus from the model-only one, without the
#: discriminator: the default until 2026-12-04 and the start of both the default and consensus-palmer
#: (``--generator consensus-base``).
CONSENSUS_BASE_GENERATOR_DIR = DEFAULT_GENERATOR_DIR / "consensus-base"
#: the packaged VA generator trained on from consensus-base under ``--judges consensus-palmer`` (the packaged
#: network and Palmer et al.'s colour judge): ``--generator consensus-palmer``.
CONSENSUS_PALMER_GENERATOR_DIR = DEFAULT_GENERATOR_DIR / "consensus-palmer"
#: the packaged generators by name, beside ``"default"``
PACKAGED_GENERATORS = {"model-only": MODEL_ONLY_GENERATOR_DIR, "consensus-base": CONSENSUS_BASE_GENERATOR_DIR,
                       "consensus-palmer": CONSENSUS_PALMER_GENERATOR_DIR}

#: Where training conditions are drawn, per dimension (SAM 1–9): about the 2nd to 98th percentile of the
#: ratings of OASIS (900 images) and Emotion6 (1,980) together — valence 1.6–8.1 in Emotion6 and 2.0–7.9
#: in OASIS, arousal 2.2–6.6 in OASIS and 3.3–7.1 in Emotion6, dominance 3.3–6.6. Targets outside this
#: box are allowed (anywhere on 1–9) but the generator has not learnt them.
TRAIN_RANGES = {"valence": (2.0, 8.0), "arousal": (2.5, 7.0), "dominance": (3.5, 6.5)}


@dataclass
class GeneratorConfig:
    """What to build and how to train it (configuration only; nothing learnt).

    Attributes:
        condition: ``"va"``, ``"vad"`` (a point on the SAM 1–9 scale) or ``"category"`` (a label).
        model: The predictor: a saved model folder or a backbone name; None: the packaged one.
        seed: Random seed.
        z_dim: Noise dimensions.
        hidden: Channels of the coordinate MLP's hidden layers.
        layers: Hidden layers of the coordinate MLP.
        fourier: Random Fourier frequencies of (x, y).
        fourier_scale: Their standard deviation, in cycles per image side.
        embed: Width of the (z, c) embedding.
        warp: Smooth sinusoidal displacement waves of (x, y), driven by z (0: a layout shared by all images).
        phases: Per-image phases of the Fourier features, driven by z.
        steps: Training steps.
        batch: Images per step (even): batch // 2 conditions, each with two z.
        lr: The generator's Adam learning rate.
        train_size: Side in pixels the generator renders at during training (it is resolution-free).
        predictor_size: Side in pixels the predictor sees (None: its backbone's input size).
        diversity: Weight of the mode-seeking term.
        layout_diversity: Weight of the layout term: a pair's distance in low-pass (8 × 8) centred
            luminance, which a recolouring of one layout does not change.
        judges: The objective's judges: ``"default"`` (the predictor ``model`` alone), ``"consensus"``
            or a comma-separated list of judge names (``emosynth.judges``).
        held_out: Judges the finished generator is scored against and never trained on (``"auto"``:
            ``emosynth.judges.HELD_OUT`` less those in the objective; ``"none"``: no held-out figures).
        init: Start from another generator's weights (a folder, ``"default"`` or ``"model-only"``):
            every tensor whose name and shape match is copied; None: a seeded initialisation.
        jitter: Random translation of training views, as a fraction of the image side.
        scale: Random zoom of training views, ``(low, high)`` factors, 0 < low ≤ high.
        degrees: Random rotation of training views, up to this many degrees either way.
        colour: Random brightness / contrast / saturation multipliers of training views, in
            [1 - colour, 1 + colour].
        checkpoint_every: Steps between checkpoints.
        realism: A data set (``emotion6``, ``oasis`` or a spec ``load_dataset`` takes) for an optional
            conditional discriminator on the predictor's features; None: no realism term.
        realism_weight: Weight of the realism term.
        d_lr: The discriminator's learning rate.
        eval_per_target: Images per grid target in the evaluation stored in the card.
        eval_grid: Targets per dimension of that evaluation's grid.
    """

    condition: str = "va"
    model: str | None = None  # the predictor: a saved model folder or a backbone name; None: the packaged one
    seed: int = 0
    # ---- architecture
    z_dim: int = 32
    hidden: int = 32
    layers: int = 4
    fourier: int = 24  # random Fourier frequencies of (x, y)
    fourier_scale: float = 1.5  # their standard deviation, in cycles per image side
    embed: int = 64
    #: noise-dependent layout (0 / False: the coordinates are the same for every image, as before format 2):
    #: ``warp`` smooth sinusoidal displacement waves of (x, y) plus a rotation, scale and shift, and
    #: ``phases`` per-image phases of the Fourier features, all driven by z
    warp: int = 4
    phases: bool = True
    # ---- training
    steps: int = 1000
    batch: int = 12  # images per step: batch // 2 conditions, each with two z
    lr: float = 2e-3
    train_size: int = 128  # side the generator renders at during training (it is resolution-free)
    predictor_size: int | None = None  # side the predictor sees (None: its backbone's input size)
    diversity: float = 1.0  # weight of the mode-seeking term
    #: weight of the layout term: a pair's distance in low-pass (8 x 8) centred luminance, which a
    #: recolouring of one layout does not change
    layout_diversity: float = 1.0
    #: the objective's judges: 'default' (the predictor ``model`` alone, as before), 'consensus' (the
    #: packaged network under the training's random views and the Valdez-Mehrabian colour judge, combined
    #: by a soft minimum) or a comma-separated list of judge names (emosynth.judges)
    judges: str = "default"
    #: the judges the finished generator is scored against and never trained on ('auto': emosynth.judges
    #: HELD_OUT less those in the objective; 'none': no held-out figures)
    held_out: str = "auto"
    #: start from another generator's weights (a folder, 'default' or 'model-only'): every tensor whose
    #: name and shape match is copied, the rest (e.g. the layout layer) keep their seeded initialisation
    init: str | None = None
    jitter: float = 0.06
    scale: tuple = (0.9, 1.1)
    degrees: float = 8.0
    colour: float = 0.08
    checkpoint_every: int = 50
    # ---- optional realism (--realism DATASET): a conditional discriminator on the predictor's features
    realism: str | None = None  # a data set name (emotion6, oasis) or a table/folder spec load_dataset takes
    realism_weight: float = 0.05
    d_lr: float = 1e-3
    eval_per_target: int = 4  # images per grid target in the evaluation stored in the card
    eval_grid: int = 5  # targets per dimension of that evaluation's grid
    #: fields that may change on --resume without changing what a step computes
    RESUMABLE = ("steps", "checkpoint_every", "eval_per_target", "eval_grid", "held_out")

    def validate(self):
        """Check every setting before any model is loaded (``ConfigError`` naming the parameter)."""
        check_choice("condition", self.condition, CONDITIONS)
        check_seed("seed", self.seed)
        for name, least in (("steps", 1), ("batch", 2), ("checkpoint_every", 1), ("train_size", 16),
                            ("z_dim", 1), ("hidden", 4), ("layers", 1), ("fourier", 1), ("embed", 1),
                            ("eval_per_target", 1), ("eval_grid", 2)):
            check_int_at_least(name, getattr(self, name), least)
        if self.predictor_size is not None:
            check_int_at_least("predictor_size", self.predictor_size, 16)
        if self.batch % 2:
            raise ConfigError("batch", f"must be even (each condition is drawn with two noise vectors), "
                                       f"got {self.batch}")
        for name in ("lr", "d_lr", "fourier_scale"):
            check_positive(name, getattr(self, name))
        check_int_at_least("warp", self.warp, 0)
        if not isinstance(self.judges, str) or not self.judges.strip():
            raise ConfigError("judges", "needs 'default', 'consensus' or a comma-separated list of judges")
        if self.condition == "category" and self.judges.strip().lower() != "default":
            raise ConfigError("judges", "a category generator trains through its predictor alone ('default'); "
                                        "the colour judges have no categories")
        if not isinstance(self.held_out, str) or not self.held_out.strip():
            raise ConfigError("held_out", "needs 'auto', 'none' or a comma-separated list of judges")
        for name in ("diversity", "layout_diversity", "realism_weight", "jitter", "degrees", "colour"):
            check_positive(name, getattr(self, name), allow_zero=True)
        if len(self.scale) != 2 or \
                not 0 < check_positive("scale", self.scale[0]) <= check_positive("scale", self.scale[1]):
            raise ConfigError("scale", f"must be two finite numbers 0 < low ≤ high, got {self.scale!r}")


def _arch(cfg: GeneratorConfig) -> dict:
    return {k: getattr(cfg, k) for k in ("condition", "z_dim", "hidden", "layers", "fourier", "fourier_scale",
                                         "embed", "warp", "phases")}


# ---------------------------------------------------------------------------- the network


class CPPNGenerator(nn.Module):
    """(z, c) → RGB images in [0, 1] at any size. ``c`` is the encoded condition (``encode``).

    With ``warp`` > 0 or ``phases`` the layout depends on the noise: before the coordinate MLP sees a
    pixel, its (x, y) is rotated, scaled and shifted, then displaced by ``warp`` smooth sine waves (fixed
    random directions and frequencies of 0.5-1.5 cycles per side, amplitude and phase per image), and the
    Fourier features get per-image phases — a fixed random projection of z (so different noise cannot
    collapse onto one layout unless the network unlearns its Fourier features) plus a learnt one of the
    (z, c) embedding. All of these are functions of continuous coordinates: the picture is the same at any
    resolution. Without them (format-1 generators) every image shares one coordinate grid and only the
    FiLM modulation differs, which draws recolourings of one composition.

    Args:
        condition: ``"va"``, ``"vad"`` or ``"category"``.
        n_cond: Width of the encoded condition.
        z_dim: Noise dimensions.
        hidden: Channels of the hidden layers.
        layers: Hidden layers.
        fourier: Random Fourier frequencies of (x, y).
        fourier_scale: Their standard deviation, in cycles per image side.
        embed: Width of the (z, c) embedding.
        seed: Random seed of the initialisation and the fixed random frequencies.
        warp: Smooth displacement waves driven by z (0: none).
        phases: Per-image phases of the Fourier features.
    """

    def __init__(self, condition: str, n_cond: int, z_dim: int = 16, hidden: int = 32, layers: int = 4,
                 fourier: int = 24, fourier_scale: float = 1.5, embed: int = 64, seed: int = 0, warp: int = 0,
                 phases: bool = False):
        super().__init__()
        self.condition, self.z_dim, self.n_cond = condition, z_dim, n_cond
        self.warp, self.phases = int(warp), bool(phases)
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("freqs", torch.randn(2, fourier, generator=g) * fourier_scale * math.pi)
        if self.layout_free:
            # directions and frequencies of the displacement waves, in radians per unit of (x, y) in [-1, 1]
            angle = torch.rand(self.warp, generator=g) * 2 * math.pi
            freq = (0.5 + torch.rand(self.warp, generator=g)) * math.pi
            self.register_buffer("warp_freqs", torch.stack([angle.cos(), angle.sin()]) * freq)
            self.register_buffer("z_phase", torch.randn(z_dim, fourier, generator=g) * (2.0 / math.sqrt(z_dim)))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.embedding = nn.Sequential(nn.Linear(z_dim + n_cond, embed), nn.SiLU(), nn.Linear(embed, embed),
                                           nn.SiLU())
            self.first = nn.Linear(3 + 2 * fourier, hidden)
            self.hidden = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(layers - 1))
            self.film = nn.Linear(embed, 2 * hidden * layers)  # a scale and a shift per layer and channel
            self.out = nn.Linear(hidden, 3)
            with torch.no_grad():  # a random net should already draw varied pictures, as a CPPN does
                self.first.weight.mul_(2.0)  # the sine's argument spans a few radians
                for layer in self.hidden:
                    layer.weight.mul_(2.0)  # keeps tanh's activations from shrinking layer by layer
                self.out.weight.mul_(3.0)  # colours that span the range
                self.film.weight.mul_(2.0)  # z and c visibly change the picture
                self.film.bias.zero_()
            if self.layout_free:
                # z → rotation, log-scale, shift (2), per wave amplitude (2) and phase, Fourier phases
                self.layout = nn.Linear(z_dim + embed, 4 + 3 * self.warp + fourier)
                with torch.no_grad():
                    self.layout.weight.mul_(1.5)
                    self.layout.bias.zero_()
        self._coords: dict[int, torch.Tensor] = {}

    @property
    def layout_free(self) -> bool:
        return self.warp > 0 or self.phases

    def grid(self, size: int) -> torch.Tensor:
        """(size², 2): pixel centres' (x, y) in [-1, 1]."""
        t = (torch.arange(size, dtype=torch.float32) + 0.5) / size * 2 - 1
        y, x = torch.meshgrid(t, t, indexing="ij")
        return torch.stack([x.reshape(-1), y.reshape(-1)], 1)

    def coords(self, size: int) -> torch.Tensor:
        """(size², 3 + 2·fourier): x, y, r and sin/cos Fourier features of each pixel (cached per size)."""
        if size not in self._coords:
            xy = self.grid(size)
            r = xy.norm(dim=1, keepdim=True) / math.sqrt(2)
            proj = xy @ self.freqs
            self._coords = {size: torch.cat([xy, r, torch.sin(proj), torch.cos(proj)], 1)}  # keep one size
        return self._coords[size]

    def warped_coords(self, z: torch.Tensor, e: torch.Tensor, size: int) -> torch.Tensor:
        """(n, size², 3 + 2·fourier): each image's own warped coordinates and phased Fourier features."""
        n, nf, w = z.shape[0], self.freqs.shape[1], self.warp
        p = self.layout(torch.cat([z, e], 1))
        xy = self.grid(size)[None]  # (1, P, 2)
        if w:
            theta, s = p[:, 0] * 0.5 * math.pi, torch.exp(0.3 * torch.tanh(p[:, 1]))
            cos, sin = torch.cos(theta) * s, torch.sin(theta) * s
            rot = torch.stack([torch.stack([cos, sin], 1), torch.stack([-sin, cos], 1)], 1)  # (n, 2, 2)
            xy = xy @ rot + 0.4 * torch.tanh(p[:, None, 2:4])
            amp = 0.25 * torch.tanh(p[:, 4:4 + 2 * w]).view(n, 1, w, 2)
            phase = p[:, 4 + 2 * w:4 + 3 * w] * math.pi
            wave = torch.sin(xy @ self.warp_freqs + phase[:, None, :])  # (n, P, w)
            xy = xy + (wave[..., None] * amp).sum(2)
        else:
            xy = xy.expand(n, -1, -1)
        proj = xy @ self.freqs
        if self.phases:
            proj = proj + (z @ self.z_phase + p[:, -nf:])[:, None, :]
        r = xy.norm(dim=2, keepdim=True) / math.sqrt(2)
        return torch.cat([xy, r, torch.sin(proj), torch.cos(proj)], 2)

    def forward(self, z: torch.Tensor, c: torch.Tensor, size: int) -> torch.Tensor:
        n = z.shape[0]
        e = self.embedding(torch.cat([z, c], 1))
        film = self.film(e).view(n, -1, 2, self.first.out_features)  # (n, layers, 2, hidden)
        gamma, beta = 1 + film[:, :, 0, None, :], film[:, :, 1, None, :]  # (n, layers, 1, hidden)
        inplace = not torch.is_grad_enabled()  # inference: fewer temporaries (the cost is memory traffic)
        if self.layout_free:
            h = self.first(self.warped_coords(z, e, size))  # (n, P, hidden): each image its own layout
        else:
            h = self.first(self.coords(size))[None]  # (1, P, hidden): shared by the batch
        h = torch.addcmul(beta[:, 0], gamma[:, 0], h)
        h = h.sin_() if inplace else torch.sin(h)  # periodic first layer: stripes, rings, blobs
        for i, layer in enumerate(self.hidden, start=1):
            h = torch.addcmul(beta[:, i], gamma[:, i], layer(h))
            h = h.tanh_() if inplace else torch.tanh(h)
        rgb = torch.sigmoid(self.out(h))  # (n, P, 3)
        return rgb.transpose(1, 2).reshape(n, 3, size, size)


def _n_cond(condition: str, n_categories: int) -> int:
    return {"va": 2, "vad": 3}.get(condition, n_categories)


def encode(condition: str, targets: torch.Tensor, n_categories: int) -> torch.Tensor:
    """Network input for targets.

    Args:
        condition: ``"va"``, ``"vad"`` or ``"category"``.
        targets: V/A(/D) (n, d) on the SAM 1–9 scale, or category indices (n,).
        n_categories: The number of labels (for the one-hot; unused for V/A/D).

    Returns:
        V/A(/D) centred on 0, ±1 at the scale's ends (n, d), or one-hot rows (n, n_categories).
    """
    if condition == "category":
        return F.one_hot(targets.long(), n_categories).float()
    return (targets.float() - 5.0) / 4.0


# ---------------------------------------------------------------------------- a trained generator


class Generator:
    """A generator with what it was trained for: ``render(z, targets, size)``; save / load a folder.

    Args:
        config: The generator's configuration; validated first.
        labels: The predictor's category labels (needed for a category generator).

    Raises:
        ConfigError: A setting in ``config`` is invalid.
        SynthError: A category generator without labels.
    """

    def __init__(self, config: GeneratorConfig, labels: list[str] | None = None):
        config.validate()
        self.config = config
        self.labels = list(labels or [])
        if config.condition == "category" and not self.labels:
            raise SynthError("a category generator needs the predictor's labels")
        self.net = CPPNGenerator(config.condition, _n_cond(config.condition, len(self.labels)),
                                 **{k: v for k, v in _arch(config).items() if k != "condition"}, seed=config.seed)
        self.card_: dict = {}

    @property
    def dims(self) -> tuple[str, ...]:
        return {"va": DIMENSIONS[:2], "vad": DIMENSIONS}.get(self.config.condition, ())

    def targets(self, *, valence=None, arousal=None, dominance=None, emotion=None) -> torch.Tensor:
        """One target from user values, checked against this generator's condition.

        Args:
            valence: Valence on the SAM 1–9 scale (V/A/D generators).
            arousal: Arousal on the SAM 1–9 scale (V/A/D generators).
            dominance: Dominance on the SAM 1–9 scale (VAD generators).
            emotion: A label (category generators).

        Returns:
            A (1, d) float tensor of V/A(/D), or a (1,) label index.

        Raises:
            SynthError: A value is missing, off the 1–9 scale, unknown, or not this generator's kind
                (one line).
        """
        cond = self.config.condition
        given = {"valence": valence, "arousal": arousal, "dominance": dominance}
        if cond == "category":
            if any(v is not None for v in given.values()):
                raise SynthError("this generator is conditioned on a category: give --emotion "
                                 f"({', '.join(self.labels)}), not --valence/--arousal/--dominance")
            if emotion is None:
                raise SynthError(f"give --emotion, one of {', '.join(self.labels)}")
            name = str(emotion).strip().lower()
            if name not in self.labels:
                raise SynthError(f"unknown emotion {emotion!r}; this generator knows {', '.join(self.labels)}")
            return torch.tensor([self.labels.index(name)])
        if emotion is not None:
            raise SynthError(f"this generator is conditioned on {cond.upper()}: give "
                             f"{' and '.join('--' + d for d in self.dims)} (1-9), not --emotion")
        extra = [d for d, v in given.items() if v is not None and d not in self.dims]
        if extra:
            raise SynthError(f"this generator is conditioned on {cond.upper()}; it takes no --{extra[0]}")
        values = []
        for d in self.dims:
            v = given[d]
            if v is None:
                raise SynthError(f"give --{d} (1-9): this generator is conditioned on {cond.upper()}")
            if not (math.isfinite(v) and SAM_MIN <= v <= SAM_MAX):
                raise SynthError(f"{d} {v:g} is off the SAM 1-9 scale")
            values.append(float(v))
        return torch.tensor([values])

    def render(self, z: torch.Tensor, targets: torch.Tensor, size: int) -> torch.Tensor:
        """Render images (differentiable).

        Args:
            z: Noise (n, z_dim).
            targets: V/A(/D) (n, d) on the SAM 1–9 scale, or label indices (n,).
            size: Side of the images in pixels.

        Returns:
            Float images (n, 3, size, size) in [0, 1].
        """
        return self.net(z, encode(self.config.condition, targets, len(self.labels)), size)

    def noise(self, n: int, seed: int) -> torch.Tensor:
        """Standard-normal noise (n, z_dim), deterministic for ``seed``.

        Args:
            n: Noise vectors.
            seed: Random seed.

        Returns:
            The noise tensor.
        """
        return torch.randn(n, self.config.z_dim, generator=torch.Generator().manual_seed(seed))

    def generate(self, targets: torch.Tensor, n: int, size: int, seed: int = 0) -> torch.Tensor:
        """``n`` images per target (target-major), deterministic for ``seed``; no gradients.

        Args:
            targets: V/A(/D) (T, d) on the SAM 1–9 scale, or label indices (T,).
            n: Images per target.
            size: Side of the images in pixels.
            seed: The noise seed.

        Returns:
            Float images (T·n, 3, size, size) in [0, 1].
        """
        reps = targets.repeat_interleave(n, dim=0)
        with torch.no_grad():
            return self.render(self.noise(len(reps), seed), reps, size)

    # ------------------------------------------------------------------ persistence

    def state(self) -> dict:
        return {"format": FORMAT, "config": _config_dict(self.config), "labels": self.labels,
                "state_dict": self.net.state_dict()}

    def save(self, directory: str | Path, card: dict) -> Path:
        """Write ``generator.pt`` then ``model.json`` into ``directory``, each atomically.

        Args:
            directory: The generator folder.
            card: The card written as ``model.json`` (and kept as ``card_``).

        Returns:
            ``directory`` as a ``Path``.
        """
        directory = Path(directory)
        buf = io.BytesIO()
        torch.save(self.state(), buf)
        atomic_write_bytes(directory / GENERATOR_FILE, buf.getvalue())
        self.card_ = card
        write_json(directory / CARD_FILE, card)
        return directory

    @classmethod
    def load(cls, directory: str | Path | None = None) -> "Generator":
        """Load a generator folder.

        Args:
            directory: A folder, or None / ``"default"`` (the packaged VA generator), ``"model-only"`` or
                ``"consensus-palmer"``.

        Returns:
            The generator, with its card in ``card_``.

        Raises:
            SynthError: The folder holds no finished generator, or a malformed one.
        """
        directory = resolve_generator(directory)
        if not (directory / CARD_FILE).is_file() or not (directory / GENERATOR_FILE).is_file():
            hint = " (training not finished: --resume it)" if (directory / CHECKPOINT_FILE).is_file() else ""
            raise SynthError(f"{directory}: not a trained emosynth generator (needs {GENERATOR_FILE} and "
                             f"{CARD_FILE}){hint}")
        try:
            state = torch.load(directory / GENERATOR_FILE, map_location="cpu", weights_only=True)
            card = json.loads((directory / CARD_FILE).read_text())
            if state.get("format") != FORMAT:
                raise ValueError(f"format {state.get('format')}, expected {FORMAT}")
            self = cls(_config_from(state["config"]), state["labels"])
            self.net.load_state_dict(state["state_dict"])
            self.net._coords = {}
        except (OSError, ValueError, KeyError, TypeError, RuntimeError) as err:
            raise SynthError(f"{directory}: malformed generator ({type(err).__name__}: {str(err)[:200]})") from None
        self.card_ = card
        return self


def resolve_generator(spec: str | Path | None) -> Path:
    """The folder of a generator.

    Args:
        spec: None or ``"default"`` (the packaged one), ``"model-only"`` (the packaged one trained
            through the predictor alone, ``MODEL_ONLY_GENERATOR_DIR``), ``"consensus-base"`` (the default's start,
            the default until 2026-12-04, ``CONSENSUS_BASE_GENERATOR_DIR``), ``"consensus-palmer"`` (trained on
            under the network and Palmer's colour judge, ``CONSENSUS_PALMER_GENERATOR_DIR``), or a folder path.

    Returns:
        The generator's folder (not checked to exist).
    """
    if spec is None or str(spec) == "default":
        return DEFAULT_GENERATOR_DIR
    return PACKAGED_GENERATORS.get(str(spec), Path(spec))


def _config_dict(cfg: GeneratorConfig) -> dict:
    d = asdict(cfg)
    d["scale"] = list(d["scale"])
    return d


#: what a setting added since format-1 generators were written meant before it existed
LEGACY = {"warp": 0, "phases": False, "layout_diversity": 0.0, "judges": "default", "held_out": "none"}


def _config_from(d: dict) -> GeneratorConfig:
    known = {f.name for f in fields(GeneratorConfig)}
    d = {**LEGACY, **{k: v for k, v in d.items() if k in known}}
    if "scale" in d:
        d["scale"] = tuple(d["scale"])
    return GeneratorConfig(**d)


# ---------------------------------------------------------------------------- training


def sample_targets(condition: str, n: int, g: torch.Generator, n_categories: int) -> torch.Tensor:
    """Random training targets: uniform over ``TRAIN_RANGES`` or over the labels.

    Args:
        condition: ``"va"``, ``"vad"`` or ``"category"``.
        n: The number of targets.
        g: The torch random generator to draw with.
        n_categories: The number of labels (category condition).

    Returns:
        V/A(/D) (n, d) on the SAM 1–9 scale, or label indices (n,).
    """
    if condition == "category":
        return torch.randint(0, n_categories, (n,), generator=g)
    dims = DIMENSIONS[: 2 if condition == "va" else 3]
    lo = torch.tensor([TRAIN_RANGES[d][0] for d in dims])
    hi = torch.tensor([TRAIN_RANGES[d][1] for d in dims])
    return lo + (hi - lo) * torch.rand(n, len(dims), generator=g)


def grid_targets(condition: str, k: int = 5, labels=()) -> torch.Tensor:
    """The fixed evaluation / sweep targets.

    Args:
        condition: ``"va"``, ``"vad"`` or ``"category"``.
        k: Targets per dimension.
        labels: The labels (category condition).

    Returns:
        A k×k grid over the V–A training box (k³ for VAD, with dominance), (k², 2) or (k³, 3) on the
        SAM 1–9 scale, or every label index once (len(labels),).
    """
    if condition == "category":
        return torch.arange(len(labels))
    dims = DIMENSIONS[: 2 if condition == "va" else 3]
    axes = [np.linspace(*TRAIN_RANGES[d], k) for d in dims]
    mesh = np.meshgrid(*axes, indexing="ij")
    return torch.tensor(np.stack([m.reshape(-1) for m in mesh], 1), dtype=torch.float32)


def condition_loss(condition: str, out: dict, targets: torch.Tensor) -> torch.Tensor:
    """The per-image condition loss.

    Args:
        condition: ``"va"``, ``"vad"`` or ``"category"``.
        out: The predictor module's output (``vad_raw``, or ``logits`` for categories).
        targets: V/A(/D) (n, d) on the SAM 1–9 scale, or label indices (n,).

    Returns:
        Per image (n,): squared error (scale points², mean over V/A(/D)) or cross-entropy to the label.
    """
    if condition == "category":
        return F.cross_entropy(out["logits"], targets.long(), reduction="none")
    d = targets.shape[1]
    return ((out["vad_raw"][:, :d] - targets) ** 2).mean(1)


@dataclass
class TrainingJudge:
    """The frozen predictor as training sees it.

    Its torch module with one view (random flips stand in for the mirror-image average), fed images
    resized to ``size``.

    Attributes:
        predictor: The loaded ``Predictor``.
        model_dir: The predictor's model folder.
        size: Side in pixels of the images the predictor sees.
    """

    predictor: object
    model_dir: str
    size: int

    @property
    def module(self):
        return self.predictor.module(flip=False, size=self.size)


def training_judge(cfg: GeneratorConfig, data_root=None) -> TrainingJudge:
    """The predictor ``cfg.model`` names, checked for what ``cfg.condition`` needs.

    Args:
        cfg: The generator's configuration.
        data_root: Root of the data sets, to train a backbone-named predictor; None: the default.

    Returns:
        The ``TrainingJudge``.

    Raises:
        SynthError: The predictor uses handcrafted features or lacks a head the condition needs.
    """
    from ..models.registry import resolve_model

    model_dir = resolve_model(cfg.model, data_root)
    predictor = _load_predictor(model_dir)
    if predictor.extractor().is_handcrafted:
        raise SynthError("the generator trains through a CNN predictor; this model uses handcrafted features")
    if cfg.condition == "category" and not predictor.labels:
        raise SynthError(f"{model_dir} has no category head, which --condition category needs")
    dims = DIMENSIONS[: {"va": 2, "vad": 3}.get(cfg.condition, 0)]
    missing = [d for d in dims if d not in predictor.targets_]
    if missing:
        raise SynthError(f"{model_dir} has no {' or '.join(missing)} head, which --condition {cfg.condition} needs")
    return TrainingJudge(predictor, model_dir, cfg.predictor_size or predictor.input_size)


@dataclass
class TrainingJudges:
    """The objective's judges as training sees them (``GeneratorConfig.judges``): network judges, each a
    ``TrainingJudge`` fed the training's randomly transformed views, and judges that score the rendered
    image as it is (the colour judges: a random colour shift would change what they measure). Their
    per-image objectives (−squared error to the target, scale points²) are combined by
    ``emosynth.judges.combine`` (a soft minimum, temperature ``tau`` points², as ``evolve --judges``).
    The first network's features drive the diversity term and the realism discriminator.

    Attributes:
        networks: The network judges, each a ``TrainingJudge``.
        direct: The judges that score the rendered image as it is.
        names: The judges' names.
        method: The combining method (``emosynth.judges.combine``).
        tau: The soft minimum's temperature, in scale points².
    """

    networks: list
    direct: list
    names: list
    method: str = CONSENSUS_METHOD
    tau: float = CONSENSUS_TAU

    @property
    def predictor(self):
        return self.networks[0].predictor

    @property
    def model_dir(self):
        return self.networks[0].model_dir

    @property
    def size(self):
        return self.networks[0].size

    @property
    def module(self):
        return self.networks[0].module


def objective_names(spec: str) -> list[str]:
    """The judge names ``--judges`` stands for.

    Args:
        spec: A preset (e.g. ``"consensus"``) or a comma-separated list of judge names.

    Returns:
        The judge names, presets expanded (``"consensus"`` → ensemble, valdez-mehrabian) and aliases resolved.
    """
    from ..judges import ALIASES, PRESETS

    key = spec.strip().lower()
    names = list(PRESETS[key]) if key in PRESETS else [n.strip() for n in spec.split(",")]
    return [ALIASES.get(n.lower(), n) for n in names]


def training_judges(cfg: GeneratorConfig, data_root=None):
    """``cfg.judges`` as training sees them: 'default' is the single ``training_judge`` (today's path,
    bit for bit); otherwise a ``TrainingJudges``. The ensemble judge's members are trained through the
    training's own random views (one per image and step: the same expectation as the ensemble's four
    fixed views, at a quarter of the cost).

    Args:
        cfg: The generator's configuration.
        data_root: Root of the data sets, to train a backbone-named predictor; None: the default.

    Returns:
        A ``TrainingJudge`` (``"default"``) or a ``TrainingJudges``.

    Raises:
        SynthError: A judge name is invalid, no network judge is named, or the predictor does not fit.
    """
    from ..judges import EnsembleJudge, JudgeError, NetworkJudge, parse_judges

    if cfg.judges.strip().lower() == "default":
        return training_judge(cfg, data_root)
    try:
        judges = parse_judges(cfg.judges)
    except JudgeError as err:
        raise SynthError(str(err)) from None
    networks, direct = [], []
    for j in judges:
        members = list(j.members) if isinstance(j, EnsembleJudge) else [j]
        for m in members:
            if isinstance(m, NetworkJudge):
                folder = str(m.folder) if m.folder else str(cfg.model or "default")
                networks.append(TrainingJudge(m.predictor, folder, cfg.predictor_size or m.predictor.input_size))
            else:
                direct.append(m)
    if not networks:
        raise SynthError(f"--judges {cfg.judges}: name at least one network judge (its features drive the "
                         "diversity term)")
    return TrainingJudges(networks, direct, [j.name for j in judges])


def held_out_names(cfg: GeneratorConfig) -> list[str]:
    """The judges a finished generator is scored against.

    Args:
        cfg: The generator's configuration (``held_out`` and ``judges``).

    Returns:
        The judge names of ``cfg.held_out``, with ``"auto"`` = ``HELD_OUT`` less any judge in the
        objective, ``"none"`` = none.
    """
    from ..judges import HELD_OUT

    spec = cfg.held_out.strip()
    if spec.lower() == "none":
        return []
    if spec.lower() == "auto":
        used = set(objective_names(cfg.judges)) | ({"default"} if cfg.judges.strip().lower() == "default" else set())
        return [n for n in HELD_OUT if n not in used]
    return [n.strip() for n in spec.split(",") if n.strip()]


def named_judge(name: str, data_root=None):
    """``emosynth.judges.make_judge(name)``; a network judge that needs training (a backbone name such as
    ``lite2``) is trained and cached from ``data_root`` first.

    Args:
        name: A judge name (``emosynth.judges``) or a backbone name.
        data_root: Root of the data sets, to train a backbone-named judge; None: no training.

    Returns:
        The judge.

    Raises:
        SynthError: The judge cannot be made (and ``data_root`` is None).
    """
    from ..errors import EmosynthError
    from ..judges import NetworkJudge, make_judge

    try:
        return make_judge(name)
    except EmosynthError as err:
        if data_root is None:
            raise SynthError(f"judge {name}: {str(err).splitlines()[0]}") from None
    from ..models.registry import resolve_model

    return NetworkJudge(resolve_model(name, data_root), name=name)


def held_out_figures(gen: "Generator", names, *, per_target: int = 4, k: int = 5, seed: int = 1,
                     size: int = 224, data_root=None) -> dict:
    """Each named judge's verdict on the grid's images (``per_target`` each, noise ``seed``): Pearson r
    between target and judged V/A and the mean absolute error (1–9), as ``heldout_<judge>_r_<dim>`` and
    ``heldout_<judge>_mae_<dim>``.

    Args:
        gen: The generator.
        names: The judge names.
        per_target: Images per grid target.
        k: Grid targets per dimension.
        seed: The noise seed.
        size: Side in pixels of the judged images.
        data_root: Root of the data sets, to train a backbone-named judge; None: no training.

    Returns:
        The figures by name (r, and MAE in SAM scale points).

    Raises:
        SynthError: A judge cannot be made.
    """
    targets = grid_targets(gen.config.condition, k, gen.labels)
    images = gen.generate(targets, per_target, size, seed)
    reps = targets.repeat_interleave(per_target, dim=0).numpy()
    out = {}
    for name in names:
        judge = named_judge(name, data_root)
        with torch.no_grad():
            vad = torch.cat([judge(images[i:i + 32])["vad"] for i in range(0, len(images), 32)]).numpy()
        for j, d in enumerate(gen.dims):
            if d not in judge.dims:
                continue
            out[f"heldout_{name}_r_{d}"] = float(np.corrcoef(reps[:, j], vad[:, j])[0, 1])
            out[f"heldout_{name}_mae_{d}"] = float(np.abs(reps[:, j] - vad[:, j]).mean())
    return out


@functools.lru_cache(maxsize=2)
def _load_predictor(model_dir: str):
    """Loaded once per process (with its torch views): it is never changed."""
    from ..models.predictor import Predictor

    return Predictor.load(model_dir)


def _paired_transforms(img: torch.Tensor, rng: np.random.Generator, tcfg) -> torch.Tensor:
    """Random transforms and flips, the same for both images of a pair (2i, 2i+1): the pair then differs
    in the predictor's features only as far as their noise makes the images differ, which is what the
    diversity term should reward (different draws per image would reward it for the transforms)."""
    from ..transforms import random_flip, random_transforms

    state = rng.bit_generator.state
    halves = []
    for part in (img[0::2], img[1::2]):
        rng.bit_generator.state = state  # the same draws for both halves
        halves.append(random_flip(random_transforms(part, rng, tcfg), rng))
    return torch.stack(halves, 1).reshape(img.shape)


def layout_features(images: torch.Tensor, cells: int = 8) -> torch.Tensor:
    """(n, cells²): each image's luminance (Rec. 601) averaged over a cells × cells grid, less its mean —
    the coarse light-dark layout, which a recolouring that keeps the composition barely changes.

    Args:
        images: Float images (n, 3, H, W) in [0, 1].
        cells: Grid cells per side.

    Returns:
        The centred luminance grid (n, cells²).
    """
    lum = 0.299 * images[:, 0] + 0.587 * images[:, 1] + 0.114 * images[:, 2]
    low = F.adaptive_avg_pool2d(lum[:, None], cells).flatten(1)
    return low - low.mean(1, keepdim=True)


def layout_distance(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """Distance 0–2 between rows of ``layout_features``: ‖a − b‖² / (‖a‖² + ‖b‖²) (1 − their correlation
    when both have the same contrast; 0 for two flat images, so flatness earns nothing).

    Args:
        a: Rows of ``layout_features`` (n, cells²).
        b: Rows of ``layout_features`` (n, cells²).
        eps: Added to the denominator.

    Returns:
        The distance (n,), 0–2.
    """
    return ((a - b) ** 2).sum(1) / ((a * a).sum(1) + (b * b).sum(1) + eps)


def batch_losses(gen: Generator, judge, targets, z, rng, tcfg, train: bool = True) -> dict:
    """One batch laid out as pairs (images 2i and 2i+1 share a target and differ in z): ``condition``
    (mean loss: squared error or cross-entropy for one predictor; −consensus objective for
    ``TrainingJudges``), ``diversity`` (pairwise feature distance / z distance), ``layout`` (pairwise
    ``layout_distance`` / z distance), ``features`` (the first network's standardised features) and
    ``per_judge`` (name → mean squared error, for the log).

    Args:
        gen: The generator.
        judge: A ``TrainingJudge`` or ``TrainingJudges``.
        targets: The batch's targets, V/A(/D) (n, d) on the SAM 1–9 scale or label indices (n,).
        z: The batch's noise (n, z_dim).
        rng: The numpy random generator of the views' transforms.
        tcfg: The views' ``TransformConfig``.
        train: Transform the views at random (False: the images as rendered).

    Returns:
        The dict of losses described above.
    """
    img = gen.render(z, targets, gen.config.train_size)
    x = _paired_transforms(img, rng, tcfg) if train else img
    nets = judge.networks if isinstance(judge, TrainingJudges) else [judge]
    module = nets[0].module
    out = module(x)
    # out["z"] has these values; a separate node keeps the gradients' float sums (and so seeded runs) as they were
    feats = (out["features"] - module.heads.mean) / module.heads.scale
    per_judge = {}
    if isinstance(judge, TrainingJudges):
        from ..judges import combine, judge_objective, target_tensor

        t = target_tensor(targets, len(targets))
        objs = [judge_objective(out["vad_raw"], t)]
        objs += [judge_objective(n.module(x)["vad_raw"], t) for n in nets[1:]]
        objs += [judge_objective(j(img)["vad_raw"], t) for j in judge.direct]
        names = [f"net{i}" if i else "network" for i in range(len(nets))] + [j.name for j in judge.direct]
        per_judge = {n: float(-o.detach().mean()) for n, o in zip(names, objs)}
        cond = -combine(torch.stack(objs), judge.method, judge.tau)
    else:
        cond = condition_loss(gen.config.condition, out, targets)
    f = F.normalize(feats, dim=1)
    d_feat = 1 - (f[0::2] * f[1::2]).sum(1)  # cosine distance of each pair, 0–2
    d_z = (z[0::2] - z[1::2]).abs().mean(1)
    with torch.set_grad_enabled(torch.is_grad_enabled() and gen.config.layout_diversity > 0):
        lay = layout_features(img)
        d_lay = layout_distance(lay[0::2], lay[1::2])
    return {"condition": cond.mean(), "diversity": (d_feat / (d_z + 1e-3)).mean(),
            "layout": (d_lay / (d_z + 1e-3)).mean(), "features": feats, "per_judge": per_judge}


def step_losses(gen: Generator, judge, targets, z, rng, tcfg, train: bool = True, features: bool = False):
    """Condition loss (mean), diversity (mean pairwise feature distance / z distance) of one batch laid
    out as pairs: images 2i and 2i+1 share a target and differ in z. ``features``: also return the
    predictor's standardised features of the batch (what the realism discriminator judges).

    Args:
        gen: The generator.
        judge: A ``TrainingJudge`` or ``TrainingJudges``.
        targets: The batch's targets, V/A(/D) (n, d) on the SAM 1–9 scale or label indices (n,).
        z: The batch's noise (n, z_dim).
        rng: The numpy random generator of the views' transforms.
        tcfg: The views' ``TransformConfig``.
        train: Transform the views at random (False: the images as rendered).
        features: Also return the features.

    Returns:
        ``(condition, diversity)``, or ``(condition, diversity, features)`` with ``features``.
    """
    b = batch_losses(gen, judge, targets, z, rng, tcfg, train)
    if features:
        return b["condition"], b["diversity"], b["features"]
    return b["condition"], b["diversity"]


class Discriminator(nn.Module):
    """A conditional projection discriminator (Miyato & Koyama 2018) on the frozen predictor's
    standardised backbone features, as in projected GANs (Sauer et al. 2021): real photographs of the
    --realism data set against generated images, each with its condition. It needs no image network of
    its own, so it costs next to nothing beside the predictor's forward pass.

    Args:
        n_features: Width of the predictor's features.
        n_cond: Width of the encoded condition.
        seed: Random seed of the initialisation.
        hidden: Width of the hidden layers.
    """

    def __init__(self, n_features: int, n_cond: int, seed: int, hidden: int = 256):
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed + 1)
            # no dropout: its draws would come from the global RNG and break bit-identical --resume
            self.phi = nn.Sequential(nn.Linear(n_features, hidden), nn.LeakyReLU(0.2),
                                     nn.Linear(hidden, hidden), nn.LeakyReLU(0.2))
            self.linear = nn.Linear(hidden, 1)
            self.embed = nn.Linear(n_cond, hidden, bias=False)

    def forward(self, f: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        h = self.phi(f)
        return self.linear(h)[:, 0] + (self.embed(c) * h).sum(1)


def real_features(cfg: GeneratorConfig, judge: TrainingJudge, labels: list[str], data_root, progress=None):
    """The --realism data set's images as the discriminator sees them: standardised features of the
    predictor's backbone(s), one view (no flip averaging, as in training), and their encoded conditions
    (rated V/A(/D), or the raters' category distribution).

    Args:
        cfg: The generator's configuration (``realism`` and ``condition``).
        judge: The ``TrainingJudge`` whose backbone extracts the features.
        labels: The predictor's category labels (category condition).
        data_root: Root of the data sets; None: the default.
        progress: A progress callback passed to the feature extractor, or None.

    Returns:
        ``(features, conditions)``: float tensors (n, n_features) and (n, n_cond).

    Raises:
        SynthError: The data set cannot be loaded or lacks the ratings the condition needs.
    """
    from dataclasses import replace

    from ..data import load_dataset
    from ..errors import DataError
    from ..models.features import FeatureExtractor

    try:
        data = load_dataset(cfg.realism, data_root)
    except DataError as err:
        raise SynthError(f"--realism {cfg.realism}: {err}") from None
    if cfg.condition == "category":
        if data.probabilities is None or data.categories is None:
            raise SynthError(f"--realism {cfg.realism} has no category ratings, which --condition category needs")
        names = list(data.categories.names)
        missing = [n for n in labels if n not in names]
        if missing:
            raise SynthError(f"--realism {cfg.realism} lacks the predictor's categories {missing}")
        cond = torch.tensor(data.probabilities[:, [names.index(n) for n in labels]], dtype=torch.float32)
        keep = np.ones(len(cond), bool)
    else:
        d = 2 if cfg.condition == "va" else 3
        vad = data.vad[:, :d]
        keep = np.isfinite(vad).all(1)
        if not keep.any():
            raise SynthError(f"--realism {cfg.realism} has no {cfg.condition.upper()} ratings")
        cond = encode(cfg.condition, torch.tensor(vad[keep]), 0)
    fc = replace(judge.predictor.config.features, flip=False)
    idx = np.flatnonzero(keep)
    feats = FeatureExtractor(fc).extract([data.paths[i] for i in idx], [data.where[i] for i in idx],
                                         progress=progress)
    h = judge.module.heads
    f = (torch.from_numpy(feats) - h.mean) / h.scale
    return f.float(), cond


def _identity(cfg: GeneratorConfig) -> dict:
    return {k: v for k, v in _config_dict(cfg).items() if k not in GeneratorConfig.RESUMABLE}


# Over 80 lines: one training loop whose whole state (nets, optimisers, both RNGs, log) resumes bit-for-bit.
def train_generator(config: GeneratorConfig, out: str | Path, *, resume: bool = False, command: str | None = None,
                    data_root=None, progress=None, stop_after: int | None = None,
                    overwrite: bool = False) -> Generator:
    """Train a generator into folder ``out``: checkpoints (``checkpoint.pt``, ``train.csv``) every
    ``checkpoint_every`` steps, atomically; ``resume`` continues from the checkpoint to the same state an
    unbroken run reaches. ``stop_after`` stops after that many steps (a checkpoint is written), as a kill
    would. Returns the trained generator, saved with its card (unless stopped early).

    ``out`` must be new or empty, or a generator folder (``emosynth.fsio``'s ownership rule): an unfinished
    one is continued with ``resume``, a finished one replaced only with ``overwrite``. The checkpoint holds
    tensors, numbers and strings only and is read with ``torch.load(weights_only=True)``: it runs no code.

    Args:
        config: What to build and how to train it; validated first.
        out: The generator folder.
        resume: Continue from ``out``'s checkpoint.
        command: The training command line, recorded in the card.
        data_root: Root of the data sets; None: the default.
        progress: ``progress(step, steps)``, called once per step, or None.
        stop_after: Stop after this many steps (a checkpoint is written); None: train to the end.
        overwrite: Allow replacing a finished generator at ``out``.

    Returns:
        The trained generator.

    Raises:
        ConfigError: A setting in ``config`` is invalid.
        SynthError: ``out`` is not ours or holds a generator (without ``resume`` / ``overwrite``), the
            checkpoint is missing, unreadable or of other settings, the predictor does not fit, or
            training diverged.
    """
    from ..fsio import check_output, mark_output
    from ..models.registry import model_id
    from ..transforms import TransformConfig

    cfg = config
    cfg.validate()
    out = Path(out)
    ckpt = out / CHECKPOINT_FILE
    check_output(out, GENERATOR_KIND, overwrite=True)  # new, empty or a generator: never anything else
    stale = not resume and (ckpt.exists() or (out / CARD_FILE).exists())
    if stale and not overwrite:
        raise SynthError(f"{out} already holds a generator; pass --resume to continue it, --overwrite to replace "
                         "it, or choose another --out")
    if resume and not ckpt.exists():
        raise SynthError(f"{out}: no {CHECKPOINT_FILE} to resume from")
    judge = training_judges(cfg, data_root)
    init = Generator.load(cfg.init) if cfg.init and not resume else None  # a bad --init: nothing written
    if stale:  # --overwrite: the earlier generator goes once the new training can start
        for name in (CHECKPOINT_FILE, CARD_FILE, GENERATOR_FILE, LOG_FILE):
            (out / name).unlink(missing_ok=True)
    if not resume:
        mark_output(out, GENERATOR_KIND)  # an unfinished training is recognised as a generator
    labels = judge.predictor.labels
    gen = Generator(cfg, labels)
    if init is not None:
        warm_start(gen, init)
    opt = torch.optim.Adam(gen.net.parameters(), lr=cfg.lr)
    g = torch.Generator().manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    log: list[dict] = []
    step, seconds = 0, 0.0
    if resume:
        try:
            # data only: tensors, numbers, strings, lists and dicts — a pickle payload is refused, never run
            state = torch.load(ckpt, map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001 — any unreadable checkpoint is the same user problem
            raise SynthError(f"{ckpt}: unreadable checkpoint ({type(err).__name__}); "
                             "remove it to start afresh") from None
        if state.get("format") != FORMAT:
            raise SynthError(f"{ckpt}: checkpoint from another emosynth version; remove it to start afresh")
        # settings added since the checkpoint was written take their defaults
        ours, theirs = _identity(cfg), {**_identity(GeneratorConfig()), **LEGACY, **state["identity"]}
        diff = [k for k in ours if ours[k] != theirs.get(k)]
        if diff:
            raise SynthError(f"{ckpt}: --resume with different settings ("
                             + ", ".join(f"{k}: was {theirs.get(k)!r}, now {ours[k]!r}" for k in diff[:3]) + ")")
        gen.net.load_state_dict(state["net"])
        gen.net._coords = {}
        opt.load_state_dict(state["optimizer"])
        g.set_state(state["torch_rng"])
        rng.bit_generator.state = state["numpy_rng"]
        log, step, seconds = state["log"], state["step"], state["seconds"]
    disc = d_opt = real = None
    if cfg.realism:
        real = real_features(cfg, judge, labels, data_root)
        disc = Discriminator(real[0].shape[1], real[1].shape[1], cfg.seed)
        d_opt = torch.optim.Adam(disc.parameters(), lr=cfg.d_lr, betas=(0.5, 0.999))
        if resume:
            disc.load_state_dict(state["disc"])
            d_opt.load_state_dict(state["d_opt"])
    tcfg = TransformConfig(jitter=cfg.jitter, scale=tuple(cfg.scale), degrees=cfg.degrees, colour=cfg.colour)
    pairs = cfg.batch // 2
    last = min(cfg.steps, stop_after) if stop_after is not None else cfg.steps
    gen.net.train()
    while step < last:
        t0 = time.perf_counter()
        targets = sample_targets(cfg.condition, pairs, g, len(labels)).repeat_interleave(2, dim=0)
        z = torch.randn(cfg.batch, cfg.z_dim, generator=g)
        b = batch_losses(gen, judge, targets, z, rng, tcfg)
        cond, div, feats = b["condition"], b["diversity"], b["features"]
        loss = cond - cfg.diversity * div
        if cfg.layout_diversity > 0:
            loss = loss - cfg.layout_diversity * b["layout"]
        row = {"layout": b["layout"].item(), **{f"{k}_loss": v for k, v in b["per_judge"].items()}}
        if disc is not None:
            c_fake = encode(cfg.condition, targets, len(labels))
            if cfg.condition == "category":
                c_fake = c_fake.float()
            g_real = F.softplus(-disc(feats, c_fake)).mean()  # non-saturating: look real for this condition
            loss = loss + cfg.realism_weight * g_real
            row["realism"] = g_real.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if disc is not None:
            pick = torch.randint(0, len(real[0]), (cfg.batch,), generator=g)
            d_loss = (F.softplus(-disc(real[0][pick], real[1][pick])).mean()
                      + F.softplus(disc(feats.detach(), c_fake)).mean())
            d_opt.zero_grad()
            d_loss.backward()
            d_opt.step()
            row["discriminator"] = d_loss.item()
        _check_finite_step(step + 1, (loss, *(row.get(k) for k in ("realism", "discriminator") if k in row)),
                           (gen.net, disc), ckpt)
        step += 1
        seconds += time.perf_counter() - t0
        log.append({"step": step, "loss": loss.item(), "condition_loss": cond.item(), "diversity": div.item(),
                    **row, "seconds": round(seconds, 3)})
        if step % cfg.checkpoint_every == 0 or step == last:
            _save_checkpoint(ckpt, cfg, gen, opt, g, rng, log, step, seconds, disc, d_opt)
        if progress:
            progress(step, cfg.steps)
    if step < cfg.steps:
        return gen  # stopped early; --resume continues
    metrics = {"steps": step, "seconds": round(seconds, 1),
               "final_condition_loss": float(np.mean([r["condition_loss"] for r in log[-20:]])),
               "final_diversity": float(np.mean([r["diversity"] for r in log[-20:]])),
               "final_layout": float(np.mean([r.get("layout", np.nan) for r in log[-20:]]))}
    metrics.update(evaluate_generator(gen, judge, per_target=cfg.eval_per_target, k=cfg.eval_grid))
    held = held_out_names(cfg)
    if held and cfg.condition != "category":
        metrics.update(held_out_figures(gen, held, per_target=cfg.eval_per_target, k=cfg.eval_grid,
                                        data_root=data_root))
    card = {"kind": "generator", "format": FORMAT, "config": _config_dict(cfg), "labels": labels,
            "architecture": "CPPN coordinate MLP (x, y, r + Fourier features), FiLM-modulated by (z, c)"
                            + (f"; noise-dependent layout: {cfg.warp} displacement waves + rotation/scale/shift"
                               f"{', Fourier phases' if cfg.phases else ''}" if gen.net.layout_free else ""),
            "judges": {"spec": cfg.judges, "objective": (["default" if cfg.model is None else str(cfg.model)]
                                                         if not isinstance(judge, TrainingJudges) else judge.names),
                       "combination": (None if not isinstance(judge, TrainingJudges)
                                       else f"{judge.method}, tau {judge.tau} points^2"),
                       "held_out": held},
            "realism": ({"dataset": cfg.realism, "weight": cfg.realism_weight,
                         "discriminator": "conditional projection discriminator on the predictor's standardised "
                                          "features (one view), non-saturating loss"} if cfg.realism else None),
            "init": _init_record(cfg.init), "command": command,
            "predictor": {"path": judge.model_dir, "id": model_id(judge.model_dir),
                                              "input_size": judge.size},
            "train_ranges": {d: list(TRAIN_RANGES[d]) for d in gen.dims}, "metrics": metrics,
            "emosynth_version": __version__,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    gen.net.eval()
    gen.save(out, card)
    return gen


def warm_start(gen: "Generator", source) -> list[str]:
    """Copy every tensor of generator ``source`` (a ``Generator`` or a folder spec) whose name and shape
    match ``gen``'s.

    Args:
        gen: The generator to initialise (changed in place).
        source: A ``Generator`` or a folder spec (``resolve_generator``).

    Returns:
        The names of the tensors copied.

    Raises:
        SynthError: ``source`` has another condition, or no weights of the same shape.
    """
    src = source if isinstance(source, Generator) else Generator.load(source)
    spec = source if not isinstance(source, Generator) else "the --init generator"
    if src.config.condition != gen.config.condition:
        raise SynthError(f"--init {spec}: a {src.config.condition} generator, this one is {gen.config.condition}")
    theirs, ours = src.net.state_dict(), gen.net.state_dict()
    same = [k for k, v in ours.items() if k in theirs and theirs[k].shape == v.shape]
    if not [k for k in same if not k.endswith("freqs")]:
        raise SynthError(f"--init {spec}: no weights of the same shape (another z_dim, hidden or fourier?)")
    gen.net.load_state_dict({**ours, **{k: theirs[k] for k in same}})
    gen.net._coords = {}
    return same


def _init_record(spec):
    if not spec:
        return None
    from ._generate import generator_id

    return {"generator": str(spec), "id": generator_id(spec),
            "note": "every tensor whose name and shape match was copied from it; the rest were seeded afresh"}


def _check_finite_step(step: int, losses, nets, ckpt: Path):
    """Stop training (``SynthError``, one line) as soon as a loss or a weight is NaN or infinite, before
    that step can be checkpointed: the checkpoint on disk stays the last good one."""
    bad = any(not math.isfinite(v.item() if torch.is_tensor(v) else float(v)) for v in losses) or any(
        not bool(torch.isfinite(p).all()) for net in nets if net is not None for p in net.parameters())
    if bad:
        kept = (f"{ckpt} (step {_checkpoint_step(ckpt)}) is kept" if ckpt.exists()
                else "no checkpoint was written")
        raise SynthError(f"training diverged at step {step} (a loss or weight became NaN or infinite); {kept}. "
                         "Train afresh with a smaller lr")


def _checkpoint_step(ckpt: Path):
    try:
        return int(pd.read_csv(ckpt.parent / LOG_FILE)["step"].iloc[-1])
    except Exception:  # noqa: BLE001 — only for the message
        return "?"


def _save_checkpoint(path: Path, cfg, gen, opt, g, rng, log, step, seconds, disc=None, d_opt=None):
    state = {"format": FORMAT, "identity": _identity(cfg), "net": gen.net.state_dict(), "optimizer": opt.state_dict(),
             "torch_rng": g.get_state(), "numpy_rng": rng.bit_generator.state, "log": log, "step": step,
             "seconds": seconds}
    if disc is not None:
        state.update(disc=disc.state_dict(), d_opt=d_opt.state_dict())
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())
    atomic_write_bytes(path.parent / LOG_FILE, pd.DataFrame(log).to_csv(index=False).encode())


# ---------------------------------------------------------------------------- evaluation


def score(condition: str, pred: dict, targets: torch.Tensor) -> np.ndarray:
    """Score each image's prediction against its target.

    Args:
        condition: ``"va"``, ``"vad"`` or ``"category"``.
        pred: A predictor's output (``vad`` on 1–9, or ``probabilities``).
        targets: V/A(/D) (n, d) on the SAM 1–9 scale, or label indices (n,).

    Returns:
        Per image: absolute error per dimension (n, d) in SAM scale points, or (n, 1) 1/0 for the
        target label predicted.
    """
    if condition == "category":
        return (pred["probabilities"].argmax(1) == targets.numpy()).astype(float)[:, None]
    d = targets.shape[1]
    return np.abs(pred["vad"][:, :d] - targets.numpy())


def evaluate_generator(gen: Generator, judge: TrainingJudge | None = None, *, per_target: int = 4, k: int = 5,
                       seed: int = 1, predictors: dict | None = None) -> dict:
    """Condition error over the fixed grid of targets (``grid_targets``), ``per_target`` images each:
    mean absolute V/A(/D) error (1–9) or emotion accuracy, for the conditioned images and for the same
    images' targets shuffled (what any image from the generator scores: the condition's effect is the
    difference).

    Args:
        gen: The generator.
        judge: The ``TrainingJudge`` whose predictor scores by default (needed when ``predictors`` is None).
        per_target: Images per grid target.
        k: Grid targets per dimension.
        seed: The noise seed (and the shuffle's).
        predictors: Name → ``Predictor``; None: the training predictor only, named ``"training"``.

    Returns:
        The metrics: ``grid``, ``per_target`` and per predictor ``<name>_mae_<dim>`` (SAM scale points)
        or ``<name>_accuracy``, each also ``_shuffled``.
    """
    cond = gen.config.condition
    targets = grid_targets(cond, k, gen.labels)
    if predictors is None:
        predictors = {"training": judge.predictor}
    images = gen.generate(targets, per_target, 224, seed)
    reps = targets.repeat_interleave(per_target, dim=0)
    shuffled = reps[torch.from_numpy(np.random.default_rng(seed).permutation(len(reps)))]
    metrics = {"grid": int(len(targets)), "per_target": per_target}
    for name, p in predictors.items():
        pred = p.predict_tensor(images)
        s, s_shuf = score(cond, pred, reps), score(cond, pred, shuffled)
        if cond == "category":
            metrics[f"{name}_accuracy"] = float(s.mean())
            metrics[f"{name}_accuracy_shuffled"] = float(s_shuf.mean())
        else:
            for j, d in enumerate(gen.dims):
                metrics[f"{name}_mae_{d}"] = float(s[:, j].mean())
                metrics[f"{name}_mae_{d}_shuffled"] = float(s_shuf[:, j].mean())
    return metrics
