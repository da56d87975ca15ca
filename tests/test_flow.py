"""One flow (issue 14 §1, §6): the Predictor owns its tensor views, an ensemble has the same interface, and
``evaluate`` / ``compare`` measure the packaged model's recipe by default. On the real packaged model."""

import json

import numpy as np
import pytest
import torch

from emosynth.compare import CompareConfig
from emosynth.models import DEFAULT_MODEL_DIR, FeatureNet, Predictor, PredictorEnsemble, packaged_config
from emosynth.samples import sample_paths
from emosynth.transforms import random_flip, resize, to_uint8


@pytest.fixture(scope="module")
def default():
    return Predictor.load()


@pytest.fixture(scope="module")
def images(default):
    ex = default.extractor()
    arrays = np.stack([ex.load_image(p) for p in sample_paths()])
    return arrays, torch.from_numpy(arrays).permute(0, 3, 1, 2).float().div(255)


def test_labels_and_input_size(default):
    assert default.labels == ["anger", "disgust", "fear", "joy", "sadness", "surprise", "neutral"]
    assert default.input_size == default.extractor().input_size == 224
    m = Predictor.load()
    m.categories_ = None
    assert m.labels == []


def test_predict_tensor_is_the_fast_path_at_any_size(default, images):
    arrays, x = images
    np.testing.assert_array_equal(default.predict_tensor(x)["vad"], default.predict_arrays(arrays)["vad"])
    big = resize(x, 300)
    want = default.predict_arrays(to_uint8(resize(big, 224)))
    got = default.predict_tensor(big)
    for k in ("vad", "probabilities"):
        np.testing.assert_array_equal(got[k], want[k])


def test_module_outputs_and_views(default, images):
    _, x = images
    both, one = default.module(flip=True), default.module(flip=False)
    assert default.module(flip=True) is both  # built once per predictor
    out = both(x)
    assert set(out) == {"logits", "probabilities", "vad", "vad_raw", "features", "z"}
    assert out["features"].shape == (len(x), len(default.feature_mean_)) and out["z"].shape == out["features"].shape
    h = both.heads
    torch.testing.assert_close(out["z"], (out["features"] - h.mean) / h.scale)
    torch.testing.assert_close(out["vad"], out["vad_raw"].clamp(1, 9))
    torch.testing.assert_close(out["probabilities"], torch.softmax(out["logits"], 1))
    assert all(not p.requires_grad for p in both.parameters())
    # one view is not the mirror average; the extractor's own network (its ONNX export) is left as it was
    assert not torch.allclose(one(x)["vad"], out["vad"], atol=1e-4)
    flips = [m.flip for m in default.extractor().net.modules() if isinstance(m, FeatureNet)]
    assert flips and all(flips)
    # the mirror average is exactly the mean of the two one-view features
    f_mirror = 0.5 * (one(x)["features"] + one(torch.flip(x, dims=[3]))["features"])
    torch.testing.assert_close(out["features"], f_mirror, atol=1e-4, rtol=1e-4)
    # unclamped outputs keep their gradient beyond the scale's ends
    g = torch.zeros(1, 3, 64, 64, requires_grad=True)
    one(g)["vad_raw"][0, 0].backward()
    assert g.grad.abs().sum() > 0


def test_ensemble_is_the_predictor_interface(default, images):
    _, x = images
    single = PredictorEnsemble([default])
    assert single.labels == default.labels and single.input_size == 224 and len(single) == 1
    np.testing.assert_array_equal(single.predict_tensor(x)["vad"], default.predict_tensor(x)["vad"])
    robust = PredictorEnsemble([default, default], transforms=3, seed=1)
    members = robust.predict_members(x, np.random.default_rng(5))
    assert members["vad"].shape == (6, len(x), 3) and members["probabilities"].shape == (6, len(x), 7)
    again = robust.predict_members(x, np.random.default_rng(5))
    np.testing.assert_array_equal(members["vad"], again["vad"])  # seeded
    # transform-major: the two predictors (the same model) agree within each transform, transforms differ
    np.testing.assert_array_equal(members["vad"][0], members["vad"][1])
    assert not np.allclose(members["vad"][0], members["vad"][2])
    mean = robust.predict_tensor(x, np.random.default_rng(5))
    np.testing.assert_allclose(mean["vad"], members["vad"].mean(0))
    views = robust.views(x, np.random.default_rng(5))
    outs = robust.forward([v[:1] for v in views])
    assert len(outs) == 6 and outs[0]["logits"].shape == (1, 7)


def test_random_flip_is_seeded_and_mirrors():
    x = torch.rand(16, 3, 8, 8)
    a, b = random_flip(x, np.random.default_rng(0)), random_flip(x, np.random.default_rng(0))
    assert torch.equal(a, b)
    mirrored = [torch.equal(a[i], torch.flip(x[i], dims=[2])) for i in range(16)]
    kept = [torch.equal(a[i], x[i]) for i in range(16)]
    assert all(m or k for m, k in zip(mirrored, kept)) and any(mirrored) and any(kept)


def test_packaged_recipe_is_the_default_of_evaluate_and_compare():
    card = json.loads((DEFAULT_MODEL_DIR / "model.json").read_text())["config"]
    cfg = packaged_config(seed=3)
    assert (cfg.backbone, cfg.pooling, cfg.flip, cfg.target_datasets, cfg.components) == \
        (card["backbone"], card["pooling"], card["flip"], card["target_datasets"], card["components"])
    assert cfg.seed == 3 and cfg.backbone == "efficientnet-lite0+mobilenetv2"
    c = CompareConfig()
    assert c.backbones[0] == card["backbone"] and len(set(c.backbones)) == len(c.backbones)
    assert (c.pooling, c.flip, c.target_datasets, c.components) == \
        (card["pooling"], card["flip"], card["target_datasets"], card["components"])
