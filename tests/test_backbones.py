"""The packaged backbones: real pretrained weights, the fast path agrees with eager fp32, the cache works."""

import numpy as np
import pytest
import torch

from emosynth.errors import BackboneError, WeightsNotFoundError
from emosynth.models.backbones import BACKBONES, build_feature_net, get_backbone
from emosynth.models.features import FeatureConfig, FeatureExtractor
from emosynth.samples import sample_paths

PACKAGED = ["efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2", "mobilenetv2"]


def test_registry_names_every_backbone_the_research_uses():
    assert set(PACKAGED + ["resnet18", "resnet50", "alexnet", "vgg16", "inception_v3"]) <= set(BACKBONES)
    assert get_backbone("inception_v3").input_size == 299
    with pytest.raises(BackboneError, match="unknown backbone 'resnet9'"):
        get_backbone("resnet9")


@pytest.mark.parametrize("name", PACKAGED)
def test_packaged_weights_are_imagenet_trained(name):
    """Real weights: the cat photo lands in ImageNet's cat classes (281-285) under the lite models,
    and MobileNetV2's features separate two different photos far more than a photo and its copy."""
    net = build_feature_net(name)
    spec = net.spec
    x = torch.stack([torch.from_numpy((
        FeatureExtractor(FeatureConfig(name)).load_image(p))).permute(2, 0, 1).float() / 255
        for p in sample_paths()])
    with torch.inference_mode():
        f = net(x)
    assert f.shape == (4, spec.map_channels)
    assert torch.isfinite(f).all()
    if name.startswith("efficientnet"):
        logits = net.trunk.net._fc(f)
        cat = [p.stem for p in sample_paths()].index("cat")
        assert 281 <= int(logits[cat].argmax()) <= 285
    else:
        # Untrained (random) weights give near-identical features for any input; trained ones don't.
        cos = torch.nn.functional.cosine_similarity(f[0:1], f[1:], dim=1)
        assert cos.max() < 0.9


def test_fast_path_matches_eager_fp32():
    paths = sample_paths()
    fast = FeatureExtractor(FeatureConfig("efficientnet-lite0", pooling="avgmax", flip=True), cache=False)
    eager = FeatureExtractor(FeatureConfig("efficientnet-lite0", pooling="avgmax", flip=True), engine="eager",
                             cache=False)
    a, b = fast.extract(paths), eager.extract(paths)
    assert a.shape == (4, 2560)
    np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-3)


def test_the_onnx_export_leaves_the_torch_network_as_it_was():
    """Exporting the ONNX file must not change the torch module the extractor keeps: it stays in eval mode
    and gives the same features (the export once left it in training mode, its BatchNorm then normalising
    by batch statistics, up to 6.0 off, and drifting its running statistics)."""
    ex = FeatureExtractor(FeatureConfig("mobilenetv2", pooling="avgmax"), engine="onnx", cache=False)
    x = 0.2 + 0.6 * torch.rand(2, 3, ex.input_size, ex.input_size, generator=torch.Generator().manual_seed(6))
    before = ex.from_tensor(x, "eager")
    state = {k: v.clone() for k, v in ex.net.state_dict().items()}
    onnx = ex.from_tensor(x)  # exports the ONNX file
    after = ex.from_tensor(x, "eager")
    assert not any(m.training for m in ex.net.modules())
    assert all(torch.equal(state[k], v) for k, v in ex.net.state_dict().items())
    np.testing.assert_array_equal(after, before)
    np.testing.assert_allclose(onnx, before, atol=1e-3, rtol=0)


def test_cache_skips_the_backbone_and_is_keyed_by_preprocessing(monkeypatch):
    paths = sample_paths()
    ex = FeatureExtractor(FeatureConfig("efficientnet-lite0"))
    first = ex.extract(paths)

    def boom(*a, **k):
        raise AssertionError("backbone ran although every image was cached")

    monkeypatch.setattr(ex, "from_tensor", boom)
    np.testing.assert_array_equal(ex.extract(paths), first)
    other = FeatureExtractor(FeatureConfig("efficientnet-lite0", pooling="avgmax"))
    assert other.key != ex.key
    monkeypatch.setattr(other, "from_tensor", boom)
    with pytest.raises(AssertionError, match="backbone ran"):
        other.extract(paths)


def test_torchvision_backbone_without_weights_says_how(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(WeightsNotFoundError, match="--weights"):
        FeatureExtractor(FeatureConfig("resnet18"))


def test_torchvision_backbone_with_a_checkpoint_extracts_features(tmp_path):
    from emosynth.models import torchvision_arch as tv

    torch.manual_seed(0)
    ckpt = tmp_path / "resnet18-f37072fd.pth"
    torch.save(tv.build("resnet18").state_dict(), ckpt)
    ex = FeatureExtractor(FeatureConfig("resnet18", weights=str(ckpt)), cache=False)
    f = ex.extract(sample_paths()[:2])
    assert f.shape == (2, 512) and np.isfinite(f).all()


def test_handcrafted_is_a_backbone_like_the_others():
    from emosynth.models.handcrafted import FEATURE_NAMES, features_batch

    ex = FeatureExtractor(FeatureConfig("handcrafted"))
    paths = sample_paths()
    f = ex.extract(paths)
    assert f.shape == (4, len(FEATURE_NAMES))
    direct = features_batch([ex.load_image(p) for p in paths])
    np.testing.assert_allclose(f, direct, rtol=1e-6, atol=1e-6)
    with pytest.raises(BackboneError, match="not differentiable"):
        ex.net  # noqa: B018 — the property raises
    both = FeatureExtractor(FeatureConfig("efficientnet-lite0+handcrafted"))
    g = both.extract(paths)
    assert g.shape == (4, 1280 + len(FEATURE_NAMES))
    np.testing.assert_allclose(g[:, 1280:], f, rtol=1e-6, atol=1e-6)
