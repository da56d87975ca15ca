"""MAP-Elites judged by several judges (issue 17): the consensus objective, its gradients, held-out judges.

Tiny runs on the real packaged model, the real Valdez-Mehrabian and Ou colour judges and the cached
Lite2 network: few iterations, small grids.
"""

import itertools
import json
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import pearsonr

from emosynth.judges import HELD_OUT, combine, make_judge, parse_judges
from emosynth.rundir import read_run
from emosynth.statefile import load_state
from emosynth.synth import (
    CHECKPOINT,
    CONSENSUS_TAU,
    LUMA,
    EvolveConfig,
    GradientJudge,
    JudgeSpec,
    evolve,
    judge_outputs,
    judge_scores,
    make_encoding,
    make_space,
)

SMALL = dict(batch=8, emitters=2, export_size=32, checkpoint_every=1)


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "emosynth.cli", *args], capture_output=True, text=True,
                          timeout=600)


def assert_one_line_error(res, *patterns):
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    lines = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    for p in patterns:
        assert p in lines[0], res.stderr


@pytest.fixture(scope="module")
def consensus():
    return parse_judges("consensus")


@pytest.fixture(scope="module", params=["cppn", "pixels"])
def consensus_run(request, tmp_path_factory):
    """A consensus run on the fast path (CMA-ME over a CPPN) and through the gradients (CMA-MEGA over pixels)."""
    enc = dict(encoding="cppn", hidden=8, layers=1) if request.param == "cppn" else dict(encoding="pixels", grid=8)
    out = tmp_path_factory.mktemp("consensus") / request.param
    cfg = EvolveConfig(space="va", cells=4, iterations=2, seed=1, judges="consensus", **enc, **SMALL)
    return cfg, out, evolve(cfg, out)


def _archive(out):
    return load_state(out / CHECKPOINT)["scheduler"].archive


def _encoding(meta):
    spec = {k: v for k, v in meta["encoding"].items() if k != "solution_dim"}
    return make_encoding(**spec)


def test_default_judges_give_the_archive_of_a_run_without_the_flag(tmp_path):
    args = ["evolve", "--space", "va", "--cells", "4", "--encoding", "pixels", "--grid", "8", "--emitter", "iso",
            "--iterations", "2", "--batch", "8", "--emitters", "2", "--export-size", "32", "--seed", "4",
            "--check-judges", "none", "--quiet"]
    res = run_cli(*args, "--judges", "default", "--out", str(tmp_path / "flag"))
    assert res.returncode == 0, res.stderr
    evolve(EvolveConfig(space="va", cells=4, encoding="pixels", grid=8, emitter="iso", iterations=2, seed=4,
                        check_judges="none", **SMALL), tmp_path / "plain")
    a, b = read_run(tmp_path / "flag"), read_run(tmp_path / "plain")
    # the same elites in the same cells; scores to float32 rounding on the 1-9 scale (two processes may sum in
    # another order or pick another engine), so near-zero fitnesses are compared absolutely
    pd.testing.assert_frame_equal(a.items, b.items, check_exact=False, rtol=1e-6, atol=1e-5)
    assert [h["qd_score"] for h in a.meta["history"]] == pytest.approx([h["qd_score"] for h in b.meta["history"]],
                                                                       rel=1e-6)
    assert [h["filled"] for h in a.meta["history"]] == [h["filled"] for h in b.meta["history"]]
    assert "judges" not in a.meta["space"] and a.meta["transfer"] is None
    for _, r in a.items.iterrows():  # today's objective: minus the distance to the cell centre
        err = np.hypot(r["valence"] - r["target_valence"], r["arousal"] - r["target_arousal"])
        assert r["fitness"] == pytest.approx(-err)


def test_consensus_objective_is_the_softmin_of_each_judges_objective(consensus_run, consensus):
    cfg, out, meta = consensus_run
    assert meta["space"]["judges"] == ["ensemble", "valdez-mehrabian"]
    archive = _archive(out)
    data = archive.data()
    assert len(data["index"]) >= 1
    x = _encoding(meta).render(data["solution"], 224)
    ensemble, colour = consensus
    with torch.no_grad():  # each image judged alone: the ensemble's fixed views of it
        net = torch.cat([ensemble(x[i:i + 1])["vad"] for i in range(len(x))]).double().numpy()[:, :2]
        vm = colour(x)["vad"].double().numpy()[:, :2]
    grid = archive.int_to_grid_index(data["index"])
    centre = 1 + (grid + 0.5) * 2.0  # 4 cells of 2 points over 1-9
    # the cell holds the mean of the two judges' V/A
    np.testing.assert_array_equal(np.clip(((net + vm) / 2 - 1) * 4 / 8 + 1e-6 / 8, 0, 3).astype(int), grid)
    d = np.stack([np.linalg.norm(net - centre, axis=1), np.linalg.norm(vm - centre, axis=1)])
    tau = CONSENSUS_TAU
    softmin = -tau * np.log(np.exp(d / tau).mean(0))
    np.testing.assert_allclose(data["objective"], softmin, atol=2e-4)
    assert (data["objective"] <= -d.max(0) + tau * math.log(2) + 1e-6).all()  # never above the worst + τ log 2
    items = read_run(out).items.set_index("cell").loc[data["index"]]
    np.testing.assert_allclose(items["fitness"], data["objective"], rtol=0, atol=1e-9)


