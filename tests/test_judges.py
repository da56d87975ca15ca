"""Judges (issue 17): the colour judges reproduce the published formulas, every judge's gradient
matches finite differences, and the consensus never rewards an image one judge scores far off."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from emosynth.judges import (
    HELD_OUT,
    Consensus,
    EnsembleJudge,
    JudgeError,
    NetworkJudge,
    OuColourJudge,
    PalmerColourJudge,
    ValdezMehrabianJudge,
    available_judges,
    combine,
    flat_fields,
    judge_objective,
    make_judge,
    palmer_data,
    palmer_leave_one_out,
    parse_judges,
    target_tensor,
)

SAMPLES = Path(__file__).resolve().parent.parent / "src" / "emosynth" / "sample_images"

# sRGB colours to check the formulas on: primaries, secondaries, greys, and a few in between
COLOURS = np.array([[0, 0, 0], [1, 1, 1], [0.5, 0.5, 0.5], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0],
                    [0, 1, 1], [1, 0, 1], [0.4, 0.4, 0.1], [0.8, 0.3, 0.2], [0.2, 0.6, 0.7],
                    [0.9, 0.85, 0.6], [0.1, 0.05, 0.3]])


# ------------------------------------------------------------------ an independent numpy colour path

def lab_numpy(rgb: np.ndarray) -> np.ndarray:
    """sRGB in [0, 1] → CIELAB (D65), written from the CIE definitions (κ/ε form), not from the judge."""
    rgb = np.asarray(rgb, dtype=np.float64)
    lin = np.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)
    m = np.array([[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750],
                  [0.0193339, 0.1191920, 0.9503041]])
    xyz = lin @ m.T / np.array([0.95047, 1.0, 1.08883])
    eps, kappa = 216 / 24389, 24389 / 27
    f = np.where(xyz > eps, np.cbrt(xyz), (kappa * xyz + 16) / 116)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1)


def gamut_numpy(n: int = 33) -> np.ndarray:
    v = np.linspace(0, 1, n)
    return np.stack(np.meshgrid(v, v, v, indexing="ij"), -1).reshape(-1, 3)


def vm_numpy(rgb):
    """Valdez & Mehrabian on standardised L* and C* (standardised over the gamut grid)."""
    g = lab_numpy(gamut_numpy())
    gl, gc = g[:, 0], np.hypot(g[:, 1], g[:, 2])
    lab = lab_numpy(rgb)
    zb = (lab[:, 0] - gl.mean()) / gl.std()
    zs = (np.hypot(lab[:, 1], lab[:, 2]) - gc.mean()) / gc.std()
    gzb, gzs = (gl - gl.mean()) / gl.std(), (gc - gc.mean()) / gc.std()
    out = []
    for wb, ws in ((0.69, 0.22), (-0.31, 0.60), (-0.76, 0.32)):
        raw, graw = wb * zb + ws * zs, wb * gzb + ws * gzs
        out.append((raw, 1 + 8 * (raw - graw.min()) / (graw.max() - graw.min())))
    return out


def ou_numpy(lab):
    L, a, b = lab[:, 0], lab[:, 1], lab[:, 2]
    activity = -2.1 + 0.06 * np.sqrt((L - 50) ** 2 + (a - 3) ** 2 + ((b - 17) / 1.4) ** 2)
    h = np.degrees(np.arctan2(b, a))
    C = np.hypot(a, b)
    weight = -1.8 + 0.04 * (100 - L) + 0.45 * np.cos(np.radians(h - 100))
    heat = -0.5 + 0.02 * C ** 1.07 * np.cos(np.radians(h - 50))
    preference = np.sqrt((L - 50) ** 2 + (a + 8) ** 2 + (b - 30) ** 2)
    return activity, weight, heat, preference


def to_sam(raw, graw):
    return 1 + 8 * (raw - graw.min()) / (graw.max() - graw.min())


# ------------------------------------------------------------------ colour judges: published formulas

def test_colour_space_matches_published_cielab_values():
    # sRGB red and white in CIELAB (D65): the textbook values (e.g. Lindbloom's calculator)
    lab = lab_numpy([[1, 0, 0], [1, 1, 1], [0, 0, 1]])
    np.testing.assert_allclose(lab[0], [53.24, 80.09, 67.20], atol=0.02)
    np.testing.assert_allclose(lab[1], [100, 0, 0], atol=0.01)
    np.testing.assert_allclose(lab[2], [32.30, 79.19, -107.86], atol=0.02)
    from emosynth.judges import srgb_to_lab

    L, a, b = srgb_to_lab(flat_fields(COLOURS, 2))
    np.testing.assert_allclose(torch.stack([L[:, 0, 0], a[:, 0, 0], b[:, 0, 0]], -1).numpy(),
                               lab_numpy(COLOURS), atol=1e-6)


def test_valdez_mehrabian_reproduces_the_published_regression_on_flat_fields():
    out = ValdezMehrabianJudge()(flat_fields(COLOURS))
    for d, (raw, sam) in enumerate(vm_numpy(COLOURS)):
        np.testing.assert_allclose(out["source"][:, d].numpy(), raw, atol=1e-3)
        np.testing.assert_allclose(out["vad_raw"][:, d].numpy(), sam, atol=1e-3)
    # the published signs: lighter → more pleasant, less arousing, less dominant; chroma raises all
    v, a, d = out["vad"][:, 0], out["vad"][:, 1], out["vad"][:, 2]
    assert v[1] > v[2] > v[0] and a[1] < a[2] < a[0] and d[1] < d[2] < d[0]
    assert out["vad"].min() >= 1 and out["vad"].max() <= 9


def test_ou_reproduces_colour_activity_weight_heat_and_preference_distance():
    j = OuColourJudge()
    out = j(flat_fields(COLOURS))
    activity, weight, heat, preference = ou_numpy(lab_numpy(COLOURS))
    np.testing.assert_allclose(out["source"][:, 1].numpy(), activity, atol=1e-3)
    lab = lab_numpy(COLOURS)
    grey = np.hypot(lab[:, 1], lab[:, 2]) < 1  # hue is undefined there: the judge drops the hue term
    np.testing.assert_allclose(out["ou_weight"].numpy()[~grey], weight[~grey], atol=1e-3)
    np.testing.assert_allclose(out["ou_weight"].numpy()[grey], -1.8 + 0.04 * (100 - lab[grey, 0]), atol=1e-3)
    np.testing.assert_allclose(out["ou_heat"].numpy(), heat, atol=2e-3)
    np.testing.assert_allclose(out["source"][:, 0].numpy(), preference, atol=1e-3)
    ga, _, _, gp = ou_numpy(lab_numpy(gamut_numpy()))
    np.testing.assert_allclose(out["vad_raw"][:, 0].numpy(), to_sam(preference, gp), atol=1e-3)
    np.testing.assert_allclose(out["vad_raw"][:, 1].numpy(), to_sam(activity, ga), atol=1e-3)
    assert torch.isnan(out["vad"][:, 2]).all() and j.dims == ("valence", "arousal")
    # red is warm, blue cool; black heavy, white light (Part I's heat and weight)
    assert out["ou_heat"][3] > 0 > out["ou_heat"][5] and out["ou_weight"][0] > 0 > out["ou_weight"][1]


def _palmer_on_lab(lab: np.ndarray) -> np.ndarray:
    """The Palmer judge's source value for CIELAB colours (its per-pixel terms on 1 x 1 images)."""
    t = torch.as_tensor(np.asarray(lab, dtype=np.float64)).view(-1, 3, 1, 1)
    return PalmerColourJudge().pixel_terms(t[:, 0], t[:, 1], t[:, 2])["valence"].view(-1).numpy()


