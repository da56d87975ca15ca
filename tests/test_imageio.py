"""The one image reader (issue 15 §6 §7, and the path rules of §4 §12): every Pillow mode decoded to
the 8-bit RGB a person sees, and every hostile file refused with one line.

Each mode is made with Pillow from a real OASIS photo and compared with the 8-bit original."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from emosynth.errors import EmosynthError, ImageError
from emosynth.imageio import MAX_PIXELS, read_image

PHOTO = "Lake 9.jpg"


def png_header(width: int, height: int) -> bytes:
    """A PNG of a header only (IHDR, an empty IDAT, IEND): it claims width × height 8-bit RGB."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def photo(data_root) -> Image.Image:
    """A real colour photo (OASIS), 8-bit RGB, reduced to keep the tests quick."""
    src = data_root / "oasis" / "images" / PHOTO
    if not src.is_file():
        src = sorted((data_root / "oasis" / "images").glob("*.jpg"))[0]
    with Image.open(src) as im:
        im = im.convert("RGB")
        im.thumbnail((192, 192))
        return im


def rgb(im: Image.Image) -> np.ndarray:
    return np.asarray(im, dtype=np.int16)


def grey3(grey: np.ndarray) -> np.ndarray:
    return np.repeat(grey.astype(np.int16)[:, :, None], 3, axis=2)


def decoded(tmp_path: Path, im: Image.Image, name: str, **save) -> np.ndarray:
    path = tmp_path / name
    im.save(path, **save)
    out = read_image(path)
    assert out.mode == "RGB" and out.size == im.size
    return rgb(out)


# ------------------------------------------------------------------------------------ modes


def test_16_bit_grey_png_reads_as_its_8_bit_original(photo, tmp_path):
    g = np.asarray(photo.convert("L"))
    im16 = Image.fromarray(g.astype(np.uint16) * 257)  # 0-255 → 0-65535, full 16-bit range
    with Image.open(_saved(tmp_path, im16, "g16.png")) as check:
        assert check.mode.startswith("I;16") or check.mode == "I"
    out = rgb(read_image(tmp_path / "g16.png"))
    assert np.abs(out - grey3(g)).max() <= 1
    assert 40 < out.mean() < 215  # not all white (the old decoding clipped every value over 255)


def test_16_bit_big_endian_and_32_bit_grey(photo, tmp_path):
    from emosynth.imageio import to_rgb

    g = np.asarray(photo.convert("L"))
    big = Image.fromarray((g.astype(np.uint16) * 257).astype(">u2"))
    assert big.mode == "I;16B"
    assert np.abs(rgb(to_rgb(big)) - grey3(g)).max() <= 1
    # 32-bit integer TIFFs: 8-bit data as it is; 16-bit data by 0-65535; wider data by its min-max
    i8 = Image.fromarray(g.astype(np.int32))
    assert i8.mode == "I"
    assert np.abs(decoded(tmp_path, i8, "i8.tif") - grey3(g)).max() <= 1
    i16 = Image.fromarray(g.astype(np.int32) * 257)
    assert np.abs(decoded(tmp_path, i16, "i16.tif") - grey3(g)).max() <= 1
    wide = Image.fromarray(g.astype(np.int32) * 1_000_000)
    stretched = (g - g.min()) / max(1, int(g.max()) - int(g.min())) * 255
    assert np.abs(decoded(tmp_path, wide, "i32.tif") - grey3(np.rint(stretched))).max() <= 1


def test_float_tiffs_in_0_1_and_0_255_are_not_black(photo, tmp_path):
    g = np.asarray(photo.convert("L"))
    unit = Image.fromarray((g / 255.0).astype(np.float32))
    assert unit.mode == "F"
    out = decoded(tmp_path, unit, "f01.tif")
    assert np.abs(out - grey3(g)).max() <= 1
    assert out.mean() > 40  # the old decoding: all black
    scaled = Image.fromarray(g.astype(np.float32))
    assert np.abs(decoded(tmp_path, scaled, "f255.tif") - grey3(g)).max() <= 1
    odd = Image.fromarray(g.astype(np.float32) * 0.01 - 1.0)  # [-1, 1.55]: by its min-max
    stretched = (g - g.min()) / max(1, int(g.max()) - int(g.min())) * 255
    assert np.abs(decoded(tmp_path, odd, "fodd.tif") - grey3(np.rint(stretched))).max() <= 1


