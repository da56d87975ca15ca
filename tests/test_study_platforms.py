"""The study on SQLite and on a real PostgreSQL server (tests/_pg.py): schema versions and the migration
from the schema emosynth made before it had migrations; recruiting platforms (URL parameters recorded, one
participation per platform ID, the completion URL), response times, device and window size, Latin-square
lists and a counterbalanced scale in the export; sampling by the held-out judges' agreement, content-matched
sets from a photo-edit run, and a stimulus folder as a source. Real run directories, real databases."""

from __future__ import annotations

import socket
import sys
import threading
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import create_engine, inspect, text

from emosynth import study as svc
from emosynth.cli import main
from emosynth.errors import StudyError
from emosynth.study import (
    HEAD,
    Base,
    StudyConfig,
    agreement,
    create_study,
    dispose,
    held_out_judges,
    make_app,
    migrate,
    ratings_frame,
    read_source,
    schema_revision,
    sessions,
)

sys.path.insert(0, str(Path(__file__).parent))
from _pg import pg_server, pg_url  # noqa: E402, F401
from _study_fixtures import (  # noqa: E402
    legacy_schema_v1,
    make_edit_run,
    make_runs,
    make_stimulus_folder,
)

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
ADMIN = "admin-token-for-tests-0123456789"
JSON = {"accept": "application/json"}
PROLIFIC = {"PROLIFIC_PID": "5f8a9b0c1d2e3f4a5b6c7d8e", "STUDY_ID": "study-77", "SESSION_ID": "sess-1"}
COMPLETE = "https://app.prolific.com/submissions/complete?cc=C1ABCDEF"


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    root = tmp_path_factory.mktemp("sources")
    return {"runs": make_runs(root), "edits": make_edit_run(root), "stimuli": make_stimulus_folder(root)}


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path):
    url = f"sqlite:///{tmp_path}/studies.db" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    yield url
    dispose(url)


def _client(db):
    from fastapi.testclient import TestClient

    return TestClient(make_app(db, ADMIN))


def _join(c, name, params, device=None):
    r = c.post(f"/join/{name}", data=params | (device or {}), follow_redirects=False)
    assert r.status_code == 303, r.text
    return r.headers["location"].rsplit("/", 1)[1]


def _ready(c, tok):
    assert c.post(f"/p/{tok}/consent").status_code == 200
    assert c.post(f"/p/{tok}/instructions").status_code == 200


def _rate_all(c, tok, answer=lambda k, st: (1 + k % 9, 9 - k % 9, 5), rt=lambda k: 700 + 10 * k, stop=None):
    st, k, given = c.get(f"/p/{tok}", headers=JSON).json(), 0, []
    while st["stage"] == "trial" and (stop is None or k < stop):
        v = answer(k, st)
        body = {"trial": st["trial_id"], "valence": v[0], "arousal": v[1], "dominance": v[2],
                "rt_client_ms": rt(k), "window_w": 1280, "window_h": 720}
        r = c.post(f"/p/{tok}/rate", json=body)
        assert r.status_code == 200 and r.json()["result"] == "recorded", r.text
        given.append((st["kind"], *v))
        st, k = r.json()["next"], k + 1
    return st, given


# ---------------------------------------------------------------------------- schema versions


def test_database_of_the_create_all_schema_is_revision_0001_and_upgrades(db, tmp_path):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    legacy_schema_v1(db)  # the tables exactly as create_all made them before migrations, with data
    eng = create_engine(db)
    with eng.connect() as conn:
        assert schema_revision(conn) == "0001"
    eng.dispose()
    with pytest.raises(StudyError, match=r"schema revision 0001, older than this emosynth's 0002.*--upgrade"):
        sessions(db)
    dispose(db)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # study serve without --upgrade: one line, exit 2, the database untouched
    with pytest.raises(SystemExit) as e:
        main(["study", "serve", "--db", db, "--port", str(port), "--admin-token", ADMIN])
    assert e.value.code == 2
    eng = create_engine(db)
    with eng.connect() as conn:
        assert "alembic_version" not in inspect(conn).get_table_names()
    eng.dispose()
    make_app(db, ADMIN, upgrade=True)  # what study serve --upgrade does before it listens
    dispose(db)
    assert migrate(db) == (HEAD, HEAD)
    eng = create_engine(db)
    with eng.connect() as conn:
        assert schema_revision(conn) == HEAD
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []  # = today's models
        # the old participant's progress counters come from their trials and ratings
        assert conn.execute(text("SELECT trials, practice, rated FROM participants")).one() == (2, 0, 1)
    eng.dispose()
    # and they resume where they were: the second trial, then done
    S = sessions(db)
    st = svc.state(S, "tok-old")
    assert st.stage == "trial" and st.done == 1 and st.total == 2
    result, st = svc.submit(S, "tok-old", st.trial_id, (7, 7, 7))
    assert result == "recorded" and st.stage == "done"
    assert list(ratings_frame(S, "old")["valence"]) == [3, 7]


