"""The study as a web service (FastAPI): participant pages, image serving and the admin pages.

Participants are known only by their token (in the link ``/p/<token>``); the admin token is required
for every ``/admin`` route (``Authorization: Bearer <token>`` or the cookie set by ``/admin/login``).
All state lives in the database, so any number of server processes, or a restarted one, agree.
"""

from __future__ import annotations

import functools
import json
import secrets
from urllib.parse import parse_qs, quote

import anyio
import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response

from . import _pages as pages
from . import _service as svc
from ._db import retry_on_disconnect, sessions

ADMIN_COOKIE = "emosynth_admin"
#: The largest request body accepted, in bytes (a rating or a login is well under 1 KiB).
MAX_BODY = 16 * 1024
#: Worker threads per server process for a database server's transactions (benchmarks/bench_study.py on
#: PostgreSQL, 200 participants: 4 threads 236 ratings/s, 8: 197, 16: 193, 40 (anyio's default): 148).
DB_THREADS = 4


class BodyLimit:
    """Pure-ASGI middleware that bounds request bodies *while they are read*, before any route
    (and so any token look-up) runs: a ``Content-Length`` over ``max_body`` is answered 413 without
    reading a byte of the body; a body without one (chunked) is counted as it streams and cut off
    with 413 as soon as it passes the limit. Nothing past the limit is ever buffered."""

    def __init__(self, app, max_body: int = MAX_BODY):
        self.app, self.max_body = app, max_body

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = [v for k, v in scope.get("headers", []) if k.lower() == b"content-length"]
        if declared:
            try:
                n = int(declared[0])
            except ValueError:
                n = -1
            if n < 0 or (len(declared) > 1 and len(set(declared)) > 1):
                return await self._reply(send, 400, "malformed Content-Length")
            if n > self.max_body:
                return await self._reply(send, 413, f"request body over {self.max_body} bytes")
        seen = 0
        started = cut = replied = False

        async def limited_receive():
            nonlocal seen, cut, replied
            if cut:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    # Answer now and tell the app the client is gone: it reads nothing more, and
                    # whatever it tries to send after this is dropped.
                    cut = True
                    if not started:
                        replied = True
                        await self._reply(send, 413, f"request body over {self.max_body} bytes")
                    return {"type": "http.disconnect"}
            return message

        async def watched_send(message):
            nonlocal started
            if replied:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, watched_send)
        except Exception:  # noqa: BLE001 — the app's ClientDisconnect after the cut-off: answered already
            if not replied:
                raise

    @staticmethod
    async def _reply(send, status: int, text: str):
        body = json.dumps({"error": text}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close"), (b"cache-control", b"no-store"),
                                (b"x-content-type-options", b"nosniff")]})
        await send({"type": "http.response.body", "body": body})