def test_consensus_never_rewards_a_flat_dark_image(consensus):
    dark = torch.full((1, 3, 224, 224), 0.06)
    scores = judge_scores(consensus, dark)
    net_v, vm_v = scores["vad"][0, 0, 0], scores["vad"][1, 0, 0]
    assert vm_v < 2.0 and net_v - vm_v > 1.5  # the colour code reads it as unpleasant, the network does not
    space = make_space("va", cells=8, judges=[(j.name, j.dims) for j in consensus])
    objective = space.assess(scores)[0][0][0]
    per_judge = space.per_judge(scores)[:, 0]
    assert objective <= per_judge.min() + CONSENSUS_TAU * math.log(2) + 1e-12 and objective < -1.0
    # the network alone would place it in a cell near its own V/A and call it nearly on target ...
    alone = make_space("va", cells=8, judges=[(consensus[0].name, consensus[0].dims)])
    assert alone.assess({"vad": scores["vad"][:1]})[0][0][0] > -0.75
    # ... but at that cell's target the consensus is still far off: the colour judge is
    target = alone.centres(np.floor((scores["vad"][0, 0, :2] - 1) * 8 / 8).astype(int)[None])[0]
    dist = np.linalg.norm(scores["vad"][:, 0, :2] - target, axis=1)
    at_target = float(combine(torch.from_numpy(-dist)[:, None], "softmin", CONSENSUS_TAU)[0])
    assert -dist[0] > -0.75 and at_target <= -dist[1] + CONSENSUS_TAU * math.log(2) + 1e-9 and at_target < -2


def _values(gj, genomes):
    with torch.no_grad():
        x = gj.encoding.render_torch(torch.tensor(genomes, dtype=torch.float32), gj.input_size)
        obj, meas = gj.space.differentiable(judge_outputs(gj.judges, x), (x * LUMA).sum(1).mean(dim=(1, 2)))
    return np.column_stack([obj.numpy()] + [m.numpy() for m in meas])


@pytest.mark.parametrize("spec", ["valdez-mehrabian", "default,valdez-mehrabian"])
def test_mega_gradient_with_colour_judges_matches_finite_differences(spec):
    enc = make_encoding("cppn", hidden=8, layers=1)
    judges = parse_judges(spec)
    space = make_space("va", cells=4, judges=[(j.name, j.dims) for j in judges])
    gj = GradientJudge(JudgeSpec(encoding=json.dumps(enc.spec()), models=(), judges=spec), space)
    g = enc.random(1, np.random.default_rng(0))
    jac = gj.jacobian(g, (0, 0))[0]
    assert jac.shape == (3, enc.solution_dim) and np.abs(jac).sum(1).min() > 0
    rng = np.random.default_rng(1)
    h = 3e-3
    network = "default" in spec  # piecewise linear (ReLU6, max pooling): a looser match
    for j in range(jac.shape[0]):
        for u in (jac[j] / np.linalg.norm(jac[j]), rng.normal(size=jac.shape[1]) / np.sqrt(jac.shape[1])):
            fd = (_values(gj, g + h * u) - _values(gj, g - h * u))[0, j] / (2 * h)
            assert jac[j] @ u == pytest.approx(fd, rel=0.06 if network else 0.02, abs=2e-3 if network else 2e-4), j


def test_held_out_columns_are_the_held_out_judges_verdicts(consensus_run):
    cfg, out, meta = consensus_run
    run = read_run(out)
    archive = _archive(out)
    data = archive.data()
    order = np.argsort(data["index"])
    enc = _encoding(meta)
    assert set(meta["transfer"]) == set(HELD_OUT)
    for name in HELD_OUT:
        judge = make_judge(name)
        size = getattr(judge, "input_size", 224)
        with torch.no_grad():
            vad = judge(enc.render(data["solution"][order], size))["vad"].double().numpy()
        for j, d in enumerate(("valence", "arousal")):
            np.testing.assert_allclose(run.items[f"{name}_{d}"], vad[:, j], atol=2e-4)
            t = meta["transfer"][name]
            assert t["n"] == len(run.items)
            target = run.items[f"target_{d}"]
            assert t[f"mae_{d}"] == pytest.approx(np.abs(vad[:, j] - target).mean(), abs=1e-3)
            if t[f"r_{d}"] is not None:
                assert t[f"r_{d}"] == pytest.approx(pearsonr(target, run.items[f"{name}_{d}"])[0], abs=1e-9)