def test_palmer_follows_peoples_happy_sad_ratings_of_the_37_colours():
    d = palmer_data()
    assert len(d["colour"]) == 37 and np.corrcoef(d["happy"], d["sad"])[0, 1] < -0.9
    people = d["valence"]
    fit = _palmer_on_lab(np.stack([d["L"], d["a"], d["b"]], 1))
    assert np.corrcoef(fit, people)[0, 1] > 0.95
    # it generalises between colours: each predicted from a fit to the other 36
    assert np.corrcoef(palmer_leave_one_out(), people)[0, 1] > 0.9
    names = list(d["colour"])
    # what people said, and the judge with them: each hue's saturated version is happier than its dark one,
    # white happier than black
    for hue in "ROYHGCBP":
        s, k = names.index("S" + hue), names.index("D" + hue)
        assert people[s] > people[k] and fit[s] > fit[k], hue
    assert fit[names.index("WH")] > fit[names.index("BK")]
    # on flat sRGB fields: calibrated onto 1-9 by the gamut's range, the extremes reached
    out = PalmerColourJudge()(flat_fields(gamut_numpy(9)))
    assert out["vad"][:, 0].min() >= 1 and out["vad"][:, 0].max() <= 9
    assert torch.isnan(out["vad"][:, 1:]).all() and PalmerColourJudge.dims == ("valence",)
    grey, yellow = PalmerColourJudge()(flat_fields([[0.5, 0.5, 0.5], [1, 0.85, 0]]))["vad"][:, 0]
    assert yellow > grey + 2


