"""Property tests of the readers (issue 15, "a property test of the readers"): arbitrary bytes as an
image file, mutated real images, arbitrary folder layouts and arbitrary CSV shapes and values. The
property: a reader returns a result or raises one ``EmosynthError`` subclass with a one-line message —
never another exception — and writes nothing anywhere (the temporary folder it read from holds
exactly what the test wrote). Bounded: a few hundred examples, well under a minute in all."""

from __future__ import annotations

import io
import os
import shutil
import string
import tempfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from emosynth.errors import EmosynthError
from emosynth.imageio import IMAGE_SUFFIXES, MAX_PIXELS, read_image

# Pillow warns about the oddities it meets in mutated files (skipped TIFF tags, bad EXIF): expected here.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
                derandomize=True, database=None)


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    """Every entry under ``root``: relative path → (size, mtime_ns), to prove nothing was written."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = Path(dirpath) / n
            st_ = p.lstat()
            out[str(p.relative_to(root))] = (st_.st_size if not p.is_dir() else 0, st_.st_mtime_ns)
    return out


def _top(folder: Path) -> set[str]:
    """The names directly in ``folder`` (the working directory: a new file or folder there shows)."""
    return set(os.listdir(folder))


class Sandbox:
    """A fresh temporary folder per example, removed after it; ``frozen()`` marks the point after
    which nothing may change in it, checked on exit together with the working directory."""

    def __enter__(self) -> "Sandbox":
        self.dir = Path(tempfile.mkdtemp(prefix="emosynth-prop-"))
        self.cwd = _top(Path.cwd())
        self.before = None
        return self

    def frozen(self) -> "Sandbox":
        self.before = _tree(self.dir)
        return self

    def __exit__(self, *exc):
        try:
            if exc[0] is None:
                if self.before is not None:
                    assert _tree(self.dir) == self.before, "a reader wrote into the folder it read"
                assert _top(Path.cwd()) == self.cwd, "a reader wrote into the working directory"
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
        return False


def expect_result_or_one_line(fn, *args, **kw):
    try:
        return fn(*args, **kw)
    except EmosynthError as e:
        msg = str(e)
        assert msg and "\n" not in msg, repr(msg)
        return None


# ---------------------------------------------------------------------------- images


def _sample_bytes() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    im = Image.fromarray(arr)
    out = {}
    for fmt, mode, ext in [("PNG", "RGB", ".png"), ("JPEG", "RGB", ".jpg"), ("GIF", "P", ".gif"),
                           ("TIFF", "F", ".tif"), ("PNG", "I;16", ".png"), ("BMP", "RGB", ".bmp"),
                           ("WEBP", "RGBA", ".webp"), ("TIFF", "CMYK", ".tiff")]:
        if mode == "F":
            src = Image.fromarray(arr[:, :, 0].astype(np.float32) / 255)
        elif mode == "I;16":
            src = Image.fromarray(arr[:, :, 0].astype(np.uint16) * 257)
        elif mode == "P":
            src = im.quantize(16)
        else:
            src = im.convert(mode)
        buf = io.BytesIO()
        src.save(buf, fmt)
        out[f"{fmt}-{mode}{ext}"] = buf.getvalue()
    return out


SAMPLES = _sample_bytes()


def _check_image(path: Path):
    im = expect_result_or_one_line(read_image, path)
    if im is not None:
        assert im.mode == "RGB" and im.width * im.height <= MAX_PIXELS and min(im.size) >= 1
        assert np.asarray(im).dtype == np.uint8


@settings(max_examples=150, **SETTINGS)
@given(data=st.binary(max_size=2048), suffix=st.sampled_from(sorted(IMAGE_SUFFIXES)))
def test_arbitrary_bytes_as_an_image_file(data, suffix):
    with Sandbox() as sb:
        p = sb.dir / f"x{suffix}"
        p.write_bytes(data)
        sb.frozen()
        _check_image(p)


@settings(max_examples=200, **SETTINGS)
@given(name=st.sampled_from(sorted(SAMPLES)), cut=st.integers(0, 4000),
       flips=st.lists(st.tuples(st.integers(0, 4000), st.integers(0, 255)), max_size=8),
       header=st.booleans())
@example(name="PNG-RGB.png", cut=4000, flips=[], header=True)  # 388000 × 356000: a bomb
@example(name="PNG-RGB.png", cut=0, flips=[], header=True)  # 0 × 0
def test_mutated_real_image_files(name, cut, flips, header):
    data = bytearray(SAMPLES[name])
    for pos, val in flips:
        data[pos % len(data)] = val
    if header:  # claim another size (PNG IHDR width/height, CRC kept valid): up to a bomb, or zero
        if data[:4] == b"\x89PNG":
            data[16:24] = (np.array([cut * 97, cut * 89], dtype=">u4")).tobytes()
            data[29:33] = zlib.crc32(bytes(data[12:29])).to_bytes(4, "big")
    else:
        data = data[: max(0, len(data) - cut)]
    with Sandbox() as sb:
        p = sb.dir / name.split("-", 1)[1].replace(";", "")
        p.write_bytes(bytes(data))
        sb.frozen()
        _check_image(p)


# ---------------------------------------------------------------------------- folders and tables

names = st.text(alphabet=string.ascii_letters + string.digits + " _-.é", min_size=1, max_size=12).filter(
    lambda s: s not in (".", "..") and not s.startswith("."))


@settings(max_examples=60, **SETTINGS)
@given(layout=st.dictionaries(names, st.lists(st.tuples(names, st.sampled_from(sorted(SAMPLES) + ["junk", "empty"]),
                                                         st.sampled_from(sorted(IMAGE_SUFFIXES) + [".txt", ""])),
                                               max_size=3), max_size=4),
       loose=st.booleans())
def test_arbitrary_category_folders(layout, loose):
    from emosynth.data import load_dataset

    with Sandbox() as sb:
        d = sb.dir
        root = d / "set"
        root.mkdir()
        if loose:
            (root / "loose.jpg").write_bytes(SAMPLES["JPEG-RGB.jpg"])
        for cat, files in layout.items():
            (root / cat).mkdir(exist_ok=True)
            for stem, kind, ext in files:
                data = {"junk": b"not an image", "empty": b""}[kind] if kind in ("junk", "empty") else SAMPLES[kind]
                (root / cat / f"{stem}{ext}").write_bytes(data)
        sb.frozen()
        ds = expect_result_or_one_line(load_dataset, str(root))
        if ds is not None:
            for p in ds.paths[:6]:
                _check_image(Path(p))


CELLS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**12, 10**12),
    st.sampled_from(["", "nan", "inf", "-inf", "NA", "5", "9.5", "0", "1e309", "joy", "anger", "Fear", "neutral",
                     "\"", "'", ",", "\n", "a,b", "\"x\"\"y\"", "../../etc/passwd", "/etc/passwd", "img.png",
                     "missing.jpg", "junk.jpg", "empty.png", "sub/img.png", " 5 ", "1,5", "١"]),
    st.text(max_size=8))
COLUMNS = st.sampled_from(["path", "valence", "arousal", "dominance", "category", "group", "extra", "Valence",
                           "path", "", "p_joy", "p_fear"])


def _csv_value(v) -> str:
    s = repr(v) if isinstance(v, float) else str(v)
    if any(c in s for c in ',"\n\r'):
        s = '"' + s.replace('"', '""') + '"'
    return s


@settings(max_examples=150, **SETTINGS)
@given(header=st.lists(COLUMNS, min_size=1, max_size=6),
       rows=st.lists(st.lists(CELLS, min_size=0, max_size=7), max_size=8),
       scale=st.sampled_from(["1-9", "1-7", "0-1", "0-100", "bogus", "9-1"]),
       sep=st.sampled_from([",", ";", "\t"]))
def test_arbitrary_csv_data_sets(header, rows, scale, sep):
    from emosynth.data import load_dataset

    with Sandbox() as sb:
        d = sb.dir
        Image.fromarray(np.full((8, 8, 3), 120, np.uint8)).save(d / "img.png")
        (d / "sub").mkdir()
        Image.fromarray(np.full((8, 8, 3), 30, np.uint8)).save(d / "sub" / "img.png")
        (d / "junk.jpg").write_text("not an image")
        (d / "empty.png").write_bytes(b"")
        lines = [sep.join(header)] + [sep.join(_csv_value(v) for v in r) for r in rows]
        table = d / "set.csv"
        table.write_text("\n".join(lines) + "\n", encoding="utf-8")
        sb.frozen()
        ds = expect_result_or_one_line(load_dataset, str(table), scale=scale)
        if ds is not None:
            assert len(ds.paths) >= 1
            for p in ds.paths:
                _check_image(Path(p))


@settings(max_examples=80, **SETTINGS)
@given(data=st.binary(max_size=600) | st.text(max_size=400).map(lambda s: s.encode("utf-8", "surrogatepass")))
def test_arbitrary_bytes_as_a_csv(data):
    from emosynth.data import load_dataset

    with Sandbox() as sb:
        table = sb.dir / "set.csv"
        table.write_bytes(data)
        sb.frozen()
        ds = expect_result_or_one_line(load_dataset, str(table))
        assert ds is None or len(ds.paths) == len(ds.vad) >= 1


def test_the_sandbox_notices_a_write():
    """The property's own check can fail: a write after ``frozen()`` is noticed, and the folder goes."""
    with pytest.raises(AssertionError, match="wrote"):
        with Sandbox() as sb:
            sb.frozen()
            (sb.dir / "new.txt").write_text("x")
            leftover = sb.dir
    assert not leftover.exists()
