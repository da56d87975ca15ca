"""The comparison study: statistics with known answers, the representation mappings, and the report's
files and table from a small real run (OASIS and Emotion6 subsets, a CNN and the handcrafted baseline)."""

import json
import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from emosynth.cli import main
from emosynth.compare import CEILING, CONSTANT, CompareConfig, _score, best_configuration, run_compare, summarise
from emosynth.data import Dataset, load_dataset
from emosynth.emotions import EMOTION6_LABELS, CategorySet
from emosynth.report import publish
from emosynth.report import write_compare_report as write_report
from emosynth.stats import mean_ci


def _long(rows):
    return pd.DataFrame(rows, columns=["backbone", "representation", "via", "dataset", "fold", "target", "metric",
                                       "value"])


def test_summarise_picks_the_best_and_tests_the_others_against_it():
    a, b, c = [0.50, 0.60, 0.70, 0.62], [0.40, 0.52, 0.66, 0.50], [0.49, 0.61, 0.69, 0.63]
    rows = []
    for name, vals in (("a", a), ("b", b), ("c", c)):
        for k, v in enumerate(vals):
            rows.append((name, "va", "direct", "oasis", k, "valence", "r", v))
            rows.append((name, "va", "direct", "oasis", k, "valence", "mae", 1 - v))  # lower is better
    for k in range(4):  # baselines never win
        rows.append((CONSTANT, "none", "direct", "oasis", k, "valence", "mae", 0.01))
    s = summarise(_long(rows))
    r = s[s.metric == "r"].set_index("backbone")
    assert r.loc["a", "best"] and not r.loc["b", "best"] and not r.loc["c", "best"]
    mean, ci = mean_ci(b)
    assert r.loc["b", "mean"] == pytest.approx(mean) and r.loc["b", "ci"] == pytest.approx(ci)
    assert r.loc["b", "p_vs_best"] == pytest.approx(st.ttest_rel(b, a).pvalue)
    assert r.loc["b", "diff_vs_best"] == pytest.approx(np.mean(b) - np.mean(a))
    assert r.loc["b", "p_vs_best"] < 0.05 < r.loc["c", "p_vs_best"]
    mae = s[s.metric == "mae"].set_index("backbone")
    assert mae.loc["a", "best"] and not mae.loc[CONSTANT, "best"]  # lowest model MAE; the baseline is not a model
    assert best_configuration(s, "oasis", "valence", "mae") == ("a", "va")


def _toy(n_per=6):
    """Two categories with distinct V/A/D, raters unanimous."""
    cats = CategorySet(EMOTION6_LABELS)
    k = len(cats)
    P, vad = [], []
    for label, v in (("joy", (7.0, 6.0, 6.0)), ("sadness", (3.0, 3.0, 4.0))):
        for _ in range(n_per):
            p = np.zeros(k)
            p[cats.index(label)] = 1
            P.append(p)
            vad.append(v)
    n = len(P)
    return Dataset("toy", [f"{i}.jpg" for i in range(n)], [f"row {i}" for i in range(n)], np.arange(n),
                   np.array(vad), np.array(P), cats)


def test_category_model_maps_to_va_through_centroids_and_va_model_back_by_nearest_centroid():
    data = _toy()
    centroids = np.full((7, 3), np.nan)
    centroids[data.categories.index("joy")] = (7, 6, 6)
    centroids[data.categories.index("sadness")] = (3, 3, 4)
    # A category model that is right with certainty implies each image's own V/A/D exactly.
    perfect = {"probabilities": data.probabilities.copy(), "vad": np.full((len(data), 3), 5.0)}
    scores = {(t, m, via): v for t, m, via, v in _score("category", data, perfect, centroids)}
    assert scores["category", "accuracy", "direct"] == 1.0
    assert scores["valence", "mae", "category centroids"] == pytest.approx(0.0)
    assert scores["valence", "r", "category centroids"] == pytest.approx(1.0)
    # A VA model predicting the swapped centroid gets every category wrong by nearest centroid...
    swapped = {"vad": data.vad[::-1].copy()}
    va = {(t, m, via): v for t, m, via, v in _score("va", data, swapped, centroids)}
    assert va["category", "accuracy", "nearest centroid"] == 0.0
    assert va["valence", "r", "direct"] == pytest.approx(-1.0)
    # ... and the VAD model sees D too: a D that points the other way changes nothing when V/A are right.
    vad_pred = {"vad": np.c_[data.vad[:, :2], data.vad[::-1, 2]]}
    vadm = {(t, m, via): v for t, m, via, v in _score("vad", data, vad_pred, centroids)}
    assert ("dominance", "r", "direct") in vadm and vadm["dominance", "r", "direct"] == pytest.approx(-1.0)
    assert vadm["category", "accuracy", "nearest centroid"] == 1.0  # |ΔV,ΔA| = (4, 3) outweighs |ΔD| = 2


