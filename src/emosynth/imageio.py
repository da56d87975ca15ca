"""Reading images safely: the one reader every image read in emosynth goes through.

``read_image`` refuses, with one ``ImageError`` line naming the file:

- decompression bombs: an image over ``MAX_PIXELS`` (64 megapixels) is refused from its header,
  before any pixel is decoded (Pillow's own ``DecompressionBombWarning`` / ``Error`` are caught too);
- missing, zero-byte, non-regular and non-image files, truncated or corrupt ones;
- with ``within`` (a run's ``images/`` folder, which arrives in shared run directories): any path
  that leaves it (``../``, an absolute path) and any symlink on the way from it to the file.

and decodes every mode Pillow opens to 8-bit RGB:

- 16-bit grey (``I;16``, ``I;16B``, ``I;16L``, ``I;16N``) by its type's range: 0–65535 → 0–255,
  so a 16-bit copy of a photo reads as the 8-bit one does;
- 32-bit integer grey (``I``): data within 0–255 taken as it is, within 0–65535 scaled as 16-bit
  (older files and Pillows give 16-bit PNGs this mode), anything else by its min–max (a constant
  image becomes mid grey);
- float grey (``F``): data in [0, 1] is scaled by 255, data in [0, 255] taken as it is, anything
  else by its min–max (a constant image becomes mid grey); NaN reads as 0;
- palettes (``P``, with or without transparency) and alpha (``RGBA``, ``LA``, ``PA``, ``La``,
  ``RGBa``) composited on white; ``CMYK``, ``YCbCr``, ``1`` converted; animated images: the first
  frame. EXIF orientation is not applied (as before: the stored pixels are what is scored).
"""

from __future__ import annotations

import os
import stat
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from .errors import ImageError

# A truncated file must fail loudly rather than be padded with grey.
ImageFile.LOAD_TRUNCATED_IMAGES = False

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}

#: The largest image read, in pixels (width × height): 64 megapixels, e.g. 8000 × 8000. Larger
#: headers are refused before decoding (a 69-byte PNG can claim 30000 × 30000 = 900 megapixels).
MAX_PIXELS = 64_000_000

_ALPHA_MODES = ("RGBA", "LA", "PA", "La", "RGBa")


def check_within(path: str | Path, within: str | Path) -> Path:
    """``path`` resolved, if it lies inside the folder ``within`` with no symlink on the way from
    ``within`` down to it (``within`` itself may be reached through links); else ``ImageError``."""
    path, root = Path(path), Path(within)
    try:
        real_root = root.resolve(strict=True)
    except (OSError, RuntimeError):
        raise ImageError(f"{root}: folder not found") from None
    # Walk from the file up to the root: every step must be a real entry, never a link.
    if path.is_absolute() and not _is_under(Path(os.path.abspath(path)), Path(os.path.abspath(root))):
        raise ImageError(f"{path}: outside {root}; only files inside it are read")
    rel = os.path.relpath(os.path.abspath(path), os.path.abspath(root))
    parts = Path(rel).parts
    if rel == os.curdir or any(p == os.pardir for p in parts):
        raise ImageError(f"{path}: outside {root}; only files inside it are read")
    cur = root
    for p in parts:
        cur = cur / p
        if cur.is_symlink():
            raise ImageError(f"{path}: a symbolic link; images in {root} must be regular files")
    real = Path(os.path.realpath(path))
    if not _is_under(real, real_root):
        raise ImageError(f"{path}: outside {root}; only files inside it are read")
    return real


def _is_under(p: Path, root: Path) -> bool:
    try:
        p.relative_to(root)
    except ValueError:
        return False
    return p != root


