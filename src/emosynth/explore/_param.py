"""Image parametrisations for activation maximisation (after lucent / Olah et al. 2017).

An image is not optimised as raw pixels but through a parametrisation that makes the optimiser's
steps look like images: Fourier coefficients scaled by 1/frequency (so low frequencies move first)
in a decorrelated colour space (the square root of ImageNet's colour covariance), squashed into
[0, 1] by a sigmoid. ``PixelImage`` is the naive alternative (raw pixels through a sigmoid), kept to
show why the parametrisation matters.

Both are invertible where claimed: ``from_image`` returns parameters whose ``image()`` is the given
image (up to float precision, for values strictly inside (0, 1)).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

# Square root of ImageNet's RGB colour correlation (lucent's ``color_correlation_svd_sqrt``).
COLOR_CORRELATION_SVD_SQRT = torch.tensor([[0.26, 0.09, 0.02],
                                           [0.27, 0.00, -0.05],
                                           [0.27, -0.09, 0.03]])
_MAX_NORM = COLOR_CORRELATION_SVD_SQRT.norm(dim=0).max()
COLOR = COLOR_CORRELATION_SVD_SQRT / _MAX_NORM  # decorrelated → RGB (3×3, invertible)
COLOR_INV = torch.linalg.inv(COLOR)


def decorrelated_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """Decorrelated colour → RGB logits (before the sigmoid).

    Args:
        x: Float tensor (N, 3, H, W) in the decorrelated colour space.

    Returns:
        RGB logits (N, 3, H, W); their sigmoid is the image in (0, 1).
    """
    return torch.einsum("ij,njhw->nihw", COLOR.to(x), x)


def rgb_to_decorrelated(x: torch.Tensor) -> torch.Tensor:
    """RGB logits → decorrelated colour, the inverse of ``decorrelated_to_rgb``.

    Args:
        x: RGB logits (N, 3, H, W).

    Returns:
        Float tensor (N, 3, H, W) in the decorrelated colour space.
    """
    return torch.einsum("ij,njhw->nihw", COLOR_INV.to(x), x)


def _logit(img: torch.Tensor, eps: float = 1e-4) -> torch.Tensor:
    img = img.clamp(eps, 1 - eps)
    return torch.log(img) - torch.log1p(-img)


def frequency_scale(h: int, w: int, decay_power: float = 1.0) -> torch.Tensor:
    """1 / max(f, 1/max(h, w))^decay for the rfft2 grid (h, w//2+1), times the side (lucent's scaling)."""
    fy = torch.fft.fftfreq(h)[:, None]
    fx = torch.fft.rfftfreq(w)[None, :]
    f = torch.sqrt(fx**2 + fy**2)
    return (1.0 / torch.clamp(f, min=1.0 / max(h, w)) ** decay_power) * np.sqrt(h * w) / max(h, w)


class FourierImage(nn.Module):
    """A batch of images parametrised by scaled Fourier coefficients in decorrelated colour.

    Calling it returns the images, float tensor (N, 3, size, size) in (0, 1).

    Args:
        n: Number of images.
        size: Side of each image, in pixels.
        sd: Standard deviation of the random initial coefficients.
        decay_power: Exponent of the 1/frequency scaling.
        generator: torch generator of the initial coefficients (None: torch's global one).
    """

    def __init__(self, n: int, size: int, sd: float = 0.01, decay_power: float = 1.0,
                 generator: torch.Generator | None = None):
        super().__init__()
        self.size = size
        self.register_buffer("scale", frequency_scale(size, size, decay_power))
        shape = (n, 3, size, size // 2 + 1, 2)
        self.spectrum = nn.Parameter(torch.randn(shape, generator=generator) * sd)

    def logits(self) -> torch.Tensor:
        spec = torch.view_as_complex(self.spectrum) * self.scale
        x = torch.fft.irfft2(spec, s=(self.size, self.size), norm="ortho")
        return decorrelated_to_rgb(x)

    def forward(self) -> torch.Tensor:
        """(N, 3, size, size) in (0, 1)."""
        return torch.sigmoid(self.logits())

    @torch.no_grad()
    def from_image(self, images: torch.Tensor) -> "FourierImage":
        """Set the parameters so that ``forward()`` returns ``images`` (N, 3, size, size) in (0, 1)."""
        x = rgb_to_decorrelated(_logit(images))
        spec = torch.fft.rfft2(x, norm="ortho") / self.scale
        self.spectrum.copy_(torch.view_as_real(spec))
        return self


class PixelImage(nn.Module):
    """The naive parametrisation: one free logit per pixel and channel.

    Calling it returns the images, float tensor (N, 3, size, size) in (0, 1).

    Args:
        n: Number of images.
        size: Side of each image, in pixels.
        sd: Standard deviation of the random initial logits.
        generator: torch generator of the initial logits (None: torch's global one).
    """

    def __init__(self, n: int, size: int, sd: float = 0.01, generator: torch.Generator | None = None):
        super().__init__()
        self.size = size
        self.pixels = nn.Parameter(torch.randn((n, 3, size, size), generator=generator) * sd)

    def forward(self) -> torch.Tensor:
        return torch.sigmoid(self.pixels)

    @torch.no_grad()
    def from_image(self, images: torch.Tensor) -> "PixelImage":
        self.pixels.copy_(_logit(images))
        return self


def make_image(n: int, size: int, naive: bool = False, seed: int = 0) -> nn.Module:
    """A seeded image parametrisation: ``FourierImage``, or ``PixelImage`` when ``naive``.

    Args:
        n: Number of images.
        size: Side of each image, in pixels.
        naive: Raw pixels through a sigmoid instead of the Fourier parametrisation.
        seed: Seed of the random initial parameters.

    Returns:
        The module; calling it returns float images (n, 3, size, size) in (0, 1).
    """
    g = torch.Generator().manual_seed(seed)
    return PixelImage(n, size, generator=g) if naive else FourierImage(n, size, generator=g)
