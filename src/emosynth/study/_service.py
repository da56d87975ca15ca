"""What participants and the researcher do, as transactions on the database (no HTTP here).

Every function opens its own transaction; a rating is committed before the caller serves the next
trial, and the state of a participant is read back from the database each time, so a reload, a
dropped connection or a server restart resumes exactly where the participant was.
"""

from __future__ import annotations

import json
import random
import secrets
from dataclasses import dataclass
from urllib.parse import quote

import pandas as pd
from sqlalchemy import DateTime, bindparam, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import sessionmaker

from ..errors import StudyError
from ._db import Image, Participant, Rating, Study, Trial, now, write_transaction, writing

DIMENSIONS = ("valence", "arousal", "dominance")
#: the tables' columns, for the Core statements of the participant's path (compiled once, cached)
_P, _S, _T, _I, _R = (m.__table__.c for m in (Participant, Study, Trial, Image, Rating))
#: An attention check asks for the leftmost figure in every row: these answers pass (on a reversed
#: scale the leftmost figure is 9: ``attention_answer``).
ATTENTION_ANSWER = (1, 1, 1)


@dataclass(frozen=True)
class Platform:
    """A recruiting platform: the URL parameter that identifies a person (one participation each) and
    every parameter recorded with the participant."""

    name: str
    id_param: str | None
    params: tuple[str, ...]
    label: str


#: Prolific appends PROLIFIC_PID, STUDY_ID, SESSION_ID; MTurk's external question workerId, assignmentId,
#: hitId, turkSubmitTo; SONA's web study link ends ``?id=%SURVEY_CODE%``.
PLATFORMS = {
    "none": Platform("none", None, (), "the study link"),
    "prolific": Platform("prolific", "PROLIFIC_PID", ("PROLIFIC_PID", "STUDY_ID", "SESSION_ID"), "Prolific"),
    "mturk": Platform("mturk", "workerId", ("workerId", "assignmentId", "hitId", "turkSubmitTo"), "MTurk"),
    "sona": Platform("sona", "id", ("id",), "SONA"),
}
MAX_PARAM = 200


def attention_answer(scale_reversed: bool) -> tuple[int, int, int]:
    return (9, 9, 9) if scale_reversed else ATTENTION_ANSWER


class ServiceError(StudyError):
    """A request the service refuses; ``status`` is the HTTP status the web app answers with."""

    status = 400


class NotFound(ServiceError):
    status = 404


class Conflict(ServiceError):
    status = 409


class Invalid(ServiceError):
    status = 422


class Paused(ServiceError):
    status = 423


def get_study(s: OrmSession, name: str) -> Study:
    study = s.scalar(select(Study).where(Study.name == name))
    if study is None:
        raise NotFound(f"no study named {name!r}")
    return study


def _participant(s: OrmSession, token: str) -> Participant:
    p = s.scalar(select(Participant).where(Participant.token == token)) if token else None
    if p is None:
        raise NotFound("unknown participant link")
    return p


def _trial_plan(study: Study, images: list[Image], number: int, list_number: int = 0) -> list[tuple[str, int]]:
    """The participant's trials in order: the practice images, then the study's images of the
    participant's list in a random order of this participant's own (reproducible from the study seed and
    participant number) with the attention checks (each on a random study image) at random places, never
    first."""
    rng = random.Random(f"{study.seed}:{number}")
    practice = [("practice", im.id) for im in images if im.practice]
    main = [("main", im.id) for im in images
            if not im.practice and (im.list_index is None or im.list_index == list_number)]
    rng.shuffle(main)
    for _ in range(study.attention_checks):
        main.insert(rng.randint(1, len(main)), ("attention", rng.choice([i for k, i in main if k == "main"])))
    return practice + main


