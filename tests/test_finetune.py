"""--finetune: the tail trains on cached activations, and the saved model predicts exactly that."""

import numpy as np
import pytest
import torch

from emosynth.errors import BackboneError
from emosynth.models.features import FeatureConfig, FeatureExtractor
from emosynth.models.finetune import split_trunk, tail_features
from emosynth.models.predictor import Predictor, PredictorConfig
from emosynth.samples import sample_paths


@pytest.fixture(scope="module")
def small(emotion6):
    rng = np.random.default_rng(5)
    return emotion6.subset(rng.permutation(len(emotion6))[:160])


@pytest.mark.parametrize("name", ["efficientnet-lite0", "mobilenetv2"])
def test_split_trunk_recomposes_the_backbone(name):
    ex = FeatureExtractor(FeatureConfig(name, pooling="avgmax", flip=False, finetune_blocks=2), engine="eager")
    x = torch.rand(2, 3, 224, 224)
    frozen, tail = split_trunk(ex.net, 2)
    with torch.inference_mode():
        whole = ex.net(x)
        acts = frozen(x).numpy()
    parts = tail_features(tail, np.stack([acts, acts], axis=1), "avgmax", flip=False)
    np.testing.assert_allclose(parts, whole.numpy(), rtol=1e-4, atol=1e-4)


def test_finetune_changes_only_the_tail_and_predicts_consistently(small, tmp_path):
    cfg = PredictorConfig(backbone="efficientnet-lite0", pooling="avgmax", flip=True, finetune=2,
                          finetune_epochs=2)
    model = Predictor(cfg)
    acts = model.inputs(small)
    assert acts.shape[:2] == (len(small), 2)
    before = {k: v.clone() for k, v in FeatureExtractor(cfg.features).net.trunk.state_dict().items()}
    model.fit_inputs(small, acts)
    state = torch.load(model.tail_path_, weights_only=True)
    assert state and all(k.startswith("net._blocks.14") or k.startswith("net._blocks.15")
                         or k.startswith("net._conv_head") or k.startswith("net._bn1") for k in state)
    assert any(not torch.equal(state[k], before[k]) for k in state)
    # Predict-time features (fast path, tail loaded from disk) = training-time features (from activations).
    paths = small.paths[:6]
    from_disk = model.extractor().extract(paths)
    from_acts = tail_features(model._tail, acts[:6], "avgmax", flip=True)
    np.testing.assert_allclose(from_disk, from_acts, rtol=1e-3, atol=1e-3)
    model.save(tmp_path / "ft")
    again = Predictor.load(tmp_path / "ft")
    a, b = model.predict(sample_paths()), again.predict(sample_paths())
    assert [r["category"] for r in a] == [r["category"] for r in b]
    np.testing.assert_allclose([r["valence"] for r in a], [r["valence"] for r in b], atol=1e-6)


def test_finetune_needs_a_single_supported_backbone():
    with pytest.raises(BackboneError, match="single backbone"):
        FeatureExtractor(FeatureConfig("efficientnet-lite0+mobilenetv2", finetune_blocks=2))
    ex = FeatureExtractor(FeatureConfig("efficientnet-lite0"))
    with pytest.raises(BackboneError, match="between 1 and 15"):
        split_trunk(ex.net, 16)