def test_palette_alpha_cmyk_and_animation(photo, tmp_path):
    ref = rgb(photo)
    # a 256-colour palette is close to the photo, and exactly its own palette colours
    pal = photo.quantize(256)
    out = decoded(tmp_path, pal, "p.png")
    assert np.array_equal(out, rgb(pal.convert("RGB")))
    assert np.abs(out - ref).mean() < 6
    # palette transparency: the transparent entry reads as white
    pt = pal.copy()
    pt.info["transparency"] = 0
    out = decoded(tmp_path, pt, "pt.png", transparency=0)
    hole = np.asarray(pal) == 0
    assert hole.any() and (out[hole] == 255).all()
    assert np.array_equal(out[~hole], rgb(pal.convert("RGB"))[~hole])
    # alpha on white: left half opaque, right half half-transparent
    w, h = photo.size
    alpha = np.full((h, w), 255, np.uint8)
    alpha[:, w // 2:] = 128
    rgba = photo.copy()
    rgba.putalpha(Image.fromarray(alpha))
    a = alpha[:, :, None] / 255.0
    want = np.rint(ref * a + 255 * (1 - a))
    assert np.abs(decoded(tmp_path, rgba, "rgba.png") - want).max() <= 1
    la = photo.convert("L").convert("LA")
    la.putalpha(Image.fromarray(alpha))
    g = np.asarray(photo.convert("L"))[:, :, None]
    assert np.abs(decoded(tmp_path, la, "la.png") - np.rint(g * a + 255 * (1 - a))).max() <= 1
    pa = pal.convert("PA")
    pa.putalpha(Image.fromarray(alpha))
    from emosynth.imageio import to_rgb

    pal_rgb = rgb(pal.convert("RGB"))
    assert np.abs(rgb(to_rgb(pa)) - np.rint(pal_rgb * a + 255 * (1 - a))).max() <= 1
    # CMYK (a lossless TIFF): converted back to the same RGB
    assert np.abs(decoded(tmp_path, photo.convert("CMYK"), "cmyk.tif") - ref).max() <= 1
    # an animated GIF: the first frame, not the last
    black = Image.new("RGB", photo.size)
    photo.save(tmp_path / "anim.gif", save_all=True, append_images=[black], duration=100, loop=0)
    out = rgb(read_image(tmp_path / "anim.gif"))
    assert np.abs(out - ref).mean() < 12 and out.mean() > 40
    # 1-bit
    bw = photo.convert("1")
    assert np.array_equal(decoded(tmp_path, bw, "bw.png"), grey3(np.asarray(bw.convert("L"))))


def _saved(tmp_path: Path, im: Image.Image, name: str) -> Path:
    im.save(tmp_path / name)
    return tmp_path / name


def test_the_packaged_model_scores_a_16_bit_copy_as_the_8_bit_photo(photo, tmp_path):
    """Issue 15 §7: a 16-bit copy of a photo was scored V 5.00 A 3.25 (an all-white image)."""
    from emosynth.models.predictor import Predictor

    grey = photo.convert("L")
    grey.save(tmp_path / "g8.png")
    Image.fromarray(np.asarray(grey).astype(np.uint16) * 257).save(tmp_path / "g16.png")
    Image.new("L", photo.size, 255).save(tmp_path / "white.png")
    r8, r16, white = Predictor.load().predict([tmp_path / "g8.png", tmp_path / "g16.png", tmp_path / "white.png"])
    for k in ("valence", "arousal", "dominance"):
        assert abs(r16[k] - r8[k]) <= 0.05, (k, r16[k], r8[k])
    assert abs(r8["valence"] - white["valence"]) + abs(r8["arousal"] - white["arousal"]) > 0.2


# ------------------------------------------------------------------------------------ refusals


def test_a_decompression_bomb_header_is_refused_before_decoding(tmp_path):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_header(30000, 30000))
    assert bomb.stat().st_size < 100
    with pytest.raises(ImageError, match="megapixels") as e:
        read_image(bomb)
    assert "\n" not in str(e.value) and str(bomb) in str(e.value)
    # just over our own limit, far under Pillow's: refused too
    side = int(MAX_PIXELS ** 0.5) + 1
    over = tmp_path / "over.png"
    over.write_bytes(png_header(side, side))
    with pytest.raises(ImageError, match="over the limit"):
        read_image(over)
    assert MAX_PIXELS == 64_000_000


