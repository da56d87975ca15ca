"""`emosynth study serve` as a real process: one server process, and two worker processes sharing one port
(`--workers 2`, and by default on PostgreSQL), both answering participants of one study whose state is all
in the database. Real run directories, a real SQLite file and PostgreSQL server, a real HTTP client."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from emosynth.study import Participant, Rating, StudyConfig, create_study, default_workers, dispose, sessions

sys.path.insert(0, str(Path(__file__).parent))
from _pg import pg_server, pg_url  # noqa: E402, F401
from _study_fixtures import make_runs  # noqa: E402

ADMIN = "serve-test-admin-token-0123456789"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _workers_of(pid: int) -> set[int]:
    """The living processes of the server's process group other than the server itself."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pid and int(stat.parent.name) != pid and fields[0] != "Z":
            found.add(int(stat.parent.name))
    return found


def _participant_through(c: httpx.Client) -> tuple[str, int]:
    """Join, consent, read the instructions and rate every trial; returns (token, ratings made)."""
    r = c.post("/join/pilot", json={})
    assert r.status_code == 303, r.text
    tok = r.headers["location"].rsplit("/", 1)[1]
    assert c.post(f"/p/{tok}/consent").status_code == 303
    assert c.post(f"/p/{tok}/instructions").status_code == 303
    st = c.get(f"/p/{tok}", headers={"accept": "application/json"}).json()
    n = 0
    while st["stage"] == "trial":
        v = 1 if st["kind"] == "attention" else 2 + n % 7
        r = c.post(f"/p/{tok}/rate", json={"trial": st["trial_id"], "valence": v, "arousal": v, "dominance": v})
        assert r.status_code == 200, r.text
        assert r.json()["result"] == "recorded"
        st, n = r.json()["next"], n + 1
    assert st["stage"] == "done"
    return tok, n


@pytest.mark.parametrize("kind, workers", [("sqlite", 1), ("sqlite", 2), ("postgresql", None)])
def test_serve_answers_participants_from_every_worker(tmp_path, kind, workers, request):
    """On PostgreSQL without --workers: one process per core (at most 4), each with its own pool."""
    db = f"sqlite:///{tmp_path}/studies.db" if kind == "sqlite" else request.getfixturevalue("pg_url")
    flag = [] if workers is None else ["--workers", str(workers)]
    if workers is None:
        workers = min(os.cpu_count(), 4)
        assert default_workers(db) == workers and default_workers("sqlite:///x.db") == 1
    create_study(StudyConfig(name="pilot", runs=make_runs(tmp_path / "runs"), per_target=1, attention_checks=1,
                             db=db, folder=tmp_path / "pilot", seed=1))
    dispose(db)
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "emosynth.cli", "study", "serve", "--db", db, "--port", str(port),
                             "--admin-token", ADMIN, *flag],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                if httpx.get(base + "/", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stderr.read()
                time.sleep(0.1)
        # the worker processes (and multiprocessing's helper) beside the supervisor, or none at all
        assert len(_workers_of(proc.pid)) >= workers if workers > 1 else not _workers_of(proc.pid)
        made = {}
        for _ in range(6):  # a fresh connection each: the kernel spreads them over the workers
            with httpx.Client(base_url=base, follow_redirects=False) as c:
                tok, n = _participant_through(c)
                made[tok] = n
        admin = httpx.get(base + "/admin", headers={"authorization": f"Bearer {ADMIN}",
                                                    "accept": "application/json"}).json()
        assert [s["name"] for s in admin] == ["pilot"]
        assert admin[0]["finished"] == len(made) == 6
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert "token: " + ADMIN in out  # the admin line is announced once, by the supervisor
    assert out.count("admin:") == 1
    assert "Traceback" not in err, err
    with sessions(db)() as s:  # every rating of every participant, once
        for tok, n in made.items():
            pid = s.scalar(select(Participant.id).where(Participant.token == tok))
            assert s.scalar(select(func.count()).select_from(Rating).where(Rating.participant_id == pid)) == n
    dispose(db)
