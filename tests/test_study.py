"""The human validation study without a browser: creation, every security rule, idempotent and
transactional rating, resume after a reload and after a killed server, export, CLI errors.
Real run directories (tests/_study_fixtures.py), a real SQLite database, a real uvicorn process."""

from __future__ import annotations

import io
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from emosynth.cli import main
from emosynth.errors import RunDirError, StudyError
from emosynth.study import (
    StudyConfig,
    create_study,
    dispose,
    export_study,
    make_app,
    ratings_frame,
    sessions,
    set_paused,
)

sys.path.insert(0, str(Path(__file__).parent))
from _pg import pg_server, pg_url  # noqa: E402, F401
from _study_fixtures import make_runs  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
ADMIN = "admin-token-for-tests-0123456789"
JSON = {"accept": "application/json"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return make_runs(tmp_path_factory.mktemp("runs"))


@pytest.fixture()
def db_kind():
    """The database a test runs on; tests marked ``ON_BOTH`` run on SQLite and on PostgreSQL (tests/_pg.py)."""
    return "sqlite"


ON_BOTH = pytest.mark.parametrize("db_kind", ["sqlite", "postgresql"])


@pytest.fixture()
def study(runs, tmp_path, db_kind, request):
    db = f"sqlite:///{tmp_path}/studies.db" if db_kind == "sqlite" else request.getfixturevalue("pg_url")
    info = create_study(StudyConfig(name="pilot", runs=runs, per_target=1, attention_checks=2, db=db,
                                    folder=tmp_path / "pilot", completion_code="THANKS-42", seed=3))
    yield db, info, tmp_path
    dispose(db)


@pytest.fixture()
def client(study):
    from fastapi.testclient import TestClient

    db = study[0]
    with TestClient(make_app(db, ADMIN)) as c:
        yield c


def _join(c, name="pilot") -> str:
    r = c.post(f"/join/{name}", follow_redirects=False)
    assert r.status_code == 303, r.text
    return r.headers["location"].rsplit("/", 1)[1]


def _ready(c, name="pilot") -> str:
    tok = _join(c, name)
    assert c.post(f"/p/{tok}/consent").status_code == 200  # redirected to the next page
    assert c.post(f"/p/{tok}/instructions").status_code == 200
    return tok


def _state(c, tok):
    r = c.get(f"/p/{tok}", headers=JSON)
    assert r.status_code == 200, r.text
    return r.json()


def _rate(c, tok, trial, v, a, d):
    return c.post(f"/p/{tok}/rate", json={"trial": trial, "valence": v, "arousal": a, "dominance": d})


# ---------------------------------------------------------------------------- create


@ON_BOTH
def test_create_samples_per_target_and_copies_images(study, runs):
    db, info, tmp = study
    # va-pixels has 4 VA targets x 2 images, fearful one target x 3: 1 per target -> 5
    assert info["images"] == 5 and info["strata"] == 5 and info["practice"] == 2
    files = sorted(p.name for p in (tmp / "pilot").iterdir())
    assert files == ["0001.png", "0002.png", "0003.png", "0004.png", "0005.png", "practice-1.jpg", "practice-2.jpg"]
    from emosynth.study import Image
    with sessions(db)() as s:
        ims = s.query(Image).filter_by(practice=False).all()
        targets = sorted(im.target for im in ims)
        assert targets == ["fearful: fear v=2.5 a=7.0 d=3.0", "va-pixels: v=2.0 a=2.0", "va-pixels: v=2.0 a=8.0",
                           "va-pixels: v=8.0 a=2.0", "va-pixels: v=8.0 a=8.0"]
        for im in ims:  # the copy is byte-identical to the run's image
            source = Path(im.source_run) / "images" / im.source_file
            assert (tmp / "pilot" / im.file).read_bytes() == source.read_bytes()
            assert im.pred_valence is not None


def test_create_refuses_bad_input_and_leaves_nothing(study, runs, tmp_path):
    db, _, tmp = study
    cases = [
        (dict(name="pilot"), "already exists"),  # same name in the same database
        (dict(name="bad name!"), "study name"),
        (dict(name="x", per_target=0), "--per-target"),
        (dict(name="x", attention_checks=-1), "--attention-checks"),
        (dict(name="x", runs=[tmp_path / "nope"]), "not a finished run directory"),
    ]
    for kw, msg in cases:
        args = dict(runs=runs, db=db, folder=tmp_path / "new") | kw
        with pytest.raises((StudyError, RunDirError), match=msg):
            create_study(StudyConfig(**args))
        assert not (tmp_path / "new").exists()
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".new")]
    assert leftovers == []
    with pytest.raises(StudyError, match="already exists"):  # an existing folder is never reused
        create_study(StudyConfig(name="other", runs=runs, db=db, folder=tmp / "pilot"))


