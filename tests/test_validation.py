"""Numbers and data checked where they enter (issue 14 §5, issue 15 §8 §9 §12): one ConfigError per bad
setting, naming the parameter in the library and the flag on the command line; one line, exit 2; nothing
written. Each case here was a traceback, a silent default or a half-written output before."""

import json
import math

import numpy as np
import pytest

from emosynth.cli import main
from emosynth.config import (
    SEED_LIMIT,
    check_finite,
    check_int_at_least,
    check_positive,
    check_range,
    check_seed,
    command_string,
)
from emosynth.data import read_table
from emosynth.emotions import EMOTION6_LABELS
from emosynth.errors import ConfigError, DataError, ScaleError, SynthError
from emosynth.models import Predictor
from emosynth.synth import EvolveConfig, GenerateConfig, GeneratorConfig, train_generator


def cli(capsys, *args):
    """Run the real entry point in this process; returns (exit code, stdout, stderr)."""
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line(capsys, *args, expect: str):
    code, _, err = cli(capsys, *args)
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert expect in lines[0], lines[0]
    return lines[0]


# ---------------------------------------------------------------------------- the checkers and the convention


def test_checkers_accept_what_numpy_and_torch_accept_and_name_the_parameter():
    assert check_seed("seed", 0) == 0 and check_seed("seed", SEED_LIMIT - 1) == SEED_LIMIT - 1
    np.random.RandomState(SEED_LIMIT - 1)  # the largest seed is one numpy's legacy generator takes
    for bad in (-1, SEED_LIMIT, 1.5, True, "3"):
        with pytest.raises(ConfigError, match=r"^seed must be an integer from 0 to 4294967295"):
            check_seed("seed", bad)
    for bad in (math.nan, math.inf, -math.inf, 0.0, -1e-9):
        with pytest.raises(ConfigError, match=r"^lr must be a finite number > 0, got"):
            check_positive("lr", bad)
    assert check_positive("diversity", 0.0, allow_zero=True) == 0.0
    with pytest.raises(ConfigError, match="^x must be a finite number, got nan"):
        check_finite("x", math.nan)
    with pytest.raises(ConfigError, match="^valence must be a number from 1 to 9, got 9.5"):
        check_range("valence", 9.5, 1, 9)
    with pytest.raises(ConfigError, match="^cells must be at least 2 per dimension, got 1"):
        check_int_at_least("cells", 1, 2, "per dimension")


def test_library_messages_speak_of_parameters_and_the_cli_of_flags(capsys, tmp_path):
    with pytest.raises(ConfigError) as e:
        EvolveConfig(export_size=4).validate()
    assert str(e.value) == "export_size must be at least 8, got 4" and "--" not in str(e.value)
    with pytest.raises(ConfigError, match="^batch must be even"):
        GeneratorConfig(batch=3).validate()
    with pytest.raises(ConfigError, match="^emitter es cannot search the bounded pixels encoding.*use emitter iso"):
        EvolveConfig(encoding="pixels", emitter="es").validate()
    line = one_line(capsys, "evolve", "--export-size", "4", "--out", tmp_path / "r",
                    expect="error: --export-size must be at least 8, got 4")
    assert line == "error: --export-size must be at least 8, got 4"
    one_line(capsys, "evolve", "--encoding", "pixels", "--emitter", "es", "--out", tmp_path / "r",
             expect="--emitter es cannot search the bounded pixels encoding")
    assert not (tmp_path / "r").exists()


def test_one_command_string_helper():
    assert command_string(["evolve", "--out", "my runs/a"]) == "emosynth evolve --out 'my runs/a'"


# ---------------------------------------------------------------------------- issue 15 §9: unchecked numbers


