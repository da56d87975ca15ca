"""What participants and the researcher do, as transactions on the database (no HTTP here).

Every function opens its own transaction; a rating is committed before the caller serves the next
trial, and the state of a participant is read back from the database each time, so a reload, a
dropped connection or a server restart resumes exactly where the participant was.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import sessionmaker

from ..errors import StudyError
from ._db import Image, Participant, Rating, Study, Trial, now

DIMENSIONS = ("valence", "arousal", "dominance")
#: An attention check asks for the leftmost figure in every row: these answers pass.
ATTENTION_ANSWER = (1, 1, 1)


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


def _trial_plan(study: Study, images: list[Image], number: int) -> list[tuple[str, int]]:
    """The participant's trials in order: the practice images, then the study's images in a random
    order of this participant's own (reproducible from the study seed and participant number) with
    the attention checks (each on a random study image) at random places, never first."""
    rng = random.Random(f"{study.seed}:{number}")
    practice = [("practice", im.id) for im in images if im.practice]
    main = [("main", im.id) for im in images if not im.practice]
    rng.shuffle(main)
    for _ in range(study.attention_checks):
        main.insert(rng.randint(1, len(main)), ("attention", rng.choice([i for k, i in main if k == "main"])))
    return practice + main


def join(Session: sessionmaker, study_name: str) -> str:
    """A new participant of the study; returns their token (``secrets.token_urlsafe``, 256 bits)."""
    for _attempt in range(20):
        try:
            with Session.begin() as s:
                study = get_study(s, study_name)
                if study.paused:
                    raise Paused(f"study {study_name!r} is paused")
                number = (s.scalar(select(func.max(Participant.number)).where(Participant.study_id == study.id))
                          or 0) + 1
                p = Participant(study_id=study.id, number=number, token=secrets.token_urlsafe(32))
                s.add(p)
                s.flush()
                for pos, (kind, image_id) in enumerate(_trial_plan(study, list(study.images), number)):
                    s.add(Trial(participant_id=p.id, position=pos, kind=kind, image_id=image_id))
                return p.token
        except IntegrityError:  # two joins took the same number at once: take the next one
            continue
    raise Conflict("too many participants joining at once; try again")


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


def _next_trial(s: OrmSession, participant_id: int) -> Trial | None:
    answered = select(Rating.trial_id).where(Rating.participant_id == participant_id)
    return s.scalar(select(Trial).where(Trial.participant_id == participant_id, Trial.id.not_in(answered))
                    .order_by(Trial.position).limit(1))


def state(Session: sessionmaker, token: str) -> State:
    with Session() as s:
        p = _participant(s, token)
        study = s.get(Study, p.study_id)
        counts = dict(s.execute(
            select(Trial.kind == "practice", func.count(Trial.id)).where(Trial.participant_id == p.id)
            .group_by(Trial.kind == "practice")).all())
        rated = dict(s.execute(
            select(Trial.kind == "practice", func.count(Rating.id)).join(Rating, Rating.trial_id == Trial.id)
            .where(Trial.participant_id == p.id).group_by(Trial.kind == "practice")).all())
        # the completion code is part of the state only once every trial is rated
        st = State(study.name, "done", study.consent_text, study.completion_code if p.finished_at else None,
                   done=rated.get(False, 0), total=counts.get(False, 0),
                   practice_done=rated.get(True, 0), practice_total=counts.get(True, 0))
        if p.finished_at is not None:
            return st
        if study.paused:
            st.stage = "paused"
        elif p.consented_at is None:
            st.stage = "consent"
        elif p.instructed_at is None:
            st.stage = "instructions"
        else:
            t = _next_trial(s, p.id)
            if t is not None:
                st.stage, st.trial_id, st.kind, st.image = "trial", t.id, t.kind, t.image.public_id
        return st


def consent(Session: sessionmaker, token: str) -> None:
    with Session.begin() as s:
        p = _participant(s, token)
        if p.consented_at is None:
            p.consented_at = now()


def instructed(Session: sessionmaker, token: str) -> None:
    with Session.begin() as s:
        p = _participant(s, token)
        if p.consented_at is None:
            raise Conflict("consent comes first")
        if p.instructed_at is None:
            p.instructed_at = now()


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


def submit(Session: sessionmaker, token: str, trial_id: int, rating: tuple[int, int, int]) -> str:
    """Record a rating of one of the participant's own trials, committed before returning.

    Returns "recorded", or "unchanged" for a resubmission of the same answer (a reload, a double
    click, a retry after a dropped connection). Refuses another participant's trial or an unknown
    one (NotFound, alike), a different answer to an answered trial and any trial but the next
    (Conflict), and a paused study (Paused).
    """
    for _attempt in range(2):
        try:
            with Session.begin() as s:
                p = _participant(s, token)
                trial = s.get(Trial, trial_id)
                if trial is None or trial.participant_id != p.id:
                    raise NotFound("no such trial for this participant")
                old = s.scalar(select(Rating).where(Rating.participant_id == p.id, Rating.trial_id == trial.id))
                if old is not None:
                    if (old.valence, old.arousal, old.dominance) == rating:
                        return "unchanged"
                    raise Conflict("this image was already rated; a rating cannot be changed")
                if s.get(Study, p.study_id).paused:
                    raise Paused("the study is paused")
                if p.instructed_at is None:
                    raise Conflict("consent and instructions come first")
                nxt = _next_trial(s, p.id)
                if nxt is None or nxt.id != trial.id:
                    raise Conflict("this is not the current trial")
                s.add(Rating(participant_id=p.id, trial_id=trial.id, valence=rating[0], arousal=rating[1],
                             dominance=rating[2]))
                s.flush()
                if _next_trial(s, p.id) is None:
                    p.finished_at = now()
                return "recorded"
        except IntegrityError:
            continue  # the same trial was rated concurrently: the second pass compares the answers
    raise Conflict("this image was just rated by another request")


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
    with Session.begin() as s:
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
                        "ratings": sum(per_image.values()), "images": images, "created_at": study.created_at})
    return out


EXPORT_COLUMNS = ["study", "participant", "position", "kind", "image", "source_run", "source_file", "target",
                  "target_category", "target_valence", "target_arousal", "target_dominance", "pred_category",
                  "pred_valence", "pred_arousal", "pred_dominance", "valence", "arousal", "dominance",
                  "attention_pass", "participant_finished", "rated_at"]


def ratings_frame(Session: sessionmaker, name: str) -> pd.DataFrame:
    """Every rating of the study, long format: one row per rated trial (practice and attention
    checks included, marked by ``kind``). Participants appear by number, never by token."""
    with Session() as s:
        study = get_study(s, name)
        rows = s.execute(
            select(Participant, Trial, Image, Rating).join(Trial, Trial.participant_id == Participant.id)
            .join(Rating, Rating.trial_id == Trial.id).join(Image, Image.id == Trial.image_id)
            .where(Participant.study_id == study.id).order_by(Participant.number, Trial.position)).all()
        records = []
        for p, t, im, r in rows:
            records.append({
                "study": study.name, "participant": p.number, "position": t.position, "kind": t.kind,
                "image": im.file, "source_run": im.source_run, "source_file": im.source_file, "target": im.target,
                "target_category": im.target_category, "target_valence": im.target_valence,
                "target_arousal": im.target_arousal, "target_dominance": im.target_dominance,
                "pred_category": im.pred_category, "pred_valence": im.pred_valence,
                "pred_arousal": im.pred_arousal, "pred_dominance": im.pred_dominance,
                "valence": r.valence, "arousal": r.arousal, "dominance": r.dominance,
                "attention_pass": ((r.valence, r.arousal, r.dominance) == ATTENTION_ANSWER)
                if t.kind == "attention" else None,
                "participant_finished": p.finished_at is not None,
                "rated_at": r.created_at.isoformat() if r.created_at else None})
    return pd.DataFrame.from_records(records, columns=EXPORT_COLUMNS)


def export_csv(Session: sessionmaker, name: str) -> bytes:
    return ratings_frame(Session, name).to_csv(index=False).encode()