def test_cli_bad_input_is_one_line_exit_2(study, runs, tmp_path, capsys):
    db, _, _ = study
    for argv, msg in [
        (["study", "create", "--name", "pilot", "--from", str(runs[0]), "--db", db, "--folder", str(tmp_path / "z")],
         "already exists"),
        (["study", "export", "--name", "nosuch", "--out", str(tmp_path / "x.csv"), "--db", db], "no study named"),
        (["study", "report", "--name", "pilot", "--out", str(tmp_path / "rep"), "--db", db], "no ratings yet"),
        (["study", "create", "--name", "q", "--from", str(runs[0]), "--db", "nosuchdriver://x"], "cannot open"),
    ]:
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and msg in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "x.csv").exists() and not (tmp_path / "rep").exists()


# ---------------------------------------------------------------------------- the participant's way


@ON_BOTH
def test_flow_practice_first_then_a_random_order_with_attention_checks(client, study):
    toks = [_ready(client) for _ in range(2)]
    orders = []
    for tok in toks:
        kinds, images = [], []
        while (st := _state(client, tok))["stage"] == "trial":
            kinds.append(st["kind"])
            images.append(st["image"])
            v = 1 if st["kind"] == "attention" else 6
            assert _rate(client, tok, st["trial_id"], v, v, v).json()["result"] == "recorded"
        assert st["stage"] == "done" and st["done"] == st["total"] == 7
        assert kinds[:2] == ["practice", "practice"] and kinds[2] != "attention"
        assert kinds.count("attention") == 2 and kinds.count("main") == 5
        orders.append([i for i, k in zip(images, kinds) if k == "main"])
    assert sorted(orders[0]) == sorted(orders[1]) and orders[0] != orders[1]  # same images, own order
    page = client.get(f"/p/{toks[0]}").text
    assert "Thank you" in page and "THANKS-42" in page


def test_trial_page_has_three_sam_rows_of_nine_and_keyboard_script(client):
    tok = _ready(client)
    html = client.get(f"/p/{tok}").text
    for dim in ("valence", "arousal", "dominance"):
        assert html.count(f'name="{dim}" value=') == 9
    assert html.count("<svg") == 15  # five figures per row
    assert "keydown" in html and 'name="viewport"' in html and "http" not in html.split("<body>")[1].replace(
        'xmlns="http://www.w3.org/2000/svg"', "")  # nothing fetched from elsewhere