@pytest.mark.parametrize("args", [
    ("train", "--dataset", "emotion6"),
    ("evaluate", "--dataset", "emotion6"),
    ("evolve", "--iterations", "1"),
    ("visualize", "--steps", "1"),
    ("generator", "train", "--steps", "1"),
    ("demo", "--iterations", "1"),
    ("generate", "--sweep"),
    ("generator", "evaluate", "--generator", "default"),
    ("compare", "--backbones", "handcrafted"),
], ids=lambda a: " ".join(a[:2]))
def test_a_negative_seed_is_one_line(capsys, tmp_path, args):
    out = tmp_path / "out"
    extra = () if args[0] == "evaluate" or args[:2] == ("generator", "evaluate") else ("--out", out)
    one_line(capsys, *args, "--seed", "-5", *extra,
             expect="--seed must be an integer from 0 to 4294967295 (2**32 - 1), got -5")
    assert not out.exists()


@pytest.mark.parametrize("command", [("generator", "train"), ("visualize",)], ids=" ".join)
@pytest.mark.parametrize("lr", ["nan", "-1", "inf", "0"])
def test_a_bad_learning_rate_is_one_line(capsys, tmp_path, command, lr):
    one_line(capsys, *command, "--lr", lr, "--out", tmp_path / "out", expect="--lr must be a finite number > 0")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("sigma", ["inf", "nan", "-0.5"])
def test_evolve_sigma_inf_is_refused_before_the_run(capsys, tmp_path, sigma):
    # before: the run went ahead and crashed writing run.json, leaving a run without it
    one_line(capsys, "evolve", "--sigma", sigma, "--iterations", "1", "--out", tmp_path / "r",
             expect="--sigma must be a finite number > 0")
    assert not (tmp_path / "r").exists()


def test_generator_lr_inf_or_diversity_nan_is_refused_before_training(capsys, tmp_path):
    one_line(capsys, "generator", "train", "--lr", "inf", "--out", tmp_path / "g", expect="--lr must be a finite")
    one_line(capsys, "generator", "train", "--diversity", "nan", "--out", tmp_path / "g",
             expect="--diversity must be a finite number ≥ 0, got nan")
    assert not (tmp_path / "g").exists()


def test_a_diverging_generator_stops_with_one_line_and_keeps_its_last_good_checkpoint(tmp_path):
    # lr 1e30 is a finite number, so it passes validation; the weights blow up at the second step
    cfg = GeneratorConfig(steps=4, batch=4, train_size=40, predictor_size=96, checkpoint_every=1, eval_per_target=1,
                          eval_grid=2, lr=1e30)
    out = tmp_path / "g"
    with pytest.raises(SynthError, match=r"training diverged at step 2 .*checkpoint.pt \(step 1\) is kept") as e:
        train_generator(cfg, out)
    assert "\n" not in str(e.value)
    names = {p.name for p in out.iterdir()}
    assert {"checkpoint.pt", "train.csv"} <= names and not names & {"generator.pt", "model.json"}  # no model
    saved = (out / "checkpoint.pt").read_bytes()
    # --resume loads the step-1 checkpoint (finite, whole) and meets the divergence again at step 2
    with pytest.raises(SynthError, match="training diverged at step 2"):
        train_generator(cfg, out, resume=True)
    assert (out / "checkpoint.pt").read_bytes() == saved


def test_evolve_scheduler_that_is_not_an_address_is_one_line(capsys, tmp_path):
    one_line(capsys, "evolve", "--scheduler", "notaurl", "--iterations", "1", "--out", tmp_path / "r",
             expect="--scheduler 'notaurl' is not a Dask scheduler address; write tcp://HOST:PORT")
    assert not (tmp_path / "r").exists()


def test_generate_checks_its_targets_and_seed():
    with pytest.raises(ConfigError, match="^valence nan is off the SAM 1-9 scale"):
        GenerateConfig(valence=math.nan, arousal=5).validate()
    with pytest.raises(ConfigError, match="^sweep covers the generator's whole training range"):
        GenerateConfig(sweep=True, valence=5).validate()


# ---------------------------------------------------------------------------- issue 15 §12


def test_demo_iterations_zero_is_one_line(capsys, tmp_path):
    # before: 0 meant the default, 20 iterations per run
    one_line(capsys, "demo", "--iterations", "0", "--out", tmp_path / "demo",
             expect="--iterations must be at least 1, got 0")
    assert not (tmp_path / "demo").exists()


