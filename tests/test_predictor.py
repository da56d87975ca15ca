"""The predictor on real data subsets: it learns, saves/loads exactly, and is differentiable."""

import numpy as np
import pytest
import torch

from emosynth.data import combine, grouped_folds
from emosynth.errors import ModelError, OutputError
from emosynth.evaluate import category_metrics, cross_validate, regression_metrics
from emosynth.models.heads import fit_ridge, ridge_path
from emosynth.models.predictor import Predictor, PredictorConfig
from emosynth.samples import sample_paths

CFG = PredictorConfig(backbone="efficientnet-lite0")


@pytest.fixture(scope="module")
def subset(oasis, emotion6):
    """300 OASIS + 400 Emotion6 images (whole OASIS themes), with their features."""
    rng = np.random.default_rng(0)
    themes = rng.permutation(np.unique(oasis.groups))
    o = oasis.subset(np.isin(oasis.groups, themes[:80]))
    e = emotion6.subset(rng.permutation(len(emotion6))[:400])
    data, origin = combine([o, e])
    feats = Predictor(CFG).extractor().extract(data.paths, data.where)
    return o, e, data, origin, feats


def test_ridge_path_matches_scikit_learn():
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(1)
    for n, d in ((40, 90), (90, 40)):
        X, Y = rng.normal(size=(n, d)), rng.normal(size=(n, 2))
        c, b = ridge_path(X, Y, np.array([3.0]))
        ref = Ridge(alpha=3.0).fit(X, Y)
        np.testing.assert_allclose(c[0], ref.coef_.T, atol=1e-10)
        np.testing.assert_allclose(b[0], ref.intercept_, atol=1e-10)


def test_inner_cv_picks_strong_regularisation_for_noise():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(120, 200))
    y = rng.normal(size=120)
    _, _, alpha = fit_ridge(X, y, np.arange(120).astype(str), np.logspace(-2, 5, 8))
    assert alpha[0] >= 1e3


def test_training_on_a_subset_beats_a_constant_predictor(subset):
    o, e, data, origin, feats = subset
    tr, te = next(grouped_folds(data, 4, seed=0, origin=origin))
    cfg = PredictorConfig(backbone="efficientnet-lite0", target_datasets={"arousal": ["oasis"]})
    model = Predictor(cfg).fit_features(data.subset(tr), feats[tr])
    pred = model.predict_features(feats[te])
    train, test = data.subset(tr), data.subset(te)
    for name in ("oasis", "emotion6"):
        dims = ("valence", "arousal") if name == "oasis" else ("valence",)
        for j, dim in enumerate(dims):
            m = test.has(dim) & (test.dataset_of == name)
            y = test.vad[m, j]
            # The constant predictor: the training mean of that data set.
            const = train.vad[train.has(dim) & (train.dataset_of == name), j].mean()
            assert ((pred["vad"][m, j] - y) ** 2).mean() < ((const - y) ** 2).mean(), (name, dim)
            assert regression_metrics(y, pred["vad"][m, j])["r"] > 0.2, (name, dim)
    m = test.has("category")
    prior = train.probabilities[train.has("category")].mean(0)
    const = category_metrics(test.probabilities[m], np.tile(prior, (m.sum(), 1)))
    got = category_metrics(test.probabilities[m], pred["probabilities"][m])
    assert got["kl"] < const["kl"] and got["accuracy"] > const["accuracy"]


def test_heads_learn_only_from_rows_with_their_label(subset):
    o, e, data, origin, feats = subset
    model = Predictor(CFG).fit_features(data, feats)
    assert model.n_train_["category"] == len(e)
    assert model.n_train_["valence"] == len(o) + len(e)
    assert model.categories_.names[3] == "joy"
    p = model.predict_features(feats[:5])
    np.testing.assert_allclose(p["probabilities"].sum(1), 1, atol=1e-9)
    assert (p["vad"] >= 1).all() and (p["vad"] <= 9).all()


def test_saved_model_loads_and_predicts_the_same(subset, tmp_path):
    o, e, data, origin, feats = subset
    model = Predictor(CFG).fit_features(data, feats)
    model.save(tmp_path / "m", {"note": "test"})
    again = Predictor.load(tmp_path / "m")
    assert again.card_["note"] == "test" and again.config == model.config
    paths = sample_paths()
    a = model.predict(paths)
    b = again.predict(paths)
    for ra, rb in zip(a, b):
        assert ra["category"] == rb["category"]
        for k in ("valence", "arousal", "dominance"):
            assert ra[k] == pytest.approx(rb[k], abs=1e-9)
    # Saving over an existing model needs overwrite (the ownership rule) and then replaces it whole.
    with pytest.raises(OutputError, match="overwrite"):
        model.save(tmp_path / "m")
    model.save(tmp_path / "m", overwrite=True)
    assert "note" not in Predictor.load(tmp_path / "m").card_
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_gradients_reach_the_input_and_module_matches_fast_path(subset):
    o, e, data, origin, feats = subset
    model = Predictor(CFG).fit_features(data, feats)
    net = model.module()
    ex = model.extractor()
    imgs = np.stack([ex.load_image(p) for p in sample_paths()])
    x = torch.from_numpy(imgs).permute(0, 3, 1, 2).float().div(255).requires_grad_(True)
    out = net(x)
    fast = model.predict_arrays(imgs)
    np.testing.assert_allclose(out["vad"].detach().numpy(), fast["vad"], atol=1e-3)
    np.testing.assert_allclose(out["probabilities"].detach().numpy(), fast["probabilities"], atol=1e-3)
    joy = model.categories_.index("joy")
    (out["logits"][:, joy].sum() + out["vad"][:, 0].sum()).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    # Any input size works: the module resizes to the backbone's size itself.
    big = torch.rand(1, 3, 300, 400, requires_grad=True)
    net(big)["vad"][0, 1].backward()
    assert big.grad.abs().sum() > 0


