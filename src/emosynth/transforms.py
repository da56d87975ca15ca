"""Random image transforms (lucent-style): jitter, scale, rotation, colour, flips; resizing and uint8
quantisation. Shared by synth (robust fitness, the generator) and explore (activation maximisation).

An image that keeps its predicted emotion under all of them is less likely to be a fooling
pattern that only one pixel grid and one network respond to.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class TransformConfig:
    """Ranges of the random transforms (each drawn uniformly per image).

    Attributes:
        jitter: Translation either way, as a fraction of the image side.
        scale: (low, high) range of the scale factor.
        degrees: Rotation either way, in degrees.
        colour: Brightness, contrast and saturation multipliers are drawn in [1 - colour, 1 + colour].
    """

    #: translation, as a fraction of the image side
    jitter: float = 0.08
    #: scale factor range
    scale: tuple[float, float] = (0.85, 1.15)
    #: rotation, degrees either way
    degrees: float = 10.0
    #: brightness / contrast / saturation multipliers in [1 - colour, 1 + colour]
    colour: float = 0.15


def random_transforms(images: torch.Tensor, rng: np.random.Generator,
                      cfg: TransformConfig = TransformConfig()) -> torch.Tensor:
    """One random affine + colour transform per image of ``images``.

    Deterministic for the generator's state. Borders are filled by reflection so no black frame
    (a cue of its own) appears.

    Args:
        images: Float tensor (N, 3, H, W) in [0, 1].
        rng: NumPy generator the transform parameters are drawn from.
        cfg: Ranges of the transforms.

    Returns:
        The transformed images, float tensor (N, 3, H, W) clamped to [0, 1].
    """
    n = images.shape[0]
    angle = np.deg2rad(rng.uniform(-cfg.degrees, cfg.degrees, n))
    scale = rng.uniform(*cfg.scale, n)
    shift = rng.uniform(-cfg.jitter, cfg.jitter, (n, 2)) * 2  # grid coordinates span 2
    colour = rng.uniform(1 - cfg.colour, 1 + cfg.colour, (n, 3))
    return _view(images, angle, scale, shift, colour)


def _view(images: torch.Tensor, angle, scale, shift, colour) -> torch.Tensor:
    """The affine + colour transform with one row of parameters per image (angle, scale: (N,); shift:
    (N, 2) in grid coordinates; colour: (N, 3) brightness, contrast, saturation multipliers)."""
    cos, sin = np.cos(angle) / scale, np.sin(angle) / scale
    theta = np.stack([np.stack([cos, -sin, shift[:, 0]], 1), np.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(torch.from_numpy(theta).float(), list(images.shape), align_corners=False)
    x = F.grid_sample(images, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    c = torch.from_numpy(colour).float()
    grey = x.mean(dim=1, keepdim=True)
    x = grey + (x - grey) * c[:, 2, None, None, None]                        # saturation
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = mean + (x - mean) * c[:, 1, None, None, None]                        # contrast
    x = x * c[:, 0, None, None, None]                                        # brightness
    return x.clamp(0, 1)


def random_flip(images: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Mirror each image of (N, 3, H, W) left–right with probability 1/2 (one draw per image)."""
    flip = torch.from_numpy(rng.random(images.shape[0]) < 0.5)
    return torch.where(flip[:, None, None, None], torch.flip(images, dims=[3]), images)


def shared_view(images: torch.Tensor, rng: np.random.Generator,
                cfg: TransformConfig = TransformConfig()) -> torch.Tensor:
    """One random view (``random_transforms`` then ``random_flip``) whose parameters are drawn once, as
    for a batch of one image, and applied to every image of the batch: each image gets exactly the view
    it would get alone, and the generator advances by the same draws whatever the batch size, so a
    result does not depend on what an image is batched with.

    Args:
        images: Float tensor (N, 3, H, W) in [0, 1].
        rng: NumPy generator the view's parameters are drawn from.
        cfg: Ranges of the transforms.

    Returns:
        The viewed images, float tensor (N, 3, H, W) clamped to [0, 1].
    """
    n = images.shape[0]
    # the draws of random_transforms and random_flip for one image, in their order, for every image
    angle = np.repeat(np.deg2rad(rng.uniform(-cfg.degrees, cfg.degrees, 1)), n)
    scale = np.repeat(rng.uniform(*cfg.scale, 1), n)
    shift = np.repeat(rng.uniform(-cfg.jitter, cfg.jitter, (1, 2)) * 2, n, axis=0)
    colour = np.repeat(rng.uniform(1 - cfg.colour, 1 + cfg.colour, (1, 3)), n, axis=0)
    x = _view(images, angle, scale, shift, colour)
    return torch.flip(x, dims=[3]) if bool(rng.random(1)[0] < 0.5) else x


def resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """Antialiased bilinear resize of (N, 3, H, W) to ``size`` × ``size`` (no-op at that size)."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    return F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False, antialias=True)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(N, 3, H, W) in [0, 1] → (N, H, W, 3) uint8."""
    return (images.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()