def _clean_params(platform: Platform, params: dict) -> dict:
    """The platform's parameters from the URL, each a printable string of at most MAX_PARAM characters."""
    out = {}
    for k in platform.params:
        v = params.get(k)
        if v is None:
            continue
        v = str(v).strip()
        if not v or len(v) > MAX_PARAM or not v.isprintable():
            raise Invalid(f"the link's {k} is not a valid ID")
        out[k] = v
    return out


def _clean_device(device: dict | None) -> dict:
    """Screen and window size (px), pixel ratio, touch and the browser's user agent, as the page saw them."""
    out = {}
    for k in ("screen_w", "screen_h", "window_w", "window_h"):
        try:
            v = int(float((device or {}).get(k)))
        except (TypeError, ValueError):
            continue
        if 0 < v < 100_000:
            out[k] = v
    try:
        dpr = float((device or {}).get("dpr"))
        if 0 < dpr < 20:
            out["dpr"] = round(dpr, 3)
    except (TypeError, ValueError):
        pass
    if str((device or {}).get("touch", "")).lower() in ("1", "true"):
        out["touch"] = True
    ua = (device or {}).get("user_agent")
    if isinstance(ua, str) and ua.strip():
        out["user_agent"] = ua.strip()[:300]
    return out


_STUDY_BY_NAME = select(_S.id, _S.paused, _S.platform, _S.lists, _S.counterbalance_scale, _S.seed,
                        _S.attention_checks).where(_S.name == bindparam("name"))
_STUDY_FOR_JOIN = _STUDY_BY_NAME.with_for_update()
_STUDY_IMAGES = select(_I.id, _I.practice, _I.list_index).where(_I.study_id == bindparam("sid")).order_by(_I.id)
_BY_PLATFORM_ID = select(_P.token).where(_P.study_id == bindparam("sid"), _P.platform_id == bindparam("pid"))
_LAST_NUMBER = select(func.max(_P.number)).where(_P.study_id == bindparam("sid"))


def join(Session: sessionmaker, study_name: str, params: dict | None = None, device: dict | None = None,
         ) -> tuple[str, bool]:
    """A participant of the study: (token, resumed). With a recruiting platform, the platform's ID
    parameter is required and one ID gets one participation: a second visit returns the first token
    (``resumed``). The token is ``secrets.token_urlsafe`` (256 bits).

    Args:
        Session: Sessions on the study database (``sessions``).
        study_name: The study's name.
        params: The link's URL parameters (the recruiting platform's are recorded).
        device: What the page saw of the device: screen_w, screen_h, window_w, window_h (px), dpr, touch,
            user_agent.

    Returns:
        (token, resumed): the participant's token, and whether it is an earlier participation of the same
        platform ID.

    Raises:
        NotFound: For an unknown study.
        Paused: If the study is paused.
        Invalid: If the link lacks the platform's ID parameter or carries an invalid ID.
        Conflict: If too many participants join at once.
    """
    params = params or {}
    eng = _engine(Session)
    for _attempt in range(20):
        try:
            with write_transaction(eng) as conn:
                # the study's row locked (PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises writers):
                # joins of one study take their numbers one after another instead of colliding
                study = conn.execute(_STUDY_FOR_JOIN, {"name": study_name}).first()
                if study is None:
                    raise NotFound(f"no study named {study_name!r}")
                if study.paused:
                    raise Paused(f"study {study_name!r} is paused")
                platform = PLATFORMS.get(study.platform, PLATFORMS["none"])
                recorded = _clean_params(platform, params)
                pid = recorded.get(platform.id_param) if platform.id_param else None
                if platform.id_param and pid is None:
                    raise Invalid(f"this link lacks your {platform.label} ID ({platform.id_param}); "
                                  f"open the study from {platform.label}")
                if pid is not None:
                    known = conn.execute(_BY_PLATFORM_ID, {"sid": study.id, "pid": pid}).scalar()
                    if known is not None:
                        return known, True
                number = (conn.execute(_LAST_NUMBER, {"sid": study.id}).scalar() or 0) + 1
                list_number = (number - 1) % max(study.lists, 1)
                reversed_ = bool(study.counterbalance_scale) and number % 2 == 0
                images = conn.execute(_STUDY_IMAGES, {"sid": study.id}).all()
                plan = _trial_plan(study, images, number, list_number)
                token = secrets.token_urlsafe(32)
                at = now()
                new_id = conn.execute(Participant.__table__.insert().returning(_P.id), {
                    "study_id": study.id, "number": number, "token": token, "created_at": at,
                    "platform_id": pid, "url_params": json.dumps(recorded),
                    "device": json.dumps(_clean_device(device)), "list_number": list_number,
                    "scale_reversed": reversed_, "trials": len(plan), "rated": 0,
                    "practice": sum(k == "practice" for k, _ in plan)}).scalar_one()
                conn.execute(Trial.__table__.insert(), [
                    {"participant_id": new_id, "position": pos, "kind": kind, "image_id": image_id}
                    for pos, (kind, image_id) in enumerate(plan)])
                return token, False
        except IntegrityError:  # two joins took the same number (or the same platform ID) at once: again
            continue
    raise Conflict("too many participants joining at once; try again")