@ON_BOTH
def test_resume_after_reload(client):
    tok = _ready(client)
    first = _state(client, tok)
    assert _state(client, tok)["trial_id"] == first["trial_id"]  # a reload shows the same trial
    assert _rate(client, tok, first["trial_id"], 3, 4, 5).status_code == 200
    second = _state(client, tok)
    assert second["trial_id"] != first["trial_id"] and second["practice_done"] == 1
    # the browser's form post is answered with a redirect to the participant page (post/redirect/get)
    r = client.post(f"/p/{tok}/rate", data={"trial": second["trial_id"], "valence": 2, "arousal": 2, "dominance": 2},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/p/{tok}"
    # the join link in the same browser (cookie) resumes instead of starting a new participant
    r = client.get("/join/pilot", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/p/{tok}"


# ---------------------------------------------------------------------------- security rules


def test_tokens_are_unguessable(client):
    toks = {_join(client) for _ in range(5)}
    assert len(toks) == 5 and all(len(t) >= 43 for t in toks)  # token_urlsafe(32): 256 bits
    assert client.get("/p/" + "A" * 43, headers=JSON).status_code == 404


def test_admin_token_required_for_every_admin_route(client, study):
    routes = [(m, r.path.replace("{name}", "pilot").replace("{action}", "pause"))
              for r in client.app.routes if getattr(r, "path", "").startswith("/admin")
              and r.path != "/admin/login" for m in r.methods]
    assert len(routes) >= 4
    for method, path in routes:
        for headers in ({}, {"authorization": "Bearer wrong-token-wrong-token"}, {"authorization": "Bearer "}):
            r = client.request(method, path, headers=headers, follow_redirects=False)
            assert r.status_code in (401, 303), (method, path, r.status_code)
            assert "pilot" not in r.text and "0001.png" not in r.text
    ok = {"authorization": f"Bearer {ADMIN}"}
    assert client.get("/admin", headers=ok | JSON).json()[0]["name"] == "pilot"
    assert client.get("/admin/study/pilot/export.csv", headers=ok).status_code == 200
    # the login form sets the cookie only for the right token
    assert client.post("/admin/login", data={"token": "nope"}).status_code == 401
    client.cookies.clear()
    r = client.post("/admin/login", data={"token": ADMIN}, follow_redirects=False)
    assert r.status_code == 303
    assert "pilot" in client.get("/admin").text


@ON_BOTH
def test_one_participant_cannot_touch_anothers_trial(client, study):
    a, b = _ready(client), _ready(client)
    ta = _state(client, a)["trial_id"]
    r = _rate(client, b, ta, 5, 5, 5)
    assert r.status_code == 404
    assert _state(client, a)["practice_done"] == 0  # nothing was recorded for a
    assert ratings_frame(sessions(study[0]), "pilot").empty


def test_values_are_validated(client, study):
    tok = _ready(client)
    trial = _state(client, tok)["trial_id"]
    bad = [dict(valence=0, arousal=5, dominance=5), dict(valence=10, arousal=5, dominance=5),
           dict(valence=5, arousal=5.5, dominance=5), dict(valence=5, arousal="5.5", dominance=5),
           dict(valence=5, arousal=5, dominance="nine"), dict(valence=5, arousal=5),
           dict(valence=True, arousal=5, dominance=5),
           dict(valence=-1, arousal=5, dominance=5)]
    for vals in bad:
        r = client.post(f"/p/{tok}/rate", json={"trial": trial} | vals)
        assert r.status_code == 422, vals
    for trial_value in ("x", -3, None, "../1", 2**40):
        r = client.post(f"/p/{tok}/rate", json={"trial": trial_value, "valence": 5, "arousal": 5, "dominance": 5})
        assert r.status_code == 422, trial_value
    assert client.post(f"/p/{tok}/rate", content=b"{not json",
                       headers={"content-type": "application/json"}).status_code == 422
    # a form post with a bad value re-shows the same trial with the error
    r = client.post(f"/p/{tok}/rate", data={"trial": trial, "valence": 12, "arousal": 5, "dominance": 5})
    assert r.status_code == 422 and "1 to 9" in r.text and f'value="{trial}"' in r.text
    assert ratings_frame(sessions(study[0]), "pilot").empty


def test_no_rating_before_consent_and_none_for_a_later_trial(client, study):
    tok = _join(client)
    from emosynth.study import Trial
    with sessions(study[0])() as s:
        trials = [t.id for t in s.query(Trial).order_by(Trial.participant_id.desc(), Trial.position).limit(3)]
    assert _rate(client, tok, trials[0], 5, 5, 5).status_code == 409  # consent and instructions first
    client.post(f"/p/{tok}/consent")
    client.post(f"/p/{tok}/instructions")
    assert _rate(client, tok, trials[2], 5, 5, 5).status_code == 409  # not the current trial
    assert _rate(client, tok, trials[0], 5, 5, 5).status_code == 200


@ON_BOTH
def test_resubmission_is_not_a_duplicate_and_an_answer_cannot_change(client, study):
    tok = _ready(client)
    trial = _state(client, tok)["trial_id"]
    assert _rate(client, tok, trial, 7, 3, 2).json()["result"] == "recorded"
    assert _rate(client, tok, trial, 7, 3, 2).json()["result"] == "unchanged"  # a double click, a retry
    r = _rate(client, tok, trial, 1, 3, 2)
    assert r.status_code == 409 and "cannot be changed" in r.json()["error"]
    df = ratings_frame(sessions(study[0]), "pilot")
    assert len(df) == 1 and df[["valence", "arousal", "dominance"]].values.tolist() == [[7, 3, 2]]
    # the database itself refuses a second rating of a trial (unique participant + trial)
    from sqlalchemy.exc import IntegrityError

    from emosynth.study import Rating
    with pytest.raises(IntegrityError):
        with sessions(study[0]).begin() as s:
            pid = s.query(Rating).one().participant_id
            s.add(Rating(participant_id=pid, trial_id=trial, valence=7, arousal=3, dominance=2))


@ON_BOTH
def test_concurrent_answers_to_one_trial_are_recorded_once(study):
    """Eight threads send the same answer at once (a double click, retries): one is recorded, the rest are
    "unchanged"; then eight different answers to the next trial: one recorded, seven refused. On SQLite the
    answer is one transaction, on PostgreSQL one statement; the database holds each trial's answer once."""
    import threading

    from emosynth import study as svc

    S = sessions(study[0])
    tok, _ = svc.join(S, "pilot", {}, {})
    with pytest.raises(StudyError, match="consent and instructions"):
        svc.submit(S, tok, svc.state(S, tok).trial_id or 1, (5, 5, 5))
    svc.consent(S, tok)
    svc.instructed(S, tok)
    first = svc.state(S, tok)

    def race(answers):
        out, go = [], threading.Barrier(len(answers))

        def one(ans):
            go.wait()
            try:
                out.append(svc.submit(S, tok, trial, ans)[0])
            except StudyError as e:
                out.append(str(e))
        threads = [threading.Thread(target=one, args=(a,)) for a in answers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return sorted(out)

    trial = first.trial_id
    assert race([(4, 6, 2)] * 8) == ["recorded"] + ["unchanged"] * 7
    second = svc.state(S, tok)
    assert second.trial_id != trial and second.practice_done == 1
    trial = second.trial_id
    got = race([(k, 9 - k, 5) for k in range(1, 9)])
    assert got.count("recorded") == 1 and all("already rated" in g or "just rated" in g
                                               for g in got if g != "recorded"), got
    third = svc.state(S, tok)
    df = ratings_frame(S, "pilot")
    assert len(df) == 2 and third.practice_done == 2
    assert (df["rt_server_ms"] >= 0).all()
    with pytest.raises(StudyError, match="unknown participant"):
        svc.submit(S, "no-such-token", third.trial_id, (5, 5, 5))
    with pytest.raises(StudyError, match="no such trial"):
        svc.submit(S, tok, 2**31 - 1, (5, 5, 5))
    from sqlalchemy import text

    with S() as s:
        ahead = s.scalar(text("SELECT t.id FROM trials t JOIN participants p ON p.id = t.participant_id "
                              "WHERE p.token = :tok AND t.position = p.rated + 1"), {"tok": tok})
    with pytest.raises(StudyError, match="not the current trial"):
        svc.submit(S, tok, ahead, (5, 5, 5))
    assert svc.state(S, tok).trial_id == third.trial_id


def test_images_only_from_the_studys_copy_by_opaque_id(client, study, runs):
    db, _, tmp = study
    tok = _ready(client)
    st = _state(client, tok)
    r = client.get(f"/p/{tok}/img/{st['image']}")
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"  # practice photo
    assert r.content == (tmp / "pilot" / "practice-1.jpg").read_bytes() or r.content == (
        tmp / "pilot" / "practice-2.jpg").read_bytes()
    (tmp / "secret.txt").write_text("secret")
    for attempt in ["0001.png", "practice-1.jpg", "..%2Fsecret.txt", "../secret.txt", "%2e%2e%2fstudies.db",
                    "..%2F..%2Fetc%2Fpasswd", str(runs[0] / "images" / "elite_000.png"), "1", ""]:
        r = client.get(f"/p/{tok}/img/{attempt}")
        assert r.status_code == 404, attempt
        assert b"secret" not in r.content
    assert client.get(f"/p/not-a-token/img/{st['image']}").status_code == 404


def test_images_of_another_study_are_not_served(client, study, runs, tmp_path):
    db = study[0]
    create_study(StudyConfig(name="other", runs=runs[1:], per_target=1, attention_checks=0, db=db,
                             folder=tmp_path / "other"))
    tok_other = _ready(client, "other")
    img_other = _state(client, tok_other)["image"]
    tok = _ready(client)
    assert client.get(f"/p/{tok}/img/{img_other}").status_code == 404
    assert client.get(f"/p/{tok_other}/img/{img_other}").status_code == 200


@ON_BOTH
def test_paused_study_takes_no_one_new_and_no_ratings(client, study):
    tok = _ready(client)
    trial = _state(client, tok)["trial_id"]
    r = client.post("/admin/study/pilot/pause", headers={"authorization": f"Bearer {ADMIN}"} | JSON)
    assert r.status_code == 200 and r.json()["paused"]
    assert client.post("/join/pilot").status_code == 423
    assert _rate(client, tok, trial, 5, 5, 5).status_code == 423
    assert _state(client, tok)["stage"] == "paused"
    set_paused(sessions(study[0]), "pilot", False)
    assert _rate(client, tok, trial, 5, 5, 5).status_code == 200


# ---------------------------------------------------------------------------- a real server, killed


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server(db: str, port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "emosynth.cli", "study", "serve", "--db", db, "--port", str(port),
                             "--admin-token", ADMIN], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    import httpx
    for _ in range(300):
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            return proc
        except httpx.TransportError:
            if proc.poll() is not None:
                raise AssertionError(proc.stdout.read().decode()) from None
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("server did not start")


@pytest.mark.parametrize("db_kind", ["postgresql"])
def test_a_participant_goes_on_after_the_database_server_drops_every_connection(client, study, request):
    """The pool does not ping each connection before use (a round trip per rating); when the database
    server drops them (a restart, an idle timeout) the next participant request still succeeds."""
    import psycopg

    cluster = request.getfixturevalue("pg_server")
    tok = _ready(client)
    trial = _state(client, tok)["trial_id"]
    assert _rate(client, tok, trial, 2, 3, 4).json()["result"] == "recorded"
    dbname = study[0].rsplit("/", 1)[1]
    with psycopg.connect(f"host=127.0.0.1 port={cluster.port} user=postgres dbname=postgres",
                         autocommit=True) as conn:
        dropped = conn.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                               "WHERE datname = %s AND pid <> pg_backend_pid()", (dbname,)).fetchone()[0]
    assert dropped >= 1  # the pool's connections were there, and are gone
    r = _rate(client, tok, _state(client, tok)["trial_id"], 5, 6, 7)
    assert r.status_code == 200 and r.json()["result"] == "recorded", r.text
    df = ratings_frame(sessions(study[0]), "pilot")
    assert sorted(df[["valence", "arousal", "dominance"]].values.tolist()) == [[2, 3, 4], [5, 6, 7]]


@ON_BOTH
def test_resume_after_server_is_killed(study):
    import httpx

    db = study[0]
    port = _free_port()
    proc = _server(db, port)
    answers = {}
    try:
        c = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=JSON)
        tok = c.post("/join/pilot").headers["location"].rsplit("/", 1)[1]
        c.post(f"/p/{tok}/consent")
        c.post(f"/p/{tok}/instructions")
        for i in range(4):
            st = c.get(f"/p/{tok}").json()
            v = 1 if st["kind"] == "attention" else 2 + i
            assert c.post(f"/p/{tok}/rate", json={"trial": st["trial_id"], "valence": v, "arousal": 9 - i,
                                                  "dominance": 5}).status_code == 200
            answers[st["trial_id"]] = (v, 9 - i, 5)
        at = c.get(f"/p/{tok}").json()
    finally:
        proc.send_signal(signal.SIGKILL)  # a crash, not a clean shutdown
        proc.wait()
    proc = _server(db, port)
    try:
        c = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=JSON)
        st = c.get(f"/p/{tok}").json()
        assert st["trial_id"] == at["trial_id"] and st["done"] == at["done"]  # exactly where it was
        while st["stage"] == "trial":
            v = 1 if st["kind"] == "attention" else 4
            nxt = c.post(f"/p/{tok}/rate", json={"trial": st["trial_id"], "valence": v, "arousal": v,
                                                 "dominance": v}).json()["next"]
            answers[st["trial_id"]] = (v, v, v)
            st = nxt
        assert st["stage"] == "done"
    finally:
        proc.terminate()
        proc.wait()
    df = ratings_frame(sessions(db), "pilot")
    assert len(df) == len(answers) == 9  # 2 practice + 5 images + 2 checks, each once
    assert sorted(map(tuple, df[["valence", "arousal", "dominance"]].values.tolist())) == sorted(answers.values())