def test_a_judge_in_the_objective_and_held_out_is_one_line(tmp_path):
    x = tmp_path / "x"
    assert_one_line_error(run_cli("evolve", "--space", "va", "--judges", "consensus", "--check-judges",
                                  "ou,valdez-mehrabian", "--out", str(x)), "valdez-mehrabian", "--judges")
    assert_one_line_error(run_cli("evolve", "--space", "va", "--check-judges", "default", "--out", str(x)),
                          "names 'default', which is in the objective")
    assert_one_line_error(run_cli("evolve", "--space", "category", "--judges", "consensus", "--out", str(x)),
                          "colour judges have no categories")
    assert_one_line_error(run_cli("evolve", "--space", "va", "--judges", "ensemble,nosuchjudge", "--out", str(x)),
                          "unknown judge 'nosuchjudge'")
    assert not (x / "run.json").exists() and not (x / CHECKPOINT).exists()


def test_judges_command_lists_what_each_judge_is():
    res = run_cli("judges", "--json")
    assert res.returncode == 0, res.stderr
    rows = {r["name"]: r for r in json.loads(res.stdout)}
    assert {"default", "ensemble", "lite2", "valdez-mehrabian", "ou"} <= set(rows)
    assert rows["ou"]["dims"] == ["valence", "arousal"] and rows["ou"]["held_out"] and not rows["ou"]["labels"]
    assert rows["valdez-mehrabian"]["presets"] == ["consensus"] and "1994" in rows["valdez-mehrabian"]["made_from"]
    assert len(rows["default"]["labels"]) == 7
    plain = run_cli("judges")
    assert plain.returncode == 0 and "valdez-mehrabian" in plain.stdout and "held out" in plain.stdout


def test_a_colour_consensus_starts_where_its_colour_judges_read_the_plane_s_corners():
    from emosynth.judges import colour_starts, flat_fields
    from emosynth.synth import PixelEncoding, make_scheduler

    colour_only = [make_judge("palmer-2013"), make_judge("valdez-mehrabian:arousal")]
    starts = colour_starts(colour_only)
    assert len(starts) == 8 and all(len(c) == 3 and all(0 <= v <= 1 for v in c) for c in starts)
    # a network judge in the list changes nothing: only the colour judges are read
    assert colour_starts([make_judge("default"), *colour_only]) == starts

    def read(colours):  # (K, 2): Palmer's valence and VM's arousal of each flat colour
        x = flat_fields(colours).float()
        return np.stack([colour_only[0](x)["vad_raw"][:, 0].numpy(), colour_only[1](x)["vad_raw"][:, 1].numpy()], 1)

    corners = np.array([(2.5, 2.5), (2.5, 7.5), (7.5, 2.5), (7.5, 7.5)])
    got = read(starts[:4])
    # the four starts span the plane the way the targets do, on both dimensions
    assert got[2:, 0].min() - got[:2, 0].max() > 2.0 and got[[1, 3], 1].min() - got[[0, 2], 1].max() > 2.0
    # and lie nearer their corners than the fixed lightness x chroma starts do, under these judges
    # (each corner's worst-dimension distance; the fixed colours in their best assignment to the corners)
    fixed = read(PixelEncoding.START_COLOURS)
    ours = np.abs(got - corners).max(1).mean()
    theirs = min(np.mean([np.abs(fixed[p[k]] - corners[k]).max() for k in range(4)])
                 for p in itertools.permutations(range(4)))
    assert ours < 0.5 * theirs, (ours, theirs)
    # no colour code on arousal (or none at all): nothing to start from
    assert colour_starts([make_judge("default"), make_judge("palmer-2013")]) is None
    assert colour_starts([make_judge("default")]) is None

    # the CMA-MEGA emitters of a V-A run start around those colours
    enc = PixelEncoding(grid=8)
    space = make_space("va", cells=4, judges=[(j.name, j.dims) for j in colour_only])
    cfg = EvolveConfig(space="va", cells=4, encoding="pixels", grid=8, emitter="mega", seed=0, **SMALL)
    scheduler = make_scheduler(cfg, space, enc, 1, starts)
    x0 = np.stack([e.x0 for e in scheduler.emitters]).reshape(len(scheduler.emitters), 3, -1).mean(2)
    assert np.abs(x0 - np.array(starts[: len(x0)])).max() < 0.12, (x0, starts)
    default = make_scheduler(cfg, space, enc, 1)
    x0 = np.stack([e.x0 for e in default.emitters]).reshape(len(default.emitters), 3, -1).mean(2)
    assert np.abs(x0 - np.array(PixelEncoding.START_COLOURS[: len(x0)])).max() < 0.12


def test_starts_from_the_judges_without_a_colour_code_on_both_dimensions_is_one_line(tmp_path):
    res = run_cli("evolve", "--space", "va", "--cells", "4", "--encoding", "pixels", "--starts", "judges",
                  "--out", str(tmp_path / "a"))
    assert_one_line_error(res, "--starts", "--judges")
    res = run_cli("evolve", "--space", "va", "--cells", "4", "--encoding", "pixels", "--starts", "judges",
                  "--judges", "default,palmer-2013", "--out", str(tmp_path / "b"))
    assert_one_line_error(res, "--starts judges", "valence and arousal")
    assert not (tmp_path / "b").exists() or not any((tmp_path / "b").iterdir())