def link_query(platform: str) -> str:
    """The query the recruiting platform fills in, appended to the participant link (Prolific's
    ``{{%PROLIFIC_PID%}}`` placeholders; MTurk adds its own; SONA's ``%SURVEY_CODE%``)."""
    return {"prolific": "?PROLIFIC_PID={{%PROLIFIC_PID%}}&STUDY_ID={{%STUDY_ID%}}&SESSION_ID={{%SESSION_ID%}}",
            "sona": "?id=%SURVEY_CODE%"}.get(platform, "")


def platform_participant(Session: sessionmaker, study_name: str, platform_id: str) -> str | None:
    """The token of the study's participant with this platform ID, if they have joined."""
    with Session() as s:
        study = get_study(s, study_name)
        return s.scalar(select(Participant.token).where(Participant.study_id == study.id,
                                                        Participant.platform_id == platform_id))


@dataclass
class State:
    """Where a participant is: ``stage`` is consent, instructions, trial, done or paused."""

    study: str
    stage: str
    consent_text: str
    completion_code: str | None
    trial_id: int | None = None
    kind: str | None = None
    image: str | None = None  # the image's opaque public id
    done: int = 0  # rated non-practice trials
    total: int = 0  # non-practice trials
    practice_done: int = 0
    practice_total: int = 0
    scale_reversed: bool = False
    completion_url: str | None = None  # where the thank-you page sends the participant (once done)


def completion_link(template: str | None, params: dict) -> str | None:
    """The completion URL with each ``{PARAM}`` replaced by the participant's recorded parameter (quoted)."""
    if not template:
        return None
    out = template
    for k, v in params.items():
        out = out.replace("{" + k + "}", quote(str(v), safe=""))
    return out


#: what a participant's state is computed from: their row and their study's, in one query (Core, on the
#: tables' columns: compiled once, cached, no ORM in the rating path)
_PARTICIPANT_ROW = (select(_P.id.label("pid"), _P.rated, _P.trials, _P.practice, _P.consented_at, _P.instructed_at,
                           _P.current_since, _P.finished_at, _P.url_params, _P.scale_reversed,
                           _S.name.label("study_name"), _S.paused, _S.consent_text, _S.completion_code,
                           _S.completion_url)
                    .select_from(Participant.__table__.join(Study.__table__, _S.id == _P.study_id))
                    .where(_P.token == bindparam("token")))
_TRIAL_AT = (select(_T.id, _T.kind, _I.public_id)
             .select_from(Trial.__table__.join(Image.__table__, _I.id == _T.image_id))
             .where(_T.participant_id == bindparam("pid"), _T.position == bindparam("position")))


