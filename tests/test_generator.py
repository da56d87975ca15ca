"""The conditional generator (issue 5): determinism, the condition's effect, training through the real
packaged predictor, resume, the run directory of ``generate`` and one-line errors for bad targets.

Sizes and steps are tiny so the file runs in about a minute on 2 busy cores."""

import json

import pytest
import torch

from emosynth.cli import main
from emosynth.emotions import EMOTION6_LABELS
from emosynth.errors import SynthError
from emosynth.rundir import read_run
from emosynth.synth._generate import GenerateConfig, generate
from emosynth.synth._generator import (CHECKPOINT_FILE, LOG_FILE, Generator, GeneratorConfig, _judge,
                                       _step_losses, grid_targets, train_generator)

TINY = dict(steps=4, batch=4, train_size=40, predictor_size=96, checkpoint_every=2, eval_per_target=1, eval_grid=2,
            lr=5e-3)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("gen") / "va"
    gen = train_generator(GeneratorConfig(**TINY), out, command="test")
    return out, gen


def _fixed_loss(gen, judge):
    """Condition loss on a fixed batch, without random transforms."""
    g = torch.Generator().manual_seed(123)
    targets = grid_targets("va", 3)[[0, 0, 4, 4, 8, 8]]
    z = torch.randn(len(targets), gen.config.z_dim, generator=g)
    with torch.no_grad():
        cond, _ = _step_losses(gen, judge, targets, z, None, None, train=False)
    return float(cond)


def test_deterministic_for_a_seed_and_the_condition_matters():
    t = grid_targets("va", 5)[[0, 24]]
    a = Generator(GeneratorConfig(seed=3)).generate(t, 2, 32, seed=7)
    b = Generator(GeneratorConfig(seed=3)).generate(t, 2, 32, seed=7)
    assert torch.equal(a, b)
    assert not torch.equal(a, Generator(GeneratorConfig(seed=3)).generate(t, 2, 32, seed=8))
    assert not torch.equal(a, Generator(GeneratorConfig(seed=4)).generate(t, 2, 32, seed=7))
    # same z (seed), different target → different picture
    gen = Generator(GeneratorConfig(seed=3))
    z = gen.noise(1, 0)
    lo, hi = gen.render(z, t[:1], 32), gen.render(z, t[1:], 32)
    assert (lo - hi).abs().mean() > 0.01
    # resolution-free: the same picture at two sizes
    big = torch.nn.functional.interpolate(gen.render(z, t[:1], 64), size=(32, 32), mode="area")
    assert (big - lo).abs().mean() < 0.05


def test_training_lowers_the_condition_loss_and_writes_its_folder(trained):
    out, gen = trained
    judge = _judge(GeneratorConfig(**TINY))
    before = _fixed_loss(Generator(GeneratorConfig(**TINY)), judge)
    after = _fixed_loss(gen, judge)
    assert after < before - 0.05, (before, after)
    card = json.loads((out / "model.json").read_text())
    assert card["kind"] == "generator" and card["command"] == "test"
    assert card["predictor"]["id"].startswith("default:")
    assert card["metrics"]["steps"] == 4 and "training_mae_valence" in card["metrics"]
    log = (out / LOG_FILE).read_text().splitlines()
    assert log[0].startswith("step,loss,condition_loss,diversity") and len(log) == 5
    loaded = Generator.load(out)
    t = grid_targets("va", 2)
    assert torch.equal(loaded.generate(t, 1, 24, 0), gen.generate(t, 1, 24, 0))


def test_resume_after_an_interruption_reaches_the_unbroken_state(trained, tmp_path):
    out, gen = trained
    broken = tmp_path / "broken"
    train_generator(GeneratorConfig(**TINY), broken, stop_after=2)  # as if killed after the step-2 checkpoint
    assert (broken / CHECKPOINT_FILE).is_file() and not (broken / "model.json").exists()
    with pytest.raises(SynthError, match="resume"):
        Generator.load(broken)
    with pytest.raises(SynthError, match="already holds"):
        train_generator(GeneratorConfig(**TINY), broken)
    with pytest.raises(SynthError, match="different settings"):
        train_generator(GeneratorConfig(**{**TINY, "lr": 1e-3}), broken, resume=True)
    resumed = train_generator(GeneratorConfig(**TINY), broken, resume=True)
    for k, v in gen.net.state_dict().items():
        assert torch.equal(v, resumed.net.state_dict()[k]), k
    a = [line.split(",")[:4] for line in (broken / LOG_FILE).read_text().splitlines()]
    b = [line.split(",")[:4] for line in (out / LOG_FILE).read_text().splitlines()]
    assert a == b  # the same losses step by step (the seconds column differs)


def test_generate_writes_a_run_directory(trained, tmp_path):
    out, _ = trained
    meta = generate(GenerateConfig(generator=str(out), sweep=True, grid=2, n=1, size=48, seed=0), tmp_path / "sweep")
    run = read_run(tmp_path / "sweep")
    assert meta["kind"] == "generator" and run.meta["seed"] == 0 and run.meta["model"].startswith("default:")
    assert len(run.items) == 4 and run.items["target_valence"].nunique() == 2
    assert run.items[["valence", "arousal"]].notna().all().all()
    assert (tmp_path / "sweep" / "contact_sheet.png").stat().st_size > 1000
    generate(GenerateConfig(generator=str(out), valence=2, arousal=8, n=2, size=32, seed=5), tmp_path / "one")
    again = generate(GenerateConfig(generator=str(out), valence=2, arousal=8, n=2, size=32, seed=5), tmp_path / "two")
    one, two = read_run(tmp_path / "one"), read_run(tmp_path / "two")
    assert one.items["file"].tolist() == two.items["file"].tolist()
    for p, q in zip(one.image_paths(), two.image_paths()):
        assert p.read_bytes() == q.read_bytes()
    assert again["metrics"]["images"] == 2 and (one.items["target_arousal"] == 8).all()


@pytest.fixture(scope="module")
def category_generator(tmp_path_factory):
    out = tmp_path_factory.mktemp("gen") / "cat"
    Generator(GeneratorConfig(condition="category"), list(EMOTION6_LABELS)).save(out, {"kind": "generator"})
    return out


@pytest.mark.parametrize("args, message", [
    (["--valence", "12", "--arousal", "5"], "valence 12 is off the SAM 1-9 scale"),
    (["--valence", "5"], "give --arousal"),
    (["--emotion", "joy"], "not --emotion"),
])
def test_bad_va_targets_fail_with_one_line(trained, tmp_path, capsys, args, message):
    out, _ = trained
    with pytest.raises(SystemExit) as e:
        main(["generate", "--generator", str(out), "--out", str(tmp_path / "r"), *args])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("args, message", [
    (["--emotion", "happiness"], "unknown emotion 'happiness'"),
    (["--valence", "2", "--arousal", "8"], "conditioned on a category"),
])
def test_bad_category_targets_fail_with_one_line(category_generator, tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as e:
        main(["generate", "--generator", str(category_generator), "--out", str(tmp_path / "r"), *args])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_bad_settings_and_folders_fail_with_one_line(tmp_path, capsys):
    for argv, message in ((["generator", "train", "--out", str(tmp_path / "g"), "--condition", "mood"],
                           "unknown condition 'mood'"),
                          (["generator", "train", "--out", str(tmp_path / "g"), "--batch", "3"], "must be even"),
                          (["generate", "--generator", str(tmp_path), "--out", str(tmp_path / "r"), "--sweep"],
                           "not a trained emosynth generator")):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err
