"""Handcrafted colour/texture/composition features: each checked on images whose answer is known."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from emosynth.models import handcrafted as hc
from emosynth.models.handcrafted import FEATURE_NAMES, FEATURES, WORK_SIZE, features, features_batch

IDX = {n: i for i, n in enumerate(FEATURE_NAMES)}
HUE_BINS = [n for n in FEATURE_NAMES if n.startswith("colour_hue_") and not n.startswith("colour_hue_mean")
            and n != "colour_hue_spread"]


def f(image) -> dict[str, float]:
    vec = features(image)
    assert vec.shape == (len(FEATURE_NAMES),) and vec.dtype == np.float64
    assert np.all(np.isfinite(vec))
    return dict(zip(FEATURE_NAMES, vec.tolist()))


def solid(rgb, h=64, w=96) -> np.ndarray:
    return np.broadcast_to(np.array(rgb, dtype=np.uint8), (h, w, 3)).copy()


def checkerboard(size=256, square=16) -> np.ndarray:
    y, x = np.mgrid[:size, :size]
    board = (((y // square) + (x // square)) % 2 * 255).astype(np.uint8)
    return np.repeat(board[:, :, None], 3, axis=2)


def gradient(size=256) -> np.ndarray:
    ramp = np.tile(np.arange(size, dtype=np.uint8), (size, 1))
    return np.repeat(ramp[:, :, None], 3, axis=2)


def synthetic_photo(h=240, w=320, seed=0) -> np.ndarray:
    """Smooth colour fields plus some texture: a stand-in photo that needs no data files."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:h, :w] / max(h, w)
    img = np.stack([0.6 + 0.3 * np.sin(6 * x), 0.4 + 0.3 * np.cos(5 * y), 0.3 + 0.2 * np.sin(4 * (x + y))], -1)
    img = img + rng.normal(0, 0.04, img.shape)
    return (np.clip(img, 0, 1) * 255).round().astype(np.uint8)


@pytest.fixture(scope="module")
def real_photos():
    """A few Emotion6 photos when the shared data is on this machine (never copied into the repo)."""
    root = Path(__file__).resolve().parents[2] / "shared" / "data" / "emotion6" / "images"
    paths = [root / kw / "1.jpg" for kw in ("joy", "sadness", "fear", "anger")]
    if not all(p.is_file() for p in paths):
        pytest.skip("Emotion6 images not found under ../shared/data/emotion6/images")
    return [np.asarray(Image.open(p).convert("RGB")) for p in paths]


# ------------------------------------------------------------------ the feature list


def test_feature_list_is_named_and_documented():
    assert FEATURE_NAMES == [n for n, _ in FEATURES]
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES)
    assert all(n.split("_")[0] in ("colour", "texture", "composition") for n in FEATURE_NAMES)
    assert all(isinstance(d, str) and len(d) > 20 for _, d in FEATURES)
    assert len(HUE_BINS) == 12
    for name in ("colour_hue_mean_sin", "colour_hue_mean_cos", "colour_hue_spread", "colour_saturation_mean",
                 "colour_brightness_mean", "colour_pleasure_vm", "colour_arousal_vm", "colour_dominance_vm",
                 "colour_colourfulness", "colour_grey_share", "colour_warm_share", "texture_glcm_contrast",
                 "texture_edge_density", "composition_symmetry", "composition_saliency_thirds"):
        assert name in IDX
    assert WORK_SIZE == 256


# ------------------------------------------------------------------ colour


def test_pure_grey_image():
    v = f(solid((128, 128, 128)))
    assert v["colour_saturation_mean"] == 0 and v["colour_saturation_sd"] == 0
    assert v["colour_colourfulness"] == 0
    assert v["colour_grey_share"] == 1
    assert v["texture_edge_density"] == 0 and v["texture_fine_detail"] == 0
    assert v["texture_glcm_contrast"] == 0 and v["texture_glcm_energy"] == pytest.approx(1)
    assert v["colour_brightness_mean"] == pytest.approx(128 / 255)
    assert v["colour_brightness_sd"] == pytest.approx(0, abs=1e-12)
    # no colour: no mean hue, maximal spread, empty hue histogram
    assert v["colour_hue_mean_sin"] == 0 and v["colour_hue_mean_cos"] == 0 and v["colour_hue_spread"] == 1
    assert sum(v[n] for n in HUE_BINS) == 0 and v["colour_warm_share"] == 0 and v["colour_cool_share"] == 0
    assert v["composition_symmetry"] == 1 and v["composition_regions"] == 1
    assert v["texture_grey_entropy"] == 0


