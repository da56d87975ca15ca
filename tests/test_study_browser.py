"""The participant's way through the study in a real browser (headless Chromium from Debian, driven
by Playwright; scripts/setup.sh installs both): consent, instructions, practice, every trial (by mouse
and by keyboard), a reload mid-way, the thank-you page; then the export holds exactly those ratings
and the report is written from them."""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from emosynth.cli import main
from emosynth.study import StudyConfig, create_study, dispose, make_app, ratings_frame, sessions

sys.path.insert(0, str(Path(__file__).parent))
from _study_fixtures import make_runs  # noqa: E402

CHROMIUM = os.environ.get("EMOSYNTH_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
ADMIN = "admin-token-for-browser-tests-0123"


@pytest.fixture()
def server(tmp_path):
    import uvicorn

    db = f"sqlite:///{tmp_path}/studies.db"
    runs = make_runs(tmp_path / "runs")
    create_study(StudyConfig(name="pilot", runs=runs, per_target=1, attention_checks=1, db=db,
                             folder=tmp_path / "pilot", completion_code="CODE-7", seed=5))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(make_app(db, ADMIN), host="127.0.0.1", port=port, log_level="warning"))
    t = threading.Thread(target=srv.run, daemon=True)
    t.start()
    for _ in range(200):
        if srv.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", db, tmp_path
    srv.should_exit = True
    t.join(10)
    dispose(db)


def test_participant_way_through_in_chromium_then_export_and_report(server, capsys):
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} missing: run scripts/setup.sh (installs Debian's chromium)")
    base, db, tmp = server
    given = []  # (kind, valence, arousal, dominance) in the order answered
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 390, "height": 844})  # a phone
        page.goto(f"{base}/join/pilot")
        page.click("#join")
        page.wait_for_selector("#agree")
        page.click("#agree")
        page.wait_for_selector("#start")
        assert page.locator("svg").count() == 15  # the SAM figures on the instructions page
        page.click("#start")
        n = 0
        while True:
            page.wait_for_selector("#next, #thanks")
            if page.locator("#thanks").count():
                break
            progress = page.inner_text("#progress")
            kind = ("practice" if progress.startswith("Practice")
                    else "attention" if page.locator("#check").count() else "main")
            # usable on a phone: nothing wider than the screen
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
            assert page.evaluate("document.querySelector('img.stim').naturalWidth") > 0
            assert page.locator("#next").is_disabled()  # not before all three rows are answered
            vals = (1, 1, 1) if kind == "attention" else (1 + n % 9, 9 - n % 9, 1 + (3 * n) % 9)
            if n == 3:  # a reload before answering shows the same trial again
                page.reload()
                page.wait_for_selector("#next")
                assert page.inner_text("#progress") == progress
            if n % 2 == 0:  # keyboard: 1-9 fills the highlighted row and moves on, Enter goes on
                for v in vals:
                    page.keyboard.press(str(v))
                assert page.locator("#next").is_enabled()
                with page.expect_navigation():
                    page.keyboard.press("Enter")
            else:  # mouse/touch on the figures and points
                for dim, v in zip(("valence", "arousal", "dominance"), vals):
                    page.click(f"fieldset[data-dim={dim}] label:has(input[value='{v}'])")
                with page.expect_navigation():
                    page.click("#next")
            given.append((kind, *vals))
            n += 1
        assert "CODE-7" in page.inner_text("body")
        page.reload()  # a reload at the end stays at the end
        assert page.locator("#thanks").count() == 1
        browser.close()
    # 2 practice + 5 images (1 per target of 5 targets) + 1 attention check
    assert [k for k, *_ in given].count("practice") == 2 and len(given) == 8
    out = tmp / "ratings.csv"
    with pytest.raises(SystemExit) as e:
        main(["study", "export", "--name", "pilot", "--out", str(out), "--db", db])
    assert e.value.code == 0
    df = pd.read_csv(out).sort_values("position")
    assert [tuple(r) for r in df[["kind", "valence", "arousal", "dominance"]].itertuples(index=False)] == given
    assert df["participant"].nunique() == 1 and df["attention_pass"].dropna().all()
    with pytest.raises(SystemExit) as e:
        main(["study", "report", "--name", "pilot", "--out", str(tmp / "report"), "--db", db])
    assert e.value.code == 0
    md = (tmp / "report" / "report.md").read_text()
    assert "| valence | 5 |" in md and "model" in md
    assert "report.html" in capsys.readouterr().out


