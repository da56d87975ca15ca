"""Issue 15 §4 §5: the study server bounds request bodies while reading them (before any token work),
and ``study create`` copies only regular, verified image files from inside each run's ``images/``.
Real run directories (tests/_study_fixtures.py), a real SQLite database, a real uvicorn process."""

from __future__ import annotations

import asyncio
import shutil
import socket
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from emosynth.errors import EmosynthError
from emosynth.study import MAX_BODY, StudyConfig, create_study, dispose, make_app

sys.path.insert(0, str(Path(__file__).parent))
from _study_fixtures import make_runs  # noqa: E402
from test_imageio import png_header  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
ADMIN = "admin-token-for-tests-0123456789"
CLAIM = 400 * 1024 * 1024  # the 400 MB POST
CHUNK = 64 * 1024


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("limits")
    runs = make_runs(root / "runs")
    db = f"sqlite:///{root}/studies.db"
    create_study(StudyConfig(name="pilot", runs=runs, per_target=1, attention_checks=1, db=db,
                             folder=root / "pilot", seed=1))
    yield db, runs, root
    dispose(db)


def _post(app, path, body, headers):
    """POST through httpx's ASGI transport, which pulls the body lazily: returns (response, chunks the
    app consumed, seconds)."""
    import httpx

    pulled = 0

    async def stream():
        nonlocal pulled
        for _ in range(CLAIM // CHUNK):
            pulled += 1
            yield body

    async def go():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://study") as c:
            t = time.perf_counter()
            r = await c.post(path, content=stream(), headers=headers)
            return r, time.perf_counter() - t

    r, seconds = asyncio.run(go())
    return r, pulled, seconds


def test_a_400_mb_content_length_is_413_without_reading_the_body(study):
    app = make_app(study[0], ADMIN)
    r, pulled, seconds = _post(app, "/p/x/rate", b"x" * CHUNK,
                               {"content-length": str(CLAIM), "content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 413, r.text
    assert pulled == 0 and seconds < 2
    assert "token" not in r.text.lower()  # no token work was done: the route never ran


def test_a_chunked_body_is_cut_off_past_the_limit(study):
    app = make_app(study[0], ADMIN)
    for path in ("/p/x/rate", "/admin/login", "/join/pilot"):
        r, pulled, seconds = _post(app, path, b"y" * 1024, {"content-type": "application/json"})
        assert r.status_code in (413, 303, 401), (path, r.status_code)
        # at most the limit plus one chunk is ever read (the old server read all 400 MB)
        assert pulled <= MAX_BODY // 1024 + 1, (path, pulled)
    r, pulled, _ = _post(app, "/p/x/rate", b"y" * 1024, {"content-type": "application/json"})
    assert r.status_code == 413 and pulled == MAX_BODY // 1024 + 1


def test_small_bodies_still_reach_the_routes(study):
    from fastapi.testclient import TestClient

    with TestClient(make_app(study[0], ADMIN)) as c:
        r = c.post("/admin/login", data={"token": "wrong"})
        assert r.status_code == 401
        r = c.post("/p/nosuchtoken/rate", json={"trial": 1, "valence": 5, "arousal": 5, "dominance": 5})
        assert r.status_code == 404
        r = c.post("/p/x/rate", content=b"{}",
                   headers={"content-length": "nonsense", "content-type": "application/json"})
        assert r.status_code == 400


@pytest.fixture()
def server(study):
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(make_app(study[0], ADMIN), host="127.0.0.1", port=port, log_level="error"))
    t = threading.Thread(target=srv.run, daemon=True)
    t.start()
    for _ in range(200):
        if srv.started:
            break
        time.sleep(0.05)
    yield port
    srv.should_exit = True
    t.join(10)


def _status(sock: socket.socket) -> int:
    sock.settimeout(5)
    data = b""
    while b"\r\n" not in data:
        part = sock.recv(4096)
        if not part:
            break
        data += part
    return int(data.split(b" ", 2)[1])


def test_a_real_server_answers_413_at_once(server):
    with socket.create_connection(("127.0.0.1", server)) as s:
        s.sendall(b"POST /p/x/rate HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                  b"Content-Length: %d\r\n\r\n" % CLAIM + b"a" * 4096)
        t = time.perf_counter()
        assert _status(s) == 413
        assert time.perf_counter() - t < 2
    with socket.create_connection(("127.0.0.1", server)) as s:
        s.sendall(b"POST /p/x/rate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n")
        # one chunk past the limit, then nothing more: the server answers 413 and closes, and a client that
        # went on sending would get a reset that can swallow the answer (seen once in CI)
        for _ in range(MAX_BODY // 4096 + 1):
            s.sendall(b"1000\r\n" + b"b" * 4096 + b"\r\n")
        assert _status(s) == 413


# ---------------------------------------------------------------------------- study create


def _tampered(runs, root: Path, file: str, make=None) -> Path:
    """A copy of the first run whose first item names ``file`` (``make(images)`` sets it up)."""
    run = root / "tampered"
    if run.exists():
        shutil.rmtree(run)
    shutil.copytree(runs[0], run, symlinks=True)
    if make:
        make(run / "images")
    items = pd.read_csv(run / "items.csv")
    items.loc[0, "file"] = file
    items.to_csv(run / "items.csv", index=False)
    return run


def _secret(root: Path) -> Path:
    p = root / "secret.png"
    if not p.exists():
        shutil.copyfile(sorted((Path(__file__).parent.parent / "src/emosynth/sample_images").glob("*.jpg"))[0], p)
    return p


CASES = {
    "dotdot": ("../../secret.png", None),
    "etc-passwd": ("../../../../../../../../etc/passwd", None),
    "absolute": ("ABS", None),
    "symlink-out": ("link.png", lambda im: (im / "link.png").symlink_to(im.parent.parent / "secret.png")),
    "symlink-in": ("link.png", lambda im: (im / "link.png").symlink_to(im / "elite_001.png")),
    "zero-byte": ("empty.png", lambda im: (im / "empty.png").write_bytes(b"")),
    "bomb": ("bomb.png", lambda im: (im / "bomb.png").write_bytes(png_header(30000, 30000))),
    "text": ("notes.png", lambda im: (im / "notes.png").write_text("not an image\n")),
    "not-an-image-name": ("run.json", lambda im: shutil.copyfile(im.parent / "run.json", im / "run.json")),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_create_copies_only_verified_images_from_inside_images(study, tmp_path, case, capsys):
    from emosynth.cli import main

    db, runs, root = study
    secret = _secret(tmp_path)
    file, make = CASES[case]
    if file == "ABS":
        file = str(secret)
    run = _tampered(runs, tmp_path, file, make)
    folder = tmp_path / "copy"
    with pytest.raises(EmosynthError) as e:
        # per_target large: every item of the run is drawn, the tampered one included
        create_study(StudyConfig(name=f"t-{case}", runs=[run], per_target=50, attention_checks=0, db=db, folder=folder))
    assert "\n" not in str(e.value)
    assert not folder.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".copy")]
    with pytest.raises(SystemExit) as ex:
        main(["study", "create", "--name", f"c-{case}", "--from", str(run), "--per-target", "50", "--db", db,
              "--folder", str(folder)])
    err = capsys.readouterr().err.strip()
    assert ex.value.code == 2 and err.startswith("error: ") and len(err.splitlines()) == 1, err
    assert "Traceback" not in err and not folder.exists()