def test_red_is_warm_and_blue_is_cool():
    red, blue = f(solid((255, 0, 0))), f(solid((0, 0, 255)))
    assert red["colour_warm_share"] == 1 and red["colour_cool_share"] == 0
    assert blue["colour_warm_share"] == 0 and blue["colour_cool_share"] == 1
    assert red["colour_hue_red"] == 1 and blue["colour_hue_blue"] == 1
    assert red["colour_hue_mean_cos"] == pytest.approx(1) and red["colour_hue_mean_sin"] == pytest.approx(0, abs=1e-12)
    assert blue["colour_hue_mean_cos"] == pytest.approx(-0.5)  # 240 degrees
    assert blue["colour_hue_mean_sin"] == pytest.approx(-np.sqrt(3) / 2)
    for v in (red, blue):
        assert v["colour_hue_spread"] == pytest.approx(0, abs=1e-12)
        assert v["colour_saturation_mean"] == 1 and v["colour_brightness_mean"] == 1 and v["colour_grey_share"] == 0
    # Hasler & Suesstrunk on a flat colour: 0.3 * sqrt(mean_rg^2 + mean_yb^2)
    assert red["colour_colourfulness"] == pytest.approx(0.3 * np.hypot(255, 127.5))
    assert blue["colour_colourfulness"] == pytest.approx(0.3 * 255)


def test_hue_spread_two_opposite_hues_and_histogram_sums_to_one():
    img = np.concatenate([solid((255, 0, 0)), solid((0, 255, 255))], axis=1)  # red | cyan
    v = f(img)
    assert v["colour_hue_spread"] == pytest.approx(1, abs=1e-9)
    assert v["colour_hue_red"] == pytest.approx(0.5) and v["colour_hue_cyan"] == pytest.approx(0.5)
    assert sum(v[n] for n in HUE_BINS) == pytest.approx(1)


def test_valdez_mehrabian_follow_the_published_weights():
    v = f(synthetic_photo())
    y, s = v["colour_brightness_mean"], v["colour_saturation_mean"]
    assert v["colour_pleasure_vm"] == pytest.approx(0.69 * y + 0.22 * s)
    assert v["colour_arousal_vm"] == pytest.approx(-0.31 * y + 0.60 * s)
    assert v["colour_dominance_vm"] == pytest.approx(-0.76 * y + 0.32 * s)


def _darkening_check(img):
    bright, dark = f(img), f((img * 0.5).astype(np.uint8))
    assert dark["colour_brightness_mean"] < bright["colour_brightness_mean"] - 0.1
    assert dark["colour_pleasure_vm"] < bright["colour_pleasure_vm"] - 0.05
    assert dark["colour_dominance_vm"] > bright["colour_dominance_vm"]


def test_darkened_copy_is_darker_and_less_pleasant_synthetic():
    _darkening_check(synthetic_photo())


def test_darkened_copy_is_darker_and_less_pleasant_real(real_photos):
    for img in real_photos:
        _darkening_check(img)


def test_desaturated_copy_is_less_saturated_and_colourful(real_photos):
    for img in real_photos:
        grey = np.asarray(Image.fromarray(img).convert("L").convert("RGB"))
        half = (0.5 * img + 0.5 * grey).round().astype(np.uint8)
        a, b = f(img), f(half)
        if a["colour_saturation_mean"] < 0.02:  # a black-and-white photo stays colourless
            assert b["colour_saturation_mean"] == pytest.approx(a["colour_saturation_mean"], abs=0.01)
            continue
        assert b["colour_saturation_mean"] < a["colour_saturation_mean"]
        assert b["colour_colourfulness"] < a["colour_colourfulness"]
        assert f(grey)["colour_colourfulness"] == pytest.approx(0, abs=1e-9)


# ------------------------------------------------------------------ texture