@pytest.mark.parametrize("content", [b"", b"hello, I am text, not a JPEG\n", b"\xff\xd8\xff\xe0" + b"\0" * 40])
def test_zero_byte_text_and_truncated_files_are_one_line(tmp_path, content):
    bad = tmp_path / "photo.jpg"
    bad.write_bytes(content)
    with pytest.raises(ImageError) as e:
        read_image(bad)
    assert "\n" not in str(e.value) and str(bad) in str(e.value)
    if not content:
        assert "0 bytes" in str(e.value)


def test_a_folder_is_not_an_image(tmp_path):
    (tmp_path / "x.png").mkdir()
    with pytest.raises(ImageError, match="folder"):
        read_image(tmp_path / "x.png")


def test_within_refuses_symlinks_dotdot_and_absolute_paths(photo, tmp_path):
    images = tmp_path / "run" / "images"
    images.mkdir(parents=True)
    photo.save(images / "ok.png")
    outside = tmp_path / "secret.png"
    photo.save(outside)
    assert read_image(images / "ok.png", within=images).size == photo.size
    (images / "link.png").symlink_to(outside)
    (images / "sub").mkdir()
    (images / "sublink").symlink_to(tmp_path)  # a linked folder on the way
    for p, why in [(images / "link.png", "symbolic link"), (images / "../../secret.png", "outside"),
                   (images / str(outside), "outside"), (images / "sublink" / "secret.png", "symbolic link"),
                   (images / "sub" / ".." / ".." / "images" / ".." / ".." / "secret.png", "outside")]:
        with pytest.raises(ImageError, match=why):
            read_image(p, within=images)
    # without `within` (a user's own file) a link is followed as the user meant
    assert read_image(images / "link.png").size == photo.size


# ------------------------------------------------------------------------------------ commands


def cli(argv, capsys):
    """Run the real entry point in-process; returns (exit code, stdout, stderr)."""
    from emosynth.cli import main

    code = 0
    try:
        main([str(a) for a in argv])
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    out = capsys.readouterr()
    return code, out.out, out.err


def one_line(code, out, err, pattern):
    assert code == 2, err
    assert "Traceback" not in err
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, err
    patterns = (pattern,) if isinstance(pattern, str) else pattern
    assert lines[0].startswith("error: ") and any(p in lines[0] for p in patterns), lines[0]


LEAVES = ("outside", "leaves the run's images", "symbolic link")


def test_predict_on_a_bomb_file_is_one_line_exit_2(tmp_path):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_header(30000, 30000))
    res = subprocess.run([sys.executable, "-m", "emosynth.cli", "predict", str(bomb)], capture_output=True,
                         text=True, timeout=600, env=dict(os.environ))
    assert res.returncode == 2, res.stderr
    lines = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    assert lines[0].startswith("error: ") and "megapixels" in lines[0], lines[0]


