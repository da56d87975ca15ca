"""Encodings and transforms: deterministic for a seed, resolution-independent, batched."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from emosynth.errors import SynthError
from emosynth.synth import CPPNEncoding, PixelEncoding, make_encoding, random_transforms

ENCODINGS = [("pixels", {"grid": 16}), ("cppn", {})]


@pytest.mark.parametrize("name,params", ENCODINGS)
def test_deterministic_for_a_seed(name, params):
    enc = make_encoding(name, **params)
    a = enc.random(6, np.random.default_rng(3))
    b = enc.random(6, np.random.default_rng(3))
    c = enc.random(6, np.random.default_rng(4))
    assert a.shape == (6, enc.solution_dim)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    x, y = enc.render_uint8(a, 48), enc.render_uint8(b, 48)
    np.testing.assert_array_equal(x, y)
    assert not np.array_equal(x, enc.render_uint8(c, 48))
    # Batched rendering equals one-by-one rendering: an image depends on its genome only.
    one = np.concatenate([enc.render_uint8(a[i:i + 1], 48) for i in range(6)])
    assert np.abs(one.astype(int) - x.astype(int)).max() <= 1


@pytest.mark.parametrize("name,params", ENCODINGS)
def test_renders_at_two_sizes_of_the_same_image(name, params):
    enc = make_encoding(name, **params)
    g = enc.random(4, np.random.default_rng(0))
    small, big = enc.render(g, 40), enc.render(g, 160)
    assert small.shape == (4, 3, 40, 40) and big.shape == (4, 3, 160, 160)
    assert 0 <= float(small.min()) and float(big.max()) <= 1
    assert float(big.std()) > 0.02  # not a blank canvas
    # The big image shrunk to the small size is the small image: the same picture, finer sampled.
    shrunk = F.interpolate(big, size=(40, 40), mode="area")
    assert float((shrunk - small).abs().mean()) < 0.03
    others = enc.render(enc.random(4, np.random.default_rng(9)), 40)
    assert float((others - small).abs().mean()) > 0.05


def test_cppn_topology_and_a_hand_built_genome():
    enc = CPPNEncoding(hidden=8, layers=2)
    assert enc.solution_dim == 4 * 8 + 8 + 8 * 8 + 8 + 8 * 3 + 3
    zero = np.zeros((1, enc.solution_dim))
    np.testing.assert_allclose(enc.render(zero, 8).numpy(), 0.5)  # sigmoid(0): mid grey everywhere
    # Output bias +4 on red only, everything else zero: red sigmoid(4), green and blue 0.5.
    g = zero.copy()
    g[0, -3] = 4.0
    img = enc.render(g, 4).numpy()[0]
    np.testing.assert_allclose(img[0], 1 / (1 + np.exp(-4)), rtol=1e-6)
    np.testing.assert_allclose(img[1:], 0.5)


def test_pixel_encoding_upsamples_its_grid():
    enc = PixelEncoding(grid=2)
    g = np.array([[1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0]], float)  # red everywhere
    img = enc.render(g, 10).numpy()[0]
    np.testing.assert_allclose(img[0], 1, atol=1e-6)
    np.testing.assert_allclose(img[1:], 0, atol=1e-6)
    with pytest.raises(SynthError, match="shape"):
        enc.render(np.zeros((1, 5)), 10)


def test_unknown_encoding_is_one_clear_error():
    with pytest.raises(SynthError, match="unknown encoding 'voxels'; choose one of pixels, cppn"):
        make_encoding("voxels")


def test_random_transforms_are_seeded_and_change_the_image():
    x = make_encoding("cppn").render(make_encoding("cppn").random(3, np.random.default_rng(1)), 64)
    a = random_transforms(x, np.random.default_rng([1, 2, 0]))
    b = random_transforms(x, np.random.default_rng([1, 2, 0]))
    c = random_transforms(x, np.random.default_rng([1, 2, 1]))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == x.shape and float(a.min()) >= 0 and float(a.max()) <= 1
    assert 0.005 < float((a - x).abs().mean()) < 0.3  # changed, yet the same picture