def test_newer_schema_is_refused_with_one_line(db, capsys):
    sessions(db, create=True)  # a new database is made at HEAD
    dispose(db)
    eng = create_engine(db)
    with eng.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    eng.dispose()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for extra in ([], ["--upgrade"]):  # never downgraded, upgrade or not
        with pytest.raises(SystemExit) as e:
            main(["study", "serve", "--db", db, "--port", str(port), "--admin-token", ADMIN, *extra])
        assert e.value.code == 2
        err = capsys.readouterr().err.strip()
        assert "schema revision 0099, newer than this emosynth knows" in err and len(err.splitlines()) == 1


def test_unreachable_postgresql_is_one_line(capsys, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here
    with pytest.raises(SystemExit) as e:
        main(["study", "create", "--name", "x", "--from", str(make_runs(tmp_path)[0]), "--folder",
              str(tmp_path / "x"), "--db", f"postgresql+psycopg://study:secret@127.0.0.1:{port}/studies"])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "cannot open study database" in err and "secret" not in err and len(err.splitlines()) == 1
    assert not (tmp_path / "x").exists()


# ---------------------------------------------------------------------------- platforms


def test_prolific_ids_recorded_one_participation_per_id_response_times_and_completion(db, sources, tmp_path):
    create_study(StudyConfig(name="pilot", runs=sources["runs"], per_target=1, attention_checks=1, db=db,
                             folder=tmp_path / "pilot", platform="prolific", completion_url=COMPLETE, seed=2))
    with _client(db) as c:
        r = c.get("/join/pilot")  # from Prolific the ID is always there; without it, refused
        assert r.status_code == 422 and "PROLIFIC_PID" in r.text
        page = c.get("/join/pilot", params=PROLIFIC | {"other": "dropped"})
        assert page.status_code == 200 and PROLIFIC["SESSION_ID"] in page.text and "dropped" not in page.text
        device = {"screen_w": "390", "screen_h": "844", "window_w": "390", "window_h": "700", "dpr": "3",
                  "touch": "true", "user_agent": "Mozilla/5.0 (test phone)"}
        tok = _join(c, "pilot", PROLIFIC, device)
        _ready(c, tok)
        st, given = _rate_all(c, tok, stop=3)
        # a second visit with the same PROLIFIC_PID (another browser: no cookie) resumes, never restarts
        c.cookies.clear()
        r = c.get("/join/pilot", params=PROLIFIC, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].endswith(tok)
        assert _join(c, "pilot", PROLIFIC) == tok
        again = c.get(f"/p/{tok}", headers=JSON).json()
        assert again["trial_id"] == st["trial_id"] and again["practice_done"] + again["done"] == 3
        assert again["completion_url"] is None  # not before the end
        st, more = _rate_all(c, tok, rt=lambda k: 900)
        given += more
        assert st["stage"] == "done" and st["completion_url"] == COMPLETE
        done = c.get(f"/p/{tok}")
        assert COMPLETE.replace("?", "") in done.text.replace("?", "") and "location.replace" in done.text
        other = _join(c, "pilot", PROLIFIC | {"PROLIFIC_PID": "another-person"})
        assert other != tok
    df = ratings_frame(sessions(db), "pilot")
    mine = df[df["platform_id"] == PROLIFIC["PROLIFIC_PID"]]
    assert len(mine) == len(given) == 2 + 5 + 1 and df["participant"].nunique() == 1
    assert (mine["PROLIFIC_PID"] == PROLIFIC["PROLIFIC_PID"]).all() and (mine["STUDY_ID"] == "study-77").all()
    assert (mine["SESSION_ID"] == "sess-1").all() and (mine["platform"] == "prolific").all()
    assert list(mine["rt_client_ms"]) == [700, 710, 720] + [900] * (len(given) - 3)
    assert (mine["rt_server_ms"] >= 0).all() and mine["rt_server_ms"].notna().all()
    assert list(mine["position"]) == list(range(len(given)))  # the trial order
    assert (mine["window_w"] == 1280).all() and (mine["screen_w"] == 390).all() and (mine["dpr"] == 3).all()
    assert mine["user_agent"].iloc[0] == "Mozilla/5.0 (test phone)" and mine["touch"].all()


def test_concurrent_first_visits_with_one_id_make_one_participant(db, sources, tmp_path):
    create_study(StudyConfig(name="race", runs=sources["runs"], per_target=1, db=db, folder=tmp_path / "race",
                             platform="mturk"))
    S = sessions(db)
    tokens, errors = [], []

    def go():
        try:
            tokens.append(svc.join(S, "race", {"workerId": "A1B2C3", "assignmentId": "as-1", "hitId": "h"})[0])
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))

    threads = [threading.Thread(target=go) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(set(tokens)) == 1 and len(tokens) == 8
    with S() as s:
        assert s.scalar(text("SELECT count(*) FROM participants")) == 1


def test_completion_url_placeholders_and_sona(db, sources, tmp_path):
    url = "https://uni.sona-systems.com/webstudy_credit.aspx?experiment_id=12&credit_token=ab&survey_code={id}"
    create_study(StudyConfig(name="sona", runs=sources["runs"], per_target=1, attention_checks=0, db=db,
                             folder=tmp_path / "sona", platform="sona", completion_url=url))
    with _client(db) as c:
        tok = _join(c, "sona", {"id": "12 345"})
        _ready(c, tok)
        st, _ = _rate_all(c, tok)
    assert st["completion_url"] == url.replace("{id}", "12%20345")


def test_latin_square_lists_and_counterbalanced_scale(db, sources, tmp_path):
    info = create_study(StudyConfig(name="ls", runs=[sources["edits"]], per_target=4, attention_checks=1, db=db,
                                    folder=tmp_path / "ls", content_matched=True, lists=4,
                                    counterbalance_scale=True, seed=1))
    assert info["images"] == 12 and info["sources"] == 3  # p3 lacks one condition: never sampled
    seen = {}
    with _client(db) as c:
        for n in range(1, 5):
            tok = _join(c, "ls", {})
            c.cookies.clear()
            assert c.post(f"/p/{tok}/consent").status_code == 200
            instructions = c.get(f"/p/{tok}").text  # the instructions describe the layout they will see
            assert ("happy, pleased (left)" in instructions) == (n % 2 == 0)
            assert c.post(f"/p/{tok}/instructions").status_code == 200
            first = c.get(f"/p/{tok}", headers=JSON).json()
            page = c.get(f"/p/{tok}").text
            # participants 2 and 4 see the rows from 9 (left) to 1; values unchanged
            values = [int(x.split('"')[0]) for x in page.split('name="valence" value="')[1:]]
            assert values == (list(range(9, 0, -1)) if n % 2 == 0 else list(range(1, 10)))
            assert first["scale_reversed"] == (n % 2 == 0)
            # leftmost figure in every row on the attention check: 1 or, reversed, 9
            _rate_all(c, tok, answer=lambda k, st, n=n: ((9, 9, 9) if n % 2 == 0 else (1, 1, 1))
                      if st["kind"] == "attention" else (5, 5, 5))
    df = ratings_frame(sessions(db), "ls")
    assert df.loc[df["kind"] == "attention", "attention_pass"].all()
    main_ = df[df["kind"] == "main"]
    for n, g in main_.groupby("participant"):
        seen[n] = set(g["image"])
        # a Latin square: each list shows every source photo once and every condition ...
        assert sorted(g["source"]) == sorted(set(g["source"])) and len(g) == 3
        assert g["target"].nunique() == 3
        assert (g["list"] == (n - 1) % 4 + 1).all()
    # ... and across the four lists every image exactly once
    assert sum(len(v) for v in seen.values()) == 12 and len(set().union(*seen.values())) == 12


# ---------------------------------------------------------------------------- what is sampled


def test_min_agreement_keeps_only_images_the_held_out_judges_agree_on(sources, tmp_path):
    db = f"sqlite:///{tmp_path}/s.db"
    run, _ = read_source(sources["edits"])
    assert held_out_judges(run) == ["lite2", "ou"]
    items = run.items
    expect = {}
    for _, r in items.iterrows():  # direct computation: verdicts on the target's side of 5
        votes = [(r[f"{j}_{d}"] - 5) * (r[f"target_{d}"] - 5) > 0 for j in ("lite2", "ou")
                 for d in ("valence", "arousal")]
        expect[r["file"]] = sum(votes) / len(votes)
        assert agreement(r, ["lite2", "ou"]) == pytest.approx(expect[r["file"]])
    for x in (1.0, 0.75):
        name = f"agree{int(100 * x)}"
        create_study(StudyConfig(name=name, runs=[sources["edits"]], per_target=10, db=db, min_agreement=x,
                                 folder=tmp_path / name))
        with sessions(db)() as s:
            files = {f for (f,) in s.execute(text("SELECT source_file FROM images JOIN studies ON studies.id = "
                                                  f"images.study_id WHERE studies.name = '{name}' AND NOT practice"))}
        assert files == {f for f, a in expect.items() if a >= x} and files
    dispose(db)
    assert {f for f, a in expect.items() if a >= 1.0} == {f"p{k}_{t}.png" for k in (0, 1) for t in range(4)}


def test_content_matched_sets_and_every_bad_option_is_one_line(sources, tmp_path, capsys):
    run = sources["edits"]
    db = f"sqlite:///{tmp_path}/cm.db"
    info = create_study(StudyConfig(name="cm", runs=[run], per_target=2, db=db, folder=tmp_path / "cm",
                                    content_matched=True, min_agreement=1.0, seed=4))
    df = pd.read_sql("SELECT source, target FROM images WHERE NOT practice", create_engine(db))
    # the two photos every judge agrees on (p0, p1), each in all four conditions
    assert sorted(df["source"].unique()) == ["photos/p0.jpg", "photos/p1.jpg"] and info["images"] == 8
    assert (df.groupby("source")["target"].nunique() == 4).all()
    dispose(db)
    base = ["study", "create", "--name", "bad", "--folder", str(tmp_path / "bad"), "--db",
            f"sqlite:///{tmp_path}/bad.db"]
    cases = [
        (["--from", str(run), "--completion-url", "ftp://x.org/done"], "http:// or https://"),
        (["--from", str(run), "--completion-url", "javascript:alert(1)"], "http:// or https://"),
        (["--from", str(run), "--platform", "qualtrics"], "choose one of none, prolific, mturk, sona"),
        (["--from", str(run), "--lists", "0"], "--lists must be from 1 to 64"),
        (["--from", str(run), "--min-agreement", "1.5"], "share from 0 to 1"),
        (["--from", str(sources["runs"][0]), "--min-agreement", "0.5"], "no held-out judges"),
        (["--from", str(sources["runs"][0]), "--content-matched"], "needs photo edits"),
        (["--from", str(run), "--lists", "9", "--per-target", "1"], "would be empty"),
    ]
    for extra, msg in cases:
        with pytest.raises(SystemExit) as e:
            main(base + extra)
        assert e.value.code == 2, extra
        err = capsys.readouterr().err.strip()
        assert msg in err and len(err.splitlines()) == 1, (extra, err)
        assert not (tmp_path / "bad").exists() and not (tmp_path / "bad.db").exists(), extra


def test_stimulus_folder_as_source_carries_cells(db, sources, tmp_path):
    info = create_study(StudyConfig(name="stim", runs=[sources["stimuli"]], per_target=2, attention_checks=0,
                                    db=db, folder=tmp_path / "stim", min_agreement=1.0))
    assert info["images"] == 12 and info["strata"] == 6
    with _client(db) as c:
        tok = _join(c, "stim", {})
        _ready(c, tok)
        _rate_all(c, tok)
    df = ratings_frame(sessions(db), "stim")
    main_ = df[df["kind"] == "main"]
    assert sorted(main_["cell"].unique()) == sorted(f"valence={v},arousal={a}" for v in (2, 5, 8) for a in (3, 7))
    for _, r in main_.iterrows():  # the cell's values are the targets
        v, a = (float(x.split("=")[1]) for x in r["cell"].split(","))
        assert (r["target_valence"], r["target_arousal"]) == (v, a)
    assert set(main_["source_file"]) == {f"v{v}a{a}_{j}.png" for v in (2, 5, 8) for a in (3, 7) for j in (0, 1)}


def test_plain_postgresql_url_means_psycopg(pg_server):  # noqa: F811 - the fixture
    name = pg_server.new_database().rsplit("/", 1)[1]
    url = pg_server.url(name, driver="postgresql")  # as a lab would write it: postgresql://user@host/db
    try:
        sessions(url, create=True)
        eng = create_engine(pg_server.url(name))
        with eng.connect() as conn:
            assert schema_revision(conn) == HEAD
        eng.dispose()
    finally:
        dispose(url)