def test_checkerboard_is_edgy_and_a_gradient_is_smooth():
    cb, gr = f(checkerboard()), f(gradient())
    assert cb["texture_edge_density"] > 0.15
    assert gr["texture_edge_density"] == 0
    assert cb["texture_glcm_contrast"] > 50 and gr["texture_glcm_contrast"] < 1
    assert cb["texture_fine_detail"] > 20 * gr["texture_fine_detail"]
    assert gr["texture_glcm_correlation"] > 0.95 and gr["texture_glcm_homogeneity"] > 0.9


def test_glcm_matches_scikit_image():
    skf = pytest.importorskip("skimage.feature")
    rng = np.random.default_rng(3)
    base = rng.integers(0, 32, (40, 57))
    q = np.clip(base + np.cumsum(rng.integers(-1, 2, (40, 57)), axis=1) // 3, 0, 31).astype(np.int64)
    ours = hc._glcm_features(q, 32)
    m = skf.graycomatrix(q.astype(np.uint8), [1], [0, np.pi / 4, np.pi / 2, 3 * np.pi / 4], levels=32,
                         symmetric=True, normed=True)
    ref = [skf.graycoprops(m, p).mean() for p in ("contrast", "correlation", "energy", "homogeneity")]
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------ composition


def test_mirror_symmetric_image_has_symmetry_exactly_one():
    rng = np.random.default_rng(0)
    half = rng.integers(0, 256, (256, 128, 3), dtype=np.uint8)
    sym = np.concatenate([half, half[:, ::-1]], axis=1)  # 256 x 256: no resizing
    assert f(sym)["composition_symmetry"] == pytest.approx(1, abs=1e-9)
    noise = rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)
    assert f(noise)["composition_symmetry"] < 0.1
    # still exact after the resize to WORK_SIZE (bicubic keeps mirror symmetry), up- and downscaling
    for shape in ((300, 250, 3), (37, 21, 3)):
        half = rng.integers(0, 256, shape, dtype=np.uint8)
        sym = np.concatenate([half, half[:, ::-1]], axis=1)
        assert f(sym)["composition_symmetry"] == pytest.approx(1, abs=1e-9)


def test_mirrored_real_photo_is_symmetric(real_photos):
    for img in real_photos:
        sym = np.concatenate([img, img[:, ::-1]], axis=1)
        assert f(sym)["composition_symmetry"] == pytest.approx(1, abs=1e-9)
        assert f(img)["composition_symmetry"] < 0.9


def test_left_dark_right_bright_is_anti_symmetric():
    img = np.concatenate([solid((0, 0, 0), 64, 64), solid((255, 255, 255), 64, 64)], axis=1)
    assert f(img)["composition_symmetry"] < -0.95  # -1 exactly without the resize's soft edge


def test_saliency_follows_a_small_object():
    def blob_at(cy, cx):
        img = solid((90, 110, 100), 192, 288)
        y, x = np.mgrid[:192, :288]
        img[(y - cy) ** 2 + (x - cx) ** 2 < 12 ** 2] = (250, 40, 40)
        return f(img)

    centre = blob_at(96, 144)
    thirds = blob_at(64, 96)  # upper-left rule-of-thirds intersection
    assert centre["composition_saliency_centre"] > 0.5 and centre["composition_saliency_thirds"] < 0.2
    assert thirds["composition_saliency_thirds"] > 0.5 and thirds["composition_saliency_centre"] < 0.3
    flat = f(solid((10, 20, 30)))
    assert flat["composition_saliency_centre"] == pytest.approx(1 / 9)
    assert flat["composition_saliency_thirds"] == pytest.approx(1 / 9)


def test_depth_of_field_indicator():
    rng = np.random.default_rng(1)
    sharp_centre = solid((128, 128, 128), 256, 256)
    sharp_centre[64:192, 64:192] = rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)
    sharp_surround = rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)
    sharp_surround[64:192, 64:192] = 128
    assert f(sharp_centre)["composition_dof_centre"] > 0.9
    assert f(sharp_surround)["composition_dof_centre"] < 0.1
    everywhere = rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)
    assert f(everywhere)["composition_dof_centre"] == pytest.approx(0.25, abs=0.02)


