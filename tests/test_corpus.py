"""emosynth.corpus: ``predict --out`` at corpus scale — streaming output, resume after a kill, the Dask
path, the skipped-images sidecar and the ownership of OUT. Real photos (OASIS) and a real model (an
EfficientNet-Lite0 predictor fitted on OASIS and Emotion6 photos here: a quarter of the packaged model's cost)."""

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from emosynth.corpus import CorpusConfig, flat_row, predict_corpus, sidecars, walk_images
from emosynth.errors import ConfigError, OutputError

N_PHOTOS = 32
SMALL = dict(shard_size=4, batch_size=4, workers=0)  # the kill test runs the CLI with a worker process


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, data_root):
    """30 OASIS photos in two nested folders, plus three files that are not readable images."""
    root = tmp_path_factory.mktemp("corpus")
    photos = sorted((data_root / "oasis" / "images").glob("*.jpg"))[:N_PHOTOS]
    for i, p in enumerate(photos):
        sub = root / ("a" if i < 10 else "b/deep")
        sub.mkdir(parents=True, exist_ok=True)
        shutil.copy(p, sub / p.name)
    (root / "a" / "notes.jpg").write_text("not a picture")
    (root / "b" / "empty.png").write_bytes(b"")
    (root / "b" / "half.jpg").write_bytes(photos[0].read_bytes()[:2500])
    (root / "b" / "readme.txt").write_text("ignored: not an image suffix")
    return root


@pytest.fixture(scope="module")
def model_dir(oasis, emotion6, tmp_path_factory):
    from emosynth.models import Predictor

    out = tmp_path_factory.mktemp("model") / "lite0"
    Predictor().fit([oasis.subset(np.arange(40)), emotion6.subset(np.arange(0, 400, 10))]).save(out)
    return out


@pytest.fixture(scope="module")
def predictor(model_dir):
    from emosynth.models import Predictor

    return Predictor.load(model_dir)


@pytest.fixture(scope="module")
def unbroken(corpus, predictor, tmp_path_factory):
    """One unbroken local run per format, the reference the other runs must equal."""
    where = tmp_path_factory.mktemp("unbroken")
    outs = {}
    for ext in ("csv", "jsonl", "parquet"):
        out = where / f"scores.{ext}"
        res = predict_corpus([corpus], out, predictor, CorpusConfig(**SMALL))
        assert (res.scored, res.skipped, res.already) == (N_PHOTOS, 3, 0)
        outs[ext] = out
    return outs


def _rows(path: Path) -> list[dict]:
    if path.suffix == ".csv":
        with open(path, newline="") as f:
            return list(csv.DictReader(f))
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text().splitlines()]
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()


def test_outputs_rows_sidecar_and_walk(unbroken, corpus, predictor):
    rows = _rows(unbroken["csv"])
    walked = [str(p) for p in walk_images([corpus])]
    good = [p for p in walked if not p.endswith(("notes.jpg", "empty.png", "half.jpg"))]
    assert [r["path"] for r in rows] == good  # walk order, every readable photo once
    # the same predictions as `predict` on the same files (records via predict_features + records)
    ref = {r["path"]: r for r in predictor.predict(good[:4])}
    for r in rows[:4]:
        assert abs(float(r["valence"]) - ref[r["path"]]["valence"]) < 1e-3
        assert r["category"] == ref[r["path"]]["category"]
    assert [r["path"] for r in _rows(unbroken["jsonl"])] == good
    pq_rows = _rows(unbroken["parquet"])
    assert [r["path"] for r in pq_rows] == good and abs(pq_rows[5]["arousal"] - float(rows[5]["arousal"])) < 1e-9
    j = _rows(unbroken["jsonl"])[0]
    assert set(j["probabilities"]) == set(predictor.labels) and len(j["sha1"]) == 40
    state, skipped, parts = sidecars(unbroken["parquet"])
    assert not parts.exists() and json.loads(state.read_text())["complete"] is True
    bad = {Path(r["path"]).name: r["reason"] for r in _rows(sidecars(unbroken["csv"])[1])}
    assert bad == {"notes.jpg": "not an image file that can be read", "empty.png": "empty file (0 bytes), not an image",
                   "half.jpg": "unreadable image (truncated)"}
    # a second run over the finished output scores nothing and leaves it as it was
    before = unbroken["csv"].read_bytes()
    res = predict_corpus([corpus], unbroken["csv"], predictor, CorpusConfig(**SMALL))
    assert (res.scored, res.already, res.skipped) == (0, N_PHOTOS, 0)
    assert unbroken["csv"].read_bytes() == before