def _row(conn, token: str):
    r = conn.execute(_PARTICIPANT_ROW, {"token": token}).first() if token else None
    if r is None:
        raise NotFound("unknown participant link")
    return r


_READ = object()


def _state_of(conn, r, rated: int | None = None, finished: bool | None = None, trial=_READ) -> State:
    """The state of participant row ``r`` (``_PARTICIPANT_ROW``), optionally after a rating just made.
    ``trial``: the current trial's (id, kind, image public id) or None, when the caller has read it already."""
    rated = r.rated if rated is None else rated
    finished = r.finished_at is not None if finished is None else finished
    practice_done = min(rated, r.practice)
    st = State(r.study_name, "done", r.consent_text, None, done=rated - practice_done,
               total=r.trials - r.practice, practice_done=practice_done, practice_total=r.practice,
               scale_reversed=bool(r.scale_reversed))
    if finished:  # the completion code and link are part of the state only once done
        st.completion_code = r.completion_code
        st.completion_url = completion_link(r.completion_url, json.loads(r.url_params or "{}"))
        return st
    if r.paused:
        st.stage = "paused"
    elif r.consented_at is None:
        st.stage = "consent"
    elif r.instructed_at is None:
        st.stage = "instructions"
    else:
        t = conn.execute(_TRIAL_AT, {"pid": r.pid, "position": rated}).first() if trial is _READ else trial
        if t is not None:
            st.stage, st.trial_id, st.kind, st.image = "trial", t[0], t[1], t[2]
    return st


def _engine(Session: sessionmaker):
    return Session.kw["bind"]


def state(Session: sessionmaker, token: str) -> State:
    """Where the participant is now (their stage and, in a trial, the current trial).

    Args:
        Session: Sessions on the study database (``sessions``).
        token: The participant's token.

    Returns:
        The participant's state.

    Raises:
        NotFound: For an unknown participant token.
    """
    with _statements(_engine(Session)) as conn:
        return _state_of(conn, _row(conn, token))


def _statements(eng):
    """A connection whose statements each stand alone: on a database server no BEGIN and ROLLBACK round
    trips around them (under its default READ COMMITTED, statements in one transaction see different
    snapshots anyway, so the transaction bought nothing); on SQLite a read transaction as usual."""
    conn = eng.connect()
    return conn if eng.dialect.name == "sqlite" else conn.execution_options(isolation_level="AUTOCOMMIT")


def consent(Session: sessionmaker, token: str) -> None:
    """Record that the participant consented (once; a repeat changes nothing).

    Args:
        Session: Sessions on the study database (``sessions``).
        token: The participant's token.

    Raises:
        NotFound: For an unknown participant token.
    """
    with writing(Session) as s:
        p = _participant(s, token)
        if p.consented_at is None:
            p.consented_at = now()


def instructed(Session: sessionmaker, token: str) -> None:
    """Record that the participant read the instructions: their first trial becomes current.

    Args:
        Session: Sessions on the study database (``sessions``).
        token: The participant's token.

    Raises:
        NotFound: For an unknown participant token.
        Conflict: Before consent.
    """
    with writing(Session) as s:
        p = _participant(s, token)
        if p.consented_at is None:
            raise Conflict("consent comes first")
        if p.instructed_at is None:
            p.instructed_at = p.current_since = now()


def parse_rating(values: dict) -> tuple[int, int, int]:
    """Valence, arousal and dominance from submitted values: each an integer 1-9 (as int or digits)."""
    out = []
    for dim in DIMENSIONS:
        v = values.get(dim)
        if isinstance(v, bool):
            v = None
        if isinstance(v, str) and v.strip().isdigit():
            v = int(v.strip())
        if not isinstance(v, int) or not 1 <= v <= 9:
            raise Invalid(f"{dim} must be a whole number from 1 to 9")
        out.append(v)
    return tuple(out)


def parse_trial_id(value) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**31:
        raise Invalid("trial must be a trial number")
    return value


