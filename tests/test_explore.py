"""Activation maximisation: the parametrisations, the objectives, and that optimising for a category
raises its probability under the predictor."""

import json

import numpy as np
import pytest
import torch

from emosynth.cli import main
from emosynth.explore import (
    FourierImage,
    ObjectiveError,
    PixelImage,
    VisualizeConfig,
    decorrelated_to_rgb,
    parse_objective,
    rgb_to_decorrelated,
    visualize,
)
from emosynth.rundir import read_run

CATS = ["anger", "disgust", "fear", "joy", "sadness", "surprise", "neutral"]
TARGETS = ["valence", "arousal", "dominance", "category"]


@pytest.mark.parametrize("cls", [FourierImage, PixelImage])
def test_parametrisation_is_invertible_and_stays_in_the_unit_interval(cls):
    g = torch.Generator().manual_seed(0)
    images = torch.rand((2, 3, 48, 48), generator=g) * 0.96 + 0.02
    p = cls(2, 48).from_image(images)
    np.testing.assert_allclose(p().detach().numpy(), images.numpy(), atol=1e-5)
    wild = cls(2, 48, sd=50.0)  # extreme parameters still give an image
    x = wild().detach()
    assert x.min() >= 0 and x.max() <= 1 and x.std() > 0.1


def test_decorrelated_colour_is_an_invertible_linear_map():
    x = torch.randn(1, 3, 8, 8)
    np.testing.assert_allclose(rgb_to_decorrelated(decorrelated_to_rgb(x)).numpy(), x.numpy(), atol=1e-5)
    assert not torch.allclose(decorrelated_to_rgb(x), x)


def test_fourier_parametrisation_starts_smooth():
    """The 1/f scaling puts a random start's energy in low frequencies: neighbouring pixels correlate."""
    x = FourierImage(1, 64, sd=0.5, generator=torch.Generator().manual_seed(1))().detach()[0, 0]
    naive = PixelImage(1, 64, sd=0.5, generator=torch.Generator().manual_seed(1))().detach()[0, 0]

    def neighbour_r(a):
        return np.corrcoef(a[:, :-1].ravel(), a[:, 1:].ravel())[0, 1]

    assert neighbour_r(x.numpy()) > 0.5 > neighbour_r(naive.numpy())


def test_objectives_parse_and_refuse_what_the_model_lacks():
    assert parse_objective("Joy", CATS, 10, TARGETS).kind == "category"
    o = parse_objective("valence=8, arousal=2", CATS, 10, TARGETS)
    assert o.kind == "point" and o.target_columns() == {"target_valence": 8.0, "target_arousal": 2.0}
    assert parse_objective("arousal-", CATS, 10, TARGETS).sign == -1
    for bad, words in (("valence=12", "off the SAM scale"), ("category=love", "categories are"),
                       ("channel=10", "channels 0-9"), ("dominance+", "not trained on dominance"),
                       ("happiness", "write a category")):
        with pytest.raises(ObjectiveError, match=words):
            parse_objective(bad, CATS, 10, ["valence", "arousal", "category"])


def test_optimising_for_a_category_raises_its_probability(tmp_path):
    out = visualize(VisualizeConfig(objectives=["sadness", "valence=8,arousal=2"], seeds=1, steps=12, size=224),
                    tmp_path / "vis")
    run = read_run(out)
    m = json.loads((out / "run.json").read_text())["metrics"]["objectives"]
    assert m["sadness"]["probability_end"] > m["sadness"]["probability_start"] + 0.2
    assert m["v8_a2"]["score_end"] > m["v8_a2"]["score_start"]  # closer to the target point
    row = run.items.set_index("objective").loc["sadness"]
    assert row["category"] == "sadness" and row["target_category"] == "sadness"
    assert (out / "mosaic.png").stat().st_size > 10_000
    assert not list(tmp_path.glob(".vis*"))


def test_visualize_cli_rejects_a_target_off_the_scale(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["visualize", "--target", "valence=12", "--out", str(tmp_path / "v"), "-q"])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "off the SAM scale" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "v").exists()


def test_visualize_under_judges_moves_every_judge_and_reports_held_out_ones(tmp_path):
    """``visualize --judges``: V/A targets under the consensus of the named judges (here the
    Valdez-Mehrabian colour judge, cheap and exact), reported against a held-out judge (Ou)."""
    from PIL import Image

    from emosynth.errors import EmosynthError
    from emosynth.judges import OuColourJudge, ValdezMehrabianJudge

    out = visualize(VisualizeConfig(objectives=["valence=8,arousal=2", "valence-"], seeds=2, steps=15, size=48,
                                    lr=0.15, judges="vm", check_judges="ou"), tmp_path / "vis")
    run = read_run(out)
    meta = json.loads((out / "run.json").read_text())
    m = meta["metrics"]["objectives"]
    assert set(m) == {"v8_a2", "v1"} and all(e["score_end"] > e["score_start"] + 0.5 for e in m.values())
    assert meta["judges"]["objective"] == ["valdez-mehrabian"] and set(meta["transfer"]) == {"ou"}
    images = torch.from_numpy(np.stack([np.asarray(Image.open(out / "images" / f)) for f in run.items["file"]]))
    x = images.permute(0, 3, 1, 2).double() / 255
    vm, ou = ValdezMehrabianJudge()(x)["vad"].numpy(), OuColourJudge()(x)["vad"].numpy()
    np.testing.assert_allclose(run.items["judge_valdez-mehrabian_valence"], vm[:, 0], atol=0.02)  # uint8 PNGs
    np.testing.assert_allclose(run.items["ou_valence"], ou[:, 0], atol=0.02)
    np.testing.assert_allclose(run.items["valence"], vm[:, 0], atol=0.02)  # the objective's mean: one judge
    high = run.items["objective"] == "v8_a2"
    assert run.items.loc[high, "valence"].min() > run.items.loc[~high, "valence"].max() + 2
    t = meta["transfer"]["ou"]
    assert t["n"] == 4 and t["mae_valence"] == pytest.approx(np.abs(ou[:, 0] - run.items["target_valence"]).mean(),
                                                            abs=0.02)
    with pytest.raises(EmosynthError, match="V/A/D points"):
        visualize(VisualizeConfig(objectives=["joy"], steps=1, judges="vm"), tmp_path / "bad")
    with pytest.raises(EmosynthError, match="in the objective"):
        visualize(VisualizeConfig(steps=1, judges="vm", check_judges="valdez-mehrabian"), tmp_path / "bad")
    assert not (tmp_path / "bad").exists()