@pytest.fixture(scope="module")
def subsets(data_root):
    rng = np.random.default_rng(0)
    oasis, e6 = load_dataset("oasis", data_root), load_dataset("emotion6", data_root)
    return [oasis.subset(np.sort(rng.choice(len(oasis), 240, replace=False))),
            e6.subset(np.sort(rng.choice(len(e6), 350, replace=False)))]


@pytest.fixture(scope="module")
def small_run(subsets, tmp_path_factory):
    cfg = CompareConfig(backbones=["efficientnet-lite0", "handcrafted"], folds=3, seed=0, components=64, jobs=2)
    out = tmp_path_factory.mktemp("compare") / "report"
    first = run_compare(cfg, datasets=subsets)
    write_report(first, out, "emosynth compare (test)")
    again = run_compare(CompareConfig(**{**vars(cfg), "jobs": 1}), datasets=subsets)
    write_report(again, out, "emosynth compare (test)", overwrite=True)  # replacing a report takes overwrite
    return first, again, out


def test_results_csv_has_one_row_per_configuration_fold_and_metric(small_run):
    first, _, out = small_run
    df = pd.read_csv(out / "results.csv")
    assert list(df.columns) == ["backbone", "representation", "via", "dataset", "fold", "target", "metric", "value"]
    models = df[~df.backbone.isin([CONSTANT, CEILING])]
    key = ["backbone", "representation", "via", "dataset", "fold", "target", "metric"]
    assert not models.duplicated(key).any()
    assert set(models.backbone) == {"efficientnet-lite0", "handcrafted"}
    assert set(models.representation) == {"category", "va", "vad"}
    assert set(models.fold) == {0, 1, 2}
    # every representation is scored directly and through the others, on each data set it can address
    got = set(models[["representation", "via", "dataset", "target"]].itertuples(index=False, name=None))
    for need in [("category", "direct", "emotion6", "category"), ("category", "category centroids", "oasis", "valence"),
                 ("va", "direct", "oasis", "arousal"), ("va", "nearest centroid", "emotion6", "category"),
                 ("vad", "direct", "emotion6", "dominance"), ("vad", "nearest centroid", "emotion6", "category")]:
        assert need in got, need
    assert ("va", "direct", "oasis", "dominance") not in got  # VA has no D
    # the baselines sit in the same table
    assert set(df[df.backbone == CEILING].target) == {"valence", "arousal"}
    assert (df[df.backbone == CEILING].value > 0.9).all()
    const_acc = df[(df.backbone == CONSTANT) & (df.metric == "accuracy")].value.mean()
    cnn_acc = models[(models.backbone == "efficientnet-lite0") & (models.representation == "category")
                     & (models.metric == "accuracy")].value.mean()
    assert cnn_acc > const_acc + 0.1


def test_same_seed_gives_the_same_numbers_with_any_number_of_processes(small_run):
    first, again, _ = small_run
    pd.testing.assert_frame_equal(first.results, again.results)
    assert first.timings["images_computed"] > 0 and again.timings["images_computed"] == 0