def parse_optional_int(value, lo: int = 0, hi: int = 10**7) -> int | None:
    """An optional whole number in [lo, hi] (a response time in ms, a window size in px); else None."""
    try:
        v = int(round(float(value)))
    except (TypeError, ValueError, OverflowError):
        return None
    return v if lo <= v <= hi else None


_RATING = Rating.__table__
_ADVANCE = (update(Participant.__table__).where(_P.id == bindparam("pid"), _P.rated == bindparam("old"))
            .values(rated=bindparam("new"), current_since=bindparam("t"), finished_at=bindparam("fin")))
_ANSWER = select(_R.valence, _R.arousal, _R.dominance).where(_R.participant_id == bindparam("pid"),
                                                             _R.trial_id == bindparam("tid"))
_TRIAL = select(_T.participant_id, _T.position).where(_T.id == bindparam("tid"))


def submit(Session: sessionmaker, token: str, trial_id: int, rating: tuple[int, int, int],
           rt_client_ms: int | None = None, window: tuple[int | None, int | None] = (None, None),
           ) -> tuple[str, State]:
    """Record a rating of one of the participant's own trials in one short transaction, committed before
    returning.

    "unchanged" is a resubmission of the same answer (a reload, a double click, a retry after a dropped
    connection). Refuses another participant's trial or an unknown one (NotFound, alike), a different
    answer to an answered trial and any trial but the current one (Conflict), and a paused study
    (Paused). The current trial is the one at position ``rated`` (trials are answered in order), and the
    server-side response time runs from the moment it became current (the previous answer's commit, or
    the end of the instructions) to this answer.

    The transaction: the participant with their study (one indexed read), the trial (by primary key),
    the rating's INSERT, the participant's counter UPDATE (guarded by its old value), the next trial (by
    the unique participant + position index). Core statements, compiled once and cached.

    Args:
        Session: Sessions on the study database (``sessions``).
        token: The participant's token.
        trial_id: The trial's id.
        rating: (valence, arousal, dominance), each a whole number on the SAM 1-9 scale.
        rt_client_ms: The response time the browser measured (ms), if any.
        window: The browser window's (width, height) in px, each None if unknown.

    Returns:
        ("recorded" or "unchanged", the participant's state after it).

    Raises:
        NotFound: For an unknown participant or a trial not theirs.
        Conflict: For a different answer to an answered trial, a trial that is not the current one, or a
            trial before consent and instructions.
        Paused: If the study is paused.
    """
    eng = _engine(Session)
    if eng.dialect.name == "postgresql":
        return _submit_one_statement(eng, token, trial_id, rating, rt_client_ms, window)
    for _attempt in range(3):
        try:
            with write_transaction(eng) as conn:
                r = _row(conn, token)
                t = conn.execute(_TRIAL, {"tid": trial_id}).first()
                if t is None or t.participant_id != r.pid:
                    raise NotFound("no such trial for this participant")
                if t.position < r.rated:
                    old = conn.execute(_ANSWER, {"pid": r.pid, "tid": trial_id}).first()
                    if old is not None and tuple(old) == tuple(rating):
                        return "unchanged", _state_of(conn, r)
                    raise Conflict("this image was already rated; a rating cannot be changed")
                _check_current(r, t.position)
                at = now()
                since = r.current_since or r.instructed_at
                rt = int((at - _aware(since)).total_seconds() * 1000)
                conn.execute(_RATING.insert(), {
                    "participant_id": r.pid, "trial_id": trial_id, "valence": rating[0], "arousal": rating[1],
                    "dominance": rating[2], "created_at": at, "rt_server_ms": max(rt, 0),
                    "rt_client_ms": rt_client_ms, "window_w": window[0], "window_h": window[1]})
                new = r.rated + 1
                fin = at if new >= r.trials else None
                if conn.execute(_ADVANCE, {"pid": r.pid, "old": r.rated, "new": new, "t": at,
                                           "fin": fin}).rowcount != 1:
                    raise IntegrityError("participant advanced concurrently", None, Exception())
                return "recorded", _state_of(conn, r, rated=new, finished=fin is not None)
        except IntegrityError:
            continue  # the same trial was rated concurrently: the next pass compares the answers
    raise Conflict("this image was just rated by another request")