def test_cross_validation_reports_each_dataset(subset):
    o, e, data, origin, feats = subset
    res = cross_validate(lambda: Predictor(CFG), [o, e], feats, folds=3, seed=0)
    assert set(res) == {"oasis", "emotion6"}
    assert "category" not in res["oasis"] and "category" in res["emotion6"]
    assert {"r", "r_sd", "mae", "ccc"} <= set(res["oasis"]["valence"])
    assert res["emotion6"]["valence"]["r"] > 0.4


def test_load_refuses_a_folder_that_is_not_a_model(tmp_path):
    with pytest.raises(ModelError, match="not a saved emosynth model"):
        Predictor.load(tmp_path)
    (tmp_path / "model.json").write_text("{not json")
    (tmp_path / "heads.npz").write_bytes(b"nope")
    with pytest.raises(ModelError, match="malformed model"):
        Predictor.load(tmp_path)


def test_folded_batchnorm_is_the_same_function_and_gradient():
    """The optimisers' copy with BatchNorm folded into the convolutions (the packaged two-backbone
    model): no BatchNorm left, the same V/A/D and input gradient to float rounding, the original untouched."""
    p = Predictor.load()
    plain = p.module(flip=False, size=128, backbone_size=128)
    folded = p.module(flip=False, size=128, backbone_size=128, fold_batchnorm=True)
    bn = torch.nn.BatchNorm2d
    assert folded is not plain and sum(isinstance(m, bn) for m in plain.modules()) > 50
    assert not any(isinstance(m, bn) for m in folded.modules())
    x = torch.rand(3, 3, 150, 170, generator=torch.Generator().manual_seed(1))
    grads = []
    for net in (plain, folded):
        xi = x.clone().requires_grad_(True)
        out = net(xi)
        out["vad_raw"][:, 0].sum().backward()
        grads.append((out["vad_raw"].detach(), xi.grad))
    assert torch.allclose(grads[0][0], grads[1][0], atol=1e-4)
    g0, g1 = grads[0][1], grads[1][1]
    cos = torch.nn.functional.cosine_similarity(g0.flatten(), g1.flatten(), dim=0)
    assert g0.abs().max() > 0 and cos > 0.9999 and (g0 - g1).abs().max() <= 1e-2 * g0.abs().max(), cos


def test_folding_keeps_the_original_when_the_layers_do_not_run_in_declaration_order():
    """``fold_batchnorm`` folds a BatchNorm into the convolution declared before it; a module whose forward
    does something else (the BatchNorm before the convolution) fails the check and is used unfolded."""
    from emosynth.models.backbones import fold_batchnorm
    from emosynth.models.predictor import _folded

    class Odd(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 3, 3, padding=1)
            self.bn = torch.nn.BatchNorm2d(3)

        def forward(self, x):
            return self.conv(self.bn(x))

    odd = Odd()
    with torch.no_grad():
        odd.bn.running_mean.uniform_(-1, 1)
        odd.bn.running_var.uniform_(0.5, 2)
    odd.eval()
    assert fold_batchnorm(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 1), torch.nn.BatchNorm2d(4)).eval()) == 1

    p = Predictor.load()
    module = p.module(flip=False, size=64, backbone_size=64)
    import copy

    broken = copy.deepcopy(module)

    class OddTrunk(torch.nn.Module):  # the odd layers run on the backbone's input, inside the model
        def __init__(self, odd, inner):
            super().__init__()
            self.odd, self.inner = odd, inner

        def forward_maps(self, x):
            return self.inner.forward_maps(self.odd(x))

    fnet = next(m for m in broken.modules() if hasattr(m, "trunk"))
    fnet.trunk = OddTrunk(odd, fnet.trunk)
    fallback = p.module(flip=False, size=64, backbone_size=64)
    bn = torch.nn.BatchNorm2d
    assert _folded(broken, lambda: fallback) is fallback  # folding changed the function: the unfolded one
    kept = _folded(copy.deepcopy(module), lambda: fallback)  # folding kept it: the folded copy
    assert kept is not fallback and not any(isinstance(m, bn) for m in kept.modules())