def test_colour_judges_average_pixels_not_the_mean_colour():
    red, green = flat_fields([[1, 0, 0]], 4), flat_fields([[0, 1, 0]], 4)
    half = torch.cat([red[..., :2], green[..., 2:]], dim=3)
    for j in (ValdezMehrabianJudge(), OuColourJudge(), PalmerColourJudge()):
        both = j(torch.cat([red, green]))["vad_raw"]
        mixed = j(half)["vad_raw"][0]
        np.testing.assert_allclose(mixed.numpy(), both.mean(0).numpy(), atol=1e-9)
        # the mean colour (a dull olive) would read differently
        assert not torch.allclose(j(half.mean(dim=(2, 3), keepdim=True))["vad_raw"][0], mixed, atol=0.1, equal_nan=True)


def test_colour_judges_take_any_size_and_have_a_source():
    for j in (ValdezMehrabianJudge(), OuColourJudge()):
        assert j.made_from and "1994" in ValdezMehrabianJudge.made_from and "2004" in OuColourJudge.made_from
        out = j(torch.rand(3, 3, 17, 5))
        assert out["vad"].shape == (3, 3) and torch.isfinite(out["vad"][:, 0]).all()
    with pytest.raises(JudgeError):
        ValdezMehrabianJudge()(torch.rand(3, 17, 5))
    with pytest.raises(JudgeError):
        ValdezMehrabianJudge()(torch.zeros(1, 3, 4, 4, dtype=torch.uint8))


@pytest.mark.parametrize("judge", [ValdezMehrabianJudge, OuColourJudge, PalmerColourJudge])
def test_colour_judge_gradient_matches_finite_differences(judge):
    j = judge()
    x = (0.1 + 0.8 * torch.rand(2, 3, 3, 3, generator=torch.Generator().manual_seed(3), dtype=torch.float64))
    x.requires_grad_(True)
    cols = [i for i, d in enumerate(("valence", "arousal", "dominance")) if d in j.dims]
    assert torch.autograd.gradcheck(lambda t: j(t)["vad_raw"][:, cols], (x,), eps=1e-6, atol=1e-5)
    if judge is OuColourJudge:
        assert torch.autograd.gradcheck(lambda t: torch.stack([j(t)["ou_weight"], j(t)["ou_heat"]]), (x,),
                                        eps=1e-6, atol=1e-5)