#: ``submit`` on PostgreSQL as one statement, run outside a transaction (atomic on its own): one round trip
#: where the portable path takes seven (BEGIN, four reads and writes, the next trial, COMMIT). The UPDATE
#: advances the participant only if the trial is the current one, the study is running, the instructions
#: are read and nobody advanced them meanwhile (``rated`` unchanged: a concurrent request blocks on the row
#: and then finds it changed); the INSERT happens only if the UPDATE did. The final SELECT returns what the
#: rules need to say why not: the participant as it was, the trial's position, an earlier answer to it,
#: and the trial that is current afterwards. The same rules as the portable path, which the study tests
#: hold both to.
_SUBMIT_PG = text("""
WITH p AS (
    SELECT p.id AS pid, p.rated, p.trials, p.practice, p.consented_at, p.instructed_at, p.current_since,
           p.finished_at, p.url_params, p.scale_reversed, s.name AS study_name, s.paused, s.consent_text,
           s.completion_code, s.completion_url, t.position AS t_position
    FROM participants p JOIN studies s ON s.id = p.study_id
    LEFT JOIN trials t ON t.id = :tid AND t.participant_id = p.id
    WHERE p.token = :token
), upd AS (
    UPDATE participants SET rated = p.rated + 1, current_since = :at,
           finished_at = CASE WHEN p.rated + 1 >= p.trials THEN :at END
    FROM p
    WHERE participants.id = p.pid AND participants.rated = p.rated AND p.t_position = p.rated
          AND NOT p.paused AND p.instructed_at IS NOT NULL
    RETURNING participants.rated AS new_rated
), ins AS (
    INSERT INTO ratings (participant_id, trial_id, valence, arousal, dominance, created_at, rt_server_ms,
                         rt_client_ms, window_w, window_h)
    SELECT p.pid, :tid, :v, :a, :d, :at,
           GREATEST(0, FLOOR(EXTRACT(EPOCH FROM (:at - COALESCE(p.current_since, p.instructed_at))) * 1000))::int,
           :rtc, :ww, :wh
    FROM p, upd
)
SELECT p.*, upd.new_rated, old.valence AS old_v, old.arousal AS old_a, old.dominance AS old_d,
       nt.id AS next_id, nt.kind AS next_kind, ni.public_id AS next_image
FROM p
LEFT JOIN upd ON true
LEFT JOIN ratings old ON old.participant_id = p.pid AND old.trial_id = :tid AND p.t_position < p.rated
LEFT JOIN trials nt ON nt.participant_id = p.pid AND nt.position = COALESCE(upd.new_rated, p.rated)
LEFT JOIN images ni ON ni.id = nt.image_id
""").bindparams(bindparam("at", type_=DateTime(timezone=True)))