def test_resume_after_kill_equals_unbroken_run(unbroken, corpus, model_dir, tmp_path):
    """A real process killed (SIGKILL) mid-corpus, then the same command again: the same file."""
    out = tmp_path / "scores.csv"
    cmd = [sys.executable, "-m", "emosynth.cli", "predict", str(corpus), "--out", str(out), "--workers", "1",
           "--shard-size", "4", "--batch", "4", "--model", str(model_dir), "-q"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if out.is_file() and out.read_bytes().count(b"\n") >= 5:  # header + one shard
            break
        time.sleep(0.01)
    assert proc.poll() is None, f"the run ended before it could be killed: {proc.stderr.read().decode()[-300:]}"
    workers = _children(proc.pid)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    for _ in range(100):  # its decoding workers notice and exit: no orphans waiting for work for ever
        if not any(Path(f"/proc/{w}").exists() for w in workers):
            break
        time.sleep(0.1)
    assert workers and not any(Path(f"/proc/{w}").exists() for w in workers)
    partial = out.read_bytes().count(b"\n") - 1
    assert 0 < partial < N_PHOTOS  # killed mid-corpus
    with open(out, "ab") as f:  # what a kill in the middle of a write leaves: half a line
        f.write(b"/half/a/line.jpg,3f")
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr
    assert f"({partial} already there)" in res.stdout
    # The reference is the same command run unbroken, in a process like the killed one: the pytest process's
    # own run can differ in a last bit (its thread settings), which rounding to 5 decimals turned, once in a
    # CI run, into a different last digit.
    whole = tmp_path / "whole.csv"
    ref = subprocess.run([*cmd[:6], str(whole), *cmd[7:]], capture_output=True, text=True, timeout=900)
    assert ref.returncode == 0, ref.stderr
    assert out.read_bytes() == whole.read_bytes()
    assert sidecars(out)[1].read_bytes() == sidecars(whole)[1].read_bytes() == sidecars(unbroken["csv"])[1].read_bytes()
    # and the command's rows are the library's, to the last decimal kept
    mine, theirs = _rows(out), _rows(unbroken["csv"])
    assert [r["path"] for r in mine] == [r["path"] for r in theirs]
    for a, b in zip(mine, theirs):
        assert a["sha1"] == b["sha1"]
        for k in a:
            if k.startswith(("p_", "interval_")) or k in ("valence", "arousal", "dominance", "familiarity"):
                assert float(a[k]) == pytest.approx(float(b[k]), abs=2e-5), (a["path"], k)
            else:
                assert a[k] == b[k], (a["path"], k)


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (from /proc): the pool's workers and its resource tracker."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(d.name))
            except (OSError, ValueError, IndexError):
                pass
    return out


@pytest.mark.parametrize("ext", ["jsonl", "parquet"])
def test_interrupted_run_resumes_without_rescoring(unbroken, corpus, predictor, tmp_path, ext):
    out = tmp_path / f"scores.{ext}"
    seen = []

    def stop_after_two_shards(k, total):
        seen.append(k)
        if len(seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        predict_corpus([corpus], out, predictor, CorpusConfig(**SMALL), progress=stop_after_two_shards)
    res = predict_corpus([corpus], out, predictor, CorpusConfig(**SMALL))
    assert res.already > 0 and res.already + res.scored == N_PHOTOS  # the first shards were not scored again
    assert out.read_bytes() == unbroken[ext].read_bytes()


def test_dask_cluster_equals_local(unbroken, corpus, predictor, tmp_path):
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        cluster.wait_for_workers(2, timeout=120)  # both shards' workers up before the model is broadcast
        out = tmp_path / "scores.jsonl"
        res = predict_corpus([corpus], out, predictor, CorpusConfig(**SMALL, scheduler=cluster.scheduler_address))
    assert (res.scored, res.skipped) == (N_PHOTOS, 3)
    assert out.read_bytes() == unbroken["jsonl"].read_bytes()
    assert sidecars(out)[1].read_bytes() == sidecars(unbroken["jsonl"])[1].read_bytes()


def test_a_dask_cluster_that_stops_working_ends_the_run_with_one_line_and_resumes(unbroken, corpus, predictor,
                                                                                  tmp_path):
    import dask
    from distributed import Client, LocalCluster

    from emosynth.cluster import ClusterError

    def set_paused(paused, dask_worker=None):  # local, so that it travels by value to the worker
        from distributed.core import Status

        dask_worker.status = Status.paused if paused else Status.running

    out = tmp_path / "scores.jsonl"
    # No memory monitor: it would unpause a worker that uses little memory.
    with dask.config.set({"distributed.worker.memory.pause": False}), \
            LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        cluster.wait_for_workers(1, timeout=120)
        config = CorpusConfig(**SMALL, scheduler=cluster.scheduler_address, stall_seconds=3)
        with Client(cluster.scheduler_address, set_as_default=False) as admin:
            admin.run(set_paused, True)  # its only worker stops taking work (as under memory pressure)
            t0 = time.monotonic()
            with pytest.raises(ClusterError, match="has no running workers for 3 s") as err:
                predict_corpus([corpus], out, predictor, config)
            assert time.monotonic() - t0 < 60 and "\n" not in str(err.value)
            admin.run(set_paused, False)
            res = predict_corpus([corpus], out, predictor, config)  # the same command again
    assert (res.scored, res.skipped) == (N_PHOTOS, 3)
    assert out.read_bytes() == unbroken["jsonl"].read_bytes()


def test_outputs_emosynth_did_not_write_or_cannot_resume(corpus, predictor, model_dir, unbroken, tmp_path):
    theirs = tmp_path / "theirs.csv"
    theirs.write_text("a,b\n1,2\n")
    with pytest.raises(OutputError, match="a file emosynth did not write"):
        predict_corpus([corpus], theirs, predictor, CorpusConfig(**SMALL, overwrite=True))
    assert theirs.read_text() == "a,b\n1,2\n" and not sidecars(theirs)[0].exists()
    with pytest.raises(ConfigError, match="must end in .csv"):
        predict_corpus([corpus], tmp_path / "scores.xlsx", predictor, CorpusConfig(**SMALL))
    # a damaged row in the middle of an earlier output stops with one line, and touches nothing
    out = tmp_path / "damaged.csv"
    for src, dst in zip(sidecars(unbroken["csv"]), sidecars(out)):
        if src.exists():
            shutil.copy(src, dst)
    lines = unbroken["csv"].read_text().splitlines(keepends=True)
    out.write_text("".join(lines[:5] + ["garbage\n"] + lines[5:]))
    before = out.read_bytes()
    res = subprocess.run([sys.executable, "-m", "emosynth.cli", "predict", str(corpus), "--out", str(out), "--model",
                          str(model_dir), "-q"],
                         capture_output=True, text=True)
    assert res.returncode == 2 and res.stderr.strip().count("\n") == 0, res.stderr
    assert "line 6 is not a row of it, so the run cannot resume" in res.stderr
    assert out.read_bytes() == before
    # another model's output is not resumed; --overwrite starts afresh
    state = sidecars(out)[0]
    meta = json.loads(state.read_text())
    state.write_text(json.dumps({**meta, "model": "0123456789abcdef"}))
    with pytest.raises(OutputError, match="scored with another model"):
        predict_corpus([corpus], out, predictor, CorpusConfig(**SMALL))


def test_flat_row_carries_intervals_and_familiarity():
    rec = {"path": "x.jpg", "sha1": "0" * 40, "category": "joy", "probabilities": {"joy": 0.7, "fear": 0.3},
           "valence": 6.2, "arousal": 4.0, "dominance": None,
           "interval": {"valence": [5.1, 7.3], "arousal": [3.0, 5.0], "dominance": None},
           "familiarity": 0.4, "unfamiliar": False}
    row = flat_row(rec)
    assert row["p_joy"] == 0.7 and row["interval_valence_lo"] == 5.1 and row["interval_valence_hi"] == 7.3
    assert row["interval_dominance_lo"] is None and row["unfamiliar"] is False and "interval" not in row


def test_a_run_on_an_inexact_engine_resumes_only_on_that_engine(corpus, predictor, unbroken, tmp_path):
    """Rows scored in bf16 must not be mixed with rows scored in fp32 (or the reverse) in one OUT: the marker
    names the engine, a resume on another stops with one line and touches nothing; the exact engines, which
    agree with eager fp32, may take each other's place."""
    from emosynth.corpus import EXACT_ENGINES
    from emosynth.models.features import AUTO_CANDIDATES

    assert set(EXACT_ENGINES) == {"auto", "eager", *AUTO_CANDIDATES}
    out = tmp_path / "scores.jsonl"
    half = tmp_path / "half"
    shutil.copytree(corpus / "a", half)
    res = predict_corpus([half], out, predictor, CorpusConfig(**SMALL, engine="torch-bf16"))
    assert res.scored == 10 and json.loads(sidecars(out)[0].read_text())["engine"] == "torch-bf16"
    bf16 = [r["valence"] for r in _rows(out)]
    before = out.read_bytes()
    with pytest.raises(OutputError, match="scored with --engine torch-bf16.*resume with --engine torch-bf16"):
        predict_corpus([corpus], out, predictor, CorpusConfig(**SMALL))
    assert out.read_bytes() == before
    res = predict_corpus([half], out, predictor, CorpusConfig(**SMALL, engine="torch-bf16"))
    assert (res.already, res.scored) == (10, 0)
    # the same photos on fp32: not what bf16 gave (so the refusal guards something real)
    exact = [r["valence"] for r in _rows(unbroken["jsonl"])][:10]
    assert sorted(exact) != sorted(bf16)
    # an fp32 run resumes on another fp32 engine
    out2 = tmp_path / "exact.jsonl"
    predict_corpus([half], out2, predictor, CorpusConfig(**SMALL, engine="onnx"))
    res = predict_corpus([half], out2, predictor, CorpusConfig(**SMALL, engine="auto"))
    assert (res.already, res.scored) == (10, 0)


def test_a_script_without_a_main_guard_gets_one_line_that_says_what_to_do(corpus, model_dir, tmp_path):
    """The decoding workers are spawned, so they import the calling script again; a script that calls
    predict_corpus at its top level breaks them. The caller gets a ClusterError naming the guard (not
    concurrent.futures' BrokenProcessPool), and the output stays resumable."""
    out = tmp_path / "scores.csv"
    script = tmp_path / "unguarded.py"
    script.write_text(
        "from pathlib import Path\n"
        "from emosynth.corpus import CorpusConfig, predict_corpus\n"
        "from emosynth.models import Predictor\n"
        f"predict_corpus([Path({str(corpus)!r})], Path({str(out)!r}), Predictor.load({str(model_dir)!r}),\n"
        "               CorpusConfig(workers=1, shard_size=4, batch_size=4))\n")
    res = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=600)
    assert res.returncode != 0
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("emosynth.errors.ClusterError: a decoding worker process stopped"), res.stderr[-2000:]
    assert 'if __name__ == "__main__":' in last and "BrokenProcessPool" not in last
    state = json.loads(sidecars(out)[0].read_text())
    assert state["complete"] is False  # nothing claims to be finished; the same call, guarded, resumes
    from emosynth.models import Predictor

    res = predict_corpus([corpus], out, Predictor.load(model_dir), CorpusConfig(**SMALL))
    assert res.already + res.scored == N_PHOTOS and json.loads(sidecars(out)[0].read_text())["complete"] is True
