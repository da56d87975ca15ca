"""Reading images safely: every failure becomes one ``ImageError`` line naming the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from .errors import ImageError

# A truncated file must fail loudly rather than be padded with grey.
ImageFile.LOAD_TRUNCATED_IMAGES = False

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


def load_rgb(path: str | Path, where: str | None = None) -> Image.Image:
    """Open ``path`` as an RGB image, decoding it fully.

    Alpha is composited over white (OASIS's ``Monkey 3.jpg`` is really an RGBA PNG), so the
    transparent parts read as plain background. ``where`` (e.g. "OASIS.csv row 12") is added to
    the error message so a user can find the entry that named the file.
    """
    path = Path(path)
    at = f" (listed at {where})" if where else ""
    if not path.is_file():
        raise ImageError(f"{path}: image not found{at}")
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
                im = im.convert("RGBA")
                bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
                return Image.alpha_composite(bg, im).convert("RGB")
            return im.convert("RGB")
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image file that can be read{at}") from None
    except (OSError, ValueError, SyntaxError) as err:
        reason = "truncated" if "truncated" in str(err) else str(err).splitlines()[0]
        raise ImageError(f"{path}: unreadable image ({reason}){at}") from None


def resize_square(img: Image.Image, size: int) -> np.ndarray:
    """Resize to size×size (bicubic, whole image, aspect not kept) and return uint8 HWC."""
    if img.size != (size, size):
        img = img.resize((size, size), Image.BICUBIC)
    return np.array(img, dtype=np.uint8)


def list_images(folder: str | Path) -> list[Path]:
    """Image files directly in ``folder`` (sorted, natural order for numbered names)."""
    folder = Path(folder)
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    return sorted(files, key=_natural_key)


def _natural_key(p: Path):
    import re

    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", p.name)]