def _submit_one_statement(eng, token: str, trial_id: int, rating: tuple[int, int, int],
                          rt_client_ms: int | None, window: tuple[int | None, int | None]) -> tuple[str, State]:
    """``submit`` on PostgreSQL (``_SUBMIT_PG``)."""
    params = {"token": token, "tid": trial_id, "v": rating[0], "a": rating[1], "d": rating[2],
              "rtc": rt_client_ms, "ww": window[0], "wh": window[1]}
    for _attempt in range(3):
        try:
            with _statements(eng) as conn:
                r = conn.execute(_SUBMIT_PG, params | {"at": now()}).first()
                if r is None:
                    raise NotFound("unknown participant link")
                if r.t_position is None:
                    raise NotFound("no such trial for this participant")
                current = None if r.next_id is None else (r.next_id, r.next_kind, r.next_image)
                if r.new_rated is not None:
                    return "recorded", _state_of(conn, r, rated=r.new_rated, finished=r.new_rated >= r.trials,
                                                 trial=current)
                if r.t_position < r.rated:
                    if r.old_v is None:
                        continue  # advanced by a request that committed after this statement began: look again
                    if (r.old_v, r.old_a, r.old_d) == tuple(rating):
                        return "unchanged", _state_of(conn, r, trial=current)
                    raise Conflict("this image was already rated; a rating cannot be changed")
                _check_current(r, r.t_position)
                # every rule held and yet nothing was written: another request advanced them meanwhile
        except IntegrityError:
            continue
    raise Conflict("this image was just rated by another request")


def _check_current(r, position: int) -> None:
    """The rules a new answer to the trial at ``position`` must pass, in the order both ``submit`` paths
    check them: the study running, the instructions read, the trial the current one."""
    if r.paused:
        raise Paused("the study is paused")
    if r.instructed_at is None:
        raise Conflict("consent and instructions come first")
    if position != r.rated:
        raise Conflict("this is not the current trial")


def _aware(t):
    """SQLite hands back naive datetimes (stored as UTC): make them comparable with ``now()``."""
    from datetime import timezone

    return t if t.tzinfo is not None else t.replace(tzinfo=timezone.utc)


def image_file(Session: sessionmaker, token: str, public_id: str):
    """The file of an image of the participant's study, looked up by its opaque id: (path, media type).

    The path is built only from the study's folder and the name ``create`` gave the copy; nothing in
    the request becomes part of it."""
    from pathlib import Path

    with Session() as s:
        p = _participant(s, token)
        im = s.scalar(select(Image).where(Image.public_id == public_id, Image.study_id == p.study_id))
        if im is None:
            raise NotFound("no such image")
        folder = Path(s.get(Study, p.study_id).folder).resolve()
    path = (folder / im.file).resolve()
    if path.parent != folder or not path.is_file():
        raise NotFound("no such image")
    media = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp"}
    return path, media.get(path.suffix.lower(), "application/octet-stream")


# ---------------------------------------------------------------------------- researcher


def set_paused(Session: sessionmaker, name: str, paused: bool) -> None:
    """Pause or resume a study: a paused study takes no new participants and no ratings.

    Args:
        Session: Sessions on the study database (``sessions``).
        name: The study's name.
        paused: True to pause, False to resume.

    Raises:
        NotFound: For an unknown study.
    """
    with writing(Session) as s:
        get_study(s, name).paused = paused


def progress(Session: sessionmaker) -> list[dict]:
    """Per study: participants started and finished, ratings, images and ratings per image."""
    out = []
    with Session() as s:
        for study in s.scalars(select(Study).order_by(Study.id)):
            started = s.scalar(select(func.count(Participant.id)).where(Participant.study_id == study.id))
            finished = s.scalar(select(func.count(Participant.id)).where(
                Participant.study_id == study.id, Participant.finished_at.is_not(None)))
            per_image = dict(s.execute(
                select(Trial.image_id, func.count(Rating.id)).join(Rating, Rating.trial_id == Trial.id)
                .join(Participant, Participant.id == Trial.participant_id)
                .where(Participant.study_id == study.id, Trial.kind == "main").group_by(Trial.image_id)).all())
            images = [{"file": im.file, "target": im.target, "source": f"{im.source_run}/{im.source_file}",
                       "ratings": per_image.get(im.id, 0)} for im in study.images if not im.practice]
            out.append({"name": study.name, "paused": study.paused, "started": started, "finished": finished,
                        "platform": study.platform, "link_query": link_query(study.platform),
                        "ratings": sum(per_image.values()), "images": images, "created_at": study.created_at})
    return out