def test_colour_gradient_exists_on_grey():
    x = torch.full((1, 3, 2, 2), 0.5, dtype=torch.float64, requires_grad=True)
    for j in (ValdezMehrabianJudge(), OuColourJudge(), PalmerColourJudge()):
        (g,) = torch.autograd.grad(j(x)["vad_raw"][:, :len(j.dims)].sum(), x)
        assert torch.isfinite(g).all() and g.abs().sum() > 0


# ------------------------------------------------------------------ network judges

@pytest.fixture(scope="module")
def default_judge():
    return NetworkJudge("default", name="default")


def _directional_check(fn, x, rel=0.05, h=1e-2):
    d = torch.randn(x.shape, generator=torch.Generator().manual_seed(1))
    d = d / d.norm()
    xg = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(fn(xg), xg)
    analytic = float((g * d).sum())
    with torch.no_grad():
        numeric = float((fn(x + h * d) - fn(x - h * d)) / (2 * h))
    assert abs(analytic) > 1e-4, "the gradient must not vanish"
    assert abs(analytic - numeric) <= rel * abs(numeric) + 1e-4, (analytic, numeric)


def test_network_judge_outputs_and_gradient(default_judge):
    j = default_judge
    assert j.labels and "valence" in j.dims and j.input_size > 0 and "SAM 1-9" in j.made_from
    x = 0.25 + 0.5 * torch.rand(2, 3, 48, 40, generator=torch.Generator().manual_seed(0))
    out = j(x)
    assert out["vad"].shape == (2, 3) and out["probabilities"].shape == (2, len(j.labels))
    torch.testing.assert_close(out["probabilities"].sum(1), torch.ones(2))
    # the judge is the packaged predictor: its fast path agrees (uint8 quantisation aside)
    fast = j.predictor.predict_arrays((x.permute(0, 2, 3, 1) * 255).round().to(torch.uint8).numpy())
    np.testing.assert_allclose(out["vad"][:, 0].detach().numpy(), fast["vad"][:, 0], atol=0.05)
    w = torch.tensor([1.0, -0.5, 0.0])
    _directional_check(lambda t: (j(t)["vad_raw"] * w).sum(), x)


def test_ensemble_judge_is_deterministic_and_differentiable(default_judge):
    net = NetworkJudge(default_judge.predictor, flip=False, name="default")
    ens = EnsembleJudge([net], transforms=2, seed=5)
    x = 0.25 + 0.5 * torch.rand(1, 3, 40, 40, generator=torch.Generator().manual_seed(2))
    a, b = ens(x)["vad_raw"], ens(x)["vad_raw"]
    torch.testing.assert_close(a, b)  # fresh rng each call: the same views
    assert not torch.allclose(a, net(x)["vad_raw"], atol=1e-4)  # but views, not the image
    _directional_check(lambda t: ens(t)["vad_raw"][:, :2].sum(), x)


# ------------------------------------------------------------------ registry

def test_registry_names_presets_and_errors():
    names = [n for n, _ in available_judges()]
    assert {"default", "ensemble", "lite2", "valdez-mehrabian", "ou"} <= set(names)
    assert set(HELD_OUT) <= set(names)
    assert all(desc for _, desc in available_judges())
    js = parse_judges("vm, ou")
    assert [j.name for j in js] == ["valdez-mehrabian", "ou"]
    assert isinstance(make_judge("colour"), ValdezMehrabianJudge)
    assert isinstance(make_judge("palmer"), PalmerColourJudge) and "palmer-2013" in names
    for bad in ("", " ", "vm,,ou", "vm,valdez-mehrabian", "no-such-judge"):
        with pytest.raises(JudgeError):
            parse_judges(bad)


def test_presets_build_the_named_judges():
    cons = parse_judges("consensus")
    assert [j.name for j in cons] == ["ensemble", "valdez-mehrabian"]
    assert cons[0].transforms > 0 and cons[0].labels
    assert [j.name for j in parse_judges("default")] == ["default"]
    hue = parse_judges("Consensus-Palmer")  # the edit's default; names are case-insensitive
    assert [j.name for j in hue] == ["ensemble", "palmer-2013"] and hue[1].dims == ("valence",)


