"""Temperature scaling of the category head: it recovers a known temperature, lowers the expected
calibration error of an over-confident head, keeps every argmax, and is folded into the head so every
path (fast path, torch module, saved model) gives the calibrated probabilities."""

from pathlib import Path

import numpy as np
import pytest
import torch

from emosynth.data import Dataset
from emosynth.emotions import CategorySet
from emosynth.models import calibration as _calibration
from emosynth.models.heads import softmax
from emosynth.models.predictor import EmotionHeads, Predictor, PredictorConfig


def _draws(n=20000, k=5, seed=0):
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((n, k)) * 1.5
    P = softmax(logits)
    labels = np.array([rng.choice(k, p=p) for p in P])
    return logits, P, np.eye(k)[labels]


def test_recovers_a_known_temperature_and_measures_ece():
    logits, P, onehot = _draws()
    assert _calibration.fit_temperature(3.0 * logits, P) == pytest.approx(3.0, rel=1e-3)
    assert _calibration.fit_temperature(logits / 2, P) == pytest.approx(0.5, rel=1e-3)
    assert _calibration.ece(onehot, P) < 0.02  # calibrated by construction
    assert _calibration.ece(onehot, softmax(3.0 * logits)) > 0.1  # over-confident


def test_cross_fitted_calibration_lowers_ece_of_an_overconfident_head():
    logits, _, onehot = _draws(6000, seed=1)
    fold = np.arange(len(logits)) % 5
    res = _calibration.calibrate(3.0 * logits, onehot, fold, list("abcde"))
    assert res["temperature"] == pytest.approx(3.0, rel=0.1)
    assert res["ece_after"] < 0.03 < 0.1 < res["ece_before"]
    assert res["nll_after"] < res["nll_before"]
    assert sum(c["rater_argmax"] for c in res["per_class"].values()) == len(logits)


@pytest.fixture(scope="module")
def model():
    """A strongly regularised head: its probabilities flatter than the raters' (temperature below 1)."""
    rng = np.random.default_rng(2)
    n, D = 900, 20
    X = rng.standard_normal((n, D))
    P = softmax(X[:, :3] @ np.diag([1.0, 0.8, 0.6]))
    vad = np.column_stack([5 + X[:, 3], 5 + X[:, 4], np.full(n, np.nan)])
    data = Dataset(name="synthetic", paths=[Path(f"{i}.png") for i in range(n)], where=[""] * n,
                   groups=(np.arange(n) // 3).astype(str), vad=vad, probabilities=P,
                   categories=CategorySet(("a", "b", "c")))
    fitted = Predictor(PredictorConfig(components=0, softmax_l2=[30.0])).fit_features(data, X)
    raw = fitted.predict_features(X)["probabilities"]
    fitted.fit_trust(data, X)
    return fitted, X, raw


def test_temperature_is_folded_into_the_head(model, tmp_path):
    fitted, X, raw = model
    cal = fitted.calibration_
    assert 0.05 < cal["temperature"] < 0.9
    after = fitted.predict_features(X)["probabilities"]
    np.testing.assert_array_equal(after.argmax(1), raw.argmax(1))  # accuracy unchanged
    logits = np.log(raw)
    np.testing.assert_allclose(after, softmax(logits / cal["temperature"]), atol=1e-9)
    heads = EmotionHeads(X.shape[1], 3)
    with torch.no_grad():
        heads.mean.copy_(torch.from_numpy(fitted.feature_mean_).float())
        heads.scale.copy_(torch.from_numpy(fitted.feature_scale_).float())
        heads.category.weight.copy_(torch.from_numpy(fitted.cat_coef_).float())
        heads.category.bias.copy_(torch.from_numpy(fitted.cat_intercept_).float())
        torch_p = heads(torch.from_numpy(X).float())["probabilities"].numpy()
    np.testing.assert_allclose(torch_p, after, atol=1e-4)
    fitted.save(tmp_path / "m")
    loaded = Predictor.load(tmp_path / "m")
    np.testing.assert_array_equal(loaded.predict_features(X)["probabilities"], after)
    assert loaded.card_["trust"]["calibration"]["ece_after"] == cal["ece_after"]
    # calibrating again starts from the head as fitted: the temperature is not applied twice
    loaded.fit_trust(*_data_of(fitted, X))
    np.testing.assert_allclose(loaded.predict_features(X)["probabilities"], after, atol=1e-6)


def _data_of(fitted, X):
    rng = np.random.default_rng(2)
    n = len(X)
    rng.standard_normal((n, X.shape[1]))
    P = softmax(X[:, :3] @ np.diag([1.0, 0.8, 0.6]))
    vad = np.column_stack([5 + X[:, 3], 5 + X[:, 4], np.full(n, np.nan)])
    return Dataset(name="synthetic", paths=[Path(f"{i}.png") for i in range(n)], where=[""] * n,
                   groups=(np.arange(n) // 3).astype(str), vad=vad, probabilities=P,
                   categories=CategorySet(("a", "b", "c"))), X