def test_report_files_and_headline_table(small_run):
    first, _, out = small_run
    for f in ("report.md", "report.html", "results.csv", "summary.csv", "heatmaps.png", "scatter_va.png",
              "confusion.png", "va_plane.png", "timings.json", "config.json"):
        assert (out / f).is_file() and (out / f).stat().st_size > 0, f
    assert not list(out.parent.glob(".report.*"))  # no temporary folder left
    md = (out / "report.md").read_text()
    head = md.split("## Headline", 1)[1].split("\n\n")[1].splitlines()
    assert head[0].startswith("| backbone | representation | oasis valence Pearson r")
    rows = [line for line in head[2:]]
    assert len(rows) == 2 * 3 + 2  # backbones × representations, constant predictor, noise ceiling
    cells = [c for r in rows for c in r.split("|")[3:-1]]
    assert sum(c.count("**") == 2 for c in cells) == 6  # one best figure marked per column
    assert re.search(r"\| efficientnet-lite0 \| VA \| \**0\.\d{3} ± 0\.\d{3}", md)
    # every linked image exists; the HTML carries them inline and references nothing outside
    for link in re.findall(r"\]\(([^)]+\.png)\)", md):
        assert (out / link).is_file()
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 4 and 'src="http' not in html
    history = json.loads((out / "timings.json").read_text())
    assert len(history) == 2 and history[0]["images_computed"] > 0 and history[1]["images_computed"] == 0
    assert "This run (warm" in md and "Last cold run in this folder (cold" in md
    # the bar section says yes/no from the numbers
    bar = md.split("## Which backbones reach the predictor's bar?", 1)[1].split("\n\n")[1].splitlines()
    assert len(bar) == 2 + 2 and bar[2].startswith("| efficientnet-lite0 |")
    assert bar[3].startswith("| handcrafted |") and bar[3].endswith("| no |")  # the baseline is far below it


def test_publish_copies_the_report_with_its_images(small_run, tmp_path):
    _, _, out = small_run
    md = publish(out, tmp_path / "docs" / "results.md")
    text = md.read_text()
    links = re.findall(r"\]\(([^)]+\.png)\)", text)
    assert links and all(link.startswith("results/") and (md.parent / link).is_file() for link in links)


def test_compare_cli_rejects_bad_input_with_one_line(tmp_path, capsys, data_root):
    for args, words in ((["--backbones", "nosuchnet"], "nosuchnet"), (["--folds", "1"], "at least 2"),
                        (["--backbones", "handcrafted,handcrafted"], "distinct")):
        with pytest.raises(SystemExit) as e:
            main(["compare", "--data-root", str(data_root), "--out", str(tmp_path / "r"), "-q", *args])
        assert e.value.code == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error:") and words in err and "Traceback" not in err and len(err.splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_a_lexicon_readout_entry_is_that_backbone_with_the_readout_on_the_same_folds(subsets, data_root):
    """``NAME@lexicon`` rows are NAME's features with the readout: its out-of-fold predictions are those of
    a readout predictor fitted on the same training folds, and differ from NAME's own; a bad readout
    name is refused before any work."""
    from emosynth.config import ConfigError
    from emosynth.data import combine, grouped_folds
    from emosynth.models.predictor import Predictor

    lex = str(data_root / "lexicons")
    cfg = CompareConfig(backbones=["efficientnet-lite0", "efficientnet-lite0@lexicon"], folds=3, seed=0,
                        components=64, jobs=1, readout_lexicon=lex)
    res = run_compare(cfg, datasets=subsets)
    assert {"efficientnet-lite0", "efficientnet-lite0@lexicon"} <= set(res.results.backbone)
    plain, read = res.oof["efficientnet-lite0"]["vad"], res.oof["efficientnet-lite0@lexicon"]["vad"]
    assert np.abs(plain[:, 0] - read[:, 0]).max() > 0.05
    data, origin = combine(subsets)
    tr, te = list(grouped_folds(data, 3, 0, origin=origin))[0]
    pcfg = cfg.predictor_config("efficientnet-lite0@lexicon")
    assert pcfg.readout == "lexicon" and pcfg.backbone == "efficientnet-lite0"
    model = Predictor(pcfg)
    X = model.inputs(data)
    want = model.fit_features(data.subset(tr), X[tr]).predict_features(X[te])["vad"]
    np.testing.assert_allclose(read[te], want, atol=1e-9)
    with pytest.raises(ConfigError, match="readout"):
        CompareConfig(backbones=["efficientnet-lite0@clip"]).validate()