def _table(tmp_path, emotion6, lines):
    img = tmp_path / "a.jpg"
    img.write_bytes(emotion6.paths[0].read_bytes())
    p = tmp_path / "t.csv"
    p.write_text("path,valence,arousal\n" + "\n".join(lines) + "\n")
    return p


def test_csv_inf_is_off_the_scale_not_missing(capsys, tmp_path, emotion6):
    p = _table(tmp_path, emotion6, ["a.jpg,5,4", "a.jpg,inf,3"])
    with pytest.raises(ScaleError, match=r"t.csv row 3: valence is .*inf.*, not a finite rating"):
        read_table(p)
    p = _table(tmp_path, emotion6, ["a.jpg,5,-inf"])
    with pytest.raises(ScaleError, match=r"t.csv row 2: arousal"):
        read_table(p)
    one_line(capsys, "data", "summary", "--dataset", p, expect="t.csv row 2: arousal")


def test_csv_short_row_names_file_row_and_column(capsys, tmp_path, emotion6):
    p = _table(tmp_path, emotion6, ["a.jpg,5,4", "a.jpg,6"])
    with pytest.raises(DataError, match=r"t.csv row 3: no value for column 'arousal' \(the row has 2 of the "
                                        r"header's 3 fields\)"):
        read_table(p)
    one_line(capsys, "data", "summary", "--dataset", p, expect="t.csv row 3: no value for column 'arousal'")
    # an empty value written as such is still a missing label, as before
    p = _table(tmp_path, emotion6, ["a.jpg,5,4", "a.jpg,6,"])
    assert np.isnan(read_table(p).vad[1, 1])


# ---------------------------------------------------------------------------- issue 15 §8: too little data


@pytest.fixture(scope="module")
def few_valence(tmp_path_factory, emotion6):
    """30 Emotion6 images with their category, but valence on only 6 of them."""
    d = tmp_path_factory.mktemp("few")
    rows = ["path,category,valence"]
    for i in range(30):
        cat = EMOTION6_LABELS[int(emotion6.probabilities[i].argmax())]
        rows.append(f"{emotion6.paths[i]},{cat},{emotion6.vad[i, 0] if i < 6 else ''}")
    (d / "few.csv").write_text("\n".join(rows) + "\n")
    return d / "few.csv"


def test_a_head_with_too_few_rows_stops_training_with_one_line(capsys, tmp_path, few_valence):
    # before: the valence head was skipped silently and the saved model predicted valence 5.00
    one_line(capsys, "train", "--dataset", few_valence, "--out", tmp_path / "m", "--quiet",
             expect="the valence head has 6 labelled training rows; it needs at least 10")
    assert not (tmp_path / "m").exists()
    # evaluate stopped reporting r = 0.000 for it
    one_line(capsys, "evaluate", "--dataset", few_valence, "--folds", "2", "--quiet",
             expect="the valence head has")
    # and compare stopped printing empty tables
    one_line(capsys, "compare", "--dataset", few_valence, "--backbones", "handcrafted", "--folds", "2", "--jobs", "1",
             "--target-data", "valence=few", "--out", tmp_path / "c", "--quiet", expect="the valence head has")
    assert not (tmp_path / "c").exists()


def test_a_model_saved_with_a_starved_head_does_not_offer_it(capsys, tmp_path):
    """A model written by the old code with a 6-row valence head: predict shows no valence, not 5.00."""
    m = Predictor.load()
    m.n_train_ = {**m.n_train_, "valence": 6}
    m.save(tmp_path / "old")
    card = json.loads((tmp_path / "old" / "model.json").read_text())
    assert "valence" in card["targets"]
    p = Predictor.load(tmp_path / "old")
    assert "valence" not in p.targets_ and "arousal" in p.targets_
    code, out, err = cli(capsys, "predict", "--model", tmp_path / "old", "--json")
    assert code == 0, err
    recs = [json.loads(line) for line in out.splitlines()]
    assert recs and all(r["valence"] is None and 1 <= r["arousal"] <= 9 for r in recs)
