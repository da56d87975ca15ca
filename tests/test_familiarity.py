"""The familiarity score and the unfamiliar flag, on real photographs and a real backbone: held-out
photos pass, flat colour fields and noise are flagged; the flag and score survive save/load and reach
the prediction records."""

import json

import numpy as np
import pytest

from emosynth.data import combine
from emosynth.models.predictor import Predictor, PredictorConfig

CFG = PredictorConfig(backbone="efficientnet-lite0")  # test_predictor's: the session cache serves both


@pytest.fixture(scope="module")
def split(oasis, emotion6):
    """test_predictor's images (so a full run extracts nothing twice): 80 OASIS themes + 400 Emotion6
    photos; 60 themes + 300 photos train, the rest (whole themes) are held out."""
    rng = np.random.default_rng(0)
    themes = rng.permutation(np.unique(oasis.groups))
    o = oasis.subset(np.isin(oasis.groups, themes[:80]))
    e = emotion6.subset(rng.permutation(len(emotion6))[:400])
    data, _ = combine([o, e])
    feats = Predictor(CFG).extractor().extract(data.paths, data.where)
    held = np.isin(data.groups, [f"oasis:{t}" for t in themes[60:80]])
    held |= (data.dataset_of == "emotion6") & (np.cumsum(data.dataset_of == "emotion6") > 300)
    train = data.subset(~held)
    model = Predictor(CFG).fit_features(train, feats[~held]).fit_trust(train, feats[~held])
    return model, feats[held], feats[~held]


def _synthetic(model):
    s = model.input_size
    rng = np.random.default_rng(0)
    flat = [np.full((s, s, 3), c, np.uint8) for c in
            ((0, 0, 0), (255, 255, 255), (128, 128, 128), (220, 30, 30), (30, 160, 60), (40, 60, 200))]
    noise = [rng.integers(0, 256, (s, s, 3), dtype=np.uint8) for _ in range(3)]
    noise.append(np.clip(rng.normal(128, 60, (s, s, 3)), 0, 255).astype(np.uint8))
    return np.stack(flat), np.stack(noise)


def test_held_out_photos_pass_and_flat_fields_rank_below_them(split):
    """A one-backbone, average-pooled model: held-out photos pass and flat fields rank below nearly all
    of them. Its features do not set noise apart (familiarity 0.13-0.18 measured); the packaged model's
    two backbones with avg+max pooling flag every flat field and noise image (test_default_model)."""
    model, held, train = split
    photos = model.predict_features(held)
    assert photos["unfamiliar"].mean() <= 0.05, photos["unfamiliar"].mean()  # nominally 1 %
    assert np.median(photos["familiarity"]) > 0.2
    ex = model.extractor()
    flat, _ = _synthetic(model)
    pred = model.predict_features(ex.from_arrays(flat))
    assert np.median(pred["familiarity"]) < np.quantile(photos["familiarity"], 0.1), pred["familiarity"]
    assert pred["unfamiliar"].any()
    # the training images themselves are familiar (in-sample distances are smaller still)
    assert model.predict_features(train)["unfamiliar"].mean() < 0.01 + 1e-9


def test_familiarity_survives_save_and_load_and_reaches_records(split, tmp_path):
    model, held, _ = split
    flat, _ = _synthetic(model)
    feats = np.concatenate([held[:5], model.extractor().from_arrays(flat[2:4])])  # grey, red: flagged
    before = model.predict_features(feats)
    model.save(tmp_path / "m")
    loaded = Predictor.load(tmp_path / "m")
    after = loaded.predict_features(feats)
    for key in ("familiarity", "unfamiliar", "interval_valence", "interval_arousal", "probabilities"):
        np.testing.assert_array_equal(after[key], before[key], err_msg=key)
    recs = loaded.records([f"{i}.png" for i in range(len(feats))], after)
    json.dumps(recs)  # JSON-ready: plain floats and bools
    assert [r["unfamiliar"] for r in recs[-2:]] == [True, True]
    assert all(0 < r["familiarity"] <= 1 for r in recs)
    assert set(recs[0]["interval"]) == {"valence", "arousal", "dominance"}
    card = json.loads((tmp_path / "m" / "model.json").read_text())
    assert card["trust"]["unfamiliar_quantile"] == 0.99 and card["trust"]["coverage"] == 0.9


def test_a_model_without_trust_keeps_the_old_records(split):
    model, held, _ = split
    old = Predictor(CFG).fit_features(*_refit_args(model, held))
    pred = old.predict_features(held[:3])
    assert set(pred) == {"vad", "probabilities"}
    assert "interval" not in old.records(["a", "b", "c"], pred)[0]


def _refit_args(model, held):
    """A tiny labelled set from held-out features (labels are the model's own predictions)."""
    from pathlib import Path

    from emosynth.data import Dataset

    p = model.predict_features(held)
    n = len(held)
    return (Dataset(name="x", paths=[Path(f"{i}") for i in range(n)], where=[""] * n, groups=np.arange(n) // 2,
                    vad=p["vad"], probabilities=p["probabilities"], categories=model.categories_), held)