PROLIFIC = {"PROLIFIC_PID": "60a1b2c3d4e5f60718293a4b", "STUDY_ID": "6123abc", "SESSION_ID": "sess-xyz"}
COMPLETE = "https://app.prolific.com/submissions/complete?cc=C7XYZ123"


def _answer_page(page, vals):
    for dim, v in zip(("valence", "arousal", "dominance"), vals):
        page.click(f"fieldset[data-dim={dim}] label:has(input[value='{v}'])")
    with page.expect_navigation():
        page.click("#next")


def test_prolific_participant_rates_is_redirected_and_resumes_in_chromium(tmp_path):
    """A participant arrives from Prolific with PROLIFIC_PID, STUDY_ID and SESSION_ID, rates three trials,
    closes the browser, comes back through the same Prolific link in a fresh browser (no cookie) and resumes
    at the fourth, finishes, and is sent to the completion URL; the export holds those IDs, the browser's
    response times and window size."""
    import uvicorn
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} missing: run scripts/setup.sh (installs Debian's chromium)")
    db = f"sqlite:///{tmp_path}/studies.db"
    create_study(StudyConfig(name="prolific", runs=make_runs(tmp_path / "runs"), per_target=1, attention_checks=1,
                             db=db, folder=tmp_path / "prolific", platform="prolific", completion_url=COMPLETE))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(make_app(db, ADMIN), host="127.0.0.1", port=port, log_level="warning"))
    t = threading.Thread(target=srv.run, daemon=True)
    t.start()
    for _ in range(200):
        if srv.started:
            break
        time.sleep(0.05)
    link = f"http://127.0.0.1:{port}/join/prolific?" + "&".join(f"{k}={v}" for k, v in PROLIFIC.items())
    landed = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for visit in (1, 2):
                ctx = browser.new_context(viewport={"width": 1024, "height": 700})  # a fresh browser each time
                ctx.route("https://app.prolific.com/**", lambda route: (landed.append(route.request.url),
                                                                        route.fulfill(body="Prolific: complete")))
                page = ctx.new_page()
                page.goto(link)
                if visit == 1:
                    page.click("#join")
                    page.click("#agree")
                    page.click("#start")
                    for n in range(3):
                        page.wait_for_selector("#next")
                        page.wait_for_timeout(120)  # a person looks before answering
                        _answer_page(page, (2 + n, 3 + n, 4 + n))
                    ctx.close()
                    continue
                page.wait_for_selector("#next")  # straight back to the trial, not the welcome page
                assert page.inner_text("#progress") == "Picture 2 of 6"  # 2 practice + 1 rated: the 4th trial
                while True:
                    page.wait_for_selector("#next, #thanks")
                    if page.locator("#thanks").count():
                        break
                    vals = (1, 1, 1) if page.locator("#check").count() else (7, 6, 5)
                    _answer_page(page, vals)
                page.wait_for_url(COMPLETE, timeout=10_000)  # sent on to Prolific by the thank-you page
                assert "Prolific: complete" in page.inner_text("body")
                ctx.close()
            browser.close()
    finally:
        srv.should_exit = True
        t.join(10)
    assert landed == [COMPLETE]
    df = ratings_frame(sessions(db), "prolific")
    dispose(db)
    assert len(df) == 2 + 5 + 1 and df["participant"].nunique() == 1 and df["participant_finished"].all()
    for k, v in PROLIFIC.items():
        assert (df[k] == v).all()
    assert (df["platform_id"] == PROLIFIC["PROLIFIC_PID"]).all()
    assert df["rt_client_ms"].notna().all() and (df["rt_client_ms"].iloc[:3] >= 120).all()
    assert (df["rt_server_ms"] >= df["rt_client_ms"] - 50).all()  # the server's time includes the page load
    assert (df["window_w"] == 1024).all() and (df["window_h"] == 700).all() and (df["screen_w"] > 0).all()
    assert list(df["position"]) == list(range(8))
    assert "Chrome" in df["user_agent"].iloc[0]