EXPORT_COLUMNS = ["study", "participant", "position", "kind", "image", "source_run", "source_file", "source",
                  "cell", "target", "target_category", "target_valence", "target_arousal", "target_dominance",
                  "pred_category", "pred_valence", "pred_arousal", "pred_dominance", "valence", "arousal",
                  "dominance", "attention_pass", "participant_finished", "rated_at", "rt_server_ms", "rt_client_ms",
                  "list", "scale_reversed", "platform", "platform_id", "window_w", "window_h", "screen_w",
                  "screen_h", "dpr", "touch", "user_agent"]


def ratings_frame(Session: sessionmaker, name: str) -> pd.DataFrame:
    """Every rating of the study, long format: one row per rated trial (practice and attention
    checks included, marked by ``kind``), in each participant's trial order (``position``). Participants
    appear by number, never by token; the recruiting platform's recorded URL parameters follow the
    columns of ``EXPORT_COLUMNS``, one column each (e.g. PROLIFIC_PID, STUDY_ID, SESSION_ID).
    Response times are in ms: ``rt_server_ms`` from the trial becoming current to the answer's commit,
    ``rt_client_ms`` from the image shown to the answer sent, as the browser measured it.

    V/A/D (ratings, targets, predictions) are on the SAM 1-9 scale.

    Args:
        Session: Sessions on the study database (``sessions``).
        name: The study's name.

    Returns:
        The ratings, columns ``EXPORT_COLUMNS`` then the platform's parameters.

    Raises:
        NotFound: For an unknown study.
    """
    with Session() as s:
        study = get_study(s, name)
        platform = PLATFORMS.get(study.platform, PLATFORMS["none"])
        rows = s.execute(
            select(Participant, Trial, Image, Rating).join(Trial, Trial.participant_id == Participant.id)
            .join(Rating, Rating.trial_id == Trial.id).join(Image, Image.id == Trial.image_id)
            .where(Participant.study_id == study.id).order_by(Participant.number, Trial.position)).all()
        records = []
        for p, t, im, r in rows:
            device = json.loads(p.device or "{}")
            params = json.loads(p.url_params or "{}")
            rec = {
                "study": study.name, "participant": p.number, "position": t.position, "kind": t.kind,
                "image": im.file, "source_run": im.source_run, "source_file": im.source_file, "source": im.source,
                "cell": im.cell, "target": im.target,
                "target_category": im.target_category, "target_valence": im.target_valence,
                "target_arousal": im.target_arousal, "target_dominance": im.target_dominance,
                "pred_category": im.pred_category, "pred_valence": im.pred_valence,
                "pred_arousal": im.pred_arousal, "pred_dominance": im.pred_dominance,
                "valence": r.valence, "arousal": r.arousal, "dominance": r.dominance,
                "attention_pass": ((r.valence, r.arousal, r.dominance) == attention_answer(p.scale_reversed))
                if t.kind == "attention" else None,
                "participant_finished": p.finished_at is not None,
                "rated_at": r.created_at.isoformat() if r.created_at else None,
                "rt_server_ms": r.rt_server_ms, "rt_client_ms": r.rt_client_ms,
                "list": p.list_number + 1, "scale_reversed": p.scale_reversed, "platform": study.platform,
                "platform_id": p.platform_id, "window_w": r.window_w or device.get("window_w"),
                "window_h": r.window_h or device.get("window_h"), "screen_w": device.get("screen_w"),
                "screen_h": device.get("screen_h"), "dpr": device.get("dpr"), "touch": device.get("touch", False),
                "user_agent": device.get("user_agent")}
            rec.update({k: params.get(k) for k in platform.params})
            records.append(rec)
    return pd.DataFrame.from_records(records, columns=EXPORT_COLUMNS + list(platform.params))


def export_csv(Session: sessionmaker, name: str) -> bytes:
    return ratings_frame(Session, name).to_csv(index=False).encode()
