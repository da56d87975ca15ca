"""The lexicon readout: the backbone's own ImageNet classifier read through word norms — its columns, its
agreement with the real network, its class norms, and a predictor that learns to weigh it (numpy and
torch paths equal, kept through save and load; bad settings refused with one line)."""

from pathlib import Path

import numpy as np
import pytest
import torch

from emosynth.cli import main
from emosynth.config import ConfigError
from emosynth.data import Dataset
from emosynth.emotions import Lexicon
from emosynth.models import readout as R
from emosynth.models.predictor import Predictor, PredictorConfig


@pytest.fixture(scope="module")
def lexicon(data_root):
    return Lexicon.load(data_root / "lexicons")


@pytest.fixture(scope="module")
def norms(lexicon):
    return R.class_norms(lexicon)


def test_columns_follow_the_combination_and_pooling():
    assert R.readout_columns("efficientnet-lite0+mobilenetv2", "avgmax") == ("efficientnet-lite0", 0)
    assert R.readout_columns("mobilenetv2+efficientnet-lite2", "avgmax") == ("efficientnet-lite2", 2560)
    assert R.readout_columns("mobilenetv2+efficientnet-lite1", "avg") == ("efficientnet-lite1", 1280)
    for backbone in ("mobilenetv2", "handcrafted+efficientnet-lite0"):
        with pytest.raises(ConfigError, match="efficientnet-lite"):
            R.readout_columns(backbone, "avg")


def test_class_norms_read_the_class_names(norms):
    classes, vad = norms
    names = R.class_names()
    assert len(names) == 1000 and names[763].startswith("revolver")
    assert len(classes) >= 700 and vad.shape == (len(classes), 3)
    v = dict(zip(classes.tolist(), vad[:, 0]))
    assert v[985] > 6.0  # daisy
    assert v[763] < 4.5  # revolver
    assert np.all((vad >= 1) & (vad <= 9))


def test_readout_equals_the_real_networks_class_distribution(norms, data_root):
    """From the average-pooled features the heads see, the readout reproduces the expected norms under
    EfficientNet-Lite0's own softmax over its real logits on a real photo."""
    from efficientnet_lite_pytorch import EfficientNet

    from emosynth.imageio import read_image
    from emosynth.models.backbones import build_feature_net, get_backbone

    classes, vad = norms
    spec = get_backbone("efficientnet-lite0")
    full = EfficientNet.from_name("efficientnet-lite0")
    full.load_state_dict(torch.load(spec.weights_file(None), map_location="cpu", weights_only=True))
    full.eval()
    fnet = build_feature_net("efficientnet-lite0", pooling="avgmax")
    photo = sorted((data_root / "emotion6" / "images" / "joy").glob("*.jpg"))[0]
    rgb = np.asarray(read_image(photo).convert("RGB").resize((224, 224)), dtype=np.float32) / 255.0
    x = torch.from_numpy(rgb).permute(2, 0, 1)[None].contiguous()
    with torch.no_grad():
        feats = fnet(x).double().numpy()
        logits = full(fnet.prepare(x)).double().numpy()[0]
    W, b = R.classifier("efficientnet-lite0")
    got = R.lexicon_readout(feats, 0, W, b, classes, vad)[0]
    z = logits[classes] / R.TEMPERATURE
    p = np.exp(z - z.max())
    want = (p / p.sum()) @ vad
    assert np.abs(got - want).max() < 1e-3, (got, want)
    module = R.LexiconReadout(0, W, b, classes, vad)
    assert np.abs(module(torch.from_numpy(feats).float()).numpy()[0] - want).max() < 1e-3


def _problem(n, seed, W, b, classes, vad):
    """Features whose valence is the readout's (plus noise) and whose arousal is linear in them."""
    rng = np.random.default_rng(seed)
    X = np.abs(rng.standard_normal((n, 1280))) * 0.8
    r = R.lexicon_readout(X, 0, W, b, classes, vad)
    y = np.full((n, 3), np.nan)
    y[:, 0] = 5 + 3 * (r[:, 0] - r[:, 0].mean()) / r[:, 0].std() + 0.3 * rng.standard_normal(n)
    y[:, 1] = 5 + X[:, :5].sum(1) - X[:, :5].sum(1).mean() + 0.3 * rng.standard_normal(n)
    return X, y


def _dataset(vad):
    n = len(vad)
    return Dataset(name="synthetic", paths=[Path(f"{i}.png") for i in range(n)], where=[""] * n,
                   groups=np.arange(n).astype(str), vad=vad, probabilities=None, categories=None)


def test_a_predictor_learns_to_weigh_the_readout_and_keeps_it_through_save_and_load(norms, data_root, tmp_path):
    classes, vad = norms
    W, b = R.classifier("efficientnet-lite0")
    X, y = _problem(600, 0, W, b, classes, vad)
    Xt, yt = _problem(400, 1, W, b, classes, vad)
    lex = str(data_root / "lexicons")
    plain = Predictor(PredictorConfig(components=64)).fit_features(_dataset(y), X)
    read = Predictor(PredictorConfig(components=64, readout="lexicon", readout_lexicon=lex)).fit_features(
        _dataset(y), X)
    r_plain = np.corrcoef(plain.predict_features(Xt)["vad"][:, 0], yt[:, 0])[0, 1]
    r_read = np.corrcoef(read.predict_features(Xt)["vad"][:, 0], yt[:, 0])[0, 1]
    assert r_read > 0.9 and r_read > r_plain + 0.2, (r_read, r_plain)
    assert abs(read.vad_readout_coef_[0, 0]) > 0.5  # valence leans on the readout's valence
    pred = read.predict_features(Xt)["vad"]
    read.save(tmp_path / "m")
    back = Predictor.load(tmp_path / "m")
    assert back.config.readout == "lexicon"
    np.testing.assert_allclose(back.predict_features(Xt)["vad"], pred, atol=1e-9)
    heads = back.module().heads
    with torch.no_grad():
        torch_vad = heads(torch.from_numpy(Xt).float())["vad"].numpy()
    assert np.abs(torch_vad - pred).max() < 1e-3


def test_bad_readout_settings_are_one_line_and_exit_2(tmp_path, capsys, data_root):
    with pytest.raises(ConfigError, match="readout must be one of lexicon"):
        PredictorConfig(readout="clip").validate()
    with pytest.raises(ConfigError, match="finetune"):
        PredictorConfig(readout="lexicon", finetune=2).validate()
    with pytest.raises(SystemExit) as stop:
        main(["train", "--dataset", "oasis", "--backbone", "mobilenetv2", "--readout", "lexicon",
              "--out", str(tmp_path / "m"), "--data-root", str(data_root), "-q"])
    err = capsys.readouterr().err.strip().splitlines()
    assert stop.value.code == 2 and len(err) == 1 and "efficientnet-lite" in err[0], err
    assert not (tmp_path / "m").exists()