def test_region_count_counts_tonal_regions():
    img = np.zeros((256, 256, 3), np.uint8)
    img[:128, 128:] = 80
    img[128:, :128] = 160
    img[128:, 128:] = 240
    assert f(img)["composition_regions"] == 4
    assert f(checkerboard())["composition_regions"] == 256


# ------------------------------------------------------------------ inputs


@pytest.mark.parametrize("image", [
    np.zeros((1, 1, 3), np.uint8),
    np.full((7, 300, 3), 200, np.uint8),
    np.random.default_rng(0).integers(0, 256, (300, 7, 3), dtype=np.uint8),
    np.random.default_rng(1).integers(0, 256, (1, 500, 3), dtype=np.uint8),
    np.random.default_rng(2).integers(0, 256, (2, 2, 3), dtype=np.uint8),
    np.random.default_rng(3).integers(0, 256, (50, 40), dtype=np.uint8),  # grey array
    np.random.default_rng(4).integers(0, 256, (50, 40, 4), dtype=np.uint8),  # RGBA array
    Image.new("RGBA", (33, 17), (255, 0, 0, 128)),
    Image.new("L", (5, 300), 77),
    Image.new("LA", (40, 40), (77, 0)),
    Image.new("P", (20, 30), 3),
    Image.new("1", (20, 30), 1),
    Image.fromarray(np.random.default_rng(5).integers(0, 256, (401, 999, 3), dtype=np.uint8)),
], ids=lambda im: f"{type(im).__name__}-{getattr(im, 'mode', '')}{getattr(im, 'shape', getattr(im, 'size', ''))}")
def test_odd_inputs_give_a_full_finite_vector(image):
    vec = features(image)
    assert vec.shape == (len(FEATURE_NAMES),) and np.all(np.isfinite(vec))
    v = dict(zip(FEATURE_NAMES, vec))
    for n in ["colour_saturation_mean", "colour_brightness_mean", "colour_grey_share", "colour_warm_share",
              "texture_edge_density", "texture_glcm_energy", "composition_saliency_centre"] + HUE_BINS:
        assert 0 <= v[n] <= 1, n
    assert -1 - 1e-12 <= v["composition_symmetry"] <= 1


def test_transparency_is_white_and_grey_inputs_match_rgb():
    assert f(Image.new("RGBA", (10, 10), (255, 0, 0, 0)))["colour_brightness_mean"] == 1
    assert f(Image.new("RGBA", (10, 10), (255, 0, 0, 0)))["colour_saturation_mean"] == 0
    g = np.random.default_rng(6).integers(0, 256, (30, 40), dtype=np.uint8)
    np.testing.assert_array_equal(features(g), features(np.repeat(g[:, :, None], 3, axis=2)))
    np.testing.assert_array_equal(features(Image.fromarray(g)), features(g))


def test_file_path_input(tmp_path):
    img = synthetic_photo(60, 80)
    Image.fromarray(img).save(tmp_path / "a.png")
    np.testing.assert_array_equal(features(tmp_path / "a.png"), features(img))
    np.testing.assert_array_equal(features(str(tmp_path / "a.png")), features(img))


def test_bad_inputs_are_refused():
    with pytest.raises(TypeError, match="uint8"):
        features(np.zeros((8, 8, 3), np.float32))
    with pytest.raises(ValueError):
        features(np.zeros((8, 8, 2), np.uint8))
    with pytest.raises(ValueError):
        features(np.zeros((0, 8, 3), np.uint8))
    with pytest.raises(ValueError):
        features_batch([solid((1, 2, 3))], workers=0)


# ------------------------------------------------------------------ batches


def test_batch_with_two_workers_equals_serial():
    rng = np.random.default_rng(7)
    images = [synthetic_photo(seed=s) for s in range(4)] + [
        checkerboard(), gradient(), solid((255, 0, 0)), Image.new("L", (9, 90), 30),
        rng.integers(0, 256, (100, 130, 3), dtype=np.uint8)]
    serial = features_batch(images)
    assert serial.shape == (len(images), len(FEATURE_NAMES)) and serial.dtype == np.float64
    np.testing.assert_array_equal(serial, np.stack([features(im) for im in images]))
    np.testing.assert_array_equal(features_batch(images, workers=2), serial)
    assert features_batch([]).shape == (0, len(FEATURE_NAMES))