# ---------------------------------------------------------------------------- export


@ON_BOTH
def test_export_csv_is_long_format_without_tokens(client, study, tmp_path):
    db = study[0]
    tok = _ready(client)
    while (st := _state(client, tok))["stage"] == "trial":
        _rate(client, tok, st["trial_id"], 1 if st["kind"] == "attention" else 8, 1, 1)
    out = tmp_path / "ratings.csv"
    with pytest.raises(SystemExit) as e:
        main(["study", "export", "--name", "pilot", "--out", str(out), "--db", db])
    assert e.value.code == 0
    df = pd.read_csv(out)
    assert len(df) == 9 and list(df["position"]) == list(range(9))
    assert df["kind"].value_counts().to_dict() == {"main": 5, "practice": 2, "attention": 2}
    assert df.loc[df.kind == "attention", "attention_pass"].all()
    assert tok not in out.read_text()
    via_admin = client.get("/admin/study/pilot/export.csv", headers={"authorization": f"Bearer {ADMIN}"})
    assert pd.read_csv(io.StringIO(via_admin.text)).drop(columns="rated_at").equals(df.drop(columns="rated_at"))
    assert export_study(db, "pilot", tmp_path / "again.csv") == 9


@ON_BOTH
def test_completion_code_only_after_the_last_trial(client):
    tok = _ready(client)
    assert _state(client, tok)["completion_code"] is None
    while (st := _state(client, tok))["stage"] == "trial":
        assert st["completion_code"] is None and "THANKS-42" not in client.get(f"/p/{tok}").text
        _rate(client, tok, st["trial_id"], 1, 1, 1)
    assert _state(client, tok)["completion_code"] == "THANKS-42"


def test_cli_export_and_serve_refuse_what_cannot_work(study, tmp_path, capsys):
    db = study[0]
    for argv, msg in [(["study", "export", "--name", "pilot", "--out", str(tmp_path), "--db", db], "is a folder")]:
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 2 and msg in capsys.readouterr().err
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SystemExit) as e:
            main(["study", "serve", "--db", db, "--port", str(port), "--admin-token", ADMIN])
        assert e.value.code == 2 and "choose another --port" in capsys.readouterr().err


def test_study_never_imports_the_synthesis_code():
    code = ("import sys, emosynth.study, emosynth.study._app, emosynth.study._report; "
            "bad = [m for m in sys.modules if m.startswith('emosynth.synth')]; assert not bad, bad")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