def test_predict_a_folder_and_train_from_a_csv_with_a_bomb_are_one_line(data_root, tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    src = sorted((data_root / "oasis" / "images").glob("*.jpg"))[:4]
    for p in src:
        Image.open(p).convert("RGB").resize((96, 96)).save(folder / (p.stem.replace(" ", "_") + ".png"))
    (folder / "zz_bomb.png").write_bytes(png_header(30000, 30000))
    one_line(*cli(["predict", folder, "-q"], capsys), "megapixels")
    rows = ["path,valence,arousal"] + [f"{q.name},{3 + i},{4 + i % 3}" for i, q in enumerate(sorted(folder.iterdir()))]
    (folder / "set.csv").write_text("\n".join(rows) + "\n")
    one_line(*cli(["train", "--dataset", folder / "set.csv", "--out", tmp_path / "model", "--quiet"], capsys),
             "megapixels")
    assert not (tmp_path / "model").exists()


def _bomb_run(root: Path, photo: Image.Image, bomb_name="bomb.png") -> Path:
    from emosynth.rundir import run_header, write_items, write_png, write_run

    run = root / "run"
    rows = []
    for i in range(4):
        write_png(run / "images" / f"e{i}.png", np.asarray(photo.rotate(90 * i)))
        rows.append({"file": f"e{i}.png", "target_valence": 2.0 + 2 * i, "target_arousal": 3.0 + i,
                     "valence": 5.0, "arousal": 5.0, "dominance": 5.0})
    (run / "images" / bomb_name).write_bytes(png_header(30000, 30000))
    rows.append({"file": bomb_name, "target_valence": 8.0, "target_arousal": 8.0,
                 "valence": 5.0, "arousal": 5.0, "dominance": 5.0})
    write_items(run, rows)
    write_run(run, run_header("evolve", "emosynth evolve --out run", {}, 0, "test-model", method="map-elites"))
    return run


def test_gallery_and_analyze_on_a_run_with_a_bomb_are_one_line(photo, tmp_path, capsys):
    run = _bomb_run(tmp_path, photo)
    one_line(*cli(["gallery", run, "--out", tmp_path / "site", "-q"], capsys), "megapixels")
    assert not (tmp_path / "site").exists()
    one_line(*cli(["analyze", run, "--out", tmp_path / "report", "-q"], capsys), "megapixels")
    assert not (tmp_path / "report").exists()


def test_analyze_reads_only_inside_the_runs_images(photo, tmp_path, capsys):
    """Issue 15 §12: items.csv naming ../ (or a link) made analyze read a file outside images/."""
    from emosynth.rundir import write_items

    run = _bomb_run(tmp_path, photo)
    (run / "images" / "bomb.png").unlink()
    photo.save(tmp_path / "outside.png")
    rows = [{"file": f"e{i}.png", "target_valence": 2.0 + 2 * i, "target_arousal": 3.0 + i} for i in range(4)]
    write_items(run, rows + [{"file": "../../outside.png", "target_valence": 8.0, "target_arousal": 8.0}])
    one_line(*cli(["analyze", run, "--out", tmp_path / "report", "-q"], capsys), LEAVES)
    (run / "images" / "link.png").symlink_to(tmp_path / "outside.png")
    write_items(run, rows + [{"file": "link.png", "target_valence": 8.0, "target_arousal": 8.0}])
    one_line(*cli(["analyze", run, "--out", tmp_path / "report", "-q"], capsys), LEAVES)
    write_items(run, rows + [{"file": str(tmp_path / "outside.png"), "target_valence": 8.0, "target_arousal": 8.0}])
    one_line(*cli(["analyze", run, "--out", tmp_path / "report", "-q"], capsys), LEAVES)
    assert not (tmp_path / "report").exists()


def test_every_image_read_in_the_package_goes_through_the_reader():
    src = Path(__file__).resolve().parent.parent / "src" / "emosynth"
    offenders = [str(p.relative_to(src)) for p in src.rglob("*.py")
                 if p.name != "imageio.py" and "Image.open(" in p.read_text(encoding="utf-8")]
    assert offenders == [], offenders
    assert issubclass(ImageError, EmosynthError)