def read_image(path: str | Path, *, within: str | Path | None = None, where: str | None = None,
               draft: tuple[int, int] | None = None) -> Image.Image:
    """Open ``path`` as an 8-bit RGB image, decoding it fully (see the module's rules).

    ``within``: a folder the file must lie inside, reached without symlinks (a run's ``images/``).
    ``where`` (e.g. "OASIS.csv row 12") is added to the error message so a user can find the entry
    that named the file. ``draft`` (w, h): let a JPEG decode at a reduced scale no smaller than
    that (for thumbnails). Raises ``ImageError`` (one line) for anything that is not a readable
    image within the limits.
    """
    path = Path(path)
    at = f" (listed at {where})" if where else ""
    if within is not None:
        try:
            check_within(path, within)
        except ImageError as err:
            raise ImageError(f"{err}{at}") from None
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        raise ImageError(f"{path}: image not found{at}") from None
    if not stat.S_ISREG(st.st_mode):
        kind = "a folder" if stat.S_ISDIR(st.st_mode) else "not a regular file"
        raise ImageError(f"{path}: {kind}, not an image file{at}")
    if st.st_size == 0:
        raise ImageError(f"{path}: empty file (0 bytes), not an image{at}")
    try:
        with warnings.catch_warnings():
            # Our own limit (below Pillow's warning threshold) decides; Pillow's warning is noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                w, h = im.size
                if w * h > MAX_PIXELS:
                    raise _Bomb(w, h)
                if w == 0 or h == 0:
                    raise ImageError(f"{path}: image of size {w}×{h} has no pixels{at}")
                if draft is not None and im.format == "JPEG" and im.mode in ("RGB", "L"):
                    im.draft("RGB", draft)
                im.load()
                return to_rgb(im)
    except _Bomb as b:
        raise ImageError(f"{path}: {b.w}×{b.h} = {b.w * b.h / 1e6:.0f} megapixels is over the limit of "
                         f"{MAX_PIXELS / 1e6:.0f} (a decompression bomb?); not read{at}") from None
    except Image.DecompressionBombError:
        raise ImageError(f"{path}: over the pixel limit of {MAX_PIXELS / 1e6:.0f} megapixels "
                         f"(a decompression bomb?); not read{at}") from None
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image file that can be read{at}") from None
    except ImageError:
        raise
    except Exception as err:  # noqa: BLE001 — a crafted file can make a Pillow plugin raise anything
        text = str(err).splitlines()[0] if str(err).strip() else type(err).__name__
        reason = "truncated" if "truncated" in text else text
        raise ImageError(f"{path}: unreadable image ({reason}){at}") from None


class _Bomb(Exception):
    def __init__(self, w: int, h: int):
        super().__init__()
        self.w, self.h = w, h


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) from the header of a file ``read_image`` has already accepted."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with Image.open(path) as im:
            return im.size


def load_rgb(path: str | Path, where: str | None = None) -> Image.Image:
    """``read_image(path, where=where)`` (the older name)."""
    return read_image(path, where=where)


def to_rgb(im: Image.Image) -> Image.Image:
    """An opened image of any Pillow mode as 8-bit RGB, by the module's rules (alpha on white,
    16-bit by its type's range, 32-bit and float grey by their data's range)."""
    mode = im.mode
    if mode == "RGB":
        return im.copy()  # detached from the file (the caller may close it)
    if mode.startswith("I;16") or mode in ("I", "F"):
        return Image.fromarray(_grey_to_uint8(im), "L").convert("RGB")
    if mode in _ALPHA_MODES or (mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(bg, rgba).convert("RGB")
    return im.convert("RGB")


def _grey_to_uint8(im: Image.Image) -> np.ndarray:
    mode = im.mode
    a = np.asarray(im)
    if mode.startswith("I;16"):
        a = a.astype(np.float64) / 257.0  # 0-65535 → 0-255: 257 = 65535 / 255
    elif mode == "I":
        a = a.astype(np.float64)
        lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
        if lo < 0 or hi > 65535:
            a = _min_max(a, lo, hi)
        elif hi > 255:
            a = a / 257.0
    else:  # "F"
        a = np.nan_to_num(a.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
        if lo >= 0 and hi <= 1:
            a = a * 255.0
        elif not (lo >= 0 and hi <= 255):
            a = _min_max(a, lo, hi)
    return np.clip(np.rint(a), 0, 255).astype(np.uint8)


def _min_max(a: np.ndarray, lo: float, hi: float) -> np.ndarray:
    if hi - lo <= 0 or not np.isfinite(hi - lo):
        return np.full_like(a, 128.0)
    return (a - lo) / (hi - lo) * 255.0


def read_array(path: str | Path, size: int | None = None, *, within: str | Path | None = None,
               where: str | None = None) -> np.ndarray:
    """``read_image`` as a uint8 (H, W, 3) array; with ``size``, resized to size×size first
    (``resize_square``)."""
    img = read_image(path, within=within, where=where)
    return resize_square(img, size) if size else np.array(img, dtype=np.uint8)


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
