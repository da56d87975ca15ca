"""The study's tables (SQLAlchemy 2, portable SQL: SQLite by default, PostgreSQL the same way).

One study owns its images (copied into the study's own folder at creation), its participants and
their trials; a trial holds at most one rating (a unique constraint on participant + trial), so a
resubmission can never record a rating twice.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, sessionmaker

from ..errors import StudyError

DEFAULT_DB = "sqlite:///studies.db"


def now() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


class Study(Base):
    __tablename__ = "studies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    folder: Mapped[str] = mapped_column(Text)  # the study's own copy of its images
    consent_text: Mapped[str] = mapped_column(Text)
    completion_code: Mapped[str | None] = mapped_column(String(200), nullable=True)
    attention_checks: Mapped[int] = mapped_column(Integer, default=0)
    seed: Mapped[int] = mapped_column(Integer, default=0)
    sources: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of the run directories sampled
    paused: Mapped[bool] = mapped_column(Boolean, default=False)

    images: Mapped[list["Image"]] = relationship(back_populates="study", order_by="Image.id")


class Image(Base):
    """An image of the study (or one of its practice images), served by its opaque ``public_id``."""

    __tablename__ = "images"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"), index=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    file: Mapped[str] = mapped_column(String(100))  # name inside the study folder, chosen by create
    practice: Mapped[bool] = mapped_column(Boolean, default=False)
    source_run: Mapped[str] = mapped_column(Text, default="")
    source_file: Mapped[str] = mapped_column(Text, default="")
    target: Mapped[str] = mapped_column(Text, default="")  # the stratum label, e.g. "v=2.0 a=8.0" or "fear"
    target_category: Mapped[str | None] = mapped_column(String(40), nullable=True)
    target_valence: Mapped[float | None] = mapped_column(Float, nullable=True)
    target_arousal: Mapped[float | None] = mapped_column(Float, nullable=True)
    target_dominance: Mapped[float | None] = mapped_column(Float, nullable=True)
    pred_category: Mapped[str | None] = mapped_column(String(40), nullable=True)
    pred_valence: Mapped[float | None] = mapped_column(Float, nullable=True)
    pred_arousal: Mapped[float | None] = mapped_column(Float, nullable=True)
    pred_dominance: Mapped[float | None] = mapped_column(Float, nullable=True)

    study: Mapped[Study] = relationship(back_populates="images")


class Participant(Base):
    __tablename__ = "participants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)  # 1, 2, ... within the study: the export's pseudonym
    token: Mapped[str] = mapped_column(String(64), unique=True)  # secrets.token_urlsafe: the only key
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    consented_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    instructed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    __table_args__ = (UniqueConstraint("study_id", "number"),)


class Trial(Base):
    """One screen of ratings: kind 'practice', 'main' or 'attention' (all three answers must be 1)."""

    __tablename__ = "trials"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(12))
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id"))

    image: Mapped[Image] = relationship()
    __table_args__ = (UniqueConstraint("participant_id", "position"),
                      CheckConstraint("kind IN ('practice', 'main', 'attention')"))


class Rating(Base):
    __tablename__ = "ratings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"), index=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id"))
    valence: Mapped[int] = mapped_column(Integer)
    arousal: Mapped[int] = mapped_column(Integer)
    dominance: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)

    __table_args__ = (UniqueConstraint("participant_id", "trial_id"),
                      CheckConstraint("valence BETWEEN 1 AND 9 AND arousal BETWEEN 1 AND 9 "
                                      "AND dominance BETWEEN 1 AND 9"))


def _sqlite_pragmas(dbapi_conn, _record):
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer
    cur.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across a server crash
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


_ENGINES: dict[str, Engine] = {}


def engine_for(url: str) -> Engine:
    """One engine per database URL (tables created on first use); a bad URL raises ``StudyError``."""
    if url in _ENGINES:
        return _ENGINES[url]
    try:
        if url.startswith("sqlite"):
            eng = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
            event.listen(eng, "connect", _sqlite_pragmas)
        else:
            eng = create_engine(url, pool_size=20, max_overflow=40, pool_pre_ping=True)
        Base.metadata.create_all(eng)
    except Exception as e:  # noqa: BLE001 - any driver's failure to connect is the user's to fix
        raise StudyError(f"cannot open study database {url!r}: {str(e).splitlines()[0]}") from None
    _ENGINES[url] = eng
    return eng


def sessions(url: str, create: bool = False) -> sessionmaker:
    """Sessions on the study database ``url``. A SQLite file that does not exist is refused (a mistyped
    path would otherwise become a new, empty database) unless ``create`` (``study create``)."""
    if not create and url not in _ENGINES:
        _check_sqlite_exists(url)
    return sessionmaker(engine_for(url), expire_on_commit=False)


def _check_sqlite_exists(url: str) -> None:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return  # engine_for says what is wrong with the URL
    if parsed.get_backend_name() != "sqlite":
        return
    db = parsed.database
    if not db or db == ":memory:" or db.startswith("file:"):
        return
    if not Path(db).is_file():
        raise StudyError(f"{url}: no study database at {db}; check --db (study create makes a new one)")


def dispose(url: str) -> None:
    """Close the engine's connections (tests, and a server shutting down)."""
    eng = _ENGINES.pop(url, None)
    if eng is not None:
        eng.dispose()
