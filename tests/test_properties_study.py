"""Property test of the study API (issue 15): schemathesis generates requests from the app's own
OpenAPI schema (every route, its path parameters and declared bodies) against a real study on a
temporary SQLite database. Each request is sent as it was generated, and again as a real
participant (their token in the path). The properties: never a 5xx; no response shows a file path
of the machine, the admin token, or another participant's token or answers. Bounded in time."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from emosynth.study import StudyConfig, create_study, dispose, make_app

sys.path.insert(0, str(Path(__file__).parent))
from _study_fixtures import make_runs  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
ADMIN = "admin-token-for-property-tests-0123456789"


class World:
    """The study, its app, and two participants: ``me`` (whose token requests may carry) and
    ``other`` (who must never be visible to requests without their token)."""

    def __init__(self, root: Path):
        runs = make_runs(root / "runs")
        self.db = f"sqlite:///{root}/studies.db"
        self.folder = root / "pilot"
        create_study(StudyConfig(name="pilot", runs=runs, per_target=1, attention_checks=1, db=self.db,
                                 folder=self.folder, seed=5))
        self.app = make_app(self.db, ADMIN)
        from fastapi.testclient import TestClient

        with TestClient(self.app) as c:
            self.me = self._join(c)
            self.other = self._join(c)
            # the other participant consents, reads the instructions and rates their first trial
            c.post(f"/p/{self.other}/consent")
            c.post(f"/p/{self.other}/instructions")
            st = c.get(f"/p/{self.other}", headers={"accept": "application/json"}).json()
            self.other_trial = st["trial_id"]
            if self.other_trial is not None:
                r = c.post(f"/p/{self.other}/rate", json={"trial": self.other_trial, "valence": 7, "arousal": 2,
                                                          "dominance": 6})
                assert r.status_code == 200, r.text
        self.secrets = [self.other, ADMIN]
        self.paths = [str(root), str(self.folder), str(Path.cwd()), str(Path.home()), "/tmp/", "site-packages",
                      "Traceback", 'File "']
        self.seen = 0
        self.ok_as_me = 0  # responses under 400 to requests carrying the real participant's token

    @staticmethod
    def _join(c) -> str:
        r = c.post("/join/pilot", follow_redirects=False)
        assert r.status_code == 303, r.text
        return r.headers["location"].rsplit("/", 1)[1]

    def check(self, response, sent_token: str | None):
        self.seen += 1
        self.ok_as_me += sent_token == self.me and response.status_code < 400
        ctype = response.headers.get("content-type", "")
        ctype = ", ".join(ctype) if isinstance(ctype, list) else ctype  # schemathesis: lists of values
        text = response.text if not ctype.startswith("image/") else ""
        assert response.status_code < 500, (response.status_code, text[:300])
        for s in self.secrets:
            if s != sent_token:
                assert s not in text, f"a response leaks a secret ({s[:6]}…)"
                assert s not in str(response.headers), "a header leaks a secret"
        for p in self.paths:
            assert p not in text, f"a response shows a path of the machine: {p!r}"
        if sent_token != self.other:
            # the other participant's answer to their trial (7, 2, 6) never appears as data
            assert not re.search(r'"valence":\s*7\b.*"arousal":\s*2\b', text)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    w = World(tmp_path_factory.mktemp("prop-study"))
    yield w
    dispose(w.db)


# The schema is the app's own (its routes do not depend on the database: an in-memory one serves to
# read it at collection); every case is sent to the app over the real study built by ``world``.
schema = schemathesis.openapi.from_dict(make_app("sqlite://", ADMIN).openapi())


@schema.parametrize()
@settings(max_examples=25, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_no_500_and_no_leak(case, world):
    world.check(case.call(app=world.app), None)
    if "token" in (case.path_parameters or {}):
        mine = case.path_parameters["token"]
        case.path_parameters["token"] = world.me
        try:
            world.check(case.call(app=world.app), world.me)
        finally:
            case.path_parameters["token"] = mine


def test_the_property_reached_the_routes(world):
    """Runs after the generated cases (same module): they happened, some as a real participant got
    through to the routes, and the check itself can fail."""
    import httpx

    assert world.seen >= 12 * 2, world.seen
    assert world.ok_as_me > 0
    with pytest.raises(AssertionError, match="leaks"):
        world.check(httpx.Response(200, text=f"<a href='/p/{world.other}'>"), None)
    with pytest.raises(AssertionError, match="path"):
        world.check(httpx.Response(404, text=f"no file {world.folder}/0001.png"), None)
    with pytest.raises(AssertionError):
        world.check(httpx.Response(500, text="oops"), None)