def test_a_judge_restricted_to_some_dimensions_keeps_only_those():
    vm = ValdezMehrabianJudge().double()
    ar = make_judge("vm:arousal").double()
    assert ar.name == "valdez-mehrabian:arousal" and ar.dims == ("arousal",)
    assert "Valdez" in ar.made_from and "Restricted to arousal" in ar.made_from
    x = torch.rand(3, 3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    full, part = vm(x)["vad_raw"], ar(x)["vad_raw"]
    torch.testing.assert_close(part[:, 1], full[:, 1])  # the arousal formula, unchanged
    assert torch.isnan(part[:, 0]).all() and torch.isnan(part[:, 2]).all()
    torch.testing.assert_close(ar.score(x)["vad_raw"][:, 1], full[:, 1])
    # in a consensus, a valence-only target is not the restricted judge's business ...
    c = Consensus([PalmerColourJudge().double(), ar])
    assert c.per_judge(x, (7.0, float("nan"))).shape == (1, 3)
    # ... and its objective on a V/A target is arousal's error alone, with the gradient of arousal
    o = c.per_judge(x, (7.0, 3.0))[1]
    torch.testing.assert_close(o, -(full[:, 1] - 3.0) ** 2)
    xg = x.clone().requires_grad_(True)
    (-(ar(xg)["vad_raw"][:, 1] - 3.0) ** 2).sum().backward()
    xv = x.clone().requires_grad_(True)
    (-(vm(xv)["vad_raw"][:, 1] - 3.0) ** 2).sum().backward()
    torch.testing.assert_close(xg.grad, xv.grad)
    names = [j.name for j in parse_judges("ensemble,palmer,vm:arousal")]
    assert names == ["ensemble", "palmer-2013", "valdez-mehrabian:arousal"]
    for bad in ("ou:dominance", "palmer:arousal", "vm:"):
        with pytest.raises(JudgeError):
            make_judge(bad)


# ------------------------------------------------------------------ consensus

def test_combination_rules_bounds():
    o = torch.tensor([[0.0, -1.0, -4.0, -2.0], [-9.0, -1.0, -4.0, -0.5], [-0.2, -1.0, -3.0, -8.0]])
    soft = combine(o, "softmin", tau=1.0)
    lo, mean = o.min(0).values, o.mean(0)
    assert (soft >= lo - 1e-6).all() and (soft <= mean + 1e-6).all()
    assert (soft <= lo + math.log(3) + 1e-6).all()  # never above the worst judge + τ log J
    torch.testing.assert_close(soft[1], torch.tensor(-1.0))  # all agree: their objective
    torch.testing.assert_close(combine(o, "min"), lo)
    md = combine(o, "mean-disagreement", lam=1.0)
    torch.testing.assert_close(md, mean - o.std(0, unbiased=False))
    with pytest.raises(JudgeError):
        combine(o, "median")


def test_objective_uses_only_covered_and_targeted_dimensions():
    raw = torch.tensor([[5.0, 7.0, float("nan")]])
    torch.testing.assert_close(judge_objective(raw, target_tensor((3, 6), 1)), torch.tensor([-2.5]))
    torch.testing.assert_close(judge_objective(raw, target_tensor((3, float("nan")), 1)), torch.tensor([-4.0]))
    with pytest.raises(JudgeError):
        judge_objective(raw, target_tensor((float("nan"), float("nan"), 4), 1))
    with pytest.raises(JudgeError):
        target_tensor((0, 12), 1)
    with pytest.raises(JudgeError):
        target_tensor((1, 2, 3, 4), 1)
    with pytest.raises(JudgeError):
        Consensus([ValdezMehrabianJudge()], method="vote")


def _pool():
    """Flat colour fields (4 levels per channel) and the four packaged photos, 64 px."""
    from PIL import Image

    v = np.linspace(0, 1, 4)
    cols = np.stack(np.meshgrid(v, v, v, indexing="ij"), -1).reshape(-1, 3)
    flats = flat_fields(cols, 64).float()
    photos = [np.asarray(Image.open(p).convert("RGB").resize((64, 64))) for p in sorted(SAMPLES.glob("*.jpg"))]
    photos = torch.from_numpy(np.stack(photos)).permute(0, 3, 1, 2).float() / 255
    return torch.cat([flats, photos])


def test_consensus_never_rewards_an_image_one_judge_scores_far_off(default_judge):
    colour = ValdezMehrabianJudge()
    net = NetworkJudge(default_judge.predictor, flip=False, name="default")  # one view: half the cost
    cons = Consensus([net, colour], method="softmin", tau=1.0)
    images = _pool()
    with torch.no_grad():
        outputs = cons.outputs(images)
    net_va, col_va = outputs[0]["vad_raw"][:, :2], outputs[1]["vad_raw"][:, :2]
    far, near = 6.25, 4.0  # points²: RMS 2.5 points off vs within RMS 2 points
    # targets where the network is exactly on target for image A and the colour judge far off
    checked = 0
    for a in range(len(images)):
        target = net_va[a]
        if float(((col_va[a] - target) ** 2).mean()) < far:
            continue
        with torch.no_grad():
            per = cons.per_judge(images, target, outputs)  # (2, N)
            score = combine(per, "softmin", tau=1.0)
        assert float(per[0, a]) == pytest.approx(0.0, abs=1e-6)  # the network: on target
        agree = torch.nonzero((per >= -near).all(0)).flatten()
        if len(agree) == 0:
            continue
        checked += 1
        # every image both judges place near the target beats the one the colour judge rejects
        assert float(score[a]) < float(score[agree].min()), (a, float(score[a]), float(score[agree].min()))
    assert checked >= 5, "the pool must contain such pairs for the test to say anything"


# ------------------------------------------------------------------ the fast path

def test_ensemble_judges_each_image_alone_and_the_fast_path_is_the_same_function(default_judge):
    """An ensemble applies one fixed set of views to every image of a batch: an image's verdict in a
    batch is its verdict alone (so CMA-ME, CMA-MEGA and the re-check of an archive score one function,
    batched). ``score`` — no gradients, every view of every image in one batch, the backbones on ONNX
    Runtime — agrees with the torch module."""
    net = NetworkJudge(default_judge.predictor, flip=False, name="default")
    ens = EnsembleJudge([net], transforms=3, seed=4)
    x = 0.2 + 0.6 * torch.rand(3, 3, 48, 48, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        batch = ens(x)
        alone = [ens(x[i:i + 1]) for i in range(3)]
        views = ens.views(x)
    for i in range(3):
        torch.testing.assert_close(batch["vad_raw"][i], alone[i]["vad_raw"][0], atol=1e-5, rtol=0)
        torch.testing.assert_close(batch["probabilities"][i], alone[i]["probabilities"][0], atol=1e-6, rtol=0)
    # the views differ from the image and from one another (rotation, scale, colour, mirror)
    assert all(float((v - x).abs().mean()) > 1e-3 for v in views)
    assert float((views[0] - views[1]).abs().mean()) > 1e-3
    fast = ens.score(x)
    assert net.extractor() is not None and net.extractor().engine == "onnx"  # ONNX Runtime is installed here
    assert not fast["vad_raw"].requires_grad
    torch.testing.assert_close(fast["vad_raw"], batch["vad_raw"], atol=2e-3, rtol=0)
    torch.testing.assert_close(fast["probabilities"], batch["probabilities"], atol=1e-3, rtol=0)
    torch.testing.assert_close(fast["vad"], fast["vad_raw"].clamp(1, 9))
    torch.testing.assert_close(net.score(x, "torch")["vad_raw"], net(x)["vad_raw"].detach())
    colour = ValdezMehrabianJudge()
    torch.testing.assert_close(colour.score(x)["vad_raw"], colour(x)["vad_raw"])