class SecurityHeaders:
    """Pure-ASGI middleware: every response gets nosniff, no-referrer (the participant token is in the
    URL), DENY framing and, unless the route set one, ``Cache-Control: no-store``."""

    EXTRA = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
             (b"x-frame-options", b"DENY")]

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in
                           {n for n, _ in self.EXTRA}] + self.EXTRA
                if b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                message = message | {"headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class AdminGuard:
    """Pure-ASGI middleware: ``refusal(request)`` answers an /admin request without the admin token."""

    def __init__(self, app, refusal):
        self.app, self.refusal = app, refusal

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope.get("path", "").startswith("/admin"):
            answer = self.refusal(Request(scope))
            if answer is not None:
                return await answer(scope, receive, send)
        await self.app(scope, receive, send)


def _form(properties: dict, required: list[str]) -> dict:
    """``openapi_extra`` declaring a small JSON or urlencoded body (the routes read it themselves,
    bounded by ``BodyLimit``), so the schema says what they accept (schemathesis tests it)."""
    schema = {"type": "object", "properties": properties, "required": required}
    return {"requestBody": {"required": False, "content": {"application/json": {"schema": schema},
                                                           "application/x-www-form-urlencoded": {"schema": schema}}}}


_SAM = {"type": "integer", "minimum": 1, "maximum": 9}
_MS = {"type": "integer", "minimum": 0}
RATE_BODY = _form({"trial": {"type": "integer", "minimum": 1}, "valence": _SAM, "arousal": _SAM, "dominance": _SAM,
                   "rt_client_ms": _MS, "window_w": _MS, "window_h": _MS},
                  ["trial", "valence", "arousal", "dominance"])
JOIN_BODY = _form({k: {"type": "string", "maxLength": 300} for k in
                   ("screen_w", "screen_h", "window_w", "window_h", "dpr", "touch", "user_agent",
                    "PROLIFIC_PID", "STUDY_ID", "SESSION_ID", "workerId", "assignmentId", "hitId", "turkSubmitTo",
                    "id")}, [])
LOGIN_BODY = _form({"token": {"type": "string", "maxLength": 256}}, ["token"])


def _wants_json(request: Request) -> bool:
    return (request.headers.get("content-type", "").startswith("application/json")
            or "application/json" in request.headers.get("accept", ""))


async def _body(request: Request) -> dict:
    """A small JSON or urlencoded body as a dict of single values (anything else: an empty dict)."""
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise svc.Invalid("request too large")
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            data = json.loads(raw or b"{}")
        except ValueError:
            raise svc.Invalid("malformed JSON") from None
        if not isinstance(data, dict):
            raise svc.Invalid("expected a JSON object")
        return data
    return {k: v[-1] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}


# Over 80 lines by design: each route is a closure over this app's Session and token, declared where it is served.
def make_app(db: str, admin_token: str, upgrade: bool = False) -> FastAPI:
    """The web app over the study database ``db``; ``admin_token`` guards every admin route. A database
    of an older schema is upgraded only with ``upgrade``; one of a newer schema is refused.

    Args:
        db: The study database URL.
        admin_token: The admin token (at least 16 characters).
        upgrade: Whether to upgrade a database of an older schema.

    Returns:
        The FastAPI application.

    Raises:
        StudyError: For an admin token under 16 characters, or a database that cannot be opened at ``HEAD``.
    """
    if not admin_token or len(admin_token) < 16:
        raise svc.StudyError("the admin token must be at least 16 characters")
    Session = sessions(db, upgrade=upgrade)
    local = Session.kw["bind"].dialect.name == "sqlite"
    db_threads = anyio.CapacityLimiter(DB_THREADS)

    async def blocking(fn, *args):
        """``fn(*args)`` on the hot path: on SQLite in the event loop itself (this process's writers take
        turns anyway, a local transaction takes about a millisecond, and handing it to a worker thread cost
        more than that: 1.8 against 3.9 ms of server CPU per rating); on a database server in one of
        ``DB_THREADS`` worker threads, so its round trips overlap (more threads only fought over the GIL),
        tried again once if the server had dropped the connection."""
        if local:
            return fn(*args)
        return await anyio.to_thread.run_sync(functools.partial(retry_on_disconnect, fn, *args), limiter=db_threads)

    # no OpenTelemetry: its per-request checks (providers, environment look-ups) cost more than a rating
    app = FastAPI(title="emosynth study", docs_url=None, redoc_url=None, openapi_url=None,
                  telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False})

    @app.exception_handler(svc.ServiceError)
    async def service_error(request: Request, exc: svc.ServiceError):
        if _wants_json(request):
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        titles = {404: "Not found", 409: "Already done", 422: "Not accepted", 423: "Paused"}
        return HTMLResponse(pages.message_page(titles.get(exc.status, "Error"), str(exc)), status_code=exc.status)

    # ------------------------------------------------------------------ participants

    @app.get("/", response_class=HTMLResponse)
    def root():
        return pages.message_page("emosynth study", "Open the study link you were given.")

    def _cookie(name: str) -> str:
        return "emosynth_p_" + "".join(c if c.isalnum() else "_" for c in name)

    @app.get("/join/{name}")
    def join_page(name: str, request: Request):
        with Session() as s:
            study = svc.get_study(s, name)
            if study.paused:
                return HTMLResponse(pages.paused_page(), status_code=423)
            platform = svc.PLATFORMS.get(study.platform, svc.PLATFORMS["none"])
        params = {k: v for k, v in request.query_params.items() if k in platform.params}
        if platform.id_param:
            if not params.get(platform.id_param):
                raise svc.Invalid(f"this link lacks your {platform.label} ID ({platform.id_param}); "
                                  f"open the study from {platform.label}")
            known = svc.platform_participant(Session, name, params[platform.id_param])
            if known:  # one platform ID, one participation: a second visit resumes the first
                return RedirectResponse(f"/p/{quote(known)}", status_code=303)
        else:
            known = request.cookies.get(_cookie(name))
            if known:  # the same browser coming back without its link: resume, do not start anew
                try:
                    svc.state(Session, known)
                    return RedirectResponse(f"/p/{quote(known)}", status_code=303)
                except svc.NotFound:
                    pass
        return HTMLResponse(pages.welcome_page(name, params))

    @app.post("/join/{name}", openapi_extra=JOIN_BODY)
    async def join(name: str, request: Request):
        data = await _body(request)
        params = {k: v for k, v in request.query_params.items()} | {k: v for k, v in data.items()
                                                                    if isinstance(v, str)}
        token, _resumed = await blocking(svc.join, Session, name, params, data)
        resp = RedirectResponse(f"/p/{quote(token)}", status_code=303)
        resp.set_cookie(_cookie(name), token, httponly=True, samesite="lax", max_age=30 * 86400)
        return resp

    @app.get("/p/{token}")
    async def participant(token: str, request: Request):
        st = await blocking(svc.state, Session, token)
        if _wants_json(request):
            return JSONResponse(st.__dict__ | {"consent_text": None})
        page = {"consent": lambda: pages.consent_page(token, st),
                "instructions": lambda: pages.instructions_page(token, st),
                "trial": lambda: pages.trial_page(token, st),
                "paused": pages.paused_page,
                "done": lambda: pages.done_page(st)}[st.stage]()
        return HTMLResponse(page)

    @app.post("/p/{token}/consent")
    async def consent(token: str):
        await blocking(svc.consent, Session, token)
        return RedirectResponse(f"/p/{quote(token)}", status_code=303)

    @app.post("/p/{token}/instructions")
    async def instructions(token: str):
        await blocking(svc.instructed, Session, token)
        return RedirectResponse(f"/p/{quote(token)}", status_code=303)

    @app.post("/p/{token}/rate", openapi_extra=RATE_BODY)
    async def rate(token: str, request: Request):
        as_json = _wants_json(request)
        try:
            data = await _body(request)
            trial_id = svc.parse_trial_id(data.get("trial"))
            rating = svc.parse_rating(data)
        except svc.Invalid as e:
            if as_json:
                raise
            st = await blocking(svc.state, Session, token)  # unknown token: 404 here
            if st.stage != "trial":
                raise
            return HTMLResponse(pages.trial_page(token, st, error=str(e)), status_code=422)
        rt = svc.parse_optional_int(data.get("rt_client_ms"), 0, 24 * 3600 * 1000)
        window = (svc.parse_optional_int(data.get("window_w"), 1, 100_000),
                  svc.parse_optional_int(data.get("window_h"), 1, 100_000))
        # one transaction: the rating is committed, and the next trial read, before anything is served
        result, st = await blocking(svc.submit, Session, token, trial_id, rating, rt, window)
        if as_json:
            return JSONResponse({"result": result, "next": st.__dict__ | {"consent_text": None}})
        return RedirectResponse(f"/p/{quote(token)}", status_code=303)

    @app.get("/p/{token}/img/{image_id}")
    def image(token: str, image_id: str):
        path, media = svc.image_file(Session, token, image_id)
        return FileResponse(path, media_type=media, headers={"Cache-Control": "private, max-age=3600"})

    # ------------------------------------------------------------------ researcher

    def _is_admin(request: Request) -> bool:
        given = request.cookies.get(ADMIN_COOKIE, "")
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            given = auth[7:].strip()
        return bool(given) and secrets.compare_digest(given.encode(), admin_token.encode())

    def admin_refusal(request: Request):
        """The answer to an /admin request without the admin token (None: let it through)."""
        path = request.url.path
        if path.startswith("/admin") and path not in ("/admin/login",) and not _is_admin(request):
            if _wants_json(request) or request.method != "GET":
                return JSONResponse({"error": "admin token required"}, status_code=401)
            return RedirectResponse("/admin/login", status_code=303)
        return None

    @app.get("/admin/login", response_class=HTMLResponse)
    def login_page():
        return pages._page("Admin", "<h1>Admin</h1><form method='post' action='/admin/login'>"
                                    "<label>Admin token "
                                    "<input name='token' type='password' autocomplete='off'></label> "
                                    "<button class='btn'>Sign in</button></form>")

    @app.post("/admin/login", openapi_extra=LOGIN_BODY)
    async def login(request: Request):
        data = await _body(request)
        token = str(data.get("token", ""))
        if not secrets.compare_digest(token.encode(), admin_token.encode()):
            return HTMLResponse(pages.message_page("Admin", "Wrong admin token."), status_code=401)
        resp = RedirectResponse("/admin", status_code=303)
        resp.set_cookie(ADMIN_COOKIE, admin_token, httponly=True, samesite="strict", max_age=12 * 3600)
        return resp

    @app.get("/admin")
    def admin(request: Request):
        studies = svc.progress(Session)
        if _wants_json(request):
            return JSONResponse(json.loads(json.dumps(studies, default=str)))
        return HTMLResponse(pages.admin_page(studies, str(request.base_url).rstrip("/")))

    @app.get("/admin/study/{name}", response_class=HTMLResponse)
    def admin_study(name: str):
        studies = [s for s in svc.progress(Session) if s["name"] == name]
        if not studies:
            raise svc.NotFound(f"no study named {name!r}")
        return pages.admin_study_page(studies[0])

    @app.post("/admin/study/{name}/{action}")
    def pause(name: str, action: str, request: Request):
        if action not in ("pause", "resume"):
            raise svc.NotFound("unknown action")
        svc.set_paused(Session, name, action == "pause")
        if _wants_json(request):
            return JSONResponse({"name": name, "paused": action == "pause"})
        return RedirectResponse("/admin", status_code=303)

    @app.get("/admin/study/{name}/export.csv")
    def export(name: str):
        data = svc.export_csv(Session, name)
        return Response(data, media_type="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{quote(name)}-ratings.csv"'})

    # pure-ASGI middleware (no BaseHTTPMiddleware: its task and stream per request cost more than a rating)
    app.add_middleware(AdminGuard, refusal=admin_refusal)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(BodyLimit, max_body=MAX_BODY)  # added last: the outermost of the app's own
    return app


def app_from_env() -> FastAPI:
    """The web app of a server worker process (``serve`` with ``workers`` > 1): its database and admin
    token come from ``EMOSYNTH_STUDY_DB`` and ``EMOSYNTH_ADMIN_TOKEN``, set by the process that spawned it
    (which brought the schema to ``HEAD`` first).

    Returns:
        The FastAPI application.
    """
    import os

    return make_app(os.environ["EMOSYNTH_STUDY_DB"], os.environ["EMOSYNTH_ADMIN_TOKEN"])


#: the most server processes ``study serve`` starts by itself (each holds up to 20 connections)
MAX_AUTO_WORKERS = 4


def default_workers(db: str) -> int:
    """Server processes ``study serve`` starts for ``db`` when the user did not say.

    Args:
        db: The study database URL.

    Returns:
        1 on SQLite (processes would queue for the file), else one per core, at most ``MAX_AUTO_WORKERS``.
    """
    import os

    return 1 if db.startswith("sqlite") else max(1, min(os.cpu_count() or 1, MAX_AUTO_WORKERS))


def serve(db: str, host: str = "127.0.0.1", port: int = 8000, admin_token: str | None = None,
          announce=print, upgrade: bool = False, workers: int | None = None) -> None:
    """Run the web app with uvicorn until interrupted; ``announce`` receives the admin token and the
    participant links (one line each). A database of an older schema is upgraded first only with
    ``upgrade`` (back it up before); a newer one is refused.

    Args:
        db: The study database URL.
        host: The address to listen on.
        port: The TCP port to listen on.
        admin_token: The admin token; None draws a random one (announced).
        announce: A callable receiving each line to show.
        upgrade: Whether to upgrade a database of an older schema.
        workers: Server processes sharing the port (all state is in the database, so they agree), each
            using at most one core (Python's GIL). None: one on SQLite (processes queue for the file), one
            per core up to ``MAX_AUTO_WORKERS`` on a database server (on 2 cores, 2 processes served 327-361
            ratings/s at p95 116-192 ms where 1 served 257-332 at p95 200-360: docs/study.md).

    Raises:
        StudyError: If the port cannot be listened on, the admin token is under 16 characters, or the
            database cannot be opened at ``HEAD``.
    """
    import socket

    import uvicorn

    token = admin_token or secrets.token_urlsafe(24)
    with socket.socket() as probe:  # a taken port is the user's to fix: say so in one line
        try:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
        except OSError as e:
            raise svc.StudyError(f"cannot listen on {host}:{port} ({e.strerror or e}); choose another --port") from None
    app = make_app(db, token, upgrade=upgrade)
    Session = sessions(db)
    base = f"http://{host}:{port}"
    announce(f"admin:  {base}/admin/login   token: {token}")
    for st in svc.progress(Session):
        announce(f"study {st['name']}: participant link {base}/join/{quote(st['name'])}{st['link_query']}"
                 f"{' (paused)' if st['paused'] else ''}"
                 f"{' (' + st['platform'] + ')' if st['platform'] != 'none' else ''}")
    if workers is None:
        workers = default_workers(db)
    if workers <= 1:
        uvicorn.run(app, host=host, port=port, log_level="warning")
        return
    import os

    from ._db import dispose

    dispose(db)  # the workers open their own connections
    os.environ["EMOSYNTH_STUDY_DB"], os.environ["EMOSYNTH_ADMIN_TOKEN"] = db, token
    uvicorn.run("emosynth.study._app:app_from_env", factory=True, host=host, port=port, workers=workers,
                log_level="warning")
